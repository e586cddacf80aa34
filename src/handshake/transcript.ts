import { createHash, type Hash } from 'node:crypto';
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
  /**
   * A running hash per PRF hash asked for so far. A handshake takes the transcript hash three or four
   * times (session hash, both Finished, a resumption's Finished); each digest is taken from a copy,
   * so every message is hashed once, not once per digest.
   */
  private running: Map<PrfHash, Hash> | undefined;

  add(msgType: number, messageSeq: number, body: Uint8Array): void {
    const part = encodeHandshakeMessage(msgType, messageSeq, body);
    this.parts.push(part);
    if (this.running) for (const h of this.running.values()) h.update(part);
  }

  reset(): void {
    this.parts = [];
    this.running = undefined;
  }

  /** All messages so far, concatenated (what CertificateVerify signs). */
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }

  hash(hash: PrfHash): Buffer {
    this.running ??= new Map();
    let h = this.running.get(hash);
    if (!h) {
      h = createHash(hash);
      for (const p of this.parts) h.update(p);
      this.running.set(hash, h);
    }
    return h.copy().digest();
  }
}
