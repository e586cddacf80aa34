/**
 * A small reader for packet captures (classic pcap and pcapng) that yields the UDP datagrams inside, for
 * replaying or checking real peers' DTLS traffic in tests and tools. It takes the whole file as a Buffer
 * and does no I/O.
 *
 * Formats: classic pcap (draft-ietf-opsawg-pcap: both byte orders, microsecond and nanosecond magic) and
 * pcapng (draft-ietf-opsawg-pcapng: SHB in both byte orders, IDB with if_tsresol/if_tsoffset, EPB, SPB and
 * the obsolete Packet Block; every other block is skipped). Link types: NULL/LOOP (0, 108), Ethernet (1,
 * with 802.1Q/802.1ad tags), raw IP (101, 228, 229), Linux cooked SLL (113) and SLL2 (276).
 *
 * Error policy: a file whose structure is wrong (bad magic, impossible block length, mismatched trailer,
 * a packet longer than its block, an unknown interface) throws CaptureError. A file that simply stops in
 * the middle of its last record/block is "truncated": readCapture throws CaptureError, while scanCapture
 * returns the complete packets with `truncated: true` (what a capture cut short by a killed tshark needs).
 * Packets that are not complete UDP-over-IP datagrams (other protocols, IP fragments, frames cut by the
 * snap length, unknown link types) are not errors: they are skipped and counted in `skipped`.
 * No other exception escapes: every read is bounds-checked first.
 */

export class CaptureError extends Error {
  override name = 'CaptureError';
}

export interface UdpPacket {
  /** Capture time in seconds since the epoch (float); NaN for pcapng Simple Packet Blocks, which have none. */
  time: number;
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  /** A view into the capture buffer, not a copy. */
  payload: Buffer;
}

export interface CaptureScan {
  format: 'pcap' | 'pcapng';
  packets: UdpPacket[];
  /** Packets that were not complete UDP datagrams over IPv4/IPv6 (see the error policy above). */
  skipped: number;
  /** The file ended inside a record or block; `packets` holds everything before it. */
  truncated: boolean;
}

