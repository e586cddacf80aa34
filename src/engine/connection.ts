import type { X509Certificate } from 'node:crypto';
import { createRecordCipher } from '../crypto/aead.js';
import { expandKeys, exportKeyingMaterial } from '../crypto/prf.js';
import { DtlsError, HandshakeFailure } from '../errors.js';
import { ClientHandshake } from '../handshake/client.js';
import { type FlightEntry, flightToDatagrams, packFlight, unpackFlight } from '../handshake/flight.js';
import type { HandshakeHost, HandshakeRole, Negotiated } from '../handshake/host.js';
import { type HandshakeMessage, Reassembler } from '../handshake/reassembler.js';
import { RetransmitTimer } from '../handshake/retransmit-timer.js';
import { ServerHandshake } from '../handshake/server.js';
import {
  SRTP_EXPORTER_LABEL,
  type SrtpKeys,
  splitSrtpKeyingMaterial,
  srtpKeyingMaterialLength,
  srtpProfileById,
} from '../handshake/srtp.js';
import { Transcript } from '../handshake/transcript.js';
import { type OpenedRecord, RecordLayer } from '../record/record-layer.js';
import {
  AlertDescription,
  AlertLevel,
  type AlertName,
  alertName,
  decodeAlert,
  encodeAlert,
} from '../wire/alert.js';
import { ContentType, HandshakeType, handshakeTypeName } from '../wire/constants.js';
import { DecodeError } from '../wire/errors.js';
import {
  HANDSHAKE_HEADER_LENGTH,
  type HandshakeFragment,
  parseHandshakeFragments,
} from '../wire/handshake-header.js';
import { type EngineConfig, type ResolvedConfig, resolveConfig, resolveConfigFor } from './config.js';
import type { ConnectionInfo, DtlsEvent } from './events.js';
import type { PeerAddress } from './server-endpoint.js';

export type ConnectionState = 'handshaking' | 'connected' | 'closed' | 'failed';

const FINISHED_TRANSCRIPT = new Transcript();
const FINISHED_TIMER = new RetransmitTimer({ initialMs: 0, maxMs: 0, maxRetransmissions: 0 });

/** Stands in for the state machine once the handshake is over. */
const FINISHED_ROLE: HandshakeRole = {
  handleMessage: () => {},
  expectsChangeCipherSpec: () => false,
  handleChangeCipherSpec: () => {},
  done: true,
  negotiated: undefined,
};

function unpooled(b: Buffer): Buffer {
  const c = Buffer.alloc(b.length);
  c.set(b);
  return c;
}

/** Largest application datagram (RFC 6347 §4.1: a record's plaintext is at most 2^14 bytes). */
export const MAX_APPLICATION_DATA = 16384;

/** Counters a user (or a test) can read to see what was dropped and why (RFC 6347 §4.1.2.7). */
export interface ConnectionStats {
  datagramsIn: number;
  datagramsOut: number;
  recordsDropped: number;
  fragmentsDropped: number;
  retransmissions: number;
}

/**
 * One DTLS 1.2 association, sans-IO (after quinn-proto and rustls): datagrams and the current time go
 * in through `handle*`; datagrams to send, events and the next deadline come out through `poll*`.
 * No sockets, timers or clocks here: `now` is whatever monotonic milliseconds the caller uses.
 *
 * A failure is final: the fatal alert is queued, a `failed` event is reported, and further input is
 * ignored.
 */
