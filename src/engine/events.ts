import type { X509Certificate } from 'node:crypto';
import type { DtlsError } from '../errors.js';
import type { ClientSession } from './resumption.js';

/** What a connection reports about itself once the handshake is done. */
export interface ConnectionInfo {
  protocol: 'DTLSv1.2';
  cipherSuite: string;
  cipherSuiteId: number;
  /** Named group of the ECDHE exchange, absent for plain PSK. */
  group?: string;
  /** Signature scheme the server signed ServerKeyExchange with, for certificate suites. */
  signatureScheme?: string;
  extendedMasterSecret: boolean;
  resumed: boolean;
  /** The peer's leaf certificate, when it sent one (already verified inside the handshake). */
  peerCertificate?: X509Certificate;
  /** The PSK identity used, for PSK suites. */
  pskIdentity?: string;
  srtpProfile?: string;
  alpnProtocol?: string;
}

/** Handshake message as it passed, for tracing and the demo's ladder. */
export interface HandshakeTrace {
  direction: 'sent' | 'received';
  /** Name of the message (client_hello …) or change_cipher_spec. */
  message: string;
  messageSeq?: number;
  epoch: number;
  length: number;
  /** Number of records it took (sent) — more than one means it was fragmented to the MTU. */
  fragments: number;
  retransmission: boolean;
  flight?: number;
}

/**
 * Outputs of the sans-IO engine, taken with pollEvent(). `failed` and `closed` are final: nothing more
 * comes after them but datagrams already queued (the fatal alert or close_notify).
 */
export type DtlsEvent =
  | { type: 'connected'; info: ConnectionInfo }
  | { type: 'data'; data: Buffer }
  | { type: 'alert'; level: 'warning'; description: string }
  | { type: 'closed'; byPeer: boolean }
  | { type: 'failed'; error: DtlsError }
  | { type: 'keylog'; line: string }
  /** Client: a session that a later connect({ session }) can resume (after a full handshake, or a renewed ticket). */
  | { type: 'session'; session: ClientSession }
  | { type: 'handshake'; trace: HandshakeTrace };
