import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  type GeneratedCertificate,
  generateCertificate,
  type KeyType,
  loadCertificate,
  loadPrivateKey,
} from '../../src/cert/generate.js';
import { DtlsError } from '../../src/errors.js';

const workDir = mkdtempSync(join(tmpdir(), 'tsdtls-cert-'));
after(() => rmSync(workDir, { recursive: true, force: true }));

let fileCounter = 0;
function writeTemp(name: string, content: string): string {
  const path = join(workDir, `${fileCounter++}-${name}`);
  writeFileSync(path, content);
  return path;
}

function run(cmd: string, args: string[]): { status: number | null; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 15_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const KEY_TYPES: KeyType[] = ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048', 'ed25519'];
const EXPECTED_KEY: Record<KeyType, { type: string; curve?: string; signature: RegExp }> = {
  'ecdsa-p256': { type: 'ec', curve: 'prime256v1', signature: /ecdsa-with-SHA256/ },
  'ecdsa-p384': { type: 'ec', curve: 'secp384r1', signature: /ecdsa-with-SHA384/ },
  'rsa-2048': { type: 'rsa', signature: /sha256WithRSAEncryption/ },
  ed25519: { type: 'ed25519', signature: /ED25519/ },
};

describe('generateCertificate', () => {
  for (const keyType of KEY_TYPES) {
    test(`${keyType}: self-signed cert parses, verifies itself, matches its key, and OpenSSL accepts it`, async () => {
      const g = await generateCertificate({ keyType });
      const expected = EXPECTED_KEY[keyType];
      assert.equal(g.certificate.publicKey.asymmetricKeyType, expected.type);
      assert.equal(g.privateKey.asymmetricKeyType, expected.type);
      if (expected.curve)
        assert.equal(g.certificate.publicKey.asymmetricKeyDetails?.namedCurve, expected.curve);
      if (keyType === 'rsa-2048')
        assert.equal(g.certificate.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
      assert.ok(g.certificate.verify(g.certificate.publicKey), 'self-signature verifies');
      assert.ok(g.certificate.checkPrivateKey(g.privateKey), 'private key matches the certificate');
      assert.equal(g.certificate.issuer, g.certificate.subject, 'self-issued');
      assert.equal(g.certificate.ca, false);
      assert.deepEqual(g.der, g.certificate.raw);
      assert.match(g.cert, /^-----BEGIN CERTIFICATE-----\n/);
      assert.match(g.key, /^-----BEGIN PRIVATE KEY-----\n/);
      assert.ok(loadPrivateKey(g.key).equals(g.privateKey));

      const certPath = writeTemp('self.pem', g.cert);
      const text = run('openssl', ['x509', '-noout', '-text', '-in', certPath]);
      assert.equal(text.status, 0, text.out);
      assert.match(text.out, expected.signature);
      assert.match(text.out, /Version: 3 \(0x2\)/);
      assert.match(text.out, /CA:FALSE/);
      assert.match(text.out, /Digital Signature/);
      assert.match(text.out, /TLS Web Server Authentication, TLS Web Client Authentication/);
      // The self-signed cert as its own anchor is usable for both DTLS roles (WebRTC style).
      for (const purpose of ['sslserver', 'sslclient']) {
        const v = run('openssl', ['verify', '-purpose', purpose, '-CAfile', certPath, certPath]);
        assert.equal(v.status, 0, v.out);
        assert.match(v.out, /: OK/);
      }
      const keyText = run('openssl', ['pkey', '-noout', '-in', writeTemp('key.pem', g.key)]);
      assert.equal(keyText.status, 0, keyText.out);
    });
  }

  test('defaults: CN tsdtls with a matching DNS SAN, 30 days starting an hour back, random serial', async () => {
    const before = Date.now();
    const a = await generateCertificate();
    const b = await generateCertificate();
    assert.equal(a.certificate.subject, 'CN=tsdtls');
    assert.equal(a.certificate.issuer, 'CN=tsdtls');
    assert.equal(a.certificate.subjectAltName, 'DNS:tsdtls');
    assert.equal(a.certificate.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    const notBefore = new Date(a.certificate.validFrom).getTime();
    const notAfter = new Date(a.certificate.validTo).getTime();
    // X.509 times have one-second resolution.
    assert.ok(Math.abs(notBefore - (before - 3600_000)) < 10_000, `notBefore ${a.certificate.validFrom}`);
    assert.equal(notAfter - notBefore, 30 * 24 * 3600_000);
    assert.notEqual(a.certificate.serialNumber, b.certificate.serialNumber);
    assert.match(a.fingerprint, /^sha-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  });

  test('explicit dates, serial number and SANs (DNS and IP) are encoded', async () => {
    const g = await generateCertificate({
      commonName: 'example.test',
      notBefore: new Date('2020-01-01T00:00:00Z'),
      notAfter: new Date('2021-06-30T12:00:00Z'),
      serialNumber: '0123abcd',
      subjectAltNames: ['example.test', '*.example.test', '127.0.0.1', '::1'],
    });
    assert.equal(new Date(g.certificate.validFrom).toISOString(), '2020-01-01T00:00:00.000Z');
    assert.equal(new Date(g.certificate.validTo).toISOString(), '2021-06-30T12:00:00.000Z');
    assert.equal(g.certificate.serialNumber, '0123ABCD');
    assert.equal(
      g.certificate.subjectAltName,
      'DNS:example.test, DNS:*.example.test, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
    );
  });

  test('a common name that is not a host name gets no SAN', async () => {
    const g = await generateCertificate({ commonName: 'My Test Peer' });
    assert.equal(g.certificate.subject, 'CN=My Test Peer');
    assert.equal(g.certificate.subjectAltName, undefined);
  });

  test('CA + leaf of each key type: node, OpenSSL (server and client purpose) and GnuTLS accept the chain', async () => {
    for (const caType of ['ecdsa-p384', 'rsa-2048'] as const) {
      const ca = await generateCertificate({ keyType: caType, isCA: true, commonName: `Test CA ${caType}` });
      assert.equal(ca.certificate.ca, true);
      const caPath = writeTemp('ca.pem', ca.cert);
      const caText = run('openssl', ['x509', '-noout', '-text', '-in', caPath]);
      assert.match(caText.out, /CA:TRUE/);
      assert.match(caText.out, /Certificate Sign/);
      for (const keyType of KEY_TYPES) {
        const leaf = await generateCertificate({ keyType, issuer: ca, commonName: 'localhost' });
        assert.equal(leaf.certificate.issuer, `CN=Test CA ${caType}`);
        assert.ok(leaf.certificate.checkIssued(ca.certificate));
        assert.ok(leaf.certificate.verify(ca.certificate.publicKey));
        assert.ok(!leaf.certificate.verify(leaf.certificate.publicKey));
        assert.ok(leaf.certificate.checkPrivateKey(leaf.privateKey));
        const leafPath = writeTemp('leaf.pem', leaf.cert);
        const text = run('openssl', ['x509', '-noout', '-text', '-in', leafPath]);
        assert.equal(text.status, 0, text.out);
        assert.match(text.out, caType === 'rsa-2048' ? /sha256WithRSAEncryption/ : /ecdsa-with-SHA384/);
        assert.match(text.out, /X509v3 Authority Key Identifier/);
        for (const purpose of ['sslserver', 'sslclient']) {
          const v = run('openssl', ['verify', '-purpose', purpose, '-CAfile', caPath, leafPath]);
          assert.equal(v.status, 0, `${caType}/${keyType}: ${v.out}`);
        }
        const gnutls = run('certtool', ['--verify', '--load-ca-certificate', caPath, '--infile', leafPath]);
        assert.equal(gnutls.status, 0, `${caType}/${keyType}: ${gnutls.out}`);
        assert.match(gnutls.out, /Verified/);
      }
      // The leaf is not a CA, so OpenSSL refuses a certificate it "issued".
      const leaf = await generateCertificate({ issuer: ca, commonName: 'leaf.test' });
      const grandchild = await generateCertificate({ issuer: leaf, commonName: 'grandchild.test' });
      const bad = run('openssl', [
        'verify',
        '-CAfile',
        caPath,
        '-untrusted',
        writeTemp('leaf.pem', leaf.cert),
        writeTemp('grandchild.pem', grandchild.cert),
      ]);
      assert.notEqual(bad.status, 0, bad.out);
    }
  });

  test('an intermediate CA chain verifies with openssl -untrusted', async () => {
    const root = await generateCertificate({ isCA: true, commonName: 'Root' });
    const inter = await generateCertificate({ isCA: true, commonName: 'Intermediate', issuer: root });
    const leaf = await generateCertificate({ commonName: 'host.test', issuer: inter });
    const v = run('openssl', [
      'verify',
      '-CAfile',
      writeTemp('root.pem', root.cert),
      '-untrusted',
      writeTemp('inter.pem', inter.cert),
      writeTemp('leaf.pem', leaf.cert),
    ]);
    assert.equal(v.status, 0, v.out);
  });

  test('invalid options are rejected with invalid_argument', async () => {
    const rejects = (opts: Parameters<typeof generateCertificate>[0]) =>
      assert.rejects(generateCertificate(opts), (err: unknown) => {
        assert.ok(err instanceof DtlsError);
        assert.equal(err.code, 'invalid_argument');
        return true;
      });
    await rejects({ notBefore: new Date('2030-01-01'), notAfter: new Date('2029-01-01') });
    await rejects({ validityDays: 0 });
    await rejects({ serialNumber: 'not-hex' });
    await rejects({ subjectAltNames: ['not a host'] });
    await rejects({ keyType: 'dsa' as KeyType });
  });
});

describe('loadCertificate / loadPrivateKey', () => {
  let certs: GeneratedCertificate[] = [];
  test('a PEM bundle parses into its certificates in order; DER and PEM buffers work', async () => {
    certs = [
      await generateCertificate({ commonName: 'one.test' }),
      await generateCertificate({ commonName: 'two.test', keyType: 'ed25519' }),
      await generateCertificate({ commonName: 'three.test', keyType: 'ecdsa-p384' }),
    ];
    const bundle = `# comment before\n${certs.map((c) => c.cert).join('\n')}trailing text\n`;
    const loaded = loadCertificate(bundle);
    assert.deepEqual(
      loaded.map((c) => c.subject),
      ['CN=one.test', 'CN=two.test', 'CN=three.test'],
    );
    assert.deepEqual(
      loadCertificate(Buffer.from(bundle)).map((c) => c.fingerprint256),
      loaded.map((c) => c.fingerprint256),
    );
    assert.deepEqual(loadCertificate(certs[1]!.der)[0]!.raw, certs[1]!.der);
  });

  test('errors are DtlsError invalid_argument', () => {
    const isInvalid = (err: unknown) => err instanceof DtlsError && err.code === 'invalid_argument';
    assert.throws(() => loadCertificate('no certificate here'), isInvalid);
    assert.throws(() => loadCertificate(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x00])), isInvalid);
    assert.throws(
      () => loadCertificate('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'),
      isInvalid,
    );
    assert.throws(
      () => loadPrivateKey('-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'),
      isInvalid,
    );
  });

  test('loadPrivateKey reads keys written by OpenSSL (traditional EC form)', () => {
    const keyPath = join(workDir, 'openssl-ec.pem');
    execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyPath], {
      timeout: 15_000,
    });
    const pem = execFileSync('openssl', ['ec', '-in', keyPath], {
      timeout: 15_000,
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    assert.match(pem.toString(), /BEGIN EC PRIVATE KEY/);
    const key = loadPrivateKey(pem);
    assert.equal(key.asymmetricKeyType, 'ec');
    assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  });
});
