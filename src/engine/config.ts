import type { KeyObject } from 'node:crypto';
import type { GroupName } from '../crypto/key-exchange.js';
import { type RandomSource, systemRandom } from '../crypto/random.js';
import type { SignatureSchemeName } from '../crypto/signature.js';
import { CIPHER_SUITES, type CipherSuite, suiteById, suiteByName, usesPsk } from '../crypto/suites.js';
import { DtlsError } from '../errors.js';
import { MIN_MTU } from '../handshake/flight.js';
import { DEFAULT_REASSEMBLER_LIMITS, type ReassemblerLimits } from '../handshake/reassembler.js';
import { DEFAULT_RETRANSMIT_POLICY, type RetransmitPolicy } from '../handshake/retransmit-timer.js';
import { srtpProfileByName } from '../handshake/srtp.js';
import { DEFAULT_RECORD_LAYER_LIMITS, type RecordLayerLimits } from '../record/record-layer.js';
import type { ClientSession, SessionCache, TicketKeyring } from './resumption.js';

/** Our own certificate chain (leaf first, DER) and its private key. */
export interface Identity {
  certificateChain: Buffer[];
  privateKey: KeyObject;
}

/** A PSK identity and key (RFC 4279 §2). */
export interface PskCredentials {
  identity: string | Buffer;
  key: Buffer;
}

/** Client side: fixed credentials, or a choice made from the server's identity hint. */
export type ClientPsk = PskCredentials | ((hint: Buffer | undefined) => PskCredentials);

/** Server side: an optional hint and a lookup of the key by identity (sync or async). */
export interface ServerPsk {
  hint?: string | Buffer;
  lookup: (identity: Buffer) => Buffer | undefined | Promise<Buffer | undefined>;
}

/**
 * Everything a connection needs. Only `role` is required; the rest have safe defaults.
 * Time and randomness come from outside so a test can replay a run exactly.
 */
export interface EngineConfig {
  role: 'client' | 'server';
  /** Largest datagram we send, in bytes of UDP payload (default 1200). */
  mtu?: number;
  /** Suites we offer or accept, by IANA name, OpenSSL name or code point, in preference order. */
  cipherSuites?: ReadonlyArray<string | number>;
  /** ECDHE groups in preference order (default x25519, secp256r1, secp384r1). */
  groups?: readonly GroupName[];
  signatureSchemes?: readonly SignatureSchemeName[];
  /** Our certificate and key (required for a server using certificate suites; optional for a client). */
  identity?: Identity;
  /** Trust anchors for the peer's chain (PEM bundles or DER). */
  ca?: ReadonlyArray<string | Buffer>;
  /** Accepted fingerprints of the peer's leaf (`sha-256 AB:CD:…`); a match skips chain checks (WebRTC). */
  fingerprints?: readonly string[];
  /** Accept any certificate (for tests and debugging only). */
  insecure?: boolean;
  /** Client: the name sent in server_name and checked against the server certificate. */
  serverName?: string;
  /** Server: ask for a client certificate ('request') or insist on one ('require'). */
  clientCertificate?: 'none' | 'request' | 'require';
  /** Refuse peers that do not negotiate extended_master_secret (RFC 7627 §5.2). */
  requireExtendedMasterSecret?: boolean;
  psk?: ClientPsk | ServerPsk;
  retransmit?: Partial<RetransmitPolicy>;
  /** The whole handshake must end within this time (default 60 s), or fail with `timeout`. */
  handshakeTimeoutMs?: number;
  random?: RandomSource;
  /** Wall-clock time for certificate validity (the engine's `now` is monotonic, not a date). */
  // biome-ignore lint/style/noRestrictedGlobals: a type only; the adapter supplies the clock.
  certificateTime?: () => Date;
  /** Handshake reassembly bounds: largest message, how far ahead of message_seq fragments are kept. */
  limits?: Partial<ReassemblerLimits>;
  /** Records of the next epoch held before its ChangeCipherSpec: count and bytes (default 32, 64 KiB). */
  recordLimits?: Partial<RecordLayerLimits>;
  /** Largest number of HelloVerifyRequests a client answers (RFC 6347 §4.2.1 allows several). */
  maxHelloVerifyRequests?: number;
  /** DTLS-SRTP protection profiles in preference order (RFC 5764 §4.1.1), e.g. SRTP_AEAD_AES_128_GCM. */
  srtpProfiles?: readonly string[];
  /** MKI offered with use_srtp (RFC 5764 §4.1.1); empty by default. */
  srtpMki?: Buffer;
  /** ALPN protocols in preference order (RFC 7301), e.g. ['webrtc', 'c-webrtc']. */
  alpn?: readonly string[];
  /** Client: a session from an earlier connection to resume (RFC 5246 §7.3, RFC 5077). */
  session?: ClientSession;
  /** Client: ask for a session ticket (RFC 5077), default true. */
  requestTicket?: boolean;
  /** Server: where sessions are kept for resumption by ID; absent = no session IDs. */
  sessionCache?: SessionCache;
  /** Server: ticket keys; absent = no tickets. */
  ticketKeyring?: TicketKeyring;
  /** Wall-clock ms (session and ticket ages); the adapter passes Date.now. Default: always 0. */
  wallClock?: () => number;
}

