import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { type GroupName, generateKeyShare, groupId, groupName } from '../../src/crypto/key-exchange.js';
import { type RandomSource, seededRandom } from '../../src/crypto/random.js';
import { HandshakeFailure } from '../../src/errors.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const GROUPS: GroupName[] = ['x25519', 'secp256r1', 'secp384r1'];

/** A RandomSource that hands out the given byte strings, one per call. */
function scripted(...chunks: Buffer[]): RandomSource {
  let i = 0;
  return (n) => {
    const chunk = chunks[i++];
    assert.ok(chunk && chunk.length === n, `scripted random: call ${i} wants ${n} bytes`);
    return chunk;
  };
}

function assertIllegalParameter(fn: () => unknown, what: string): void {
  assert.throws(fn, (e: unknown) => e instanceof HandshakeFailure && e.alert === 'illegal_parameter', what);
}

test('group code points (RFC 8422 §5.1.1, RFC 7748)', () => {
  assert.equal(groupId('secp256r1'), 23);
  assert.equal(groupId('secp384r1'), 24);
  assert.equal(groupId('x25519'), 29);
  for (const g of GROUPS) assert.equal(groupName(groupId(g)), g);
  assert.equal(groupName(25), undefined); // secp521r1: not offered
  assert.equal(groupName(0x11ec), undefined); // X25519MLKEM768
});

test('both sides derive the same secret in every group; public keys have the wire format', () => {
  const lengths = { x25519: [32, 32], secp256r1: [65, 32], secp384r1: [97, 48] } as const;
  for (const g of GROUPS) {
    const a = generateKeyShare(g);
    const b = generateKeyShare(g);
    assert.equal(a.group, g);
    assert.equal(a.publicKey.length, lengths[g][0], g);
    if (g !== 'x25519') assert.equal(a.publicKey[0], 0x04, `${g} uncompressed point`);
    const s1 = a.deriveSecret(b.publicKey);
    const s2 = b.deriveSecret(a.publicKey);
    assert.equal(s1.length, lengths[g][1], g);
    assert.deepEqual(s1, s2, g);
    assert.notDeepEqual(a.publicKey, b.publicKey, g);
  }
});

