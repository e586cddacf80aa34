import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../../src/crypto/random.js';
import { DtlsConnection } from '../../src/engine/connection.js';
import { DtlsServerEndpoint, type ServerEndpointConfig } from '../../src/engine/server-endpoint.js';
import { Simulation, type TimedEvent } from '../sim/network.js';

// Pre-shared keys (RFC 4279, RFC 5489) over the simulated network: the CoAP suites with loss, and every
// kind of bad identity or key ending with a named error, never a hang.

const KEY = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const KEYS = new Map([
  ['sensor-1', KEY],
  ['sensor-2', Buffer.alloc(32, 7)],
]);

const PSK_SUITES = [
  'TLS_PSK_WITH_AES_128_CCM_8',
  'TLS_PSK_WITH_AES_256_CCM_8',
  'TLS_PSK_WITH_AES_128_CCM',
  'TLS_PSK_WITH_AES_128_GCM_SHA256',
  'TLS_PSK_WITH_CHACHA20_POLY1305_SHA256',
  'TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256',
  'TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256',
  'TLS_ECDHE_PSK_WITH_AES_128_CCM_8_SHA256',
];

const PATIENT = { retransmit: { maxRetransmissions: 20 }, handshakeTimeoutMs: 10 * 60_000 };

function server(seed: string, extra: Partial<ServerEndpointConfig> = {}): DtlsServerEndpoint {
  return new DtlsServerEndpoint({
    psk: { hint: 'gateway-7', lookup: (id) => KEYS.get(id.toString('utf8')) },
    cipherSuites: PSK_SUITES,
    random: seededRandom(`${seed}/server`),
    serverLimits: { idleTimeoutMs: 30 * 60_000 },
    ...PATIENT,
    ...extra,
  });
}

test('PSK suites over a lossy network: 30% loss each way, every seed completes with the same keys', () => {
  let runs = 0;
  for (const suite of PSK_SUITES) {
    for (let seed = 1; seed <= 40; seed++) {
      const hints: (string | undefined)[] = [];
      const client = DtlsConnection.client(
        {
          psk: (hint) => {
            hints.push(hint?.toString());
            return { identity: 'sensor-2', key: Buffer.alloc(32, 7) };
          },
          cipherSuites: [suite],
          random: seededRandom(`${suite}/${seed}/client`),
          ...PATIENT,
        },
        0,
      );
      const link = { latencyMs: 15, jitterMs: 40, loss: 0.3, duplicate: 0.05 };
      const sim = new Simulation(client, server(`${suite}/${seed}`), {
        seed,
        clientToServer: link,
        serverToClient: link,
      });
      const r = sim.run();
      const replay = `suite ${suite} seed ${seed}\n${sim.summary()}`;
      assert.ok(r.clientConnected && r.serverConnected, `did not complete: ${replay}`);
      const conn = sim.serverConnection!;
      assert.equal(client.connectionInfo?.cipherSuite, suite, replay);
      assert.equal(conn.connectionInfo?.pskIdentity, 'sensor-2', replay);
      assert.deepEqual(
        client.exportKeyingMaterial('EXTRACTOR-dtls_srtp', 30),
        conn.exportKeyingMaterial('EXTRACTOR-dtls_srtp', 30),
        replay,
      );
      // ECDHE_PSK always sends ServerKeyExchange (with the hint); plain PSK sends it for the hint.
      assert.equal(hints.at(-1), 'gateway-7', replay);
      runs++;
    }
  }
  assert.equal(runs, PSK_SUITES.length * 40);
});

function failingRun(clientPsk: { identity: string | Buffer; key: Buffer }, seed = 'bad') {
  const client = DtlsConnection.client(
    {
      psk: clientPsk,
      cipherSuites: ['TLS_PSK_WITH_AES_128_CCM_8'],
      random: seededRandom(`${seed}/client`),
    },
    0,
  );
  const sim = new Simulation(client, server(seed, { retransmit: {}, handshakeTimeoutMs: 60_000 }), {
    seed: 1,
    clientToServer: { latencyMs: 5 },
    serverToClient: { latencyMs: 5 },
  });
  // Run until the client has its answer too (the default stops at the first side that fails).
  const r = sim.run((s) => s.ended('client'));
  const clientFailure = r.clientEvents.find((e) => e.event.type === 'failed');
  const serverFailure = r.serverEvents.find((e) => e.event.type === 'failed');
  return { r, client, clientFailure, serverFailure };
}

function code(e: TimedEvent | undefined): string | undefined {
  return e && e.event.type === 'failed' ? e.event.error.code : undefined;
}

