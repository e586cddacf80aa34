/**
 * Turns a packet capture into DTLS flows for the `tsdtls trace` tool: which datagrams belong to which
 * association, who is the client, which records and handshake messages each datagram carries, which
 * are fragments or retransmissions, and the fields people learn DTLS by (randoms, cookie, suites,
 * extensions, key exchange, certificates, PSK identity and hint, alerts). With an NSS key log it also
 * decrypts epoch-1 records, so the Finished messages and the application data become visible.
 *
 * The output is plain data (strings, numbers, arrays): the same structure feeds the terminal ladder, the
 * HTML diagram and `--json`. Decoding never throws on hostile bytes: what cannot be parsed is described
 * in a `note` instead.
 */

import { X509Certificate } from 'node:crypto';
import { createRecordCipher, type RecordCipher } from '../crypto/aead.js';
import { expandKeys } from '../crypto/prf.js';
import { type CipherSuite, suiteById } from '../crypto/suites.js';
import { alertName } from '../wire/alert.js';
import { decodeCertificate } from '../wire/certificate.js';
import { decodeCertificateRequest } from '../wire/certificate-request.js';
import { decodeCertificateVerify } from '../wire/certificate-verify.js';
import { decodeClientHello } from '../wire/client-hello.js';
import {
  decodeEcdheClientKeyExchange,
  decodeEcdhePskClientKeyExchange,
  decodePskClientKeyExchange,
} from '../wire/client-key-exchange.js';
import {
  ContentType,
  ExtensionType,
  extensionTypeName,
  HandshakeType,
  handshakeTypeName,
  NamedGroup,
  signatureSchemeName,
  TLS_EMPTY_RENEGOTIATION_INFO_SCSV,
  TLS_FALLBACK_SCSV,
} from '../wire/constants.js';
import {
  decodeAlpn,
  decodeEcPointFormats,
  decodeRenegotiationInfo,
  decodeServerNameList,
  decodeSignatureAlgorithms,
  decodeSupportedGroups,
  decodeSupportedVersionsClient,
  decodeSupportedVersionsServer,
  decodeUseSrtp,
  type Extension,
} from '../wire/extensions.js';
import { decodeFinished } from '../wire/finished.js';
import { type HandshakeFragment, parseHandshakeFragments } from '../wire/handshake-header.js';
import { decodeHelloVerifyRequest } from '../wire/hello-verify-request.js';
import { decodeNewSessionTicket } from '../wire/new-session-ticket.js';
import { Reader } from '../wire/reader.js';
import { parseDatagram, type RawRecord } from '../wire/record.js';
import { decodeServerHello } from '../wire/server-hello.js';
import {
  decodeEcdhePskServerKeyExchange,
  decodeEcdheServerKeyExchange,
  decodePskServerKeyExchange,
} from '../wire/server-key-exchange.js';
import { type CaptureScan, scanCapture, type UdpPacket } from './pcap.js';

// ---------------------------------------------------------------------------------------------------
// Output model

export interface Endpoint {
  address: string;
  port: number;
}

export type Side = 'client' | 'server';

/** A decoded field value: text, a number, or a list of texts (one line each when drawn). */
export type FieldValue = string | number | boolean | string[];

/** One handshake fragment as seen on the wire (RFC 6347 §4.2.2). */
export interface TraceHandshake {
  type: number;
  name: string;
  /** Length of the whole message body. */
  length: number;
  messageSeq: number;
  fragmentOffset: number;
  fragmentLength: number;
  /** This fragment is not the whole message. */
  fragmented: boolean;
  /** Every byte of this fragment had already been received from the same side (RFC 6347 §4.2.4). */
  retransmission: boolean;
  /** This fragment completed the message (the first time), so `fields` were decoded from it. */
  completed: boolean;
  fields?: Record<string, FieldValue>;
  /** Why the completed message could not be decoded. */
  decodeError?: string;
}

export interface TraceAlert {
  level: string;
  description: number;
  name: string;
}

export interface TraceApplicationData {
  length: number;
  /** The plaintext when it is printable text. */
  text?: string;
  /** The plaintext as hex otherwise. */
  hex?: string;
}

export interface TraceRecord {
  contentType: number;
  contentTypeName: string;
  version: string;
  epoch: number;
  sequenceNumber: number;
  /** Record fragment length (ciphertext length when encrypted). */
  length: number;
  /** Protected record (epoch > 0, RFC 6347 §4.1). */
  encrypted: boolean;
  /** Decrypted with a key from the key log. */
  decrypted: boolean;
  handshake: TraceHandshake[];
  changeCipherSpec?: boolean;
  alert?: TraceAlert;
  applicationData?: TraceApplicationData;
  /** Anything worth telling that is not a field: no key, decryption failed, malformed content. */
  note?: string;
}

export interface TraceDatagram {
  /** Position of the datagram in its flow, from 1. */
  index: number;
  /** Seconds since the flow's first datagram. */
  time: number;
  from: Side;
  /** UDP payload bytes. */
  size: number;
  /** Flight number, from 1 (a flight = consecutive datagrams from one side). */
  flight: number;
  records: TraceRecord[];
  /** Trailing bytes that did not form a record. */
  malformed?: string;
}

