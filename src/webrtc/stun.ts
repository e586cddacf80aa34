import { createHmac, timingSafeEqual } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';
import zlib from 'node:zlib';
import { DecodeError } from '../wire/errors.js';
import { Reader } from '../wire/reader.js';
import { Writer } from '../wire/writer.js';

/** RFC 8489 §5: the fixed value that tells a STUN message from older RFC 3489 ones and from other protocols. */
export const STUN_MAGIC_COOKIE = 0x2112a442;
export const STUN_HEADER_LENGTH = 20;

/** Message types used by ICE connectivity checks (RFC 8489 §5, §18.2: method Binding = 0x001). */
export const StunMessageType = {
  bindingRequest: 0x0001,
  bindingIndication: 0x0011,
  bindingSuccess: 0x0101,
  bindingError: 0x0111,
} as const;

/** Attribute code points (RFC 8489 §18.3, RFC 8445 §16.1). */
export const StunAttribute = {
  MAPPED_ADDRESS: 0x0001,
  USERNAME: 0x0006,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  XOR_MAPPED_ADDRESS: 0x0020,
  PRIORITY: 0x0024,
  USE_CANDIDATE: 0x0025,
  MESSAGE_INTEGRITY_SHA256: 0x001c,
  SOFTWARE: 0x8022,
  FINGERPRINT: 0x8028,
  ICE_CONTROLLED: 0x8029,
  ICE_CONTROLLING: 0x802a,
} as const;

/** RFC 8489 §14.7: the CRC-32 of FINGERPRINT is XORed with this so it differs from other protocols' CRCs. */
const FINGERPRINT_XOR = 0x5354554e;
const MESSAGE_INTEGRITY_LENGTH = 20;

export interface StunAttributeEntry {
  type: number;
  value: Buffer;
  /** Offset of the attribute's 4-byte header in the message. */
  offset: number;
}

export interface StunMessage {
  type: number;
  transactionId: Buffer;
  attributes: StunAttributeEntry[];
  /** The whole message as received (MESSAGE-INTEGRITY and FINGERPRINT are computed over its prefix). */
  raw: Buffer;
}

export interface TransportAddress {
  address: string;
  port: number;
}

/**
 * Decode a STUN message (RFC 8489 §5, §14). Throws DecodeError on anything that is not a well-formed
 * STUN message: top two bits set, wrong magic cookie, a length that disagrees with the datagram, or
 * attributes overrunning the message. The integrity checks are separate (verifyMessageIntegrity…).
 */
export function decodeStunMessage(datagram: Uint8Array): StunMessage {
  const raw = Buffer.from(datagram.buffer, datagram.byteOffset, datagram.byteLength);
  const r = new Reader(raw);
  const type = r.u16('STUN message type');
  if ((type & 0xc000) !== 0) throw new DecodeError('STUN: the two most significant bits must be zero');
  const length = r.u16('STUN message length');
  if (length % 4 !== 0) throw new DecodeError('STUN: message length is not a multiple of 4');
  if (r.u32('STUN magic cookie') !== STUN_MAGIC_COOKIE) throw new DecodeError('STUN: bad magic cookie');
  const transactionId = r.bytes(12, 'STUN transaction ID');
  if (length !== r.remaining) throw new DecodeError(`STUN: length ${length} but ${r.remaining} bytes follow`);
  const attributes: StunAttributeEntry[] = [];
  // Bounded by the message length: every attribute consumes at least its 4-byte header.
  while (!r.atEnd()) {
    const offset = r.offset;
    const attrType = r.u16('STUN attribute type');
    const attrLength = r.u16('STUN attribute length');
    const value = r.bytes(attrLength, 'STUN attribute value');
    r.bytes((4 - (attrLength % 4)) % 4, 'STUN attribute padding');
    attributes.push({ type: attrType, value, offset });
  }
  return { type, transactionId, attributes, raw };
}

export function findStunAttribute(msg: StunMessage, type: number): StunAttributeEntry | undefined {
  return msg.attributes.find((a) => a.type === type);
}

