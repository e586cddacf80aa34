import assert from 'node:assert/strict';
import {
  constants,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  verify,
} from 'node:crypto';
import { test } from 'node:test';
import {
  type SignatureSchemeName,
  schemeId,
  schemeName,
  schemesForKey,
  signWithScheme,
  verifyWithScheme,
} from '../../src/crypto/signature.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

const p256 = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ed25519 = generateKeyPairSync('ed25519');
const KEYS: Record<string, { privateKey: KeyObject; publicKey: KeyObject }> = { p256, p384, rsa, ed25519 };

const ALL: SignatureSchemeName[] = [
  'ecdsa_secp256r1_sha256',
  'ecdsa_secp384r1_sha384',
  'rsa_pss_rsae_sha256',
  'rsa_pss_rsae_sha384',
  'rsa_pkcs1_sha256',
  'rsa_pkcs1_sha384',
  'ed25519',
];

test('scheme code points (RFC 8446 §4.2.3) map both ways', () => {
  assert.equal(schemeId('ecdsa_secp256r1_sha256'), 0x0403);
  assert.equal(schemeId('ecdsa_secp384r1_sha384'), 0x0503);
  assert.equal(schemeId('rsa_pss_rsae_sha256'), 0x0804);
  assert.equal(schemeId('rsa_pss_rsae_sha384'), 0x0805);
  assert.equal(schemeId('rsa_pkcs1_sha256'), 0x0401);
  assert.equal(schemeId('rsa_pkcs1_sha384'), 0x0501);
  assert.equal(schemeId('ed25519'), 0x0807);
  for (const s of ALL) assert.equal(schemeName(schemeId(s)), s);
  assert.equal(schemeName(0x0201), undefined); // rsa_pkcs1_sha1
  assert.equal(schemeName(0x0809), undefined); // rsa_pss_pss_sha256
});

test('schemesForKey lists what a key can do, best first, for private and public keys alike', () => {
  for (const k of [p256.privateKey, p256.publicKey])
    assert.deepEqual(schemesForKey(k), ['ecdsa_secp256r1_sha256', 'ecdsa_secp384r1_sha384']);
  for (const k of [p384.privateKey, p384.publicKey])
    assert.deepEqual(schemesForKey(k), ['ecdsa_secp384r1_sha384', 'ecdsa_secp256r1_sha256']);
  assert.deepEqual(schemesForKey(rsa.publicKey), [
    'rsa_pss_rsae_sha256',
    'rsa_pss_rsae_sha384',
    'rsa_pkcs1_sha256',
    'rsa_pkcs1_sha384',
  ]);
  assert.deepEqual(schemesForKey(ed25519.privateKey), ['ed25519']);
  assert.deepEqual(schemesForKey(generateKeyPairSync('x25519').publicKey), []);
});

test('every scheme of every key signs and verifies; tampered data or signatures fail without throwing', () => {
  const data = Buffer.from('client_random || server_random || ServerECDHParams');
  for (const [name, pair] of Object.entries(KEYS)) {
    for (const scheme of schemesForKey(pair.privateKey)) {
      const what = `${name} ${scheme}`;
      const sig = signWithScheme(scheme, pair.privateKey, data);
      assert.equal(verifyWithScheme(scheme, pair.publicKey, data, sig), true, what);

      const tamperedData = Buffer.from(data);
      tamperedData[0]! ^= 0x01;
      assert.equal(verifyWithScheme(scheme, pair.publicKey, tamperedData, sig), false, `${what} data`);
      const tamperedSig = Buffer.from(sig);
      tamperedSig[tamperedSig.length - 1]! ^= 0x01;
      assert.equal(verifyWithScheme(scheme, pair.publicKey, data, tamperedSig), false, `${what} sig`);
      assert.equal(
        verifyWithScheme(scheme, pair.publicKey, data, sig.subarray(0, 10)),
        false,
        `${what} short`,
      );
      assert.equal(verifyWithScheme(scheme, pair.publicKey, data, new Uint8Array(0)), false, `${what} empty`);
      assert.equal(
        verifyWithScheme(scheme, pair.publicKey, data, Buffer.alloc(600, 0x30)),
        false,
        `${what} junk`,
      );
      // The other hash of the same family does not verify this signature.
      const sibling = ALL.find((s) => s !== scheme && schemesForKey(pair.publicKey).includes(s));
      if (sibling)
        assert.equal(verifyWithScheme(sibling, pair.publicKey, data, sig), false, `${what} as ${sibling}`);
    }
  }
});

