/**
 * Capturing our own loopback traffic with tshark, and asking tshark what it decodes from a capture, for
 * the trace tests. tshark is the independent reference: a missing tshark is a test FAILURE (requireBinary
 * throws), never a skip. Every wait is bounded and every tshark is stopped (cleanupPeers kills leftovers).
 *
 * Quirks found by running tshark 4.0 (Debian 12) as root:
 * - `tshark -i lo -f 'udp port N' -w FILE` prints `Capturing on 'Loopback: lo'` on stderr and then, once
 *   dumpcap really runs, `-- Capture started.` and `-- File: "FILE"`; traffic sent before that is lost,
 *   so startLoopbackCapture waits for the latter (the tests also check the ClientHello was captured).
 * - SIGINT makes tshark flush and close the pcapng cleanly (`N packets captured`).
 * - `-o tls.keylog_file:PATH` also decrypts DTLS; decrypted application data is the `data.data` field (hex),
 *   decrypted Finished shows as `dtls.handshake.type` 20. Without keys the epoch-1 handshake has no type.
 * - With `-d udp.port==N,dtls` every datagram on the port matches `-Y dtls`, the end marker too; `-Y
 *   dtls.record` keeps only frames with DTLS records.
 * - `-T fields -E occurrence=a` joins repeated fields of one frame with commas, in protocol-tree order.
 */

import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { runTraceCommand } from '../../src/cli/trace.js';
import type { TraceFlow } from '../../src/trace/decode-flow.js';
import { DEFAULT_TIMEOUT_MS, PeerProcess, requireBinary, type TempDir } from '../interop/peers.js';

/** 0x00 first byte (a STUN message type range, RFC 7983 §7), so no one takes it for DTLS. */
const MARKER = Buffer.concat([Buffer.of(0, 1), Buffer.from('tsdtls capture end marker')]);
const MARKER_SEEN = new RegExp(`Len=${MARKER.length}\\b`);

export class LoopbackCapture {
  private constructor(
    private readonly peer: PeerProcess,
    readonly file: string,
    readonly port: number,
  ) {}