export class DtlsConnection implements HandshakeHost {
  readonly config: ResolvedConfig;
  readonly record: RecordLayer;
  /** The handshake transcript; after the handshake, one shared empty instance (never added to again). */
  transcript = new Transcript();
  readonly stats: ConnectionStats = {
    datagramsIn: 0,
    datagramsOut: 0,
    recordsDropped: 0,
    fragmentsDropped: 0,
    retransmissions: 0,
  };
  /** Set by a server endpoint: the peer this connection serves. */
  endpointPeer: PeerAddress | undefined;
  /** A slot for whoever drives this connection (the Node adapter keeps its DtlsSocket here). */
  owner: unknown;
  private reassembler: Reassembler;
  private role: HandshakeRole;
  private phase: ConnectionState = 'handshaking';
  private sendSeq: number;
  private building: FlightEntry[] = [];
  /** Our last flight, for retransmission; a kept final flight is packed into one buffer. */
  private lastFlight:
    | { entries: FlightEntry[]; flight: number; final: boolean }
    | { packed: Buffer; flight: number; final: true }
    | undefined;
  private lastFlightWasRetransmitted = false;
  private lastFlightSentAt = Number.NEGATIVE_INFINITY;
  /** When the kept final flight may be forgotten (the peer cannot still be waiting for it). */
  private finalFlightExpiry: number | undefined;
  /** message_seq of the peer's message our last flight answered (-1: none, our flight came first). */
  private answeredSeq = -1;
  /** The flight timer; after the handshake, one shared stopped timer (no flight is sent again). */
  private timer: RetransmitTimer;
  private handshakeDeadline: number;
  /** Datagrams to send; application data stays in parts (see pollTransmitGathered). */
  private outbox: Array<Buffer | Buffer[]> = [];
  private events: DtlsEvent[] = [];
  /** Once the handshake's queues have drained, give back the capacity they grew to. */
  private shrinkQueues = false;
  private now: number;
  private info: ConnectionInfo | undefined;
  /** Deferred handshake work (an async PSK lookup): its promise, and its result once settled. */
  private deferred: { promise: Promise<void>; ready?: () => void } | undefined;
  private changeCipherSpecWaiting = false;
  /** The peer's flights whose new-epoch records failed authentication during the handshake. */
  private badFinishedDatagrams = 0;
  private peerChangeCipherSpecSeen = false;
  /** What outlives the handshake: the exporter's inputs and the SRTP profile. */
  private secrets:
    | (Pick<Negotiated, 'suite' | 'srtpProfile' | 'srtpMki'> & {
        /** master_secret (48) | client_random (32) | server_random (32), in one buffer of its own. */
        /** As a latin1 string: 112 bytes in one small string, read only by the exporter. */
        masterAndRandoms: string;
      })
    | undefined;

  private constructor(config: EngineConfig, now: number, initialSeq: number) {
    this.config = resolveConfig(config);
    this.record = new RecordLayer(this.config.recordLayerLimits);
    this.reassembler = new Reassembler(initialSeq, this.config.reassemblerLimits);
    this.sendSeq = initialSeq;
    this.timer = new RetransmitTimer(this.config.retransmitPolicy);
    this.now = now;
    this.handshakeDeadline = now + this.config.handshakeTimeoutMs;
    this.role = config.role === 'client' ? new ClientHandshake(this) : new ServerHandshake(this);
  }

  /** A client connection; its first flight (ClientHello) is queued at once. */
  static client(config: Omit<EngineConfig, 'role'>, now: number): DtlsConnection {
    const c = new DtlsConnection(resolveConfigFor(config, 'client'), now, 0);
    const role = c.role as ClientHandshake;
    c.guard(() => role.start());
    return c;
  }

  /**
   * A server connection for a peer whose ClientHello already passed the cookie check (or for which
   * cookies are off). Our message_seq numbering mirrors the ClientHello's, as after a
   * HelloVerifyRequest both sides continue from 1 (RFC 6347 §4.2.2).
   */
  static server(
    config: Omit<EngineConfig, 'role'>,
    now: number,
    clientHello: HandshakeMessage,
    clientHelloRecordSeq = 0,
  ): DtlsConnection {
    const c = new DtlsConnection(resolveConfigFor(config, 'server'), now, clientHello.messageSeq + 1);
    c.sendSeq = clientHello.messageSeq;
    c.record.skipInitialSequenceNumbers(clientHelloRecordSeq + 1);
    c.trace('received', clientHello.msgType, clientHello.messageSeq, 0, clientHello.body.length, 1, false);
    c.guard(() => c.role.handleMessage(clientHello));
    return c;
  }

