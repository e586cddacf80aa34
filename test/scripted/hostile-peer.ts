/**
 * A BoGo-style scripted peer (after BoringSSL's ssl/test/runner): it drives one real engine, the
 * *target*, message by message. Every byte the target receives is chosen by the script: crafted
 * records, fragments and messages, or the output of a real engine of the other role (the
 * *accomplice*) passed through, dropped, reordered or rewritten. The clock is virtual.
 *
 * Because the target's keylog event (NSS format, `CLIENT_RANDOM <client_random> <master>`) gives the
 * master secret, and the randoms and suite are visible in the plaintext hellos, the script can also
 * open the target's epoch-1 records and seal its own (RFC 5246 §6.3 key expansion): a hostile peer
 * that holds the keys, not only an off-path attacker.
 */
import assert from 'node:assert/strict';
import { type GeneratedCertificate, generateCertificate } from '../../src/cert/generate.js';
import { createRecordCipher, type RecordCipher } from '../../src/crypto/aead.js';
import { expandKeys } from '../../src/crypto/prf.js';
import { type CipherSuite, suiteById } from '../../src/crypto/suites.js';
import type { EngineConfig } from '../../src/engine/config.js';
import { DtlsConnection } from '../../src/engine/connection.js';
import type { DtlsEvent } from '../../src/engine/events.js';
import { DtlsServerEndpoint } from '../../src/engine/server-endpoint.js';
import type { DtlsError } from '../../src/errors.js';
import type { HandshakeMessage } from '../../src/handshake/reassembler.js';
import { AlertLevel, decodeAlert, encodeAlert } from '../../src/wire/alert.js';
import { decodeClientHello } from '../../src/wire/client-hello.js';
import { ContentType, HandshakeType, ProtocolVersion } from '../../src/wire/constants.js';
import { DecodeError } from '../../src/wire/errors.js';
import {
  encodeHandshakeFragment,
  type HandshakeFragment,
  parseHandshakeFragments,
} from '../../src/wire/handshake-header.js';
import { parseDatagram, RECORD_HEADER_LENGTH } from '../../src/wire/record.js';
import { decodeServerHello } from '../../src/wire/server-hello.js';

export type Role = 'client' | 'server';

/** An engine config without its role (the role comes from how the engine is created). */
export type PeerConfig = Omit<EngineConfig, 'role'>;

// ---- crafting -----------------------------------------------------------------------------------

/** One plaintext record with exactly the header fields given (nothing is checked but the field sizes). */
export function craftRecord(o: {
  type: number;
  epoch?: number;
  seq: number;
  fragment: Uint8Array;
  version?: number;
}): Buffer {
  const out = Buffer.alloc(RECORD_HEADER_LENGTH + o.fragment.length);
  out[0] = o.type;
  out.writeUInt16BE(o.version ?? ProtocolVersion.DTLS1_2, 1);
  out.writeUInt16BE(o.epoch ?? 0, 3);
  out.writeUIntBE(o.seq, 5, 6);
  out.writeUInt16BE(o.fragment.length, 11);
  out.set(o.fragment, RECORD_HEADER_LENGTH);
  return out;
}

/**
 * One handshake fragment (RFC 6347 §4.2.2). By default the whole message; `offset`/`end` cut a slice,
 * `length` overrides the declared message length (a lie the receiver must survive).
 */
export function craftFragment(o: {
  msgType: number;
  messageSeq: number;
  body: Uint8Array;
  offset?: number;
  end?: number;
  length?: number;
}): Buffer {
  const offset = o.offset ?? 0;
  const end = o.end ?? o.body.length;
  return encodeHandshakeFragment({
    msgType: o.msgType,
    length: o.length ?? o.body.length,
    messageSeq: o.messageSeq,
    fragmentOffset: offset,
    body: o.body.subarray(offset, end),
  });
}

export function datagram(...records: Uint8Array[]): Buffer {
  return Buffer.concat(records);
}

/** The records of a datagram, each as its own datagram (to deliver a flight one message at a time). */
export function splitRecords(d: Uint8Array): Buffer[] {
  return parseDatagram(d).records.map((r) => Buffer.from(r.raw));
}

// ---- keys ---------------------------------------------------------------------------------------

/** Both directions' epoch-1 ciphers of one handshake, as a peer holding the master secret has them. */
export class SessionKeys {
  readonly client: RecordCipher;
  readonly server: RecordCipher;

  constructor(
    readonly suite: CipherSuite,
    readonly masterSecret: Buffer,
    readonly clientRandom: Buffer,
    readonly serverRandom: Buffer,
  ) {
    const kb = expandKeys(suite, masterSecret, clientRandom, serverRandom);
    this.client = createRecordCipher(suite, kb.clientWriteKey, kb.clientWriteIv);
    this.server = createRecordCipher(suite, kb.serverWriteKey, kb.serverWriteIv);
  }

