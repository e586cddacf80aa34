import {
  createECDH,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  type ECDH,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { DtlsError, HandshakeFailure } from '../errors.js';
import { NamedGroup } from '../wire/constants.js';
import type { RandomSource } from './random.js';

/** The ECDHE groups we offer and accept (RFC 8422 §5.1.1, RFC 7748). */
export type GroupName = 'x25519' | 'secp256r1' | 'secp384r1';

const GROUPS: readonly GroupName[] = ['x25519', 'secp256r1', 'secp384r1'];

export function groupId(name: GroupName): number {
  return NamedGroup[name];
}

/** The group for a NamedGroup code point, or undefined for one we do not implement. */
export function groupName(id: number): GroupName | undefined {
  return GROUPS.find((g) => NamedGroup[g] === id);
}

/** One ephemeral key pair of an ECDHE exchange. */
export interface KeyShare {
  readonly group: GroupName;
  /** The public value as it goes on the wire (RFC 8422 §5.4 ECPoint, RFC 8422 §5.11 for X25519). */
  readonly publicKey: Buffer;
  /** The premaster secret with the peer's public value; throws HandshakeFailure('illegal_parameter'). */
  deriveSecret(peerPublic: Uint8Array): Buffer;
}

/** OpenSSL curve names and field sizes in bytes of the NIST groups. */
const NIST_CURVES = {
  secp256r1: { openssl: 'prime256v1', fieldBytes: 32 },
  secp384r1: { openssl: 'secp384r1', fieldBytes: 48 },
} as const;

// Fixed DER framing around a raw 32-byte X25519 private key (RFC 8410 §7 PrivateKeyInfo with OID
// 1.3.101.110), used only when a seeded random source supplies the scalar. Public keys cross node:crypto
// as JWK (RFC 8037 §2: `x` is the raw 32-byte key in base64url) instead: in Node 20 importing or exporting
// an SPKI DER key goes through OpenSSL 3's decoder framework and costs ~70 µs each way, the JWK path ~1-7
// µs — a quarter of an X25519 handshake's CPU before the change.
const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_KEY_LENGTH = 32;

/** Bound on redraws when random bytes are not a valid NIST private scalar (probability < 2^-32 each). */
const MAX_SCALAR_DRAWS = 16;

/**
 * A fresh ephemeral key pair. Without `random` the key comes from OpenSSL's generator; with it the private
 * key is derived from `random`'s bytes, so a seeded test run produces the same handshake every time.
 */
export function generateKeyShare(group: GroupName, random?: RandomSource): KeyShare {
  if (group === 'x25519') return x25519KeyShare(random);
  return nistKeyShare(group, random);
}

function illegalPeerKey(group: GroupName, why: string): HandshakeFailure {
  return new HandshakeFailure('illegal_parameter', `peer's ${group} public key ${why}`);
}

function x25519KeyShare(random: RandomSource | undefined): KeyShare {
  let privateKey: KeyObject;
  let jwk: JsonWebKey;
  if (random === undefined) {
    // The public key is encoded by the key generation itself. Exporting it afterwards from the returned
    // KeyObject (publicKey.export({ format: 'jwk' })) can deadlock Node 20: the export holds the key's
    // mutex while it allocates a string, that allocation may run a garbage collection, and the
    // collection may destroy the finished key-generation job, whose destructor takes the same mutex.
    // Reproduced here: a loop of generate-then-export hangs within seconds with a 1 MB young generation.
    // (@types/node lists only 'pem' and 'der' here; Node 20 accepts 'jwk' and returns the JWK object.)
    ({ privateKey, publicKey: jwk } = generateKeyPairSync('x25519', {
      publicKeyEncoding: { format: 'jwk' },
    } as object) as unknown as { privateKey: KeyObject; publicKey: JsonWebKey });
  } else {
    const scalar = random(X25519_KEY_LENGTH);
    privateKey = createPrivateKey({
      key: Buffer.concat([X25519_PKCS8_PREFIX, scalar]),
      format: 'der',
      type: 'pkcs8',
    });
    // No key-generation job here, so exporting is safe.
    jwk = createPublicKey(privateKey).export({ format: 'jwk' });
  }
  const publicKey = Buffer.from(jwk.x as string, 'base64url');
  return {
    group: 'x25519',
    publicKey,
    deriveSecret(peerPublic: Uint8Array): Buffer {
      if (peerPublic.length !== X25519_KEY_LENGTH)
        throw illegalPeerKey('x25519', `is ${peerPublic.length} bytes`);
      let secret: Buffer;
      try {
        const peerKey = createPublicKey({
          key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(peerPublic).toString('base64url') },
          format: 'jwk',
        });
        secret = diffieHellman({ privateKey, publicKey: peerKey });
      } catch {
        // OpenSSL itself refuses some low-order points; either way the key is unusable.
        throw illegalPeerKey('x25519', 'is invalid');
      }
      // RFC 7748 §6.1, RFC 8422 §5.11: a low-order peer point gives the all-zero secret; abort.
      let any = 0;
      for (const b of secret) any |= b;
      if (any === 0) throw illegalPeerKey('x25519', 'is of low order (all-zero shared secret)');
      return secret;
    },
  };
}

function nistKeyShare(group: 'secp256r1' | 'secp384r1', random: RandomSource | undefined): KeyShare {
  const { openssl, fieldBytes } = NIST_CURVES[group];
  const ecdh: ECDH = createECDH(openssl);
  if (random === undefined) {
    ecdh.generateKeys();
  } else {
    let accepted = false;
    for (let draw = 0; draw < MAX_SCALAR_DRAWS && !accepted; draw++) {
      try {
        // OpenSSL rejects 0 and scalars ≥ the group order; draw again (RFC 8422 §5.10 wants 1..n-1).
        ecdh.setPrivateKey(random(fieldBytes));
        accepted = true;
      } catch {
        accepted = false;
      }
    }
    if (!accepted)
      throw new DtlsError(
        'internal_error',
        `random source gave no valid ${group} key in ${MAX_SCALAR_DRAWS} draws`,
      );
  }
  // RFC 8422 §5.4.1: we only send (and accept) the uncompressed form, 0x04 || X || Y.
  const publicKey = ecdh.getPublicKey(undefined, 'uncompressed');
  const pointLength = 1 + 2 * fieldBytes;
  return {
    group,
    publicKey,
    deriveSecret(peerPublic: Uint8Array): Buffer {
      if (peerPublic.length !== pointLength) throw illegalPeerKey(group, `is ${peerPublic.length} bytes`);
      if (peerPublic[0] !== 0x04) throw illegalPeerKey(group, 'is not an uncompressed point');
      try {
        // computeSecret checks the point is on the curve (RFC 8422 §5.11 requires the check).
        return ecdh.computeSecret(peerPublic);
      } catch {
        throw illegalPeerKey(group, 'is not a point on the curve');
      }
    },
  };
}