  get state(): ConnectionState {
    return this.phase;
  }

  get isServer(): boolean {
    return this.config.role === 'server';
  }

  /** Negotiated parameters, once connected. */
  get connectionInfo(): ConnectionInfo | undefined {
    return this.info;
  }

  /** The client's random of the negotiated handshake (tells a retransmitted ClientHello from a new one). */
  get clientRandom(): Buffer | undefined {
    const s = this.secrets?.masterAndRandoms;
    return s === undefined ? undefined : Buffer.from(s.slice(48, 80), 'latin1');
  }

  get peerCertificate(): X509Certificate | undefined {
    return this.info?.peerCertificate;
  }

  // ---- inputs -----------------------------------------------------------------------------------

  handleDatagram(datagram: Uint8Array, now: number): void {
    if (this.phase === 'failed' || this.phase === 'closed') return;
    this.now = now;
    this.stats.datagramsIn++;
    const before = this.record.dropped;
    this.guard(() => {
      for (const raw of this.record.splitDatagram(datagram)) {
        if (this.phase === 'failed' || this.phase === 'closed') break;
        if (raw.type === ContentType.change_cipher_spec && this.phase === 'handshaking')
          this.peerChangeCipherSpecSeen = true;
        const badMac = this.record.drops.badMac;
        const rec = this.record.openRecord(raw);
        if (rec) this.handleRecord(rec);
        else if (this.record.drops.badMac > badMac && this.phase === 'handshaking' && raw.epoch > 0) {
          this.noteUnauthenticatedFinished();
        }
      }
    });
    this.stats.recordsDropped += this.record.dropped - before;
  }

  handleTimeout(now: number): void {
    if (this.phase === 'failed' || this.phase === 'closed') return;
    this.now = now;
    const d = this.deferred;
    if (d?.ready) {
      this.deferred = undefined;
      this.guard(() => {
        d.ready!();
        this.resumeHandshake();
      });
      if ((this.phase as ConnectionState) === 'failed') return;
    }
    if (this.phase === 'handshaking' && now >= this.handshakeDeadline) {
      this.failLocally('timeout', `handshake did not complete within ${this.config.handshakeTimeoutMs} ms`);
      return;
    }
    if (this.finalFlightExpiry !== undefined && now >= this.finalFlightExpiry) this.releaseFinalFlight();
    if (this.timer.deadline !== undefined && now >= this.timer.deadline) {
      if (this.timer.expire(now) === 'give-up') {
        this.failLocally(
          'timeout',
          `no answer after ${this.config.retransmitPolicy.maxRetransmissions} retransmissions`,
        );
        return;
      }
      this.stats.retransmissions++;
      this.lastFlightWasRetransmitted = true;
      this.transmitLastFlight(true);
    }
  }

  /** Send one application datagram (RFC 6347 §4.1: one record, message boundaries kept). */
  send(data: Uint8Array, now: number): void {
    if (this.phase !== 'connected') throw new DtlsError('not_connected', `cannot send while ${this.phase}`);
    if (data.length > MAX_APPLICATION_DATA) {
      throw new DtlsError(
        'invalid_argument',
        `datagram of ${data.length} bytes exceeds ${MAX_APPLICATION_DATA}`,
      );
    }
    this.now = now;
    this.outbox.push(this.record.sealGathered(ContentType.application_data, data));
  }

  /** Close with close_notify (RFC 5246 §7.2.1). Idempotent. */
  close(now: number): void {
    if (this.phase === 'failed' || this.phase === 'closed') return;
    this.now = now;
    this.sendAlert(AlertLevel.warning, AlertDescription.close_notify);
    this.finish('closed');
    this.events.push({ type: 'closed', byPeer: false });
  }

  // ---- outputs ----------------------------------------------------------------------------------

