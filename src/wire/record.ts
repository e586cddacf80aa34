import { DecodeError } from './errors.js';
import { Reader } from './reader.js';
import { Writer } from './writer.js';

/**
 * The DTLS 1.2 record header (RFC 6347 §4.1): the same 13 bytes precede DTLSPlaintext and
 * DTLSCiphertext, so one codec serves both; only `fragment` differs in meaning.
 *
 *   struct {
 *     ContentType type;                 // u8
 *     ProtocolVersion version;          // u16
 *     uint16 epoch;
 *     uint48 sequence_number;
 *     uint16 length;
 *     opaque fragment[DTLSPlaintext.length];
 *   } DTLSPlaintext;
 */
export interface RecordHeader {
  type: number;
  version: number;
  epoch: number;
  sequenceNumber: number;
  length: number;
}

/** A record split out of a datagram. `fragment` and `raw` are views into the datagram, not copies. */
export interface RawRecord extends RecordHeader {
  fragment: Buffer;
  /** The whole record, header included (what a replay check or a pass-through proxy needs). */
  raw: Buffer;
}

export const RECORD_HEADER_LENGTH = 13;

/**
 * A record as parseDatagram() frames it: the header read in place, `fragment` a view into the
 * datagram, `raw` made only when asked for (this runs for every record received).
 */
class ParsedRecord implements RawRecord {
  readonly type: number;
  readonly version: number;
  readonly epoch: number;
  readonly sequenceNumber: number;
  readonly fragment: Buffer;

  constructor(
    private readonly buf: Buffer,
    private readonly offset: number,
    readonly length: number,
  ) {
    this.type = buf[offset]!;
    this.version = buf.readUInt16BE(offset + 1);
    this.epoch = buf.readUInt16BE(offset + 3);
    // 48-bit sequence number as 16 + 32 bits (readUIntBE with 6 bytes is markedly slower).
    this.sequenceNumber = buf.readUInt16BE(offset + 5) * 0x1_0000_0000 + buf.readUInt32BE(offset + 7);
    this.fragment = buf.subarray(offset + RECORD_HEADER_LENGTH, offset + RECORD_HEADER_LENGTH + length);
  }

  get raw(): Buffer {
    return this.buf.subarray(this.offset, this.offset + RECORD_HEADER_LENGTH + this.length);
  }
}

/**
 * The largest `length` a record may declare: a DTLSCiphertext may expand the 2^14-byte plaintext by at
 * most 2048 bytes (RFC 6347 §4.1 refers to RFC 5246 §6.2.3). Anything larger is malformed.
 */
export const MAX_RECORD_FRAGMENT_LENGTH = 2 ** 14 + 2048;

/** The largest sequence number: the field is 48 bits (RFC 6347 §4.1). */
export const MAX_SEQUENCE_NUMBER = 2 ** 48 - 1;

export type RecordHeaderFields = Omit<RecordHeader, 'length'>;

function checkHeaderFields(h: RecordHeaderFields, length: number): void {
  if (!Number.isInteger(h.sequenceNumber) || h.sequenceNumber < 0 || h.sequenceNumber > MAX_SEQUENCE_NUMBER) {
    throw new RangeError(`record sequence number out of range: ${h.sequenceNumber}`);
  }
  if (!Number.isInteger(h.epoch) || h.epoch < 0 || h.epoch > 0xffff) {
    throw new RangeError(`record epoch out of range: ${h.epoch}`);
  }
  if (length > MAX_RECORD_FRAGMENT_LENGTH) {
    throw new RangeError(`record fragment too long: ${length} > ${MAX_RECORD_FRAGMENT_LENGTH}`);
  }
}

/**
 * Write a 13-byte record header at `offset` of `buf` (for packing several records into one datagram
 * without copies). Returns the offset just after the header.
 */
