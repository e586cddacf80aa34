import {
  type CipherCCMTypes,
  type CipherGCM,
  type CipherGCMTypes,
  createCipheriv,
  createDecipheriv,
  createSecretKey,
  type KeyObject,
} from 'node:crypto';
import { DtlsError } from '../errors.js';
import type { AeadAlgorithm, CipherSuite } from './suites.js';

/**
 * Protection of one direction of one epoch. `seal` and `open` work on the record fragment only: the
 * record layer owns the header and passes the header fields in, because they are authenticated as the
 * additional data (RFC 5246 §6.2.3.3 with the DTLS epoch and sequence number of RFC 6347 §4.1.2.1).
 */
export interface RecordCipher {
  /**
   * Returns explicit nonce || ciphertext || tag, after `headerRoom` bytes left free for the caller
   * (the record layer writes the record header there, saving a copy per record).
   */
  seal(
    epoch: number,
    seq: number,
    type: number,
    version: number,
    plaintext: Uint8Array,
    headerRoom?: number,
  ): Buffer;
  /**
   * seal() as the parts of the fragment in order: `headerRoom` bytes then the explicit nonce, the
   * ciphertext, the tag. For a socket that gathers its datagram from several buffers (dgram.send takes
   * a list, which becomes one sendmsg): the ciphertext stays where node:crypto put it, uncopied.
   */
  sealGathered(
    epoch: number,
    seq: number,
    type: number,
    version: number,
    plaintext: Uint8Array,
    headerRoom?: number,
  ): Buffer[];
  /** Returns the plaintext, or null when the fragment is too short or fails authentication. */
  open(epoch: number, seq: number, type: number, version: number, fragment: Uint8Array): Buffer | null;
  /** Bytes a sealed fragment has beyond its plaintext: explicit nonce plus tag. */
  readonly overhead: number;
}

type NodeAeadName = CipherGCMTypes | CipherCCMTypes | 'chacha20-poly1305';

const NODE_CIPHER: Record<AeadAlgorithm, NodeAeadName> = {
  'aes-128-gcm': 'aes-128-gcm',
  'aes-256-gcm': 'aes-256-gcm',
  'chacha20-poly1305': 'chacha20-poly1305',
  'aes-128-ccm': 'aes-128-ccm',
  'aes-256-ccm': 'aes-256-ccm',
  // CCM_8 is CCM with an 8-byte tag (RFC 6655 §3); OpenSSL has no separate name for it.
  'aes-128-ccm8': 'aes-128-ccm',
  'aes-256-ccm8': 'aes-256-ccm',
};

/** AEAD nonces are 12 bytes for every suite we support (RFC 5288 §3, RFC 6655 §3, RFC 7905 §2). */
const NONCE_LENGTH = 12;
/** seq_num(8: epoch || sequence_number) + type(1) + version(2) + length(2), RFC 6347 §4.1.2.1. */
const AAD_LENGTH = 13;
const SCRATCH_NONCE = Buffer.alloc(NONCE_LENGTH);
const SCRATCH_AAD = Buffer.alloc(AAD_LENGTH);
/**
 * An empty plaintext that has real backing memory. CCM must see exactly one update() call; node skips
 * the call into OpenSSL for a zero-length buffer without backing store (e.g. randomBytes(0)), and CCM
 * then fails with "tag not set".
 */
const EMPTY_WITH_STORAGE = Buffer.alloc(1).subarray(0, 0);
/**
 * createCipheriv's options for each tag length, made once and shared by every cipher: none per record
 * and none per session (node:crypto only reads them).
 */
const CIPHER_OPTIONS: Readonly<Record<number, { readonly authTagLength: number }>> = Object.freeze({
  8: Object.freeze({ authTagLength: 8 }),
  16: Object.freeze({ authTagLength: 16 }),
});

