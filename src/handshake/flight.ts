import type { RecordLayer } from '../record/record-layer.js';
import { ContentType } from '../wire/constants.js';
import { encodeHandshakeFragment, HANDSHAKE_HEADER_LENGTH } from '../wire/handshake-header.js';
import { Reader } from '../wire/reader.js';
import { Writer } from '../wire/writer.js';

/** One unit of a flight: a handshake message, or the ChangeCipherSpec that ends an epoch. */
export type FlightEntry =
  | { kind: 'handshake'; epoch: number; msgType: number; messageSeq: number; body: Buffer }
  | { kind: 'ccs'; epoch: number };

/** Smallest MTU we accept: room for a record header, a handshake header, AEAD overhead and some body. */
export const MIN_MTU = 128;

/**
 * Turn a flight into datagrams no larger than `mtu` (RFC 6347 §4.1.1: a record never spans datagrams;
 * §4.2.3: handshake messages larger than a record are fragmented). This runs on every (re)transmission:
 * records get fresh sequence numbers and, if the MTU changed, new fragment boundaries.
 */
export function flightToDatagrams(
  entries: readonly FlightEntry[],
  record: RecordLayer,
  mtu: number,
): Buffer[] {
  const records: Buffer[] = [];
  for (const e of entries) {
    if (e.kind === 'ccs') {
      records.push(record.seal(ContentType.change_cipher_spec, Buffer.from([1]), e.epoch));
      continue;
    }
    const room = Math.max(1, mtu - record.overhead(e.epoch) - HANDSHAKE_HEADER_LENGTH);
    const total = e.body.length;
    let offset = 0;
    do {
      const n = Math.min(room, total - offset);
      const frag = encodeHandshakeFragment({
        msgType: e.msgType,
        length: total,
        messageSeq: e.messageSeq,
        fragmentOffset: offset,
        fragmentLength: n,
        body: e.body.subarray(offset, offset + n),
      });
      records.push(record.seal(ContentType.handshake, frag, e.epoch));
      offset += n;
    } while (offset < total);
  }
  return packRecords(records, mtu);
}

/** Pack records into as few datagrams as fit the MTU, keeping their order (RFC 6347 §4.1.1). */
export function packRecords(records: readonly Buffer[], mtu: number): Buffer[] {
  const out: Buffer[] = [];
  let current: Buffer[] = [];
  let size = 0;
  for (const r of records) {
    if (size > 0 && size + r.length > mtu) {
      out.push(current.length === 1 ? current[0]! : Buffer.concat(current, size));
      current = [];
      size = 0;
    }
    current.push(r);
    size += r.length;
  }
  if (size > 0) out.push(current.length === 1 ? current[0]! : Buffer.concat(current, size));
  return out;
}

/** Marks a ChangeCipherSpec in a packed flight (handshake types are below 255). */
const PACKED_CCS = 0xff;

/**
 * A final flight kept for a long time (RFC 6347 §4.2.4: resent if the peer's Finished comes again),
 * packed into one buffer of its own: type, epoch, message_seq and body per entry. An idle connection
 * then holds one small buffer instead of an array of objects and bodies.
 */
export function packFlight(entries: readonly FlightEntry[]): Buffer {
  const w = new Writer(64);
  for (const e of entries) {
    if (e.kind === 'ccs') w.u8(PACKED_CCS).u16(e.epoch);
    else w.u8(e.msgType).u16(e.epoch).u16(e.messageSeq).vec24(e.body);
  }
  return w.finishOwned();
}

export function unpackFlight(packed: Buffer): FlightEntry[] {
  const r = new Reader(packed);
  const out: FlightEntry[] = [];
  while (!r.atEnd()) {
    const type = r.u8();
    const epoch = r.u16();
    if (type === PACKED_CCS) out.push({ kind: 'ccs', epoch });
    else out.push({ kind: 'handshake', epoch, msgType: type, messageSeq: r.u16(), body: r.vec24() });
  }
  return out;
}
