/**
 * A deterministic simulated network for the sans-IO engine: a virtual clock, two one-way links with
 * their own seeded PRNG (loss, duplication, jitter that reorders, truncation, a path-MTU black hole),
 * and a step loop that advances time straight to the next event. No timers, no sockets: a run is a
 * pure function of its seed and parameters, so a failing seed replays exactly.
 */
import type { EngineConfig } from '../../src/engine/config.js';
import { DtlsConnection } from '../../src/engine/connection.js';
import type { DtlsEvent } from '../../src/engine/events.js';
import type { DtlsServerEndpoint, EndpointEvent, PeerAddress } from '../../src/engine/server-endpoint.js';
import { Reassembler } from '../../src/handshake/reassembler.js';
import { ContentType, HandshakeType, handshakeTypeName } from '../../src/wire/constants.js';
import { parseHandshakeFragments } from '../../src/wire/handshake-header.js';
import { parseDatagram } from '../../src/wire/record.js';

export type Side = 'client' | 'server';

/** mulberry32: a tiny, fast, well-mixed 32-bit PRNG. Returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One datagram as it enters a link, for scripted drop decisions. */
export interface DatagramInfo {
  from: Side;
  /** 0-based count of datagrams this side has sent so far. */
  index: number;
  time: number;
  data: Buffer;
  /** Short human-readable summary of the records inside. */
  description: string;
}

/** Conditions of one direction of the path. */
export interface LinkOptions {
  /** Fixed one-way delay (default 10 ms). */
  latencyMs?: number;
  /** Extra uniform random delay in [0, jitterMs): datagrams overtake one another (default 0). */
  jitterMs?: number;
  /** Probability that a datagram is lost. */
  loss?: number;
  /** Probability that a (delivered) datagram arrives twice, each copy with its own jitter. */
  duplicate?: number;
  /** Probability that a delivered datagram is cut short at a random length. */
  truncate?: number;
  /** Datagrams larger than this vanish (a path-MTU black hole). */
  mtu?: number;
  /** Scripted loss: return true to drop. Runs after the random draws, so it never shifts the PRNG. */
  drop?: (d: DatagramInfo) => boolean;
}

export type Fate = 'delivered' | 'lost' | 'mtu' | 'scripted';

/** What happened to each datagram sent. */
export interface Transmission {
  time: number;
  from: Side;
  size: number;
  fate: Fate;
  duplicated: boolean;
  truncatedTo?: number;
  description: string;
}

export interface TimedEvent {
  time: number;
  event: DtlsEvent;
}

export interface SimOptions {
  seed: number;
  clientToServer?: LinkOptions;
  serverToClient?: LinkOptions;
  /** Virtual start time (default 0). */
  startTime?: number;
  /** The run stops once virtual time would pass this (default 15 min). */
  maxTimeMs?: number;
  /** And after this many steps (default 100,000). */
  maxSteps?: number;
  /** The address the server endpoint sees the client at. */
  clientAddress?: PeerAddress;
  /** Lines of log kept (the most recent); default 400. */
  logLimit?: number;
}

export type StopReason = 'condition' | 'idle' | 'max-time' | 'max-steps';

export interface SimResult {
  clientConnected: boolean;
  serverConnected: boolean;
  clientConnectedAt: number | undefined;
  serverConnectedAt: number | undefined;
  /** Virtual time when both sides were connected. */
  completedAt: number | undefined;
  clientEvents: TimedEvent[];
  serverEvents: TimedEvent[];
  datagramsSent: { client: number; server: number };
  retransmissions: { client: number; server: number };
  transmissions: Transmission[];
  /** Deadlines that did not move after handleTimeout() was called at or after them (an engine bug). */
  stuckTimers: number;
  steps: number;
  now: number;
  stopReason: StopReason;
}

export const DEFAULT_CLIENT_ADDRESS: PeerAddress = { address: '127.0.0.1', port: 40000, family: 'IPv4' };

