import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  type FingerprintHash,
  fingerprint,
  matchesFingerprint,
  parseFingerprint,
} from '../../src/cert/fingerprint.js';
import { generateCertificate } from '../../src/cert/generate.js';
import { DtlsError } from '../../src/errors.js';

const workDir = mkdtempSync(join(tmpdir(), 'tsdtls-fp-'));
after(() => rmSync(workDir, { recursive: true, force: true }));

function opensslFingerprint(pemPath: string, digest: string): string {
  const r = spawnSync('openssl', ['x509', '-noout', '-fingerprint', `-${digest}`, '-in', pemPath], {
    encoding: 'utf8',
    timeout: 15_000,
  });
  assert.equal(r.status, 0, r.stderr);
  // e.g. "SHA256 Fingerprint=AB:CD:..." (OpenSSL 3 prints "sha1 Fingerprint=" for SHA-1)
  const m = /^([a-z0-9-]+) Fingerprint=([0-9A-F:]+)\s*$/i.exec(r.stdout);
  assert.ok(m, `unexpected openssl output ${r.stdout}`);
  return m[2]!;
}

const isInvalidArgument = (err: unknown) => err instanceof DtlsError && err.code === 'invalid_argument';

describe('fingerprint', () => {
  test('matches openssl x509 -fingerprint for every hash and for X509Certificate, DER and PEM input', async () => {
    const hashes: [FingerprintHash, string][] = [
      ['sha-1', 'sha1'],
      ['sha-224', 'sha224'],
      ['sha-256', 'sha256'],
      ['sha-384', 'sha384'],
      ['sha-512', 'sha512'],
    ];
    for (const keyType of ['ecdsa-p256', 'rsa-2048'] as const) {
      const g = await generateCertificate({ keyType });
      const pemPath = join(workDir, `${keyType}.pem`);
      writeFileSync(pemPath, g.cert);
      for (const [hash, digest] of hashes) {
        const expected = `${hash} ${opensslFingerprint(pemPath, digest)}`;
        assert.equal(fingerprint(g.certificate, hash), expected);
        assert.equal(fingerprint(g.der, hash), expected);
        assert.equal(fingerprint(g.cert, hash), expected);
      }
      assert.equal(fingerprint(g.der), `sha-256 ${opensslFingerprint(pemPath, 'sha256')}`);
      assert.equal(g.fingerprint, fingerprint(g.der));
      // node's own formatting of the same digest agrees too.
      assert.equal(g.fingerprint, `sha-256 ${g.certificate.fingerprint256}`);
    }
  });

  test('a non-certificate PEM string is rejected', () => {
    assert.throws(() => fingerprint('not a pem'), isInvalidArgument);
  });
});

