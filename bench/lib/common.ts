/**
 * Helpers shared by the benchmark workers: timing, percentiles, certificates and the result line the
 * orchestrator (bench/run.ts) reads from each worker's stdout.
 */
import { type GeneratedCertificate, generateCertificate } from '../../src/cert/generate.js';

/** Prefix of the single stdout line that carries a worker's result. */
export const RESULT_PREFIX = 'BENCH_RESULT ';

/** A flat record of named figures; undefined marks a figure that could not be measured. */
export type Figures = Record<string, number | string | undefined>;

export function emitResult(figures: Figures): void {
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(figures)}\n`);
}

export function percentile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

/** CPU time (user + system) in ms since `start` (a process.cpuUsage() snapshot). */
export function cpuMsSince(start: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
}

/** V8's collector, present when the process runs with --expose-gc (every bench worker does). */
function collector(): (o?: { type: 'minor' | 'major' }) => void {
  const g = (globalThis as { gc?: (o?: { type: 'minor' | 'major' }) => void }).gc;
  if (!g) throw new Error('run the worker with --expose-gc');
  return g;
}

export function gc(): void {
  const g = collector();
  // Several passes: weak references and finalizers release memory only on a later collection.
  for (let i = 0; i < 4; i++) g();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function yieldToLoop(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/**
 * The server child of a two-process scenario serves until the orchestrator closes its stdin (the client
 * child is done), or until `limitMs` has passed.
 */
export function untilStdinEnds(limitMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const t = setTimeout(resolve, limitMs);
    process.stdin.on('end', () => {
      clearTimeout(t);
      resolve();
    });
    process.stdin.resume();
  });
}

/** What `closedLoops` measured: one latency per success, the failures (and the first one's message), the wall time. */
export interface LoopResult {
  latencies: number[];
  failures: number;
  firstError?: string;
  elapsedMs: number;
}

/**
 * `concurrency` closed loops, each starting the next `once()` when the last one is done, until
 * `durationMs` has passed. The latency of an iteration ends when `once()` resolves; the cleanup it
 * may resolve with (closing what it opened, checking what it got) runs after, untimed, and the
 * iteration counts only if that succeeds too. A loop that fails more than three times before any
 * success stops, so a broken configuration fails fast instead of spinning.
 */
export async function closedLoops(
  concurrency: number,
  durationMs: number,
  once: () => Promise<(() => void | Promise<void>) | undefined>,
): Promise<LoopResult> {
  const latencies: number[] = [];
  let failures = 0;
  let firstError: string | undefined;
  const start = performance.now();
  const deadline = start + durationMs;
  const loop = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      try {
        const cleanup = await once();
        const elapsed = performance.now() - t0;
        await cleanup?.();
        latencies.push(elapsed);
      } catch (e) {
        failures++;
        firstError ??= e instanceof Error ? e.message : String(e);
        if (latencies.length === 0 && failures > 3) return;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return { latencies, failures, firstError, elapsedMs: performance.now() - start };
}

/**
 * Runs `f(i)` with a growing i (counting on from `acc.ops`) until `ms` have passed, the clock read every
 * 128 calls; adds the calls and the elapsed time to `acc`.
 *
 * The slice ends with a young-generation collection inside its timed window, so each slice pays for
 * collecting exactly the garbage it made: without it, the garbage one measurement leaves behind is
 * collected, at 2–15 ms a scavenge, in whichever slice comes next, and with slices of tens of ms that
 * moved single ratios between 0.6 and 1.3.
 */
export function timeSlice(ms: number, f: (i: number) => void, acc: { ops: number; ms: number }): void {
  const collectYoung = collector();
  const start = performance.now();
  let i = acc.ops;
  let now = start;
  // Bounded by the clock: the check runs every 128 calls.
  while (now - start < ms) {
    for (const end = i + 128; i < end; i++) f(i);
    now = performance.now();
  }
  collectYoung({ type: 'minor' });
  now = performance.now();
  acc.ms += now - start;
  acc.ops = i;
}

/** Rejects after `ms` so that no benchmark step can hang the run. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

export async function benchCertificate(): Promise<GeneratedCertificate> {
  return generateCertificate({
    keyType: 'ecdsa-p256',
    commonName: 'bench.local',
    subjectAltNames: ['127.0.0.1'],
  });
}

/**
 * Warm-up before any handshake figure, the same for every stack measured (werift and node:tls too).
 * V8 optimises a function after enough calls, and a handshake calls most of its functions once, so a
 * fresh process needs thousands of handshakes to reach its steady rate (the engine, measured in 1 s
 * windows: 1,050 → 1,330 → 1,550 hs/s, flat from the third second). A server that accepts thousands of
 * peers runs at that rate. 1 s covers most of the climb within the benchmark's 3-minute budget.
 */
export const HANDSHAKE_WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 1000);

export const PSK_IDENTITY = 'bench-client';
export const PSK_KEY = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
export const PSK_SUITE = 'TLS_PSK_WITH_AES_128_CCM_8';

/**
 * The handshake variants the issue asks for. `resume` is the P-256 configuration resuming a session
 * from an earlier full handshake (abbreviated handshake, RFC 5246 §7.3, with an RFC 5077 ticket).
 */
export type HandshakeVariant = 'p256' | 'x25519' | 'psk' | 'resume';
export const HANDSHAKE_VARIANTS: readonly HandshakeVariant[] = ['p256', 'x25519', 'psk', 'resume'];

/** Summary of a handshake throughput run. */
export function handshakeFigures(
  prefix: string,
  latencies: number[],
  elapsedMs: number,
  cpuMs: number,
  failures: number,
): Figures {
  latencies.sort((a, b) => a - b);
  const n = latencies.length;
  return {
    [`${prefix}.hs_per_s`]: n > 0 ? (n * 1000) / elapsedMs : undefined,
    [`${prefix}.p50_ms`]: percentile(latencies, 50),
    [`${prefix}.p99_ms`]: percentile(latencies, 99),
    [`${prefix}.cpu_ms_per_hs`]: n > 0 ? cpuMs / n : undefined,
    [`${prefix}.count`]: n,
    [`${prefix}.failures`]: failures,
  };
}
