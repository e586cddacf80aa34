import { DecodeError } from './errors.js';
import { Reader } from './reader.js';
import { Writer } from './writer.js';

/**
 * A hello extension (RFC 5246 §7.4.1.4): `struct { ExtensionType extension_type; opaque
 * extension_data<0..2^16-1>; }`. The list codec keeps every extension, known or not, as raw bytes in
 * wire order, so re-encoding a decoded hello reproduces it byte for byte (needed to resend a ClientHello
 * with only the cookie changed, RFC 6347 §4.2.1). The typed codecs below interpret `data` on demand.
 */
export interface Extension {
  type: number;
  /** A view into the decoded input, not a copy. */
  data: Buffer;
}

/**
 * Read the `extensions<0..2^16-1>` vector at the reader's position. RFC 5246 §7.4.1.4: "There MUST NOT be
 * more than one extension of the same type", so a duplicate is a decode error.
 */
export function readExtensions(r: Reader, what = 'extensions'): Extension[] {
  const list = r.sub(r.u16(`${what} length`), what);
  const out: Extension[] = [];
  const seen = new Set<number>();
  // Each iteration consumes at least the 4-byte extension header or throws.
  while (!list.atEnd()) {
    const type = list.u16(`${what} type`);
    const data = list.vec16(`extension ${type} data`);
    if (seen.has(type)) throw new DecodeError(`${what}: duplicate extension ${type}`);
    seen.add(type);
    out.push({ type, data });
  }
  return out;
}

export function writeExtensions(w: Writer, extensions: readonly Extension[]): void {
  const seen = new Set<number>();
  for (const e of extensions) {
    if (seen.has(e.type)) throw new RangeError(`duplicate extension ${e.type}`);
    seen.add(e.type);
  }
  w.withLength(2, (inner) => {
    for (const e of extensions) inner.u16(e.type).vec16(e.data);
  });
}

/** Decode a standalone extensions block (with its 2-byte length prefix). */
export function decodeExtensions(bytes: Uint8Array): Extension[] {
  const r = new Reader(bytes);
  const out = readExtensions(r);
  r.expectEnd('extensions');
  return out;
}

export function encodeExtensions(extensions: readonly Extension[]): Buffer {
  const w = new Writer();
  writeExtensions(w, extensions);
  return w.finish();
}

export function findExtension(
  extensions: readonly Extension[] | undefined,
  type: number,
): Buffer | undefined {
  return extensions?.find((e) => e.type === type)?.data;
}

// --- helpers for the list shapes used by several extensions ---

function decodeU16List(data: Uint8Array, what: string, min: number, max: number): number[] {
  const r = new Reader(data);
  const body = r.vec16(what, min, max);
  r.expectEnd(what);
  if (body.length % 2 !== 0) throw new DecodeError(`${what}: odd length ${body.length}`);
  const list = new Reader(body);
  const out: number[] = [];
  while (!list.atEnd()) out.push(list.u16(what));
  return out;
}

function encodeU16List(values: readonly number[], prefix: 1 | 2): Buffer {
  const w = new Writer(prefix + values.length * 2);
  w.withLength(prefix, (inner) => {
    for (const v of values) inner.u16(v);
  });
  return w.finish();
}

function bytesFromLatin1(s: string, what: string): Buffer {
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0xff)
      throw new RangeError(`${what}: character outside 0..255 in ${JSON.stringify(s)}`);
  }
  return Buffer.from(s, 'latin1');
}

// --- server_name (RFC 6066 §3) ---

/** Name type host_name (RFC 6066 §3); the only one defined. */
export const SERVER_NAME_HOST_NAME = 0;

/**
 * One ServerName entry. Names are carried as latin1 strings: host names are ASCII (RFC 6066 §3), and
 * latin1 maps each byte to one character, so decoding then encoding keeps the exact bytes.
 */
export interface ServerName {
  nameType: number;
  name: string;
}

/**
 * `ServerNameList server_name_list<1..2^16-1>` where each entry is `NameType name_type; HostName
 * opaque<1..2^16-1>`. Unknown name types are read with the same shape: RFC 6066 gives no other, and the
 * alternative would be to fail on a name type we would ignore anyway. A ServerHello's server_name
 * extension is empty (RFC 6066 §3) and is not a list: check `data.length === 0` instead.
 */
