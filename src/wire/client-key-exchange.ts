import { Reader } from './reader.js';
import { Writer } from './writer.js';

/**
 * ClientKeyExchange (RFC 5246 §7.4.7) is not self-describing either: one decoder per key exchange kind.
 */

// --- ECDHE (RFC 8422 §5.7: ClientECDiffieHellmanPublic with explicit encoding, ECPoint point<1..2^8-1>) ---

export interface EcdheClientKeyExchange {
  publicKey: Buffer;
}

export function decodeEcdheClientKeyExchange(body: Uint8Array): EcdheClientKeyExchange {
  const r = new Reader(body);
  // Empty would be the "implicit" encoding of fixed-ECDH client certificates, which we do not support.
  const publicKey = r.vec8('ecdh_Yc', 1);
  r.expectEnd('ClientKeyExchange');
  return { publicKey };
}

export function encodeEcdheClientKeyExchange(x: EcdheClientKeyExchange): Buffer {
  if (x.publicKey.length === 0) throw new RangeError('ecdh_Yc must not be empty');
  return new Writer(1 + x.publicKey.length).vec8(x.publicKey).finish();
}

// --- PSK (RFC 4279 §2: opaque psk_identity<0..2^16-1>) ---

export interface PskClientKeyExchange {
  identity: Buffer;
}

export function decodePskClientKeyExchange(body: Uint8Array): PskClientKeyExchange {
  const r = new Reader(body);
  const identity = r.vec16('psk_identity');
  r.expectEnd('ClientKeyExchange');
  return { identity };
}

export function encodePskClientKeyExchange(x: PskClientKeyExchange): Buffer {
  return new Writer(2 + x.identity.length).vec16(x.identity).finish();
}

// --- ECDHE_PSK (RFC 5489 §2: psk_identity then ClientECDiffieHellmanPublic) ---

export interface EcdhePskClientKeyExchange {
  identity: Buffer;
  publicKey: Buffer;
}

export function decodeEcdhePskClientKeyExchange(body: Uint8Array): EcdhePskClientKeyExchange {
  const r = new Reader(body);
  const identity = r.vec16('psk_identity');
  const publicKey = r.vec8('ecdh_Yc', 1);
  r.expectEnd('ClientKeyExchange');
  return { identity, publicKey };
}

export function encodeEcdhePskClientKeyExchange(x: EcdhePskClientKeyExchange): Buffer {
  if (x.publicKey.length === 0) throw new RangeError('ecdh_Yc must not be empty');
  return new Writer(3 + x.identity.length + x.publicKey.length).vec16(x.identity).vec8(x.publicKey).finish();
}
