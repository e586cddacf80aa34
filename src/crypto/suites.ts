/**
 * The cipher suite table. Every suite we implement is an AEAD suite (RFC 5246 §6.2.3.3): the record
 * layer needs only a key, a fixed IV, the explicit nonce length and the tag length; the PRF hash comes
 * from the suite (RFC 5246 §5, RFC 5288 §3, RFC 6655 §3, RFC 7905 §2, RFC 8442 §3).
 */

export type PrfHash = 'sha256' | 'sha384';

/** How the premaster secret is agreed and how the server is authenticated. */
export type KeyExchange = 'ECDHE_ECDSA' | 'ECDHE_RSA' | 'PSK' | 'ECDHE_PSK';

export type AeadAlgorithm =
  | 'aes-128-gcm'
  | 'aes-256-gcm'
  | 'chacha20-poly1305'
  | 'aes-128-ccm'
  | 'aes-256-ccm'
  | 'aes-128-ccm8'
  | 'aes-256-ccm8';

export interface CipherSuite {
  /** IANA code point. */
  readonly id: number;
  /** IANA name, e.g. TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256. */
  readonly name: string;
  /** OpenSSL's name, for the CLI and for interop tests. */
  readonly opensslName: string;
  readonly keyExchange: KeyExchange;
  readonly aead: AeadAlgorithm;
  readonly prfHash: PrfHash;
  /** Encryption key length in bytes. */
  readonly keyLength: number;
  /** Implicit part of the nonce taken from the key block (client_write_IV / server_write_IV). */
  readonly fixedIvLength: number;
  /** Explicit nonce carried in each record (8 for GCM/CCM, 0 for ChaCha20-Poly1305). */
  readonly recordIvLength: number;
  readonly tagLength: number;
}

function gcm(id: number, name: string, openssl: string, kx: KeyExchange, bits: 128 | 256): CipherSuite {
  return {
    id,
    name,
    opensslName: openssl,
    keyExchange: kx,
    aead: bits === 128 ? 'aes-128-gcm' : 'aes-256-gcm',
    prfHash: bits === 128 ? 'sha256' : 'sha384',
    keyLength: bits / 8,
    fixedIvLength: 4,
    recordIvLength: 8,
    tagLength: 16,
  };
}

function chacha(id: number, name: string, openssl: string, kx: KeyExchange): CipherSuite {
  return {
    id,
    name,
    opensslName: openssl,
    keyExchange: kx,
    aead: 'chacha20-poly1305',
    prfHash: 'sha256',
    keyLength: 32,
    fixedIvLength: 12,
    recordIvLength: 0,
    tagLength: 16,
  };
}

function ccm(
  id: number,
  name: string,
  openssl: string,
  kx: KeyExchange,
  bits: 128 | 256,
  tag: 8 | 16,
): CipherSuite {
  const aead = `aes-${bits}-ccm${tag === 8 ? '8' : ''}` as AeadAlgorithm;
  return {
    id,
    name,
    opensslName: openssl,
    keyExchange: kx,
    aead,
    prfHash: 'sha256',
    keyLength: bits / 8,
    fixedIvLength: 4,
    recordIvLength: 8,
    tagLength: tag,
  };
}