/** A short summary of a datagram's records: `hs0[client_hello#0 0+150/150] ccs0 hs1(enc 40B)`. */
export function describeDatagram(data: Uint8Array): string {
  const { records, malformed } = parseDatagram(data);
  const parts = records.map((r) => {
    if (r.type === ContentType.change_cipher_spec) return `ccs${r.epoch}`;
    if (r.type === ContentType.alert)
      return r.epoch === 0 ? `alert0[${r.fragment[0]},${r.fragment[1]}]` : `alert${r.epoch}(enc)`;
    if (r.type === ContentType.application_data) return `app${r.epoch}(${r.fragment.length}B)`;
    if (r.type === ContentType.handshake) {
      if (r.epoch !== 0) return `hs${r.epoch}(enc ${r.fragment.length}B)`;
      try {
        const frags = parseHandshakeFragments(r.fragment).map(
          (f) =>
            `${handshakeTypeName(f.msgType)}#${f.messageSeq} ${f.fragmentOffset}+${f.fragmentLength}/${f.length}`,
        );
        return `hs0[${frags.join(', ')}]`;
      } catch {
        return 'hs0[malformed]';
      }
    }
    return `type${r.type}`;
  });
  if (malformed > 0) parts.push(`malformed×${malformed}`);
  return `${data.length}B ${parts.join(' ')}`;
}

/** True when the datagram carries a ChangeCipherSpec record (the start of flight 5 or 6). */
export function hasChangeCipherSpec(data: Uint8Array): boolean {
  return parseDatagram(data).records.some((r) => r.type === ContentType.change_cipher_spec);
}

/** The epoch-0 handshake message types in a datagram. */
export function handshakeTypesIn(data: Uint8Array): number[] {
  const out: number[] = [];
  for (const r of parseDatagram(data).records) {
    if (r.type !== ContentType.handshake || r.epoch !== 0) continue;
    try {
      for (const f of parseHandshakeFragments(r.fragment)) out.push(f.msgType);
    } catch {
      // not a handshake record we can read
    }
  }
  return out;
}

/** The uniform face of one side of the simulation. */
interface SimPeer {
  input(data: Buffer, now: number): void;
  timeout(now: number): void;
  nextTimeout(): number | undefined;
  /** Datagrams and events produced since the last call. */
  drain(out: Buffer[], events: DtlsEvent[]): void;
  /** The connection carrying this side's session, once there is one. */
  connection(): DtlsConnection | undefined;
  describe(): string;
}

class ConnectionPeer implements SimPeer {
  constructor(private readonly c: DtlsConnection) {}
  input(data: Buffer, now: number): void {
    this.c.handleDatagram(data, now);
  }
  timeout(now: number): void {
    this.c.handleTimeout(now);
  }
  nextTimeout(): number | undefined {
    return this.c.pollTimeout();
  }
  drain(out: Buffer[], events: DtlsEvent[]): void {
    for (let d = this.c.pollTransmit(); d; d = this.c.pollTransmit()) out.push(d);
    for (let e = this.c.pollEvent(); e; e = this.c.pollEvent()) events.push(e);
  }
  connection(): DtlsConnection {
    return this.c;
  }
  describe(): string {
    return `connection(${this.c.state})`;
  }
}

/**
 * A server DtlsConnection created, as the endpoint does with cookies off, from the first complete
 * ClientHello that reaches it (reassembled here if fragmented). Lets a test drive two raw connections.
 */
export class RawServer {
  private conn: DtlsConnection | undefined;
  private readonly hello = new Reassembler(0);
  constructor(readonly config: Omit<EngineConfig, 'role'>) {}

  get connection(): DtlsConnection | undefined {
    return this.conn;
  }

  /** Feed a datagram; before the ClientHello is complete, only its fragments are kept. */
  handleDatagram(data: Buffer, now: number): void {
    if (this.conn) {
      this.conn.handleDatagram(data, now);
      return;
    }
    for (const r of parseDatagram(data).records) {
      if (r.type !== ContentType.handshake || r.epoch !== 0) continue;
      let frags: ReturnType<typeof parseHandshakeFragments>;
      try {
        frags = parseHandshakeFragments(r.fragment);
      } catch {
        continue;
      }
      for (const f of frags) if (f.msgType === HandshakeType.client_hello) this.hello.add(f, 0);
    }
    const msg = this.hello.poll();
    if (msg) this.conn = DtlsConnection.server(this.config, now, msg);
  }
}

class RawServerPeer implements SimPeer {
  constructor(private readonly s: RawServer) {}
  input(data: Buffer, now: number): void {
    this.s.handleDatagram(data, now);
  }
  timeout(now: number): void {
    this.s.connection?.handleTimeout(now);
  }
  nextTimeout(): number | undefined {
    return this.s.connection?.pollTimeout();
  }
  drain(out: Buffer[], events: DtlsEvent[]): void {
    const c = this.s.connection;
    if (!c) return;
    for (let d = c.pollTransmit(); d; d = c.pollTransmit()) out.push(d);
    for (let e = c.pollEvent(); e; e = c.pollEvent()) events.push(e);
  }
  connection(): DtlsConnection | undefined {
    return this.s.connection;
  }
  describe(): string {
    return `raw server(${this.s.connection?.state ?? 'no connection yet'})`;
  }
}

