import { type DigitallySigned, readDigitallySigned, writeDigitallySigned } from './certificate-verify.js';
import { DecodeError } from './errors.js';
import { Reader } from './reader.js';
import { Writer } from './writer.js';

/**
 * ServerKeyExchange (RFC 5246 §7.4.3) is not self-describing: its shape depends on the negotiated key
 * exchange, so there is one decoder per kind and the caller picks it from the cipher suite.
 */

/** ECCurveType named_curve (RFC 8422 §5.4); explicit curves are deprecated there and not supported. */
export const EC_CURVE_TYPE_NAMED_CURVE = 3;

/**
 * RFC 8422 §5.4:
 *
 *   struct { ECCurveType curve_type; select (curve_type) { case named_curve: NamedCurve namedcurve; }; }
 *     ECParameters;
 *   struct { opaque point<1..2^8-1>; } ECPoint;
 *   struct { ECParameters curve_params; ECPoint public; } ServerECDHParams;
 */
export interface ServerEcdhParams {
  namedCurve: number;
  publicKey: Buffer;
}

function readServerEcdhParams(r: Reader): ServerEcdhParams {
  const curveType = r.u8('curve_type');
  if (curveType !== EC_CURVE_TYPE_NAMED_CURVE) {
    throw new DecodeError(`ServerECDHParams: curve_type ${curveType} is not named_curve`);
  }
  const namedCurve = r.u16('namedcurve');
  const publicKey = r.vec8('ECPoint', 1);
  return { namedCurve, publicKey };
}

function writeServerEcdhParams(w: Writer, p: ServerEcdhParams): void {
  if (p.publicKey.length === 0) throw new RangeError('ECPoint must not be empty');
  w.u8(EC_CURVE_TYPE_NAMED_CURVE).u16(p.namedCurve).vec8(p.publicKey);
}

/**
 * The encoded ServerECDHParams: what the server signs, after client_random + server_random
 * (RFC 8422 §5.4: `SHA(ClientHello.random + ServerHello.random + ServerKeyExchange.params)`).
 */
export function encodeServerEcdhParams(p: ServerEcdhParams): Buffer {
  const w = new Writer(4 + p.publicKey.length);
  writeServerEcdhParams(w, p);
  return w.finish();
}

// --- ECDHE_ECDSA / ECDHE_RSA (RFC 8422 §5.4) ---

export interface EcdheServerKeyExchange {
  params: ServerEcdhParams;
  /** The exact params bytes as received (a view), for verifying the signature without re-encoding. */
  paramsBytes: Buffer;
  signed: DigitallySigned;
}

export function decodeEcdheServerKeyExchange(body: Uint8Array): EcdheServerKeyExchange {
  const r = new Reader(body);
  const start = r.offset;
  const params = readServerEcdhParams(r);
  const paramsBytes = Buffer.from(r.buf.buffer, r.buf.byteOffset + start, r.offset - start);
  const signed = readDigitallySigned(r);
  r.expectEnd('ServerKeyExchange');
  return { params, paramsBytes, signed };
}

/** `paramsBytes` is ignored: the params are encoded from `params`, which is what the signature covers. */
export function encodeEcdheServerKeyExchange(
  x: Omit<EcdheServerKeyExchange, 'paramsBytes'> & { paramsBytes?: Buffer },
): Buffer {
  const w = new Writer(8 + x.params.publicKey.length + x.signed.signature.length);
  writeServerEcdhParams(w, x.params);
  writeDigitallySigned(w, x.signed);
  return w.finish();
}

// --- PSK (RFC 4279 §2) ---

/** `struct { opaque psk_identity_hint<0..2^16-1>; } ServerKeyExchange;` */
export interface PskServerKeyExchange {
  identityHint: Buffer;
}

export function decodePskServerKeyExchange(body: Uint8Array): PskServerKeyExchange {
  const r = new Reader(body);
  const identityHint = r.vec16('psk_identity_hint');
  r.expectEnd('ServerKeyExchange');
  return { identityHint };
}

export function encodePskServerKeyExchange(x: PskServerKeyExchange): Buffer {
  return new Writer(2 + x.identityHint.length).vec16(x.identityHint).finish();
}

// --- ECDHE_PSK (RFC 5489 §2): hint then ServerECDHParams, and no signature ---

export interface EcdhePskServerKeyExchange {
  identityHint: Buffer;
  params: ServerEcdhParams;
}

export function decodeEcdhePskServerKeyExchange(body: Uint8Array): EcdhePskServerKeyExchange {
  const r = new Reader(body);
  const identityHint = r.vec16('psk_identity_hint');
  const params = readServerEcdhParams(r);
  r.expectEnd('ServerKeyExchange');
  return { identityHint, params };
}

export function encodeEcdhePskServerKeyExchange(x: EcdhePskServerKeyExchange): Buffer {
  const w = new Writer(6 + x.identityHint.length + x.params.publicKey.length);
  w.vec16(x.identityHint);
  writeServerEcdhParams(w, x.params);
  return w.finish();
}
