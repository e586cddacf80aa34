import { DecodeError } from './errors.js';
import { type Extension, readExtensions, writeExtensions } from './extensions.js';
import { Reader } from './reader.js';
import { Writer } from './writer.js';

/**
 * The DTLS ClientHello body (RFC 6347 §4.2.1, which adds `cookie` to RFC 5246 §7.4.1.2):
 *
 *   struct {
 *     ProtocolVersion client_version;
 *     Random random;                                   // 32 bytes
 *     SessionID session_id;                            // opaque <0..32>
 *     opaque cookie<0..2^8-1>;
 *     CipherSuite cipher_suites<2..2^16-2>;            // u16 each
 *     CompressionMethod compression_methods<1..2^8-1>;
 *     select (extensions_present) { case true: Extension extensions<0..2^16-1>; };
 *   } ClientHello;
 *
 * Byte buffers in a decoded value are views into the input, not copies.
 */
export interface ClientHello {
  clientVersion: number;
  random: Buffer;
  sessionId: Buffer;
  cookie: Buffer;
  cipherSuites: number[];
  compressionMethods: number[];
  /**
   * `undefined` when no bytes follow compression_methods (RFC 5246 §7.4.1.2 lets a client omit the
   * block); `[]` when an empty block is present. Keeping the two apart keeps re-encoding exact.
   */
  extensions: Extension[] | undefined;
}

export const RANDOM_LENGTH = 32;
export const MAX_SESSION_ID_LENGTH = 32;
export const MAX_COOKIE_LENGTH = 255;

export function decodeClientHello(body: Uint8Array): ClientHello {
  const r = new Reader(body);
  const clientVersion = r.u16('client_version');
  const random = r.bytes(RANDOM_LENGTH, 'random');
  const sessionId = r.vec8('session_id', 0, MAX_SESSION_ID_LENGTH);
  const cookie = r.vec8('cookie', 0, MAX_COOKIE_LENGTH);
  const suites = r.vec16('cipher_suites', 2, 0xfffe);
  if (suites.length % 2 !== 0) throw new DecodeError(`cipher_suites: odd length ${suites.length}`);
  const cipherSuites: number[] = [];
  const sr = new Reader(suites);
  while (!sr.atEnd()) cipherSuites.push(sr.u16('cipher suite'));
  const compressionMethods = [...r.vec8('compression_methods', 1)];
  const extensions = r.atEnd() ? undefined : readExtensions(r, 'ClientHello extensions');
  r.expectEnd('ClientHello');
  return { clientVersion, random, sessionId, cookie, cipherSuites, compressionMethods, extensions };
}

/**
 * Canonical encoding: extensions are written in the given order with their raw data, so decoding a
 * ClientHello, changing only `cookie`, and encoding again reproduces the original bytes except the
 * cookie, as RFC 6347 §4.2.1 requires of the second ClientHello.
 */
export function encodeClientHello(x: ClientHello): Buffer {
  if (x.random.length !== RANDOM_LENGTH)
    throw new RangeError(`random must be 32 bytes, got ${x.random.length}`);
  if (x.sessionId.length > MAX_SESSION_ID_LENGTH) throw new RangeError('session_id longer than 32 bytes');
  if (x.cookie.length > MAX_COOKIE_LENGTH) throw new RangeError('cookie longer than 255 bytes');
  if (x.cipherSuites.length === 0) throw new RangeError('cipher_suites must not be empty');
  if (x.compressionMethods.length === 0) throw new RangeError('compression_methods must not be empty');
  const w = new Writer(512)
    .u16(x.clientVersion)
    .bytes(x.random)
    .vec8(x.sessionId)
    .vec8(x.cookie)
    .withLength(2, (inner) => {
      for (const s of x.cipherSuites) inner.u16(s);
    })
    .vec8(Uint8Array.from(x.compressionMethods));
  if (x.extensions !== undefined) writeExtensions(w, x.extensions);
  return w.finish();
}

/**
 * Splice a new cookie into an encoded ClientHello body without re-encoding anything else: the exact
 * bytes of the first ClientHello are kept whatever produced them (RFC 6347 §4.2.1).
 */
export function replaceClientHelloCookie(body: Uint8Array, cookie: Uint8Array): Buffer {
  if (cookie.length > MAX_COOKIE_LENGTH) throw new RangeError('cookie longer than 255 bytes');
  const r = new Reader(body);
  r.u16('client_version');
  r.bytes(RANDOM_LENGTH, 'random');
  r.vec8('session_id', 0, MAX_SESSION_ID_LENGTH);
  const cookieStart = r.offset;
  r.vec8('cookie');
  const cookieEnd = r.offset;
  const src = Buffer.from(body.buffer, body.byteOffset, body.length);
  return Buffer.concat([
    src.subarray(0, cookieStart),
    Buffer.of(cookie.length),
    cookie,
    src.subarray(cookieEnd),
  ]);
}
