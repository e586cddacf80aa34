import { DtlsError } from '../errors.js';

/**
 * DTLS-SRTP protection profiles (RFC 5764 §4.1.2, RFC 7714 §14.2) with the key and salt lengths the
 * exporter output is split by (RFC 5764 §4.2).
 */
export interface SrtpProfile {
  name: string;
  id: number;
  keyLength: number;
  saltLength: number;
}

export const SRTP_PROFILES: readonly SrtpProfile[] = [
  { name: 'SRTP_AES128_CM_HMAC_SHA1_80', id: 0x0001, keyLength: 16, saltLength: 14 },
  { name: 'SRTP_AES128_CM_HMAC_SHA1_32', id: 0x0002, keyLength: 16, saltLength: 14 },
  { name: 'SRTP_AEAD_AES_128_GCM', id: 0x0007, keyLength: 16, saltLength: 12 },
  { name: 'SRTP_AEAD_AES_256_GCM', id: 0x0008, keyLength: 32, saltLength: 12 },
];

export function srtpProfileByName(name: string): SrtpProfile {
  const p = SRTP_PROFILES.find((x) => x.name === name.trim());
  if (!p) throw new DtlsError('invalid_argument', `unknown SRTP profile ${name}`);
  return p;
}

export function srtpProfileById(id: number): SrtpProfile | undefined {
  return SRTP_PROFILES.find((x) => x.id === id);
}

/** The exporter label of RFC 5764 §4.2. */
export const SRTP_EXPORTER_LABEL = 'EXTRACTOR-dtls_srtp';

/** SRTP master keys and salts for both directions, as RFC 5764 §4.2 splits the exporter output. */
export interface SrtpKeys {
  profile: string;
  mki: Buffer;
  clientWriteKey: Buffer;
  clientWriteSalt: Buffer;
  serverWriteKey: Buffer;
  serverWriteSalt: Buffer;
}

/** Length of keying material a profile needs: 2 * (key + salt). */
export function srtpKeyingMaterialLength(p: SrtpProfile): number {
  return 2 * (p.keyLength + p.saltLength);
}

/** client_write_key | server_write_key | client_write_salt | server_write_salt (RFC 5764 §4.2). */
export function splitSrtpKeyingMaterial(p: SrtpProfile, material: Buffer, mki: Buffer): SrtpKeys {
  const k = p.keyLength;
  const s = p.saltLength;
  return {
    profile: p.name,
    mki,
    clientWriteKey: material.subarray(0, k),
    serverWriteKey: material.subarray(k, 2 * k),
    clientWriteSalt: material.subarray(2 * k, 2 * k + s),
    serverWriteSalt: material.subarray(2 * k + s, 2 * k + 2 * s),
  };
}
