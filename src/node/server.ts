import type dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import type { DtlsConnection } from '../engine/connection.js';
import type { SessionCacheOptions, TicketOptions } from '../engine/resumption.js';
import { DtlsServerEndpoint, type PeerAddress, type ServerLimits } from '../engine/server-endpoint.js';
import { DtlsError } from '../errors.js';
import { type CommonOptions, engineConfigFrom, type ServerPsk } from './options.js';
import { DtlsSocket, monotonicNow, type SocketCarrier } from './socket.js';
import { createUdpSocket } from './udp.js';

export interface ServerOptions extends CommonOptions {
  /** Ask clients for a certificate (CertificateRequest) but accept none. */
  requestCert?: boolean;
  /** Insist on a client certificate, checked against `ca` or `fingerprint`. */
  requireCert?: boolean;
  /** HelloVerifyRequest cookies (RFC 6347 §4.2.1); on unless false. */
  cookies?: boolean;
  /** Share between server processes so each accepts the others' cookies. */
  cookieSecret?: Buffer;
  /** Pre-shared keys: an identity hint and a lookup by identity (RFC 4279). */
  psk?: ServerPsk;
  /** Established peers silent this long are dropped (ms, default 300,000). */
  idleTimeout?: number;
  limits?: Partial<ServerLimits>;
  /** Resumption by session ID (RFC 5246 §7.3): on unless false; options bound its size and lifetime. */
  sessionCache?: SessionCacheOptions | false;
  /** Session tickets (RFC 5077): on unless false; give the same `secret` to every server process. */
  tickets?: TicketOptions | false;
}

/**
 * A DTLS server on one UDP socket. Every peer is an independent DtlsConnection inside a sans-IO
 * DtlsServerEndpoint; this class only moves datagrams and runs one timer.
 *
 * Events: `connection` (DtlsSocket), `listening`, `peerError` (DtlsError, PeerAddress) for handshakes
 * that failed, `keylog` (Buffer line, PeerAddress), `engineEvent` (DtlsEvent, PeerAddress: every raw
 * engine event, handshake traces included), `datagram` ('in' | 'out', Buffer, PeerAddress: every UDP
 * datagram, for live traces), `error`, `close`.
 */
export class DtlsServer extends EventEmitter {
  private readonly endpoint: DtlsServerEndpoint;
  private udp: dgram.Socket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerAt: number | undefined;
  private closing: Promise<void> | undefined;
  private readonly carrier: SocketCarrier;

  constructor(options: ServerOptions, onConnection?: (socket: DtlsSocket) => void) {
    super();
    const base = engineConfigFrom(options);
    if (
      (options.requestCert || options.requireCert) &&
      !options.ca &&
      !options.fingerprint &&
      !options.insecure
    ) {
      throw new DtlsError(
        'invalid_argument',
        'requestCert/requireCert need ca or fingerprint to check client certificates',
      );
    }
    this.endpoint = new DtlsServerEndpoint({
      ...base,
      psk: options.psk,
      clientCertificate: options.requireCert ? 'require' : options.requestCert ? 'request' : 'none',
      cookies: options.cookies,
      cookieSecret: options.cookieSecret,
      cookieClock: options.cookieSecret ? () => Date.now() : undefined,
      sessionCache: options.sessionCache,
      tickets: options.tickets,
      wallClock: () => Date.now(),
      serverLimits: {
        ...options.limits,
        ...(options.idleTimeout ? { idleTimeoutMs: options.idleTimeout } : {}),
      },
      onWakeup: () => {
        this.endpoint.handleTimeout(monotonicNow());
        this.flush();
      },
    });
    if (onConnection) this.on('connection', onConnection);
    this.carrier = {
      transmit: (s, data) => {
        this.endpoint.sendTo(s.connection, data, monotonicNow());
        this.flush();
      },
      shutdown: (s) => {
        this.endpoint.closeConnection(s.connection, monotonicNow());
        this.flush();
      },
      release: (s) => {
        if (s.connection.owner === s) s.connection.owner = undefined;
      },
    };
  }

