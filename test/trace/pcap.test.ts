import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { CaptureError, formatIpv6, readCapture, scanCapture, type UdpPacket } from '../../src/trace/pcap.js';

const FIXTURE = path.resolve(process.cwd(), '../shared/fixtures/chromium156-client-handshake.pcapng');

function loadFixture(): Buffer {
  if (!existsSync(FIXTURE)) {
    throw new Error(`fixture missing: ${FIXTURE} (tests must run from the repository root, /work/main)`);
  }
  return readFileSync(FIXTURE);
}

const hex = (s: string) => Buffer.from(s.replace(/\s/g, ''), 'hex');
const u16be = (v: number) => hex(v.toString(16).padStart(4, '0'));

// --- hand-built frames (header layouts from RFC 791, RFC 8200, RFC 768, IEEE 802.3/802.1Q, Linux SLL) ---

const PAYLOAD = Buffer.from('dtls-or-stun', 'latin1');

function udp(srcPort: number, dstPort: number, payload: Buffer): Buffer {
  return Buffer.concat([u16be(srcPort), u16be(dstPort), u16be(8 + payload.length), hex('0000'), payload]);
}

function ipv4(src: string, dst: string, protocol: number, body: Buffer, flagsAndOffset = 0x4000): Buffer {
  const addr = (a: string) => Buffer.from(a.split('.').map(Number));
  const header = Buffer.concat([
    hex('45 00'),
    u16be(20 + body.length),
    hex('1234'),
    u16be(flagsAndOffset),
    Buffer.of(64, protocol),
    hex('0000'),
    addr(src),
    addr(dst),
  ]);
  return Buffer.concat([header, body]);
}

/** IPv6 with optional extension headers given as [nextHeaderCode, bytes] chains already linked. */
function ipv6(src: string, dst: string, firstNext: number, body: Buffer): Buffer {
  return Buffer.concat([
    hex('60000000'),
    u16be(body.length),
    Buffer.of(firstNext, 64),
    hex(src),
    hex(dst),
    body,
  ]);
}

const V6_SRC = '20010db8000000000000000000000001'; // 2001:db8::1
const V6_DST = '00000000000000000000000000000001'; // ::1

function ethernet(etherType: number, payload: Buffer, vlan = false): Buffer {
  const macs = hex('020000000001 020000000002');
  const tag = vlan ? Buffer.concat([hex('8100 0064')]) : Buffer.alloc(0);
  return Buffer.concat([macs, tag, u16be(etherType), payload]);
}

function sll(etherType: number, payload: Buffer): Buffer {
  // packet type 0 (to us), ARPHRD_LOOPBACK 772, address length 6, address padded to 8, protocol.
  return Buffer.concat([hex('0000 0304 0006 000000000000 0000'), u16be(etherType), payload]);
}

function sll2(etherType: number, payload: Buffer): Buffer {
  // protocol, reserved, ifindex 1, ARPHRD_LOOPBACK, packet type 0, address length 6, address [8].
  return Buffer.concat([u16be(etherType), hex('0000 00000001 0304 00 06 0000000000000000'), payload]);
}

interface PcapRecord {
  seconds: number;
  fraction: number;
  frame: Buffer;
}

function pcapFile(le: boolean, nano: boolean, linkType: number, records: PcapRecord[]): Buffer {
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    if (le) b.writeUInt32LE(v);
    else b.writeUInt32BE(v);
    return b;
  };
  const u16 = (v: number) => {
    const b = Buffer.alloc(2);
    if (le) b.writeUInt16LE(v);
    else b.writeUInt16BE(v);
    return b;
  };
  const header = Buffer.concat([
    u32(nano ? 0xa1b23c4d : 0xa1b2c3d4),
    u16(2),
    u16(4),
    u32(0),
    u32(0),
    u32(65535),
    u32(linkType),
  ]);
  const body = records.map((r) =>
    Buffer.concat([u32(r.seconds), u32(r.fraction), u32(r.frame.length), u32(r.frame.length), r.frame]),
  );
  return Buffer.concat([header, ...body]);
}

function plain(p: UdpPacket) {
  return { ...p, payload: p.payload.toString('latin1') };
}

// --- classic pcap ---