test('a key that does not fit the scheme: verify gives false, sign refuses', () => {
  const data = Buffer.from('x');
  const sig = signWithScheme('ecdsa_secp256r1_sha256', p256.privateKey, data);
  assert.equal(verifyWithScheme('ecdsa_secp256r1_sha256', rsa.publicKey, data, sig), false);
  assert.equal(verifyWithScheme('rsa_pss_rsae_sha256', p256.publicKey, data, sig), false);
  assert.equal(verifyWithScheme('ed25519', p256.publicKey, data, sig), false);
  assert.equal(verifyWithScheme('ecdsa_secp256r1_sha256', p384.publicKey, data, sig), false);
  const isInvalid = (e: Error & { code?: string }) => e.code === 'invalid_argument';
  assert.throws(() => signWithScheme('rsa_pss_rsae_sha256', p256.privateKey, data), isInvalid);
  assert.throws(() => signWithScheme('ed25519', rsa.privateKey, data), isInvalid);
  assert.throws(() => signWithScheme('ecdsa_secp256r1_sha256', p256.publicKey, data), isInvalid);
});

test('wire formats: ECDSA is DER, RSA-PSS uses salt = hash length, PKCS#1 v1.5 is deterministic', () => {
  const data = Buffer.from('signed params');
  const ecdsa = signWithScheme('ecdsa_secp384r1_sha384', p256.privateKey, data);
  assert.equal(ecdsa[0], 0x30, 'DER SEQUENCE');
  assert.ok(verify('sha384', data, { key: p256.publicKey, dsaEncoding: 'der' }, ecdsa));

  for (const [scheme, hash, saltLength] of [
    ['rsa_pss_rsae_sha256', 'sha256', 32],
    ['rsa_pss_rsae_sha384', 'sha384', 48],
  ] as const) {
    const sig = signWithScheme(scheme, rsa.privateKey, data);
    const check = (salt: number) =>
      verify(
        hash,
        data,
        { key: rsa.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: salt },
        sig,
      );
    assert.ok(check(saltLength), `${scheme} salt ${saltLength}`);
    assert.equal(check(saltLength + 1), false, `${scheme} not salt ${saltLength + 1}`);
  }
  assert.deepEqual(
    signWithScheme('rsa_pkcs1_sha256', rsa.privateKey, data),
    signWithScheme('rsa_pkcs1_sha256', rsa.privateKey, data),
  );
  assert.ok(verify('sha256', data, rsa.publicKey, signWithScheme('rsa_pkcs1_sha256', rsa.privateKey, data)));
});

test('Ed25519 reproduces RFC 8032 §7.1 TEST 1', () => {
  // RFC 8410 PrivateKeyInfo framing around the raw 32-byte secret key.
  const privateKey = createPrivateKey({
    key: Buffer.concat([
      hex('302e020100300506032b657004220420'),
      hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'),
    ]),
    format: 'der',
    type: 'pkcs8',
  });
  const publicKey = createPublicKey(privateKey);
  assert.equal(
    publicKey.export({ format: 'der', type: 'spki' }).subarray(12).toString('hex'),
    'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
  );
  const sig = signWithScheme('ed25519', privateKey, new Uint8Array(0));
  assert.equal(
    sig.toString('hex'),
    'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  );
  assert.equal(verifyWithScheme('ed25519', publicKey, new Uint8Array(0), sig), true);
});
