import { createHash, createHmac } from 'node:crypto';
import { DtlsError } from '../errors.js';
import { Writer } from '../wire/writer.js';
import type { CipherSuite, PrfHash } from './suites.js';

/**
 * RFC 5246 §5: P_hash(secret, seed) = HMAC(secret, A(1) + seed) || HMAC(secret, A(2) + seed) || …
 * with A(0) = seed and A(i) = HMAC(secret, A(i-1)), truncated to `length`.
 */
function pHash(hash: PrfHash, secret: Uint8Array, seed: Uint8Array, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let a: Buffer = createHmac(hash, secret).update(seed).digest();
  let filled = 0;
  // Each round yields a full digest (≥ 32 bytes), so the loop runs ceil(length / digest) times.
  while (filled < length) {
    const block = createHmac(hash, secret).update(a).update(seed).digest();
    filled += block.copy(out, filled, 0, Math.min(block.length, length - filled));
    if (filled < length) a = createHmac(hash, secret).update(a).digest();
  }
  return out;
}

/**
 * The TLS 1.2 PRF (RFC 5246 §5): PRF(secret, label, seed) = P_<hash>(secret, label + seed). The hash is
 * the suite's PRF hash (SHA-256 unless the suite says SHA-384).
 */
export function prf(
  hash: PrfHash,
  secret: Uint8Array,
  label: string,
  seed: Uint8Array,
  length: number,
): Buffer {
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`prf: bad length ${length}`);
  // Labels are ASCII strings without a length byte or terminator (RFC 5246 §5).
  const labelAndSeed = Buffer.concat([Buffer.from(label, 'latin1'), seed]);
  return pHash(hash, secret, labelAndSeed, length);
}

/** RFC 5246 §8.1: master_secret = PRF(pre_master_secret, "master secret", client_random + server_random)[0..47]. */
export function computeMasterSecret(
  hash: PrfHash,
  preMaster: Uint8Array,
  clientRandom: Uint8Array,
  serverRandom: Uint8Array,
): Buffer {
  return prf(hash, preMaster, 'master secret', Buffer.concat([clientRandom, serverRandom]), 48);
}

/**
 * RFC 7627 §4: with the extended_master_secret extension the master secret is bound to the whole
 * handshake up to and including ClientKeyExchange (the session hash), which defeats the triple
 * handshake attack: master_secret = PRF(pre_master_secret, "extended master secret", session_hash)[0..47].
 */
export function computeExtendedMasterSecret(
  hash: PrfHash,
  preMaster: Uint8Array,
  sessionHash: Uint8Array,
): Buffer {
  return prf(hash, preMaster, 'extended master secret', sessionHash, 48);
}

/** The traffic keys of one connection state (RFC 5246 §6.3). */
export interface KeyBlock {
  clientWriteKey: Buffer;
  serverWriteKey: Buffer;
  clientWriteIv: Buffer;
  serverWriteIv: Buffer;
}

/**
 * RFC 5246 §6.3: key_block = PRF(master_secret, "key expansion", server_random + client_random), cut into
 * client_write_MAC_key, server_write_MAC_key, client_write_key, server_write_key, client_write_IV,
 * server_write_IV. Every suite we support is AEAD, whose MAC key length is 0 (RFC 5246 §6.2.3.3), so the
 * block starts with the encryption keys; the IV is the implicit nonce part (4 bytes salt for GCM/CCM, RFC
 * 5288 §3 / RFC 6655 §3; 12 bytes for ChaCha20-Poly1305, RFC 7905 §2).
 */
export function expandKeys(
  suite: CipherSuite,
  masterSecret: Uint8Array,
  clientRandom: Uint8Array,
  serverRandom: Uint8Array,
): KeyBlock {
  const k = suite.keyLength;
  const iv = suite.fixedIvLength;
  const block = prf(
    suite.prfHash,
    masterSecret,
    'key expansion',
    Buffer.concat([serverRandom, clientRandom]),
    2 * k + 2 * iv,
  );
  return {
    clientWriteKey: block.subarray(0, k),
    serverWriteKey: block.subarray(k, 2 * k),
    clientWriteIv: block.subarray(2 * k, 2 * k + iv),
    serverWriteIv: block.subarray(2 * k + iv, 2 * k + 2 * iv),
  };
}

/**
 * RFC 5246 §7.4.9: verify_data = PRF(master_secret, finished_label, Hash(handshake_messages))[0..11]; the
 * hash is the PRF hash and verify_data_length is 12 for every suite we support.
 */
export function computeVerifyData(
  hash: PrfHash,
  masterSecret: Uint8Array,
  label: 'client finished' | 'server finished',
  handshakeHash: Uint8Array,
): Buffer {
  return prf(hash, masterSecret, label, handshakeHash, 12);
}

/**
 * RFC 5705 §4 keying material exporter (used e.g. by DTLS-SRTP, RFC 5764 §4.2):
 * PRF(master_secret, label, client_random + server_random [+ context_value_length + context_value]).
 * "No context" and "empty context" are different inputs, hence `undefined` versus a zero-length array.
 */
export function exportKeyingMaterial(
  hash: PrfHash,
  masterSecret: Uint8Array,
  clientRandom: Uint8Array,
  serverRandom: Uint8Array,
  label: string,
  context: Uint8Array | undefined,
  length: number,
): Buffer {
  const seed = new Writer(64 + (context?.length ?? 0) + 2).bytes(clientRandom).bytes(serverRandom);
  if (context !== undefined) {
    if (context.length > 0xffff)
      throw new DtlsError('invalid_argument', `exporter context too long: ${context.length} bytes`);
    seed.vec16(context);
  }
  return prf(hash, masterSecret, label, seed.finish(), length);
}

/**
 * The PSK premaster secret (RFC 4279 §2): struct { opaque other_secret<0..2^16-1>; opaque psk<0..2^16-1>; }.
 * For plain PSK other_secret is N zero bytes with N the PSK length; for ECDHE_PSK (RFC 5489 §2) it is the
 * ECDH shared secret.
 */
export function pskPremasterSecret(psk: Uint8Array, otherSecret?: Uint8Array): Buffer {
  if (psk.length > 0xffff) throw new DtlsError('invalid_argument', `PSK too long: ${psk.length} bytes`);
  const other = otherSecret ?? Buffer.alloc(psk.length);
  return new Writer(4 + other.length + psk.length).vec16(other).vec16(psk).finish();
}

/** Hash(handshake_messages) over the given messages in order (RFC 5246 §7.4.9, RFC 7627 §3). */
export function transcriptHash(hash: PrfHash, messages: Uint8Array[]): Buffer {
  const h = createHash(hash);
  for (const m of messages) h.update(m);
  return h.digest();
}