export function decodeServerNameList(data: Uint8Array): ServerName[] {
  const r = new Reader(data);
  const list = r.sub(r.u16('server_name_list length'), 'server_name_list');
  r.expectEnd('server_name');
  if (list.atEnd()) throw new DecodeError('server_name_list: empty');
  const out: ServerName[] = [];
  while (!list.atEnd()) {
    const nameType = list.u8('server_name name_type');
    const name = list.vec16('server_name host_name', 1);
    out.push({ nameType, name: name.toString('latin1') });
  }
  return out;
}

export function encodeServerNameList(names: readonly ServerName[]): Buffer {
  if (names.length === 0) throw new RangeError('server_name_list must not be empty');
  const w = new Writer();
  w.withLength(2, (inner) => {
    for (const n of names) {
      const bytes = bytesFromLatin1(n.name, 'server name');
      if (bytes.length === 0) throw new RangeError('server name must not be empty');
      inner.u8(n.nameType).vec16(bytes);
    }
  });
  return w.finish();
}

/** The host_name of a ClientHello's server_name extension, if any. */
export function hostNameOf(names: readonly ServerName[]): string | undefined {
  return names.find((n) => n.nameType === SERVER_NAME_HOST_NAME)?.name;
}

// --- supported_groups (RFC 8422 §5.1.1: NamedGroup named_group_list<2..2^16-1>) ---

export function decodeSupportedGroups(data: Uint8Array): number[] {
  return decodeU16List(data, 'supported_groups', 2, 0xffff);
}

export function encodeSupportedGroups(groups: readonly number[]): Buffer {
  if (groups.length === 0) throw new RangeError('supported_groups must not be empty');
  return encodeU16List(groups, 2);
}

// --- ec_point_formats (RFC 8422 §5.1.2: ECPointFormat ec_point_format_list<1..2^8-1>) ---

export function decodeEcPointFormats(data: Uint8Array): number[] {
  const r = new Reader(data);
  const list = r.vec8('ec_point_format_list', 1);
  r.expectEnd('ec_point_formats');
  return [...list];
}

export function encodeEcPointFormats(formats: readonly number[]): Buffer {
  if (formats.length === 0) throw new RangeError('ec_point_format_list must not be empty');
  return new Writer(1 + formats.length).vec8(Uint8Array.from(formats)).finish();
}

// --- signature_algorithms (RFC 5246 §7.4.1.4.1: supported_signature_algorithms<2..2^16-2>) ---

export function decodeSignatureAlgorithms(data: Uint8Array): number[] {
  return decodeU16List(data, 'signature_algorithms', 2, 0xfffe);
}

export function encodeSignatureAlgorithms(schemes: readonly number[]): Buffer {
  if (schemes.length === 0) throw new RangeError('signature_algorithms must not be empty');
  return encodeU16List(schemes, 2);
}

// --- use_srtp (RFC 5764 §4.1.1) ---

/**
 * `struct { SRTPProtectionProfiles SRTPProtectionProfiles; opaque srtp_mki<0..255>; } UseSRTPData;` with
 * `SRTPProtectionProfile SRTPProtectionProfiles<2..2^16-1>` of uint8[2] profiles. The server's answer
 * has the same shape with exactly one profile (RFC 5764 §4.1.1); that count is the handshake's check.
 */
export interface UseSrtp {
  profiles: number[];
  mki: Buffer;
}

export function decodeUseSrtp(data: Uint8Array): UseSrtp {
  const r = new Reader(data);
  const list = r.vec16('SRTPProtectionProfiles', 2);
  if (list.length % 2 !== 0) throw new DecodeError(`SRTPProtectionProfiles: odd length ${list.length}`);
  const mki = r.vec8('srtp_mki');
  r.expectEnd('use_srtp');
  const lr = new Reader(list);
  const profiles: number[] = [];
  while (!lr.atEnd()) profiles.push(lr.u16('SRTPProtectionProfile'));
  return { profiles, mki };
}

