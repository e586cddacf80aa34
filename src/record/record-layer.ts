import type { RecordCipher } from '../crypto/aead.js';
import { ContentType, ProtocolVersion } from '../wire/constants.js';
import { parseDatagram, type RawRecord, RECORD_HEADER_LENGTH } from '../wire/record.js';
import { ReplayWindow } from './replay-window.js';

/** One record that passed the epoch, replay and authentication checks, with its plaintext. */
export interface OpenedRecord {
  type: number;
  epoch: number;
  seq: number;
  data: Buffer;
}

/** Why records were dropped (RFC 6347 §4.1.2.7: invalid records are discarded silently, and counted). */
export interface RecordDropCounters {
  malformed: number;
  unknownEpoch: number;
  replayed: number;
  badMac: number;
  bufferFull: number;
}

interface ReadState {
  epoch: number;
  cipher: RecordCipher | null;
  window: ReplayWindow;
}

interface WriteState {
  cipher: RecordCipher | null;
  nextSeq: number;
}

/** 2^48 - 1: RFC 6347 §4.1 sequence numbers are 48 bits per epoch and must not wrap. */
const MAX_SEQ = 0xffff_ffff_ffff;

export interface RecordLayerLimits {
  /** Records of the next epoch held until its keys exist (RFC 6347 §4.1: "may buffer"). */
  maxBufferedRecords: number;
  maxBufferedBytes: number;
}

export const DEFAULT_RECORD_LAYER_LIMITS: RecordLayerLimits = {
  maxBufferedRecords: 32,
  maxBufferedBytes: 64 * 1024,
};

/**
 * The DTLS record layer (RFC 6347 §4.1): per-epoch keys and sequence numbers on both directions, the
 * replay window, and the buffer for records that arrive before the ChangeCipherSpec that makes their
 * epoch readable. It knows nothing of handshake messages: it turns datagrams into authenticated
 * plaintext records and plaintext into sealed records.
 */
export class RecordLayer {
  /** The current read epoch, and after a ChangeCipherSpec the one before it (for retransmissions). */
  private currentRead: ReadState = { epoch: 0, cipher: null, window: new ReplayWindow() };
  private previousRead: ReadState | undefined;
  private pendingRead: { epoch: number; cipher: RecordCipher } | null = null;
  private buffered: RawRecord[] | undefined;
  private bufferedBytes = 0;
  /** Write state per epoch, indexed by epoch (a handshake uses epochs 0 and 1; no Map needed). */
  private writeStates: (WriteState | undefined)[] = [{ cipher: null, nextSeq: 0 }];
  private writeEpochValue = 0;
  readonly drops: RecordDropCounters = {
    malformed: 0,
    unknownEpoch: 0,
    replayed: 0,
    badMac: 0,
    bufferFull: 0,
  };
  version: number = ProtocolVersion.DTLS1_2;

  constructor(private readonly limits: RecordLayerLimits = DEFAULT_RECORD_LAYER_LIMITS) {}

  get readEpoch(): number {
    return this.currentRead.epoch;
  }

  get writeEpoch(): number {
    return this.writeEpochValue;
  }

  /** Total records dropped for any reason. */
  get dropped(): number {
    const d = this.drops;
    return d.malformed + d.unknownEpoch + d.replayed + d.badMac + d.bufferFull;
  }

  /** Keys for the next read epoch, used once the peer's ChangeCipherSpec arrives. */
  setPendingReadCipher(epoch: number, cipher: RecordCipher): void {
    this.pendingRead = { epoch, cipher };
  }

  hasPendingReadCipher(): boolean {
    return this.pendingRead !== null;
  }

  /**
   * Switch reading to the pending epoch (the peer's ChangeCipherSpec, RFC 5246 §7.1) and return the
   * records of that epoch that arrived early, now opened. The previous epoch stays readable so the
   * peer's retransmitted handshake records can still be recognised.
   */
  activatePendingRead(): OpenedRecord[] {
    const p = this.pendingRead;
    if (!p) return [];
    this.pendingRead = null;
    this.previousRead = this.currentRead;
    this.currentRead = { epoch: p.epoch, cipher: p.cipher, window: new ReplayWindow() };
    const early = this.buffered ?? [];
    this.buffered = undefined;
    this.bufferedBytes = 0;
    const out: OpenedRecord[] = [];
    for (const r of early) {
      const opened = this.openRecord(r);
      if (opened) out.push(opened);
    }
    return out;
  }

  /** Stop reading an epoch that is not the current one. */
  retireReadEpoch(epoch: number): void {
    if (this.previousRead?.epoch === epoch) this.previousRead = undefined;
  }

  /** Forget the previous read epoch (once the handshake is over and the peer has moved on). */
  retirePreviousReadEpoch(): void {
    this.previousRead = undefined;
  }

  /**
   * Start epoch-0 writes after `seq`. A server that answered statelessly with a HelloVerifyRequest
   * reused the ClientHello's record sequence number for it (RFC 6347 §4.2.1), so its first stateful
   * record must come after that, or the client's replay window would drop it.
   */
  skipInitialSequenceNumbers(seq: number): void {
    const st = this.writeStates[0]!;
    st.nextSeq = Math.max(st.nextSeq, seq);
  }

  /** Forget what epoch 0 has seen (a client starting over after a HelloVerifyRequest). */
  resetInitialReplayWindow(): void {
    const st = this.currentRead.epoch === 0 ? this.currentRead : this.previousRead;
    if (st?.epoch === 0) st.window = new ReplayWindow();
  }

  addWriteEpoch(epoch: number, cipher: RecordCipher): void {
    if (epoch > 0xffff) throw new Error(`epoch ${epoch} out of range`);
    this.writeStates[epoch] = { cipher, nextSeq: 0 };
  }