test('classic pcap, little-endian microseconds, Ethernet with and without an 802.1Q tag', () => {
  const frame1 = ethernet(0x0800, ipv4('192.0.2.1', '198.51.100.2', 17, udp(5000, 5001, PAYLOAD)));
  const frame2 = ethernet(0x0800, ipv4('10.0.0.1', '10.0.0.2', 17, udp(1, 65535, PAYLOAD)), true);
  const file = pcapFile(true, false, 1, [
    { seconds: 1_700_000_000, fraction: 250_000, frame: frame1 },
    { seconds: 1_700_000_001, fraction: 1, frame: frame2 },
  ]);
  assert.equal(file.subarray(0, 4).toString('hex'), 'd4c3b2a1');
  const packets = readCapture(file);
  assert.deepEqual(packets.map(plain), [
    {
      time: 1_700_000_000.25,
      src: '192.0.2.1',
      srcPort: 5000,
      dst: '198.51.100.2',
      dstPort: 5001,
      payload: 'dtls-or-stun',
    },
    {
      time: 1_700_000_001.000001,
      src: '10.0.0.1',
      srcPort: 1,
      dst: '10.0.0.2',
      dstPort: 65535,
      payload: 'dtls-or-stun',
    },
  ]);
});

test('classic pcap, big-endian nanoseconds, Linux SLL with IPv4 and IPv6', () => {
  const frames = [
    sll(0x0800, ipv4('127.0.0.1', '127.0.0.1', 17, udp(4433, 50000, PAYLOAD))),
    sll(0x86dd, ipv6(V6_SRC, V6_DST, 17, udp(4433, 50001, PAYLOAD))),
  ];
  const file = pcapFile(false, true, 113, [
    { seconds: 10, fraction: 500_000_000, frame: frames[0]! },
    { seconds: 11, fraction: 1, frame: frames[1]! },
  ]);
  assert.equal(file.subarray(0, 4).toString('hex'), 'a1b23c4d');
  const packets = readCapture(file);
  assert.deepEqual(packets.map(plain), [
    {
      time: 10.5,
      src: '127.0.0.1',
      srcPort: 4433,
      dst: '127.0.0.1',
      dstPort: 50000,
      payload: 'dtls-or-stun',
    },
    {
      time: 11.000000001,
      src: '2001:db8::1',
      srcPort: 4433,
      dst: '::1',
      dstPort: 50001,
      payload: 'dtls-or-stun',
    },
  ]);
});

test('classic pcap, SLL2, raw IP, NULL and Ethernet IPv6 link types', () => {
  const v4 = ipv4('127.0.0.1', '127.0.0.2', 17, udp(1000, 2000, PAYLOAD));
  const v6 = ipv6(V6_SRC, V6_DST, 17, udp(1000, 2000, PAYLOAD));
  const cases: [number, Buffer, string][] = [
    [276, sll2(0x86dd, v6), '2001:db8::1'],
    [276, sll2(0x0800, v4), '127.0.0.1'],
    [101, v4, '127.0.0.1'],
    [101, v6, '2001:db8::1'],
    [228, v4, '127.0.0.1'],
    [229, v6, '2001:db8::1'],
    [0, Buffer.concat([hex('02000000'), v4]), '127.0.0.1'], // AF_INET, little-endian host
    [0, Buffer.concat([hex('0000001e'), v6]), '2001:db8::1'], // AF_INET6 (30, macOS), big-endian host
    [1, ethernet(0x86dd, v6, true), '2001:db8::1'],
  ];
  for (const [linkType, frame, src] of cases) {
    for (const le of [true, false]) {
      const [p, ...rest] = readCapture(pcapFile(le, false, linkType, [{ seconds: 1, fraction: 0, frame }]));
      assert.equal(rest.length, 0);
      assert.equal(p?.src, src, `link type ${linkType}`);
      assert.equal(p?.srcPort, 1000);
      assert.equal(p?.dstPort, 2000);
      assert.equal(p?.payload.toString('latin1'), 'dtls-or-stun');
    }
  }
});

