import { createPrivateKey, KeyObject, randomBytes, webcrypto, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import type * as X509Module from '@peculiar/x509';
import { DtlsError } from '../errors.js';
import { fingerprint } from './fingerprint.js';

export type KeyType = 'ecdsa-p256' | 'ecdsa-p384' | 'rsa-2048' | 'ed25519';

export interface GeneratedCertificate {
  /** The certificate, PEM. */
  cert: string;
  /** The private key, PKCS#8 PEM. */
  key: string;
  /** The certificate, DER (what goes into the Certificate handshake message, RFC 5246 §7.4.2). */
  der: Buffer;
  /** 'sha-256 AB:CD:…', the SDP a=fingerprint form (RFC 8122 §5). */
  fingerprint: string;
  certificate: X509Certificate;
  privateKey: KeyObject;
}

export interface GenerateCertificateOptions {
  keyType?: KeyType;
  commonName?: string;
  validityDays?: number;
  notBefore?: Date;
  notAfter?: Date;
  /** DNS names or IP addresses. */
  subjectAltNames?: string[];
  isCA?: boolean;
  /** Sign with this CA; default self-signed. */
  issuer?: GeneratedCertificate;
  /** Hexadecimal serial number; default 16 random bytes. */
  serialNumber?: string;
}

// WebCrypto algorithm parameters per key type. The signature hash follows the key strength
// (RFC 5480 §4: P-384 pairs with SHA-384); RSA and P-256 use SHA-256, never SHA-1, which
// OpenSSL 3 and GnuTLS reject at their default security levels.
type KeyParams = {
  generate: webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams | webcrypto.Algorithm;
};
const KEY_ALGORITHMS: Record<KeyType, KeyParams & { sign: webcrypto.Algorithm | webcrypto.EcdsaParams }> = {
  'ecdsa-p256': {
    generate: { name: 'ECDSA', namedCurve: 'P-256' } as webcrypto.EcKeyGenParams,
    sign: { name: 'ECDSA', hash: 'SHA-256' } as webcrypto.EcdsaParams,
  },
  'ecdsa-p384': {
    generate: { name: 'ECDSA', namedCurve: 'P-384' } as webcrypto.EcKeyGenParams,
    sign: { name: 'ECDSA', hash: 'SHA-384' } as webcrypto.EcdsaParams,
  },
  'rsa-2048': {
    generate: {
      name: 'RSASSA-PKCS1-v1_5',
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: 'SHA-256',
    } as webcrypto.RsaHashedKeyGenParams,
    sign: { name: 'RSASSA-PKCS1-v1_5' },
  },
  ed25519: { generate: { name: 'Ed25519' }, sign: { name: 'Ed25519' } },
};

const DAY_MS = 24 * 60 * 60 * 1000;
// Start validity an hour back so a peer whose clock runs a little behind still accepts a fresh cert.
const CLOCK_SKEW_MS = 60 * 60 * 1000;

// @peculiar/x509 types its provider as the DOM Crypto; node:crypto's webcrypto implements it.
const x509Crypto = webcrypto as unknown as Parameters<typeof X509Module.X509CertificateGenerator.create>[1];

let x509Loading: Promise<typeof X509Module> | undefined;

/** Loads @peculiar/x509 lazily, after the Reflect metadata functions its tsyringe dependency needs. */
function loadX509(): Promise<typeof X509Module> {
  x509Loading ??= (async () => {
    // tsyringe (under @peculiar/x509) needs the Reflect metadata API; reflect-metadata is its polyfill.
    await import('reflect-metadata');
    return await import('@peculiar/x509');
  })();
  return x509Loading;
}

// RFC 1123 §2.1 host name labels (letters, digits, inner hyphens), optionally a leading '*.' wildcard
// label (RFC 6125 §6.4.3) as produced for test servers.
const HOST_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/i;

function looksLikeHostName(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.replace(/\.$/, '').split('.');
  if (labels[0] === '*' && labels.length > 1) labels.shift();
  return labels.every((l) => HOST_LABEL.test(l));
}

function subjectAltNameEntries(names: string[]): { type: 'dns' | 'ip'; value: string }[] {
  return names.map((name) => {
    if (isIP(name) !== 0) return { type: 'ip', value: name };
    if (looksLikeHostName(name)) return { type: 'dns', value: name };
    throw new DtlsError(
      'invalid_argument',
      `subjectAltName "${name}" is neither a DNS name nor an IP address`,
    );
  });
}

function keyTypeOf(key: KeyObject): KeyType {
  const details = key.asymmetricKeyDetails;
  switch (key.asymmetricKeyType) {
    case 'ec':
      if (details?.namedCurve === 'prime256v1') return 'ecdsa-p256';
      if (details?.namedCurve === 'secp384r1') return 'ecdsa-p384';
      break;
    case 'rsa':
      return 'rsa-2048';
    case 'ed25519':
      return 'ed25519';
  }
  throw new DtlsError('invalid_argument', `unsupported issuer key ${key.asymmetricKeyType}`);
}

/** Imports a KeyObject into WebCrypto for signing with the algorithm of its key type. */
async function importSigningKey(key: KeyObject): Promise<{ key: webcrypto.CryptoKey; type: KeyType }> {
  const type = keyTypeOf(key);
  const params = KEY_ALGORITHMS[type].generate;
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
  const importParams = type === 'rsa-2048' ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } : params;
  const cryptoKey = await webcrypto.subtle.importKey('pkcs8', pkcs8, importParams, false, ['sign']);
  return { key: cryptoKey, type };
}

