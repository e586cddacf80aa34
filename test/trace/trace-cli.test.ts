/**
 * `tsdtls trace` on bad input: a missing, empty, non-capture, corrupt or truncated file, a capture
 * without DTLS, a bad key log or command line. Each gives one `error: …` line on stderr and a non-zero
 * exit code, never a stack trace; and the decoder survives corrupted DTLS bytes without throwing.
 */

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { TraceError, traceCapture } from '../../src/trace/decode-flow.js';
import { renderHtml } from '../../src/trace/html-diagram.js';
import { renderLadder } from '../../src/trace/ladder.js';
import { cleanupPeers, makeTempDir, type TempDir } from '../interop/peers.js';
import { runTrace } from './capture-harness.js';

after(cleanupPeers);

const FIXTURE = path.resolve(process.cwd(), '../shared/fixtures/chromium156-client-handshake.pcapng');

function loadFixture(): Buffer {
  if (!existsSync(FIXTURE)) {
    throw new Error(`fixture missing: ${FIXTURE} (tests must run from the repository root, /work/main)`);
  }
  return readFileSync(FIXTURE);
}

const hex = (s: string) => Buffer.from(s.replace(/\s/g, ''), 'hex');

/** A classic little-endian pcap (draft-ietf-opsawg-pcap §4) of raw IPv4 UDP datagrams (link type 101). */
function rawIpPcap(payloads: Buffer[]): Buffer {
  const header = Buffer.alloc(24);
  header.writeUInt32LE(0xa1b2c3d4, 0);
  header.writeUInt16LE(2, 4);
  header.writeUInt16LE(4, 6);
  header.writeUInt32LE(65535, 16);
  header.writeUInt32LE(101, 20);
  const records = payloads.map((payload, i) => {
    const udp = Buffer.concat([hex('d431 0d96'), Buffer.alloc(2), hex('0000'), payload]);
    udp.writeUInt16BE(udp.length, 4);
    const ip = Buffer.concat([
      hex('4500'),
      Buffer.alloc(2),
      hex('0000 4000 4011 0000 7f000001 7f000001'),
      udp,
    ]);
    ip.writeUInt16BE(ip.length, 2);
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(1_700_000_000 + i, 0);
    rec.writeUInt32LE(ip.length, 8);
    rec.writeUInt32LE(ip.length, 12);
    return Buffer.concat([rec, ip]);
  });
  return Buffer.concat([header, ...records]);
}

// A STUN Binding Request (RFC 5389 §6: type 0x0001, length 0, magic cookie, transaction id) and a DNS
// query: UDP, but not DTLS.
const STUN = hex('0001 0000 2112a442 000102030405060708090a0b');
const DNS = hex('1234 0100 0001 0000 0000 0000 07 6578616d706c65 03 636f6d 00 0001 0001');

interface Expect {
  argv: (dir: TempDir) => string[];
  code: number;
  message: RegExp;
}

function expectOneLineError(result: { code: number; stdout: string; stderr: string }, e: Expect): void {
  assert.equal(result.code, e.code, result.stderr);
  assert.equal(result.stdout, '');
  const first = result.stderr.split('\n')[0]!;
  assert.match(first, /^error: \S/);
  assert.match(first, e.message);
  assert.ok(!/\n\s+at /.test(result.stderr), `no stack trace: ${result.stderr}`);
}