  /** Start tshark on `lo` for UDP port `port`; resolves once dumpcap reports the capture running. */
  static async start(port: number, dir: TempDir, name = 'capture.pcapng'): Promise<LoopbackCapture> {
    const file = join(dir.path, name);
    const peer = new PeerProcess('tshark capture', requireBinary('tshark'), [
      '-l',
      '-P',
      '-i',
      'lo',
      '-f',
      `udp port ${port}`,
      '-w',
      file,
    ]);
    try {
      await peer.waitFor(/Capture started|File: "/, DEFAULT_TIMEOUT_MS, { stream: 'stderr' });
    } catch (e) {
      await peer.stop();
      throw e;
    }
    return new LoopbackCapture(peer, file, port);
  }

  /**
   * Stop the capture and return the file's bytes. dumpcap gets packets from the kernel in batches and
   * drops what is still queued when it stops, so first a marker datagram (not DTLS: a STUN-like first
   * byte) is sent to the port until tshark's live summary (-P -l) shows it; then SIGINT, so the pcapng
   * is closed cleanly. The marker stays in the capture as one non-DTLS datagram.
   */
  async stop(): Promise<Buffer> {
    if (this.peer.running) {
      const udp = dgram.createSocket('udp4');
      try {
        await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
        let seen = false;
        // At most 40 rounds of 250 ms: bounded by 10 s.
        for (let round = 0; round < 40 && !seen && this.peer.running; round++) {
          udp.send(MARKER, this.port, '127.0.0.1');
          try {
            await this.peer.waitFor(MARKER_SEEN, 250);
            seen = true;
          } catch {
            // not yet in tshark's output: send again
          }
        }
        if (!seen) throw new Error(`tshark never showed the end marker.\n${this.peer.describe()}`);
      } finally {
        udp.close();
      }
      this.peer.child.kill('SIGINT');
      if (!(await this.peer.waitForExit(5000))) await this.peer.stop();
    }
    if (!/packets? captured/.test(this.peer.stderr)) {
      throw new Error(`tshark did not finish its capture cleanly.\n${this.peer.describe()}`);
    }
    return readFileSync(this.file);
  }
}

/**
 * Run tshark on a capture file and return one row per DTLS frame: the requested fields, each a list of
 * the field's occurrences in that frame.
 */
export function tsharkFields(
  file: string,
  fields: readonly string[],
  options: { keylog?: string; port?: number } = {},
): string[][][] {
  const args = ['-r', file, '-Y', 'dtls.record', '-T', 'fields', '-E', 'occurrence=a', '-E', 'separator=/t'];
  if (options.keylog !== undefined) args.push('-o', `tls.keylog_file:${options.keylog}`);
  if (options.port !== undefined) args.push('-d', `udp.port==${options.port},dtls`);
  for (const f of fields) args.push('-e', f);
  const r = spawnSync(requireBinary('tshark'), args, {
    encoding: 'utf8',
    timeout: DEFAULT_TIMEOUT_MS,
    env: { ...process.env, LC_ALL: 'C' },
  });
  if (r.status !== 0) throw new Error(`tshark ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => line.split('\t').map((v) => (v === '' ? [] : v.split(','))));
}

/** What both tshark and our decoder say about one datagram, in a form assert.deepEqual can compare. */
export interface WireView {
  contentTypes: number[];
  epochs: number[];
  sequenceNumbers: number[];
  handshakeTypes: number[];
  messageSeqs: number[];
  fragmentOffsets: number[];
  fragmentLengths: number[];
}

const WIRE_FIELDS = [
  'dtls.record.content_type',
  'dtls.record.epoch',
  'dtls.record.sequence_number',
  'dtls.handshake.type',
  'dtls.handshake.message_seq',
  'dtls.handshake.fragment_offset',
  'dtls.handshake.fragment_length',
] as const;

/** tshark's view of every DTLS frame of a capture. */
export function tsharkWireView(file: string, options: { keylog?: string; port?: number } = {}): WireView[] {
  return tsharkFields(file, WIRE_FIELDS, options).map((row) => {
    const ints = (i: number) => row[i]!.map((v) => Number(v));
    return {
      contentTypes: ints(0),
      epochs: ints(1),
      sequenceNumbers: ints(2),
      handshakeTypes: ints(3),
      messageSeqs: ints(4),
      fragmentOffsets: ints(5),
      fragmentLengths: ints(6),
    };
  });
}

/** Our decoder's view of a flow's datagrams, in the same shape. */
export function traceWireView(flow: TraceFlow): WireView[] {
  return flow.datagrams.map((d) => {
    const hs = d.records.flatMap((r) => r.handshake);
    return {
      contentTypes: d.records.map((r) => r.contentType),
      epochs: d.records.map((r) => r.epoch),
      sequenceNumbers: d.records.map((r) => r.sequenceNumber),
      handshakeTypes: hs.map((h) => h.type),
      messageSeqs: hs.map((h) => h.messageSeq),
      fragmentOffsets: hs.map((h) => h.fragmentOffset),
      fragmentLengths: hs.map((h) => h.fragmentLength),
    };
  });
}

/** A writable stream that keeps what is written, with a chosen isTTY. */
export class MemoryStream extends Writable {
  text = '';
  constructor(readonly isTTY = false) {
    super();
  }
  override _write(chunk: Buffer | string, _enc: BufferEncoding, done: (e?: Error | null) => void): void {
    this.text += chunk.toString();
    done();
  }
}

/** Run `tsdtls trace` in-process and collect its output. */
export async function runTrace(
  argv: string[],
  tty = false,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new MemoryStream(tty);
  const stderr = new MemoryStream();
  const code = await runTraceCommand(argv, { stdout, stderr });
  return { code, stdout: stdout.text, stderr: stderr.text };
}
