import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { EventEmitter } from 'node:events';
import { isIPv4 } from 'node:net';
import { fingerprint as certificateFingerprint } from '../cert/fingerprint.js';
import { loadCertificate } from '../cert/generate.js';
import type { ConnectionInfo } from '../engine/events.js';
import { DtlsError } from '../errors.js';
import type { SrtpKeys } from '../handshake/srtp.js';
import { DecodeError } from '../wire/errors.js';
import { classifyDatagram } from './demux.js';
import {
  decodeStunMessage,
  encodeStunMessage,
  encodeXorMappedAddress,
  findStunAttribute,
  StunAttribute,
  StunMessageType,
  type TransportAddress,
  verifyFingerprint,
  verifyMessageIntegrity,
} from './stun.js';
import { DtlsTransport, type DtlsTransportOptions } from './transport.js';

export interface IceLiteCredentials {
  /** Our a=ice-ufrag. */
  localUfrag: string;
  /** Our a=ice-pwd: the short-term key of MESSAGE-INTEGRITY on checks sent to us (RFC 8445 §7.2.2). */
  localPassword: string;
  /** The peer's a=ice-ufrag; when known, USERNAME must be exactly `localUfrag:remoteUfrag`. */
  remoteUfrag?: string;
}

/** A connectivity check we accepted and answered. */
export interface BindingRequestInfo {
  from: TransportAddress;
  username: string;
  /** RFC 8445 §7.1.2: the controlling agent nominates the pair it will use. */
  useCandidate: boolean;
  priority: number | undefined;
  controlling: boolean;
}

export type BindingVerdict =
  | { kind: 'answered'; response: Buffer; request: BindingRequestInfo }
  | { kind: 'ignored'; reason: string };

/** RFC 8445 §5.3 / RFC 8839 §5.4: ice-char = ALPHA / DIGIT / "+" / "/". */
function randomIceString(length: number): string {
  return randomBytes(length).toString('base64').replace(/=/g, '').slice(0, length);
}

/** Fresh ICE credentials: a 4-character ufrag is the minimum, 22 characters of password give 128 bits. */
export function generateIceCredentials(): { ufrag: string; pwd: string } {
  return { ufrag: randomIceString(8), pwd: randomIceString(24) };
}

/**
 * The STUN side of an ICE-lite agent (RFC 8445 §2.5): it never sends checks, only answers the full
 * agent's Binding requests (including consent freshness checks, RFC 7675) with a Success Response that
 * carries XOR-MAPPED-ADDRESS, MESSAGE-INTEGRITY and FINGERPRINT (RFC 8445 §7.3). Anything that is not an
 * authenticated Binding request for our ufrag is ignored: no error responses that an attacker could
 * use to probe or reflect.
 */
export class IceLiteResponder {
  constructor(readonly credentials: IceLiteCredentials) {}

  handle(datagram: Uint8Array, from: TransportAddress): BindingVerdict {
    let msg: ReturnType<typeof decodeStunMessage>;
    try {
      msg = decodeStunMessage(datagram);
    } catch (e) {
      if (e instanceof DecodeError) return { kind: 'ignored', reason: `malformed: ${e.message}` };
      throw e;
    }
    if (msg.type !== StunMessageType.bindingRequest)
      return { kind: 'ignored', reason: 'not a Binding request' };
    // RFC 8445 §7.2.2: ICE checks carry FINGERPRINT; checking it first is cheap and rejects non-STUN.
    if (!verifyFingerprint(msg)) return { kind: 'ignored', reason: 'bad or missing FINGERPRINT' };
    const usernameAttr = findStunAttribute(msg, StunAttribute.USERNAME);
    if (!usernameAttr) return { kind: 'ignored', reason: 'no USERNAME' };
    const username = usernameAttr.value.toString('utf8');
    const [ours, theirs] = splitUsername(username);
    const { localUfrag, localPassword, remoteUfrag } = this.credentials;
    // RFC 8445 §7.3: the part before the colon is our ufrag (the check is addressed to us).
    if (ours !== localUfrag)
      return { kind: 'ignored', reason: `USERNAME ${username} is not for ${localUfrag}` };
    if (remoteUfrag !== undefined && theirs !== remoteUfrag) {
      return { kind: 'ignored', reason: `USERNAME ${username} is not from ${remoteUfrag}` };
    }
    if (!verifyMessageIntegrity(msg, localPassword))
      return { kind: 'ignored', reason: 'bad MESSAGE-INTEGRITY' };
    const priority = findStunAttribute(msg, StunAttribute.PRIORITY);
    const request: BindingRequestInfo = {
      from,
      username,
      useCandidate: findStunAttribute(msg, StunAttribute.USE_CANDIDATE) !== undefined,
      priority: priority?.value.length === 4 ? priority.value.readUInt32BE(0) : undefined,
      controlling: findStunAttribute(msg, StunAttribute.ICE_CONTROLLING) !== undefined,
    };
    // RFC 8489 §6.3.3 / RFC 8445 §7.3.1.2: reflect the source transport address; integrity with the
    // same short-term key as the request.
    const response = encodeStunMessage(
      StunMessageType.bindingSuccess,
      msg.transactionId,
      [{ type: StunAttribute.XOR_MAPPED_ADDRESS, value: encodeXorMappedAddress(from, msg.transactionId) }],
      { integrityKey: localPassword, fingerprint: true },
    );
    return { kind: 'answered', response, request };
  }
}