  /** The next datagram to send, as one buffer. */
  pollTransmit(): Buffer | undefined {
    const d = this.pollTransmitGathered();
    return Array.isArray(d) ? Buffer.concat(d) : d;
  }

  /**
   * The next datagram to send, either one buffer or, for application data, the record's parts in wire
   * order (header and explicit nonce, ciphertext, tag) for a socket that gathers them into one datagram
   * (dgram.send takes such a list): the ciphertext is then never copied into a record of its own.
   */
  pollTransmitGathered(): Buffer | Buffer[] | undefined {
    const d = this.outbox.shift();
    if (d) this.stats.datagramsOut++;
    else this.afterDrain();
    return d;
  }

  pollEvent(): DtlsEvent | undefined {
    const e = this.events.shift();
    if (!e) this.afterDrain();
    return e;
  }

  private afterDrain(): void {
    if (!this.shrinkQueues || this.outbox.length > 0 || this.events.length > 0) return;
    this.shrinkQueues = false;
    this.outbox = [];
    this.events = [];
  }

  /** The earliest time at which handleTimeout() has something to do, or undefined. */
  pollTimeout(): number | undefined {
    if (this.phase !== 'handshaking' && this.phase !== 'connected') return undefined;
    const t = this.timer.deadline;
    if (this.phase !== 'handshaking') return this.finalFlightExpiry ?? t;
    return t === undefined ? this.handshakeDeadline : Math.min(t, this.handshakeDeadline);
  }

  /**
   * RFC 5705 keying material exporter. Refused before the handshake completes: keys derived from an
   * unauthenticated peer must never leave the engine.
   */
  exportKeyingMaterial(label: string, length: number, context?: Uint8Array): Buffer {
    const n = this.secrets;
    // After a completed handshake the keys stay exportable through a clean close (as node:tls allows);
    // never before it, and never after a failure.
    if (!this.info || !n || this.phase === 'failed') {
      throw new DtlsError('not_connected', 'keying material is available only after the handshake completes');
    }
    const m = Buffer.from(n.masterAndRandoms, 'latin1');
    return exportKeyingMaterial(
      n.suite.prfHash,
      m.subarray(0, 48),
      m.subarray(48, 80),
      m.subarray(80, 112),
      label,
      context,
      length,
    );
  }

  /**
   * The SRTP master keys and salts (RFC 5764 §4.2) for the negotiated profile. Like every exported
   * secret, refused before the handshake completes (and so before the peer is authenticated).
   */
  getSrtpKeys(): SrtpKeys {
    const n = this.secrets;
    const p = n?.srtpProfile === undefined ? undefined : srtpProfileById(n.srtpProfile);
    if (!this.info || this.phase === 'failed') {
      throw new DtlsError('not_connected', 'SRTP keys are available only after the handshake completes');
    }
    if (!p) throw new DtlsError('invalid_argument', 'no SRTP profile was negotiated');
    const material = this.exportKeyingMaterial(SRTP_EXPORTER_LABEL, srtpKeyingMaterialLength(p));
    return splitSrtpKeyingMaterial(p, material, n?.srtpMki ?? Buffer.alloc(0));
  }

  // ---- HandshakeHost ----------------------------------------------------------------------------

  queueMessage(msgType: number, body: Buffer, opts: { transcript?: boolean } = {}): void {
    const messageSeq = this.sendSeq++;
    this.building.push({ kind: 'handshake', epoch: this.record.writeEpoch, msgType, messageSeq, body });
    if (opts.transcript !== false) this.transcript.add(msgType, messageSeq, body);
  }

  queueChangeCipherSpec(): void {
    const epoch = this.record.writeEpoch;
    this.building.push({ kind: 'ccs', epoch });
    this.record.setWriteEpoch(epoch + 1);
  }

