import { DecodeError } from './errors.js';
import { Reader } from './reader.js';
import { Writer } from './writer.js';

/**
 * One handshake fragment (RFC 6347 §4.2.2):
 *
 *   struct {
 *     HandshakeType msg_type;     // u8
 *     uint24 length;              // length of the whole message body
 *     uint16 message_seq;
 *     uint24 fragment_offset;
 *     uint24 fragment_length;
 *     body[fragment_length];      // bytes fragment_offset .. fragment_offset+fragment_length of the body
 *   } Handshake;
 *
 * An unfragmented message is the fragment with offset 0 and fragment_length == length.
 */
export interface HandshakeFragment {
  msgType: number;
  length: number;
  messageSeq: number;
  fragmentOffset: number;
  fragmentLength: number;
  /** A view into the record fragment, not a copy. */
  body: Buffer;
}

export const HANDSHAKE_HEADER_LENGTH = 12;

/** Decode one fragment from a reader positioned on its header. */
export function readHandshakeFragment(r: Reader): HandshakeFragment {
  const msgType = r.u8('handshake msg_type');
  const length = r.u24('handshake length');
  const messageSeq = r.u16('handshake message_seq');
  const fragmentOffset = r.u24('handshake fragment_offset');
  const fragmentLength = r.u24('handshake fragment_length');
  // A fragment must lie inside the message it belongs to (RFC 6347 §4.2.3), or reassembly would write
  // past the declared message length.
  if (fragmentOffset + fragmentLength > length) {
    throw new DecodeError(
      `handshake fragment ${fragmentOffset}+${fragmentLength} exceeds message length ${length}`,
    );
  }
  const body = r.bytes(fragmentLength, 'handshake fragment body');
  return { msgType, length, messageSeq, fragmentOffset, fragmentLength, body };
}

/**
 * Split the plaintext of a handshake record into fragments. Several may share one record (RFC 6347
 * §4.2.3 lets messages be packed), but none may cross a record boundary, so a short tail is an error.
 * An empty handshake record is rejected too: RFC 5246 §6.2.1 forbids zero-length handshake fragments
 * at the record level.
 */
export function parseHandshakeFragments(recordFragment: Uint8Array): HandshakeFragment[] {
  if (recordFragment.length === 0) throw new DecodeError('empty handshake record');
  const r = new Reader(recordFragment);
  const out: HandshakeFragment[] = [];
  // Each iteration consumes at least the 12-byte header or throws, so the loop is bounded.
  while (!r.atEnd()) out.push(readHandshakeFragment(r));
  return out;
}

function checkU24(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffff) throw new RangeError(`${what} out of range: ${v}`);
}

/**
 * Encode one fragment. `fragmentLength` may be omitted (it is the body length); if given it must match,
 * so a decoded fragment can be passed straight back.
 */
export function encodeHandshakeFragment(
  f: Omit<HandshakeFragment, 'fragmentLength' | 'body'> & { fragmentLength?: number; body: Uint8Array },
): Buffer {
  if (f.fragmentLength !== undefined && f.fragmentLength !== f.body.length) {
    throw new RangeError(`fragment_length ${f.fragmentLength} != body length ${f.body.length}`);
  }
  checkU24(f.length, 'handshake length');
  checkU24(f.fragmentOffset, 'fragment_offset');
  if (f.fragmentOffset + f.body.length > f.length) {
    throw new RangeError(`fragment ${f.fragmentOffset}+${f.body.length} exceeds message length ${f.length}`);
  }
  return new Writer(HANDSHAKE_HEADER_LENGTH + f.body.length)
    .u8(f.msgType)
    .u24(f.length)
    .u16(f.messageSeq)
    .u24(f.fragmentOffset)
    .u24(f.body.length)
    .bytes(f.body)
    .finish();
}

/**
 * The unfragmented form of a message: also exactly what goes into the handshake transcript hash,
 * whatever fragmentation was used on the wire (RFC 6347 §4.2.6).
 */
export function encodeHandshakeMessage(msgType: number, messageSeq: number, body: Uint8Array): Buffer {
  return encodeHandshakeFragment({
    msgType,
    length: body.length,
    messageSeq,
    fragmentOffset: 0,
    body,
  });
}
