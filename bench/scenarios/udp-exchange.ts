/**
 * The UDP floor of one handshake through the Node API: the datagrams a real full P-256 handshake (with
 * its cookie exchange and close_notify) puts on the wire, recorded first, then exchanged by bare dgram
 * sockets with no DTLS at all: each exchange from a fresh connected client socket, as connect() opens
 * one, each datagram of the same size, in the same order, the client closing without waiting for the
 * server's last one, as ours does. No stack can do handshakes over UDP on this machine faster than this
 * exchange runs; together with the engine's own cost it sets the Node API's limit,
 * 1 / (1/engine + 1/exchange), which bounds how far ahead of another stack's UDP figure ours can be.
 */
import dgram from 'node:dgram';
import { connect } from '../../src/node/client.js';
import { createServer } from '../../src/node/server.js';
import {
  benchCertificate,
  closedLoops,
  cpuMsSince,
  type Figures,
  handshakeFigures,
  withTimeout,
} from '../lib/common.js';
import { nodeClientOptions, nodeServerOptions } from './configs.js';

/** Upper bound on one exchange: far above any real figure, only there so nothing hangs. */
const EXCHANGE_LIMIT_MS = 5_000;
const EXCHANGE_WARMUP_MS = 300;

/** Sizes of the datagrams each side sends in one full handshake and close, in order. */
interface WireShape {
  client: number[];
  server: number[];
}

/** One real handshake and close through the Node API, with the size of every datagram either side sent. */
async function recordShape(): Promise<WireShape> {
  const cert = await benchCertificate();
  const shape: WireShape = { client: [], server: [] };
  const server = createServer(nodeServerOptions('p256', cert));
  server.on('connection', (s) => s.on('error', () => {}));
  server.on('datagram', (direction: 'in' | 'out', data: Buffer) => {
    if (direction === 'out') shape.server.push(data.length);
  });
  try {
    const { port } = await server.listen(0, '127.0.0.1');
    const options = nodeClientOptions('p256', cert.fingerprint, port);
    options.onDatagram = (direction, data) => {
      if (direction === 'out') shape.client.push(data.length);
    };
    const socket = await withTimeout(connect(options), EXCHANGE_LIMIT_MS, 'connect');
    await withTimeout(socket.close(), EXCHANGE_LIMIT_MS, 'close');
    // The server's answer to close_notify.
    for (let i = 0; i < 100 && shape.server.length < shape.client.length; i++) {
      await new Promise((r) => setTimeout(r, 2));
    }
  } finally {
    await withTimeout(server.close(), EXCHANGE_LIMIT_MS, 'server close');
  }
  // Our handshake alternates one datagram each way (every flight fits the default MTU); the exchange
  // below mirrors that shape and would mean nothing for another.
  if (shape.client.length !== shape.server.length || shape.client.length < 2) {
    throw new Error(`unexpected handshake shape: client ${shape.client}, server ${shape.server}`);
  }
  return shape;
}

export async function udpExchange(concurrencies: readonly number[], durationMs: number): Promise<Figures> {
  const shape = await recordShape();
  const last = shape.client.length - 1;
  const replies = shape.server.map((n) => Buffer.alloc(n, 0x17));
  const sends = shape.client.map((n) => Buffer.alloc(n, 0x16));

  // The server answers datagram i of an exchange with reply i; the index travels in the first byte.
  const server = dgram.createSocket('udp4');
  server.on('message', (m, r) => {
    const reply = replies[m[0]!];
    if (reply) server.send(reply, r.port, r.address);
  });
  await new Promise<void>((r) => server.bind(0, '127.0.0.1', r));
  const port = server.address().port;

  /** One handshake's worth of datagrams; resolves when the client would report `connected`. */
  const exchange = () =>
    new Promise<void>((resolve, reject) => {
      const udp = dgram.createSocket('udp4');
      let step = 0;
      const send = (i: number) => {
        const b = sends[i]!;
        b[0] = i;
        udp.send(b);
      };
      udp.on('error', reject);
      udp.on('message', () => {
        step++;
        if (step < last) {
          send(step);
          return;
        }
        // The last reply before close_notify is the server's final flight: connected; then close.
        send(last);
        udp.close();
        resolve();
      });
      udp.connect(port, '127.0.0.1', () => send(0));
    });

  const loops = (concurrency: number, ms: number) =>
    closedLoops(concurrency, ms, async () => {
      await withTimeout(exchange(), EXCHANGE_LIMIT_MS, 'exchange');
      return undefined;
    });

  const out: Figures = {
    'udpx.datagrams': shape.client.length + shape.server.length,
    'udpx.bytes': [...shape.client, ...shape.server].reduce((a, b) => a + b, 0),
  };
  try {
    // A few hundred exchanges warm dgram's JavaScript; there is no handshake code here to warm up.
    await loops(4, EXCHANGE_WARMUP_MS);
    for (const c of concurrencies) {
      const cpuStart = process.cpuUsage();
      const r = await loops(c, durationMs);
      Object.assign(
        out,
        handshakeFigures(`udpx.c${c}`, r.latencies, r.elapsedMs, cpuMsSince(cpuStart), r.failures),
      );
    }
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
  return out;
}
