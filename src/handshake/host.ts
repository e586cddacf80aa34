import type { X509Certificate } from 'node:crypto';
import type { CipherSuite } from '../crypto/suites.js';
import type { ResolvedConfig } from '../engine/config.js';
import type { ConnectionInfo, DtlsEvent } from '../engine/events.js';
import { HandshakeFailure } from '../errors.js';
import type { RecordLayer } from '../record/record-layer.js';
import { HandshakeType, handshakeTypeName } from '../wire/constants.js';
import { DecodeError } from '../wire/errors.js';
import type { HandshakeMessage } from './reassembler.js';
import { srtpProfileById } from './srtp.js';
import type { Transcript } from './transcript.js';

/** What both roles agree on by the end of the handshake (RFC 5246 §A.6 SecurityParameters). */
export interface Negotiated {
  suite: CipherSuite;
  clientRandom: Buffer;
  serverRandom: Buffer;
  sessionId: Buffer;
  masterSecret: Buffer;
  extendedMasterSecret: boolean;
  group?: string;
  signatureScheme?: string;
  peerCertificate?: X509Certificate;
  pskIdentity?: Buffer;
  srtpProfile?: number;
  srtpMki?: Buffer;
  alpnProtocol?: string;
}

/**
 * The services the connection gives a handshake state machine. The state machines decide what to send;
 * the connection owns message_seq numbering, the transcript, fragmentation, epochs and timers.
 */
export interface HandshakeHost {
  readonly config: ResolvedConfig;
  readonly record: RecordLayer;
  readonly transcript: Transcript;
  /** Add a handshake message to the flight being built (numbered, and hashed unless told not to). */
  queueMessage(msgType: number, body: Buffer, opts?: { transcript?: boolean }): void;
  /** Add a ChangeCipherSpec; messages queued after it go out in the next epoch (RFC 5246 §7.1). */
  queueChangeCipherSpec(): void;
  /** Send the queued flight; `final` flights have no timer (RFC 6347 §4.2.4). */
  sendFlight(flight: number, final: boolean): void;
  /** Derive the key block and install the next epoch's write keys and pending read keys. */
  installKeys(n: Negotiated): void;
  /** The handshake is complete and the peer authenticated: report it, free what only the handshake needed. */
  established(info: ConnectionInfo): void;
  /**
   * Pause the handshake until `work` settles (an asynchronous PSK lookup), then run `resume` with its
   * value. Messages and a ChangeCipherSpec that arrive meanwhile wait.
   */
  defer<T>(work: Promise<T>, resume: (value: T) => void): void;
  emit(e: DtlsEvent): void;
}

/** A handshake role (client or server): consumes whole messages in order, drives the host. */
export interface HandshakeRole {
  handleMessage(msg: HandshakeMessage): void;
  /** True when a ChangeCipherSpec is legal now: all messages before it are in (RFC 5246 §7.4.9). */
  expectsChangeCipherSpec(): boolean;
  handleChangeCipherSpec(): void;
  readonly done: boolean;
  readonly negotiated: Negotiated | undefined;
}

/** What the connection reports once established, from what the handshake negotiated. */
export function connectionInfoOf(n: Negotiated, resumed: boolean): ConnectionInfo {
  const info: ConnectionInfo = {
    protocol: 'DTLSv1.2',
    cipherSuite: n.suite.name,
    cipherSuiteId: n.suite.id,
    extendedMasterSecret: n.extendedMasterSecret,
    resumed,
  };
  // Only what applies: an idle connection keeps this object for its lifetime.
  if (n.group) info.group = n.group;
  if (n.signatureScheme) info.signatureScheme = n.signatureScheme;
  if (n.peerCertificate) info.peerCertificate = n.peerCertificate;
  if (n.pskIdentity) info.pskIdentity = n.pskIdentity.toString('utf8');
  const srtp = n.srtpProfile === undefined ? undefined : srtpProfileById(n.srtpProfile)?.name;
  if (srtp) info.srtpProfile = srtp;
  if (n.alpnProtocol) info.alpnProtocol = n.alpnProtocol;
  return info;
}

/** Run a decoder, turning a DecodeError into the decode_error alert (RFC 5246 §7.2.2). */
export function decodeOrFail<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof DecodeError)
      throw new HandshakeFailure('decode_error', `malformed ${what}: ${e.message}`);
    throw e;
  }
}

/**
 * The one message a state accepts, in the right epoch: everything before Finished travels in epoch 0,
 * and Finished must come under the new keys (RFC 5246 §7.4.9: a Finished without a preceding
 * ChangeCipherSpec is an unexpected message). Anything else ends the handshake with unexpected_message.
 */
export function expectMessage(msg: HandshakeMessage, type: number, state: string, readEpoch: number): void {
  if (msg.msgType !== type) {
    throw new HandshakeFailure(
      'unexpected_message',
      `expected ${handshakeTypeName(type)}, got ${handshakeTypeName(msg.msgType)} (state ${state})`,
    );
  }
  const finished = type === HandshakeType.finished;
  if (finished ? msg.epoch === 0 || msg.epoch !== readEpoch : msg.epoch !== 0) {
    throw new HandshakeFailure('unexpected_message', `${handshakeTypeName(type)} in epoch ${msg.epoch}`);
  }
}
