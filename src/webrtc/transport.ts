import type { KeyObject } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { RandomSource } from '../crypto/random.js';
import type { EngineConfig, Identity } from '../engine/config.js';
import { DtlsConnection } from '../engine/connection.js';
import type { ConnectionInfo, DtlsEvent } from '../engine/events.js';
import { DtlsServerEndpoint, type PeerAddress } from '../engine/server-endpoint.js';
import { DtlsError } from '../errors.js';
import type { RetransmitPolicy } from '../handshake/retransmit-timer.js';
import type { SrtpKeys } from '../handshake/srtp.js';
import { engineConfigFrom } from '../node/options.js';

export interface DtlsTransportOptions {
  /** DTLS role, from the SDP a=setup negotiation (RFC 8842 §5: 'active' is the DTLS client). */
  role: 'client' | 'server';
  /** Carries one DTLS datagram to the peer (a UDP socket, an ICE transport, a TURN channel…). */
  send: (datagram: Buffer) => void;
  /**
   * The peer's certificate fingerprints from its SDP a=fingerprint lines (RFC 8122 §5). Required:
   * in WebRTC the fingerprint is the only thing that authenticates the peer (RFC 8827 §6.5).
   */
  fingerprints: string | readonly string[];
  /** Our certificate and key, either as an engine Identity or as PEM cert/key. */
  identity?: Identity;
  cert?: string | Buffer;
  key?: string | Buffer | KeyObject;
  cipherSuites?: ReadonlyArray<string | number>;
  /** DTLS-SRTP profiles in preference order (RFC 5764 §4.1.1), e.g. ['SRTP_AEAD_AES_128_GCM']. */
  srtpProfiles?: readonly string[];
  /** ALPN protocols (RFC 8833 defines 'webrtc' and 'c-webrtc'). */
  alpn?: readonly string[];
  /** Largest DTLS datagram (default 1200, which fits any path that carries WebRTC media). */
  mtu?: number;
  handshakeTimeoutMs?: number;
  retransmit?: Partial<RetransmitPolicy>;
  random?: RandomSource;
  /** Monotonic milliseconds; default performance.now. */
  clock?: () => number;
}

export type DtlsTransportState = 'new' | 'connecting' | 'connected' | 'closed' | 'failed';

/**
 * The server role has one peer only (whoever the ICE layer connected us to), so the endpoint routes
 * every datagram to this fixed address; it never reaches a socket.
 */
const THE_PEER: PeerAddress = { address: 'webrtc-peer', port: 0 };

/**
 * DTLS for WebRTC over any datagram transport, on the sans-IO engine: datagrams go in through
 * `handleDatagram()` and out through the `send` callback; one timer re-armed from pollTimeout().
 *
 * Both roles present a certificate and require the peer's (RFC 5763 §5, RFC 8827 §6.5), authenticated by
 * the SDP fingerprint alone: a mismatch ends the handshake with a bad_certificate alert.
 *
 * The server role runs a DtlsServerEndpoint with cookies off: ICE connectivity checks have already
 * proven the peer's address (RFC 5763 §5 leaves HelloVerifyRequest optional), and the endpoint
 * reassembles a ClientHello fragmented over several datagrams (Chromium's, with its post-quantum key
 * share, is ~1.4 KB and comes in two).
 *
 * Events: `connected` (ConnectionInfo), `message` (Buffer), `close` (), `error` (DtlsError), and
 * `engine-event` (every raw DtlsEvent, for tracing).
 */
export class DtlsTransport extends EventEmitter {
  readonly role: 'client' | 'server';
  private readonly sendDatagram: (datagram: Buffer) => void;
  private readonly config: Omit<EngineConfig, 'role'>;
  private readonly clock: () => number;
  private connection: DtlsConnection | undefined;
  private endpoint: DtlsServerEndpoint | undefined;
  private timer: NodeJS.Timeout | undefined;
  private phase: DtlsTransportState = 'new';
  private info: ConnectionInfo | undefined;

  constructor(options: DtlsTransportOptions) {
    super();
    this.role = options.role;
    this.sendDatagram = options.send;
    this.clock = options.clock ?? (() => performance.now());
    const fingerprints =
      typeof options.fingerprints === 'string' ? [options.fingerprints] : options.fingerprints;
    if (!fingerprints || fingerprints.length === 0) {
      throw new DtlsError('invalid_argument', 'WebRTC DTLS needs the peer fingerprint (a=fingerprint)');
    }
    const base = engineConfigFrom({
      cert: options.cert,
      key: options.key,
      fingerprint: fingerprints,
      mtu: options.mtu,
      handshakeTimeout: options.handshakeTimeoutMs,
      random: options.random,
    });
    const identity = options.identity ?? base.identity;
    if (!identity)
      throw new DtlsError('invalid_argument', 'WebRTC DTLS needs our certificate (identity or cert/key)');
    this.config = {
      ...base,
      identity,
      cipherSuites: options.cipherSuites,
      srtpProfiles: options.srtpProfiles,
      alpn: options.alpn,
      retransmit: options.retransmit,
      // RFC 5763 §5: the server MUST request the client's certificate, whose fingerprint is then checked.
      clientCertificate: 'require',
    };
    if (this.role === 'server') {
      this.endpoint = new DtlsServerEndpoint({
        ...this.config,
        cookies: false,
        // The ICE layer's consent checks decide liveness (RFC 7675), not a DTLS idle timer.
        serverLimits: { maxPeers: 1, maxHandshakes: 1, idleTimeoutMs: 2 ** 31 },
      });
    }
  }