export interface TraceFlight {
  number: number;
  from: Side;
  /** Indexes (TraceDatagram.index) of its datagrams. */
  datagrams: number[];
  /** Handshake message names in the flight, in order (retransmitted fragments included). */
  messages: string[];
  retransmission: boolean;
}

export interface FlowSummary {
  version?: string;
  cipherSuite?: string;
  offeredSuites?: number;
  cookieExchange: boolean;
  cookie?: string;
  clientRandom?: string;
  serverRandom?: string;
  sessionId?: string;
  group?: string;
  serverCertificate?: string;
  serverFingerprint?: string;
  pskIdentity?: string;
  pskIdentityHint?: string;
  alerts: string[];
  retransmissions: number;
  fragments: number;
  applicationRecords: number;
  /** 'not requested' (no key log), 'decrypted', or why epoch 1 could not be read. */
  decryption: string;
}

export interface TraceFlow {
  /** From 1, in order of the flows' first datagram. */
  id: number;
  client: Endpoint;
  server: Endpoint;
  /** False when no ClientHello was seen and the first sender was taken as the client. */
  clientIdentified: boolean;
  /** Capture time (seconds since the epoch) of the first datagram; NaN if the capture has none. */
  startTime: number;
  duration: number;
  datagrams: TraceDatagram[];
  flights: TraceFlight[];
  summary: FlowSummary;
}

export interface CaptureTrace {
  format: 'pcap' | 'pcapng';
  udpDatagrams: number;
  /** Captured packets that were not complete UDP datagrams. */
  skippedPackets: number;
  /** UDP datagrams that did not parse as DTLS (STUN, RTP, DNS, ...). */
  otherDatagrams: number;
  flows: TraceFlow[];
}

export interface TraceOptions {
  /** Keep only flows with this UDP port on either side. */
  port?: number;
  /** Master secrets by client random (hex, lowercase), from parseKeylog. */
  keylog?: Map<string, Buffer>;
}

export class TraceError extends Error {
  override name = 'TraceError';
}

// ---------------------------------------------------------------------------------------------------
// Names

const CONTENT_TYPE_NAMES: Record<number, string> = {
  [ContentType.change_cipher_spec]: 'ChangeCipherSpec',
  [ContentType.alert]: 'Alert',
  [ContentType.handshake]: 'Handshake',
  [ContentType.application_data]: 'ApplicationData',
  24: 'Heartbeat',
  25: 'tls12_cid',
  [ContentType.ack]: 'Ack',
};

const HANDSHAKE_NAMES: Record<number, string> = {
  [HandshakeType.hello_request]: 'HelloRequest',
  [HandshakeType.client_hello]: 'ClientHello',
  [HandshakeType.server_hello]: 'ServerHello',
  [HandshakeType.hello_verify_request]: 'HelloVerifyRequest',
  [HandshakeType.new_session_ticket]: 'NewSessionTicket',
  [HandshakeType.certificate]: 'Certificate',
  [HandshakeType.server_key_exchange]: 'ServerKeyExchange',
  [HandshakeType.certificate_request]: 'CertificateRequest',
  [HandshakeType.server_hello_done]: 'ServerHelloDone',
  [HandshakeType.certificate_verify]: 'CertificateVerify',
  [HandshakeType.client_key_exchange]: 'ClientKeyExchange',
  [HandshakeType.finished]: 'Finished',
};

export function handshakeName(type: number): string {
  return HANDSHAKE_NAMES[type] ?? handshakeTypeName(type);
}

export function versionName(v: number): string {
  const names: Record<number, string> = {
    65279: 'DTLS 1.0',
    65277: 'DTLS 1.2',
    65276: 'DTLS 1.3',
    771: 'TLS 1.2',
    772: 'TLS 1.3',
  };
  return `${names[v] ?? 'unknown'} (${hex16(v)})`;
}

function hex16(v: number): string {
  return `0x${v.toString(16).padStart(4, '0')}`;
}

/** GREASE values (RFC 8701 §2): 0x0A0A, 0x1A1A, ... 0xFAFA. */
function isGrease(v: number): boolean {
  return (v & 0x0f0f) === 0x0a0a && v >> 8 === (v & 0xff);
}

export function cipherSuiteName(id: number): string {
  const suite = suiteById(id);
  if (suite) return suite.name;
  if (id === TLS_EMPTY_RENEGOTIATION_INFO_SCSV) return 'TLS_EMPTY_RENEGOTIATION_INFO_SCSV';
  if (id === TLS_FALLBACK_SCSV) return 'TLS_FALLBACK_SCSV';
  if (isGrease(id)) return `GREASE ${hex16(id)}`;
  return hex16(id);
}

/** `NAME (0xNNNN)`, or just the hex when there is no name. */
function suiteLabel(id: number): string {
  const name = cipherSuiteName(id);
  return name === hex16(id) ? name : `${name} (${hex16(id)})`;
}

const EXTRA_GROUPS: Record<number, string> = { 256: 'ffdhe2048', 257: 'ffdhe3072', 258: 'ffdhe4096' };

