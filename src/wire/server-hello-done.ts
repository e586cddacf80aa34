import { DecodeError } from './errors.js';

/** RFC 5246 §7.4.5: `struct { } ServerHelloDone;` so any body byte is a decode error. */
export type ServerHelloDone = Record<string, never>;

export function decodeServerHelloDone(body: Uint8Array): ServerHelloDone {
  if (body.length !== 0)
    throw new DecodeError(`ServerHelloDone: expected empty body, got ${body.length} bytes`);
  return {};
}

export function encodeServerHelloDone(_x: ServerHelloDone = {}): Buffer {
  return Buffer.alloc(0);
}