export function encodeUseSrtp(x: UseSrtp): Buffer {
  if (x.profiles.length === 0) throw new RangeError('use_srtp needs at least one profile');
  const w = new Writer();
  w.withLength(2, (inner) => {
    for (const p of x.profiles) inner.u16(p);
  });
  return w.vec8(x.mki).finish();
}

// --- application_layer_protocol_negotiation (RFC 7301 §3.1) ---

/**
 * `ProtocolName protocol_name_list<2..2^16-1>` with `opaque ProtocolName<1..2^8-1>`. Names are byte
 * strings; they are given as latin1 strings (one character per byte) so the round trip is exact.
 */
export function decodeAlpn(data: Uint8Array): string[] {
  const r = new Reader(data);
  const list = r.sub(r.u16('protocol_name_list length'), 'protocol_name_list');
  r.expectEnd('application_layer_protocol_negotiation');
  if (list.remaining < 2) throw new DecodeError('protocol_name_list: shorter than 2 bytes');
  const out: string[] = [];
  while (!list.atEnd()) out.push(list.vec8('ProtocolName', 1).toString('latin1'));
  return out;
}

export function encodeAlpn(names: readonly string[]): Buffer {
  if (names.length === 0) throw new RangeError('protocol_name_list must not be empty');
  const w = new Writer();
  w.withLength(2, (inner) => {
    for (const n of names) {
      const bytes = bytesFromLatin1(n, 'ALPN protocol name');
      if (bytes.length === 0 || bytes.length > 0xff)
        throw new RangeError(`bad ALPN name length ${bytes.length}`);
      inner.vec8(bytes);
    }
  });
  return w.finish();
}

// --- extended_master_secret (RFC 7627 §5.1: extension_data is empty) ---

/** Check an extension that must be empty (extended_master_secret, encrypt_then_mac, ...). */
export function decodeEmptyExtension(data: Uint8Array, what = 'extension'): void {
  if (data.length !== 0) throw new DecodeError(`${what}: expected empty data, got ${data.length} bytes`);
}

export function encodeEmptyExtension(): Buffer {
  return Buffer.alloc(0);
}

// --- renegotiation_info (RFC 5746 §3.2: opaque renegotiated_connection<0..255>) ---

export function decodeRenegotiationInfo(data: Uint8Array): Buffer {
  const r = new Reader(data);
  const v = r.vec8('renegotiated_connection');
  r.expectEnd('renegotiation_info');
  return v;
}

export function encodeRenegotiationInfo(renegotiatedConnection: Uint8Array = Buffer.alloc(0)): Buffer {
  return new Writer(1 + renegotiatedConnection.length).vec8(renegotiatedConnection).finish();
}

// --- session_ticket (RFC 5077 §3.2: the ticket itself, or empty to ask for one) ---

export function decodeSessionTicketExtension(data: Uint8Array): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.length);
}

export function encodeSessionTicketExtension(ticket: Uint8Array = Buffer.alloc(0)): Buffer {
  return Buffer.from(ticket);
}

// --- supported_versions (RFC 8446 §4.2.1) ---

/** ClientHello form: `ProtocolVersion versions<2..254>`. */
export function decodeSupportedVersionsClient(data: Uint8Array): number[] {
  const r = new Reader(data);
  const body = r.vec8('supported_versions', 2, 254);
  r.expectEnd('supported_versions');
  if (body.length % 2 !== 0) throw new DecodeError(`supported_versions: odd length ${body.length}`);
  const lr = new Reader(body);
  const out: number[] = [];
  while (!lr.atEnd()) out.push(lr.u16('ProtocolVersion'));
  return out;
}

export function encodeSupportedVersionsClient(versions: readonly number[]): Buffer {
  if (versions.length === 0 || versions.length > 127)
    throw new RangeError('supported_versions: 1..127 versions');
  return encodeU16List(versions, 1);
}

/** ServerHello form: `ProtocolVersion selected_version`. */
export function decodeSupportedVersionsServer(data: Uint8Array): number {
  const r = new Reader(data);
  const v = r.u16('selected_version');
  r.expectEnd('supported_versions');
  return v;
}

export function encodeSupportedVersionsServer(version: number): Buffer {
  return new Writer(2).u16(version).finish();
}