export function groupName(v: number): string {
  for (const [k, c] of Object.entries(NamedGroup)) if (c === v) return k;
  if (EXTRA_GROUPS[v]) return EXTRA_GROUPS[v]!;
  if (isGrease(v)) return `GREASE ${hex16(v)}`;
  return hex16(v);
}

// Signature schemes not in src/wire/constants.ts that real peers offer (RFC 8446 §4.2.3).
const EXTRA_SCHEMES: Record<number, string> = {
  513: 'rsa_pkcs1_sha1',
  515: 'ecdsa_sha1',
  1537: 'rsa_pkcs1_sha512',
  1539: 'ecdsa_secp521r1_sha512',
  2054: 'rsa_pss_rsae_sha512',
  2056: 'ed448',
  2057: 'rsa_pss_pss_sha256',
  2058: 'rsa_pss_pss_sha384',
  2059: 'rsa_pss_pss_sha512',
};

export function schemeName(v: number): string {
  return EXTRA_SCHEMES[v] ?? signatureSchemeName(v);
}

// Extension names outside src/wire/constants.ts, from the IANA TLS ExtensionType registry.
const EXTRA_EXTENSIONS: Record<number, string> = {
  1: 'max_fragment_length',
  5: 'status_request',
  18: 'signed_certificate_timestamp',
  21: 'padding',
  27: 'compress_certificate',
  28: 'record_size_limit',
  53: 'connection_id_deprecated',
  54: 'connection_id',
  17513: 'application_settings',
  65037: 'encrypted_client_hello',
};

export function extensionName(t: number): string {
  const known = extensionTypeName(t);
  if (!known.startsWith('unknown(')) return known;
  if (EXTRA_EXTENSIONS[t]) return EXTRA_EXTENSIONS[t]!;
  if (isGrease(t)) return 'GREASE';
  return `unknown`;
}

/** SRTP protection profiles (RFC 5764 §4.1.2, RFC 7714 §14.2). */
const SRTP_PROFILES: Record<number, string> = {
  1: 'SRTP_AES128_CM_HMAC_SHA1_80',
  2: 'SRTP_AES128_CM_HMAC_SHA1_32',
  5: 'SRTP_NULL_HMAC_SHA1_80',
  6: 'SRTP_NULL_HMAC_SHA1_32',
  7: 'SRTP_AEAD_AES_128_GCM',
  8: 'SRTP_AEAD_AES_256_GCM',
};

/** First and last bytes of a long value: enough to recognise it, short enough for one line. */
export function shortHex(b: Uint8Array, keep = 8): string {
  const h = Buffer.from(b).toString('hex');
  if (b.length <= keep * 2) return h;
  return `${h.slice(0, keep * 2)}…${h.slice(-keep * 2)} (${b.length} bytes)`;
}

function hexOrEmpty(b: Uint8Array): string {
  return b.length === 0 ? '(empty)' : Buffer.from(b).toString('hex');
}

/** Identities and hints are opaque bytes (RFC 4279 §5.1 recommends UTF-8); show text when printable. */
function bytesLabel(b: Uint8Array): string {
  if (b.length === 0) return '(empty)';
  const text = printableText(b);
  return text === undefined ? `0x${Buffer.from(b).toString('hex')}` : JSON.stringify(text);
}

function printableText(b: Uint8Array): string | undefined {
  const text = Buffer.from(b).toString('utf8');
  if (text.includes('\ufffd')) return undefined;
  // Control characters other than tab, newline and carriage return make it binary.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: that is the point of the check
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text)) return undefined;
  return text;
}

// ---------------------------------------------------------------------------------------------------
// Key log (NSS format: https://firefox-source-docs.mozilla.org/security/nss/legacy/key_log_format/)

/**
 * Read `CLIENT_RANDOM <client_random hex> <master_secret hex>` lines; comments, blank lines and TLS 1.3
 * labels are ignored. Throws TraceError when no usable line is found.
 */
export function parseKeylog(text: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const line of text.split(/\r?\n/)) {
    const entry = keylogEntry(line);
    if (entry) out.set(entry.clientRandom, entry.masterSecret);
  }
  if (out.size === 0) throw new TraceError('key log has no CLIENT_RANDOM lines');
  return out;
}

/**
 * One key log line: `CLIENT_RANDOM <client_random hex> <master_secret hex>` gives the client random (hex,
 * lowercase) and the 48-byte master secret (RFC 5246 §8.1); anything else gives undefined.
 */
export function keylogEntry(line: string): { clientRandom: string; masterSecret: Buffer } | undefined {
  const parts = line.trim().split(/\s+/);
  if (parts[0] !== 'CLIENT_RANDOM' || parts.length !== 3) return undefined;
  const [, random, secret] = parts as [string, string, string];
  if (!/^[0-9a-fA-F]{64}$/.test(random) || !/^[0-9a-fA-F]{96}$/.test(secret)) return undefined;
  return { clientRandom: random.toLowerCase(), masterSecret: Buffer.from(secret, 'hex') };
}

// ---------------------------------------------------------------------------------------------------
// Recognising DTLS

const DTLS_CONTENT_TYPES = new Set<number>([20, 21, 22, 23, 24, 25, 26]);