  /** A sealed record as `from` would send it. */
  seal(from: Role, type: number, epoch: number, seq: number, data: Uint8Array): Buffer {
    const c = from === 'client' ? this.client : this.server;
    return craftRecord({
      type,
      epoch,
      seq,
      fragment: c.seal(epoch, seq, type, ProtocolVersion.DTLS1_2, data),
    });
  }

  /** The plaintext of a record `from` sent, or null when it does not authenticate. */
  open(
    from: Role,
    r: { type: number; epoch: number; sequenceNumber: number; version: number; fragment: Buffer },
  ): Buffer | null {
    const c = from === 'client' ? this.client : this.server;
    return c.open(r.epoch, r.sequenceNumber, r.type, r.version, r.fragment);
  }
}

/** One record as the script sees it: plaintext (opened when it could be), and its handshake fragments. */
export interface SeenRecord {
  type: number;
  epoch: number;
  seq: number;
  raw: Buffer;
  plaintext: Buffer | undefined;
  fragments: HandshakeFragment[];
}

/**
 * Watches traffic in both directions to learn what a peer holding the keys would know: the randoms
 * and the suite from the plaintext hellos, the master secret from a keylog line.
 */
export class KeyWatcher {
  clientRandom: Buffer | undefined;
  serverRandom: Buffer | undefined;
  suite: CipherSuite | undefined;
  private master: Buffer | undefined;
  private cached: SessionKeys | undefined;

  observe(d: Uint8Array): void {
    for (const r of parseDatagram(d).records) {
      if (r.type !== ContentType.handshake || r.epoch !== 0) continue;
      let frags: HandshakeFragment[];
      try {
        frags = parseHandshakeFragments(r.fragment);
      } catch {
        continue;
      }
      for (const f of frags) {
        if (f.fragmentOffset !== 0 || f.fragmentLength !== f.length) continue;
        try {
          if (f.msgType === HandshakeType.client_hello)
            this.setClientRandom(decodeClientHello(f.body).random);
          if (f.msgType === HandshakeType.server_hello) {
            const sh = decodeServerHello(f.body);
            this.setServerHello(Buffer.from(sh.random), sh.cipherSuite);
          }
        } catch (e) {
          if (!(e instanceof DecodeError)) throw e;
        }
      }
    }
  }

  private setClientRandom(random: Buffer): void {
    if (!this.clientRandom?.equals(random)) this.cached = undefined;
    this.clientRandom = Buffer.from(random);
  }

  private setServerHello(random: Buffer, suiteId: number): void {
    if (!this.serverRandom?.equals(random)) this.cached = undefined;
    this.serverRandom = random;
    this.suite = suiteById(suiteId);
  }

  /** An NSS keylog line; only the one matching the client random seen last is kept. */
  keylog(line: string): void {
    const [label, random, master] = line.split(' ');
    if (label !== 'CLIENT_RANDOM' || !random || !master) return;
    this.master = Buffer.from(master, 'hex');
    this.cached = undefined;
  }

  get keys(): SessionKeys | undefined {
    if (this.cached) return this.cached;
    if (!this.master || !this.clientRandom || !this.serverRandom || !this.suite) return undefined;
    this.cached = new SessionKeys(this.suite, this.master, this.clientRandom, this.serverRandom);
    return this.cached;
  }

  /** Parse a datagram `from` sent; epoch-1 records are opened when the keys are known. */
  parse(d: Uint8Array, from: Role): SeenRecord[] {
    return parseDatagram(d).records.map((r) => {
      let plaintext: Buffer | undefined;
      if (r.epoch === 0) plaintext = Buffer.from(r.fragment);
      else plaintext = this.keys?.open(from, r) ?? undefined;
      let fragments: HandshakeFragment[] = [];
      if (plaintext && r.type === ContentType.handshake) {
        try {
          fragments = parseHandshakeFragments(plaintext);
        } catch {
          fragments = [];
        }
      }
      return {
        type: r.type,
        epoch: r.epoch,
        seq: r.sequenceNumber,
        raw: Buffer.from(r.raw),
        plaintext,
        fragments,
      };
    });
  }
}

// ---- the scripted peer --------------------------------------------------------------------------

export interface ScriptedPeerOptions {
  /** A real engine of the other role whose traffic the script may pass through or rewrite. */
  accomplice?: DtlsConnection;
  now?: number;
}

/**
 * Drives one target engine. Outputs of both engines are taken explicitly (`takeFromTarget`,
 * `takeFromAccomplice`); nothing moves unless the script moves it.
 */
export class ScriptedPeer {
  now: number;
  readonly targetRole: Role;
  readonly peerRole: Role;
  readonly accomplice: DtlsConnection | undefined;
  /** Every event the target reported, in order. */
  readonly events: DtlsEvent[] = [];
  readonly accompliceEvents: DtlsEvent[] = [];
  readonly watcher = new KeyWatcher();
  /** Next record sequence number of the peer→target direction, per epoch (see nextSeq). */
  private readonly seqNext = new Map<number, number>();