export function createRecordCipher(suite: CipherSuite, key: Uint8Array, fixedIv: Uint8Array): RecordCipher {
  if (key.length !== suite.keyLength)
    throw new DtlsError(
      'invalid_argument',
      `${suite.name}: key is ${key.length} bytes, want ${suite.keyLength}`,
    );
  if (fixedIv.length !== suite.fixedIvLength)
    throw new DtlsError(
      'invalid_argument',
      `${suite.name}: fixed IV is ${fixedIv.length} bytes, want ${suite.fixedIvLength}`,
    );
  return new AeadRecordCipher(suite, key, fixedIv);
}

class AeadRecordCipher implements RecordCipher {
  readonly overhead: number;
  private readonly algorithm: NodeAeadName;
  private readonly tagLength: number;
  private readonly explicitNonceLength: number;
  private readonly key: KeyObject;
  private readonly cipherOptions: { readonly authTagLength: number };
  /** CCM alone needs the plaintext length before the data (RFC 3610 §2.2 puts it in block B0). */
  private readonly needsPlaintextLength: boolean;
  /** The fixed IV as 32-bit words: the salt (GCM/CCM) or the whole 12-byte IV (ChaCha20-Poly1305). */
  private readonly iv0: number;
  private readonly iv1: number;
  private readonly iv2: number;
  // Nonce and AAD are built in scratch buffers shared by every cipher: seal and open run to the end
  // synchronously and node:crypto copies both when they are handed to it, so one pair serves all
  // connections (an idle session then holds no buffers of its own here).
  private readonly nonce = SCRATCH_NONCE;
  private readonly aad = SCRATCH_AAD;

  constructor(suite: CipherSuite, key: Uint8Array, fixedIv: Uint8Array) {
    this.algorithm = NODE_CIPHER[suite.aead];
    this.tagLength = suite.tagLength;
    this.explicitNonceLength = suite.recordIvLength;
    this.overhead = suite.recordIvLength + suite.tagLength;
    this.cipherOptions = CIPHER_OPTIONS[suite.tagLength] ?? { authTagLength: suite.tagLength };
    this.needsPlaintextLength = this.algorithm.endsWith('-ccm');
    // One KeyObject per cipher: importing the raw key on every record would be wasted work.
    this.key = createSecretKey(Buffer.from(key));
    const iv = Buffer.alloc(NONCE_LENGTH);
    iv.set(fixedIv, 0);
    this.iv0 = iv.readUInt32BE(0);
    this.iv1 = iv.readUInt32BE(4);
    this.iv2 = iv.readUInt32BE(8);
  }

  /** Fills the first 8 AAD bytes with epoch(2) || sequence_number(6), DTLS's 64-bit seq_num. */
  private writeSeqNum(epoch: number, seq: number): void {
    this.aad.writeUInt16BE(epoch, 0);
    this.aad.writeUInt16BE(Math.floor(seq / 0x1_0000_0000), 2);
    this.aad.writeUInt32BE(seq >>> 0, 4);
  }

  private writeAadTail(type: number, version: number, plaintextLength: number): void {
    this.aad[8] = type;
    this.aad.writeUInt16BE(version, 9);
    this.aad.writeUInt16BE(plaintextLength, 11);
  }

  /**
   * RFC 7905 §2: nonce = client/server_write_IV XOR (4 zero bytes || 64-bit seq_num), with DTLS's
   * seq_num being epoch || sequence_number. Expects writeSeqNum to have run.
   */
  private xorSeqNumIntoNonce(): void {
    this.nonce.writeUInt32BE(this.iv0, 0);
    this.nonce.writeUInt32BE((this.iv1 ^ this.aad.readUInt32BE(0)) >>> 0, 4);
    this.nonce.writeUInt32BE((this.iv2 ^ this.aad.readUInt32BE(4)) >>> 0, 8);
  }

  seal(
    epoch: number,
    seq: number,
    type: number,
    version: number,
    plaintext: Uint8Array,
    headerRoom = 0,
  ): Buffer {
    const bodyAt = headerRoom + this.explicitNonceLength;
    const out = Buffer.allocUnsafe(bodyAt + plaintext.length + this.tagLength);
    const cipher = this.startSeal(epoch, seq, type, version, plaintext.length, out, headerRoom);
    // node:crypto cannot encrypt into a caller's buffer, so the ciphertext is copied into the record
    // (TypedArray set: a plain memcpy, cheaper than Buffer#copy's argument handling).
    const body = cipher.update(plaintext.length === 0 ? EMPTY_WITH_STORAGE : plaintext);
    out.set(body, bodyAt);
    const tail = cipher.final();
    if (tail.length > 0) out.set(tail, bodyAt + body.length);
    out.set(cipher.getAuthTag(), bodyAt + plaintext.length);
    return out;
  }