/**
 * A datagram is taken as DTLS when it starts with a well-formed DTLS record: a known content type
 * and a version whose high byte is 0xfe (RFC 6347 §4.1: DTLS versions are 0xfeXX). STUN (first byte
 * 0..3, RFC 7983 §7), RTP/RTCP (128..191) and the rest fail this test.
 */
export function dtlsRecords(payload: Buffer): { records: RawRecord[]; malformed: boolean } | undefined {
  const { records, malformed } = parseDatagram(payload);
  const first = records[0];
  if (first === undefined) return undefined;
  if (!DTLS_CONTENT_TYPES.has(first.type) || first.version >> 8 !== 0xfe) return undefined;
  return { records, malformed: malformed > 0 };
}

function endpointKey(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

// ---------------------------------------------------------------------------------------------------
// Per-flow decoding state

/** Bytes received of one handshake message from one side, for reassembly and retransmission marks. */
interface MessageAssembly {
  body: Buffer | undefined;
  /** Received [start, end) ranges, merged. */
  ranges: [number, number][];
  complete: boolean;
}

/** Largest message body the tracer reassembles; a real handshake message is far smaller. */
const MAX_REASSEMBLY = 1 << 20;

function covered(ranges: [number, number][], start: number, end: number): boolean {
  return ranges.some(([s, e]) => s <= start && e >= end);
}

function addRange(ranges: [number, number][], start: number, end: number): [number, number][] {
  const all = [...ranges, [start, end] as [number, number]].sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const r of all) {
    const last = merged[merged.length - 1];
    if (last && r[0] <= last[1]) last[1] = Math.max(last[1], r[1]);
    else merged.push([r[0], r[1]]);
  }
  return merged;
}

/**
 * The decoding state of one association, fed its datagrams in order: reassembly, retransmission marks,
 * flights, the negotiated suite and randoms, and the record keys once the key log has the master secret.
 * `traceScan` uses it for a whole capture; the live tracer (src/trace/live.ts) one datagram at a time.
 * `keylog` may grow while decoding (the live tracer adds lines as the engine logs them).
 */
export class FlowDecoder {
  private readonly assemblies = new Map<string, MessageAssembly>();
  private readonly ccsSeen = new Set<string>();
  clientRandom: Buffer | undefined;
  serverRandom: Buffer | undefined;
  suiteId: number | undefined;
  private ciphers: { client: RecordCipher; server: RecordCipher } | undefined;
  private keyProblem: string | undefined;
  decryptedRecords = 0;
  failedRecords = 0;
  readonly datagrams: TraceDatagram[] = [];
  readonly flights: TraceFlight[] = [];
  /** Handshake fragments of the last flight, and how many of them were resent. */
  private flightFragments = { all: 0, resent: 0 };
  readonly summary: FlowSummary = {
    cookieExchange: false,
    alerts: [],
    retransmissions: 0,
    fragments: 0,
    applicationRecords: 0,
    decryption: 'not requested',
  };

  constructor(private readonly keylog: Map<string, Buffer> | undefined) {}

  get suite(): CipherSuite | undefined {
    return this.suiteId === undefined ? undefined : suiteById(this.suiteId);
  }

  decodeRecord(rec: RawRecord, from: Side): TraceRecord {
    const out: TraceRecord = {
      contentType: rec.type,
      contentTypeName: CONTENT_TYPE_NAMES[rec.type] ?? `unknown(${rec.type})`,
      version: versionName(rec.version),
      epoch: rec.epoch,
      sequenceNumber: rec.sequenceNumber,
      length: rec.length,
      encrypted: rec.epoch > 0,
      decrypted: false,
      handshake: [],
    };
    let content: Buffer = rec.fragment;
    if (rec.epoch > 0) {
      const plain = this.decrypt(rec, from);
      if (typeof plain === 'string') {
        if (plain !== '') out.note = plain;
        if (rec.type === ContentType.application_data) {
          this.summary.applicationRecords++;
          out.applicationData = { length: rec.length };
        }
        return out;
      }
      content = plain;
      out.decrypted = true;
    }
    try {
      this.decodeContent(rec, content, from, out);
    } catch (e) {
      out.note = `malformed ${out.contentTypeName}: ${(e as Error).message}`;
    }
    return out;
  }

  private decodeContent(rec: RawRecord, content: Buffer, from: Side, out: TraceRecord): void {
    switch (rec.type) {
      case ContentType.handshake:
        for (const f of parseHandshakeFragments(content)) out.handshake.push(this.decodeFragment(f, from));
        break;
      case ContentType.change_cipher_spec: {
        out.changeCipherSpec = true;
        const key = `${from}/${rec.epoch}`;
        // A second CCS from the same side in the same epoch is its flight being resent (RFC 6347 §4.2.4).
        if (this.ccsSeen.has(key)) out.note = 'retransmission';
        this.ccsSeen.add(key);
        break;
      }
      case ContentType.alert: {
        const r = new Reader(content);
        const level = r.u8('alert level');
        const description = r.u8('alert description');
        r.expectEnd('alert');
        const levelName = level === 1 ? 'warning' : level === 2 ? 'fatal' : `level ${level}`;
        out.alert = { level: levelName, description, name: alertName(description) };
        this.summary.alerts.push(`${from} ${levelName} ${alertName(description)}`);
        break;
      }
      case ContentType.application_data: {
        this.summary.applicationRecords++;
        const text = out.decrypted ? printableText(content) : undefined;
        out.applicationData = { length: content.length };
        if (!out.decrypted) break;
        if (text !== undefined) out.applicationData.text = text;
        else out.applicationData.hex = content.toString('hex');
        break;
      }
      default:
        out.note = `${content.length} bytes`;
    }
  }