export const LinkType = {
  NULL: 0,
  ETHERNET: 1,
  RAW: 101,
  LOOP: 108,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

/** Largest packet accepted in a classic pcap record, as Wireshark does (WTAP_MAX_PACKET_SIZE_STANDARD). */
const MAX_PCAP_RECORD = 262_144;

const PCAP_MAGIC_MICRO = 0xa1b2c3d4;
const PCAP_MAGIC_NANO = 0xa1b23c4d;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;

/** Parse a capture; throws CaptureError if it is corrupt or truncated. */
export function readCapture(buf: Buffer): UdpPacket[] {
  const scan = scanCapture(buf);
  if (scan.truncated) {
    throw new CaptureError(
      `capture is truncated: the last record is incomplete (${scan.packets.length} read)`,
    );
  }
  return scan.packets;
}

/** Parse a capture, tolerating a truncated last record/block; throws CaptureError if it is corrupt. */
export function scanCapture(buf: Buffer): CaptureScan {
  if (buf.length < 4) throw new CaptureError(`not a capture file: only ${buf.length} bytes`);
  const magicBE = buf.readUInt32BE(0);
  const magicLE = buf.readUInt32LE(0);
  if (magicBE === PCAPNG_SHB) return readPcapng(buf);
  if (magicBE === PCAP_MAGIC_MICRO || magicBE === PCAP_MAGIC_NANO) {
    return readPcap(buf, false, magicBE === PCAP_MAGIC_NANO);
  }
  if (magicLE === PCAP_MAGIC_MICRO || magicLE === PCAP_MAGIC_NANO) {
    return readPcap(buf, true, magicLE === PCAP_MAGIC_NANO);
  }
  throw new CaptureError(`not a pcap or pcapng file: magic 0x${magicBE.toString(16).padStart(8, '0')}`);
}

function u16(buf: Buffer, off: number, le: boolean): number {
  return le ? buf.readUInt16LE(off) : buf.readUInt16BE(off);
}

function u32(buf: Buffer, off: number, le: boolean): number {
  return le ? buf.readUInt32LE(off) : buf.readUInt32BE(off);
}

// --- classic pcap ---

function readPcap(buf: Buffer, le: boolean, nano: boolean): CaptureScan {
  const out: CaptureScan = { format: 'pcap', packets: [], skipped: 0, truncated: false };
  if (buf.length < 24) throw new CaptureError(`pcap global header truncated: ${buf.length} of 24 bytes`);
  const major = u16(buf, 4, le);
  if (major !== 2) throw new CaptureError(`unsupported pcap version ${major}.${u16(buf, 6, le)}`);
  // The low 16 bits are the link type; the high bits may carry FCS information (draft-ietf-opsawg-pcap §4).
  const linkType = u32(buf, 20, le) & 0xffff;
  const fracPerSecond = nano ? 1e9 : 1e6;
  let off = 24;
  // Each iteration consumes at least the 16-byte record header or stops.
  while (off < buf.length) {
    if (buf.length - off < 16) {
      out.truncated = true;
      break;
    }
    const seconds = u32(buf, off, le);
    const fraction = u32(buf, off + 4, le);
    const capturedLength = u32(buf, off + 8, le);
    if (capturedLength > MAX_PCAP_RECORD) {
      throw new CaptureError(`pcap record at offset ${off} claims ${capturedLength} bytes: corrupt file`);
    }
    const dataStart = off + 16;
    if (dataStart + capturedLength > buf.length) {
      out.truncated = true;
      break;
    }
    const frame = buf.subarray(dataStart, dataStart + capturedLength);
    pushPacket(out, linkType, frame, seconds + fraction / fracPerSecond);
    off = dataStart + capturedLength;
  }
  return out;
}

// --- pcapng ---

interface PcapngInterface {
  linkType: number;
  /** Timestamp units: value / divisor seconds, where divisor is base^exponent (if_tsresol). */
  tsBase: bigint;
  tsExponent: bigint;
  tsOffsetSeconds: number;
}

function readPcapng(buf: Buffer): CaptureScan {
  const out: CaptureScan = { format: 'pcapng', packets: [], skipped: 0, truncated: false };
  let le = true;
  let interfaces: PcapngInterface[] = [];
  let off = 0;
  // Each iteration advances by the block length, which is checked to be at least 12, or stops.
  while (off < buf.length) {
    const remaining = buf.length - off;
    if (remaining < 12) {
      out.truncated = true;
      break;
    }
    const isShb = buf.readUInt32BE(off) === PCAPNG_SHB;
    if (isShb) {
      // The SHB's byte-order magic decides how this section, the SHB's own length included, is read.
      const bom = buf.readUInt32LE(off + 8);
      if (bom === PCAPNG_BYTE_ORDER_MAGIC) le = true;
      else if (buf.readUInt32BE(off + 8) === PCAPNG_BYTE_ORDER_MAGIC) le = false;
      else throw new CaptureError(`pcapng section header at offset ${off}: bad byte-order magic`);
    }
    const type = u32(buf, off, le);
    const total = u32(buf, off + 4, le);
    if (total < 12 || total % 4 !== 0 || (isShb && total < 28)) {
      throw new CaptureError(`pcapng block at offset ${off}: invalid length ${total}`);
    }
    if (total > remaining) {
      out.truncated = true;
      break;
    }
    if (u32(buf, off + total - 4, le) !== total) {
      throw new CaptureError(`pcapng block at offset ${off}: trailing length does not match ${total}`);
    }
    const body = buf.subarray(off + 8, off + total - 4);
    switch (type) {
      case PCAPNG_SHB: {
        const major = u16(body, 4, le);
        if (major !== 1) throw new CaptureError(`unsupported pcapng version ${major} at offset ${off}`);
        interfaces = []; // interface ids are per section
        break;
      }
      case 1: // Interface Description Block
        interfaces.push(readInterface(body, le, off));
        break;
      case 6: {
        // Enhanced Packet Block: interface id, timestamp (high, low), captured length, original length.
        if (body.length < 20) throw new CaptureError(`pcapng EPB at offset ${off}: too short`);
        const iface = interfaceFor(interfaces, u32(body, 0, le), off);
        const capturedLength = u32(body, 12, le);
        if (capturedLength > body.length - 20) {
          throw new CaptureError(
            `pcapng EPB at offset ${off}: captured length ${capturedLength} exceeds block`,
          );
        }
        const time = pcapngTime(iface, u32(body, 4, le), u32(body, 8, le));
        pushPacket(out, iface.linkType, body.subarray(20, 20 + capturedLength), time);
        break;
      }
      case 3: {
        // Simple Packet Block: original length, then as much of the packet as the block holds; interface 0.
        if (body.length < 4) throw new CaptureError(`pcapng SPB at offset ${off}: too short`);
        const iface = interfaceFor(interfaces, 0, off);
        const capturedLength = Math.min(u32(body, 0, le), body.length - 4);
        pushPacket(out, iface.linkType, body.subarray(4, 4 + capturedLength), Number.NaN);
        break;
      }
      case 2: {
        // Obsolete Packet Block: interface id u16, drops u16, timestamp, captured length, original length.
        if (body.length < 20) throw new CaptureError(`pcapng packet block at offset ${off}: too short`);
        const iface = interfaceFor(interfaces, u16(body, 0, le), off);
        const capturedLength = u32(body, 12, le);
        if (capturedLength > body.length - 20) {
          throw new CaptureError(`pcapng packet block at offset ${off}: captured length exceeds block`);
        }
        const time = pcapngTime(iface, u32(body, 4, le), u32(body, 8, le));
        pushPacket(out, iface.linkType, body.subarray(20, 20 + capturedLength), time);
        break;
      }
      default:
        // Name resolution, statistics, custom and unknown blocks carry no packets we need.
        break;
    }
    off += total;
  }
  return out;
}

function interfaceFor(interfaces: PcapngInterface[], id: number, off: number): PcapngInterface {
  const iface = interfaces[id];
  if (iface === undefined) throw new CaptureError(`pcapng block at offset ${off}: unknown interface ${id}`);
  return iface;
}

function readInterface(body: Buffer, le: boolean, off: number): PcapngInterface {
  if (body.length < 8) throw new CaptureError(`pcapng IDB at offset ${off}: too short`);
  const iface: PcapngInterface = {
    linkType: u16(body, 0, le),
    tsBase: 10n,
    tsExponent: 6n,
    tsOffsetSeconds: 0,
  };
  let pos = 8;
  // Options: code u16, length u16, value padded to 4 bytes; each iteration advances at least 4 bytes.
  while (pos + 4 <= body.length) {
    const code = u16(body, pos, le);
    const length = u16(body, pos + 2, le);
    if (code === 0) break; // opt_endofopt
    if (pos + 4 + length > body.length)
      throw new CaptureError(`pcapng IDB at offset ${off}: option overruns block`);
    const value = body.subarray(pos + 4, pos + 4 + length);
    if (code === 9 && length >= 1) {
      // if_tsresol: high bit clear = negative power of 10, set = negative power of 2.
      const v = value[0]!;
      iface.tsBase = v & 0x80 ? 2n : 10n;
      iface.tsExponent = BigInt(v & 0x7f);
    } else if (code === 14 && length >= 8) {
      // if_tsoffset: seconds to add to every timestamp of this interface.
      iface.tsOffsetSeconds = Number(le ? value.readBigInt64LE(0) : value.readBigInt64BE(0));
    }
    pos += 4 + ((length + 3) & ~3);
  }
  return iface;
}

function pcapngTime(iface: PcapngInterface, high: number, low: number): number {
  // The 64-bit count exceeds 2^53 at nanosecond resolution, so split it into whole seconds exactly first.
  const ticks = (BigInt(high) << 32n) | BigInt(low);
  const perSecond = iface.tsBase ** iface.tsExponent;
  const whole = ticks / perSecond;
  const rest = ticks % perSecond;
  return Number(whole) + Number(rest) / Number(perSecond) + iface.tsOffsetSeconds;
}

// --- link, network and transport layers ---

function pushPacket(out: CaptureScan, linkType: number, frame: Buffer, time: number): void {
  const ip = ipFromFrame(linkType, frame);
  const udp = ip === undefined ? undefined : udpFromIp(ip);
  if (udp === undefined) {
    out.skipped++;
    return;
  }
  out.packets.push({ time, ...udp });
}

function ipFromFrame(linkType: number, frame: Buffer): Buffer | undefined {
  switch (linkType) {
    case LinkType.NULL:
    case LinkType.LOOP:
      // A 4-byte address family in the capturing host's byte order (AF_INET6 differs between OSes too),
      // so the IP version nibble that follows is the reliable guide.
      return frame.length >= 4 ? frame.subarray(4) : undefined;
    case LinkType.ETHERNET: {
      if (frame.length < 14) return undefined;
      let etherType = frame.readUInt16BE(12);
      let pos = 14;
      // 802.1Q (0x8100), 802.1ad (0x88a8) and the old QinQ 0x9100 tags: 2-byte TCI then the real type.
      // Each iteration consumes 4 bytes, so the loop is bounded by the frame length.
      while (etherType === 0x8100 || etherType === 0x88a8 || etherType === 0x9100) {
        if (frame.length < pos + 4) return undefined;
        etherType = frame.readUInt16BE(pos + 2);
        pos += 4;
      }
      return ipByEtherType(etherType, frame.subarray(pos));
    }
    case LinkType.RAW:
    case LinkType.IPV4:
    case LinkType.IPV6:
      return frame;
    case LinkType.LINUX_SLL:
      // packet type u16, ARPHRD u16, address length u16, address [8], protocol u16.
      return frame.length < 16 ? undefined : ipByEtherType(frame.readUInt16BE(14), frame.subarray(16));
    case LinkType.LINUX_SLL2:
      // protocol u16, reserved u16, interface index u32, ARPHRD u16, packet type u8, address length u8,
      // address [8].
      return frame.length < 20 ? undefined : ipByEtherType(frame.readUInt16BE(0), frame.subarray(20));
    default:
      return undefined;
  }
}

function ipByEtherType(etherType: number, payload: Buffer): Buffer | undefined {
  return etherType === 0x0800 || etherType === 0x86dd ? payload : undefined;
}

interface UdpFields {
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
  payload: Buffer;
}

const IPPROTO_UDP = 17;

function udpFromIp(ip: Buffer): UdpFields | undefined {
  if (ip.length < 1) return undefined;
  const version = ip[0]! >> 4;
  if (version === 4) return udpFromIpv4(ip);
  if (version === 6) return udpFromIpv6(ip);
  return undefined;
}

function udpFromIpv4(ip: Buffer): UdpFields | undefined {
  if (ip.length < 20) return undefined;
  const headerLength = (ip[0]! & 0x0f) * 4;
  const totalLength = ip.readUInt16BE(2);
  if (headerLength < 20 || totalLength < headerLength || totalLength > ip.length) return undefined;
  // Fragments (more-fragments flag or a non-zero offset) are ignored: reassembly is out of scope.
  const flagsAndOffset = ip.readUInt16BE(6);
  if ((flagsAndOffset & 0x2000) !== 0 || (flagsAndOffset & 0x1fff) !== 0) return undefined;
  if (ip[9] !== IPPROTO_UDP) return undefined;
  const src = [...ip.subarray(12, 16)].join('.');
  const dst = [...ip.subarray(16, 20)].join('.');
  return udpFields(src, dst, ip.subarray(headerLength, totalLength));
}

function udpFromIpv6(ip: Buffer): UdpFields | undefined {
  if (ip.length < 40) return undefined;
  const payloadLength = ip.readUInt16BE(4);
  // Zero means a jumbogram (RFC 2675), which a UDP/DTLS capture will not hold.
  if (payloadLength === 0 || 40 + payloadLength > ip.length) return undefined;
  const end = 40 + payloadLength;
  let next = ip[6]!;
  let pos = 40;
  // Walk extension headers (RFC 8200 §4); bounded by a count and by `end`.
  for (let i = 0; i < 16 && next !== IPPROTO_UDP; i++) {
    if (pos + 8 > end) return undefined;
    switch (next) {
      case 0: // hop-by-hop options
      case 43: // routing
      case 60: // destination options
      case 135: // mobility
      case 139: // HIP
      case 140: // shim6
        next = ip[pos]!;
        pos += (ip[pos + 1]! + 1) * 8;
        break;
      case 44: {
        // Fragment header: only an atomic fragment (offset 0, no more fragments) holds a whole datagram.
        const offsetAndFlags = ip.readUInt16BE(pos + 2);
        if (offsetAndFlags >> 3 !== 0 || (offsetAndFlags & 1) !== 0) return undefined;
        next = ip[pos]!;
        pos += 8;
        break;
      }
      case 51: // authentication header: length in 4-byte units, minus 2
        next = ip[pos]!;
        pos += (ip[pos + 1]! + 2) * 4;
        break;
      default:
        return undefined; // ESP, no-next-header or another upper layer
    }
  }
  if (next !== IPPROTO_UDP || pos > end) return undefined;
  return udpFields(formatIpv6(ip.subarray(8, 24)), formatIpv6(ip.subarray(24, 40)), ip.subarray(pos, end));
}

function udpFields(src: string, dst: string, udp: Buffer): UdpFields | undefined {
  if (udp.length < 8) return undefined;
  const length = udp.readUInt16BE(4);
  if (length < 8 || length > udp.length) return undefined;
  return {
    src,
    srcPort: udp.readUInt16BE(0),
    dst,
    dstPort: udp.readUInt16BE(2),
    payload: udp.subarray(8, length),
  };
}

/** RFC 5952 §4 text form: lower case, no leading zeros, the longest run (>= 2) of zero groups as "::". */
export function formatIpv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (g: number[]) => g.map((v) => v.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}
