import { systemRandom } from '../crypto/random.js';
import { DtlsError } from '../errors.js';
import { type HandshakeMessage, Reassembler } from '../handshake/reassembler.js';
import { type ClientHello, decodeClientHello } from '../wire/client-hello.js';
import { ContentType, HandshakeType, ProtocolVersion } from '../wire/constants.js';
import { DecodeError } from '../wire/errors.js';
import { encodeHandshakeMessage, parseHandshakeFragments } from '../wire/handshake-header.js';
import { encodeHelloVerifyRequest } from '../wire/hello-verify-request.js';
import { encodeRecord, parseDatagram } from '../wire/record.js';
import { type EngineConfig, resolveConfig } from './config.js';
import { DtlsConnection } from './connection.js';
import { CookieJar } from './cookie.js';
import type { DtlsEvent } from './events.js';
import { PeerTable } from './peer-table.js';
import { SessionCache, type SessionCacheOptions, TicketKeyring, type TicketOptions } from './resumption.js';

/**
 * Where a datagram came from or goes to. The endpoint never interprets it beyond `address`/`port`. It
 * keeps the object that came with a new peer's first datagram (its datagrams go out addressed to it,
 * and the peer table finds the peer by it), so a caller must not change that object afterwards.
 */
export interface PeerAddress {
  address: string;
  port: number;
  family?: 'IPv4' | 'IPv6';
}

export interface ServerLimits {
  /** Peers with state at once (handshaking or connected). */
  maxPeers: number;
  /** Peers in the middle of a handshake at once (after a valid cookie). */
  maxHandshakes: number;
  /** Fragmented first ClientHellos being reassembled at once, across all addresses. */
  maxPendingHellos: number;
  /** Largest ClientHello accepted (Chromium's, with a post-quantum key share, is ~1.4 KB). */
  maxHelloLength: number;
  /** A partial ClientHello not completed in this time is forgotten. */
  pendingHelloTtlMs: number;
  /** An established peer silent this long is dropped. */
  idleTimeoutMs: number;
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  maxPeers: 100_000,
  maxHandshakes: 10_000,
  maxPendingHellos: 1024,
  maxHelloLength: 8192,
  pendingHelloTtlMs: 5_000,
  idleTimeoutMs: 300_000,
};

export interface ServerEndpointConfig extends Omit<EngineConfig, 'role' | 'sessionCache' | 'ticketKeyring'> {
  /** HelloVerifyRequest cookies (RFC 6347 §4.2.1), on by default. */
  cookies?: boolean;
  /** Secret for cookies; share it between processes behind one address. Random by default. */
  cookieSecret?: Buffer;
  /** How often the cookie secret rotates (default 60 s). */
  cookieRotationMs?: number;
  /** Clock for cookie periods; defaults to `now`. Use wall-clock time when several processes share the secret. */
  cookieClock?: () => number;
  serverLimits?: Partial<ServerLimits>;
  /**
   * Called when deferred handshake work (an asynchronous PSK lookup) has finished; the caller should
   * then call handleTimeout(now). The only callback of the endpoint: a promise settling is an input
   * the caller cannot poll for.
   */
  onWakeup?: () => void;
  /** Session-ID cache for resumption (RFC 5246 §7.3): on by default; false turns it off. */
  sessionCache?: SessionCacheOptions | false;
  /** Session tickets (RFC 5077): on by default; false turns them off. Share `secret` across processes. */
  tickets?: TicketOptions | false;
}

/** Endpoint outputs: per-peer connection events, and the endpoint's own notices. */
export type EndpointEvent =
  | { type: 'connection-event'; peer: PeerAddress; connection: DtlsConnection; event: DtlsEvent }
  | {
      type: 'peer-removed';
      peer: PeerAddress;
      connection: DtlsConnection;
      reason: 'closed' | 'failed' | 'idle' | 'replaced' | 'server-closed';
    };

interface PeerState {
  peer: PeerAddress;
  connection: DtlsConnection;
  /** A new handshake from the same address (a rebooted client, RFC 6347 §4.2.8), not yet complete. */
  successor?: DtlsConnection;
  lastActivity: number;
}