test('non-UDP packets, IP fragments and snap-length cuts are skipped and counted', () => {
  const good = ethernet(0x0800, ipv4('127.0.0.1', '127.0.0.1', 17, udp(1, 2, PAYLOAD)));
  const tcp = ethernet(0x0800, ipv4('127.0.0.1', '127.0.0.1', 6, Buffer.alloc(20)));
  const arp = ethernet(0x0806, Buffer.alloc(28));
  const moreFragments = ethernet(0x0800, ipv4('127.0.0.1', '127.0.0.1', 17, udp(1, 2, PAYLOAD), 0x2000));
  const laterFragment = ethernet(0x0800, ipv4('127.0.0.1', '127.0.0.1', 17, udp(1, 2, PAYLOAD), 0x0010));
  const cut = good.subarray(0, good.length - 3);
  // IPv6: hop-by-hop (0) then UDP is read; a fragment header (44) with offset 8 is skipped.
  const hopByHop = Buffer.concat([hex('11 00 0000 00000000'), udp(7, 8, PAYLOAD)]);
  const v6Fragment = Buffer.concat([hex('11 00 0008 00000001'), udp(7, 8, PAYLOAD)]);
  const v6Atomic = Buffer.concat([hex('11 00 0000 00000001'), udp(9, 10, PAYLOAD)]);
  const frames = [
    good,
    tcp,
    arp,
    moreFragments,
    laterFragment,
    cut,
    ethernet(0x86dd, ipv6(V6_SRC, V6_DST, 0, hopByHop)),
    ethernet(0x86dd, ipv6(V6_SRC, V6_DST, 44, v6Fragment)),
    ethernet(0x86dd, ipv6(V6_SRC, V6_DST, 44, v6Atomic)),
  ];
  const scan = scanCapture(
    pcapFile(
      true,
      false,
      1,
      frames.map((frame) => ({ seconds: 0, fraction: 0, frame })),
    ),
  );
  assert.equal(scan.format, 'pcap');
  assert.equal(scan.truncated, false);
  assert.deepEqual(
    scan.packets.map((p) => [p.srcPort, p.dstPort]),
    [
      [1, 2],
      [7, 8],
      [9, 10],
    ],
  );
  assert.equal(scan.skipped, 6);
  const unknownLink = scanCapture(pcapFile(true, false, 147, [{ seconds: 0, fraction: 0, frame: good }]));
  assert.deepEqual([unknownLink.packets.length, unknownLink.skipped], [0, 1]);
});

test('IPv6 addresses use the RFC 5952 text form', () => {
  const cases: [string, string][] = [
    // RFC 5952 §4.2.1-§4.2.3 and §4.3 examples
    ['20010db8000000000000000000020001', '2001:db8::2:1'],
    ['20010db8000000010001000100010001', '2001:db8:0:1:1:1:1:1'],
    ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'],
    ['20010db8000000000000000100000000', '2001:db8::1:0:0'],
    ['00000000000000000000000000000001', '::1'],
    ['00000000000000000000000000000000', '::'],
    ['fe800000000000000000000000000000', 'fe80::'],
    ['20010DB8AAAABBBBCCCCDDDDEEEE0001', '2001:db8:aaaa:bbbb:cccc:dddd:eeee:1'],
  ];
  for (const [bytes, text] of cases) assert.equal(formatIpv6(hex(bytes)), text);
});

// --- pcapng ---

function pcapngBlock(le: boolean, type: number, body: Buffer): Buffer {
  const padded = Buffer.concat([body, Buffer.alloc((4 - (body.length % 4)) % 4)]);
  const total = 12 + padded.length;
  const b = Buffer.alloc(total);
  if (le) {
    b.writeUInt32LE(type, 0);
    b.writeUInt32LE(total, 4);
    b.writeUInt32LE(total, total - 4);
  } else {
    b.writeUInt32BE(type, 0);
    b.writeUInt32BE(total, 4);
    b.writeUInt32BE(total, total - 4);
  }
  padded.copy(b, 8);
  return b;
}

