import { type Extension, readExtensions, writeExtensions } from './extensions.js';
import { Reader } from './reader.js';
import { Writer } from './writer.js';

/**
 * The ServerHello body (RFC 5246 §7.4.1.3; DTLS adds nothing, RFC 6347 §4.2.1):
 *
 *   struct {
 *     ProtocolVersion server_version;
 *     Random random;                        // 32 bytes
 *     SessionID session_id;                 // opaque <0..32>
 *     CipherSuite cipher_suite;             // u16
 *     CompressionMethod compression_method; // u8
 *     select (extensions_present) { case true: Extension extensions<0..2^16-1>; };
 *   } ServerHello;
 */
export interface ServerHello {
  serverVersion: number;
  random: Buffer;
  sessionId: Buffer;
  cipherSuite: number;
  compressionMethod: number;
  /** `undefined` when absent, `[]` when an empty block is present (kept apart for exact re-encoding). */
  extensions: Extension[] | undefined;
}

export function decodeServerHello(body: Uint8Array): ServerHello {
  const r = new Reader(body);
  const serverVersion = r.u16('server_version');
  const random = r.bytes(32, 'random');
  const sessionId = r.vec8('session_id', 0, 32);
  const cipherSuite = r.u16('cipher_suite');
  const compressionMethod = r.u8('compression_method');
  const extensions = r.atEnd() ? undefined : readExtensions(r, 'ServerHello extensions');
  r.expectEnd('ServerHello');
  return { serverVersion, random, sessionId, cipherSuite, compressionMethod, extensions };
}

export function encodeServerHello(x: ServerHello): Buffer {
  if (x.random.length !== 32) throw new RangeError(`random must be 32 bytes, got ${x.random.length}`);
  if (x.sessionId.length > 32) throw new RangeError('session_id longer than 32 bytes');
  const w = new Writer(128)
    .u16(x.serverVersion)
    .bytes(x.random)
    .vec8(x.sessionId)
    .u16(x.cipherSuite)
    .u8(x.compressionMethod);
  if (x.extensions !== undefined) writeExtensions(w, x.extensions);
  return w.finish();
}