interface PendingHello {
  reassembler: Reassembler;
  firstSeen: number;
  recordSeq: number;
  /** Datagram bytes that carried it: the most a HelloVerifyRequest may answer with. */
  bytes: number;
}

/** Endpoint-wide counters, for tests, the CLI and the reliability figures. */
export interface EndpointStats {
  helloVerifyRequestsSent: number;
  connectionsCreated: number;
  datagramsDropped: number;
  hellosRefusedAtLimit: number;
}

/** Highest ClientHello message_seq accepted statelessly: a client answers a bounded number of HVRs. */
const MAX_HELLO_MESSAGE_SEQ = 8;

/** The peer as a string: what a cookie is bound to, and what a fragmented hello is reassembled under. */
function peerKey(p: PeerAddress): string {
  return `${p.address}|${p.port}`;
}

/**
 * A DTLS server over one datagram transport, sans-IO. It answers ClientHellos without a valid cookie
 * statelessly (allocating nothing per peer), creates a DtlsConnection per peer once the cookie comes
 * back, and routes each datagram to its peer's connection. Every peer is independent: a silent or
 * hostile one costs only its own bounded state.
 */
export class DtlsServerEndpoint {
  private readonly peers = new PeerTable<PeerState>();
  private readonly pendingHellos = new Map<string, PendingHello>();
  private readonly outbox: { peer: PeerAddress; data: Buffer | Buffer[] }[] = [];
  private readonly events: EndpointEvent[] = [];
  private readonly cookies: CookieJar | undefined;
  private readonly limits: ServerLimits;
  private readonly connectionConfig: Omit<EngineConfig, 'role'>;
  private nextDeadline: number | undefined;
  private readonly watched = new Set<DtlsConnection>();
  /** Peers whose handshake is in progress (kept up to date, so the limit check is O(1)). */
  private readonly handshaking = new Set<PeerState>();
  private closed = false;
  readonly stats: EndpointStats = {
    helloVerifyRequestsSent: 0,
    connectionsCreated: 0,
    datagramsDropped: 0,
    hellosRefusedAtLimit: 0,
  };

  constructor(private readonly config: ServerEndpointConfig) {
    const {
      cookies: _c,
      cookieSecret: _s,
      cookieRotationMs: _r,
      cookieClock: _k,
      serverLimits: _l,
      onWakeup: _w,
      sessionCache,
      tickets,
      ...rest
    } = config;
    const random = config.random ?? systemRandom;
    // Resolved (and so validated) once here; every connection reuses it.
    const resolved = resolveConfig({
      ...rest,
      role: 'server',
      sessionCache: sessionCache === false ? undefined : new SessionCache(sessionCache),
      ticketKeyring: tickets === false ? undefined : new TicketKeyring(tickets ?? {}, random),
    });
    if (usesCertificateOnly(resolved.suites.map((s) => s.keyExchange)) && !config.identity) {
      throw new DtlsError(
        'invalid_argument',
        'a server with certificate suites needs an identity (cert and key)',
      );
    }
    this.connectionConfig = resolved;
    this.limits = { ...DEFAULT_SERVER_LIMITS, ...config.serverLimits };
    this.cookies =
      config.cookies === false
        ? undefined
        : new CookieJar(config.cookieSecret, random, config.cookieRotationMs);
  }

  get peerCount(): number {
    return this.peers.size;
  }

  get pendingHelloCount(): number {
    return this.pendingHellos.size;
  }

  connectionFor(peer: PeerAddress): DtlsConnection | undefined {
    return this.peers.get(peer.address, peer.port)?.connection;
  }

  // ---- inputs -----------------------------------------------------------------------------------

