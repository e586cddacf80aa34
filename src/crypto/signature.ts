import { constants, type KeyObject, sign, verify } from 'node:crypto';
import { DtlsError } from '../errors.js';
import { SignatureScheme } from '../wire/constants.js';

/**
 * Signature schemes for ServerKeyExchange and CertificateVerify. TLS 1.2 names a (hash, signature) pair
 * (RFC 5246 §7.4.1.4.1); the TLS 1.3 code points (RFC 8446 §4.2.3) are the same numbers, and RFC 8446
 * §4.2.3 defines rsa_pss_rsae_* and ed25519 (RFC 8422 §5.1.3) for TLS 1.2 as well.
 */
export type SignatureSchemeName =
  | 'ecdsa_secp256r1_sha256'
  | 'ecdsa_secp384r1_sha384'
  | 'rsa_pss_rsae_sha256'
  | 'rsa_pss_rsae_sha384'
  | 'rsa_pkcs1_sha256'
  | 'rsa_pkcs1_sha384'
  | 'ed25519';

interface SchemeParams {
  /** What asymmetricKeyType a key must have. */
  readonly keyType: 'ec' | 'rsa' | 'ed25519';
  /** The digest, or null for Ed25519 which hashes internally (RFC 8032 §5.1). */
  readonly hash: 'sha256' | 'sha384' | null;
  readonly pss: boolean;
}

const SCHEMES: Record<SignatureSchemeName, SchemeParams> = {
  ecdsa_secp256r1_sha256: { keyType: 'ec', hash: 'sha256', pss: false },
  ecdsa_secp384r1_sha384: { keyType: 'ec', hash: 'sha384', pss: false },
  rsa_pss_rsae_sha256: { keyType: 'rsa', hash: 'sha256', pss: true },
  rsa_pss_rsae_sha384: { keyType: 'rsa', hash: 'sha384', pss: true },
  rsa_pkcs1_sha256: { keyType: 'rsa', hash: 'sha256', pss: false },
  rsa_pkcs1_sha384: { keyType: 'rsa', hash: 'sha384', pss: false },
  ed25519: { keyType: 'ed25519', hash: null, pss: false },
};

const SCHEME_NAMES = Object.keys(SCHEMES) as SignatureSchemeName[];

export function schemeId(name: SignatureSchemeName): number {
  return SignatureScheme[name];
}

/** The scheme for a code point, or undefined for one we do not implement. */
export function schemeName(id: number): SignatureSchemeName | undefined {
  return SCHEME_NAMES.find((n) => SignatureScheme[n] === id);
}

/**
 * The schemes a key can produce (private) or verify (public), best first. In TLS 1.2 the ECDSA curve is
 * not tied to the hash (RFC 8422 §5.1.3 leaves it to the certificate), so either ECDSA scheme fits any EC
 * key; the one matching the curve comes first. RSA keys must be rsaEncryption keys for rsa_pss_rsae_*
 * (RFC 8446 §4.2.3); PSS is preferred over PKCS#1 v1.5. RSASSA-PSS-only keys and other types get none.
 */
export function schemesForKey(key: KeyObject): SignatureSchemeName[] {
  switch (key.asymmetricKeyType) {
    case 'ec':
      return key.asymmetricKeyDetails?.namedCurve === 'prime256v1'
        ? ['ecdsa_secp256r1_sha256', 'ecdsa_secp384r1_sha384']
        : ['ecdsa_secp384r1_sha384', 'ecdsa_secp256r1_sha256'];
    case 'rsa':
      return ['rsa_pss_rsae_sha256', 'rsa_pss_rsae_sha384', 'rsa_pkcs1_sha256', 'rsa_pkcs1_sha384'];
    case 'ed25519':
      return ['ed25519'];
    default:
      return [];
  }
}

/**
 * node:crypto options for the scheme. ECDSA signatures are DER (ECDSA-Sig-Value, RFC 8422 §5.4), which is
 * node's default encoding; RSA-PSS uses MGF1 with the same hash and a salt as long as the hash (RFC 8446
 * §4.2.3).
 */
function keyOptions(params: SchemeParams, key: KeyObject) {
  if (params.keyType === 'rsa')
    return params.pss
      ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
      : { key, padding: constants.RSA_PKCS1_PADDING };
  if (params.keyType === 'ec') return { key, dsaEncoding: 'der' as const };
  return key;
}

/** Signs `data` with our private key; throws DtlsError('invalid_argument') if the key cannot do the scheme. */
export function signWithScheme(scheme: SignatureSchemeName, privateKey: KeyObject, data: Uint8Array): Buffer {
  const params = SCHEMES[scheme];
  if (privateKey.type !== 'private' || privateKey.asymmetricKeyType !== params.keyType)
    throw new DtlsError(
      'invalid_argument',
      `${scheme} needs a private ${params.keyType} key, got ${privateKey.type} ${privateKey.asymmetricKeyType}`,
    );
  return sign(params.hash, data, keyOptions(params, privateKey));
}

/**
 * Checks the peer's signature. Returns false, never throws, for anything that is not a valid signature:
 * malformed DER, wrong length, or a key that does not fit the scheme (the caller turns false into a
 * decrypt_error alert, RFC 5246 §7.2.2).
 */
export function verifyWithScheme(
  scheme: SignatureSchemeName,
  publicKey: KeyObject,
  data: Uint8Array,
  signature: Uint8Array,
): boolean {
  const params = SCHEMES[scheme];
  if (publicKey.asymmetricKeyType !== params.keyType) return false;
  try {
    return verify(params.hash, data, keyOptions(params, publicKey), signature);
  } catch {
    return false;
  }
}
