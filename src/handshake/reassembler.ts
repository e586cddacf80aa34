import type { HandshakeFragment } from '../wire/handshake-header.js';

/** A whole handshake message, reassembled and delivered in message_seq order. */
export interface HandshakeMessage {
  msgType: number;
  messageSeq: number;
  body: Buffer;
  /** Epoch of the records that carried it: Finished must come under the new keys (RFC 5246 §7.4.9). */
  epoch: number;
  /** Fragments that went into it (more than one: it was split to fit the peer's MTU). */
  fragments?: number;
}

export interface ReassemblerLimits {
  /** Largest handshake message accepted (a declared 16 MB length must not allocate 16 MB). */
  maxMessageLength: number;
  /** How far ahead of the next expected message_seq fragments are kept. */
  maxMessagesAhead: number;
}

export const DEFAULT_REASSEMBLER_LIMITS: ReassemblerLimits = {
  maxMessageLength: 64 * 1024,
  maxMessagesAhead: 8,
};

/** Outcome of offering one fragment; the engine counts the non-accepted ones. */
export type FragmentVerdict = 'accepted' | 'old' | 'too-far-ahead' | 'too-large' | 'inconsistent';

class PartialMessage {
  readonly body: Buffer;
  /** Sorted, non-overlapping [start, end) ranges received so far (BoringSSL keeps a bitmap; ranges are smaller). */
  private ranges: Array<[number, number]> = [];
  fragments = 0;

  constructor(
    readonly msgType: number,
    readonly length: number,
    readonly epoch: number,
  ) {
    this.body = Buffer.alloc(length);
  }

  /** Copy a fragment in; false when it overlaps received bytes with different content. */
  add(offset: number, data: Buffer): boolean {
    const end = offset + data.length;
    // Overlaps must agree byte for byte: a retransmission may be fragmented differently (RFC 6347
    // §4.2.3), but it carries the same message, so disagreeing bytes mean a forged or broken fragment.
    for (const [s, e] of this.ranges) {
      const lo = Math.max(s, offset);
      const hi = Math.min(e, end);
      if (lo < hi && !data.subarray(lo - offset, hi - offset).equals(this.body.subarray(lo, hi)))
        return false;
    }
    data.copy(this.body, offset);
    this.fragments++;
    this.ranges.push([offset, end]);
    this.ranges.sort((a, b) => a[0] - b[0]);
    const merged: Array<[number, number]> = [];
    for (const r of this.ranges) {
      const last = merged[merged.length - 1];
      if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
      else merged.push([r[0], r[1]]);
    }
    this.ranges = merged;
    return true;
  }

  get complete(): boolean {
    if (this.length === 0) return true;
    const r = this.ranges[0];
    return this.ranges.length === 1 && r !== undefined && r[0] === 0 && r[1] === this.length;
  }
}

/**
 * Handshake reassembly (RFC 6347 §4.2.3): fragments arrive out of order, duplicated, overlapping, and
 * a retransmission may be cut at other offsets than the first send. Messages come out strictly in
 * message_seq order, each exactly once. Memory is bounded by `maxMessagesAhead * maxMessageLength`.
 */
export class Reassembler {
  private nextSeq: number;
  /** Created on the first fragment, dropped by clear(): an idle connection carries none. */
  private partial: Map<number, PartialMessage> | undefined;

  constructor(
    initialSeq = 0,
    private readonly limits: ReassemblerLimits = DEFAULT_REASSEMBLER_LIMITS,
  ) {
    this.nextSeq = initialSeq;
  }

  /** The message_seq the next delivered message will carry. */
  get expectedSeq(): number {
    return this.nextSeq;
  }

  /** Bytes held for incomplete messages. */
  get bufferedBytes(): number {
    let n = 0;
    for (const p of this.partial?.values() ?? []) n += p.length;
    return n;
  }

  add(f: HandshakeFragment, epoch: number): FragmentVerdict {
    if (f.messageSeq < this.nextSeq) return 'old';
    if (f.messageSeq >= this.nextSeq + this.limits.maxMessagesAhead) return 'too-far-ahead';
    if (f.length > this.limits.maxMessageLength) return 'too-large';
    this.partial ??= new Map();
    let p = this.partial.get(f.messageSeq);
    if (!p) {
      p = new PartialMessage(f.msgType, f.length, epoch);
      this.partial.set(f.messageSeq, p);
    } else if (p.msgType !== f.msgType || p.length !== f.length || p.epoch !== epoch) {
      return 'inconsistent';
    }
    return p.add(f.fragmentOffset, f.body) ? 'accepted' : 'inconsistent';
  }

  /** The next complete message in order, if there is one. */
  poll(): HandshakeMessage | undefined {
    const p = this.partial?.get(this.nextSeq);
    if (!p?.complete) return undefined;
    this.partial!.delete(this.nextSeq);
    return {
      msgType: p.msgType,
      messageSeq: this.nextSeq++,
      body: p.body,
      epoch: p.epoch,
      fragments: p.fragments,
    };
  }

  /** Drop everything buffered (the handshake is over or has failed). */
  clear(): void {
    this.partial = undefined;
  }
}