  /** The plaintext of a protected record, or a string saying why it cannot be read. */
  private decrypt(rec: RawRecord, from: Side): Buffer | string {
    if (this.keylog === undefined) return '';
    if (rec.epoch !== 1) return `encrypted in epoch ${rec.epoch} (only epoch 1 is decrypted)`;
    const ciphers = this.cipherPair();
    if (ciphers === undefined) return `encrypted (${this.keyProblem})`;
    const plain = ciphers[from].open(rec.epoch, rec.sequenceNumber, rec.type, rec.version, rec.fragment);
    if (plain === null) {
      this.failedRecords++;
      return 'decryption failed (wrong key or corrupt record)';
    }
    this.decryptedRecords++;
    return plain;
  }

  /** Epoch-1 records can be opened: both randoms, the suite and the key log line are there. */
  hasKeys(): boolean {
    return this.keylog !== undefined && this.cipherPair() !== undefined;
  }

  /**
   * Decode the next datagram of the flow (its records from dtlsRecords), adding it to `datagrams` and to
   * its flight. `time` is in seconds since the flow's first datagram.
   */
  decodeDatagram(
    records: RawRecord[],
    from: Side,
    time: number,
    size: number,
    malformed = false,
  ): { datagram: TraceDatagram; flight: TraceFlight; newFlight: boolean } {
    let flight = this.flights[this.flights.length - 1];
    const newFlight = flight === undefined || flight.from !== from;
    if (flight === undefined || newFlight) {
      flight = { number: this.flights.length + 1, from, datagrams: [], messages: [], retransmission: false };
      this.flights.push(flight);
    }
    const decoded = records.map((r) => this.decodeRecord(r, from));
    const datagram: TraceDatagram = {
      index: this.datagrams.length + 1,
      time,
      from,
      size,
      flight: flight.number,
      records: decoded,
    };
    if (malformed) datagram.malformed = 'bytes after the last record do not form a DTLS record';
    this.datagrams.push(datagram);
    flight.datagrams.push(datagram.index);
    for (const r of decoded) {
      for (const h of r.handshake) flight.messages.push(h.name);
      if (r.changeCipherSpec) flight.messages.push('ChangeCipherSpec');
      if (r.encrypted && !r.decrypted && r.contentType === ContentType.handshake) {
        flight.messages.push('EncryptedHandshake');
      }
    }
    // A flight made only of already-seen fragments (and CCS/Finished resent with them) is a resend.
    if (newFlight) this.flightFragments = { all: 0, resent: 0 };
    for (const h of decoded.flatMap((r) => r.handshake)) {
      this.flightFragments.all++;
      if (h.retransmission) this.flightFragments.resent++;
    }
    flight.retransmission =
      this.flightFragments.all > 0 && this.flightFragments.all === this.flightFragments.resent;
    return { datagram, flight, newFlight };
  }

  private cipherPair(): { client: RecordCipher; server: RecordCipher } | undefined {
    if (this.ciphers) return this.ciphers;
    // Problems are not remembered: the randoms, the suite or the key log line may still come.
    this.keyProblem = undefined;
    const suite = this.suite;
    const master = this.clientRandom && this.keylog?.get(this.clientRandom.toString('hex'));
    if (!this.clientRandom || !this.serverRandom) this.keyProblem = 'no ClientHello/ServerHello randoms seen';
    else if (this.suiteId === undefined) this.keyProblem = 'no cipher suite seen';
    else if (!suite) this.keyProblem = `cipher suite ${hex16(this.suiteId)} is not supported for decryption`;
    else if (!master) this.keyProblem = 'the key log has no line for this client random';
    else {
      // RFC 5246 §6.3: the key block comes from the master secret and both randoms.
      const keys = expandKeys(suite, master, this.clientRandom, this.serverRandom);
      this.ciphers = {
        client: createRecordCipher(suite, keys.clientWriteKey, keys.clientWriteIv),
        server: createRecordCipher(suite, keys.serverWriteKey, keys.serverWriteIv),
      };
    }
    return this.ciphers;
  }

  finishSummary(): void {
    if (this.keylog === undefined) return;
    if (this.keyProblem) this.summary.decryption = this.keyProblem;
    else if (this.failedRecords > 0)
      this.summary.decryption = `${this.failedRecords} record(s) failed to decrypt`;
    else if (this.decryptedRecords > 0) this.summary.decryption = 'decrypted';
    else this.summary.decryption = 'no encrypted records';
  }