  constructor(
    readonly target: DtlsConnection,
    opts: ScriptedPeerOptions = {},
  ) {
    this.now = opts.now ?? 0;
    this.targetRole = target.isServer ? 'server' : 'client';
    this.peerRole = target.isServer ? 'client' : 'server';
    this.accomplice = opts.accomplice;
    this.collectEvents();
  }

  /** A client target, with a real server as accomplice when `server` config is given. */
  static client(
    clientConfig: Omit<EngineConfig, 'role'>,
    serverConfig?: Omit<EngineConfig, 'role'>,
    now = 0,
  ): ScriptedPeer {
    const target = DtlsConnection.client(clientConfig, now);
    if (!serverConfig) return new ScriptedPeer(target, { now });
    // The server engine is created from the client's first ClientHello, as the endpoint would (no cookie).
    const first = target.pollTransmit()!;
    const { msg, recordSeq } = clientHelloOf(first);
    const server = DtlsConnection.server(serverConfig, now, msg, recordSeq);
    const p = new ScriptedPeer(target, { now, accomplice: server });
    p.watcher.observe(first);
    return p;
  }

  /** A server target created from a ClientHello of a real client accomplice (or of `clientHello`). */
  static server(
    serverConfig: Omit<EngineConfig, 'role'>,
    clientConfig: Omit<EngineConfig, 'role'>,
    now = 0,
  ): ScriptedPeer {
    const client = DtlsConnection.client(clientConfig, now);
    const first = client.pollTransmit()!;
    const { msg, recordSeq } = clientHelloOf(first);
    const target = DtlsConnection.server(serverConfig, now, msg, recordSeq);
    const p = new ScriptedPeer(target, { now, accomplice: client });
    p.watcher.observe(first);
    p.noteSeq(0, recordSeq);
    return p;
  }

  // ---- clock ------------------------------------------------------------------------------------

  /** Move the clock forward and let both engines act on their timers. */
  advance(ms: number): void {
    this.now += ms;
    this.target.handleTimeout(this.now);
    this.accomplice?.handleTimeout(this.now);
    this.collectEvents();
  }

  /**
   * Jump from deadline to deadline of the target (its retransmissions are discarded, as if lost)
   * until it leaves the handshake or `maxSteps` timers fired. Returns the number of steps.
   */
  runTargetTimersToEnd(maxSteps = 100): number {
    let steps = 0;
    for (; steps < maxSteps && this.target.state === 'handshaking'; steps++) {
      const t = this.target.pollTimeout();
      if (t === undefined) break;
      this.now = Math.max(this.now, t);
      this.target.handleTimeout(this.now);
      this.takeFromTarget();
    }
    this.collectEvents();
    return steps;
  }

  // ---- traffic ----------------------------------------------------------------------------------

  /** Hand datagrams to the target at the current time. */
  deliver(...datagrams: Uint8Array[]): void {
    for (const d of datagrams) {
      this.watcher.observe(d);
      for (const r of parseDatagram(d).records) this.noteSeq(r.epoch, r.sequenceNumber);
      this.target.handleDatagram(d, this.now);
    }
    this.collectEvents();
  }

  /** Everything the target queued for sending. */
  takeFromTarget(): Buffer[] {
    const out: Buffer[] = [];
    for (let d = this.target.pollTransmit(); d; d = this.target.pollTransmit()) {
      this.watcher.observe(d);
      out.push(d);
    }
    this.collectEvents();
    return out;
  }

  /** The target's output, parsed (epoch-1 records opened when the keys are known). */
  takeRecordsFromTarget(): SeenRecord[] {
    return this.takeFromTarget().flatMap((d) => this.watcher.parse(d, this.targetRole));
  }

  takeFromAccomplice(): Buffer[] {
    const a = this.requireAccomplice();
    const out: Buffer[] = [];
    for (let d = a.pollTransmit(); d; d = a.pollTransmit()) {
      this.watcher.observe(d);
      out.push(d);
    }
    this.collectEvents();
    return out;
  }

  /** The accomplice's output, parsed (epoch-1 records opened when the keys are known). */
  takeRecordsFromAccomplice(): SeenRecord[] {
    return this.takeFromAccomplice().flatMap((d) => this.watcher.parse(d, this.peerRole));
  }

  toAccomplice(...datagrams: Uint8Array[]): void {
    const a = this.requireAccomplice();
    for (const d of datagrams) a.handleDatagram(d, this.now);
    this.collectEvents();
  }

  /**
   * Pass traffic both ways until neither engine has anything to send (bounded). `filter` sees each
   * accomplice→target datagram (already relayed) and returns what to deliver instead (none drops it).
   */
  exchange(filter: (d: Buffer) => Buffer[] = (d) => [d], maxRounds = 20): void {
    for (let round = 0; round < maxRounds; round++) {
      const fromTarget = this.takeFromTarget();
      this.toAccomplice(...fromTarget);
      const fromAccomplice = this.takeFromAccomplice();
      for (const d of fromAccomplice) this.deliver(...filter(this.relay(d)));
      if (fromTarget.length === 0 && fromAccomplice.length === 0) return;
    }
  }

