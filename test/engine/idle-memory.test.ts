import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { generateCertificate } from '../../src/cert/generate.js';
import type { EngineConfig } from '../../src/engine/config.js';
import { DtlsConnection } from '../../src/engine/connection.js';
import type { ClientSession } from '../../src/engine/resumption.js';
import { DtlsServerEndpoint, type ServerEndpointConfig } from '../../src/engine/server-endpoint.js';

// Established sessions must not keep slices of node's shared 8 KB buffer pool: encodings come from the
// pool (cheap) and whatever a connection keeps for its lifetime is copied into memory of its own
// (Writer.finishOwned). A session that pinned a slab would show as kilobytes of arrayBuffers each.

const PAIRS = 150;
/**
 * Bytes of arrayBuffers per established session; a pinned slab costs up to 8 KB. A server session holds
 * little outside the heap (the goal: 1 KiB); a client's session legitimately keeps the server's
 * certificate twice (the chain to re-check, and the leaf in the session state), ~0.5 KB each here.
 */
const SERVER_BOUND = 1024;
const CLIENT_BOUND = 2048;

function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  for (let i = 0; i < 4; i++) gc();
}

type ClientConfig = Omit<EngineConfig, 'role'>;

let nextPort = 10_000;

/** Runs one handshake to completion in memory; returns the client (the server keeps its side). */
function establish(endpoint: DtlsServerEndpoint, client: ClientConfig, port: number): DtlsConnection {
  const peer = { address: '127.0.0.1', port, family: 'IPv4' as const };
  const c = DtlsConnection.client(client, 0);
  let session: ClientSession | undefined;
  // Until nothing moves: in an abbreviated handshake the client is connected before its last flight
  // has reached the server. Bounded: a handshake in memory needs a handful of rounds.
  for (let round = 0, moved = 1; round < 20 && moved > 0; round++) {
    moved = 0;
    for (let d = c.pollTransmit(); d; d = c.pollTransmit(), moved++) endpoint.handleDatagram(d, peer, 0);
    for (let t = endpoint.pollTransmit(); t; t = endpoint.pollTransmit(), moved++)
      c.handleDatagram(t.data, 0);
    for (let e = c.pollEvent(); e; e = c.pollEvent()) if (e.type === 'session') session = e.session;
    while (endpoint.pollEvent());
  }
  assert.equal(c.state, 'connected');
  (c as DtlsConnection & { session?: ClientSession }).session = session;
  return c;
}

/**
 * Establishes PAIRS sessions on `endpoint` and returns arrayBuffers per session held by the server
 * alone (the clients dropped) and by the clients alone (each keeping its session, as a caller that
 * wants to resume does; measured once the server side is gone too).
 */
function measure(
  name: string,
  server: ServerEndpointConfig,
  client: ClientConfig,
  endpoint = new DtlsServerEndpoint(server),
): { server: number; client: number; session: ClientSession | undefined; resumed: boolean } {
  // Warm-up: lazily built tables and the first pool slabs. Every call uses ports of its own, so no
  // handshake replaces a session the endpoint already holds for the same address.
  const ports = nextPort;
  nextPort += PAIRS + 20;
  for (let i = 0; i < 20; i++) establish(endpoint, client, ports + i);
  collectGarbage();
  const base = process.memoryUsage().arrayBuffers;
  const peersBefore = endpoint.peerCount;
  let clients: DtlsConnection[] = [];
  for (let i = 0; i < PAIRS; i++) clients.push(establish(endpoint, client, ports + 20 + i));
  const resumed = clients.every((c) => c.connectionInfo?.resumed);
  const session = (clients[0] as DtlsConnection & { session?: ClientSession }).session;
  assert.equal(endpoint.peerCount - peersBefore, PAIRS, `${name}: the server holds every session`);
  collectGarbage();
  const both = process.memoryUsage().arrayBuffers;
  clients = [];
  collectGarbage();
  const serverOnly = process.memoryUsage().arrayBuffers;
  return { server: (serverOnly - base) / PAIRS, client: (both - serverOnly) / PAIRS, session, resumed };
}

test('idle established sessions hold no slice of the shared buffer pool', async (t) => {
  const cert = await generateCertificate({ keyType: 'ecdsa-p256', commonName: 'memory.test' });
  const clientCert = await generateCertificate({ keyType: 'ecdsa-p256', commonName: 'client.test' });
  const identity = { certificateChain: [cert.der], privateKey: cert.privateKey };
  const psk = Buffer.alloc(16, 7);
  const cases: { name: string; server: ServerEndpointConfig; client: ClientConfig }[] = [
    {
      name: 'ECDHE-ECDSA, client certificate',
      server: { identity, clientCertificate: 'require', insecure: true },
      client: {
        fingerprints: [cert.fingerprint],
        identity: { certificateChain: [clientCert.der], privateKey: clientCert.privateKey },
      },
    },
    {
      name: 'PSK with a hint',
      server: { cipherSuites: ['TLS_PSK_WITH_AES_128_CCM_8'], psk: { hint: 'h', lookup: () => psk } },
      client: { cipherSuites: ['TLS_PSK_WITH_AES_128_CCM_8'], psk: { identity: 'device-1', key: psk } },
    },
  ];
  for (const c of cases) {
    const endpoint = new DtlsServerEndpoint(c.server);
    const full = measure(c.name, c.server, c.client, endpoint);
    assert.ok(full.session, `${c.name}: the first handshake gave a session`);
    // The same sessions resumed on the server that issued them.
    const again = measure(`${c.name}, resumed`, c.server, { ...c.client, session: full.session }, endpoint);
    assert.ok(again.resumed, `${c.name}: every handshake resumed`);
    for (const [what, m] of [
      ['full', full],
      ['resumed', again],
    ] as const) {
      t.diagnostic(
        `${c.name}, ${what}: arrayBuffers per session ${m.server.toFixed(0)} B server-side, ` +
          `${m.client.toFixed(0)} B client-side (with its session)`,
      );
      assert.ok(m.server < SERVER_BOUND, `${c.name}, ${what}: ${m.server.toFixed(0)} B per server session`);
      assert.ok(m.client < CLIENT_BOUND, `${c.name}, ${what}: ${m.client.toFixed(0)} B per client session`);
    }
  }
});
