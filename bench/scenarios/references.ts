/**
 * Reference figures measured in the same run as ours:
 * - node:tls, TLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256 over P-256 on TCP 127.0.0.1: full handshakes with a
 *   fresh connection each time (no session reuse), and 1,200-byte writes on one connection.
 * - the node:crypto cost of one handshake's public-key and PRF work, as a ceiling in handshakes/s that
 *   no implementation on node:crypto can pass on one core.
 */
import {
  createECDH,
  createHash,
  createPublicKey,
  createSign,
  createVerify,
  diffieHellman,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
  X509Certificate,
} from 'node:crypto';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { computeExtendedMasterSecret, computeVerifyData, expandKeys } from '../../src/crypto/prf.js';
import { suiteByName } from '../../src/crypto/suites.js';
import {
  benchCertificate,
  closedLoops,
  cpuMsSince,
  type Figures,
  HANDSHAKE_WARMUP_MS,
  handshakeFigures,
  sleep,
  withTimeout,
} from '../lib/common.js';

const TLS_CIPHER = 'ECDHE-ECDSA-AES128-GCM-SHA256';

export async function tlsReference(concurrencies: readonly number[], durationMs: number): Promise<Figures> {
  const cert = await benchCertificate();
  const server = tls.createServer({
    cert: cert.cert,
    key: cert.key,
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.2',
    ciphers: TLS_CIPHER,
    ecdhCurve: 'P-256',
    // No tickets and no session cache: every handshake is a full one, as ours are.
    sessionTimeout: 0,
    ticketKeys: undefined,
  });
  server.on('secureConnection', (s) => {
    s.on('error', () => {});
    s.on('data', (d: Buffer) => {
      received += d.length;
    });
  });
  server.on('tlsClientError', () => {});
  let received = 0;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  // The certificate is self-signed: trust it as its own CA (a chain check, like a pinned fingerprint).
  const clientOptions: tls.ConnectionOptions = {
    host: '127.0.0.1',
    port,
    ca: cert.cert,
    checkServerIdentity: () => undefined,
    ciphers: TLS_CIPHER,
    ecdhCurve: 'P-256',
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.2',
  };
  const handshake = (): Promise<tls.TLSSocket> =>
    withTimeout(
      new Promise<tls.TLSSocket>((resolve, reject) => {
        const s = tls.connect(clientOptions, () => resolve(s));
        s.once('error', reject);
      }),
      10_000,
      'tls connect',
    );
  const loops = (c: number, ms: number) =>
    closedLoops(c, ms, async () => {
      const s = await handshake();
      return () => {
        s.destroy();
      };
    });

  const out: Figures = {};
  try {
    await loops(4, HANDSHAKE_WARMUP_MS);
    for (const c of concurrencies) {
      const cpuStart = process.cpuUsage();
      const r = await loops(c, durationMs);
      Object.assign(
        out,
        handshakeFigures(`tls.c${c}`, r.latencies, r.elapsedMs, cpuMsSince(cpuStart), r.failures),
      );
    }
    // Throughput: 1,200-byte writes on one connection, respecting backpressure.
    const s = await handshake();
    const chunk = Buffer.alloc(1200, 0x61);
    const measure = async (ms: number) => {
      const before = received;
      const cpuStart = process.cpuUsage();
      const start = performance.now();
      const deadline = start + ms;
      // Bounded by the deadline; a full buffer waits for 'drain' (at most 1 s).
      while (performance.now() < deadline) {
        let ok = true;
        for (let i = 0; i < 64 && ok; i++) ok = s.write(chunk);
        if (!ok) await withTimeout(new Promise((r) => s.once('drain', r)), 1_000, 'drain');
        else await new Promise((r) => setImmediate(r));
      }
      const bytes = received - before;
      return { bytes, ms: performance.now() - start, cpuMs: cpuMsSince(cpuStart) };
    };
    await measure(200);
    await sleep(20);
    const t = await measure(durationMs);
    out['tls.stream.1200.writes_per_s'] = ((t.bytes / 1200) * 1000) / t.ms;
    out['tls.stream.1200.mb_per_s'] = t.bytes / 1e3 / t.ms;
    out['tls.stream.1200.cpu_us_per_write'] = (t.cpuMs * 1000) / (t.bytes / 1200);
    s.destroy();
  } finally {
    await withTimeout(new Promise<void>((r) => server.close(() => r())), 5_000, 'tls server close').catch(
      () => {},
    );
  }
  return out;
}