  // ---- crafting as the peer ---------------------------------------------------------------------

  /**
   * The next record sequence number of the peer→target direction in this epoch. The script owns that
   * sequence space: crafted records and relayed ones (see `relay`) draw from one counter, so neither
   * falls behind the target's replay window (RFC 6347 §4.1.2.6) because of the other.
   */
  nextSeq(epoch: number): number {
    const seq = this.seqNext.get(epoch) ?? 0;
    this.seqNext.set(epoch, seq + 1);
    return seq;
  }

  /**
   * An accomplice datagram renumbered into the script's sequence space: epoch-0 headers are rewritten,
   * sealed records are opened and sealed again under their new number (their nonce and additional
   * data cover it). Records that cannot be opened pass unchanged.
   */
  relay(d: Uint8Array): Buffer {
    const out: Buffer[] = [];
    for (const r of parseDatagram(d).records) {
      if (r.epoch === 0) {
        out.push(
          craftRecord({
            type: r.type,
            epoch: 0,
            seq: this.nextSeq(0),
            fragment: r.fragment,
            version: r.version,
          }),
        );
        continue;
      }
      const plaintext = this.watcher.keys?.open(this.peerRole, r);
      if (!plaintext) {
        out.push(Buffer.from(r.raw));
        continue;
      }
      out.push(this.watcher.keys!.seal(this.peerRole, r.type, r.epoch, this.nextSeq(r.epoch), plaintext));
    }
    return Buffer.concat(out);
  }

  /** A record from the peer's side; sealed with the session keys when epoch > 0. */
  record(type: number, data: Uint8Array, epoch = 0, seq = this.nextSeq(epoch)): Buffer {
    if (epoch === 0) return craftRecord({ type, epoch, seq, fragment: data });
    const keys = this.watcher.keys;
    assert.ok(keys, 'session keys are not known yet (no keylog line, or hellos not seen)');
    return keys.seal(this.peerRole, type, epoch, seq, data);
  }

  handshakeRecord(
    f: {
      msgType: number;
      messageSeq: number;
      body: Uint8Array;
      offset?: number;
      end?: number;
      length?: number;
    },
    epoch = 0,
  ): Buffer {
    return this.record(ContentType.handshake, craftFragment(f), epoch);
  }

  alertRecord(level: number, description: number, epoch = 0): Buffer {
    return this.record(ContentType.alert, encodeAlert({ level, description }), epoch);
  }

  ccsRecord(epoch = 0): Buffer {
    return this.record(ContentType.change_cipher_spec, Buffer.of(1), epoch);
  }

  // ---- observations -----------------------------------------------------------------------------

  get failure(): DtlsError | undefined {
    for (const e of this.events) if (e.type === 'failed') return e.error;
    return undefined;
  }

  get everConnected(): boolean {
    return this.events.some((e) => e.type === 'connected');
  }

  /** Assert the target failed with this code; returns the error. */
  expectFailure(code: string, opts: { alertReceived?: boolean; alertSent?: boolean } = {}): DtlsError {
    const f = this.failure;
    assert.ok(f, `expected the target to fail with ${code}; it is ${this.target.state}`);
    assert.equal(f.code, code, `failure: ${f.message}`);
    if (opts.alertReceived !== undefined) assert.equal(f.alertReceived, opts.alertReceived);
    if (opts.alertSent !== undefined) assert.equal(f.alertSent, opts.alertSent);
    assert.equal(this.target.state, 'failed');
    assert.equal(this.everConnected, false, 'the target must never have reported connected');
    return f;
  }

  /** Alerts in records the target sent (opened when sealed), as { level, description }. */
  alertsIn(records: SeenRecord[]): { level: number; description: number }[] {
    return records
      .filter((r) => r.type === ContentType.alert && r.plaintext)
      .map((r) => decodeAlert(r.plaintext!));
  }

  private noteSeq(epoch: number, seq: number): void {
    if (seq >= (this.seqNext.get(epoch) ?? 0)) this.seqNext.set(epoch, seq + 1);
  }

  private requireAccomplice(): DtlsConnection {
    assert.ok(this.accomplice, 'this script has no accomplice engine');
    return this.accomplice;
  }

  private collectEvents(): void {
    for (let e = this.target.pollEvent(); e; e = this.target.pollEvent()) {
      if (e.type === 'keylog') this.watcher.keylog(e.line);
      this.events.push(e);
    }
    const a = this.accomplice;
    if (!a) return;
    for (let e = a.pollEvent(); e; e = a.pollEvent()) {
      if (e.type === 'keylog') this.watcher.keylog(e.line);
      this.accompliceEvents.push(e);
    }
  }
}