test('X25519 from given private bytes reproduces RFC 7748 §6.1', () => {
  const alice = generateKeyShare(
    'x25519',
    scripted(hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a')),
  );
  assert.equal(
    alice.publicKey.toString('hex'),
    '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a',
  );
  const bob = generateKeyShare(
    'x25519',
    scripted(hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb')),
  );
  assert.equal(
    bob.publicKey.toString('hex'),
    'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f',
  );
  const shared = '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742';
  assert.equal(alice.deriveSecret(bob.publicKey).toString('hex'), shared);
  assert.equal(bob.deriveSecret(alice.publicKey).toString('hex'), shared);
});

test('P-256 from given private bytes reproduces RFC 5903 §8.1', () => {
  const initiator = generateKeyShare(
    'secp256r1',
    scripted(hex('c88f01f510d9ac3f70a292daa2316de544e9aab8afe84049c62a9c57862d1433')),
  );
  assert.equal(
    initiator.publicKey.toString('hex'),
    '04dad0b65394221cf9b051e1feca5787d098dfe637fc90b9ef945d0c3772581180' +
      '5271a0461cdb8252d61f1c456fa3e59ab1f45b33accf5f58389e0577b8990bb3',
  );
  const responderPublic = hex(
    '04d12dfb5289c8d4f81208b70270398c342296970a0bccb74c736fc7554494bf63' +
      '56fbf3ca366cc23e8157854c13c58d6aac23f046ada30f8353e74f33039872ab',
  );
  assert.equal(
    initiator.deriveSecret(responderPublic).toString('hex'),
    'd6840f6b42f6edafd13116e0e12565202fef8e9ece7dce03812464d04b9442de',
  );
});

test('a NIST private scalar out of range is drawn again', () => {
  // All-ones is ≥ the P-256 order, zero is not allowed; the third draw is RFC 5903's i.
  const share = generateKeyShare(
    'secp256r1',
    scripted(
      Buffer.alloc(32, 0xff),
      Buffer.alloc(32, 0),
      hex('c88f01f510d9ac3f70a292daa2316de544e9aab8afe84049c62a9c57862d1433'),
    ),
  );
  assert.equal(share.publicKey.subarray(1, 5).toString('hex'), 'dad0b653');
});

test('seeded generation is deterministic per seed', () => {
  for (const g of GROUPS) {
    const a = generateKeyShare(g, seededRandom('kx'));
    const b = generateKeyShare(g, seededRandom('kx'));
    const c = generateKeyShare(g, seededRandom('other'));
    assert.deepEqual(a.publicKey, b.publicKey, g);
    assert.notDeepEqual(a.publicKey, c.publicKey, g);
    assert.deepEqual(a.deriveSecret(c.publicKey), c.deriveSecret(b.publicKey), g);
  }
});

test('bad peer keys end the handshake with illegal_parameter, never another exception', () => {
  for (const g of GROUPS) {
    const share = generateKeyShare(g);
    const good = generateKeyShare(g).publicKey;
    assertIllegalParameter(() => share.deriveSecret(new Uint8Array(0)), `${g} empty`);
    assertIllegalParameter(() => share.deriveSecret(good.subarray(1)), `${g} one byte short`);
    assertIllegalParameter(() => share.deriveSecret(Buffer.concat([good, hex('00')])), `${g} one byte long`);
  }
  for (const g of ['secp256r1', 'secp384r1'] as const) {
    const share = generateKeyShare(g);
    const good = generateKeyShare(g).publicKey;
    const size = (good.length - 1) / 2;
    // A point off the curve: y + 1.
    const offCurve = Buffer.from(good);
    offCurve[offCurve.length - 1]! ^= 0x01;
    assertIllegalParameter(() => share.deriveSecret(offCurve), `${g} off the curve`);
    // All-zero coordinates (not on the curve).
    assertIllegalParameter(
      () => share.deriveSecret(Buffer.concat([hex('04'), Buffer.alloc(2 * size)])),
      `${g} zero`,
    );
    // The same bytes labelled as compressed or hybrid are refused: RFC 8422 §5.1.2 uncompressed only.
    for (const form of [0x02, 0x03, 0x06, 0x07]) {
      const relabelled = Buffer.from(good);
      relabelled[0] = form;
      assertIllegalParameter(() => share.deriveSecret(relabelled), `${g} form ${form}`);
    }
    // A genuine compressed point (right format, wrong length for us).
    const compressed = Buffer.concat([
      Buffer.from([0x02 | (good[good.length - 1]! & 1)]),
      good.subarray(1, 1 + size),
    ]);
    assertIllegalParameter(() => share.deriveSecret(compressed), `${g} compressed`);
  }
  // X25519 low-order points give the all-zero shared secret (RFC 7748 §6.1, RFC 8422 §5.11).
  const x = generateKeyShare('x25519');
  const lowOrder = [
    '0000000000000000000000000000000000000000000000000000000000000000',
    '0100000000000000000000000000000000000000000000000000000000000000',
    'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
    'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  ];
  for (const p of lowOrder)
    assertIllegalParameter(() => x.deriveSecret(hex(p)), `x25519 low order ${p.slice(0, 8)}`);
});

test('X25519 key shares under constant garbage collection never deadlock (Node 20 JWK export)', async () => {
  // Generating a key pair and then exporting its public key as JWK deadlocks Node 20 when a garbage
  // collection lands inside the export (see x25519KeyShare). A 1 MB young generation makes collections
  // constant; the old code hung within seconds here. The child must finish by itself.
  const moduleUrl = new URL('../../src/crypto/key-exchange.js', import.meta.url).href;
  const script = `
    import { generateKeyShare } from ${JSON.stringify(moduleUrl)};
    const start = performance.now();
    let n = 0;
    while (performance.now() - start < 2000) {
      const a = generateKeyShare('x25519');
      const b = generateKeyShare('x25519');
      if (!a.deriveSecret(b.publicKey).equals(b.deriveSecret(a.publicKey))) throw new Error('mismatch');
      n++;
    }
    console.log('pairs', n);
  `;
  const child = spawn(process.execPath, ['--max-semi-space-size=1', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => {
    out += d;
  });
  child.stderr.on('data', (d) => {
    out += d;
  });
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve(null);
    }, 20_000);
    child.on('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  assert.notEqual(code, null, `the child hung (deadlock) after: ${out}`);
  assert.equal(code, 0, out);
  assert.match(out, /pairs [1-9]\d*/);
});
