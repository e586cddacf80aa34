import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto';
import type { RandomSource } from '../crypto/random.js';
import { DtlsError } from '../errors.js';
import { DecodeError } from '../wire/errors.js';
import { Reader } from '../wire/reader.js';
import { Writer } from '../wire/writer.js';

/**
 * What a session keeps for an abbreviated handshake (RFC 5246 §7.3, RFC 6347 §4.2.4): the master
 * secret and the parameters it was made with. The peer certificate is kept so a resumed connection
 * still reports who the peer is.
 */
export interface SessionState {
  cipherSuite: number;
  masterSecret: Buffer;
  extendedMasterSecret: boolean;
  /** Wall-clock ms when the full handshake made it. */
  createdAt: number;
  peerCertificate?: Buffer;
  pskIdentity?: Buffer;
  /** The server_name of the handshake that made it: never resumed under another (RFC 6066 §3). */
  serverName?: string;
}

/** Encode a SessionState (the plaintext of a ticket, and the body of a client session). */
export function encodeSessionState(s: SessionState): Buffer {
  const w = new Writer(128 + (s.peerCertificate?.length ?? 0));
  w.u8(2); // format version
  w.u16(s.cipherSuite);
  w.vec8(s.masterSecret);
  w.u8(s.extendedMasterSecret ? 1 : 0);
  w.u48(Math.max(0, Math.floor(s.createdAt)));
  w.vec24(s.peerCertificate ?? Buffer.alloc(0));
  w.vec16(s.pskIdentity ?? Buffer.alloc(0));
  w.vec8(Buffer.from(s.serverName ?? '', 'latin1'));
  // Kept by a client for as long as it may resume: memory of its own, not a slice of a pool slab.
  return w.finishOwned();
}

export function decodeSessionState(b: Uint8Array): SessionState {
  const r = new Reader(b);
  if (r.u8('session format') !== 2) throw new DecodeError('unknown session format');
  const cipherSuite = r.u16('cipher_suite');
  const masterSecret = Buffer.from(r.vec8('master_secret', 48, 48));
  const extendedMasterSecret = r.u8('ems') === 1;
  const createdAt = r.u48('created_at');
  const cert = r.vec24('peer_certificate');
  const psk = r.vec16('psk_identity');
  const name = r.vec8('server_name');
  r.expectEnd('session');
  return {
    cipherSuite,
    masterSecret,
    extendedMasterSecret,
    createdAt,
    peerCertificate: cert.length ? Buffer.from(cert) : undefined,
    pskIdentity: psk.length ? Buffer.from(psk) : undefined,
    ...(name.length ? { serverName: name.toString('latin1') } : {}),
  };
}

/**
 * A client's session, as `connect({ session })` takes it and the `session` event gives it: opaque to
 * the application, serializable with `serializeSession` (JSON text) for --sess-out / --sess-in.
 */
export interface ClientSession {
  sessionId: Buffer;
  /** RFC 5077 ticket, when the server issued one. */
  ticket?: Buffer;
  /** Ticket lifetime hint from the server, in seconds (0: unspecified). */
  ticketLifetimeSeconds?: number;
  state: SessionState;
  serverName?: string;
  /** The server's certificate chain as received (leaf first), to re-check it before resuming. */
  peerChain?: Buffer[];
}

export function serializeSession(s: ClientSession): string {
  return JSON.stringify({
    format: 'tsdtls-session-1',
    sessionId: s.sessionId.toString('hex'),
    ticket: s.ticket?.toString('hex'),
    ticketLifetimeSeconds: s.ticketLifetimeSeconds,
    state: encodeSessionState(s.state).toString('base64'),
    serverName: s.serverName,
    peerChain: s.peerChain?.map((c) => c.toString('base64')),
  });
}

export function deserializeSession(text: string): ClientSession {
  try {
    const o = JSON.parse(text) as Record<string, unknown>;
    if (o.format !== 'tsdtls-session-1') throw new Error('not a tsdtls session');
    return {
      sessionId: Buffer.from(String(o.sessionId ?? ''), 'hex'),
      ticket: typeof o.ticket === 'string' ? Buffer.from(o.ticket, 'hex') : undefined,
      ticketLifetimeSeconds:
        typeof o.ticketLifetimeSeconds === 'number' ? o.ticketLifetimeSeconds : undefined,
      state: decodeSessionState(Buffer.from(String(o.state), 'base64')),
      serverName: typeof o.serverName === 'string' ? o.serverName : undefined,
      peerChain: Array.isArray(o.peerChain)
        ? o.peerChain.map((c) => Buffer.from(String(c), 'base64'))
        : undefined,
    };
  } catch (e) {
    throw new DtlsError('invalid_argument', `unreadable session: ${(e as Error).message}`);
  }
}

export interface SessionCacheOptions {
  /** Sessions kept at most; the oldest is evicted first (default 10,000). */
  maxEntries?: number;
  /** How long a session may be resumed, in ms (default 2 hours). */
  lifetimeMs?: number;
}

/**
 * The server's session-ID cache (RFC 5246 §7.4.1.2): bounded in size and lifetime, evicting the
 * oldest entry. Time is the caller's wall clock in ms.
 */