/** The ClientHello message and record sequence number of a client's first datagram. */
export function clientHelloOf(d: Uint8Array): { msg: HandshakeMessage; recordSeq: number } {
  for (const r of parseDatagram(d).records) {
    if (r.type !== ContentType.handshake) continue;
    for (const f of parseHandshakeFragments(r.fragment)) {
      if (f.msgType === HandshakeType.client_hello && f.fragmentLength === f.length) {
        return {
          msg: { msgType: f.msgType, messageSeq: f.messageSeq, body: Buffer.from(f.body), epoch: 0 },
          recordSeq: r.sequenceNumber,
        };
      }
    }
  }
  throw new Error('no whole ClientHello in this datagram');
}

/** Handshake fragments of a given type among records. */
export function fragmentsOfType(records: SeenRecord[], msgType: number): HandshakeFragment[] {
  return records.flatMap((r) => r.fragments.filter((f) => f.msgType === msgType));
}

export const FATAL = AlertLevel.fatal;
export const WARNING = AlertLevel.warning;

// ---- fixtures -----------------------------------------------------------------------------------

export interface TestCredentials {
  server: GeneratedCertificate;
  client: GeneratedCertificate;
  /** A certificate server (ECDHE_ECDSA, AES-128-GCM) that accepts any client certificate it asks for. */
  serverConfig: Omit<EngineConfig, 'role'>;
  /** A client that trusts the server by its fingerprint. */
  clientConfig: Omit<EngineConfig, 'role'>;
}

let credentials: Promise<TestCredentials> | undefined;

/** Two self-signed P-256 certificates and matching configs, generated once per process. */
export function testCredentials(): Promise<TestCredentials> {
  credentials ??= (async () => {
    const [server, client] = await Promise.all([
      generateCertificate({ commonName: 'hostile-server' }),
      generateCertificate({ commonName: 'hostile-client' }),
    ]);
    return {
      server,
      client,
      serverConfig: {
        identity: { certificateChain: [server.der], privateKey: server.privateKey },
        cipherSuites: ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'],
        insecure: true,
      },
      clientConfig: { fingerprints: [server.fingerprint] },
    };
  })();
  return credentials;
}

/** A client config that also carries a certificate (for servers that ask for one). */
export function withClientIdentity(c: TestCredentials): Omit<EngineConfig, 'role'> {
  return {
    ...c.clientConfig,
    identity: { certificateChain: [c.client.der], privateKey: c.client.privateKey },
  };
}

// ---- fuzzing ------------------------------------------------------------------------------------

/** mulberry32: a tiny seeded PRNG, so every fuzz run replays exactly from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(rand: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rand() * xs.length)]!;
}

/** Values most likely to hit the edge of a length or offset check. */
function boundaryValues(len: number, max: number): number[] {
  return [0, 1, len - 1, len, len + 1, 2 * len, max >>> 1, max - 1, max].filter((v) => v >= 0 && v <= max);
}

/**
 * One mutation of `input`: bit flips, byte sets, truncation, insertion, a duplicated slice, or a u8,
 * u16 or u24 (a length field, probably) set to a boundary value at a random offset.
 */
export function mutateBytes(rand: () => number, input: Uint8Array): Buffer {
  const b = Buffer.from(input);
  const kind = Math.floor(rand() * 7);
  const at = (room = 1) => Math.floor(rand() * Math.max(1, b.length - room + 1));
  switch (kind) {
    case 0: {
      if (b.length === 0) return Buffer.of(Math.floor(rand() * 256));
      const flips = 1 + Math.floor(rand() * 4);
      for (let i = 0; i < flips; i++) {
        const j = at();
        b[j] = b[j]! ^ (1 << Math.floor(rand() * 8));
      }
      return b;
    }
    case 1:
      return b.subarray(0, Math.floor(rand() * b.length));
    case 2: {
      const extra = Buffer.alloc(1 + Math.floor(rand() * 16), Math.floor(rand() * 256));
      const j = Math.floor(rand() * (b.length + 1));
      return Buffer.concat([b.subarray(0, j), extra, b.subarray(j)]);
    }
    case 3: {
      if (b.length < 2) return b;
      const s = at(2);
      const e = s + 1 + Math.floor(rand() * Math.min(64, b.length - s));
      return Buffer.concat([b.subarray(0, e), b.subarray(s, e), b.subarray(e)]);
    }
    case 4:
      if (b.length > 0) b[at()] = pick(rand, [0, 1, 0x7f, 0x80, 0xfe, 0xff]);
      return b;
    default: {
      const width = kind === 5 ? 2 : 3;
      if (b.length < width) return b;
      const j = at(width);
      const v = pick(rand, boundaryValues(b.length - j, width === 2 ? 0xffff : 0xffffff));
      b.writeUIntBE(v, j, width);
      return b;
    }
  }
}

/** Offsets of the fields of the first handshake header in a record's plaintext (RFC 6347 §4.2.2). */
const HANDSHAKE_FIELDS: { offset: number; width: number; max: number }[] = [
  { offset: 0, width: 1, max: 0xff }, // msg_type
  { offset: 1, width: 3, max: 0xffffff }, // length
  { offset: 4, width: 2, max: 0xffff }, // message_seq
  { offset: 6, width: 3, max: 0xffffff }, // fragment_offset
  { offset: 9, width: 3, max: 0xffffff }, // fragment_length
];

