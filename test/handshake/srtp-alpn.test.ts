import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateCertificate } from '../../src/cert/generate.js';
import { seededRandom } from '../../src/crypto/random.js';
import type { EngineConfig } from '../../src/engine/config.js';
import { DtlsConnection } from '../../src/engine/connection.js';
import { DtlsServerEndpoint } from '../../src/engine/server-endpoint.js';
import { type SimResult, Simulation } from '../sim/network.js';

// use_srtp (RFC 5764 §4.1) and ALPN (RFC 7301) negotiation, engine to engine; the keys themselves are
// checked against OpenSSL's -keymatexport in test/interop/srtp.test.ts.

const cert = await generateCertificate();
const identity = { certificateChain: [cert.der], privateKey: cert.privateKey };

function run(
  client: Omit<EngineConfig, 'role'>,
  server: Omit<EngineConfig, 'role'>,
  seed = 1,
): { r: SimResult; client: DtlsConnection; server: DtlsConnection | undefined } {
  const c = DtlsConnection.client(
    { fingerprints: [cert.fingerprint], random: seededRandom(`c${seed}`), ...client },
    0,
  );
  const endpoint = new DtlsServerEndpoint({ identity, random: seededRandom(`s${seed}`), ...server });
  const sim = new Simulation(c, endpoint, {
    seed,
    clientToServer: { latencyMs: 5 },
    serverToClient: { latencyMs: 5 },
  });
  const r = sim.run((s) => s.bothConnected() || s.ended('client'));
  return { r, client: c, server: sim.serverConnection };
}

test('the server picks the SRTP profile by its own preference; MKI echoed; keys split per RFC 5764 §4.2', () => {
  const mki = Buffer.from('a1b2c3', 'hex');
  const { client, server } = run(
    { srtpProfiles: ['SRTP_AES128_CM_HMAC_SHA1_80', 'SRTP_AEAD_AES_128_GCM'], srtpMki: mki },
    { srtpProfiles: ['SRTP_AEAD_AES_128_GCM', 'SRTP_AES128_CM_HMAC_SHA1_80'] },
  );
  assert.equal(client.connectionInfo?.srtpProfile, 'SRTP_AEAD_AES_128_GCM');
  assert.equal(server?.connectionInfo?.srtpProfile, 'SRTP_AEAD_AES_128_GCM');
  const keys = client.getSrtpKeys();
  assert.deepEqual(keys.mki, mki);
  assert.deepEqual(server?.getSrtpKeys().mki, mki);
  // AEAD_AES_128_GCM: 16-byte keys, 12-byte salts (RFC 7714 §12); the exporter output, in order:
  // client key | server key | client salt | server salt.
  const material = client.exportKeyingMaterial('EXTRACTOR-dtls_srtp', 2 * (16 + 12));
  assert.deepEqual(keys.clientWriteKey, material.subarray(0, 16));
  assert.deepEqual(keys.serverWriteKey, material.subarray(16, 32));
  assert.deepEqual(keys.clientWriteSalt, material.subarray(32, 44));
  assert.deepEqual(keys.serverWriteSalt, material.subarray(44, 56));
  assert.deepEqual(server?.getSrtpKeys(), { ...keys });
});

test('no SRTP profile in common: the handshake completes without SRTP, and getSrtpKeys() says so', () => {
  const { client, server } = run(
    { srtpProfiles: ['SRTP_AES128_CM_HMAC_SHA1_32'] },
    { srtpProfiles: ['SRTP_AEAD_AES_256_GCM'] },
  );
  assert.equal(client.state, 'connected');
  assert.equal(client.connectionInfo?.srtpProfile, undefined);
  assert.equal(server?.connectionInfo?.srtpProfile, undefined);
  assert.throws(
    () => client.getSrtpKeys(),
    (e: { code?: string }) => e.code === 'invalid_argument',
  );
});

test('SRTP keys and exporter are refused before the handshake completes', () => {
  const c = DtlsConnection.client(
    { fingerprints: [cert.fingerprint], srtpProfiles: ['SRTP_AEAD_AES_128_GCM'] },
    0,
  );
  assert.throws(
    () => c.getSrtpKeys(),
    (e: { code?: string }) => e.code === 'not_connected',
  );
  assert.throws(
    () => c.exportKeyingMaterial('EXTRACTOR-dtls_srtp', 60),
    (e: { code?: string }) => e.code === 'not_connected',
  );
});

test('ALPN: the server picks by its preference among the client offer; none in common is no_application_protocol', () => {
  const ok = run({ alpn: ['c-webrtc', 'webrtc'] }, { alpn: ['webrtc', 'c-webrtc'] }, 2);
  assert.equal(ok.client.connectionInfo?.alpnProtocol, 'webrtc');
  assert.equal(ok.server?.connectionInfo?.alpnProtocol, 'webrtc');
  const none = run({ alpn: ['coap'] }, { alpn: ['webrtc'] }, 3);
  const failed = none.r.clientEvents.find((e) => e.event.type === 'failed');
  assert.ok(failed && failed.event.type === 'failed');
  assert.equal(failed.event.error.code, 'no_application_protocol');
  assert.equal(failed.event.error.alertReceived, true);
  // A client offering nothing gets nothing, from a server that has protocols configured.
  const silent = run({}, { alpn: ['webrtc'] }, 4);
  assert.equal(silent.client.state, 'connected');
  assert.equal(silent.client.connectionInfo?.alpnProtocol, undefined);
});