export function writeRecordHeader(buf: Uint8Array, offset: number, h: RecordHeader): number {
  checkHeaderFields(h, h.length);
  if (offset < 0 || offset + RECORD_HEADER_LENGTH > buf.length) {
    throw new RangeError(`no room for a record header at offset ${offset} of ${buf.length}`);
  }
  const view = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  view[offset] = h.type & 0xff;
  view.writeUInt16BE(h.version & 0xffff, offset + 1);
  view.writeUInt16BE(h.epoch, offset + 3);
  view.writeUIntBE(h.sequenceNumber, offset + 5, 6);
  view.writeUInt16BE(h.length, offset + 11);
  return offset + RECORD_HEADER_LENGTH;
}

/** Encode one whole record: header plus fragment. */
export function encodeRecord(h: RecordHeaderFields, fragment: Uint8Array): Buffer {
  checkHeaderFields(h, fragment.length);
  return new Writer(RECORD_HEADER_LENGTH + fragment.length)
    .u8(h.type)
    .u16(h.version)
    .u16(h.epoch)
    .u48(h.sequenceNumber)
    .vec16(fragment)
    .finish();
}

/** Decode the 13-byte header at the start of `bytes` (no check that the fragment is all there). */
export function decodeRecordHeader(bytes: Uint8Array): RecordHeader {
  const r = new Reader(bytes);
  return {
    type: r.u8('record type'),
    version: r.u16('record version'),
    epoch: r.u16('record epoch'),
    sequenceNumber: r.u48('record sequence number'),
    length: r.u16('record length'),
  };
}

/**
 * RFC 9147 §4: a DTLS 1.3 ciphertext record starts with a unified header whose first byte is 0b001xxxxx.
 * Those values (32..63) are not DTLS 1.2 content types, so the test is unambiguous.
 */
export function isDtls13UnifiedHeader(firstByte: number): boolean {
  return (firstByte & 0xe0) === 0x20;
}

/**
 * Split a datagram into records. RFC 6347 §4.1.1: a datagram may carry several records and a record never
 * spans datagrams, so a record that declares more bytes than remain is malformed; since its end is then
 * unknown, nothing after it can be framed either and parsing stops there. Malformed input is counted,
 * not thrown: RFC 6347 §4.1.2.7 says invalid records SHOULD be silently discarded.
 *
 * A DTLS 1.3 unified header (RFC 9147 §4) also stops parsing: we speak 1.2 only, and its length field
 * is optional, so the rest of the datagram cannot be framed.
 *
 * Content types are not checked here; that is the record layer's decision.
 */
export function parseDatagram(datagram: Uint8Array): { records: RawRecord[]; malformed: number } {
  const records: RawRecord[] = [];
  // A Buffer is read as it is; another Uint8Array gets a Buffer view (no copy) for the readers below.
  const buf = Buffer.isBuffer(datagram)
    ? datagram
    : Buffer.from(datagram.buffer, datagram.byteOffset, datagram.length);
  let offset = 0;
  // Every iteration consumes at least RECORD_HEADER_LENGTH bytes or breaks, so the loop is bounded.
  while (offset < buf.length) {
    if (isDtls13UnifiedHeader(buf[offset]!)) return { records, malformed: 1 };
    if (buf.length - offset < RECORD_HEADER_LENGTH) return { records, malformed: 1 };
    // The header is read in place (this runs for every datagram received; no Reader, no copies).
    const length = buf.readUInt16BE(offset + 11);
    const end = offset + RECORD_HEADER_LENGTH + length;
    if (length > MAX_RECORD_FRAGMENT_LENGTH || end > buf.length) return { records, malformed: 1 };
    records.push(new ParsedRecord(buf, offset, length));
    offset = end;
  }
  return { records, malformed: 0 };
}

/** Strict variant for tests and tools: the datagram must be exactly a sequence of well-formed records. */
export function decodeDatagramStrict(datagram: Uint8Array): RawRecord[] {
  const { records, malformed } = parseDatagram(datagram);
  if (malformed > 0) throw new DecodeError(`datagram has malformed data after ${records.length} record(s)`);
  return records;
}