  sendFlight(flight: number, final: boolean): void {
    this.lastFlight = { entries: this.building, flight, final };
    this.answeredSeq = this.reassembler.expectedSeq - 1;
    this.building = [];
    this.transmitLastFlight(false);
    if (final) this.timer.stop();
    else this.timer.start(this.now, this.lastFlightWasRetransmitted);
    this.lastFlightWasRetransmitted = false;
  }

  installKeys(n: Negotiated): void {
    // Kept for the connection's lifetime (exporter, SRTP keys): only what those need, as one small
    // string (not slices of node's shared 8 KB pool or of a received datagram, which they would pin).
    const own = Buffer.alloc(n.masterSecret.length + 64);
    own.set(n.masterSecret, 0);
    own.set(n.clientRandom, n.masterSecret.length);
    own.set(n.serverRandom, n.masterSecret.length + 32);
    this.secrets = {
      suite: n.suite,
      masterAndRandoms: own.toString('latin1'),
      srtpProfile: n.srtpProfile,
      srtpMki: n.srtpMki && n.srtpMki.length > 0 ? unpooled(n.srtpMki) : undefined,
    };
    const kb = expandKeys(n.suite, n.masterSecret, n.clientRandom, n.serverRandom);
    const clientCipher = createRecordCipher(n.suite, kb.clientWriteKey, kb.clientWriteIv);
    const serverCipher = createRecordCipher(n.suite, kb.serverWriteKey, kb.serverWriteIv);
    const epoch = this.record.writeEpoch + 1;
    const client = !this.isServer;
    this.record.addWriteEpoch(epoch, client ? clientCipher : serverCipher);
    this.record.setPendingReadCipher(epoch, client ? serverCipher : clientCipher);
    // NSS key log format, which Wireshark reads to decrypt the capture.
    this.events.push({
      type: 'keylog',
      line: `CLIENT_RANDOM ${n.clientRandom.toString('hex')} ${n.masterSecret.toString('hex')}`,
    });
  }

  established(info: ConnectionInfo): void {
    this.phase = 'connected';
    this.info = info;
    this.timer.stop();
    // What only the handshake needed goes: the transcript and the state machine (with the hellos it
    // decoded, which are views into received datagrams).
    this.transcript = FINISHED_TRANSCRIPT;
    this.timer = FINISHED_TIMER;
    this.role = FINISHED_ROLE;
    // Messages of the handshake are all in; what arrives later is only compared with nextSeq.
    this.reassembler.clear();
    this.shrinkQueues = true;
    // Epoch 0 will not be read again: the peer's retransmissions that matter (its Finished) come
    // under the new keys, and unprotected records after the handshake are never acted on.
    this.record.retireReadEpoch(0);
    // A flight that was answered is forgotten; the final flight (the server's flight 6, or the client's
    // last flight of an abbreviated handshake) is kept, to resend it if the peer's Finished comes again
    // (RFC 6347 §4.2.4), until the peer's data shows it arrived or the peer would have given up.
    const lf = this.lastFlight;
    if (lf?.final) {
      this.finalFlightExpiry = this.now + this.config.handshakeTimeoutMs;
      if ('entries' in lf)
        this.lastFlight = { packed: packFlight(lf.entries), flight: lf.flight, final: true };
    } else {
      this.lastFlight = undefined;
    }
    this.events.push({ type: 'connected', info });
  }

  emit(e: DtlsEvent): void {
    this.events.push(e);
  }

  defer<T>(work: Promise<T>, resume: (value: T) => void): void {
    const d: { promise: Promise<void>; ready?: () => void } = { promise: Promise.resolve() };
    d.promise = work.then(
      (value) => {
        d.ready = () => resume(value);
      },
      (err: unknown) => {
        d.ready = () => {
          throw new HandshakeFailure(
            'internal_error',
            `asynchronous lookup failed: ${(err as Error)?.message ?? err}`,
          );
        };
      },
    );
    this.deferred = d;
  }