/** CRC-32 (ISO-HDLC, as in zlib and RFC 1952). zlib.crc32 exists from Node 20.15/22.2; older Nodes use the table. */
export function crc32(data: Uint8Array): number {
  const native = (zlib as { crc32?: (d: Uint8Array) => number }).crc32;
  return typeof native === 'function' ? native(data) >>> 0 : crc32Portable(data);
}

let crcTable: Uint32Array | undefined;
/** Table-driven CRC-32 (reflected polynomial 0xEDB88320): a checksum, not a cryptographic primitive. */
export function crc32Portable(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const b of data) crc = crcTable[(crc ^ b) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * The prefix of the message that an integrity attribute at `offset` covers, with the header's length
 * field rewritten as RFC 8489 §14.5/§14.7 require: it counts up to and including that attribute, as if
 * it were the last one (attributes after it, such as FINGERPRINT, are excluded).
 */
function coveredPrefix(raw: Buffer, offset: number, attrValueLength: number): Buffer {
  const prefix = Buffer.from(raw.subarray(0, offset));
  prefix.writeUInt16BE(offset - STUN_HEADER_LENGTH + 4 + attrValueLength, 2);
  return prefix;
}

/** HMAC-SHA1 keyed by the short-term credential (the ICE password, RFC 8445 §7.2.2) over the covered prefix. */
function messageIntegrityOf(prefix: Buffer, key: Buffer | string): Buffer {
  return createHmac('sha1', key).update(prefix).digest();
}

/**
 * RFC 8489 §14.5: check MESSAGE-INTEGRITY with a short-term key (for ICE, the password of the agent the
 * request is sent to). False when the attribute is absent or does not match. Compared in constant time.
 */
export function verifyMessageIntegrity(msg: StunMessage, key: Buffer | string): boolean {
  const mi = findStunAttribute(msg, StunAttribute.MESSAGE_INTEGRITY);
  if (!mi || mi.value.length !== MESSAGE_INTEGRITY_LENGTH) return false;
  const expected = messageIntegrityOf(coveredPrefix(msg.raw, mi.offset, MESSAGE_INTEGRITY_LENGTH), key);
  return timingSafeEqual(expected, mi.value);
}

/** RFC 8489 §14.7: FINGERPRINT must be the last attribute and equal CRC-32(prefix) XOR 0x5354554e. */
export function verifyFingerprint(msg: StunMessage): boolean {
  const last = msg.attributes[msg.attributes.length - 1];
  if (!last || last.type !== StunAttribute.FINGERPRINT || last.value.length !== 4) return false;
  const expected = (crc32(coveredPrefix(msg.raw, last.offset, 4)) ^ FINGERPRINT_XOR) >>> 0;
  return last.value.readUInt32BE(0) === expected;
}

export interface EncodeStunOptions {
  /** Append MESSAGE-INTEGRITY keyed with this short-term credential. */
  integrityKey?: Buffer | string;
  /** Append FINGERPRINT (RFC 8445 §7.2.2: ICE requires it on every check and response). */
  fingerprint?: boolean;
  /** Value of padding bytes; RFC 8489 §14 lets it be anything (RFC 5769's samples use spaces). Default 0. */
  paddingByte?: number;
}

/**
 * Encode a STUN message (RFC 8489 §5, §14) with the given attributes, then MESSAGE-INTEGRITY and
 * FINGERPRINT in that order (§14.5: FINGERPRINT is the only attribute allowed after MESSAGE-INTEGRITY).
 */
export function encodeStunMessage(
  type: number,
  transactionId: Uint8Array,
  attributes: ReadonlyArray<{ type: number; value: Uint8Array }>,
  opts: EncodeStunOptions = {},
): Buffer {
  if (transactionId.length !== 12) throw new RangeError('STUN transaction ID must be 12 bytes');
  const pad = opts.paddingByte ?? 0;
  const body = new Writer();
  for (const a of attributes) {
    if (a.value.length > 0xffff) throw new RangeError('STUN attribute too long');
    body.u16(a.type).u16(a.value.length).bytes(a.value);
    for (let i = a.value.length; i % 4 !== 0; i++) body.u8(pad);
  }
  let message: Buffer = Buffer.concat([stunHeader(type, body.length, transactionId), body.finish()]);
  if (opts.integrityKey !== undefined) {
    const mac = messageIntegrityOf(
      coveredPrefix(message, message.length, MESSAGE_INTEGRITY_LENGTH),
      opts.integrityKey,
    );
    message = appendAttribute(message, StunAttribute.MESSAGE_INTEGRITY, mac);
  }
  if (opts.fingerprint) {
    const crc = (crc32(coveredPrefix(message, message.length, 4)) ^ FINGERPRINT_XOR) >>> 0;
    const value = Buffer.alloc(4);
    value.writeUInt32BE(crc, 0);
    message = appendAttribute(message, StunAttribute.FINGERPRINT, value);
  }
  return message;
}

function stunHeader(type: number, length: number, transactionId: Uint8Array): Buffer {
  return new Writer(STUN_HEADER_LENGTH)
    .u16(type)
    .u16(length)
    .u32(STUN_MAGIC_COOKIE)
    .bytes(transactionId)
    .finish();
}

/** Append a 4-byte-aligned attribute and fix the header's length. */
function appendAttribute(message: Buffer, type: number, value: Buffer): Buffer {
  const out = Buffer.concat([message, new Writer(4).u16(type).u16(value.length).finish(), value]);
  out.writeUInt16BE(out.length - STUN_HEADER_LENGTH, 2);
  return out;
}

/**
 * XOR-MAPPED-ADDRESS value (RFC 8489 §14.2): family, port XOR the cookie's top 16 bits, address XOR the
 * cookie (IPv4) or the cookie followed by the transaction ID (IPv6).
 */
export function encodeXorMappedAddress(addr: TransportAddress, transactionId: Uint8Array): Buffer {
  const xorKey = Buffer.concat([cookieBytes(), transactionId]);
  let ip: Buffer;
  let family: number;
  if (isIPv4(addr.address)) {
    family = 0x01;
    ip = Buffer.from(addr.address.split('.').map(Number));
  } else if (isIPv6(addr.address)) {
    family = 0x02;
    ip = ipv6Bytes(addr.address);
  } else {
    throw new RangeError(`not an IP address: ${addr.address}`);
  }
  for (let i = 0; i < ip.length; i++) ip[i]! ^= xorKey[i]!;
  return new Writer(4 + ip.length)
    .u8(0)
    .u8(family)
    .u16(addr.port ^ (STUN_MAGIC_COOKIE >>> 16))
    .bytes(ip)
    .finish();
}

export function decodeXorMappedAddress(value: Uint8Array, transactionId: Uint8Array): TransportAddress {
  const r = new Reader(value);
  r.u8('reserved');
  const family = r.u8('address family');
  const port = r.u16('port') ^ (STUN_MAGIC_COOKIE >>> 16);
  const ip = Buffer.from(r.bytes(family === 0x01 ? 4 : family === 0x02 ? 16 : 0, 'address'));
  if (ip.length === 0) throw new DecodeError(`XOR-MAPPED-ADDRESS: unknown family ${family}`);
  r.expectEnd('XOR-MAPPED-ADDRESS');
  const xorKey = Buffer.concat([cookieBytes(), transactionId]);
  for (let i = 0; i < ip.length; i++) ip[i]! ^= xorKey[i]!;
  if (family === 0x01) return { address: [...ip].join('.'), port };
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(ip.readUInt16BE(i).toString(16));
  return { address: groups.join(':'), port };
}

function cookieBytes(): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(STUN_MAGIC_COOKIE, 0);
  return b;
}

/** 16 bytes of an IPv6 address in any textual form (with '::', or an embedded IPv4 tail). */
function ipv6Bytes(text: string): Buffer {
  let s = text.split('%')[0]!;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const [a, b, c, d] = v4[1]!.split('.').map(Number) as [number, number, number, number];
    s = `${s.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const headParts = head ? head.split(':') : [];
  const tailParts = tail ? tail.split(':') : [];
  const fill = tail === undefined ? 0 : 8 - headParts.length - tailParts.length;
  const parts = [...headParts, ...Array<string>(fill).fill('0'), ...tailParts];
  const out = Buffer.alloc(16);
  if (parts.length !== 8) throw new RangeError(`not an IPv6 address: ${text}`);
  for (let i = 0; i < 8; i++) out.writeUInt16BE(Number.parseInt(parts[i]!, 16), i * 2);
  return out;
}