  /** Bind and start answering. Resolves with the bound address. */
  listen(port = 0, host = '127.0.0.1'): Promise<{ address: string; port: number; family: string }> {
    if (this.udp) throw new DtlsError('invalid_argument', 'already listening');
    const udp = createUdpSocket(isIP(host) === 6 ? 'IPv6' : 'IPv4');
    this.udp = udp;
    udp.on('message', (msg, rinfo) => {
      const peer: PeerAddress = {
        address: rinfo.address,
        port: rinfo.port,
        family: rinfo.family as 'IPv4' | 'IPv6',
      };
      if (this.listenerCount('datagram') > 0) this.emit('datagram', 'in', msg, peer);
      this.endpoint.handleDatagram(msg, peer, monotonicNow());
      this.flush();
    });
    udp.on('error', (err) => this.emit('error', new DtlsError('socket_error', err.message, { cause: err })));
    return new Promise((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(port, host, () => {
        udp.off('error', reject);
        const a = udp.address();
        this.emit('listening');
        resolve({ address: a.address, port: a.port, family: a.family });
      });
    });
  }

  address(): { address: string; port: number; family: string } | undefined {
    return this.udp?.address();
  }

  get peerCount(): number {
    return this.endpoint.peerCount;
  }

  get stats() {
    return this.endpoint.stats;
  }

  /** End every session with close_notify, free every timer, close the socket. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = new Promise((resolve) => {
      this.endpoint.close(monotonicNow());
      this.flush();
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      const udp = this.udp;
      if (!udp) {
        this.emit('close');
        return resolve();
      }
      udp.close(() => {
        this.emit('close');
        resolve();
      });
    });
    return this.closing;
  }

  private flush(): void {
    const udp = this.udp;
    // Application data comes as the record's parts; dgram gathers them into one datagram.
    for (let t = this.endpoint.pollTransmitGathered(); t; t = this.endpoint.pollTransmitGathered()) {
      if (this.listenerCount('datagram') > 0) {
        this.emit('datagram', 'out', Array.isArray(t.data) ? Buffer.concat(t.data) : t.data, t.peer);
      }
      udp?.send(t.data, t.peer.port, t.peer.address);
    }
    for (let ev = this.endpoint.pollEvent(); ev; ev = this.endpoint.pollEvent()) {
      if (ev.type === 'peer-removed') {
        socketOf(ev.connection)?.markClosed();
        continue;
      }
      const { event: e, connection, peer } = ev;
      this.emit('engineEvent', e, peer);
      if (e.type === 'keylog') this.emit('keylog', Buffer.from(`${e.line}\n`), peer);
      if (e.type === 'connected') {
        const s = new DtlsSocket(connection, this.carrier, peer.address, peer.port, peer.family ?? 'IPv4');
        connection.owner = s;
        this.emit('connection', s);
        continue;
      }
      const s = socketOf(connection);
      if (s) s.handleEvent(e);
      else if (e.type === 'failed') this.emit('peerError', e.error, peer);
    }
    this.armTimer();
  }

  private armTimer(): void {
    const deadline = this.endpoint.pollTimeout();
    if (deadline === this.timerAt && this.timer) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = deadline;
    if (deadline === undefined || this.closing) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = undefined;
        this.endpoint.handleTimeout(monotonicNow());
        this.flush();
      },
      Math.max(0, Math.ceil(deadline - monotonicNow())),
    );
    // The socket keeps the process alive while listening; the timer alone should not.
    this.timer.unref();
  }
}

/** The DtlsSocket the server made for a connection (kept on the connection itself: no Map per peer). */
function socketOf(c: DtlsConnection): DtlsSocket | undefined {
  return c.owner instanceof DtlsSocket ? c.owner : undefined;
}

export function createServer(
  options: ServerOptions,
  onConnection?: (socket: DtlsSocket) => void,
): DtlsServer {
  return new DtlsServer(options, onConnection);
}