  /**
   * A promise that settles when deferred handshake work (an asynchronous PSK lookup) is done; the
   * caller then calls handleTimeout(now) to let the handshake continue. Undefined when nothing waits.
   */
  get pendingWork(): Promise<void> | undefined {
    return this.deferred?.promise;
  }

  // ---- internals --------------------------------------------------------------------------------

  /** Nothing will need resending: forget the final flight and what only recognised its triggers. */
  private releaseFinalFlight(): void {
    this.lastFlight = undefined;
    this.finalFlightExpiry = undefined;
    this.record.retirePreviousReadEpoch();
    this.reassembler.clear();
  }

  /**
   * A record of the new epoch failed authentication while we wait for the peer's Finished. One could
   * be forged by anyone (RFC 6347 §4.1.2.7: drop it silently). It counts as evidence only after a
   * ChangeCipherSpec from the peer, once per ChangeCipherSpec: the same failure on the peer's resent
   * flight as well means our keys differ from the peer's, as with a wrong pre-shared key, and waiting
   * for the timeout would only hide that. Then the handshake ends with a fatal bad_record_mac, as
   * RFC 6347 §4.1.2.7 requires of an implementation that alerts at all.
   */
  private noteUnauthenticatedFinished(): void {
    if (!this.peerChangeCipherSpecSeen) return;
    this.peerChangeCipherSpecSeen = false;
    this.badFinishedDatagrams++;
    if (this.badFinishedDatagrams >= 2) {
      this.failWithAlert(
        'bad_record_mac',
        "the peer's Finished failed authentication twice: its keys differ from ours (a wrong pre-shared key?)",
      );
    }
  }

  private handleRecord(rec: OpenedRecord): void {
    switch (rec.type) {
      case ContentType.handshake:
        return this.handleHandshakeRecord(rec);
      case ContentType.change_cipher_spec:
        return this.handleChangeCipherSpec(rec);
      case ContentType.alert:
        return this.handleAlert(rec);
      case ContentType.application_data:
        // The cipher's output is a fresh buffer (epoch-0 application data never gets here): no copy.
        if (this.phase !== 'connected') {
          this.stats.recordsDropped++;
          return;
        }
        // Data from the peer under the new keys means it has our final flight (RFC 6347 §4.2.4).
        if (this.lastFlight?.final) this.releaseFinalFlight();
        this.events.push({ type: 'data', data: rec.data });
        return;
      default:
        this.stats.recordsDropped++;
    }
  }

  private handleChangeCipherSpec(rec: OpenedRecord): void {
    if (rec.data.length !== 1 || rec.data[0] !== 1) {
      this.stats.recordsDropped++;
      return;
    }
    if (this.deferred) {
      // The key exchange is still being finished (async PSK lookup): act on this when it is.
      this.changeCipherSpecWaiting = true;
      return;
    }
    // A ChangeCipherSpec is honoured only when every message before it has been processed; one that
    // comes early (reordering, or an attacker skipping the key exchange) is dropped, never acted on.
    if (
      this.phase !== 'handshaking' ||
      !this.role.expectsChangeCipherSpec() ||
      !this.record.hasPendingReadCipher()
    ) {
      this.stats.recordsDropped++;
      return;
    }
    this.role.handleChangeCipherSpec();
    this.emit({
      type: 'handshake',
      trace: {
        direction: 'received',
        message: 'change_cipher_spec',
        epoch: rec.epoch,
        length: 1,
        fragments: 1,
        retransmission: false,
      },
    });
    for (const early of this.record.activatePendingRead()) this.handleRecord(early);
  }