function pcapngFile(le: boolean, frames: { iface: number; ticks: bigint; frame: Buffer }[]): Buffer {
  const u16 = (v: number) => {
    const b = Buffer.alloc(2);
    if (le) b.writeUInt16LE(v);
    else b.writeUInt16BE(v);
    return b;
  };
  const u32 = (v: number) => {
    const b = Buffer.alloc(4);
    if (le) b.writeUInt32LE(v);
    else b.writeUInt32BE(v);
    return b;
  };
  const i64 = (v: bigint) => {
    const b = Buffer.alloc(8);
    if (le) b.writeBigInt64LE(v);
    else b.writeBigInt64BE(v);
    return b;
  };
  const option = (code: number, value: Buffer) =>
    Buffer.concat([u16(code), u16(value.length), value, Buffer.alloc((4 - (value.length % 4)) % 4)]);
  const shb = pcapngBlock(le, 0x0a0d0d0a, Buffer.concat([u32(0x1a2b3c4d), u16(1), u16(0), i64(-1n)]));
  // Interface 0: Ethernet, if_tsresol 3 (milliseconds), if_name "lo".
  const idb0 = pcapngBlock(
    le,
    1,
    Buffer.concat([
      u16(1),
      u16(0),
      u32(0),
      option(2, Buffer.from('lo')),
      option(9, Buffer.of(3)),
      option(0, Buffer.alloc(0)),
    ]),
  );
  // Interface 1: SLL2, if_tsresol 2^-10, if_tsoffset 100 s.
  const idb1 = pcapngBlock(
    le,
    1,
    Buffer.concat([u16(276), u16(0), u32(0), option(9, Buffer.of(0x80 | 10)), option(14, i64(100n))]),
  );
  const unknown = pcapngBlock(le, 0x40000bad, Buffer.from('custom block to skip'));
  const packets = frames.map(({ iface, ticks, frame }) =>
    pcapngBlock(
      le,
      6,
      Buffer.concat([
        u32(iface),
        u32(Number(ticks >> 32n)),
        u32(Number(ticks & 0xffffffffn)),
        u32(frame.length),
        u32(frame.length),
        frame,
      ]),
    ),
  );
  const spb = pcapngBlock(le, 3, Buffer.concat([u32(frames[0]!.frame.length), frames[0]!.frame]));
  return Buffer.concat([shb, idb0, unknown, idb1, ...packets, spb]);
}

test('pcapng in both byte orders: IDB resolution and offset, EPB, SPB, unknown blocks skipped', () => {
  const eth = ethernet(0x0800, ipv4('127.0.0.1', '127.0.0.1', 17, udp(3478, 3479, PAYLOAD)));
  const cooked = sll2(0x86dd, ipv6(V6_SRC, V6_DST, 17, udp(5684, 5685, PAYLOAD)));
  for (const le of [true, false]) {
    const file = pcapngFile(le, [
      { iface: 0, ticks: 1_234_567n, frame: eth },
      { iface: 1, ticks: 2048n + 512n, frame: cooked },
    ]);
    const scan = scanCapture(file);
    assert.equal(scan.format, 'pcapng');
    assert.equal(scan.truncated, false);
    assert.equal(scan.skipped, 0);
    const [a, b, c] = scan.packets;
    assert.equal(scan.packets.length, 3);
    assert.deepEqual(plain(a!), {
      time: 1234.567,
      src: '127.0.0.1',
      srcPort: 3478,
      dst: '127.0.0.1',
      dstPort: 3479,
      payload: 'dtls-or-stun',
    });
    assert.deepEqual(plain(b!), {
      time: 102.5,
      src: '2001:db8::1',
      srcPort: 5684,
      dst: '::1',
      dstPort: 5685,
      payload: 'dtls-or-stun',
    });
    assert.ok(Number.isNaN(c!.time), 'a Simple Packet Block has no timestamp');
    assert.equal(c!.srcPort, 3478);
  }
});

test('the Chromium fixture (pcapng, nanosecond if_tsresol, Ethernet on lo)', () => {
  const scan = scanCapture(loadFixture());
  assert.equal(scan.format, 'pcapng');
  assert.equal(scan.truncated, false);
  assert.equal(scan.skipped, 0);
  assert.equal(scan.packets.length, 23);
  const first = scan.packets[0]!;
  assert.deepEqual(
    [first.src, first.srcPort, first.dst, first.dstPort],
    ['127.0.0.1', 60095, '127.0.0.1', 38149],
  );
  assert.equal(first.payload.length, 96);
  // Times are increasing and in a plausible range (after 2025, before 2030).
  for (let i = 1; i < scan.packets.length; i++) assert.ok(scan.packets[i]!.time >= scan.packets[i - 1]!.time);
  assert.ok(first.time > 1.735e9 && first.time < 1.9e9);
  // The README says Chromium retransmits its ClientHello after about 50 ms.
  const hellos = scan.packets.filter((p) => p.payload.length === 1200 && p.payload[0] === 22);
  const gap = hellos[1]!.time - hellos[0]!.time;
  assert.ok(gap > 0.04 && gap < 0.07, `retransmission gap ${gap}`);
});

// --- truncated and corrupt input ---