  sealGathered(
    epoch: number,
    seq: number,
    type: number,
    version: number,
    plaintext: Uint8Array,
    headerRoom = 0,
  ): Buffer[] {
    const prefix = Buffer.allocUnsafe(headerRoom + this.explicitNonceLength);
    const cipher = this.startSeal(epoch, seq, type, version, plaintext.length, prefix, headerRoom);
    const body = cipher.update(plaintext.length === 0 ? EMPTY_WITH_STORAGE : plaintext);
    const tail = cipher.final();
    const tag = cipher.getAuthTag();
    return tail.length > 0 ? [prefix, body, tail, tag] : [prefix, body, tag];
  }

  /**
   * Nonce and additional data for one record, the explicit nonce written to `out` at `at`, and a
   * cipher ready for the plaintext.
   */
  private startSeal(
    epoch: number,
    seq: number,
    type: number,
    version: number,
    plaintextLength: number,
    out: Buffer,
    at: number,
  ): CipherGCM {
    this.writeSeqNum(epoch, seq);
    this.writeAadTail(type, version, plaintextLength);
    if (this.explicitNonceLength > 0) {
      // RFC 5288 §3 / RFC 6655 §3: nonce = salt(4) || nonce_explicit(8). The explicit part must never
      // repeat under one key; epoch || sequence number is unique per record by construction, and it
      // is what OpenSSL and GnuTLS send.
      this.nonce.writeUInt32BE(this.iv0, 0);
      this.aad.copy(this.nonce, 4, 0, 8);
      this.aad.copy(out, at, 0, 8);
    } else {
      this.xorSeqNumIntoNonce();
    }
    const cipher = createCipheriv(this.algorithm as CipherGCMTypes, this.key, this.nonce, this.cipherOptions);
    // No options object per record where the cipher does not need one (GCM, ChaCha20-Poly1305).
    if (this.needsPlaintextLength) cipher.setAAD(this.aad, { plaintextLength });
    else cipher.setAAD(this.aad);
    return cipher;
  }

  open(epoch: number, seq: number, type: number, version: number, fragment: Uint8Array): Buffer | null {
    const explicit = this.explicitNonceLength;
    const plaintextLength = fragment.length - this.overhead;
    if (plaintextLength < 0) return null;
    this.writeSeqNum(epoch, seq);
    this.writeAadTail(type, version, plaintextLength);
    if (explicit > 0) {
      // The receiver takes nonce_explicit from the record, not from its own counters: RFC 5288 §3 lets
      // the sender choose it, and a tampered value then fails authentication.
      this.nonce.writeUInt32BE(this.iv0, 0);
      for (let i = 0; i < explicit; i++) this.nonce[4 + i] = fragment[i]!;
    } else {
      this.xorSeqNumIntoNonce();
    }
    const ciphertext = fragment.subarray(explicit, explicit + plaintextLength);
    const tag = fragment.subarray(explicit + plaintextLength);
    try {
      const decipher = createDecipheriv(
        this.algorithm as CipherGCMTypes,
        this.key,
        this.nonce,
        this.cipherOptions,
      );
      decipher.setAuthTag(tag);
      if (this.needsPlaintextLength) decipher.setAAD(this.aad, { plaintextLength });
      else decipher.setAAD(this.aad);
      const body = decipher.update(ciphertext.length === 0 ? EMPTY_WITH_STORAGE : ciphertext);
      // final() throws when the tag does not verify (for CCM, update() may already have thrown).
      const tail = decipher.final();
      return tail.length === 0 ? body : Buffer.concat([body, tail]);
    } catch {
      return null;
    }
  }
}
