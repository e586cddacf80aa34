/**
 * The anti-replay window of RFC 6347 §4.1.2.6 (after RFC 4303 §3.4.3): a 64-record bitmap anchored at
 * the highest sequence number received so far. A record is checked before decryption (cheap reject of
 * duplicates and of records too old to judge) and marked only after it authenticates, so a forged
 * record can never move the window.
 */
export const REPLAY_WINDOW_SIZE = 64;

export class ReplayWindow {
  /** Highest authenticated sequence number, -1 before the first. */
  private top = -1;
  /** Bit i set = (top - i) was received; bits kept in two 32-bit halves to stay in small integers. */
  private low = 0;
  private high = 0;

  /** True when `seq` is new and inside (or ahead of) the window. */
  check(seq: number): boolean {
    if (seq > this.top) return true;
    const diff = this.top - seq;
    if (diff >= REPLAY_WINDOW_SIZE) return false;
    return !this.bit(diff);
  }

  /** Mark `seq` received; call only after the record authenticated. */
  accept(seq: number): void {
    if (seq > this.top) {
      const shift = this.top < 0 ? REPLAY_WINDOW_SIZE : seq - this.top;
      this.shiftLeft(shift);
      this.top = seq;
      this.low |= 1;
      return;
    }
    const diff = this.top - seq;
    if (diff < 32) this.low |= 1 << diff;
    else if (diff < 64) this.high |= 1 << (diff - 32);
  }

  private bit(diff: number): boolean {
    return diff < 32 ? (this.low & (1 << diff)) !== 0 : (this.high & (1 << (diff - 32))) !== 0;
  }

  private shiftLeft(n: number): void {
    if (n >= 64) {
      this.low = 0;
      this.high = 0;
    } else if (n >= 32) {
      this.high = n === 32 ? this.low : this.low << (n - 32);
      this.low = 0;
    } else if (n > 0) {
      this.high = (this.high << n) | (this.low >>> (32 - n));
      this.low = this.low << n;
    }
  }
}