  private handleHandshakeRecord(rec: OpenedRecord): void {
    let fragments: HandshakeFragment[];
    try {
      fragments = parseHandshakeFragments(rec.data);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      this.stats.recordsDropped++;
      return;
    }
    for (const f of fragments) {
      const renegotiation =
        rec.epoch > 0 &&
        (f.msgType === HandshakeType.hello_request || f.msgType === HandshakeType.client_hello);
      // After the handshake a new one starts again at message_seq 0 (RFC 6347 §4.2.2), so a
      // renegotiation attempt is told apart by type, not by number.
      if (this.phase !== 'handshaking' && (renegotiation || f.messageSeq >= this.reassembler.expectedSeq)) {
        this.handlePostHandshakeMessage(f, rec.epoch);
        continue;
      }
      const verdict = this.reassembler.add(f, rec.epoch);
      if (verdict === 'old') this.onStaleFragment(f);
      else if (verdict !== 'accepted') this.stats.fragmentsDropped++;
    }
    this.processMessages();
  }

  private processMessages(): void {
    while (!this.deferred && this.phase === 'handshaking') {
      const msg = this.reassembler.poll();
      if (!msg) break;
      this.trace(
        'received',
        msg.msgType,
        msg.messageSeq,
        msg.epoch,
        msg.body.length,
        msg.fragments ?? 1,
        false,
      );
      this.role.handleMessage(msg);
    }
  }

  /** Continue after deferred work: a ChangeCipherSpec that waited, then any messages that did. */
  private resumeHandshake(): void {
    if (this.changeCipherSpecWaiting) {
      this.changeCipherSpecWaiting = false;
      this.handleChangeCipherSpec({
        type: ContentType.change_cipher_spec,
        epoch: 0,
        seq: 0,
        data: Buffer.from([1]),
      });
    }
    this.processMessages();
  }

  /**
   * A fragment of a message we already processed means the peer did not hear our answer and resent
   * its flight: resend ours (RFC 6347 §4.2.4). Only the end of the peer's last message triggers it,
   * so one resent flight of theirs causes one of ours.
   */
  private onStaleFragment(f: HandshakeFragment): void {
    if (!this.lastFlight) return;
    // Only the message our flight answered counts: a resent copy of a *later* flight we are still
    // completing (say its ServerHello) says nothing about ours being lost.
    if (f.messageSeq !== this.answeredSeq) return;
    if (f.fragmentOffset + f.fragmentLength !== f.length) return;
    // Copies of the peer's flight already in the network when we answered it are not a sign that our
    // answer was lost; only a resend that comes after a while is (its timer is at least initialMs).
    if (this.now - this.lastFlightSentAt < this.config.retransmitPolicy.initialMs / 4) return;
    this.stats.retransmissions++;
    this.transmitLastFlight(true);
  }

  /**
   * New handshake messages after the handshake: a renegotiation attempt (HelloRequest from a server,
   * ClientHello from a client). We never renegotiate; RFC 5746 §4.2 / RFC 5246 §7.2.2 let us decline
   * with a no_renegotiation warning and keep the connection.
   */
  private handlePostHandshakeMessage(f: HandshakeFragment, epoch: number): void {
    if (epoch === 0) {
      // Unauthenticated: a rebooted peer's fresh ClientHello goes through the server endpoint's cookie
      // exchange (RFC 6347 §4.2.8); here it is only dropped.
      this.stats.fragmentsDropped++;
      return;
    }
    if (f.fragmentOffset !== 0) return;
    if (f.msgType === HandshakeType.hello_request || f.msgType === HandshakeType.client_hello) {
      this.sendAlert(AlertLevel.warning, AlertDescription.no_renegotiation);
    } else {
      this.stats.fragmentsDropped++;
    }
  }

