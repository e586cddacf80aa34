/**
 * Full handshakes through the Node API (createServer / connect) over UDP on 127.0.0.1: every connect()
 * opens a fresh UDP socket, as a real client does. `nodeHandshakes` runs client and server in one
 * process; `handshakeServer` + `nodeHandshakeClient` are the two-process figures, every variant in one
 * pair of children (the orchestrator starts the server child, reads its ports, then runs the client
 * child against it).
 */
import dgram from 'node:dgram';
import { connect } from '../../src/node/client.js';
import { createServer, type DtlsServer } from '../../src/node/server.js';
import {
  benchCertificate,
  closedLoops,
  cpuMsSince,
  type Figures,
  HANDSHAKE_WARMUP_MS,
  type HandshakeVariant,
  handshakeFigures,
  type LoopResult,
  untilStdinEnds,
  withTimeout,
} from '../lib/common.js';
import { engineOverDgram } from '../lib/engine-dgram.js';
import { engineConfigs, nodeClientOptions, nodeServerOptions } from './configs.js';

/** Upper bound on one handshake: far above any real figure, only there so nothing hangs. */
const HANDSHAKE_LIMIT_MS = 10_000;
const FLOOR_WARMUP_MS = 200;

/** `concurrency` independent connect-then-close loops until `durationMs` has passed. */
async function clientLoops(
  variant: HandshakeVariant,
  fingerprint: string | undefined,
  port: number,
  concurrency: number,
  durationMs: number,
): Promise<LoopResult> {
  const options = nodeClientOptions(variant, fingerprint, port);
  const expectResumed = variant === 'resume';
  if (expectResumed) {
    const first = await withTimeout(connect(options), HANDSHAKE_LIMIT_MS, 'connect');
    options.session = first.getSession();
    await withTimeout(first.close(), HANDSHAKE_LIMIT_MS, 'close');
    if (!options.session) throw new Error('the first full handshake gave no session');
  }
  return closedLoops(concurrency, durationMs, async () => {
    const socket = await withTimeout(connect(options), HANDSHAKE_LIMIT_MS, 'connect');
    return async () => {
      await withTimeout(socket.close(), HANDSHAKE_LIMIT_MS, 'close');
      // The figure must be what it says: a full handshake where a resumption was asked for fails it.
      if (socket.isResumed() !== expectResumed) {
        throw new Error(`handshake resumed=${socket.isResumed()}, expected ${expectResumed}`);
      }
    };
  });
}

async function startServer(
  variant: HandshakeVariant,
): Promise<{ server: DtlsServer; port: number; fingerprint?: string }> {
  const cert = await benchCertificate();
  const server = createServer(nodeServerOptions(variant, cert));
  server.on('connection', (s) => s.on('error', () => {}));
  server.on('peerError', () => {});
  const { port } = await server.listen(0, '127.0.0.1');
  return { server, port, fingerprint: variant === 'psk' ? undefined : cert.fingerprint };
}

/**
 * Loops run in one or more slices: their counts, times, CPU and failures summed into one set of figures,
 * with the first error's message when none completed (the failures figure counts the rest).
 */
class SlicedLoops {
  private readonly runs: LoopResult[] = [];
  private cpuMs = 0;

  async run(loops: () => Promise<LoopResult>): Promise<void> {
    const cpuStart = process.cpuUsage();
    this.runs.push(await loops());
    this.cpuMs += cpuMsSince(cpuStart);
  }

  figures(prefix: string): Figures {
    const latencies = this.runs.flatMap((r) => r.latencies);
    const elapsed = this.runs.reduce((a, r) => a + r.elapsedMs, 0);
    const failures = this.runs.reduce((a, r) => a + r.failures, 0);
    const out = handshakeFigures(prefix, latencies, elapsed, this.cpuMs, failures);
    const firstError = this.runs.find((r) => r.firstError !== undefined)?.firstError;
    if (latencies.length === 0 && firstError !== undefined) out[`${prefix}.error`] = firstError;
    return out;
  }
}

/**
 * The Node API's handshakes; with `floor`, also the engine over bare dgram with the least glue
 * (bench/lib/engine-dgram.ts) at each concurrency, in half windows next to ours (ours, floor, floor,
 * ours), so that the adapter's own cost is a ratio taken within a second in one process.
 */
export async function nodeHandshakes(
  variant: HandshakeVariant,
  concurrencies: readonly number[],
  durationMs: number,
  floor = false,
): Promise<Figures> {
  const { server, port, fingerprint } = await startServer(variant);
  const bare = floor ? await engineOverDgram(engineConfigs(variant, await benchCertificate())) : undefined;
  const out: Figures = {};
  try {
    // Warm-up: the engine's code is shared, so the floor's glue needs only a short one of its own.
    await clientLoops(variant, fingerprint, port, 4, HANDSHAKE_WARMUP_MS);
    await bare?.loops(4, FLOOR_WARMUP_MS);
    for (const c of concurrencies) {
      const ours = new SlicedLoops();
      if (!bare) {
        await ours.run(() => clientLoops(variant, fingerprint, port, c, durationMs));
      } else {
        const theFloor = new SlicedLoops();
        const half = durationMs / 2;
        await ours.run(() => clientLoops(variant, fingerprint, port, c, half));
        await theFloor.run(() => bare.loops(c, half));
        await theFloor.run(() => bare.loops(c, half));
        await ours.run(() => clientLoops(variant, fingerprint, port, c, half));
        Object.assign(out, theFloor.figures(`floor.${variant}.c${c}`));
      }
      Object.assign(out, ours.figures(`node.${variant}.c${c}`));
    }
  } finally {
    await bare?.close();
    await withTimeout(server.close(), 5_000, 'server close');
  }
  return out;
}

