import { createHash, timingSafeEqual, X509Certificate } from 'node:crypto';
import { DtlsError } from '../errors.js';

/**
 * Hash function textual names from the IANA registry used by RFC 8122 §5 / RFC 4572 §5
 * ("sha-1", "sha-256", ...). md2/md5 are registered too but are broken, so we refuse them.
 */
export type FingerprintHash = 'sha-1' | 'sha-224' | 'sha-256' | 'sha-384' | 'sha-512';

const NODE_HASH: Record<FingerprintHash, { name: string; length: number }> = {
  'sha-1': { name: 'sha1', length: 20 },
  'sha-224': { name: 'sha224', length: 28 },
  'sha-256': { name: 'sha256', length: 32 },
  'sha-384': { name: 'sha384', length: 48 },
  'sha-512': { name: 'sha512', length: 64 },
};

function isFingerprintHash(name: string): name is FingerprintHash {
  return Object.hasOwn(NODE_HASH, name);
}

function toDer(cert: X509Certificate | Buffer | string): Buffer {
  if (cert instanceof X509Certificate) return cert.raw;
  if (typeof cert === 'string') {
    try {
      return new X509Certificate(cert).raw;
    } catch (err) {
      throw new DtlsError('invalid_argument', 'fingerprint: not a PEM certificate', { cause: err });
    }
  }
  return cert;
}

/**
 * The fingerprint of a certificate in SDP attribute form (RFC 8122 §5, RFC 4572 §5):
 * `hash-func SP fingerprint`, the digest of the DER certificate as uppercase hex pairs joined by ':'.
 */
export function fingerprint(
  cert: X509Certificate | Buffer | string,
  hash: FingerprintHash = 'sha-256',
): string {
  if (!isFingerprintHash(hash))
    throw new DtlsError('invalid_argument', `unsupported fingerprint hash ${hash}`);
  const digest = createHash(NODE_HASH[hash].name).update(toDer(cert)).digest();
  return `${hash} ${formatColonHex(digest)}`;
}

function formatColonHex(bytes: Buffer): string {
  const pairs: string[] = [];
  for (const b of bytes) pairs.push(b.toString(16).padStart(2, '0').toUpperCase());
  return pairs.join(':');
}

// RFC 4572 §5: fingerprint = 2UHEX *(":" 2UHEX). We also accept lowercase hex, as many stacks emit it.
const COLON_HEX = /^[0-9a-f]{2}(?::[0-9a-f]{2})*$/i;

/**
 * Parses 'sha-256 AB:CD:…' (hash name and hex case-insensitive), or a bare colon-hex string of
 * 32 bytes, which is taken as sha-256 (the hash WebRTC endpoints use in practice).
 */
export function parseFingerprint(s: string): { hash: FingerprintHash; value: Buffer } {
  const { hash, value } = parsedFingerprint(s);
  // A copy: the parsed form is shared through the cache below and must not be changed by a caller.
  return { hash, value: Buffer.from(value) };
}

/** Throws DtlsError('invalid_argument') when `s` is not a fingerprint parseFingerprint accepts. */
export function validateFingerprint(s: string): void {
  parsedFingerprint(s);
}

/**
 * Pinned fingerprints are checked on every handshake and validated on every connect(), and parsing
 * one builds a handful of strings (~2 KB of garbage); a client pins the same few values again and
 * again, so parsed forms are kept. Bounded: a process that pins ever-new values clears it when full.
 */
const PARSED_FINGERPRINTS = new Map<string, Readonly<{ hash: FingerprintHash; value: Buffer }>>();
const PARSED_FINGERPRINTS_MAX = 256;

function parsedFingerprint(s: string): Readonly<{ hash: FingerprintHash; value: Buffer }> {
  const known = typeof s === 'string' ? PARSED_FINGERPRINTS.get(s) : undefined;
  if (known) return known;
  const parsed = parseFingerprintUncached(s);
  if (PARSED_FINGERPRINTS.size >= PARSED_FINGERPRINTS_MAX) PARSED_FINGERPRINTS.clear();
  PARSED_FINGERPRINTS.set(s, parsed);
  return parsed;
}

function parseFingerprintUncached(s: string): { hash: FingerprintHash; value: Buffer } {
  if (typeof s !== 'string') throw new DtlsError('invalid_argument', 'fingerprint must be a string');
  const parts = s.trim().split(/\s+/);
  let hash: FingerprintHash;
  let hex: string;
  if (parts.length === 2) {
    const name = parts[0]!.toLowerCase();
    if (!isFingerprintHash(name))
      throw new DtlsError('invalid_argument', `unsupported fingerprint hash ${parts[0]}`);
    hash = name;
    hex = parts[1]!;
  } else if (parts.length === 1 && parts[0] !== '') {
    hash = 'sha-256';
    hex = parts[0]!;
  } else {
    throw new DtlsError('invalid_argument', `malformed fingerprint "${s}"`);
  }
  if (!COLON_HEX.test(hex)) throw new DtlsError('invalid_argument', `malformed fingerprint value "${hex}"`);
  const value = Buffer.from(hex.replaceAll(':', ''), 'hex');
  if (value.length !== NODE_HASH[hash].length) {
    throw new DtlsError(
      'invalid_argument',
      `${hash} fingerprint must be ${NODE_HASH[hash].length} bytes, got ${value.length}`,
    );
  }
  return { hash, value };
}

/**
 * True when the certificate's digest equals any of the expected fingerprints. Digests are compared
 * with timingSafeEqual, and every expected entry is checked, so timing reveals nothing about how
 * close a forged certificate came. Throws DtlsError('invalid_argument') on a malformed entry.
 */
export function matchesFingerprint(certDer: Buffer, expected: readonly string[]): boolean {
  const parsed = expected.map(parsedFingerprint);
  const digests = new Map<FingerprintHash, Buffer>();
  let matched = false;
  for (const { hash, value } of parsed) {
    let digest = digests.get(hash);
    if (!digest) {
      digest = createHash(NODE_HASH[hash].name).update(certDer).digest();
      digests.set(hash, digest);
    }
    if (timingSafeEqual(digest, value)) matched = true;
  }
  return matched;
}
