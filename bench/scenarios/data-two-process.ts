/**
 * Application data between two processes: the client child sends 1,200-byte datagrams one way through
 * the Node API to the server child over UDP on 127.0.0.1. The figure the issue asks for is messages per
 * CPU-second of both processes together, set beside the one-process per-message limit
 * 1 / (1/dgram + 1/seal + 1/open).
 *
 * The server reports what the client cannot see in small acknowledgement datagrams on the same
 * association: how many data datagrams it has received and its own CPU time so far. A periodic one
 * (every ACK_EVERY datagrams) paces the sender's window; a probe (a 1-byte datagram) is answered at
 * once, and the probes before and after the measured window give exact counts and CPU deltas. The
 * acknowledgements cost the server a seal and a send per ACK_EVERY datagrams, and are left in its CPU.
 * The same harness over bare dgram sockets is the reference: what two processes cost without DTLS
 * (every datagram then wakes another process, which one process never pays). A third mode, the floor,
 * seals and opens every datagram (acknowledgements too) with one bare node:crypto AES-128-GCM call and
 * no DTLS around it (bench/lib/aead-floor.ts).
 */
import { createHash } from 'node:crypto';
import dgram from 'node:dgram';
import { connect } from '../../src/node/client.js';
import { createServer } from '../../src/node/server.js';
import type { DtlsSocket } from '../../src/node/socket.js';
import { bareAeadChannel } from '../lib/aead-floor.js';
import {
  benchCertificate,
  cpuMsSince,
  type Figures,
  sleep,
  untilStdinEnds,
  withTimeout,
} from '../lib/common.js';
import { measureFlow } from '../lib/flow.js';
import { nodeClientOptions, nodeServerOptions } from './configs.js';

const SIZE = 1200;
const ACK_EVERY = 32;
/** Ack layout: kind (1 byte: 0 periodic, 1 probe answer), probe id (1), received count, CPU µs (doubles). */
const ACK_LENGTH = 18;
const PROBE_TRIES = 5;
const PROBE_WAIT_MS = 500;

function encodeAck(kind: number, probeId: number, count: number): Buffer {
  const b = Buffer.alloc(ACK_LENGTH);
  b[0] = kind;
  b[1] = probeId;
  b.writeDoubleBE(count, 2);
  // Only probe answers carry the CPU time: process.cpuUsage() is a system call, too dear for every ack.
  if (kind === 1) {
    const cpu = process.cpuUsage();
    b.writeDoubleBE(cpu.user + cpu.system, 10);
  }
  return b;
}

/** What carries the flow: DTLS through the Node API, bare dgram, or bare dgram with the AEAD floor. */
export type DataMode = 'dtls' | 'plain' | 'floor';

/**
 * The floor's two keys, one per direction, known to both children without an exchange (a benchmark of
 * the cipher calls, not of key agreement).
 */
const floorKey = (direction: string): Buffer =>
  createHash('sha256').update(`tsdtls bench floor ${direction}`).digest().subarray(0, 16);

/** One end of the flow: DTLS through the Node API, or plain dgram for the reference. */
interface Channel {
  send(data: Buffer): void;
  close(): Promise<void>;
}

/** Server-side answer to each received datagram: count data, acknowledge, answer probes. */
function acknowledger(reply: (ack: Buffer) => void): (m: Buffer) => void {
  let count = 0;
  return (m) => {
    if (m.length === 1) {
      reply(encodeAck(1, m[0]!, count));
      return;
    }
    count++;
    if (count % ACK_EVERY === 0) reply(encodeAck(0, 0, count));
  };
}

/**
 * The server child: prints `PORT <n> <fingerprint or ->`, acknowledges data until its stdin closes.
 * `plain` serves bare dgram instead of DTLS (the reference: what two processes cost without DTLS),
 * `floor` the same with each datagram sealed and opened by one bare AEAD call.
 */
export async function dataServer(mode: DataMode, limitMs: number): Promise<Figures> {
  let stop: () => Promise<void>;
  if (mode !== 'dtls') {
    const udp = dgram.createSocket('udp4');
    const aead = mode === 'floor' ? bareAeadChannel(floorKey('server'), floorKey('client')) : undefined;
    const onMessage = new Map<string, (m: Buffer) => void>();
    udp.on('message', (m, r) => {
      const key = `${r.address}:${r.port}`;
      let f = onMessage.get(key);
      if (!f) {
        f = acknowledger((ack) => udp.send(aead ? aead.seal(ack) : ack, r.port, r.address));
        onMessage.set(key, f);
      }
      const plaintext = aead ? aead.open(m) : m;
      if (plaintext) f(plaintext);
    });
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', r));
    process.stdout.write(`PORT ${udp.address().port} -\n`);
    stop = () => new Promise<void>((r) => udp.close(() => r()));
  } else {
    const cert = await benchCertificate();
    const server = createServer(nodeServerOptions('p256', cert));
    server.on('peerError', () => {});
    server.on('connection', (s: DtlsSocket) => {
      s.on('error', () => {});
      s.on(
        'message',
        acknowledger((ack) => s.send(ack)),
      );
    });
    const { port } = await server.listen(0, '127.0.0.1');
    process.stdout.write(`PORT ${port} ${cert.fingerprint}\n`);
    stop = () => withTimeout(server.close(), 5_000, 'server close');
  }
  await untilStdinEnds(limitMs);
  await stop();
  return {};
}