test('every prefix of the fixture is either complete or reported as truncated, never another error', () => {
  const file = loadFixture();
  let previous = 0;
  for (let cut = 0; cut <= file.length; cut++) {
    const prefix = file.subarray(0, cut);
    if (cut < 4) {
      assert.throws(() => scanCapture(prefix), CaptureError);
      continue;
    }
    const scan = scanCapture(prefix);
    assert.ok(scan.packets.length >= previous);
    previous = scan.packets.length;
    if (scan.truncated) assert.throws(() => readCapture(prefix), CaptureError);
    else assert.equal(readCapture(prefix).length, scan.packets.length);
  }
  assert.equal(previous, 23);
  // A classic pcap cut inside a record and inside the global header.
  const pcap = pcapFile(true, false, 1, [
    {
      seconds: 0,
      fraction: 0,
      frame: ethernet(0x0800, ipv4('127.0.0.1', '127.0.0.1', 17, udp(1, 2, PAYLOAD))),
    },
  ]);
  assert.throws(() => readCapture(pcap.subarray(0, pcap.length - 1)), /truncated/);
  assert.equal(scanCapture(pcap.subarray(0, pcap.length - 1)).truncated, true);
  assert.throws(() => readCapture(pcap.subarray(0, 20)), CaptureError);
});

test('corrupt files throw CaptureError with a clear message', () => {
  const fixture = loadFixture();
  const corrupt = (offset: number, bytes: string) => {
    const b = Buffer.from(fixture);
    hex(bytes).copy(b, offset);
    return b;
  };
  const cases: [string, Buffer, RegExp][] = [
    ['unknown magic', hex('7f454c46 02010100'), /not a pcap or pcapng file/],
    ['empty', Buffer.alloc(0), /not a capture file/],
    ['bad byte-order magic', corrupt(8, '00000000'), /byte-order magic/],
    ['block length not a multiple of 4', corrupt(180 + 4, '4d000000'), /invalid length/],
    ['block length below 12', corrupt(180 + 4, '08000000'), /invalid length/],
    ['trailing length mismatch', corrupt(180 + 76 - 4, '50000000'), /trailing length/],
    ['EPB on an undeclared interface', corrupt(256 + 8, '05000000'), /unknown interface 5/],
    ['EPB captured length beyond its block', corrupt(256 + 20, 'ff000000'), /exceeds block/],
    ['unsupported pcapng version', corrupt(12, '0200'), /unsupported pcapng version/],
  ];
  const pcap = pcapFile(true, false, 1, [{ seconds: 0, fraction: 0, frame: Buffer.alloc(60) }]);
  const hugeRecord = Buffer.from(pcap);
  hugeRecord.writeUInt32LE(0x7fffffff, 24 + 8);
  cases.push(['pcap record larger than 256 KiB', hugeRecord, /corrupt/]);
  const badVersion = Buffer.from(pcap);
  badVersion.writeUInt16LE(3, 4);
  cases.push(['pcap version 3', badVersion, /unsupported pcap version/]);
  for (const [what, input, message] of cases) {
    assert.throws(
      () => readCapture(input),
      (e: unknown) => e instanceof CaptureError && message.test(e.message),
      what,
    );
  }
});

test('random corruption of real and built captures raises only CaptureError', () => {
  // mulberry32, seeded for reproducibility.
  let state = 0x9e3779b9;
  const rand = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const seeds = [
    loadFixture(),
    pcapngFile(false, [
      {
        iface: 0,
        ticks: 5n,
        frame: ethernet(0x0800, ipv4('1.2.3.4', '5.6.7.8', 17, udp(1, 2, PAYLOAD)), true),
      },
    ]),
    pcapFile(false, true, 113, [
      {
        seconds: 1,
        fraction: 2,
        frame: sll(
          0x86dd,
          ipv6(V6_SRC, V6_DST, 0, Buffer.concat([hex('1100000000000000'), udp(1, 2, PAYLOAD)])),
        ),
      },
    ]),
  ];
  let decoded = 0;
  for (let i = 0; i < 2000; i++) {
    const input = Buffer.from(seeds[i % seeds.length]!);
    const flips = 1 + Math.floor(rand() * 4);
    for (let k = 0; k < flips; k++) {
      // Bias towards headers, where the interesting length fields are.
      const at =
        rand() < 0.5 ? Math.floor(rand() * Math.min(input.length, 400)) : Math.floor(rand() * input.length);
      input[at] = Math.floor(rand() * 256);
    }
    const cut = rand() < 0.3 ? Math.floor(rand() * input.length) : input.length;
    try {
      scanCapture(input.subarray(0, cut));
      decoded++;
    } catch (e) {
      assert.ok(e instanceof CaptureError, `non-CaptureError at iteration ${i}: ${String(e)}`);
    }
  }
  assert.ok(decoded > 0);
});