  handleDatagram(data: Uint8Array, peer: PeerAddress, now: number): void {
    if (this.closed) return;
    const st = this.peers.get(peer.address, peer.port);
    if (st) {
      st.lastActivity = now;
      if (st.connection.state === 'connected' && this.looksLikeNewClientHello(data)) {
        // RFC 6347 §4.2.8: a client that lost its state starts over from the same address. Run the
        // cookie exchange; the old association lives on until the new handshake completes.
        if (!st.successor) {
          const hello = this.statelessHello(data, peer, peerKey(peer), now);
          // A late copy of the ClientHello that started the current association is not a new handshake.
          const stale = hello && st.connection.clientRandom?.equals(decodeClientHello(hello.msg.body).random);
          if (hello && !stale) {
            st.successor = DtlsConnection.server(this.connectionConfig, now, hello.msg, hello.recordSeq);
            st.successor.endpointPeer = st.peer;
          }
          if (st.successor) this.drain(st, st.successor);
          return;
        }
      }
      st.connection.handleDatagram(data, now);
      if (st.successor) st.successor.handleDatagram(data, now);
      this.afterInput(st);
      return;
    }
    const hello = this.statelessHello(data, peer, peerKey(peer), now);
    if (!hello) return;
    if (this.peers.size >= this.limits.maxPeers || this.handshakingCount() >= this.limits.maxHandshakes) {
      this.stats.hellosRefusedAtLimit++;
      return;
    }
    const connection = DtlsConnection.server(this.connectionConfig, now, hello.msg, hello.recordSeq);
    connection.endpointPeer = peer;
    this.stats.connectionsCreated++;
    const ps: PeerState = { peer, connection, lastActivity: now };
    this.peers.set(ps);
    this.afterInput(ps);
  }

  handleTimeout(now: number): void {
    this.nextDeadline = undefined;
    for (const [key, p] of this.pendingHellos) {
      if (now - p.firstSeen >= this.limits.pendingHelloTtlMs) this.pendingHellos.delete(key);
    }
    for (const st of this.peers.values()) {
      st.connection.handleTimeout(now);
      st.successor?.handleTimeout(now);
      if (st.connection.state === 'connected' && now - st.lastActivity >= this.limits.idleTimeoutMs) {
        this.remove(st, 'idle');
        continue;
      }
      this.afterInput(st);
    }
  }

  /** Send application data on one peer's connection (its datagrams come out of pollTransmit()). */
  sendTo(connection: DtlsConnection, data: Uint8Array, now: number): void {
    const st = this.stateOf(connection);
    if (!st) throw new DtlsError('closed', 'this connection is no longer served');
    connection.send(data, now);
    this.afterInput(st);
  }

  /** Close one peer's connection with close_notify. */
  closeConnection(connection: DtlsConnection, now: number): void {
    const st = this.stateOf(connection);
    if (!st) return;
    connection.close(now);
    this.afterInput(st);
  }

  private stateOf(connection: DtlsConnection): PeerState | undefined {
    const peer = connection.endpointPeer;
    const st = peer === undefined ? undefined : this.peers.get(peer.address, peer.port);
    return st && (st.connection === connection || st.successor === connection) ? st : undefined;
  }

  /** Close every session with close_notify and forget every peer. */
  close(now: number): void {
    if (this.closed) return;
    for (const st of this.peers.values()) {
      st.connection.close(now);
      st.successor?.close(now);
      this.drain(st, st.connection);
      this.remove(st, 'server-closed');
    }
    this.pendingHellos.clear();
    this.closed = true;
  }

  // ---- outputs ----------------------------------------------------------------------------------

  /** The next datagram to send and its peer, as one buffer. */
  pollTransmit(): { peer: PeerAddress; data: Buffer } | undefined {
    const t = this.outbox.shift();
    if (t && Array.isArray(t.data)) return { peer: t.peer, data: Buffer.concat(t.data) };
    return t as { peer: PeerAddress; data: Buffer } | undefined;
  }

  /** As pollTransmit(), with application data as the record's parts (DtlsConnection.pollTransmitGathered). */
  pollTransmitGathered(): { peer: PeerAddress; data: Buffer | Buffer[] } | undefined {
    return this.outbox.shift();
  }

  pollEvent(): EndpointEvent | undefined {
    return this.events.shift();
  }

