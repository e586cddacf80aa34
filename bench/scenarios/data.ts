/**
 * Application data on one established association through the Node API over UDP on 127.0.0.1,
 * client and server in one process: 1,200- and 100-byte datagrams, one way (client → server) and echo
 * (server sends every datagram back; the figure counts round trips). Also the same flow over bare
 * dgram sockets, the ceiling any DTLS stack on node:dgram can reach.
 *
 * The one-way target compares our 1,200-byte flow with the limit 1/(1/dgram + 1/seal + 1/open). Its
 * three parts and our flow are measured here, in one process, in alternating slices: taken from three
 * processes a few seconds apart, they differed by up to 1.8× on this VM (it changes speed within
 * seconds), and the ratio with them.
 */

import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { createRecordCipher } from '../../src/crypto/aead.js';
import { suiteByName } from '../../src/crypto/suites.js';
import { connect } from '../../src/node/client.js';
import { createServer } from '../../src/node/server.js';
import type { DtlsSocket } from '../../src/node/socket.js';
import { RecordLayer } from '../../src/record/record-layer.js';
import { ContentType } from '../../src/wire/constants.js';
import { bareAeadChannel } from '../lib/aead-floor.js';
import { benchCertificate, type Figures, timeSlice, withTimeout } from '../lib/common.js';
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
    echo = false;
    const payload = Buffer.alloc(1200, 0x61);
    Object.assign(
      out,
      await oneWayAgainstLimit(
        () => client.send(payload),
        () => serverReceived,
        durationMs,
      ),
    );
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

/**
 * Our 1,200-byte one-way flow and the three parts of its limit (a bare dgram flow, a record seal as the
 * Node API does it, a record open), with the bare AEAD-over-dgram floor, in four rounds of alternating
 * slices, forwards and backwards.
 */
async function oneWayAgainstLimit(
  send: () => void,
  received: () => number,
  durationMs: number,
): Promise<Figures> {
  const SIZE = 1200;
  const suite = suiteByName('TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256')!;
  const key = randomBytes(16);
  const iv = randomBytes(4);
  const payload = randomBytes(SIZE);
  const writer = new RecordLayer();
  writer.addWriteEpoch(1, createRecordCipher(suite, key, iv));
  writer.setWriteEpoch(1);
  const records = Array.from({ length: 1024 }, () =>
    Buffer.concat(writer.sealGathered(ContentType.application_data, payload)),
  );
  let reader = new RecordLayer();
  const freshReader = (): void => {
    reader = new RecordLayer();
    reader.setPendingReadCipher(1, createRecordCipher(suite, key, iv));
    reader.activatePendingRead();
  };
  freshReader();
  const open = (i: number): void => {
    // The replay window refuses a record seen before: a fresh reader for every pass over the records.
    if (i % records.length === 0) freshReader();
    for (const raw of reader.splitDatagram(records[i % records.length]!)) reader.openRecord(raw);
  };
  const seal = (): void => {
    writer.sealGathered(ContentType.application_data, payload);
  };

  const server = dgram.createSocket('udp4');
  const client = dgram.createSocket('udp4');
  let bareReceived = 0;
  server.on('message', () => {
    bareReceived++;
  });
  await new Promise<void>((r) => server.bind(0, '127.0.0.1', r));
  await new Promise<void>((r) => client.connect(server.address().port, '127.0.0.1', r));
  const bare = Buffer.alloc(SIZE + 37, 0x61); // the size of our record on the wire
  // The floor (bench/lib/aead-floor.ts): its own pair of sockets; one end seals what the other opens.
  const floorKey = randomBytes(16);
  const aead = bareAeadChannel(floorKey, floorKey);
  const aeadServer = dgram.createSocket('udp4');
  const aeadClient = dgram.createSocket('udp4');
  let aeadReceived = 0;
  let aeadFailed = 0;
  aeadServer.on('message', (m: Buffer) => {
    if (aead.open(m)) aeadReceived++;
    else aeadFailed++;
  });
  await new Promise<void>((r) => aeadServer.bind(0, '127.0.0.1', r));
  await new Promise<void>((r) => aeadClient.connect(aeadServer.address().port, '127.0.0.1', r));
  /** Datagrams received (or records sealed, opened) and the ms they took, summed over the slices. */
  const totals = {
    ours: { ops: 0, ms: 0 },
    dgram: { ops: 0, ms: 0 },
    aead: { ops: 0, ms: 0 },
    seal: { ops: 0, ms: 0 },
    open: { ops: 0, ms: 0 },
  };
  /** A flow measured for `ms`, its datagrams and time added to `total`. */
  const flow =
    (sendOne: () => void, receivedSoFar: () => number, total: { ops: number; ms: number }) =>
    async (ms: number): Promise<void> => {
      const r = await measureFlow({ send: sendOne, received: receivedSoFar, durationMs: ms });
      total.ops += r.received;
      total.ms += r.elapsedMs;
    };
  const sendAead = () => aeadClient.send(aead.seal(payload));
  const steps: Record<keyof typeof totals, (ms: number) => Promise<void>> = {
    ours: flow(send, received, totals.ours),
    dgram: flow(
      () => client.send(bare),
      () => bareReceived,
      totals.dgram,
    ),
    aead: flow(sendAead, () => aeadReceived, totals.aead),
    seal: async (ms) => {
      timeSlice(ms, seal, totals.seal);
    },
    open: async (ms) => {
      timeSlice(ms, open, totals.open);
    },
  };
  try {
    // Warm-up of the two record paths, not counted (the flows are already warm).
    timeSlice(50, seal, { ops: 0, ms: 0 });
    timeSlice(50, open, { ops: 0, ms: 0 });
    // Warm-up of the floor's flow, not counted.
    await flow(sendAead, () => aeadReceived, { ops: 0, ms: 0 })(100);
    const order = ['ours', 'aead', 'dgram', 'seal', 'open'] as const;
    for (let round = 0; round < 4; round++) {
      for (const k of round % 2 === 0 ? order : [...order].reverse()) {
        // Slices of one length for all five: a seal or open slice of a few tens of ms ran up to 1.5× faster
        // than in longer ones, part of its garbage's cost landing in the next slice (see timeSlice).
        await steps[k](durationMs / 5);
      }
    }
  } finally {
    client.close();
    server.close();
    aeadClient.close();
    aeadServer.close();
  }
  if (aeadFailed > 0) throw new Error(`${aeadFailed} datagrams of the AEAD floor failed to open`);
  const rate = (t: { ops: number; ms: number }) => (t.ops * 1000) / t.ms;
  const limit = 1 / (1 / rate(totals.dgram) + 1 / rate(totals.seal) + 1 / rate(totals.open));
  return {
    'data.inproc.oneway.1200.dgrams_per_s': rate(totals.ours),
    'data.inproc.dgram.1200.dgrams_per_s': rate(totals.dgram),
    'data.inproc.seal_per_s': rate(totals.seal),
    'data.inproc.open_per_s': rate(totals.open),
    'data.inproc.limit_1200': limit,
    'data.inproc.oneway_vs_limit_1200': rate(totals.ours) / limit,
    'data.inproc.aead.1200.dgrams_per_s': rate(totals.aead),
    'data.inproc.aead_vs_limit_1200': rate(totals.aead) / limit,
    'data.inproc.oneway_vs_aead_1200': rate(totals.ours) / rate(totals.aead),
  };
}