class EndpointPeer implements SimPeer {
  /** The last connection the endpoint reported an event for (survives its removal from the endpoint). */
  private last: DtlsConnection | undefined;
  readonly endpointEvents: EndpointEvent[] = [];
  constructor(
    private readonly e: DtlsServerEndpoint,
    private readonly client: PeerAddress,
  ) {}
  input(data: Buffer, now: number): void {
    this.e.handleDatagram(data, this.client, now);
  }
  timeout(now: number): void {
    this.e.handleTimeout(now);
  }
  nextTimeout(): number | undefined {
    return this.e.pollTimeout();
  }
  drain(out: Buffer[], events: DtlsEvent[]): void {
    for (let t = this.e.pollTransmit(); t; t = this.e.pollTransmit()) {
      if (t.peer.address !== this.client.address || t.peer.port !== this.client.port) {
        throw new Error(`endpoint sent to ${t.peer.address}:${t.peer.port}, not to the client`);
      }
      out.push(t.data);
    }
    // A connection's own outbox (application data sent with connection.send()) is not drained by the
    // endpoint until its next input, so take it here, as the Node adapter does.
    const c = this.connection();
    if (c) for (let d = c.pollTransmit(); d; d = c.pollTransmit()) out.push(d);
    for (let ev = this.e.pollEvent(); ev; ev = this.e.pollEvent()) {
      this.endpointEvents.push(ev);
      if (ev.type === 'connection-event') {
        this.last = ev.connection;
        events.push(ev.event);
      }
    }
  }
  connection(): DtlsConnection | undefined {
    return this.e.connectionFor(this.client) ?? this.last;
  }
  describe(): string {
    return `endpoint(peers=${this.e.peerCount}, pending=${this.e.pendingHelloCount})`;
  }
}

interface InFlight {
  arrival: number;
  order: number;
  to: Side;
  data: Buffer;
}

function isEndpoint(x: unknown): x is DtlsServerEndpoint {
  return typeof (x as DtlsServerEndpoint).connectionFor === 'function';
}

/**
 * Client and server joined by two simulated links. Build it, then `run()` (until both sides are
 * connected or one fails, by default), `sendApplicationData()`, inspect `result()`, `formatLog()`.
 */
export class Simulation {
  now: number;
  private readonly peers: Record<Side, SimPeer>;
  private readonly links: Record<Side, Required<Omit<LinkOptions, 'drop'>> & Pick<LinkOptions, 'drop'>>;
  private readonly rng: Record<Side, () => number>;
  private readonly inFlight: InFlight[] = [];
  private order = 0;
  private readonly sentCount: Record<Side, number> = { client: 0, server: 0 };
  private readonly log: string[] = [];
  private readonly logLimit: number;
  private readonly maxTimeMs: number;
  private readonly maxSteps: number;
  private readonly handledDeadline: Record<Side, number | undefined> = {
    client: undefined,
    server: undefined,
  };
  readonly events: Record<Side, TimedEvent[]> = { client: [], server: [] };
  readonly transmissions: Transmission[] = [];
  readonly connectedAt: Record<Side, number | undefined> = { client: undefined, server: undefined };
  stuckTimers = 0;
  steps = 0;
  stopReason: StopReason = 'idle';

  constructor(
    readonly client: DtlsConnection,
    server: DtlsServerEndpoint | RawServer | DtlsConnection,
    readonly options: SimOptions,
  ) {
    this.now = options.startTime ?? 0;
    this.maxTimeMs = options.maxTimeMs ?? 15 * 60_000;
    this.maxSteps = options.maxSteps ?? 100_000;
    this.logLimit = options.logLimit ?? 400;
    const serverPeer: SimPeer = isEndpoint(server)
      ? new EndpointPeer(server, options.clientAddress ?? DEFAULT_CLIENT_ADDRESS)
      : server instanceof RawServer
        ? new RawServerPeer(server)
        : new ConnectionPeer(server);
    this.peers = { client: new ConnectionPeer(client), server: serverPeer };
    const link = (o: LinkOptions = {}) => ({
      latencyMs: o.latencyMs ?? 10,
      jitterMs: o.jitterMs ?? 0,
      loss: o.loss ?? 0,
      duplicate: o.duplicate ?? 0,
      truncate: o.truncate ?? 0,
      mtu: o.mtu ?? Number.POSITIVE_INFINITY,
      drop: o.drop,
    });
    this.links = { client: link(options.clientToServer), server: link(options.serverToClient) };
    // Independent streams per direction, so changing one link's conditions leaves the other's draws alone.
    this.rng = {
      client: mulberry32(options.seed ^ 0x9e3779b9),
      server: mulberry32(options.seed ^ 0x85ebca6b),
    };
    this.note(`start seed=${options.seed}`);
    this.drainAll();
  }