  /** Earliest deadline of any peer (may be early; handleTimeout then recomputes it). */
  pollTimeout(): number | undefined {
    let t = this.nextDeadline;
    if (this.pendingHellos.size > 0) {
      for (const p of this.pendingHellos.values()) {
        const d = p.firstSeen + this.limits.pendingHelloTtlMs;
        if (t === undefined || d < t) t = d;
        break; // insertion order: the first is the oldest
      }
    }
    return t;
  }

  // ---- internals --------------------------------------------------------------------------------

  private handshakingCount(): number {
    return this.handshaking.size;
  }

  /** Cheap check: an epoch-0 handshake record whose first fragment is a client_hello. */
  private looksLikeNewClientHello(data: Uint8Array): boolean {
    return (
      data.length >= 25 &&
      data[0] === ContentType.handshake &&
      data[3] === 0 &&
      data[4] === 0 &&
      data[13] === HandshakeType.client_hello
    );
  }

  /**
   * The stateless part of RFC 6347 §4.2.1. Returns the ClientHello to start a connection with, or
   * undefined after answering with a HelloVerifyRequest (or dropping garbage). Nothing is stored for
   * the peer but, for a ClientHello split over several datagrams, its bounded reassembly.
   */
  private statelessHello(
    data: Uint8Array,
    peer: PeerAddress,
    key: string,
    now: number,
  ): { msg: HandshakeMessage; recordSeq: number } | undefined {
    const { records } = parseDatagram(data);
    let message: { msg: HandshakeMessage; recordSeq: number; bytes: number } | undefined;
    for (const r of records) {
      if (r.type !== ContentType.handshake || r.epoch !== 0) continue;
      let frags: ReturnType<typeof parseHandshakeFragments>;
      try {
        frags = parseHandshakeFragments(r.fragment);
      } catch (e) {
        if (e instanceof DecodeError) continue;
        throw e;
      }
      for (const f of frags) {
        // A client restarts with message_seq 0 and bumps it once per HelloVerifyRequest it answers
        // (a cookie can expire while its hellos are lost, so more than one round is legitimate).
        if (f.msgType !== HandshakeType.client_hello || f.messageSeq > MAX_HELLO_MESSAGE_SEQ) continue;
        if (f.length > this.limits.maxHelloLength) continue;
        if (f.fragmentOffset === 0 && f.fragmentLength === f.length) {
          message = {
            msg: { msgType: f.msgType, messageSeq: f.messageSeq, body: Buffer.from(f.body), epoch: 0 },
            recordSeq: r.sequenceNumber,
            bytes: data.length,
          };
          this.pendingHellos.delete(key);
          break;
        }
        const done = this.addHelloFragment(key, f, r.sequenceNumber, data.length, now);
        if (done) message = done;
      }
      if (message) break;
    }
    if (!message) {
      this.stats.datagramsDropped++;
      return undefined;
    }
    let hello: ClientHello;
    try {
      hello = decodeClientHello(message.msg.body);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      this.stats.datagramsDropped++;
      return undefined;
    }
    if (!this.cookies) return message;
    const cookieNow = this.config.cookieClock ? this.config.cookieClock() : now;
    if (hello.cookie.length > 0 && this.cookies.verify(cookieNow, key, message.msg.body, hello.cookie))
      return message;
    const cookie = this.cookies.issue(cookieNow, key, message.msg.body);
    // RFC 6347 §4.2.1: HelloVerifyRequest carries version DTLS 1.0 whatever is negotiated later, reuses
    // the ClientHello's record sequence number, and must be small (it answers an unverified address).
    const body = encodeHelloVerifyRequest({ serverVersion: ProtocolVersion.DTLS1_0, cookie });
    const record = encodeRecord(
      {
        type: ContentType.handshake,
        version: ProtocolVersion.DTLS1_0,
        epoch: 0,
        sequenceNumber: message.recordSeq,
      },
      encodeHandshakeMessage(HandshakeType.hello_verify_request, message.msg.messageSeq, body),
    );
    if (record.length > message.bytes) {
      // Never answer with more bytes than the unverified peer sent (no amplification).
      this.stats.datagramsDropped++;
      return undefined;
    }
    this.outbox.push({ peer, data: record });
    this.stats.helloVerifyRequestsSent++;
    return undefined;
  }