/** A mutation aware of the handshake header: one of its fields set to a boundary, or mutateBytes. */
export function mutateHandshakePlaintext(rand: () => number, plaintext: Uint8Array): Buffer {
  if (plaintext.length < 12 || rand() < 0.4) return mutateBytes(rand, plaintext);
  const b = Buffer.from(plaintext);
  const f = pick(rand, HANDSHAKE_FIELDS);
  const current = b.readUIntBE(f.offset, f.width);
  const v =
    f.offset === 0
      ? pick(rand, [0, 1, 2, 3, 4, 11, 12, 13, 14, 15, 16, 20, 255])
      : pick(rand, [
          ...boundaryValues(b.length - 12, f.max),
          current + 1,
          Math.max(0, current - 1),
          current + 1000,
        ]);
  b.writeUIntBE(Math.min(f.max, v), f.offset, f.width);
  return b;
}

export interface FuzzScenario {
  name: string;
  server: PeerConfig;
  client: PeerConfig;
}

/** Certificate, mutual-certificate, PSK (with a hint) and ECDHE_PSK handshakes: every message type. */
export function fuzzScenarios(c: TestCredentials): FuzzScenario[] {
  const psk = { identity: 'fuzz', key: Buffer.alloc(16, 0x42) };
  return [
    { name: 'ecdhe-ecdsa', server: c.serverConfig, client: c.clientConfig },
    {
      name: 'ecdhe-ecdsa+client-cert',
      server: { ...c.serverConfig, clientCertificate: 'require' },
      client: withClientIdentity(c),
    },
    {
      name: 'psk',
      server: { cipherSuites: ['TLS_PSK_WITH_AES_128_CCM_8'], psk: { hint: 'hint', lookup: () => psk.key } },
      client: { cipherSuites: ['TLS_PSK_WITH_AES_128_CCM_8'], psk },
    },
    {
      name: 'ecdhe-psk',
      server: {
        cipherSuites: ['TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256'],
        psk: { lookup: () => psk.key },
      },
      client: { cipherSuites: ['TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256'], psk },
    },
  ];
}

export interface FuzzFinding {
  scenario: string;
  role: Role;
  step: number;
  /**
   * 'escaped': an exception out of handleDatagram/handleTimeout; 'internal': the engine's catch-all
   * caught a bug of its own; 'slow': one input took longer than `slowMs`.
   */
  kind: 'escaped' | 'internal' | 'slow';
  error: string;
  input: string;
}

export interface FuzzReport {
  /** Mutated datagrams handed to an engine or endpoint. */
  inputs: number;
  /** Engines driven to a state and attacked. */
  runs: number;
  /** Exceptions that escaped the engine (must be 0). */
  crashes: number;
  findings: FuzzFinding[];
  /** How the targets ended, e.g. { 'failed:decode_error': 12, connected: 80 }. */
  outcomes: Record<string, number>;
  slowestInputMs: number;
  peakHeapUsed: number;
  heapUsedStart: number;
  timeMs: number;
}

export interface FuzzOptions {
  seed: number;
  /** Stop after this many runs … */
  runs?: number;
  /** … or after this much time, whichever comes first. */
  timeBudgetMs?: number;
  /** Mutated inputs per run, at most (a run ends early when the target fails). */
  inputsPerRun?: number;
  /** An input taking longer than this counts as a hang (default 1 s). */
  slowMs?: number;
}

/**
 * The engine fuzzer: pick a scenario, a role and a step of the genuine handshake; drive a target of
 * that role with a real accomplice up to the step; then hand it mutations of the next genuine datagram
 * (raw bytes, or the plaintext mutated and sealed again with the real keys, so that it reaches the
 * handshake layer); then let the rest of the genuine exchange and every timer run. No exception may
 * escape, no input may hang, and the heap must stay bounded.
 */