test('an unknown identity ends the handshake with unknown_psk_identity, both sides, at once', () => {
  const { r, clientFailure, serverFailure } = failingRun({ identity: 'intruder', key: KEY });
  assert.equal(code(serverFailure), 'unknown_psk_identity');
  assert.equal(code(clientFailure), 'unknown_psk_identity');
  assert.ok(clientFailure!.time < 1000, `took ${clientFailure!.time} ms (no retransmission needed)`);
  assert.equal(r.clientConnected, false);
});

test('a wrong key ends with bad_record_mac after the resent Finished also fails, not a timeout', () => {
  const { clientFailure, serverFailure } = failingRun({ identity: 'sensor-1', key: Buffer.alloc(16, 9) });
  assert.equal(code(serverFailure), 'bad_record_mac');
  assert.equal(code(clientFailure), 'bad_record_mac');
  // One retransmission of flight 5 (1 s), not the 60 s handshake timeout.
  assert.ok(serverFailure!.time < 2500, `took ${serverFailure!.time} ms`);
});

test('an identity longer than 128 bytes (RFC 4279 §5.3) is refused with illegal_parameter', () => {
  const { serverFailure, clientFailure } = failingRun({ identity: 'x'.repeat(129), key: KEY });
  assert.equal(code(serverFailure), 'illegal_parameter');
  assert.equal(code(clientFailure), 'illegal_parameter');
});

test('an empty or over-long identity is refused: at configuration time, or when a callback returns it', () => {
  for (const identity of ['', Buffer.alloc(65536, 0x61)]) {
    assert.throws(
      () =>
        DtlsConnection.client(
          { psk: { identity, key: KEY }, cipherSuites: ['TLS_PSK_WITH_AES_128_CCM_8'] },
          0,
        ),
      (e: { code?: string }) => e.code === 'invalid_argument',
    );
    const client = DtlsConnection.client(
      {
        psk: () => ({ identity, key: KEY }),
        cipherSuites: ['TLS_PSK_WITH_AES_128_CCM_8'],
        random: seededRandom('e'),
      },
      0,
    );
    const sim = new Simulation(client, server('empty'), {
      seed: 1,
      clientToServer: { latencyMs: 5 },
      serverToClient: { latencyMs: 5 },
    });
    const r = sim.run();
    const f = r.clientEvents.find((e) => e.event.type === 'failed');
    assert.equal(code(f), 'internal_error', 'a local error, reported before ClientKeyExchange is sent');
    assert.ok(f && f.event.type === 'failed');
    assert.match(f.event.error.message, /PSK identity must be 1\.\.65535 bytes/);
    assert.equal(r.serverConnected, false);
  }
});

test('an asynchronous lookup completes the handshake; a rejected lookup ends it with internal_error', async () => {
  for (const mode of ['resolve', 'reject'] as const) {
    const endpoint = new DtlsServerEndpoint({
      psk: {
        lookup: (id) =>
          mode === 'resolve'
            ? Promise.resolve(KEYS.get(id.toString()))
            : Promise.reject(new Error('store offline')),
      },
      cipherSuites: ['TLS_PSK_WITH_AES_128_CCM_8'],
      cookies: false,
      random: seededRandom(`async/${mode}`),
    });
    const client = DtlsConnection.client(
      { psk: { identity: 'sensor-1', key: KEY }, cipherSuites: ['TLS_PSK_WITH_AES_128_CCM_8'] },
      0,
    );
    const peer = { address: '127.0.0.1', port: 5683 };
    let serverFailed: string | undefined;
    // Drive by hand: the lookup's promise settles between steps, as it would between I/O events.
    for (let step = 0; step < 20 && client.state === 'handshaking'; step++) {
      for (let d = client.pollTransmit(); d; d = client.pollTransmit())
        endpoint.handleDatagram(d, peer, step);
      await new Promise((resolve) => setImmediate(resolve));
      endpoint.handleTimeout(step);
      for (let t = endpoint.pollTransmit(); t; t = endpoint.pollTransmit())
        client.handleDatagram(t.data, step);
      for (let e = endpoint.pollEvent(); e; e = endpoint.pollEvent()) {
        if (e.type === 'connection-event' && e.event.type === 'failed') serverFailed = e.event.error.code;
      }
      while (client.pollEvent()) {
        // events are read through state below
      }
    }
    if (mode === 'resolve') assert.equal(client.state, 'connected');
    else {
      assert.equal(serverFailed, 'internal_error');
      assert.equal(client.state, 'failed');
    }
  }
});