describe('parseFingerprint', () => {
  // RFC 4572 §5 example attribute value.
  const rfc4572 = 'SHA-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB';
  const sha256Hex = Array.from({ length: 32 }, (_, i) =>
    (i * 7 + 3).toString(16).padStart(2, '0').toUpperCase(),
  ).join(':');

  test('accepts the RFC 4572 example (upper-case hash name)', () => {
    const { hash, value } = parseFingerprint(rfc4572);
    assert.equal(hash, 'sha-1');
    assert.deepEqual(value, Buffer.from('4AADB9B13F82183B540212DF3E5D496B19E57CAB', 'hex'));
  });

  test('is case-insensitive and tolerant of surrounding whitespace', () => {
    const a = parseFingerprint(`sha-256 ${sha256Hex}`);
    const b = parseFingerprint(`  SHA-256   ${sha256Hex.toLowerCase()}\n`);
    assert.equal(a.hash, 'sha-256');
    assert.equal(b.hash, 'sha-256');
    assert.deepEqual(a.value, b.value);
    assert.equal(a.value.length, 32);
    assert.equal(a.value[1], 10);
  });

  test('a bare 32-byte colon-hex string means sha-256', () => {
    const { hash, value } = parseFingerprint(sha256Hex);
    assert.equal(hash, 'sha-256');
    assert.deepEqual(value, parseFingerprint(`sha-256 ${sha256Hex}`).value);
  });

  test('accepts sha-224, sha-384 and sha-512 of the right length', () => {
    for (const [hash, len] of [
      ['sha-224', 28],
      ['sha-384', 48],
      ['sha-512', 64],
    ] as const) {
      const hex = Array.from({ length: len }, () => 'AB').join(':');
      const parsed = parseFingerprint(`${hash} ${hex}`);
      assert.equal(parsed.hash, hash);
      assert.equal(parsed.value.length, len);
    }
  });

  test('rejects malformed input with DtlsError invalid_argument', () => {
    const bad = [
      '',
      '   ',
      'md5 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B',
      'sha256 4A:AD',
      `sha-256 ${sha256Hex} extra`,
      `sha-1 ${sha256Hex}`, // wrong length for the hash
      'sha-1 4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C', // 19 bytes
      '4A:AD:B9:B1:3F:82:18:3B:54:02:12:DF:3E:5D:49:6B:19:E5:7C:AB', // bare but only 20 bytes
      `sha-256 ${sha256Hex.replaceAll(':', '')}`, // no colons
      `sha-256 ${sha256Hex.replace('03', 'G3')}`,
      `sha-256 ${sha256Hex}:`,
      `sha-256 ${sha256Hex.replace(':', '::')}`,
    ];
    for (const s of bad) assert.throws(() => parseFingerprint(s), isInvalidArgument, JSON.stringify(s));
  });
});

describe('matchesFingerprint', () => {
  test('matches on any listed fingerprint, in any supported hash', async () => {
    const g = await generateCertificate();
    const other = await generateCertificate();
    assert.equal(matchesFingerprint(g.der, [g.fingerprint]), true);
    assert.equal(matchesFingerprint(g.der, [other.fingerprint, g.fingerprint]), true);
    assert.equal(matchesFingerprint(g.der, [fingerprint(g.der, 'sha-512').toUpperCase()]), true);
    assert.equal(matchesFingerprint(g.der, [g.fingerprint.slice('sha-256 '.length).toLowerCase()]), true);
    assert.equal(matchesFingerprint(g.der, [other.fingerprint]), false);
    assert.equal(matchesFingerprint(g.der, [fingerprint(other.der, 'sha-1')]), false);
    assert.equal(matchesFingerprint(g.der, []), false);
  });

  test('a malformed expected fingerprint throws instead of silently not matching', async () => {
    const g = await generateCertificate();
    assert.throws(() => matchesFingerprint(g.der, [g.fingerprint, 'sha-256 nope']), isInvalidArgument);
  });
});

describe('parsed fingerprints are kept, safely', () => {
  test('parseFingerprint hands out a copy: changing it changes nothing checked later', async () => {
    const g = await generateCertificate();
    const parsed = parseFingerprint(g.fingerprint);
    parsed.value.fill(0);
    assert.equal(matchesFingerprint(g.der, [g.fingerprint]), true);
    assert.notDeepEqual(parseFingerprint(g.fingerprint).value, parsed.value);
  });

  test('a malformed fingerprint throws every time, and more distinct pins than the cache holds still match', async () => {
    assert.throws(() => parseFingerprint('sha-256 nope'), isInvalidArgument);
    assert.throws(() => parseFingerprint('sha-256 nope'), isInvalidArgument);
    const g = await generateCertificate();
    // 300 well-formed pins that are not ours, then ours: the bounded cache is cleared on the way.
    const pins = Array.from(
      { length: 300 },
      (_, i) =>
        `sha-256 ${Buffer.alloc(32, i % 256)
          .toString('hex')
          .replace(/(..)(?!$)/g, '$1:')}`,
    );
    for (const p of pins) assert.equal(matchesFingerprint(g.der, [p]), false);
    assert.equal(matchesFingerprint(g.der, [...pins.slice(0, 3), g.fingerprint]), true);
    assert.equal(matchesFingerprint(g.der, pins.slice(250)), false);
  });
});