  /** The server side's connection, once there is one (through the endpoint or the raw server). */
  get serverConnection(): DtlsConnection | undefined {
    return this.peers.server.connection();
  }

  connectionOf(side: Side): DtlsConnection | undefined {
    return side === 'client' ? this.client : this.serverConnection;
  }

  private note(line: string): void {
    this.log.push(`[${this.now}] ${line}`);
    if (this.log.length > this.logLimit) this.log.splice(0, this.log.length - this.logLimit);
  }

  formatLog(): string {
    return this.log.join('\n');
  }

  /** Put a datagram from `from` on its link, deciding its fate with that link's PRNG. */
  private transmit(from: Side, data: Buffer): void {
    const link = this.links[from];
    const rng = this.rng[from];
    const index = this.sentCount[from]++;
    // A fixed number of draws per datagram keeps later decisions independent of earlier outcomes.
    const rLoss = rng();
    const rDup = rng();
    const rTrunc = rng();
    const rTruncLen = rng();
    const rJitter1 = rng();
    const rJitter2 = rng();
    const description = describeDatagram(data);
    let fate: Fate = 'delivered';
    if (data.length > link.mtu) fate = 'mtu';
    else if (rLoss < link.loss) fate = 'lost';
    else if (link.drop?.({ from, index, time: this.now, data, description })) fate = 'scripted';
    const duplicated = fate === 'delivered' && rDup < link.duplicate;
    let payload = data;
    let truncatedTo: number | undefined;
    if (fate === 'delivered' && rTrunc < link.truncate) {
      truncatedTo = Math.floor(rTruncLen * data.length);
      payload = data.subarray(0, truncatedTo);
    }
    this.transmissions.push({
      time: this.now,
      from,
      size: data.length,
      fate,
      duplicated,
      truncatedTo,
      description,
    });
    this.note(
      `${from} sends #${index} ${description} -> ${fate}${duplicated ? ' (dup)' : ''}${truncatedTo !== undefined ? ` (cut to ${truncatedTo})` : ''}`,
    );
    if (fate !== 'delivered') return;
    const to: Side = from === 'client' ? 'server' : 'client';
    const copy = Buffer.from(payload);
    this.inFlight.push({
      arrival: this.now + link.latencyMs + rJitter1 * link.jitterMs,
      order: this.order++,
      to,
      data: copy,
    });
    if (duplicated) {
      this.inFlight.push({
        arrival: this.now + link.latencyMs + rJitter2 * link.jitterMs,
        order: this.order++,
        to,
        data: Buffer.from(copy),
      });
    }
  }

  private drainSide(side: Side): void {
    const out: Buffer[] = [];
    const evs: DtlsEvent[] = [];
    this.peers[side].drain(out, evs);
    for (const d of out) this.transmit(side, d);
    for (const e of evs) {
      this.events[side].push({ time: this.now, event: e });
      if (e.type === 'connected' && this.connectedAt[side] === undefined) this.connectedAt[side] = this.now;
      if (e.type !== 'handshake' && e.type !== 'keylog') {
        const detail =
          e.type === 'failed'
            ? ` ${e.error.code}: ${e.error.message}`
            : e.type === 'data'
              ? ` ${e.data.length}B`
              : '';
        this.note(`${side} event ${e.type}${detail}`);
      }
    }
  }

  private drainAll(): void {
    this.drainSide('client');
    this.drainSide('server');
  }

  /** Time of the next thing to happen, and what it is. */
  private nextAction(): { time: number; kind: 'deliver' | Side } | undefined {
    let best: { time: number; kind: 'deliver' | Side } | undefined;
    let bestFlight: InFlight | undefined;
    for (const f of this.inFlight) {
      if (
        !bestFlight ||
        f.arrival < bestFlight.arrival ||
        (f.arrival === bestFlight.arrival && f.order < bestFlight.order)
      ) {
        bestFlight = f;
      }
    }
    if (bestFlight) best = { time: bestFlight.arrival, kind: 'deliver' };
    for (const side of ['client', 'server'] as const) {
      const t = this.peers[side].nextTimeout();
      if (t === undefined) continue;
      // A deadline already handled at or after its time, and unchanged, would spin the loop forever.
      if (this.handledDeadline[side] === t) continue;
      if (!best || t < best.time) best = { time: t, kind: side };
    }
    return best;
  }