const CASES: Record<string, Expect> = {
  'a missing file': {
    argv: (d) => [path.join(d.path, 'nope.pcapng')],
    code: 1,
    message: /^error: cannot read capture .*nope\.pcapng \(ENOENT\)$/,
  },
  'an empty file': {
    argv: (d) => [d.file('empty.pcap', '')],
    code: 1,
    message: /not a capture file: only 0 bytes/,
  },
  'a text file': {
    argv: (d) => [d.file('notes.txt', 'this is not a packet capture\n')],
    code: 1,
    message: /not a pcap or pcapng file: magic 0x74686973/,
  },
  'a truncated capture': {
    argv: (d) => [d.file('cut.pcapng', loadFixture().subarray(0, loadFixture().length - 100))],
    code: 1,
    message: /capture is truncated/,
  },
  'a corrupt capture (impossible block length)': {
    argv: (d) => {
      const bad = Buffer.from(loadFixture());
      bad.writeUInt32LE(13, 4); // the Section Header Block's length: not a multiple of 4
      return [d.file('corrupt.pcapng', bad)];
    },
    code: 1,
    message: /invalid length 13/,
  },
  'a capture without DTLS': {
    argv: (d) => [d.file('stun.pcap', rawIpPcap([STUN, DNS, STUN]))],
    code: 1,
    message: /^error: no DTLS traffic found \(3 UDP datagrams, 0 other packets\)$/,
  },
  'a key log without CLIENT_RANDOM lines': {
    argv: (d) => [FIXTURE, '--keylog', d.file('bad.keylog', '# nothing here\nCLIENT_RANDOM xyz\n')],
    code: 1,
    message: /key log has no CLIENT_RANDOM lines/,
  },
  'no capture file': { argv: () => [], code: 2, message: /give the capture FILE/ },
  'an unknown option': { argv: () => [FIXTURE, '--bogus'], code: 2, message: /bogus/ },
  'a bad port': { argv: () => [FIXTURE, '--port', '99999'], code: 2, message: /--port must be an integer/ },
  'an unwritable --html path': {
    argv: (d) => [FIXTURE, '--html', path.join(d.path, 'no-such-dir', 'x.html')],
    code: 1,
    message: /cannot write .*x\.html: ENOENT/,
  },
};

for (const [name, e] of Object.entries(CASES)) {
  test(`tsdtls trace on ${name}: one error line, exit ${e.code}`, async () => {
    const dir = makeTempDir();
    expectOneLineError(await runTrace(e.argv(dir)), e);
  });
}

test('tsdtls trace --help prints the usage', async () => {
  const r = await runTrace(['--help']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^usage: tsdtls trace FILE/);
});

test('a DTLS datagram among other UDP traffic is found and the rest ignored', () => {
  // The HelloVerifyRequest of RFC 6347 §4.2.1 as a lone record (record seq 0, cookie 0xc0ffee).
  const hvr = hex('16 feff 0000 000000000000 0012  03 000006 0000 000000 000006  feff 03 c0ffee');
  const trace = traceCapture(rawIpPcap([STUN, hvr, DNS]));
  assert.equal(trace.otherDatagrams, 2);
  assert.equal(trace.flows.length, 1);
  const h = trace.flows[0]!.datagrams[0]!.records[0]!.handshake[0]!;
  assert.equal(h.name, 'HelloVerifyRequest');
  assert.deepEqual(h.fields, { version: 'DTLS 1.0 (0xfeff)', cookie: 'c0ffee' });
  assert.equal(
    trace.flows[0]!.clientIdentified,
    false,
    'no ClientHello: the first sender is taken as client',
  );
});

test('corrupted DTLS bytes never make the decoder throw anything but TraceError', () => {
  const original = loadFixture();
  // Offsets inside the DTLS payloads: every EPB's packet data after the IPv4 + UDP headers.
  let seed = 0x2545f491;
  const next = () => {
    // xorshift32: a fixed sequence, so a failure reproduces.
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 0x1_0000_0000;
  };
  let decoded = 0;
  for (let round = 0; round < 300; round++) {
    const copy = Buffer.from(original);
    // Leave the section header and interface description alone (the first 200 bytes).
    for (let k = 0; k < 1 + Math.floor(next() * 8); k++) {
      copy[200 + Math.floor(next() * (copy.length - 200))] = Math.floor(next() * 256);
    }
    try {
      const trace = traceCapture(copy);
      renderLadder(trace, { color: true });
      renderHtml(trace);
      JSON.stringify(trace);
      decoded++;
    } catch (err) {
      assert.ok(err instanceof TraceError, `round ${round}: ${(err as Error).stack}`);
    }
  }
  assert.ok(decoded > 100, `most corrupted captures still decode (${decoded} of 300)`);
});