  private decodeFragment(f: HandshakeFragment, from: Side): TraceHandshake {
    const out: TraceHandshake = {
      type: f.msgType,
      name: handshakeName(f.msgType),
      length: f.length,
      messageSeq: f.messageSeq,
      fragmentOffset: f.fragmentOffset,
      fragmentLength: f.fragmentLength,
      fragmented: f.fragmentOffset !== 0 || f.fragmentLength !== f.length,
      retransmission: false,
      completed: false,
    };
    if (out.fragmented) this.summary.fragments++;
    const key = `${from}/${f.msgType}/${f.messageSeq}`;
    let asm = this.assemblies.get(key);
    if (asm === undefined) {
      asm = {
        body: f.length <= MAX_REASSEMBLY ? Buffer.alloc(f.length) : undefined,
        ranges: [],
        complete: false,
      };
      this.assemblies.set(key, asm);
    }
    const end = f.fragmentOffset + f.fragmentLength;
    // An empty fragment only counts as resent when the (empty) message was already complete.
    if (asm.complete || (f.fragmentLength > 0 && covered(asm.ranges, f.fragmentOffset, end))) {
      out.retransmission = true;
      this.summary.retransmissions++;
      return out;
    }
    if (asm.body && asm.body.length !== f.length) {
      // RFC 6347 §4.2.3: every fragment of a message carries the same total length.
      out.decodeError = `length ${f.length} differs from earlier fragments (${asm.body.length})`;
      return out;
    }
    if (asm.body) f.body.copy(asm.body, f.fragmentOffset);
    asm.ranges = addRange(asm.ranges, f.fragmentOffset, end);
    if (covered(asm.ranges, 0, f.length) && asm.body) {
      asm.complete = true;
      out.completed = true;
      try {
        out.fields = this.decodeMessage(f.msgType, asm.body, from);
      } catch (e) {
        out.decodeError = (e as Error).message;
      }
    }
    return out;
  }

  private decodeMessage(type: number, body: Buffer, from: Side): Record<string, FieldValue> {
    switch (type) {
      case HandshakeType.client_hello:
        return this.clientHello(body);
      case HandshakeType.server_hello:
        return this.serverHello(body);
      case HandshakeType.hello_verify_request: {
        const hvr = decodeHelloVerifyRequest(body);
        this.summary.cookieExchange = true;
        return { version: versionName(hvr.serverVersion), cookie: hexOrEmpty(hvr.cookie) };
      }
      case HandshakeType.certificate:
        return this.certificate(body, from);
      case HandshakeType.server_key_exchange:
        return this.serverKeyExchange(body);
      case HandshakeType.certificate_request: {
        const cr = decodeCertificateRequest(body);
        const types: Record<number, string> = { 1: 'rsa_sign', 64: 'ecdsa_sign' };
        return {
          certificateTypes: cr.certificateTypes.map((t) => types[t] ?? String(t)).join(', '),
          signatureAlgorithms: cr.signatureAlgorithms.map(schemeName),
          certificateAuthorities: cr.certificateAuthorities.length,
        };
      }
      case HandshakeType.server_hello_done:
        return {};
      case HandshakeType.client_key_exchange:
        return this.clientKeyExchange(body);
      case HandshakeType.certificate_verify: {
        const cv = decodeCertificateVerify(body);
        return {
          signatureScheme: schemeName(cv.signatureScheme),
          signature: shortHex(cv.signature),
        };
      }
      case HandshakeType.finished:
        return { verifyData: decodeFinished(body).verifyData.toString('hex') };
      case HandshakeType.new_session_ticket: {
        const t = decodeNewSessionTicket(body);
        return { lifetimeHint: `${t.ticketLifetimeHint} s`, ticket: shortHex(t.ticket) };
      }
      default:
        return { body: shortHex(body) };
    }
  }

  private clientHello(body: Buffer): Record<string, FieldValue> {
    const ch = decodeClientHello(body);
    this.clientRandom = Buffer.from(ch.random);
    this.summary.clientRandom = ch.random.toString('hex');
    this.summary.offeredSuites = ch.cipherSuites.length;
    if (ch.cookie.length > 0) this.summary.cookie = ch.cookie.toString('hex');
    return {
      version: versionName(ch.clientVersion),
      random: ch.random.toString('hex'),
      sessionId: hexOrEmpty(ch.sessionId),
      cookie: hexOrEmpty(ch.cookie),
      cipherSuites: ch.cipherSuites.map(suiteLabel),
      compressionMethods: ch.compressionMethods.join(', '),
      extensions: (ch.extensions ?? []).map((e) => describeExtension(e, 'client')),
    };
  }

  private serverHello(body: Buffer): Record<string, FieldValue> {
    const sh = decodeServerHello(body);
    this.serverRandom = Buffer.from(sh.random);
    this.suiteId = sh.cipherSuite;
    this.summary.serverRandom = sh.random.toString('hex');
    this.summary.cipherSuite = suiteLabel(sh.cipherSuite);
    this.summary.version = versionName(sh.serverVersion);
    this.summary.sessionId = hexOrEmpty(sh.sessionId);
    return {
      version: versionName(sh.serverVersion),
      random: sh.random.toString('hex'),
      sessionId: hexOrEmpty(sh.sessionId),
      cipherSuite: suiteLabel(sh.cipherSuite),
      compressionMethod: sh.compressionMethod,
      extensions: (sh.extensions ?? []).map((e) => describeExtension(e, 'server')),
    };
  }

