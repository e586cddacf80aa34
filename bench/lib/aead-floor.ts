/**
 * The least any DTLS 1.2 stack built on node:crypto and dgram does per datagram, with no DTLS around it:
 * the floor the data benchmarks set beside their computed limit. The sender builds the nonce and the
 * additional data as RFC 5288 §3 and RFC 6347 §4.1.2.1 do, makes one AES-128-GCM cipher and hands the
 * socket a 13-byte record header with the 8-byte explicit nonce, the ciphertext and the tag, as our
 * Node API does; the receiver takes the explicit nonce from the datagram and opens it with one decipher.
 * No record layer, replay window, connection lookup, engine or events. Measured next to ours, it shows
 * which part of the gap to the limit is the platform's (system calls and crypto interleaved cost more
 * than each in a tight loop) and which is the stack's.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';

/** DTLS 1.2 record header (13 bytes) plus AES-GCM's explicit nonce (8): what precedes the ciphertext. */
const RECORD_PREFIX = 21;
const GCM_TAG = 16;
const APPLICATION_DATA = 23;
const DTLS_1_2 = 0xfefd;

export interface BareAeadChannel {
  /** The record for `plaintext` as parts for dgram.send, which gathers them into one datagram. */
  seal(plaintext: Uint8Array): Buffer[];
  /** The plaintext of a record, or null when it is malformed or fails authentication. */
  open(datagram: Buffer): Buffer | null;
}

/**
 * One end: seals under `sendKey`, opens under `receiveKey` (16-byte AES-128 keys; one key per direction,
 * as DTLS has, so that the two ends' sequence numbers never share a nonce under one key).
 */
export function bareAeadChannel(sendKey: Buffer, receiveKey: Buffer | undefined): BareAeadChannel {
  const nonce = Buffer.alloc(12);
  const aad = Buffer.alloc(13);
  let seq = 0;
  return {
    seal(plaintext) {
      seq++;
      // seq_num = epoch 1 || 48-bit sequence number, then type, version, length (RFC 6347 §4.1.2.1).
      aad.writeUInt32BE(0x0001_0000 + Math.floor(seq / 0x1_0000_0000), 0);
      aad.writeUInt32BE(seq >>> 0, 4);
      aad[8] = APPLICATION_DATA;
      aad.writeUInt16BE(DTLS_1_2, 9);
      aad.writeUInt16BE(plaintext.length, 11);
      const prefix = Buffer.allocUnsafe(RECORD_PREFIX);
      aad.copy(prefix, 0, 8, 11); // type, version
      aad.copy(prefix, 3, 0, 8); // epoch, sequence number
      prefix.writeUInt16BE(8 + plaintext.length + GCM_TAG, 11);
      aad.copy(prefix, 13, 0, 8); // the explicit nonce: the record's seq_num, as OpenSSL sends it
      nonce.fill(0, 0, 4); // a zero salt: this floor has no handshake to derive one
      aad.copy(nonce, 4, 0, 8);
      const c = createCipheriv('aes-128-gcm', sendKey, nonce);
      c.setAAD(aad);
      const body = c.update(plaintext);
      c.final();
      return [prefix, body, c.getAuthTag()];
    },
    open(datagram) {
      const length = datagram.length - RECORD_PREFIX - GCM_TAG;
      if (!receiveKey || length < 0) return null;
      nonce.fill(0, 0, 4);
      datagram.copy(nonce, 4, 13, RECORD_PREFIX);
      datagram.copy(aad, 0, 3, 11);
      aad[8] = datagram[0]!;
      aad[9] = datagram[1]!;
      aad[10] = datagram[2]!;
      aad.writeUInt16BE(length, 11);
      try {
        const d = createDecipheriv('aes-128-gcm', receiveKey, nonce);
        d.setAuthTag(datagram.subarray(datagram.length - GCM_TAG));
        d.setAAD(aad);
        const body = d.update(datagram.subarray(RECORD_PREFIX, RECORD_PREFIX + length));
        d.final();
        return body;
      } catch {
        return null;
      }
    },
  };
}
