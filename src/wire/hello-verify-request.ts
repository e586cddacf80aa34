import { Reader } from './reader.js';
import { Writer } from './writer.js';

/**
 * RFC 6347 §4.2.1:
 *
 *   struct {
 *     ProtocolVersion server_version;
 *     opaque cookie<0..2^8-1>;
 *   } HelloVerifyRequest;
 */
export interface HelloVerifyRequest {
  serverVersion: number;
  cookie: Buffer;
}

export function decodeHelloVerifyRequest(body: Uint8Array): HelloVerifyRequest {
  const r = new Reader(body);
  const serverVersion = r.u16('server_version');
  const cookie = r.vec8('cookie');
  r.expectEnd('HelloVerifyRequest');
  return { serverVersion, cookie };
}

export function encodeHelloVerifyRequest(x: HelloVerifyRequest): Buffer {
  return new Writer(3 + x.cookie.length).u16(x.serverVersion).vec8(x.cookie).finish();
}
