/**
 * Full handshakes through the sans-IO engine alone: DtlsConnection clients and one DtlsServerEndpoint
 * (cookies on, as in production) joined by an in-memory loop in one process. No sockets, no timers:
 * the figure is the engine's own cost. Each client closes with close_notify once connected, so the
 * server's peer table stays small and the loop measures handshakes, not a growing map.
 */
import { DtlsConnection } from '../../src/engine/connection.js';
import type { DtlsEvent } from '../../src/engine/events.js';
import type { ClientSession } from '../../src/engine/resumption.js';
import { DtlsServerEndpoint, type PeerAddress } from '../../src/engine/server-endpoint.js';
import {
  benchCertificate,
  cpuMsSince,
  type Figures,
  HANDSHAKE_WARMUP_MS,
  type HandshakeVariant,
  handshakeFigures,
} from '../lib/common.js';
import { engineConfigs } from './configs.js';

interface Slot {
  connection: DtlsConnection;
  peer: PeerAddress;
  startedAt: number;
}

/** Rounds of the pump without a single datagram moving: the handshakes are stuck. */
const MAX_IDLE_ROUNDS = 3;

export async function engineHandshakes(
  variant: HandshakeVariant,
  concurrencies: readonly number[],
  durationMs: number,
): Promise<Figures> {
  const cert = await benchCertificate();
  const cfg = engineConfigs(variant, cert);
  const out: Figures = {};
  // Resumption needs the server that issued the session, so one endpoint serves every loop.
  const endpoint = new DtlsServerEndpoint({ ...cfg.server });
  let expectResumed = false;
  if (variant === 'resume') {
    const session = firstSession(cfg, endpoint);
    if (!session) return { [`engine.${variant}.error`]: 'the first full handshake gave no session' };
    cfg.client = { ...cfg.client, session };
    expectResumed = true;
  }
  // Warm-up: JIT and OpenSSL's lazily initialised tables, not counted.
  runLoop(cfg, 4, HANDSHAKE_WARMUP_MS, { endpoint, expectResumed });
  for (const c of concurrencies) {
    const cpuStart = process.cpuUsage();
    const r = runLoop(cfg, c, durationMs, { endpoint, expectResumed });
    Object.assign(
      out,
      handshakeFigures(`engine.${variant}.c${c}`, r.latencies, r.elapsedMs, cpuMsSince(cpuStart), r.failures),
    );
    if (r.failures > 0 && r.latencies.length === 0) out[`engine.${variant}.c${c}.error`] = r.firstError;
  }
  return out;
}

/** One full handshake against `endpoint`; returns the session the client was given. */
function firstSession(
  cfg: ReturnType<typeof engineConfigs>,
  endpoint: DtlsServerEndpoint,
): ClientSession | undefined {
  let session: ClientSession | undefined;
  runLoop(cfg, 1, 5_000, {
    endpoint,
    maxHandshakes: 1,
    onClientEvent: (e) => {
      if (e.type === 'session') session = e.session;
    },
  });
  return session;
}

/**
 * Runs `concurrency` handshakes at a time against `endpoint` until `durationMs` has passed or
 * `maxHandshakes` have completed. With `keepSessions` the clients are dropped without close_notify once
 * connected (they are simply forgotten), leaving the server's sessions idle and established.
 */
export function runLoop(
  cfg: ReturnType<typeof engineConfigs>,
  concurrency: number,
  durationMs: number,
  opts: {
    endpoint?: DtlsServerEndpoint;
    keepSessions?: boolean;
    maxHandshakes?: number;
    /** Count a handshake that was not (or was) abbreviated as a failure: the figure must be what it says. */
    expectResumed?: boolean;
    onClientEvent?: (e: DtlsEvent) => void;
  } = {},
): { latencies: number[]; elapsedMs: number; failures: number; firstError?: string } {
  const endpoint = opts.endpoint ?? new DtlsServerEndpoint({ ...cfg.server });
  const maxHandshakes = opts.maxHandshakes ?? Number.POSITIVE_INFINITY;
  let started = 0;
  const slots = new Map<number, Slot>();
  const latencies: number[] = [];
  let failures = 0;
  let firstError: string | undefined;
  let nextPort = 20_000;
  const start = performance.now();
  const deadline = start + durationMs;

  const startClient = (): void => {
    started++;
    const now = performance.now();
    const port = nextPort++;
    slots.set(port, {
      connection: DtlsConnection.client(cfg.client, now),
      peer: { address: '127.0.0.1', port, family: 'IPv4' },
      startedAt: now,
    });
  };
  for (let i = 0; i < Math.min(concurrency, maxHandshakes); i++) startClient();

  let idleRounds = 0;
  // Bounded: every round moves at least one datagram or counts towards MAX_IDLE_ROUNDS, and no client
  // is started after the deadline.
  while (slots.size > 0 && idleRounds < MAX_IDLE_ROUNDS) {
    let moved = 0;
    for (const [port, slot] of slots) {
      const c = slot.connection;
      for (let d = c.pollTransmit(); d; d = c.pollTransmit()) {
        endpoint.handleDatagram(d, slot.peer, performance.now());
        moved++;
      }
      let finished = false;
      for (let e = c.pollEvent(); e; e = c.pollEvent()) {
        opts.onClientEvent?.(e);
        if (e.type === 'connected' && e.info.resumed !== (opts.expectResumed ?? false)) {
          failures++;
          firstError ??= `handshake resumed=${e.info.resumed}, expected ${opts.expectResumed ?? false}`;
          finished = true;
        } else if (e.type === 'connected') {
          const now = performance.now();
          latencies.push(now - slot.startedAt);
          if (!opts.keepSessions) {
            c.close(now);
            for (let d = c.pollTransmit(); d; d = c.pollTransmit())
              endpoint.handleDatagram(d, slot.peer, now);
          }
          finished = true;
        } else if (e.type === 'failed') {
          failures++;
          firstError ??= `${e.error.code}: ${e.error.message}`;
          finished = true;
        }
      }
      if (finished) {
        slots.delete(port);
        if (performance.now() < deadline && started < maxHandshakes) startClient();
      }
    }
    for (let t = endpoint.pollTransmit(); t; t = endpoint.pollTransmit()) {
      slots.get(t.peer.port)?.connection.handleDatagram(t.data, performance.now());
      moved++;
    }
    for (let ev = endpoint.pollEvent(); ev; ev = endpoint.pollEvent()) {
      if (ev.type === 'connection-event' && ev.event.type === 'failed') {
        failures++;
        firstError ??= `server ${ev.event.error.code}: ${ev.event.error.message}`;
      }
    }
    idleRounds = moved === 0 ? idleRounds + 1 : 0;
  }
  failures += slots.size; // stuck handshakes
  return { latencies, elapsedMs: performance.now() - start, failures, firstError };
}
