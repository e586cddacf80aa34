/**
 * werift-dtls 0.5.8 (DTLS 1.2 in TypeScript) as a reference: full ECDHE-ECDSA-AES128-GCM handshakes with
 * the same P-256 certificate, one session per transport as its API has it, over an in-memory transport
 * (compare with our engine-only figure) and over UDP on 127.0.0.1 (compare with our Node API), and
 * 1,200-byte one-way datagrams over UDP. werift checks no certificate (WebRTC leaves the fingerprint to
 * the application); our client pins the fingerprint.
 */
import dgram from 'node:dgram';
import { createRequire } from 'node:module';
import type { Transport } from 'werift-dtls/lib/common/src/transport.js';
import type { DtlsClient, DtlsServer } from 'werift-dtls/lib/dtls/src/index.js';
import {
  benchCertificate,
  closedLoops,
  cpuMsSince,
  type Figures,
  HANDSHAKE_WARMUP_MS,
  handshakeFigures,
  withTimeout,
} from '../lib/common.js';
import { flowFigures, measureFlow } from '../lib/flow.js';

// werift-dtls's package.json points "main" at a file it does not ship; load its entry point directly.
const require = createRequire(import.meta.url);
const werift =
  require('werift-dtls/lib/dtls/src/index.js') as typeof import('werift-dtls/lib/dtls/src/index.js');

type Address = readonly [string, number];

/** Two transports joined in memory; delivery is deferred to the next turn as a socket's would be. */
function memoryPair(): [Transport, Transport] {
  const mk = (port: number): Transport & { peer?: Transport } => {
    const t: Transport & { peer?: Transport } = {
      type: 'udp',
      address: { address: '127.0.0.1', family: 'IPv4', port },
      closed: false,
      onData: () => {},
      send: async (data: Buffer) => {
        if (t.closed) return;
        const peer = t.peer!;
        setImmediate(() => {
          if (!peer.closed) peer.onData(data, ['127.0.0.1', port]);
        });
      },
      close: async () => {
        t.closed = true;
      },
    };
    return t;
  };
  const a = mk(1);
  const b = mk(2);
  a.peer = b;
  b.peer = a;
  return [a, b];
}

/** A werift Transport over one dgram socket; the server's peer is whoever wrote to it first. */
async function udpTransport(peer?: Address): Promise<Transport & { socket: dgram.Socket }> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  let remote = peer;
  const t: Transport & { socket: dgram.Socket } = {
    type: 'udp',
    socket,
    address: socket.address(),
    closed: false,
    onData: () => {},
    send: (data: Buffer) =>
      new Promise<void>((resolve) => {
        if (!remote || t.closed) return resolve();
        socket.send(data, remote[1], remote[0], () => resolve());
      }),
    close: async () => {
      if (t.closed) return;
      t.closed = true;
      socket.close();
    },
  };
  socket.on('message', (msg, rinfo) => {
    remote ??= [rinfo.address, rinfo.port];
    t.onData(msg, [rinfo.address, rinfo.port]);
  });
  return t;
}

interface Pair {
  client: DtlsClient;
  server: DtlsServer;
  close(): void;
}

export async function weriftReference(
  concurrencies: readonly number[],
  durationMs: number,
): Promise<Figures> {
  const cert = await benchCertificate();
  const serverOptions = {
    cert: cert.cert,
    key: cert.key,
    signatureHash: { hash: werift.HashAlgorithm.sha256_4, signature: werift.SignatureAlgorithm.ecdsa_3 },
  };

  const handshakeOnce = async (udp: boolean): Promise<Pair> => {
    let st: Transport;
    let ct: Transport;
    if (udp) {
      const s = await udpTransport();
      st = s;
      ct = await udpTransport(['127.0.0.1', s.address.port]);
    } else {
      [st, ct] = memoryPair();
    }
    const server = new werift.DtlsServer({ ...serverOptions, transport: st });
    const client = new werift.DtlsClient({ transport: ct });
    const connected = new Promise<void>((resolve, reject) => {
      client.onConnect.once(() => resolve());
      client.onError.once((e) => reject(e));
    });
    void client.connect().catch(() => {});
    const close = (): void => {
      // Closing the transports ends the pair; werift's own retransmission timers then find nothing to do.
      void st.close();
      void ct.close();
    };
    try {
      await withTimeout(connected, 10_000, 'werift handshake');
    } catch (e) {
      close();
      throw e;
    }
    return { client, server, close };
  };

  const loops = (udp: boolean, c: number, ms: number) =>
    closedLoops(c, ms, async () => {
      const p = await handshakeOnce(udp);
      return () => p.close();
    });

  const out: Figures = {};
  for (const udp of [false, true]) {
    const kind = udp ? 'udp' : 'mem';
    await loops(udp, 4, HANDSHAKE_WARMUP_MS);
    for (const c of concurrencies) {
      const cpuStart = process.cpuUsage();
      const r = await loops(udp, c, durationMs);
      Object.assign(
        out,
        handshakeFigures(`werift.${kind}.c${c}`, r.latencies, r.elapsedMs, cpuMsSince(cpuStart), r.failures),
      );
    }
  }

  // Datagrams: one UDP pair, 1,200-byte one-way.
  const p = await handshakeOnce(true);
  let received = 0;
  p.server.onData.subscribe(() => {
    received++;
  });
  const payload = Buffer.alloc(1200, 0x61);
  const send = (): void => {
    void p.client.send(payload);
  };
  await measureFlow({ send, received: () => received, durationMs: 200 });
  const r = await measureFlow({ send, received: () => received, durationMs });
  Object.assign(out, flowFigures('werift.oneway.1200', r, 1200));
  p.close();
  return out;
}
