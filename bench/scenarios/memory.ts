/**
 * Memory of idle established sessions on one server: 1,000 handshakes completed, the clients forgotten
 * (no close_notify, so the server keeps every session), then heap, external and RSS compared after
 * forced GC with the same server before the sessions existed. Run with --expose-gc.
 *
 * - engine: a DtlsServerEndpoint alone (sans-IO); the clients are engine objects in the same heap that
 *   become garbage once connected.
 * - node: a createServer() server over UDP; each client is a connect() whose socket is released without
 *   close_notify. RSS includes what the allocator keeps of the freed client sockets, so it is an upper bound.
 */
import { DtlsServerEndpoint } from '../../src/engine/server-endpoint.js';
import { connect } from '../../src/node/client.js';
import { createServer } from '../../src/node/server.js';
import { benchCertificate, type Figures, gc, sleep, withTimeout } from '../lib/common.js';
import { engineConfigs, nodeClientOptions, nodeServerOptions } from './configs.js';
import { runLoop } from './engine-handshake.js';

function snapshot(): NodeJS.MemoryUsage {
  gc();
  return process.memoryUsage();
}

function perSession(
  prefix: string,
  before: NodeJS.MemoryUsage,
  after: NodeJS.MemoryUsage,
  n: number,
): Figures {
  return {
    [`${prefix}.sessions`]: n,
    [`${prefix}.heap_bytes_per_session`]: (after.heapUsed - before.heapUsed) / n,
    [`${prefix}.external_bytes_per_session`]: (after.external - before.external) / n,
    [`${prefix}.rss_bytes_per_session`]: (after.rss - before.rss) / n,
  };
}

export async function memoryPerSession(sessions: number): Promise<Figures> {
  const cert = await benchCertificate();
  const out: Figures = {};

  // Engine: warm up on a throwaway endpoint so code and lazily built tables are not counted.
  const cfg = engineConfigs('p256', cert);
  runLoop(cfg, 4, 100, { maxHandshakes: 50 });
  const endpoint = new DtlsServerEndpoint({ ...cfg.server });
  const e0 = snapshot();
  const r = runLoop(cfg, 16, 60_000, { endpoint, keepSessions: true, maxHandshakes: sessions });
  const e1 = snapshot();
  Object.assign(out, perSession('mem.engine', e0, e1, endpoint.peerCount));
  out['mem.engine.failures'] = r.failures;
  endpoint.close(performance.now());
  for (let t = endpoint.pollTransmit(); t; t = endpoint.pollTransmit());
  for (let ev = endpoint.pollEvent(); ev; ev = endpoint.pollEvent());

  // Node API server.
  const server = createServer(nodeServerOptions('p256', cert));
  server.on('connection', (s) => s.on('error', () => {}));
  const { port } = await server.listen(0, '127.0.0.1');
  const options = nodeClientOptions('p256', cert.fingerprint, port);
  for (let i = 0; i < 20; i++) {
    const s = await withTimeout(connect(options), 10_000, 'connect');
    await s.close();
  }
  await sleep(50);
  const n0 = snapshot();
  let next = 0;
  let failures = 0;
  const worker = async (): Promise<void> => {
    while (next < sessions) {
      next++;
      try {
        const s = await withTimeout(connect(options), 10_000, 'connect');
        // Forget the client without close_notify: the server keeps an idle established session.
        s.markClosed();
      } catch {
        failures++;
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  await sleep(100);
  const n1 = snapshot();
  Object.assign(out, perSession('mem.node', n0, n1, server.peerCount));
  out['mem.node.failures'] = failures;
  await withTimeout(server.close(), 5_000, 'server close');
  return out;
}
