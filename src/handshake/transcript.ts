import { createHash } from 'node:crypto';
import type { PrfHash } from '../crypto/suites.js';
import { encodeHandshakeMessage } from '../wire/handshake-header.js';

/**
 * The handshake transcript: every handshake message in its unfragmented DTLS form, 12-byte header
 * included (RFC 6347 §4.2.6), in order. It feeds the Finished verify_data (RFC 5246 §7.4.9), the
 * CertificateVerify signature (§7.4.8) and the extended master secret's session hash (RFC 7627 §3).
 * The first ClientHello and the HelloVerifyRequest are left out (RFC 6347 §4.2.1), hence `reset()`.
 */
export class Transcript {
  private parts: Buffer[] = [];

  add(msgType: number, messageSeq: number, body: Uint8Array): void {
    this.parts.push(encodeHandshakeMessage(msgType, messageSeq, body));
  }

  reset(): void {
    this.parts = [];
  }

  /** All messages so far, concatenated (what CertificateVerify signs). */
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }

  hash(hash: PrfHash): Buffer {
    const h = createHash(hash);
    for (const p of this.parts) h.update(p);
    return h.digest();
  }
}