  private addHelloFragment(
    key: string,
    f: ReturnType<typeof parseHandshakeFragments>[number],
    recordSeq: number,
    datagramBytes: number,
    now: number,
  ): { msg: HandshakeMessage; recordSeq: number; bytes: number } | undefined {
    let p = this.pendingHellos.get(key);
    if (p && p.reassembler.expectedSeq !== f.messageSeq) {
      this.pendingHellos.delete(key);
      p = undefined;
    }
    if (!p) {
      if (this.pendingHellos.size >= this.limits.maxPendingHellos) {
        // Bounded across all peers: the oldest partial hello makes room.
        const oldest = this.pendingHellos.keys().next().value;
        if (oldest !== undefined) this.pendingHellos.delete(oldest);
      }
      p = {
        reassembler: new Reassembler(f.messageSeq, {
          maxMessageLength: this.limits.maxHelloLength,
          maxMessagesAhead: 1,
        }),
        firstSeen: now,
        recordSeq,
        bytes: 0,
      };
      this.pendingHellos.set(key, p);
    }
    if (p.reassembler.add(f, 0) !== 'accepted') return undefined;
    p.bytes += datagramBytes;
    const msg = p.reassembler.poll();
    if (!msg) return undefined;
    this.pendingHellos.delete(key);
    return { msg, recordSeq: Math.max(p.recordSeq, recordSeq), bytes: p.bytes };
  }

  private afterInput(st: PeerState): void {
    this.drain(st, st.connection);
    if (st.successor) {
      this.drain(st, st.successor);
      if (st.successor.state === 'connected') {
        // The rebooted client finished its new handshake: it replaces the old association.
        const old = st.connection;
        st.connection = st.successor;
        st.successor = undefined;
        this.events.push({ type: 'peer-removed', peer: st.peer, connection: old, reason: 'replaced' });
      } else if (st.successor.state === 'failed' || st.successor.state === 'closed') {
        st.successor = undefined;
      }
    }
    const state = st.connection.state;
    if (state === 'handshaking') this.handshaking.add(st);
    else this.handshaking.delete(st);
    if (state === 'failed' || state === 'closed') {
      this.remove(st, state);
      return;
    }
    const d = st.connection.pollTimeout();
    if (d !== undefined && (this.nextDeadline === undefined || d < this.nextDeadline)) this.nextDeadline = d;
    if (state === 'connected') {
      const idle = st.lastActivity + this.limits.idleTimeoutMs;
      if (this.nextDeadline === undefined || idle < this.nextDeadline) this.nextDeadline = idle;
    }
  }

  private watchDeferred(c: DtlsConnection): void {
    const work = c.pendingWork;
    if (!work || this.watched.has(c)) return;
    this.watched.add(c);
    void work.then(() => {
      this.watched.delete(c);
      this.nextDeadline = 0;
      this.config.onWakeup?.();
    });
  }

  private drain(st: PeerState, c: DtlsConnection): void {
    this.watchDeferred(c);
    for (let d = c.pollTransmitGathered(); d; d = c.pollTransmitGathered()) {
      this.outbox.push({ peer: st.peer, data: d });
    }
    for (let e = c.pollEvent(); e; e = c.pollEvent()) {
      this.events.push({ type: 'connection-event', peer: st.peer, connection: c, event: e });
    }
  }

  private remove(st: PeerState, reason: 'closed' | 'failed' | 'idle' | 'server-closed'): void {
    this.drain(st, st.connection);
    this.handshaking.delete(st);
    this.peers.delete(st);
    this.events.push({ type: 'peer-removed', peer: st.peer, connection: st.connection, reason });
  }
}

function usesCertificateOnly(kx: string[]): boolean {
  return kx.every((k) => k === 'ECDHE_ECDSA' || k === 'ECDHE_RSA');
}
