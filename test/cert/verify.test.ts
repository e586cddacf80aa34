import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { fingerprint } from '../../src/cert/fingerprint.js';
import { type GeneratedCertificate, generateCertificate } from '../../src/cert/generate.js';
import { type PeerVerificationOptions, verifyPeerCertificate } from '../../src/cert/verify.js';
import { HandshakeFailure } from '../../src/errors.js';
import type { AlertName } from '../../src/wire/alert.js';

function assertFails(
  chain: Buffer[],
  opts: PeerVerificationOptions,
  alert: AlertName,
  message?: RegExp,
): void {
  assert.throws(
    () => verifyPeerCertificate(chain, opts),
    (err: unknown) => {
      assert.ok(err instanceof HandshakeFailure, `expected HandshakeFailure, got ${String(err)}`);
      assert.equal(err.alert, alert, err.message);
      if (message) assert.match(err.message, message);
      return true;
    },
  );
}

describe('verifyPeerCertificate', () => {
  let root: GeneratedCertificate;
  let inter1: GeneratedCertificate;
  let inter2: GeneratedCertificate;
  let leaf: GeneratedCertificate;
  let selfSigned: GeneratedCertificate;

  before(async () => {
    root = await generateCertificate({ isCA: true, commonName: 'Test Root', keyType: 'ecdsa-p384' });
    inter1 = await generateCertificate({ isCA: true, commonName: 'Test Intermediate 1', issuer: root });
    inter2 = await generateCertificate({
      isCA: true,
      commonName: 'Test Intermediate 2',
      issuer: inter1,
      keyType: 'rsa-2048',
    });
    leaf = await generateCertificate({
      commonName: 'server.test',
      subjectAltNames: ['server.test', '127.0.0.1', '::1'],
      issuer: inter2,
    });
    selfSigned = await generateCertificate({ commonName: 'peer.test' });
  });

  test('a good chain root → intermediates → leaf verifies, intermediates in either order', () => {
    for (const chain of [
      [leaf.der, inter2.der, inter1.der],
      [leaf.der, inter1.der, inter2.der],
      [leaf.der, inter2.der, inter1.der, root.der],
    ]) {
      const parsed = verifyPeerCertificate(chain, { ca: [root.cert] });
      assert.deepEqual(parsed.raw, leaf.der);
    }
  });

  test('trust anchors may be DER buffers, PEM buffers or bundles, and an intermediate may be the anchor', () => {
    assert.ok(verifyPeerCertificate([leaf.der, inter2.der, inter1.der], { ca: [root.der] }));
    assert.ok(verifyPeerCertificate([leaf.der, inter2.der, inter1.der], { ca: [Buffer.from(root.cert)] }));
    assert.ok(verifyPeerCertificate([leaf.der, inter1.der], { ca: [`${selfSigned.cert}${inter2.cert}`] }));
    assert.ok(verifyPeerCertificate([leaf.der], { ca: [inter2.cert] }));
  });

  test('a certificate that is itself in ca is trusted', () => {
    const parsed = verifyPeerCertificate([selfSigned.der], {
      ca: [selfSigned.cert],
      serverName: 'peer.test',
    });
    assert.deepEqual(parsed.raw, selfSigned.der);
  });

  test('a missing intermediate → unknown_ca', () => {
    assertFails([leaf.der, inter1.der], { ca: [root.cert] }, 'unknown_ca', /unknown authority/);
  });

  test('a chain from another CA → unknown_ca', async () => {
    const otherRoot = await generateCertificate({ isCA: true, commonName: 'Other Root' });
    const otherLeaf = await generateCertificate({ commonName: 'server.test', issuer: otherRoot });
    assertFails([otherLeaf.der, otherRoot.der], { ca: [root.cert] }, 'unknown_ca', /unknown authority/);
    assertFails([selfSigned.der], { ca: [root.cert] }, 'unknown_ca');
  });

  test('an impostor CA with the trusted name but another key → unknown_ca', async () => {
    const impostor = await generateCertificate({
      isCA: true,
      commonName: 'Test Root',
      keyType: 'ecdsa-p384',
    });
    const forged = await generateCertificate({ commonName: 'server.test', issuer: impostor });
    assert.equal(forged.certificate.issuer, root.certificate.subject);
    assertFails([forged.der], { ca: [root.cert] }, 'unknown_ca');
    assertFails([forged.der, impostor.der], { ca: [root.cert] }, 'unknown_ca');
  });

  test('an expired leaf → certificate_expired, naming the cert and its dates', async () => {
    const expired = await generateCertificate({
      commonName: 'server.test',
      issuer: inter2,
      notBefore: new Date('2020-01-01T00:00:00Z'),
      notAfter: new Date('2020-02-01T00:00:00Z'),
    });
    assertFails(
      [expired.der, inter2.der, inter1.der],
      { ca: [root.cert] },
      'certificate_expired',
      /CN=server\.test.*expired.*Jan {2}1 00:00:00 2020 GMT.*Feb {2}1 00:00:00 2020 GMT/,
    );
  });

  test('a not-yet-valid leaf → certificate_expired', async () => {
    const future = await generateCertificate({
      commonName: 'server.test',
      issuer: inter2,
      notBefore: new Date(Date.now() + 7 * 24 * 3600_000),
      validityDays: 30,
    });
    assertFails(
      [future.der, inter2.der, inter1.der],
      { ca: [root.cert] },
      'certificate_expired',
      /not yet valid/,
    );
  });

  test('`now` outside an issuer validity → certificate_expired for that issuer', () => {
    const after = new Date(new Date(root.certificate.validTo).getTime() + 1000);
    assertFails(
      [leaf.der, inter2.der, inter1.der],
      { ca: [root.cert], now: after },
      'certificate_expired',
      /has expired/,
    );
    const early = new Date(new Date(root.certificate.validFrom).getTime() - 1000);
    assertFails([leaf.der, inter2.der, inter1.der], { ca: [root.cert], now: early }, 'certificate_expired');
    const inside = new Date(new Date(leaf.certificate.validFrom).getTime() + 1000);
    assert.ok(verifyPeerCertificate([leaf.der, inter2.der, inter1.der], { ca: [root.cert], now: inside }));
  });

  test('an intermediate without the CA flag → bad_certificate', async () => {
    const notCA = await generateCertificate({ commonName: 'Not A CA', issuer: root });
    const issued = await generateCertificate({ commonName: 'server.test', issuer: notCA });
    assertFails([issued.der, notCA.der], { ca: [root.cert] }, 'bad_certificate', /Not A CA.*not a CA/);
  });

  test('serverName: host names and IP addresses are checked against the SANs', () => {
    const chain = [leaf.der, inter2.der, inter1.der];
    assert.ok(verifyPeerCertificate(chain, { ca: [root.cert], serverName: 'server.test' }));
    assert.ok(verifyPeerCertificate(chain, { ca: [root.cert], serverName: 'SERVER.test' }));
    assert.ok(verifyPeerCertificate(chain, { ca: [root.cert], serverName: '127.0.0.1' }));
    assert.ok(verifyPeerCertificate(chain, { ca: [root.cert], serverName: '::1' }));
    assert.ok(verifyPeerCertificate(chain, { ca: [root.cert], serverName: '[::1]' }));
    assertFails(
      chain,
      { ca: [root.cert], serverName: 'other.test' },
      'bad_certificate',
      /not valid for other\.test/,
    );
    assertFails(
      chain,
      { ca: [root.cert], serverName: '127.0.0.2' },
      'bad_certificate',
      /not valid for 127\.0\.0\.2/,
    );
    assertFails(chain, { ca: [root.cert], serverName: 'sub.server.test' }, 'bad_certificate');
  });

  test('a pinned fingerprint accepts a self-signed cert without any CA; a mismatch → bad_certificate', () => {
    const parsed = verifyPeerCertificate([selfSigned.der], { fingerprints: [selfSigned.fingerprint] });
    assert.deepEqual(parsed.raw, selfSigned.der);
    assert.ok(
      verifyPeerCertificate([selfSigned.der], {
        fingerprints: [leaf.fingerprint, fingerprint(selfSigned.der, 'sha-384')],
      }),
    );
    // The pin replaces chain checks, even with an unrelated ca configured.
    assert.ok(
      verifyPeerCertificate([selfSigned.der], { fingerprints: [selfSigned.fingerprint], ca: [root.cert] }),
    );
    assertFails(
      [selfSigned.der],
      { fingerprints: [leaf.fingerprint] },
      'bad_certificate',
      /fingerprint does not match/,
    );
    // Only the leaf is pinned: matching an intermediate is not enough.
    assertFails(
      [leaf.der, inter2.der, inter1.der],
      { fingerprints: [inter2.fingerprint], ca: [root.cert] },
      'bad_certificate',
      /fingerprint/,
    );
    assertFails([selfSigned.der], { fingerprints: [leaf.fingerprint], insecure: true }, 'bad_certificate');
  });

  test('an empty chain → bad_certificate', () => {
    assertFails([], { ca: [root.cert] }, 'bad_certificate', /no certificate/);
    assertFails([], { insecure: true }, 'bad_certificate', /no certificate/);
  });

  test('garbage DER → bad_certificate', () => {
    const garbage = Buffer.from('30820102deadbeef', 'hex');
    assertFails([garbage], { ca: [root.cert] }, 'bad_certificate', /could not be parsed/);
    assertFails([garbage], { insecure: true }, 'bad_certificate', /could not be parsed/);
    assertFails([leaf.der.subarray(0, leaf.der.length - 1)], { insecure: true }, 'bad_certificate');
    assertFails([leaf.der, garbage], { ca: [root.cert] }, 'bad_certificate', /#2/);
  });

  test('no ca, fingerprint or insecure → bad_certificate', () => {
    assertFails([selfSigned.der], {}, 'bad_certificate', /no trust anchor or fingerprint configured/);
    assertFails([selfSigned.der], { ca: [], fingerprints: [] }, 'bad_certificate', /no trust anchor/);
  });

  test('insecure accepts any parsable leaf and checks nothing else', async () => {
    const expired = await generateCertificate({
      notBefore: new Date('2020-01-01T00:00:00Z'),
      notAfter: new Date('2020-01-02T00:00:00Z'),
    });
    for (const g of [selfSigned, expired, leaf]) {
      const parsed = verifyPeerCertificate([g.der], {
        insecure: true,
        serverName: 'unrelated.test',
        ca: [root.cert],
      });
      assert.deepEqual(parsed.raw, g.der);
    }
  });

  test('a looping or overlong chain ends in unknown_ca instead of running forever', async () => {
    // Two CAs that cross-certify each other form a cycle with no anchor in it.
    const a = await generateCertificate({ isCA: true, commonName: 'Loop A' });
    const b = await generateCertificate({ isCA: true, commonName: 'Loop B', issuer: a });
    const aByB = await generateCertificate({ isCA: true, commonName: 'Loop A', issuer: b });
    const victim = await generateCertificate({ commonName: 'server.test', issuer: aByB });
    assertFails([victim.der, b.der, aByB.der, a.der], { ca: [root.cert] }, 'unknown_ca');

    // A chain of 11 CAs below the root is longer than the path bound.
    let issuer = root;
    const intermediates: Buffer[] = [];
    for (let i = 0; i < 11; i++) {
      issuer = await generateCertificate({ isCA: true, commonName: `Deep ${i}`, issuer });
      intermediates.unshift(issuer.der);
    }
    const deepLeaf = await generateCertificate({ commonName: 'server.test', issuer });
    assertFails([deepLeaf.der, ...intermediates], { ca: [root.cert] }, 'unknown_ca');
    // The same chain within the bound (anchored at the 3rd CA) verifies.
    assert.ok(
      verifyPeerCertificate([deepLeaf.der, ...intermediates.slice(0, 8)], { ca: [intermediates[8]!] }),
    );
  });
});
