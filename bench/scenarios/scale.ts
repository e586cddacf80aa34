/**
 * Scale: does a full handshake cost more when one server already holds 10,000 established sessions?
 * The engine endpoint first takes 10,000 PSK handshakes (cheap, and kept: no close_notify), then the
 * ECDHE-ECDSA P-256 rate is measured on it and, in the same process, on an empty endpoint. Every
 * per-datagram step (routing by address, the cookie check, timers) must stay O(1) in the number of peers.
 * The two are measured in alternating half windows (empty, full, full, empty, empty, full), a fresh
 * empty endpoint each time, so that this VM's drift within the run moves both rates alike.
 */
import { DtlsServerEndpoint } from '../../src/engine/server-endpoint.js';
import { benchCertificate, type Figures, HANDSHAKE_WARMUP_MS, PSK_SUITE } from '../lib/common.js';
import { engineConfigs } from './configs.js';
import { runLoop } from './engine-handshake.js';

export async function scale(sessions: number, durationMs: number): Promise<Figures> {
  const cert = await benchCertificate();
  const p256 = engineConfigs('p256', cert);
  const psk = engineConfigs('psk', cert);
  const serverConfig = {
    ...p256.server,
    psk: psk.server.psk,
    cipherSuites: [...(p256.server.cipherSuites ?? []), PSK_SUITE],
    // The measurement must not be cut short by the endpoint's own caps.
    serverLimits: { maxPeers: sessions * 2, maxHandshakes: sessions * 2 },
  };
  // Warm-up first: otherwise the JIT would still be speeding up during the first measurement and the
  // second (the full endpoint) would look faster than it is.
  runLoop(p256, 4, HANDSHAKE_WARMUP_MS);
  const full = new DtlsServerEndpoint(serverConfig);
  const t0 = performance.now();
  const fill = runLoop(psk, 64, 120_000, { endpoint: full, keepSessions: true, maxHandshakes: sessions });
  const fillMs = performance.now() - t0;
  const held = full.peerCount;
  const totals = { empty: { count: 0, ms: 0 }, full: { count: 0, ms: 0 } };
  for (const which of ['empty', 'full', 'full', 'empty', 'empty', 'full'] as const) {
    const endpoint = which === 'full' ? full : new DtlsServerEndpoint(serverConfig);
    const r = runLoop(p256, 16, durationMs / 2, { endpoint, keepSessions: true });
    totals[which].count += r.latencies.length;
    totals[which].ms += r.elapsedMs;
  }
  const rate = (t: { count: number; ms: number }) => (t.count / t.ms) * 1000;
  return {
    'scale.sessions_held': held,
    'scale.fill_failures': fill.failures,
    'scale.fill_hs_per_s': (held / fillMs) * 1000,
    'scale.empty.hs_per_s': rate(totals.empty),
    'scale.full.hs_per_s': rate(totals.full),
    'scale.ratio': rate(totals.full) / rate(totals.empty),
  };
}