export async function fuzzEngine(opts: FuzzOptions): Promise<FuzzReport> {
  const c = await testCredentials();
  const scenarios = fuzzScenarios(c);
  const rand = prng(opts.seed);
  const maxRuns = opts.runs ?? Number.POSITIVE_INFINITY;
  const budget = opts.timeBudgetMs ?? Number.POSITIVE_INFINITY;
  const perRun = opts.inputsPerRun ?? 16;
  const slowMs = opts.slowMs ?? 1000;
  const report: FuzzReport = {
    inputs: 0,
    runs: 0,
    crashes: 0,
    findings: [],
    outcomes: {},
    slowestInputMs: 0,
    peakHeapUsed: 0,
    heapUsedStart: process.memoryUsage().heapUsed,
    timeMs: 0,
  };
  const started = performance.now();
  const note = (f: FuzzFinding) => {
    if (f.kind === 'escaped') report.crashes++;
    if (report.findings.length < 50) report.findings.push(f);
  };

  while (report.runs < maxRuns && performance.now() - started < budget) {
    const scenario = pick(rand, scenarios);
    const role: Role = rand() < 0.5 ? 'client' : 'server';
    const step = Math.floor(rand() * 12);
    report.runs++;
    const seedOfRun = Math.floor(rand() * 2 ** 31);
    const runRand = prng(seedOfRun);
    if (role === 'server' && runRand() < 0.3) {
      // The server's very first input: a mutated ClientHello, as the endpoint hands it over.
      const { msg, recordSeq } = clientHelloOf(DtlsConnection.client(scenario.client, 0).pollTransmit()!);
      const body = mutateBytes(runRand, msg.body);
      report.inputs++;
      try {
        const server = DtlsConnection.server(scenario.server, 0, { ...msg, body }, recordSeq);
        server.handleTimeout(1e9);
      } catch (e) {
        note({
          scenario: scenario.name,
          role,
          step: 0,
          kind: 'escaped',
          error: String((e as Error)?.stack ?? e),
          input: body.toString('hex'),
        });
      }
    }
    let p: ScriptedPeer;
    try {
      p =
        role === 'client'
          ? ScriptedPeer.client(scenario.client, scenario.server)
          : ScriptedPeer.server(scenario.server, scenario.client);
    } catch (e) {
      note({ scenario: scenario.name, role, step: -1, kind: 'escaped', error: String(e), input: '' });
      continue;
    }
    // Drive the genuine exchange record by record up to `step` records delivered to the target, so
    // every state between two messages of a flight is reached too.
    const queue: Buffer[] = [];
    const refill = () => {
      if (queue.length > 0) return;
      for (let round = 0; round < 4 && queue.length === 0; round++) {
        p.toAccomplice(...p.takeFromTarget());
        queue.push(...p.takeFromAccomplice().flatMap(splitRecords));
        if (p.accomplice!.state !== 'handshaking' && queue.length === 0) break;
      }
    };
    for (let s = 0; s < step; s++) {
      refill();
      const next = queue.shift();
      if (!next) break;
      p.deliver(p.relay(next));
    }
    refill();
    if (queue.length === 0 && p.accomplice!.state === 'connected') {
      // The handshake is over at this step: attack the connected target with sealed records built
      // from genuine application data.
      p.accomplice!.send(Buffer.from('fuzz payload'), p.now);
      queue.push(...p.takeFromAccomplice());
    }
    // The mutation base: the next genuine record, or the next few packed in one datagram.
    const batch = queue.length === 0 ? [] : [Buffer.concat(queue.slice(0, 1 + Math.floor(rand() * 3)))];
    const tried: string[] = [];
    for (
      let i = 0;
      i < perRun && p.target.state !== 'failed' && p.target.state !== 'closed' && batch.length > 0;
      i++
    ) {
      const input = mutateDatagram(runRand, p, pick(runRand, batch));
      tried.push(input.toString('hex'));
      report.inputs++;
      const t0 = performance.now();
      try {
        p.target.handleDatagram(input, p.now);
      } catch (e) {
        note({
          scenario: scenario.name,
          role,
          step,
          kind: 'escaped',
          error: String((e as Error)?.stack ?? e),
          input: input.toString('hex'),
        });
      }
      const dt = performance.now() - t0;
      if (dt > report.slowestInputMs) report.slowestInputMs = dt;
      if (dt > slowMs)
        note({
          scenario: scenario.name,
          role,
          step,
          kind: 'slow',
          error: `${dt.toFixed(0)} ms`,
          input: input.toString('hex'),
        });
      const internal = internalFailure(p);
      if (internal) {
        note({
          scenario: scenario.name,
          role,
          step,
          kind: 'internal',
          error: internal,
          input: input.toString('hex'),
        });
        break;
      }
    }
    // The rest of the genuine exchange, then every timer to the end (both bounded).
    try {
      p.deliver(...queue.map((d) => p.relay(d)));
      p.exchange();
      p.runTargetTimersToEnd(60);
    } catch (e) {
      note({
        scenario: scenario.name,
        role,
        step,
        kind: 'escaped',
        error: String((e as Error)?.stack ?? e),
        input: 'genuine traffic after mutation',
      });
    }
    const internal = internalFailure(p);
    if (internal) {
      // Found only once the genuine traffic completed a message the mutations had started.
      note({
        scenario: scenario.name,
        role,
        step,
        kind: 'internal',
        error: internal,
        input: `after: ${tried.join(' ')}`,
      });
    }
    const f = p.failure;
    const outcome = f ? `failed:${f.code}` : p.target.state;
    report.outcomes[outcome] = (report.outcomes[outcome] ?? 0) + 1;
    if (report.runs % 16 === 0) {
      const h = process.memoryUsage().heapUsed;
      if (h > report.peakHeapUsed) report.peakHeapUsed = h;
    }
  }
  report.peakHeapUsed = Math.max(report.peakHeapUsed, process.memoryUsage().heapUsed);
  report.timeMs = performance.now() - started;
  return report;
}

/** The engine's catch-all turned an exception of its own into internal_error: a contained bug. */
function internalFailure(p: ScriptedPeer): string | undefined {
  const f = p.failure;
  if (f?.code === 'internal_error' && !f.alertReceived && f.message.startsWith('internal error'))
    return f.message;
  return undefined;
}