  private handleAlert(rec: OpenedRecord): void {
    let alert: { level: number; description: number };
    try {
      alert = decodeAlert(rec.data);
    } catch (e) {
      if (!(e instanceof DecodeError)) throw e;
      this.stats.recordsDropped++;
      return;
    }
    // Once keys are in use, an unprotected alert could be forged by anyone on the path: ignore it.
    if (rec.epoch < this.record.readEpoch) {
      this.stats.recordsDropped++;
      return;
    }
    if (alert.description === AlertDescription.close_notify) {
      // RFC 5246 §7.2.1: answer close_notify with close_notify and discard pending writes.
      this.sendAlert(AlertLevel.warning, AlertDescription.close_notify);
      this.finish('closed');
      this.events.push({ type: 'closed', byPeer: true });
      return;
    }
    if (alert.level === AlertLevel.fatal || this.phase === 'handshaking') {
      // During the handshake any alert but close_notify ends it (we cannot continue past a warning
      // such as no_certificate or a declined renegotiation either).
      if (alert.level !== AlertLevel.fatal && alert.description === AlertDescription.no_renegotiation) return;
      this.finish('failed');
      this.events.push({ type: 'failed', error: DtlsError.fromAlert(alert.description, true) });
      return;
    }
    this.events.push({ type: 'alert', level: 'warning', description: alertName(alert.description) });
  }

  private transmitLastFlight(retransmission: boolean): void {
    const lf = this.lastFlight;
    if (!lf) return;
    const entries = 'entries' in lf ? lf.entries : unpackFlight(lf.packed);
    const datagrams = flightToDatagrams(entries, this.record, this.config.mtu);
    this.lastFlightSentAt = this.now;
    for (const e of entries) {
      if (e.kind === 'ccs') {
        this.emit({
          type: 'handshake',
          trace: {
            direction: 'sent',
            message: 'change_cipher_spec',
            epoch: e.epoch,
            length: 1,
            fragments: 1,
            retransmission,
            flight: lf.flight,
          },
        });
      } else {
        const room = this.config.mtu - this.record.overhead(e.epoch) - HANDSHAKE_HEADER_LENGTH;
        const fragments = Math.max(1, Math.ceil(e.body.length / Math.max(1, room)));
        this.trace(
          'sent',
          e.msgType,
          e.messageSeq,
          e.epoch,
          e.body.length,
          fragments,
          retransmission,
          lf.flight,
        );
      }
    }
    this.outbox.push(...datagrams);
  }

  private trace(
    direction: 'sent' | 'received',
    msgType: number,
    messageSeq: number,
    epoch: number,
    length: number,
    fragments: number,
    retransmission: boolean,
    flight?: number,
  ): void {
    this.events.push({
      type: 'handshake',
      trace: {
        direction,
        message: handshakeTypeName(msgType),
        messageSeq,
        epoch,
        length,
        fragments,
        retransmission,
        flight,
      },
    });
  }

  private sendAlert(level: number, description: number): void {
    try {
      this.outbox.push(this.record.seal(ContentType.alert, encodeAlert({ level, description })));
    } catch {
      // Sequence numbers exhausted: nothing more can be sent, and the connection is ending anyway.
    }
  }

  /** Run handshake work; a HandshakeFailure becomes a fatal alert and a `failed` event. */
  private guard(f: () => void): void {
    try {
      f();
    } catch (e) {
      if (e instanceof HandshakeFailure) {
        this.failWithAlert(e.alert, e.message);
        return;
      }
      if (e instanceof DtlsError) {
        this.failLocally(e.code, e.message);
        return;
      }
      // A bug of ours must not escape as an uncaught exception into the caller's event loop.
      this.failWithAlert(
        'internal_error',
        e instanceof Error ? `internal error: ${e.message}` : 'internal error',
      );
    }
  }

  private failWithAlert(alert: AlertName, message: string): void {
    if (this.phase === 'failed' || this.phase === 'closed') return;
    this.sendAlert(AlertLevel.fatal, AlertDescription[alert]);
    this.finish('failed');
    this.events.push({ type: 'failed', error: new DtlsError(alert, message, { alertSent: true }) });
  }

  private failLocally(code: string, message: string): void {
    if (this.phase === 'failed' || this.phase === 'closed') return;
    this.finish('failed');
    this.events.push({ type: 'failed', error: new DtlsError(code, message) });
  }

  private finish(phase: 'failed' | 'closed'): void {
    this.phase = phase;
    this.timer.stop();
    this.lastFlight = undefined;
    this.reassembler.clear();
  }
}