/** Where the server child listens: one server per variant, and the control socket. */
export interface ServerPorts {
  control: number;
  servers: Partial<Record<HandshakeVariant, { port: number; fingerprint?: string }>>;
}

/** The server child's answer on its control socket: its CPU time so far and each server's connections. */
interface ServerCounters {
  cpuMs: number;
  connections: Partial<Record<HandshakeVariant, number>>;
}

const CONTROL_TRIES = 5;
const CONTROL_WAIT_MS = 500;

/**
 * The server child of the two-process figures: one server per variant, and a plain UDP control socket
 * that answers any datagram with the child's CPU time and each server's connection count (what the
 * client needs for the server's CPU per handshake, variant by variant). Prints `PORT <control port>
 * <ServerPorts as JSON>`, serves until its stdin closes (or a hard limit passes).
 */
export async function handshakeServer(
  variants: readonly HandshakeVariant[],
  limitMs: number,
): Promise<Figures> {
  const started = await Promise.all(variants.map(async (v) => [v, await startServer(v)] as const));
  const control = dgram.createSocket('udp4');
  control.on('message', (_m, r) => {
    const cpu = process.cpuUsage();
    const counters: ServerCounters = {
      cpuMs: (cpu.user + cpu.system) / 1000,
      connections: Object.fromEntries(started.map(([v, s]) => [v, s.server.stats.connectionsCreated])),
    };
    control.send(JSON.stringify(counters), r.port, r.address);
  });
  await new Promise<void>((r) => control.bind(0, '127.0.0.1', r));
  const ports: ServerPorts = {
    control: control.address().port,
    servers: Object.fromEntries(started.map(([v, s]) => [v, { port: s.port, fingerprint: s.fingerprint }])),
  };
  process.stdout.write(`PORT ${ports.control} ${JSON.stringify(ports)}\n`);
  await untilStdinEnds(limitMs);
  control.close();
  await Promise.all(started.map(([, s]) => withTimeout(s.server.close(), 5_000, 'server close')));
  return {};
}

/** Asks the server child for its counters (loopback loses nothing at this rate; retried anyway). */
async function serverCounters(controlPort: number): Promise<ServerCounters> {
  const udp = dgram.createSocket('udp4');
  try {
    await new Promise<void>((r) => udp.connect(controlPort, '127.0.0.1', r));
    for (let i = 0; i < CONTROL_TRIES; i++) {
      const answer = new Promise<Buffer | undefined>((resolve) => {
        const onAnswer = (m: Buffer) => {
          clearTimeout(t);
          resolve(m);
        };
        // A try that timed out leaves no listener behind to swallow a later try's answer.
        const t = setTimeout(() => {
          udp.off('message', onAnswer);
          resolve(undefined);
        }, CONTROL_WAIT_MS);
        udp.once('message', onAnswer);
      });
      udp.send('?');
      const m = await answer;
      if (m) return JSON.parse(m.toString()) as ServerCounters;
    }
    throw new Error('the server child did not answer on its control socket');
  } finally {
    udp.close();
  }
}

/**
 * The client child of the two-process figures: a warm-up with every variant at once (their common code,
 * most of a handshake, gets all of it), then each variant's windows, with the server's CPU and
 * connection counters read before and after them: client and server CPU per handshake, side by side.
 */
export async function nodeHandshakeClient(
  ports: ServerPorts,
  variants: readonly HandshakeVariant[],
  concurrencies: readonly number[],
  durationMs: Partial<Record<HandshakeVariant, number>>,
): Promise<Figures> {
  const out: Figures = {};
  const target = (v: HandshakeVariant) => {
    const s = ports.servers[v];
    if (!s) throw new Error(`the server child runs no ${v} server`);
    return s;
  };
  await Promise.all(
    variants.map((v) => clientLoops(v, target(v).fingerprint, target(v).port, 1, HANDSHAKE_WARMUP_MS)),
  );
  for (const v of variants) {
    const { port, fingerprint } = target(v);
    const before = await serverCounters(ports.control);
    for (const c of concurrencies) {
      const window = new SlicedLoops();
      await window.run(() => clientLoops(v, fingerprint, port, c, durationMs[v] ?? 1000));
      Object.assign(out, window.figures(`node2p.${v}.c${c}`));
    }
    const after = await serverCounters(ports.control);
    const connections = (after.connections[v] ?? 0) - (before.connections[v] ?? 0);
    if (connections > 0) out[`node2p.${v}.server_cpu_ms_per_hs`] = (after.cpuMs - before.cpuMs) / connections;
  }
  return out;
}
