import type { X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { suiteByName } from '../crypto/suites.js';
import type { DtlsConnection } from '../engine/connection.js';
import type { ConnectionInfo, DtlsEvent } from '../engine/events.js';
import type { ClientSession } from '../engine/resumption.js';
import { DtlsError } from '../errors.js';
import type { SrtpKeys } from '../handshake/srtp.js';

/** What a DtlsSocket needs from whoever carries its datagrams (the client's socket or the server). */
export interface SocketCarrier {
  /** Seal and send one application datagram. */
  transmit(socket: DtlsSocket, data: Uint8Array): void;
  /** Send close_notify and end the association. */
  shutdown(socket: DtlsSocket): void;
  /** The socket is done: free its resources. */
  release(socket: DtlsSocket): void;
}

/** Monotonic milliseconds: the engine's clock. */
export function monotonicNow(): number {
  return performance.now();
}

/** Received datagrams kept for an async iterator that is not reading fast enough (UDP semantics: drop). */
const MAX_ITERATOR_BACKLOG = 1024;

/**
 * An established DTLS association, node-style. Datagram semantics: every `send()` is one record and
 * arrives as one `message` (or one value of the async iterator), or not at all.
 *
 * Events: `message` (Buffer), `close` (), `error` (DtlsError), `keylog` (Buffer line, NSS format),
 * `alert` (warning name).
 */
export class DtlsSocket extends EventEmitter {
  private closedFlag = false;
  private closing: Promise<void> | undefined;
  private backlog: Buffer[] | undefined;
  /** Pending next() calls of an async iterator (created with the first iterator). */
  private waiters:
    | { resolve: (r: IteratorResult<Buffer>) => void; reject: (e: unknown) => void }[]
    | undefined;
  private failure: DtlsError | undefined;
  private session: ClientSession | undefined;

  constructor(
    readonly connection: DtlsConnection,
    private readonly carrier: SocketCarrier,
    readonly remoteAddress: string,
    readonly remotePort: number,
    readonly remoteFamily: string,
  ) {
    super();
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Send one datagram of application data (at most 16,384 bytes). */
  send(data: string | Uint8Array): void {
    if (this.closedFlag) throw new DtlsError('closed', 'socket is closed');
    this.carrier.transmit(this, typeof data === 'string' ? Buffer.from(data) : data);
  }

  /** Close with close_notify (RFC 5246 §7.2.1). Resolves once the alert is handed to the network. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = new Promise((resolve) => {
      if (this.closedFlag) return resolve();
      this.once('close', () => resolve());
      this.carrier.shutdown(this);
      // The engine reported `closed`; make sure the socket finishes even if the carrier did not relay it.
      this.markClosed();
    });
    return this.closing;
  }

  get info(): ConnectionInfo | undefined {
    return this.connection.connectionInfo;
  }

  getProtocol(): string | null {
    return this.info?.protocol ?? null;
  }

  /** `{ name, standardName, version }` as node:tls reports it: OpenSSL name, IANA name, protocol. */
  getCipher(): { name: string; standardName: string; version: string } | null {
    const i = this.info;
    if (!i) return null;
    const s = suiteByName(i.cipherSuite);
    return { name: s?.opensslName ?? i.cipherSuite, standardName: i.cipherSuite, version: i.protocol };
  }

  getPeerCertificate(): X509Certificate | undefined {
    return this.connection.peerCertificate;
  }

  /** RFC 5705 exporter; refused before the handshake completes. */
  exportKeyingMaterial(label: string, length: number, context?: Uint8Array): Buffer {
    return this.connection.exportKeyingMaterial(label, length, context);
  }

  /** SRTP keys and salts for the negotiated profile (RFC 5764 §4.2). */
  getSrtpKeys(): SrtpKeys {
    return this.connection.getSrtpKeys();
  }

  /** Client: the session to pass as connect({ session }) later (serialize with serializeSession). */
  getSession(): ClientSession | undefined {
    return this.session;
  }

  /** True when this association came from an abbreviated handshake (a resumed session). */
  isResumed(): boolean {
    return this.info?.resumed ?? false;
  }

  /** The ALPN protocol the peers agreed on, if any. */
  get alpnProtocol(): string | undefined {
    return this.info?.alpnProtocol;
  }

  /** Feed an engine event (called by the carrier). */
  handleEvent(e: DtlsEvent): void {
    switch (e.type) {
      case 'data':
        this.emit('message', e.data);
        if (this.backlog) {
          const w = this.waiters?.shift();
          if (w) w.resolve({ value: e.data, done: false });
          else {
            if (this.backlog.length >= MAX_ITERATOR_BACKLOG) this.backlog.shift();
            this.backlog.push(e.data);
          }
        }
        return;
      case 'keylog':
        this.emit('keylog', Buffer.from(`${e.line}\n`));
        return;
      case 'session':
        this.session = e.session;
        this.emit('session', e.session);
        return;
      case 'alert':
        this.emit('alert', e.description);
        return;
      case 'failed':
        this.failure = e.error;
        if (this.listenerCount('error') > 0) this.emit('error', e.error);
        this.markClosed();
        return;
      case 'closed':
        this.markClosed();
        return;
      default:
        return;
    }
  }

  /** The association ended (close_notify either way, a fatal alert, idle expiry, or server shutdown). */
  markClosed(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    for (const w of this.waiters?.splice(0) ?? []) {
      if (this.failure) w.reject(this.failure);
      else w.resolve({ value: undefined, done: true });
    }
    this.carrier.release(this);
    this.emit('close');
  }

  /** Received datagrams, in arrival order, until the association closes. */
  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    this.backlog ??= [];
    this.waiters ??= [];
    return {
      next: () => {
        const b = this.backlog!;
        if (b.length > 0) return Promise.resolve({ value: b.shift()!, done: false });
        if (this.closedFlag) {
          return this.failure
            ? Promise.reject(this.failure)
            : Promise.resolve({ value: undefined, done: true });
        }
        return new Promise((resolve, reject) => this.waiters!.push({ resolve, reject }));
      },
      return: () => Promise.resolve({ value: undefined, done: true }),
    };
  }
}