/**
 * Generates a key pair and an X.509 v3 certificate for it: self-signed by default (the WebRTC
 * style, RFC 8827 §6.5, pinned by fingerprint), or signed by `issuer` to build test PKIs.
 */
export async function generateCertificate(
  opts: GenerateCertificateOptions = {},
): Promise<GeneratedCertificate> {
  const x509 = await loadX509();
  const keyType = opts.keyType ?? 'ecdsa-p256';
  const algorithms = KEY_ALGORITHMS[keyType];
  if (!algorithms) throw new DtlsError('invalid_argument', `unsupported key type ${keyType}`);
  const commonName = opts.commonName ?? 'tsdtls';
  const isCA = opts.isCA ?? false;

  const notBefore = opts.notBefore ?? new Date(Date.now() - CLOCK_SKEW_MS);
  const validityDays = opts.validityDays ?? 30;
  if (!(validityDays > 0)) throw new DtlsError('invalid_argument', 'validityDays must be positive');
  const notAfter = opts.notAfter ?? new Date(notBefore.getTime() + validityDays * DAY_MS);
  if (Number.isNaN(notBefore.getTime()) || Number.isNaN(notAfter.getTime()) || notAfter <= notBefore) {
    throw new DtlsError('invalid_argument', 'certificate notAfter must be a valid date after notBefore');
  }

  let serialNumber = opts.serialNumber;
  if (serialNumber === undefined) {
    // RFC 5280 §4.1.2.2: a positive integer of at most 20 octets; clear the top bit to keep it positive.
    const bytes = randomBytes(16);
    bytes[0]! &= 0x7f;
    serialNumber = bytes.toString('hex');
  } else if (!/^[0-9a-f]{1,40}$/i.test(serialNumber)) {
    throw new DtlsError('invalid_argument', 'serialNumber must be 1 to 40 hex digits');
  }

  const keys = (await webcrypto.subtle.generateKey(algorithms.generate, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;

  let sanNames = opts.subjectAltNames;
  if (sanNames === undefined && !isCA && (isIP(commonName) !== 0 || looksLikeHostName(commonName))) {
    sanNames = [commonName];
  }

  let signingKey = keys.privateKey;
  let signingAlgorithm = algorithms.sign;
  let issuerName: X509Module.Name | undefined;
  let issuerPublicKey: webcrypto.CryptoKey | X509Module.PublicKey = keys.publicKey;
  if (opts.issuer) {
    const issuerCert = new x509.X509Certificate(opts.issuer.der);
    const imported = await importSigningKey(opts.issuer.privateKey);
    signingKey = imported.key;
    signingAlgorithm = KEY_ALGORITHMS[imported.type].sign;
    issuerName = issuerCert.subjectName;
    issuerPublicKey = issuerCert.publicKey;
  }

  // RFC 5280 §4.2.1.3 keyUsage and §4.2.1.9 basicConstraints (critical, as OpenSSL expects for CAs).
  // Leaves sign handshakes (digitalSignature); RSA leaves also decrypt the premaster secret of
  // RSA key exchange (RFC 5246 §7.4.7.1), which needs keyEncipherment.
  let usages = x509.KeyUsageFlags.digitalSignature;
  if (isCA) usages |= x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign;
  else if (keyType === 'rsa-2048') usages |= x509.KeyUsageFlags.keyEncipherment;
  const extensions: X509Module.Extension[] = [
    new x509.BasicConstraintsExtension(isCA, undefined, true),
    new x509.KeyUsagesExtension(usages, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, x509Crypto),
  ];
  if (opts.issuer) {
    // RFC 5280 §4.2.1.1: lets verifiers pick the right issuer key when names collide.
    extensions.push(await x509.AuthorityKeyIdentifierExtension.create(issuerPublicKey, false, x509Crypto));
  }
  if (!isCA) {
    // A DTLS endpoint may act as either side, so allow both (RFC 5280 §4.2.1.12).
    extensions.push(
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
    );
  }
  if (sanNames && sanNames.length > 0) {
    extensions.push(new x509.SubjectAlternativeNameExtension(subjectAltNameEntries(sanNames)));
  }

  const subjectName = [{ CN: [commonName] }];
  const generated = await x509.X509CertificateGenerator.create(
    {
      serialNumber,
      subject: subjectName,
      issuer: issuerName ?? subjectName,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey,
      signingAlgorithm,
      extensions,
    },
    x509Crypto,
  );

  const der = Buffer.from(generated.rawData);
  const certificate = new X509Certificate(der);
  const privateKey = createPrivateKeyFromCryptoKey(keys.privateKey);
  return {
    cert: certificate.toString(),
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    der,
    fingerprint: fingerprint(der, 'sha-256'),
    certificate,
    privateKey,
  };
}

function createPrivateKeyFromCryptoKey(key: webcrypto.CryptoKey): KeyObject {
  // KeyObject.from keeps the WebCrypto algorithm binding; re-import the PKCS#8 form so the key
  // behaves like any key loaded from a file (usable by crypto.sign with any hash).
  const pkcs8 = KeyObject.from(key).export({ type: 'pkcs8', format: 'der' });
  return createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/**
 * Parses a PEM bundle into its certificates, in order. A Buffer without PEM armour is taken as a
 * single DER certificate. Throws DtlsError('invalid_argument') when nothing parses.
 */
export function loadCertificate(pem: string | Buffer): X509Certificate[] {
  if (Buffer.isBuffer(pem) && !pem.includes('-----BEGIN')) {
    try {
      return [new X509Certificate(pem)];
    } catch (err) {
      throw new DtlsError('invalid_argument', 'not a DER certificate', { cause: err });
    }
  }
  const text = typeof pem === 'string' ? pem : pem.toString('latin1');
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new DtlsError('invalid_argument', 'no PEM certificate found');
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      throw new DtlsError('invalid_argument', `PEM certificate #${i + 1} could not be parsed`, {
        cause: err,
      });
    }
  });
}

/** Loads a private key from PEM (PKCS#8, or the traditional RSA/EC forms OpenSSL writes). */
export function loadPrivateKey(pem: string | Buffer): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw new DtlsError('invalid_argument', 'private key could not be parsed', { cause: err });
  }
}