  get state(): DtlsTransportState {
    return this.phase;
  }

  /** Negotiated parameters, once connected. */
  get connectionInfo(): ConnectionInfo | undefined {
    return this.info;
  }

  /** The client sends its ClientHello. A server waits for one in handleDatagram(); start() only marks it connecting. */
  start(): void {
    if (this.phase !== 'new') return;
    this.phase = 'connecting';
    if (this.role === 'client') {
      this.connection = DtlsConnection.client(this.config, this.clock());
    }
    this.pump();
  }

  /** Feed one received DTLS datagram (first byte 20-63 in RFC 7983 terms). */
  handleDatagram(datagram: Uint8Array): void {
    if (this.phase === 'closed' || this.phase === 'failed') return;
    const now = this.clock();
    if (this.endpoint) {
      if (this.phase === 'new') this.phase = 'connecting';
      this.endpoint.handleDatagram(datagram, THE_PEER, now);
    } else {
      if (!this.connection) return; // a client not started yet: nothing can be expected
      this.connection.handleDatagram(datagram, now);
    }
    this.pump();
  }

  /** Send one datagram of application data. */
  send(data: string | Uint8Array): void {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const c = this.connection;
    if (this.phase !== 'connected' || !c)
      throw new DtlsError('not_connected', `cannot send while ${this.phase}`);
    if (this.endpoint) this.endpoint.sendTo(c, bytes, this.clock());
    else c.send(bytes, this.clock());
    this.pump();
  }

  /** Close with close_notify. Idempotent. */
  close(): void {
    if (this.phase === 'closed' || this.phase === 'failed') return;
    const c = this.connection;
    if (c && this.endpoint) this.endpoint.closeConnection(c, this.clock());
    else if (c) c.close(this.clock());
    else this.endpoint?.close(this.clock());
    this.pump();
    // A transport closed before any association existed has no engine event to report it.
    this.finish('closed');
  }

  /** RFC 5705 exporter (e.g. for a protocol keyed from the DTLS session). */
  exportKeyingMaterial(label: string, length: number, context?: Uint8Array): Buffer {
    if (!this.connection) throw new DtlsError('not_connected', 'no DTLS association yet');
    return this.connection.exportKeyingMaterial(label, length, context);
  }

  /** SRTP master keys and salts for the negotiated profile (RFC 5764 §4.2). */
  getSrtpKeys(): SrtpKeys {
    if (!this.connection) throw new DtlsError('not_connected', 'no DTLS association yet');
    return this.connection.getSrtpKeys();
  }

  /** The engine's counters (datagrams, drops, retransmissions), once an association exists. */
  get stats(): DtlsConnection['stats'] | undefined {
    return this.connection?.stats;
  }

  // ---- internals --------------------------------------------------------------------------------

  /** Move everything the engine produced out: datagrams to `send`, events to listeners; re-arm the timer. */
  private pump(): void {
    if (this.endpoint) {
      for (let t = this.endpoint.pollTransmit(); t; t = this.endpoint.pollTransmit()) this.transmit(t.data);
      for (let e = this.endpoint.pollEvent(); e; e = this.endpoint.pollEvent()) {
        if (e.type === 'connection-event') {
          this.connection ??= e.connection;
          if (e.connection === this.connection) this.handleEvent(e.event);
        } else if (e.reason === 'replaced') {
          // A new handshake from the same peer completed (RFC 6347 §4.2.8); the endpoint now serves it.
          this.connection = this.endpoint.connectionFor(THE_PEER);
        }
      }
    } else if (this.connection) {
      const c = this.connection;
      for (let d = c.pollTransmit(); d; d = c.pollTransmit()) this.transmit(d);
      for (let e = c.pollEvent(); e; e = c.pollEvent()) this.handleEvent(e);
    }
    this.armTimer();
  }

  private transmit(datagram: Buffer): void {
    try {
      this.sendDatagram(datagram);
    } catch (err) {
      // UDP semantics: a datagram that cannot be sent is lost, and retransmission covers the handshake.
      this.emit('engine-event', {
        type: 'alert',
        level: 'warning',
        description: `send failed: ${String(err)}`,
      });
    }
  }

  private handleEvent(e: DtlsEvent): void {
    this.emit('engine-event', e);
    switch (e.type) {
      case 'connected':
        this.phase = 'connected';
        this.info = e.info;
        this.emit('connected', e.info);
        return;
      case 'data':
        this.emit('message', e.data);
        return;
      case 'failed':
        this.finish('failed');
        this.emit('error', e.error);
        this.emit('close');
        return;
      case 'closed':
        this.finish('closed');
        return;
      default:
    }
  }

  private finish(phase: 'closed' | 'failed'): void {
    if (this.phase === 'closed' || this.phase === 'failed') return;
    this.phase = phase;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (phase === 'closed') this.emit('close');
  }

  private armTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.phase === 'closed' || this.phase === 'failed') return;
    const deadline = this.endpoint ? this.endpoint.pollTimeout() : this.connection?.pollTimeout();
    if (deadline === undefined) return;
    const delay = Math.max(0, Math.min(deadline - this.clock(), 2 ** 31 - 1));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const now = this.clock();
      if (this.endpoint) this.endpoint.handleTimeout(now);
      else this.connection?.handleTimeout(now);
      this.pump();
    }, delay);
    // A handshake in progress keeps the process alive until it ends; afterwards the timer only serves
    // late retransmissions, and the transport underneath (a socket) decides the process's lifetime.
    if (this.phase === 'connected') this.timer.unref();
  }
}