export interface ResolvedConfig extends EngineConfig {
  mtu: number;
  suites: CipherSuite[];
  groups: readonly GroupName[];
  signatureSchemes: readonly SignatureSchemeName[];
  retransmitPolicy: RetransmitPolicy;
  handshakeTimeoutMs: number;
  random: RandomSource;
  reassemblerLimits: ReassemblerLimits;
  recordLayerLimits: RecordLayerLimits;
  maxHelloVerifyRequests: number;
}

export const DEFAULT_GROUPS: readonly GroupName[] = ['x25519', 'secp256r1', 'secp384r1'];
export const DEFAULT_SIGNATURE_SCHEMES: readonly SignatureSchemeName[] = [
  'ecdsa_secp256r1_sha256',
  'ecdsa_secp384r1_sha384',
  'ed25519',
  'rsa_pss_rsae_sha256',
  'rsa_pss_rsae_sha384',
  'rsa_pkcs1_sha256',
  'rsa_pkcs1_sha384',
];

export function parseSuiteList(list: ReadonlyArray<string | number>): CipherSuite[] {
  return list.map((x) => {
    const s = typeof x === 'number' ? suiteById(x) : suiteByName(x);
    if (!s) throw new DtlsError('invalid_argument', `unknown cipher suite ${String(x)}`);
    return s;
  });
}

/** Default suites: the certificate suites, plus PSK suites when PSK credentials are configured. */
function defaultSuites(cfg: EngineConfig): CipherSuite[] {
  return CIPHER_SUITES.filter((s) => (usesPsk(s) ? cfg.psk !== undefined : true));
}

const RESOLVED = Symbol('resolved');

export function resolveConfig(cfg: EngineConfig): ResolvedConfig {
  // A server endpoint resolves its configuration once; its connections reuse it as is.
  if ((cfg as ResolvedConfig & { [RESOLVED]?: true })[RESOLVED]) return cfg as ResolvedConfig;
  const mtu = cfg.mtu ?? 1200;
  if (!Number.isInteger(mtu) || mtu < MIN_MTU || mtu > 65507) {
    throw new DtlsError('invalid_argument', `mtu must be an integer in ${MIN_MTU}..65507`);
  }
  const suites = cfg.cipherSuites ? parseSuiteList(cfg.cipherSuites) : defaultSuites(cfg);
  if (suites.length === 0) throw new DtlsError('invalid_argument', 'no cipher suite configured');
  const psk = cfg.psk as Partial<PskCredentials> | undefined;
  if (cfg.role === 'client' && psk && typeof psk === 'object' && psk.identity !== undefined) {
    // RFC 4279 §2: psk_identity<0..2^16-1>; an empty identity names nobody.
    const n = Buffer.byteLength(psk.identity);
    if (n === 0 || n > 0xffff)
      throw new DtlsError('invalid_argument', `PSK identity must be 1..65535 bytes, got ${n}`);
  }
  for (const p of cfg.srtpProfiles ?? []) srtpProfileByName(p);
  for (const a of cfg.alpn ?? []) {
    if (a.length === 0 || Buffer.byteLength(a) > 255)
      throw new DtlsError('invalid_argument', `bad ALPN protocol ${JSON.stringify(a)}`);
  }
  const groups = cfg.groups ?? DEFAULT_GROUPS;
  for (const g of groups) {
    if (!DEFAULT_GROUPS.includes(g)) throw new DtlsError('invalid_argument', `unknown group ${g}`);
  }
  // Object.assign rather than `{ ...cfg, mtu, … }`: in Node 20 an object literal that starts with a
  // spread and then adds a dozen properties takes ~12 µs to build (measured), against ~0.4 µs here,
  // and a client resolves its configuration on every connection.
  return Object.assign({}, cfg, {
    mtu,
    suites,
    groups,
    signatureSchemes: cfg.signatureSchemes ?? DEFAULT_SIGNATURE_SCHEMES,
    retransmitPolicy: { ...DEFAULT_RETRANSMIT_POLICY, ...cfg.retransmit },
    handshakeTimeoutMs: cfg.handshakeTimeoutMs ?? 60_000,
    random: cfg.random ?? systemRandom,
    reassemblerLimits: { ...DEFAULT_REASSEMBLER_LIMITS, ...cfg.limits },
    recordLayerLimits: { ...DEFAULT_RECORD_LAYER_LIMITS, ...cfg.recordLimits },
    maxHelloVerifyRequests: cfg.maxHelloVerifyRequests ?? 4,
    [RESOLVED]: true,
  }) as ResolvedConfig;
}

/** `cfg` for the given role, resolved; a configuration already resolved for that role is used as is. */
export function resolveConfigFor(
  cfg: Omit<EngineConfig, 'role'>,
  role: EngineConfig['role'],
): ResolvedConfig {
  const c = cfg as ResolvedConfig & { [RESOLVED]?: true };
  if (c[RESOLVED] && c.role === role) return c;
  // A marker copied from a configuration resolved for the other role must not skip the checks.
  return resolveConfig(Object.assign({}, cfg, { role, [RESOLVED]: false }));
}