/**
 * One handshake's node:crypto primitives, both sides: ECDHE key generation and derivation on each side,
 * one ECDSA P-256 signature (ServerKeyExchange) and its verification, one X509Certificate parse, and the
 * PRF work (extended master secret on each side, key expansion on each side, four Finished verify_data).
 */
export async function cryptoCeiling(durationMs: number): Promise<Figures> {
  const cert = await benchCertificate();
  const suite = suiteByName('TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256');
  if (!suite) throw new Error('suite missing');
  const publicKey = cert.certificate.publicKey;
  const clientRandom = Buffer.alloc(32, 1);
  const serverRandom = Buffer.alloc(32, 2);
  const signed = Buffer.alloc(32 + 32 + 4 + 65, 3);
  const sessionHash = createHash('sha256').update('transcript').digest();

  const prfWork = (premaster: Buffer): void => {
    for (let side = 0; side < 2; side++) {
      const ms = computeExtendedMasterSecret('sha256', premaster, sessionHash);
      expandKeys(suite, ms, clientRandom, serverRandom);
      computeVerifyData('sha256', ms, 'client finished', sessionHash);
      computeVerifyData('sha256', ms, 'server finished', sessionHash);
    }
  };
  const p256 = (): void => {
    const a = createECDH('prime256v1');
    const b = createECDH('prime256v1');
    a.generateKeys();
    b.generateKeys();
    const s1 = a.computeSecret(b.getPublicKey());
    b.computeSecret(a.getPublicKey());
    const sig = createSign('sha256').update(signed).sign(cert.privateKey);
    if (!createVerify('sha256').update(signed).verify(publicKey, sig)) throw new Error('verify failed');
    new X509Certificate(cert.der);
    prfWork(s1);
  };
  // Each side's public key crosses the wire as 32 raw bytes: the key generation encodes it as JWK
  // (node:crypto's cheapest form; DER costs ~20× more in Node 20) and the peer imports it. Exporting it
  // from the generated KeyObject instead can deadlock Node 20 (see x25519KeyShare in src/crypto).
  type JwkPair = { privateKey: KeyObject; publicKey: JsonWebKey };
  const generate = (): JwkPair =>
    generateKeyPairSync('x25519', {
      publicKeyEncoding: { format: 'jwk' },
    } as object) as unknown as JwkPair;
  const imported = (jwk: JsonWebKey): KeyObject => createPublicKey({ key: jwk, format: 'jwk' });
  const x25519 = (): void => {
    const a = generate();
    const b = generate();
    const s1 = diffieHellman({ privateKey: a.privateKey, publicKey: imported(b.publicKey) });
    diffieHellman({ privateKey: b.privateKey, publicKey: imported(a.publicKey) });
    const sig = createSign('sha256').update(signed).sign(cert.privateKey);
    if (!createVerify('sha256').update(signed).verify(publicKey, sig)) throw new Error('verify failed');
    new X509Certificate(cert.der);
    prfWork(s1);
  };
  const run = (f: () => void, ms: number): number => {
    const start = performance.now();
    let n = 0;
    // Bounded by the clock.
    while (performance.now() - start < ms) {
      f();
      n++;
    }
    return (n * 1000) / (performance.now() - start);
  };
  run(p256, 100);
  run(x25519, 100);
  return {
    'ceiling.p256.hs_per_s': run(p256, durationMs),
    'ceiling.x25519.hs_per_s': run(x25519, durationMs),
  };
}