export class SessionCache {
  /**
   * Session ID (as a latin1 string: 32 chars, not 64 of hex) → the encoded state, also as a latin1
   * string: a string costs far less than a Buffer's two objects, and pins no pool slab.
   */
  private readonly entries = new Map<string, { createdAt: number; state: string }>();
  readonly maxEntries: number;
  readonly lifetimeMs: number;

  constructor(opts: SessionCacheOptions = {}) {
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.lifetimeMs = opts.lifetimeMs ?? 2 * 3600_000;
  }

  get size(): number {
    return this.entries.size;
  }

  store(sessionId: Buffer, state: SessionState): void {
    const key = sessionId.toString('latin1');
    this.entries.delete(key);
    while (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
    this.entries.set(key, {
      createdAt: state.createdAt,
      state: encodeSessionState(state).toString('latin1'),
    });
  }

  lookup(sessionId: Buffer, wallNow: number): SessionState | undefined {
    const key = sessionId.toString('latin1');
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (wallNow - e.createdAt >= this.lifetimeMs || wallNow < e.createdAt - 60_000) {
      this.entries.delete(key);
      return undefined;
    }
    return decodeSessionState(Buffer.from(e.state, 'latin1'));
  }
}

export interface TicketOptions {
  /** Secret from which ticket keys are derived; share it so several servers accept one another's tickets. */
  secret?: Buffer;
  /** Ticket keys rotate this often (default 1 hour); tickets under the previous key still open. */
  rotationMs?: number;
  /** How long a ticket is accepted, and the lifetime hint sent (default 2 hours). */
  lifetimeMs?: number;
}

const TICKET_NAME_LENGTH = 16;
const TICKET_NONCE_LENGTH = 12;
const TICKET_TAG_LENGTH = 16;

/**
 * RFC 5077 session tickets: the server keeps nothing; the state travels sealed with AES-256-GCM
 * under a key that rotates (§4's recommended construction: key_name, IV, encrypted state, MAC — here
 * the AEAD tag is the MAC). Keys are derived from one secret and the rotation period, so servers
 * sharing the secret and a clock agree on every key without talking to each other.
 */
export class TicketKeyring {
  private readonly secret: Buffer;
  readonly rotationMs: number;
  readonly lifetimeMs: number;
  private cache: { period: number; name: Buffer; key: Buffer }[] = [];

  constructor(
    opts: TicketOptions,
    private readonly random: RandomSource,
  ) {
    this.secret = opts.secret ?? random(32);
    if (this.secret.length < 16)
      throw new DtlsError('invalid_argument', 'ticket secret must be at least 16 bytes');
    this.rotationMs = opts.rotationMs ?? 3600_000;
    this.lifetimeMs = opts.lifetimeMs ?? 2 * 3600_000;
  }

  private keyFor(period: number): { name: Buffer; key: Buffer } {
    const hit = this.cache.find((c) => c.period === period);
    if (hit) return hit;
    const p = Buffer.alloc(8);
    p.writeBigUInt64BE(BigInt(Math.max(0, period)));
    const name = createHmac('sha256', this.secret)
      .update('tsdtls ticket name')
      .update(p)
      .digest()
      .subarray(0, 16);
    const key = createHmac('sha256', this.secret).update('tsdtls ticket key').update(p).digest();
    const entry = { period, name, key };
    this.cache = [entry, ...this.cache].slice(0, 3);
    return entry;
  }

  seal(state: SessionState, wallNow: number): Buffer {
    const { name, key } = this.keyFor(Math.floor(wallNow / this.rotationMs));
    const nonce = this.random(TICKET_NONCE_LENGTH);
    const c = createCipheriv('aes-256-gcm', key, nonce);
    c.setAAD(name);
    const body = Buffer.concat([c.update(encodeSessionState(state)), c.final()]);
    return Buffer.concat([name, nonce, body, c.getAuthTag()]);
  }

  /** The state in a ticket, or undefined when it is forged, tampered, under a retired key, or expired. */
  open(ticket: Uint8Array, wallNow: number): SessionState | undefined {
    if (ticket.length < TICKET_NAME_LENGTH + TICKET_NONCE_LENGTH + TICKET_TAG_LENGTH + 1) return undefined;
    const t = Buffer.from(ticket.buffer, ticket.byteOffset, ticket.length);
    const name = t.subarray(0, TICKET_NAME_LENGTH);
    const period = Math.floor(wallNow / this.rotationMs);
    const k = [period, period - 1].map((p) => this.keyFor(p)).find((x) => x.name.equals(name));
    if (!k) return undefined;
    const nonce = t.subarray(TICKET_NAME_LENGTH, TICKET_NAME_LENGTH + TICKET_NONCE_LENGTH);
    const body = t.subarray(TICKET_NAME_LENGTH + TICKET_NONCE_LENGTH, t.length - TICKET_TAG_LENGTH);
    try {
      const d = createDecipheriv('aes-256-gcm', k.key, nonce);
      d.setAAD(name);
      d.setAuthTag(t.subarray(t.length - TICKET_TAG_LENGTH));
      const state = decodeSessionState(Buffer.concat([d.update(body), d.final()]));
      if (wallNow - state.createdAt >= this.lifetimeMs || wallNow < state.createdAt - 60_000)
        return undefined;
      return state;
    } catch {
      return undefined;
    }
  }
}