  /** Perform one action. False when there is nothing left to do within the limits. */
  step(): boolean {
    if (this.steps >= this.maxSteps) {
      this.stopReason = 'max-steps';
      return false;
    }
    const next = this.nextAction();
    if (!next) {
      this.stopReason = 'idle';
      return false;
    }
    if (next.time > this.maxTimeMs) {
      this.stopReason = 'max-time';
      return false;
    }
    this.steps++;
    this.now = Math.max(this.now, next.time);
    if (next.kind === 'deliver') {
      let i = 0;
      for (let j = 1; j < this.inFlight.length; j++) {
        const a = this.inFlight[j]!;
        const b = this.inFlight[i]!;
        if (a.arrival < b.arrival || (a.arrival === b.arrival && a.order < b.order)) i = j;
      }
      const f = this.inFlight.splice(i, 1)[0]!;
      this.note(`${f.to} receives ${describeDatagram(f.data)}`);
      this.peers[f.to].input(f.data, this.now);
    } else {
      const side = next.kind;
      this.peers[side].timeout(this.now);
      const after = this.peers[side].nextTimeout();
      if (after !== undefined && after <= this.now) {
        if (after === next.time) {
          this.stuckTimers++;
          this.note(`${side} deadline ${after} did not move after handleTimeout(${this.now})`);
        }
        this.handledDeadline[side] = after;
      } else {
        this.handledDeadline[side] = undefined;
      }
    }
    this.drainAll();
    return true;
  }

  /** True once a side reported `failed` or `closed`. */
  ended(side: Side): boolean {
    return this.events[side].some((e) => e.event.type === 'failed' || e.event.type === 'closed');
  }

  bothConnected(): boolean {
    return this.connectedAt.client !== undefined && this.connectedAt.server !== undefined;
  }

  /** Step until `until` holds (default: both connected, or either side failed/closed) or a limit is hit. */
  run(
    until: (sim: Simulation) => boolean = (s) => s.bothConnected() || s.ended('client') || s.ended('server'),
  ): SimResult {
    while (!until(this)) {
      if (!this.step()) return this.result();
    }
    this.stopReason = 'condition';
    return this.result();
  }

  /** Step until virtual time `t` (events at exactly `t` included). */
  runUntilTime(t: number): void {
    for (;;) {
      const next = this.nextAction();
      if (!next || next.time > t) break;
      if (!this.step()) break;
    }
    this.now = Math.max(this.now, t);
  }

  /**
   * Send one application datagram from `from`, and resend it (DTLS does not retransmit application
   * data) every `retryMs` until the other side reports it, at most `maxAttempts` times.
   * Returns the number of attempts used, or undefined if it never arrived.
   */
  sendApplicationData(from: Side, data: Buffer, retryMs = 500, maxAttempts = 60): number | undefined {
    const to: Side = from === 'client' ? 'server' : 'client';
    const conn = this.connectionOf(from);
    if (!conn) throw new Error(`${from} has no connection`);
    const seen = this.events[to].length;
    const arrived = () =>
      this.events[to].slice(seen).some((e) => e.event.type === 'data' && e.event.data.equals(data));
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      conn.send(data, this.now);
      this.drainAll();
      this.runUntilTime(this.now + retryMs);
      if (arrived()) return attempt;
    }
    return undefined;
  }

  result(): SimResult {
    const c = this.client;
    const s = this.serverConnection;
    const { client: ca, server: sa } = this.connectedAt;
    return {
      clientConnected: ca !== undefined,
      serverConnected: sa !== undefined,
      clientConnectedAt: ca,
      serverConnectedAt: sa,
      completedAt: ca !== undefined && sa !== undefined ? Math.max(ca, sa) : undefined,
      clientEvents: this.events.client,
      serverEvents: this.events.server,
      datagramsSent: { client: this.sentCount.client, server: this.sentCount.server },
      retransmissions: { client: c.stats.retransmissions, server: s?.stats.retransmissions ?? 0 },
      transmissions: this.transmissions,
      stuckTimers: this.stuckTimers,
      steps: this.steps,
      now: this.now,
      stopReason: this.stopReason,
    };
  }

  /** One line for assertion messages: where it stopped and what both sides look like. */
  summary(): string {
    const r = this.result();
    return (
      `stop=${r.stopReason} t=${r.now} steps=${r.steps} client=${this.client.state} ` +
      `server=${this.peers.server.describe()} sent c/s=${r.datagramsSent.client}/${r.datagramsSent.server} ` +
      `retx c/s=${r.retransmissions.client}/${r.retransmissions.server}`
    );
  }
}