/**
 * Mutate one genuine datagram. Half the time the raw bytes (record headers included); otherwise one
 * record's plaintext, sealed again under the real keys with a fresh sequence number, so the mutation
 * gets past authentication and reaches the handshake, alert or ChangeCipherSpec handling.
 */
export function mutateDatagram(rand: () => number, p: ScriptedPeer, d: Buffer): Buffer {
  if (rand() < 0.4) return mutateBytes(rand, d);
  const records = p.watcher.parse(d, p.peerRole);
  if (records.length === 0) return mutateBytes(rand, d);
  const i = Math.floor(rand() * records.length);
  const r = records[i]!;
  if (!r.plaintext) return mutateBytes(rand, d);
  const plaintext =
    r.type === ContentType.handshake
      ? mutateHandshakePlaintext(rand, r.plaintext)
      : mutateBytes(rand, r.plaintext);
  let type = r.type;
  if (rand() < 0.1) type = pick(rand, [20, 21, 22, 23, 24, 26, 0]);
  const mutated = p.record(type, plaintext, r.epoch);
  const others = records.map((x) => x.raw);
  others[i] = mutated;
  // Sometimes the mutated record alone, sometimes with its neighbours, sometimes twice.
  const shape = Math.floor(rand() * 3);
  if (shape === 0) return mutated;
  if (shape === 1) return Buffer.concat(others);
  return Buffer.concat([mutated, mutated]);
}

/**
 * The server endpoint's stateless path under fuzz: mutated ClientHello datagrams (first and with a
 * cookie, whole and fragmented) from random addresses, with cookies on and off. Nothing may escape,
 * and no state may outlive the run beyond the configured caps.
 */
export async function fuzzEndpoint(opts: FuzzOptions): Promise<FuzzReport> {
  const c = await testCredentials();
  const rand = prng(opts.seed);
  const maxRuns = opts.runs ?? Number.POSITIVE_INFINITY;
  const budget = opts.timeBudgetMs ?? Number.POSITIVE_INFINITY;
  const perRun = opts.inputsPerRun ?? 64;
  const report: FuzzReport = {
    inputs: 0,
    runs: 0,
    crashes: 0,
    findings: [],
    outcomes: {},
    slowestInputMs: 0,
    peakHeapUsed: 0,
    heapUsedStart: process.memoryUsage().heapUsed,
    timeMs: 0,
  };
  const started = performance.now();
  // Genuine inputs: a client's first ClientHello, and the one carrying the cookie.
  const seeds: Buffer[] = [];
  {
    const endpoint = new DtlsServerEndpoint({ ...c.serverConfig, mtu: 256 });
    const client = DtlsConnection.client({ ...c.clientConfig, mtu: 256 }, 0);
    const peer = { address: '127.0.0.1', port: 1 };
    for (let i = 0; i < 3; i++) {
      for (let d = client.pollTransmit(); d; d = client.pollTransmit()) {
        seeds.push(d);
        endpoint.handleDatagram(d, peer, 0);
      }
      for (let t = endpoint.pollTransmit(); t; t = endpoint.pollTransmit()) client.handleDatagram(t.data, 0);
    }
  }
  while (report.runs < maxRuns && performance.now() - started < budget) {
    report.runs++;
    const cookies = rand() < 0.5;
    const endpoint = new DtlsServerEndpoint({
      ...c.serverConfig,
      cookies,
      serverLimits: { maxHandshakes: 8, maxPendingHellos: 8, maxHelloLength: 2048 },
    });
    let now = 0;
    for (let i = 0; i < perRun; i++) {
      const input = mutateBytes(rand, pick(rand, seeds));
      const peer = { address: `127.0.${Math.floor(rand() * 4)}.${Math.floor(rand() * 4)}`, port: 1 };
      report.inputs++;
      const t0 = performance.now();
      try {
        endpoint.handleDatagram(input, peer, now);
        if (rand() < 0.1) {
          now += 1000;
          endpoint.handleTimeout(now);
        }
        while (endpoint.pollTransmit());
        while (endpoint.pollEvent());
      } catch (e) {
        report.crashes++;
        if (report.findings.length < 50) {
          report.findings.push({
            scenario: `endpoint cookies=${cookies}`,
            role: 'server',
            step: i,
            kind: 'escaped',
            error: String((e as Error)?.stack ?? e),
            input: input.toString('hex'),
          });
        }
      }
      report.slowestInputMs = Math.max(report.slowestInputMs, performance.now() - t0);
    }
    const outcome = `peers=${Math.min(endpoint.peerCount, 8)}`;
    report.outcomes[outcome] = (report.outcomes[outcome] ?? 0) + 1;
    endpoint.close(now);
  }
  report.peakHeapUsed = Math.max(report.peakHeapUsed, process.memoryUsage().heapUsed);
  report.timeMs = performance.now() - started;
  return report;
}
