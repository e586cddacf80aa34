import { DecodeError } from './errors.js';

/**
 * RFC 5246 §7.4.9: `struct { opaque verify_data[verify_data_length]; } Finished;` The length is 12
 * unless a cipher suite says otherwise, and none of ours does.
 */
export interface Finished {
  verifyData: Buffer;
}

export const VERIFY_DATA_LENGTH = 12;

export function decodeFinished(body: Uint8Array, verifyDataLength = VERIFY_DATA_LENGTH): Finished {
  if (body.length !== verifyDataLength) {
    throw new DecodeError(`Finished: verify_data must be ${verifyDataLength} bytes, got ${body.length}`);
  }
  return { verifyData: Buffer.from(body.buffer, body.byteOffset, body.length) };
}

export function encodeFinished(x: Finished): Buffer {
  return Buffer.from(x.verifyData);
}
