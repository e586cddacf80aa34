/**
 * A windowed datagram flow for throughput figures: the sender keeps at most `window` datagrams
 * unacknowledged, where "acknowledged" is the receiver's count read directly (both ends live in this
 * process). Without the window a sender in the same event loop as its receiver would only measure how
 * fast it can overflow the socket buffer. Datagrams that never arrive are written off after a stall, so
 * loss is still seen and counted.
 */
import { sleep, yieldToLoop } from './common.js';

export interface FlowResult {
  sent: number;
  received: number;
  elapsedMs: number;
  cpuMs: number;
}

/** Datagrams sent per turn of the event loop before yielding to the receive side. */
const BATCH = 32;
/** No datagram received for this long: whatever is outstanding is lost. */
const STALL_MS = 50;
/** After the deadline, wait for stragglers at most this long. */
const DRAIN_MS = 200;

export async function measureFlow(opts: {
  send: () => void;
  received: () => number;
  durationMs: number;
  window?: number;
}): Promise<FlowResult> {
  const window = opts.window ?? 64;
  let sent = 0;
  let writtenOff = 0;
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  const deadline = start + opts.durationMs;
  let lastCount = opts.received();
  const base = lastCount;
  let lastProgress = start;
  let lastArrival = start;
  // Bounded by the deadline: each turn either sends or yields to the event loop.
  while (performance.now() < deadline) {
    for (let i = 0; i < BATCH && sent - (opts.received() - base) - writtenOff < window; i++) {
      opts.send();
      sent++;
    }
    await yieldToLoop();
    const now = performance.now();
    const count = opts.received();
    if (count !== lastCount) {
      lastCount = count;
      lastProgress = now;
      lastArrival = now;
    } else if (now - lastProgress > STALL_MS) {
      writtenOff = sent - (count - base);
      lastProgress = now;
    }
  }
  const drainEnd = performance.now() + DRAIN_MS;
  while (performance.now() < drainEnd && opts.received() - base < sent) {
    await sleep(5);
    if (opts.received() !== lastCount) {
      lastCount = opts.received();
      lastArrival = performance.now();
    }
  }
  const d = process.cpuUsage(cpuStart);
  return {
    sent,
    received: opts.received() - base,
    elapsedMs: lastArrival - start,
    cpuMs: (d.user + d.system) / 1000,
  };
}

/** datagrams/s, MB/s (10^6 bytes of payload) and loss fraction of one flow. */
export function flowFigures(prefix: string, r: FlowResult, payloadBytes: number): Record<string, number> {
  const dps = (r.received * 1000) / r.elapsedMs;
  return {
    [`${prefix}.dgrams_per_s`]: dps,
    [`${prefix}.mb_per_s`]: (dps * payloadBytes) / 1e6,
    [`${prefix}.loss`]: r.sent === 0 ? 1 : (r.sent - r.received) / r.sent,
    [`${prefix}.cpu_us_per_dgram`]: r.received === 0 ? Number.NaN : (r.cpuMs * 1000) / r.received,
  };
}