function splitUsername(username: string): [string, string] {
  const i = username.indexOf(':');
  return i < 0 ? [username, ''] : [username.slice(0, i), username.slice(i + 1)];
}

/** Loopback only, by default: this endpoint is for talking to a local browser. */
export function isLoopbackAddress(address: string): boolean {
  if (isIPv4(address)) return address.startsWith('127.');
  return address === '::1' || address.startsWith('::ffff:127.');
}

export interface WebRtcDtlsEndpointOptions extends Omit<DtlsTransportOptions, 'send'> {
  /** Local address to bind (default 127.0.0.1). */
  host?: string;
  /** Local UDP port (default: any free one). */
  port?: number;
  /** Our ICE credentials (default: fresh random ones). */
  localUfrag?: string;
  localPassword?: string;
  /** The browser's ICE ufrag from its SDP, to check USERNAME exactly. */
  remoteUfrag?: string;
  /** Which source addresses may talk to us (default: loopback only). */
  acceptAddress?: (address: string) => boolean;
}

/**
 * A WebRTC peer endpoint for one browser connection: one UDP socket, demultiplexed per RFC 7983 §7 —
 * STUN goes to the ICE-lite responder, DTLS to a DtlsTransport, RTP/RTCP out as an `rtp` event.
 *
 * The DTLS peer is the address that passed an authenticated ICE check (RFC 8445 §7.3): DTLS from
 * anywhere else is dropped, and a DTLS client starts its handshake after the first such check.
 *
 * Events: `binding` (BindingRequestInfo), `connected` (ConnectionInfo), `message` (Buffer), `rtp`
 * (Buffer, TransportAddress), `close` (), `error` (DtlsError), `engine-event` (DtlsEvent), `dropped`
 * (reason string, for diagnostics).
 */
export class WebRtcDtlsEndpoint extends EventEmitter {
  readonly transport: DtlsTransport;
  readonly responder: IceLiteResponder;
  readonly localUfrag: string;
  readonly localPassword: string;
  /** Our certificate fingerprint for a=fingerprint (sha-256). */
  readonly fingerprint: string;
  private readonly socket: dgram.Socket;
  private readonly acceptAddress: (address: string) => boolean;
  private readonly bindHost: string;
  private readonly bindPort: number;
  private remote: TransportAddress | undefined;
  private closed = false;

