import type { KeyObject } from 'node:crypto';
import { validateFingerprint } from '../cert/fingerprint.js';
import { loadCertificate, loadPrivateKey } from '../cert/generate.js';
import type { GroupName } from '../crypto/key-exchange.js';
import type { RandomSource } from '../crypto/random.js';
import type { ClientPsk, EngineConfig, Identity, ServerPsk } from '../engine/config.js';
import { DtlsError } from '../errors.js';

/** Options shared by connect() and createServer(). */
export interface CommonOptions {
  /** Our certificate chain (PEM, leaf first) and private key (PEM or KeyObject). */
  cert?: string | Buffer;
  key?: string | Buffer | KeyObject;
  /** Trust anchors for the peer's certificate (PEM, one or several). */
  ca?: string | Buffer | ReadonlyArray<string | Buffer>;
  /** Accepted fingerprints of the peer's certificate, `sha-256 AB:CD:…` (RFC 8122); a match is enough. */
  fingerprint?: string | readonly string[];
  /** Accept any peer certificate. For tests only. */
  insecure?: boolean;
  /** Suites by IANA or OpenSSL name, in preference order (an array or a comma-separated string). */
  cipherSuites?: string | readonly string[];
  /** ECDHE groups: x25519, secp256r1, secp384r1 (an array or a comma-separated string). */
  groups?: string | readonly string[];
  /** Largest datagram sent, in bytes of UDP payload (default 1200). */
  mtu?: number;
  /** Whole-handshake limit in ms (default 60,000). */
  handshakeTimeout?: number;
  /** First retransmission timeout in ms (RFC 6347 §4.2.4.1: 1,000). */
  initialRetransmitTimeout?: number;
  /** Refuse peers without extended_master_secret (RFC 7627). */
  requireExtendedMasterSecret?: boolean;
  /** Randomness source; only tests replace it. */
  random?: RandomSource;
  /** DTLS-SRTP profiles in preference order (RFC 5764), e.g. SRTP_AEAD_AES_128_GCM (array or comma list). */
  srtpProfiles?: string | readonly string[];
  /** MKI sent with use_srtp (client). */
  srtpMki?: Buffer;
  /** ALPN protocols in preference order (RFC 7301), array or comma list. */
  alpn?: string | readonly string[];
}

function list(x: string | readonly string[] | undefined): string[] | undefined {
  if (x === undefined) return undefined;
  const arr = typeof x === 'string' ? x.split(',') : [...x];
  return arr.map((s) => s.trim()).filter((s) => s.length > 0);
}

function loadIdentity(
  cert: string | Buffer | undefined,
  key: string | Buffer | KeyObject | undefined,
): Identity | undefined {
  if (cert === undefined && key === undefined) return undefined;
  if (cert === undefined || key === undefined)
    throw new DtlsError('invalid_argument', 'cert and key must be given together');
  const chain = loadCertificate(cert);
  if (chain.length === 0) throw new DtlsError('invalid_argument', 'no certificate found in cert');
  const privateKey = typeof key === 'object' && !Buffer.isBuffer(key) ? key : loadPrivateKey(key);
  if (!chain[0]!.checkPrivateKey(privateKey)) {
    throw new DtlsError('invalid_argument', 'the private key does not match the certificate');
  }
  return { certificateChain: chain.map((c) => c.raw), privateKey };
}

/** Translate user-facing options into the engine's configuration, validating them up front. */
export function engineConfigFrom(o: CommonOptions): Omit<EngineConfig, 'role'> {
  const fingerprints = list(
    o.fingerprint === undefined
      ? undefined
      : typeof o.fingerprint === 'string'
        ? [o.fingerprint]
        : o.fingerprint,
  );
  for (const f of fingerprints ?? []) validateFingerprint(f); // throws invalid_argument on a malformed one
  const ca = o.ca === undefined ? undefined : Array.isArray(o.ca) ? [...o.ca] : [o.ca as string | Buffer];
  for (const c of ca ?? []) loadCertificate(c);
  return {
    identity: loadIdentity(o.cert, o.key),
    ca,
    fingerprints,
    insecure: o.insecure,
    cipherSuites: list(o.cipherSuites),
    groups: list(o.groups) as GroupName[] | undefined,
    mtu: o.mtu,
    handshakeTimeoutMs: o.handshakeTimeout,
    retransmit:
      o.initialRetransmitTimeout === undefined ? undefined : { initialMs: o.initialRetransmitTimeout },
    requireExtendedMasterSecret: o.requireExtendedMasterSecret,
    random: o.random,
    srtpProfiles: list(o.srtpProfiles),
    srtpMki: o.srtpMki,
    alpn: list(o.alpn),
  };
}

export type { ClientPsk, ServerPsk };
