/**
 * The flight retransmission timer of RFC 6347 §4.2.4.1, as pure data: a deadline on the caller's clock,
 * an interval that doubles on every expiry up to a cap, and a bounded number of tries. Nothing here
 * sleeps; the engine reports `deadline` through pollTimeout() and the adapter wakes it.
 */
export interface RetransmitPolicy {
  /** RFC 6347 §4.2.4.1 recommends 1 s. */
  initialMs: number;
  /** RFC 6347 §4.2.4.1: double up to at least 60 s (RFC 6298). */
  maxMs: number;
  /** Retransmissions of one flight before the handshake fails with `timeout`. */
  maxRetransmissions: number;
}

export const DEFAULT_RETRANSMIT_POLICY: RetransmitPolicy = {
  initialMs: 1000,
  maxMs: 60_000,
  maxRetransmissions: 8,
};

export class RetransmitTimer {
  private intervalMs: number;
  private tries = 0;
  deadline: number | undefined;

  constructor(private readonly policy: RetransmitPolicy) {
    this.intervalMs = policy.initialMs;
  }

  /** Arm for a newly sent flight. A flight answered without loss resets the interval (§4.2.4.1). */
  start(now: number, previousFlightNeededRetransmit: boolean): void {
    if (!previousFlightNeededRetransmit) this.intervalMs = this.policy.initialMs;
    this.tries = 0;
    this.deadline = now + this.intervalMs;
  }

  stop(): void {
    this.deadline = undefined;
  }

  get retransmissions(): number {
    return this.tries;
  }

  get currentIntervalMs(): number {
    return this.intervalMs;
  }

  /** Called at or after the deadline: 'retransmit' (and re-armed with a doubled interval) or 'give-up'. */
  expire(now: number): 'retransmit' | 'give-up' {
    if (this.tries >= this.policy.maxRetransmissions) {
      this.deadline = undefined;
      return 'give-up';
    }
    this.tries++;
    this.intervalMs = Math.min(this.intervalMs * 2, this.policy.maxMs);
    this.deadline = now + this.intervalMs;
    return 'retransmit';
  }
}