async function openChannel(
  mode: DataMode,
  port: number,
  fingerprint: string | undefined,
  onMessage: (m: Buffer) => void,
): Promise<Channel> {
  if (mode !== 'dtls') {
    const udp = dgram.createSocket('udp4');
    await new Promise<void>((r) => udp.connect(port, '127.0.0.1', r));
    const close = () => new Promise<void>((r) => udp.close(() => r()));
    if (mode === 'plain') {
      udp.on('message', onMessage);
      return { send: (d) => udp.send(d), close };
    }
    const aead = bareAeadChannel(floorKey('client'), floorKey('server'));
    udp.on('message', (m: Buffer) => {
      const plaintext = aead.open(m);
      if (plaintext) onMessage(plaintext);
    });
    return { send: (d) => udp.send(aead.seal(d)), close };
  }
  if (fingerprint === undefined) throw new Error('the DTLS flow needs the server fingerprint');
  const socket = await withTimeout(connect(nodeClientOptions('p256', fingerprint, port)), 10_000, 'connect');
  socket.on('message', onMessage);
  return { send: (d) => socket.send(d), close: () => withTimeout(socket.close(), 5_000, 'close') };
}

/** Figure prefixes of the three modes. */
const PREFIX: Record<DataMode, string> = { dtls: 'data2p', plain: 'dgram2p', floor: 'floor2p' };

/**
 * The client child: one association (or a bare dgram socket, for `plain` and `floor`), a warm-up, then
 * the measured one-way flow between two probes.
 */
export async function dataClient(
  mode: DataMode,
  port: number,
  fingerprint: string | undefined,
  durationMs: number,
): Promise<Figures> {
  const prefix = PREFIX[mode];
  let acked = 0;
  let nextProbe = 0;
  const answers = new Map<number, { count: number; cpuUs: number }>();
  const socket = await openChannel(mode, port, fingerprint, (m: Buffer) => {
    if (m.length !== ACK_LENGTH) return;
    const count = m.readDoubleBE(2);
    acked = Math.max(acked, count);
    if (m[0] === 1) answers.set(m[1]!, { count, cpuUs: m.readDoubleBE(10) });
  });
  /** The server's received count and CPU time, asked for with a probe (resent if lost). */
  const probe = async (): Promise<{ count: number; cpuUs: number }> => {
    for (let i = 0; i < PROBE_TRIES; i++) {
      const id = nextProbe++ & 0xff;
      socket.send(Buffer.of(id));
      const until = performance.now() + PROBE_WAIT_MS;
      // Bounded by PROBE_WAIT_MS per try.
      while (performance.now() < until) {
        const a = answers.get(id);
        if (a) return a;
        await sleep(1);
      }
    }
    throw new Error('the server did not answer a probe');
  };
  const payload = Buffer.alloc(SIZE, 0x61);
  const flow = (ms: number) =>
    measureFlow({ send: () => socket.send(payload), received: () => acked, durationMs: ms, window: 64 });
  try {
    await flow(200); // warm-up: JIT on both sides
    const before = await probe();
    const cpuStart = process.cpuUsage();
    const r = await flow(durationMs);
    const after = await probe();
    const clientCpuMs = cpuMsSince(cpuStart);
    const serverCpuMs = (after.cpuUs - before.cpuUs) / 1000;
    const received = after.count - before.count;
    const cpuMs = clientCpuMs + serverCpuMs;
    const perSecond = (received * 1000) / r.elapsedMs;
    const p = `${prefix}.oneway.${SIZE}`;
    return {
      [`${p}.dgrams_per_s`]: perSecond,
      [`${p}.mb_per_s`]: (perSecond * SIZE) / 1e6,
      [`${p}.cpu_us_per_dgram`]: received > 0 ? (cpuMs * 1000) / received : undefined,
      [`${p}.loss`]: r.sent === 0 ? 1 : (r.sent - received) / r.sent,
      [`${p}.msgs_per_cpu_s`]: cpuMs > 0 ? (received * 1000) / cpuMs : undefined,
      [`${p}.client_cpu_us_per_dgram`]: received > 0 ? (clientCpuMs * 1000) / received : undefined,
      [`${p}.server_cpu_us_per_dgram`]: received > 0 ? (serverCpuMs * 1000) / received : undefined,
    };
  } finally {
    await socket.close();
  }
}