/** Every suite, in our default order of preference (strongest and fastest AEADs first). */
export const CIPHER_SUITES: readonly CipherSuite[] = [
  gcm(0xc02b, 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', 'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE_ECDSA', 128),
  gcm(0xc02c, 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE_ECDSA', 256),
  chacha(
    0xcca9,
    'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
    'ECDHE_ECDSA',
  ),
  gcm(0xc02f, 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE_RSA', 128),
  gcm(0xc030, 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', 'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE_RSA', 256),
  chacha(0xcca8, 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256', 'ECDHE-RSA-CHACHA20-POLY1305', 'ECDHE_RSA'),
  ccm(0xc0ac, 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM', 'ECDHE-ECDSA-AES128-CCM', 'ECDHE_ECDSA', 128, 16),
  ccm(0xc0ad, 'TLS_ECDHE_ECDSA_WITH_AES_256_CCM', 'ECDHE-ECDSA-AES256-CCM', 'ECDHE_ECDSA', 256, 16),
  ccm(0xc0ae, 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8', 'ECDHE-ECDSA-AES128-CCM8', 'ECDHE_ECDSA', 128, 8),
  ccm(0xc0af, 'TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8', 'ECDHE-ECDSA-AES256-CCM8', 'ECDHE_ECDSA', 256, 8),
  // RFC 8442 ECDHE_PSK AEAD suites, RFC 7905 ChaCha20-Poly1305 PSK suites.
  gcm(0xd001, 'TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256', 'ECDHE-PSK-AES128-GCM-SHA256', 'ECDHE_PSK', 128),
  gcm(0xd002, 'TLS_ECDHE_PSK_WITH_AES_256_GCM_SHA384', 'ECDHE-PSK-AES256-GCM-SHA384', 'ECDHE_PSK', 256),
  chacha(0xccac, 'TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256', 'ECDHE-PSK-CHACHA20-POLY1305', 'ECDHE_PSK'),
  ccm(0xd003, 'TLS_ECDHE_PSK_WITH_AES_128_CCM_8_SHA256', 'ECDHE-PSK-AES128-CCM8-SHA256', 'ECDHE_PSK', 128, 8),
  ccm(0xd005, 'TLS_ECDHE_PSK_WITH_AES_128_CCM_SHA256', 'ECDHE-PSK-AES128-CCM-SHA256', 'ECDHE_PSK', 128, 16),
  // RFC 5487 / RFC 6655 plain PSK suites (the CoAP profile, RFC 7252 §9.1.3.1).
  ccm(0xc0a8, 'TLS_PSK_WITH_AES_128_CCM_8', 'PSK-AES128-CCM8', 'PSK', 128, 8),
  ccm(0xc0a9, 'TLS_PSK_WITH_AES_256_CCM_8', 'PSK-AES256-CCM8', 'PSK', 256, 8),
  ccm(0xc0a4, 'TLS_PSK_WITH_AES_128_CCM', 'PSK-AES128-CCM', 'PSK', 128, 16),
  ccm(0xc0a5, 'TLS_PSK_WITH_AES_256_CCM', 'PSK-AES256-CCM', 'PSK', 256, 16),
  gcm(0x00a8, 'TLS_PSK_WITH_AES_128_GCM_SHA256', 'PSK-AES128-GCM-SHA256', 'PSK', 128),
  gcm(0x00a9, 'TLS_PSK_WITH_AES_256_GCM_SHA384', 'PSK-AES256-GCM-SHA384', 'PSK', 256),
  chacha(0xccab, 'TLS_PSK_WITH_CHACHA20_POLY1305_SHA256', 'PSK-CHACHA20-POLY1305', 'PSK'),
];

const byId = new Map(CIPHER_SUITES.map((s) => [s.id, s]));
const byName = new Map(CIPHER_SUITES.flatMap((s) => [[s.name, s] as const, [s.opensslName, s] as const]));

export function suiteById(id: number): CipherSuite | undefined {
  return byId.get(id);
}

/** Look a suite up by its IANA name or its OpenSSL name. */
export function suiteByName(name: string): CipherSuite | undefined {
  return byName.get(name.trim());
}

export function usesCertificate(s: CipherSuite): boolean {
  return s.keyExchange === 'ECDHE_ECDSA' || s.keyExchange === 'ECDHE_RSA';
}

export function usesPsk(s: CipherSuite): boolean {
  return s.keyExchange === 'PSK' || s.keyExchange === 'ECDHE_PSK';
}

export function usesEcdhe(s: CipherSuite): boolean {
  return s.keyExchange !== 'PSK';
}