  private certificate(body: Buffer, from: Side): Record<string, FieldValue> {
    const list = decodeCertificate(body).certificateList;
    const subjects: string[] = [];
    const fingerprints: string[] = [];
    const details: string[] = [];
    for (const der of list) {
      try {
        const cert = new X509Certificate(der);
        const key = cert.publicKey;
        const curve = key.asymmetricKeyDetails?.namedCurve;
        subjects.push(oneLineName(cert.subject));
        fingerprints.push(cert.fingerprint256);
        details.push(
          `issuer ${oneLineName(cert.issuer)}; key ${key.asymmetricKeyType}${curve ? ` ${curve}` : ''}; ` +
            `valid ${cert.validFrom} to ${cert.validTo}`,
        );
      } catch (e) {
        subjects.push(`(unparsable certificate: ${(e as Error).message})`);
        fingerprints.push('');
        details.push(`${der.length} bytes`);
      }
    }
    if (from === 'server' && subjects[0] !== undefined) {
      this.summary.serverCertificate = subjects[0];
      this.summary.serverFingerprint = fingerprints[0];
    }
    if (list.length === 0) return { certificates: 0 };
    return { subject: subjects, sha256: fingerprints, details };
  }

  private serverKeyExchange(body: Buffer): Record<string, FieldValue> {
    const kx = this.suite?.keyExchange;
    if (kx === 'PSK') {
      const ske = decodePskServerKeyExchange(body);
      this.summary.pskIdentityHint = bytesLabel(ske.identityHint);
      return { pskIdentityHint: bytesLabel(ske.identityHint) };
    }
    if (kx === 'ECDHE_PSK') {
      const ske = decodeEcdhePskServerKeyExchange(body);
      this.summary.pskIdentityHint = bytesLabel(ske.identityHint);
      this.summary.group = groupName(ske.params.namedCurve);
      return {
        pskIdentityHint: bytesLabel(ske.identityHint),
        group: groupName(ske.params.namedCurve),
        publicKey: shortHex(ske.params.publicKey),
      };
    }
    // The certificate suites, and a guess for suites outside our table (ECDHE is what DTLS peers use).
    const ske = decodeEcdheServerKeyExchange(body);
    this.summary.group = groupName(ske.params.namedCurve);
    return {
      group: groupName(ske.params.namedCurve),
      publicKey: shortHex(ske.params.publicKey),
      signatureScheme: schemeName(ske.signed.signatureScheme),
      signature: shortHex(ske.signed.signature),
    };
  }

  private clientKeyExchange(body: Buffer): Record<string, FieldValue> {
    const kx = this.suite?.keyExchange;
    if (kx === 'PSK') {
      const cke = decodePskClientKeyExchange(body);
      this.summary.pskIdentity = bytesLabel(cke.identity);
      return { pskIdentity: bytesLabel(cke.identity) };
    }
    if (kx === 'ECDHE_PSK') {
      const cke = decodeEcdhePskClientKeyExchange(body);
      this.summary.pskIdentity = bytesLabel(cke.identity);
      return { pskIdentity: bytesLabel(cke.identity), publicKey: shortHex(cke.publicKey) };
    }
    return { publicKey: shortHex(decodeEcdheClientKeyExchange(body).publicKey) };
  }
}

function oneLineName(dn: string): string {
  return dn.split('\n').filter(Boolean).join(', ');
}

/** `name (code): details`, decoding the extensions a DTLS 1.2 handshake uses. */
function describeExtension(e: Extension, from: Side): string {
  const head = `${extensionName(e.type)} (${e.type})`;
  let detail: string;
  try {
    detail = extensionDetail(e, from);
  } catch (err) {
    detail = `${e.data.length} bytes, malformed: ${(err as Error).message}`;
  }
  return detail === '' ? head : `${head}: ${detail}`;
}

function extensionDetail(e: Extension, from: Side): string {
  const d = e.data;
  switch (e.type) {
    case ExtensionType.server_name:
      return d.length === 0
        ? ''
        : decodeServerNameList(d)
            .map((n) => n.name)
            .join(', ');
    case ExtensionType.supported_groups:
      return decodeSupportedGroups(d).map(groupName).join(', ');
    case ExtensionType.ec_point_formats: {
      const names: Record<number, string> = {
        0: 'uncompressed',
        1: 'ansiX962_compressed_prime',
        2: 'ansiX962_compressed_char2',
      };
      return decodeEcPointFormats(d)
        .map((f) => names[f] ?? String(f))
        .join(', ');
    }
    case ExtensionType.signature_algorithms:
      return decodeSignatureAlgorithms(d).map(schemeName).join(', ');
    case ExtensionType.use_srtp: {
      const srtp = decodeUseSrtp(d);
      const profiles = srtp.profiles.map((p) => SRTP_PROFILES[p] ?? hex16(p)).join(', ');
      return srtp.mki.length > 0 ? `${profiles}; mki ${srtp.mki.toString('hex')}` : profiles;
    }
    case ExtensionType.application_layer_protocol_negotiation:
      return decodeAlpn(d).join(', ');
    case ExtensionType.supported_versions:
      return from === 'client'
        ? decodeSupportedVersionsClient(d).map(versionName).join(', ')
        : versionName(decodeSupportedVersionsServer(d));
    case ExtensionType.renegotiation_info: {
      const v = decodeRenegotiationInfo(d);
      return v.length === 0 ? '(empty)' : v.toString('hex');
    }
    case ExtensionType.key_share: {
      if (from !== 'client') return `${d.length} bytes`;
      // RFC 8446 §4.2.8: KeyShareEntry client_shares<0..2^16-1>, each NamedGroup + opaque key<1..2^16-1>.
      const r = new Reader(d);
      const list = r.sub(r.u16('client_shares length'), 'client_shares');
      const shares: string[] = [];
      while (!list.atEnd()) {
        const group = list.u16('key_share group');
        shares.push(`${groupName(group)} (${list.vec16('key_exchange').length} bytes)`);
      }
      return shares.join(', ');
    }
    case ExtensionType.extended_master_secret:
    case ExtensionType.encrypt_then_mac:
      return '';
    default:
      return d.length === 0 ? '' : `${d.length} bytes`;
  }
}