  constructor(options: WebRtcDtlsEndpointOptions) {
    super();
    const generated = generateIceCredentials();
    this.localUfrag = options.localUfrag ?? generated.ufrag;
    this.localPassword = options.localPassword ?? generated.pwd;
    this.responder = new IceLiteResponder({
      localUfrag: this.localUfrag,
      localPassword: this.localPassword,
      remoteUfrag: options.remoteUfrag,
    });
    this.acceptAddress = options.acceptAddress ?? isLoopbackAddress;
    this.bindHost = options.host ?? '127.0.0.1';
    this.bindPort = options.port ?? 0;
    const {
      host: _h,
      port: _p,
      localUfrag: _u,
      localPassword: _w,
      remoteUfrag: _r,
      acceptAddress: _a,
      ...dtls
    } = options;
    this.transport = new DtlsTransport({ ...dtls, send: (d) => this.sendToPeer(d) });
    const leaf =
      options.identity?.certificateChain[0] ??
      (options.cert ? loadCertificate(options.cert)[0]?.raw : undefined);
    if (!leaf)
      throw new DtlsError('invalid_argument', 'WebRTC DTLS needs our certificate (identity or cert/key)');
    this.fingerprint = certificateFingerprint(leaf, 'sha-256');
    this.socket = dgram.createSocket(this.bindHost.includes(':') ? 'udp6' : 'udp4');
    this.socket.on('message', (msg, rinfo) =>
      this.onDatagram(msg, { address: rinfo.address, port: rinfo.port }),
    );
    this.socket.on('error', (err) => this.emit('dropped', `socket error: ${err.message}`));
    this.transport.on('connected', (info: ConnectionInfo) => this.emit('connected', info));
    this.transport.on('message', (data: Buffer) => this.emit('message', data));
    this.transport.on('engine-event', (e) => this.emit('engine-event', e));
    this.transport.on('error', (err: DtlsError) => this.emit('error', err));
    this.transport.on('close', () => this.emit('close'));
  }

  /** Bind the UDP socket; resolves with the port to put in the SDP candidate. */
  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.socket.once('error', reject);
      this.socket.bind({ address: this.bindHost, port: this.bindPort }, () => {
        this.socket.off('error', reject);
        resolve();
      });
    });
    return this.port;
  }

  get port(): number {
    return this.socket.address().port;
  }

  get address(): string {
    return this.bindHost;
  }

  /** The peer address selected by ICE (the last nominated one, else the first that passed a check). */
  get remoteAddress(): TransportAddress | undefined {
    return this.remote;
  }

  send(data: string | Uint8Array): void {
    this.transport.send(data);
  }

  /** Send a raw datagram (e.g. SRTP) to the selected peer, bypassing DTLS. */
  sendRaw(datagram: Uint8Array): void {
    if (!this.remote) throw new DtlsError('not_connected', 'no ICE peer yet');
    this.socket.send(datagram, this.remote.port, this.remote.address);
  }

  exportKeyingMaterial(label: string, length: number, context?: Uint8Array): Buffer {
    return this.transport.exportKeyingMaterial(label, length, context);
  }

  getSrtpKeys(): SrtpKeys {
    return this.transport.getSrtpKeys();
  }

  /** close_notify to the peer, then the socket closes. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.transport.close();
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }

  private sendToPeer(datagram: Buffer): void {
    if (this.closed || !this.remote) return;
    this.socket.send(datagram, this.remote.port, this.remote.address);
  }

  private onDatagram(datagram: Buffer, from: TransportAddress): void {
    if (!this.acceptAddress(from.address)) {
      this.emit('dropped', `datagram from ${from.address} refused by acceptAddress`);
      return;
    }
    switch (classifyDatagram(datagram)) {
      case 'stun': {
        const verdict = this.responder.handle(datagram, from);
        if (verdict.kind === 'ignored') {
          this.emit('dropped', `STUN from ${from.address}:${from.port}: ${verdict.reason}`);
          return;
        }
        this.socket.send(verdict.response, from.port, from.address);
        // RFC 8445 §7.3.1.5: a lite agent takes the pair the controlling agent nominates.
        if (!this.remote || verdict.request.useCandidate) this.remote = from;
        this.emit('binding', verdict.request);
        if (this.transport.role === 'client') this.transport.start();
        return;
      }
      case 'dtls':
        if (!this.remote || this.remote.address !== from.address || this.remote.port !== from.port) {
          this.emit('dropped', `DTLS from ${from.address}:${from.port}, which passed no ICE check`);
          return;
        }
        this.transport.handleDatagram(datagram);
        return;
      case 'rtp':
        this.emit('rtp', datagram, from);
        return;
      default:
        this.emit('dropped', `unclassified datagram (first byte ${datagram[0]})`);
    }
  }
}
