/**
 * The handshake floor of any Node adapter around our engine: DtlsConnection clients and one
 * DtlsServerEndpoint joined by bare dgram sockets with the least glue that works (datagrams in, poll,
 * datagrams out), no DtlsSocket or DtlsServer, no promises per step, no timers (loopback loses nothing
 * at these rates; a stalled handshake fails on its time limit and is counted). Each handshake uses a
 * fresh connected client socket and ends with close_notify, as connect() and close() do.
 *
 * Set beside the Node API in the same process, it shows what the adapter costs; set beside the computed
 * limit 1/(1/engine + 1/exchange), what the platform costs once engine steps and system calls alternate.
 */
import dgram from 'node:dgram';
import type { EngineConfig } from '../../src/engine/config.js';
import { DtlsConnection } from '../../src/engine/connection.js';
import { DtlsServerEndpoint } from '../../src/engine/server-endpoint.js';
import { closedLoops, type LoopResult, withTimeout } from './common.js';

/** Far above any real handshake on loopback; only there so that a lost datagram cannot hang the loop. */
const HANDSHAKE_LIMIT_MS = 2_000;

export interface EngineOverDgram {
  loops(concurrency: number, durationMs: number): Promise<LoopResult>;
  close(): Promise<void>;
}

export async function engineOverDgram(cfg: {
  client: Omit<EngineConfig, 'role'>;
  server: Omit<EngineConfig, 'role'>;
}): Promise<EngineOverDgram> {
  const endpoint = new DtlsServerEndpoint({ ...cfg.server });
  const server = dgram.createSocket('udp4');
  server.on('message', (m, r) => {
    const now = performance.now();
    endpoint.handleDatagram(m, { address: r.address, port: r.port, family: 'IPv4' }, now);
    // The endpoint's deadlines (stale stateless hellos, idle peers) are met when traffic comes by.
    const deadline = endpoint.pollTimeout();
    if (deadline !== undefined && deadline <= now) endpoint.handleTimeout(now);
    for (let t = endpoint.pollTransmitGathered(); t; t = endpoint.pollTransmitGathered()) {
      server.send(t.data, t.peer.port, t.peer.address);
    }
    while (endpoint.pollEvent()) {
      // Connection events are of no interest here; the queue must only be emptied.
    }
  });
  await new Promise<void>((r) => server.bind(0, '127.0.0.1', r));
  const port = server.address().port;

  /** One full handshake and close_notify from a fresh client socket. */
  const handshake = () => {
    const udp = dgram.createSocket('udp4');
    const c = DtlsConnection.client(cfg.client, performance.now());
    const done = new Promise<void>((resolve, reject) => {
      const transmit = () => {
        for (let d = c.pollTransmitGathered(); d; d = c.pollTransmitGathered()) udp.send(d);
      };
      const pump = () => {
        transmit();
        for (let e = c.pollEvent(); e; e = c.pollEvent()) {
          if (e.type === 'connected') {
            c.close(performance.now());
            transmit();
            resolve();
          } else if (e.type === 'failed') {
            reject(e.error);
          }
        }
      };
      udp.on('error', reject);
      udp.on('message', (m) => {
        c.handleDatagram(m, performance.now());
        pump();
      });
      udp.connect(port, '127.0.0.1', pump);
    });
    return withTimeout(done, HANDSHAKE_LIMIT_MS, 'engine over dgram').finally(() => udp.close());
  };

  return {
    loops: (concurrency, durationMs) =>
      closedLoops(concurrency, durationMs, async () => {
        await handshake();
        return undefined;
      }),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