// ---------------------------------------------------------------------------------------------------
// Flows

interface PendingFlow {
  a: Endpoint;
  b: Endpoint;
  packets: { packet: UdpPacket; records: RawRecord[]; malformed: boolean; fromA: boolean }[];
}

/** Decode a capture already read by scanCapture. */
export function traceScan(scan: CaptureScan, options: TraceOptions = {}): CaptureTrace {
  const pending = new Map<string, PendingFlow>();
  let otherDatagrams = 0;
  for (const packet of scan.packets) {
    const dtls = dtlsRecords(packet.payload);
    if (dtls === undefined) {
      otherDatagrams++;
      continue;
    }
    if (options.port !== undefined && packet.srcPort !== options.port && packet.dstPort !== options.port)
      continue;
    const src = endpointKey(packet.src, packet.srcPort);
    const dst = endpointKey(packet.dst, packet.dstPort);
    const key = src < dst ? `${src}|${dst}` : `${dst}|${src}`;
    let flow = pending.get(key);
    if (flow === undefined) {
      flow = {
        a: { address: packet.src, port: packet.srcPort },
        b: { address: packet.dst, port: packet.dstPort },
        packets: [],
      };
      pending.set(key, flow);
    }
    const fromA = flow.a.address === packet.src && flow.a.port === packet.srcPort;
    flow.packets.push({ packet, records: dtls.records, malformed: dtls.malformed, fromA });
  }
  const flows = [...pending.values()].map((p, i) => buildFlow(p, i + 1, options));
  return {
    format: scan.format,
    udpDatagrams: scan.packets.length,
    skippedPackets: scan.skipped,
    otherDatagrams,
    flows,
  };
}

/**
 * Parse a capture file's bytes and decode its DTLS flows. Throws TraceError (one-line message) for a
 * corrupt or truncated capture and for a capture without DTLS.
 */
export function traceCapture(buf: Buffer, options: TraceOptions = {}): CaptureTrace {
  let scan: CaptureScan;
  try {
    scan = scanCapture(buf);
  } catch (e) {
    throw new TraceError((e as Error).message);
  }
  if (scan.truncated) {
    throw new TraceError(`capture is truncated: its last packet is incomplete (${scan.packets.length} read)`);
  }
  const trace = traceScan(scan, options);
  if (trace.flows.length === 0) {
    const where = options.port === undefined ? '' : ` on port ${options.port}`;
    throw new TraceError(
      `no DTLS traffic found${where} (${scan.packets.length} UDP datagrams, ${scan.skipped} other packets)`,
    );
  }
  return trace;
}

function isClientHelloRecord(r: RawRecord): boolean {
  // Handshake record in epoch 0 whose first fragment is a ClientHello (msg_type 1).
  return r.type === ContentType.handshake && r.epoch === 0 && r.fragment[0] === HandshakeType.client_hello;
}

function buildFlow(p: PendingFlow, id: number, options: TraceOptions): TraceFlow {
  const firstHello = p.packets.find((x) => x.records.some(isClientHelloRecord));
  const clientIsA = firstHello ? firstHello.fromA : p.packets[0]!.fromA;
  const client = clientIsA ? p.a : p.b;
  const server = clientIsA ? p.b : p.a;
  const decoder = new FlowDecoder(options.keylog);
  const startTime = p.packets[0]!.packet.time;
  for (const x of p.packets) {
    const from: Side = x.fromA === clientIsA ? 'client' : 'server';
    const time = Number.isFinite(x.packet.time - startTime) ? x.packet.time - startTime : 0;
    decoder.decodeDatagram(x.records, from, time, x.packet.payload.length, x.malformed);
  }
  decoder.finishSummary();
  const last = p.packets[p.packets.length - 1]!.packet.time;
  const duration = Number.isFinite(last - startTime) ? last - startTime : 0;
  return {
    id,
    client,
    server,
    clientIdentified: firstHello !== undefined,
    startTime,
    duration,
    datagrams: decoder.datagrams,
    flights: decoder.flights,
    summary: decoder.summary,
  };
}
