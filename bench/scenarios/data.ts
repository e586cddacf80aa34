/**
 * Application data on one established association through the Node API over UDP on 127.0.0.1,
 * client and server in one process: 1,200- and 100-byte datagrams, one way (client → server) and echo
 * (server sends every datagram back; the figure counts round trips). Also the same flow over bare
 * dgram sockets, the ceiling any DTLS stack on node:dgram can reach.
 */
import dgram from 'node:dgram';
import { connect } from '../../src/node/client.js';
import { createServer } from '../../src/node/server.js';
import type { DtlsSocket } from '../../src/node/socket.js';
import { benchCertificate, type Figures, withTimeout } from '../lib/common.js';
import { flowFigures, measureFlow } from '../lib/flow.js';
import { nodeClientOptions, nodeServerOptions } from './configs.js';

export const DATA_SIZES = [1200, 100] as const;

export async function nodeData(durationMs: number): Promise<Figures> {
  const cert = await benchCertificate();
  const server = createServer(nodeServerOptions('p256', cert));
  let serverReceived = 0;
  let echo = false;
  const accepted = new Promise<DtlsSocket>((resolve) => server.once('connection', resolve));
  const { port } = await server.listen(0, '127.0.0.1');
  const client = await withTimeout(
    connect(nodeClientOptions('p256', cert.fingerprint, port)),
    10_000,
    'connect',
  );
  const serverSocket = await withTimeout(accepted, 10_000, 'accept');
  serverSocket.on('message', (m: Buffer) => {
    serverReceived++;
    if (echo) serverSocket.send(m);
  });
  let clientReceived = 0;
  client.on('message', () => {
    clientReceived++;
  });
  const out: Figures = {};
  try {
    for (const size of DATA_SIZES) {
      const payload = Buffer.alloc(size, 0x61);
      echo = false;
      await measureFlow({
        send: () => client.send(payload),
        received: () => serverReceived,
        durationMs: 200,
      }); // warm-up
      const oneWay = await measureFlow({
        send: () => client.send(payload),
        received: () => serverReceived,
        durationMs,
      });
      Object.assign(out, flowFigures(`data.oneway.${size}`, oneWay, size));
      echo = true;
      const rt = await measureFlow({
        send: () => client.send(payload),
        received: () => clientReceived,
        durationMs,
      });
      Object.assign(out, flowFigures(`data.echo.${size}`, rt, size));
    }
  } finally {
    await client.close();
    await withTimeout(server.close(), 5_000, 'server close');
  }
  return out;
}

export async function dgramData(durationMs: number): Promise<Figures> {
  const server = dgram.createSocket('udp4');
  const client = dgram.createSocket('udp4');
  await new Promise<void>((r) => server.bind(0, '127.0.0.1', r));
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
  await new Promise<void>((r) => client.connect(server.address().port, '127.0.0.1', r));
  let received = 0;
  server.on('message', () => {
    received++;
  });
  const out: Figures = {};
  try {
    for (const size of DATA_SIZES) {
      const payload = Buffer.alloc(size, 0x61);
      await measureFlow({ send: () => client.send(payload), received: () => received, durationMs: 200 });
      const r = await measureFlow({ send: () => client.send(payload), received: () => received, durationMs });
      Object.assign(out, flowFigures(`dgram.oneway.${size}`, r, size));
    }
  } finally {
    client.close();
    server.close();
  }
  return out;
}