  setWriteEpoch(epoch: number): void {
    if (!this.writeStates[epoch]) throw new Error(`no keys for write epoch ${epoch}`);
    this.writeEpochValue = epoch;
  }

  /** Space a record of this epoch takes beyond its plaintext (header + explicit nonce + tag). */
  overhead(epoch = this.writeEpochValue): number {
    const c = this.writeStates[epoch]?.cipher;
    return RECORD_HEADER_LENGTH + (c ? c.overhead : 0);
  }

  /** Seal one record in the given epoch (default: the current write epoch). */
  seal(type: number, data: Uint8Array, epoch = this.writeEpochValue): Buffer {
    const st = this.writeState(epoch);
    const seq = st.nextSeq++;
    let out: Buffer;
    if (st.cipher) {
      // The cipher leaves room for the header: one buffer per record, no copy of the ciphertext.
      out = st.cipher.seal(epoch, seq, type, this.version, data, RECORD_HEADER_LENGTH);
    } else {
      out = Buffer.allocUnsafe(RECORD_HEADER_LENGTH + data.length);
      out.set(data, RECORD_HEADER_LENGTH);
    }
    this.writeHeader(out, type, epoch, seq, out.length - RECORD_HEADER_LENGTH);
    return out;
  }

  /**
   * seal() as the record's parts in wire order (header and explicit nonce, ciphertext, tag), for a
   * socket that gathers a datagram from several buffers: the ciphertext node:crypto returns goes out
   * where it lies, where seal() allocates the record and copies it in. Same record, byte for byte.
   */
  sealGathered(type: number, data: Uint8Array, epoch = this.writeEpochValue): Buffer[] {
    const st = this.writeState(epoch);
    if (!st.cipher) return [this.seal(type, data, epoch)];
    const seq = st.nextSeq++;
    const parts = st.cipher.sealGathered(epoch, seq, type, this.version, data, RECORD_HEADER_LENGTH);
    let length = -RECORD_HEADER_LENGTH;
    for (const p of parts) length += p.length;
    this.writeHeader(parts[0]!, type, epoch, seq, length);
    return parts;
  }

  private writeState(epoch: number): WriteState {
    const st = this.writeStates[epoch];
    if (!st) throw new Error(`no keys for write epoch ${epoch}`);
    if (st.nextSeq > MAX_SEQ) throw new Error('record sequence number exhausted');
    return st;
  }

  /** The DTLS record header (RFC 6347 §4.1) in the first 13 bytes of `out`. */
  private writeHeader(out: Buffer, type: number, epoch: number, seq: number, fragmentLength: number): void {
    out[0] = type;
    out.writeUInt16BE(this.version, 1);
    out.writeUInt16BE(epoch, 3);
    // 48-bit sequence number as 16 + 32 bits (writeUIntBE with 6 bytes is markedly slower).
    out.writeUInt16BE(Math.floor(seq / 0x1_0000_0000), 5);
    out.writeUInt32BE(seq >>> 0, 7);
    out.writeUInt16BE(fragmentLength, 11);
  }

  /**
   * Split a datagram into records (RFC 6347 §4.1.1). They are opened one at a time by the caller with
   * openRecord(), because handling one record (a ChangeCipherSpec) can make the next one readable.
   */
  splitDatagram(datagram: Uint8Array): RawRecord[] {
    const { records, malformed } = parseDatagram(datagram);
    this.drops.malformed += malformed;
    return records;
  }

  /** Check epoch, replay window and authentication; a bad record is dropped and counted, never thrown. */
  openRecord(r: RawRecord): OpenedRecord | null {
    // RFC 6347 §4.1: the record version is checked loosely (a first ClientHello may say DTLS 1.0).
    if (r.version >>> 8 !== 0xfe) {
      this.drops.malformed++;
      return null;
    }
    const state =
      this.currentRead.epoch === r.epoch
        ? this.currentRead
        : this.previousRead?.epoch === r.epoch
          ? this.previousRead
          : undefined;
    if (!state) {
      if (r.epoch === this.readEpoch + 1) {
        // RFC 6347 §4.1: a record of the next epoch may arrive before the ChangeCipherSpec (or even
        // before the keys for it are known, e.g. during an asynchronous PSK lookup); keep it, bounded.
        if (
          (this.buffered?.length ?? 0) >= this.limits.maxBufferedRecords ||
          this.bufferedBytes + RECORD_HEADER_LENGTH + r.length > this.limits.maxBufferedBytes
        ) {
          this.drops.bufferFull++;
          return null;
        }
        // Copies: the datagram buffer is the caller's and may be reused once we return.
        const raw = Buffer.from(r.raw);
        this.buffered ??= [];
        this.buffered.push({
          type: r.type,
          version: r.version,
          epoch: r.epoch,
          sequenceNumber: r.sequenceNumber,
          length: r.length,
          fragment: raw.subarray(RECORD_HEADER_LENGTH),
          raw,
        });
        this.bufferedBytes += raw.length;
        return null;
      }
      this.drops.unknownEpoch++;
      return null;
    }
    if (!state.window.check(r.sequenceNumber)) {
      this.drops.replayed++;
      return null;
    }
    let data: Buffer | null;
    if (state.cipher) {
      data = state.cipher.open(r.epoch, r.sequenceNumber, r.type, r.version, r.fragment);
      if (!data) {
        this.drops.badMac++;
        return null;
      }
    } else {
      // Epoch 0 carries no protection; application data there is never legitimate (RFC 6347 §4.1).
      if (r.type === ContentType.application_data) {
        this.drops.unknownEpoch++;
        return null;
      }
      data = r.fragment;
    }
    state.window.accept(r.sequenceNumber);
    return { type: r.type, epoch: r.epoch, seq: r.sequenceNumber, data };
  }
}
