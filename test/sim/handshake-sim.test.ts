/**
 * Thousands of seeded handshakes over the simulated network (test/sim/network.ts): clean, 10 % and 30 %
 * loss with duplication and reordering, small MTUs that fragment the Certificate, cookies on and off,
 * ECDSA and RSA identities, several suites. Every run must connect both sides with the same exported
 * keys and then carry application data. Then RFC 6347 §4.2.4 timer behaviour on the virtual clock.
 *
 * A failure prints the scenario, seed and parameters; `replay(params)` reruns exactly that handshake.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { type GeneratedCertificate, generateCertificate } from '../../src/cert/generate.js';
import type { GroupName } from '../../src/crypto/key-exchange.js';
import { seededRandom } from '../../src/crypto/random.js';
import type { EngineConfig, Identity } from '../../src/engine/config.js';
import { DtlsConnection } from '../../src/engine/connection.js';
import { DtlsServerEndpoint } from '../../src/engine/server-endpoint.js';
import { HandshakeType } from '../../src/wire/constants.js';
import {
  handshakeTypesIn,
  hasChangeCipherSpec,
  type LinkOptions,
  mulberry32,
  RawServer,
  type SimResult,
  Simulation,
} from './network.js';

interface Credentials {
  identity: Identity;
  /** What the client configures to trust it. */
  trust: Pick<EngineConfig, 'fingerprints' | 'ca'>;
}

type ProfileName =
  | 'ecdsa-gcm'
  | 'ecdsa-chacha'
  | 'ecdsa-ccm8'
  | 'rsa-gcm'
  | 'ecdsa-chain-gcm'
  | 'rsa-chain-gcm';

interface Profile {
  suite: string;
  credentials: () => Credentials;
}

let ecdsa: Credentials;
let rsa: Credentials;
let ecdsaChain: Credentials;
let rsaChain: Credentials;

function pinned(c: GeneratedCertificate): Credentials {
  return {
    identity: { certificateChain: [c.der], privateKey: c.privateKey },
    trust: { fingerprints: [c.fingerprint] },
  };
}

function chained(leaf: GeneratedCertificate, ca: GeneratedCertificate): Credentials {
  return {
    identity: { certificateChain: [leaf.der, ca.der], privateKey: leaf.privateKey },
    trust: { ca: [ca.cert] },
  };
}

before(async () => {
  // Certificate generation is slow (RSA especially): make a few identities once and reuse them.
  const [ec, rs, ecCa, rsCa] = await Promise.all([
    generateCertificate({ keyType: 'ecdsa-p256', commonName: 'sim-ecdsa' }),
    generateCertificate({ keyType: 'rsa-2048', commonName: 'sim-rsa' }),
    generateCertificate({ keyType: 'ecdsa-p256', commonName: 'sim ECDSA CA', isCA: true }),
    generateCertificate({ keyType: 'rsa-2048', commonName: 'sim RSA CA', isCA: true }),
  ]);
  const [ecLeaf, rsLeaf] = await Promise.all([
    generateCertificate({ keyType: 'ecdsa-p256', commonName: 'sim-ecdsa-leaf', issuer: ecCa }),
    generateCertificate({ keyType: 'rsa-2048', commonName: 'sim-rsa-leaf', issuer: rsCa }),
  ]);
  ecdsa = pinned(ec);
  rsa = pinned(rs);
  ecdsaChain = chained(ecLeaf, ecCa);
  rsaChain = chained(rsLeaf, rsCa);
});

const PROFILES: Record<ProfileName, Profile> = {
  'ecdsa-gcm': { suite: 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', credentials: () => ecdsa },
  'ecdsa-chacha': { suite: 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256', credentials: () => ecdsa },
  'ecdsa-ccm8': { suite: 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8', credentials: () => ecdsa },
  'rsa-gcm': { suite: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', credentials: () => rsa },
  'ecdsa-chain-gcm': { suite: 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256', credentials: () => ecdsaChain },
  'rsa-chain-gcm': { suite: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', credentials: () => rsaChain },
};

const BASIC_PROFILES: ProfileName[] = ['ecdsa-gcm', 'ecdsa-chacha', 'ecdsa-ccm8', 'rsa-gcm'];
const GROUP_CHOICES: (readonly GroupName[] | undefined)[] = [undefined, ['x25519'], ['secp256r1']];

/** Timer policy for lossy paths: enough tries that 30 % loss each way still completes. */
const PATIENT: Pick<EngineConfig, 'retransmit' | 'handshakeTimeoutMs'> = {
  retransmit: { maxRetransmissions: 20 },
  handshakeTimeoutMs: 10 * 60_000,
};

interface RunParams {
  scenario: string;
  seed: number;
  profile: ProfileName;
  cookies: boolean;
  groups?: readonly GroupName[];
  /** Engine MTU on both sides (the link's cap is set to the same value). */
  mtu?: number;
  link: LinkOptions;
  patient: boolean;
}

function describeParams(p: RunParams): string {
  return JSON.stringify(p);
}

function buildSimulation(p: RunParams): Simulation {
  const profile = PROFILES[p.profile];
  const cred = profile.credentials();
  const timers = p.patient ? PATIENT : {};
  const client = DtlsConnection.client(
    {
      ...cred.trust,
      ...timers,
      groups: p.groups,
      mtu: p.mtu,
      // Separate streams per side: one shared seed would hand the client's ECDHE scalar to the server
      // as its random (both draw from offset 32).
      random: seededRandom(`${p.seed}/client`),
    },
    0,
  );
  const serverConfig = {
    identity: cred.identity,
    cipherSuites: [profile.suite],
    mtu: p.mtu,
    ...timers,
    random: seededRandom(`${p.seed}/server`),
  };
  const server = new DtlsServerEndpoint({
    ...serverConfig,
    cookies: p.cookies,
    // The endpoint forgets a connected peer after 5 idle minutes by default; with the patient timers the
    // client may still be resending flight 5 (its Finished) after that, to a server whose flight 6 was lost.
    serverLimits: p.patient ? { idleTimeoutMs: 30 * 60_000 } : undefined,
  });
  const link = { ...p.link, mtu: p.mtu ?? p.link.mtu };
  return new Simulation(client, server, { seed: p.seed, clientToServer: link, serverToClient: link });
}

/** Count of each payload's `data` events on one side. */
function dataEvents(r: SimResult, side: 'client' | 'server', payload: Buffer): number {
  const evs = side === 'client' ? r.clientEvents : r.serverEvents;
  return evs.filter((e) => e.event.type === 'data' && e.event.data.equals(payload)).length;
}

/** One handshake plus application data both ways; throws with the replay parameters on any failure. */
function runOne(p: RunParams): SimResult {
  const sim = buildSimulation(p);
  const fail = (what: string): never => {
    assert.fail(
      `${what}\nreplay: ${describeParams(p)}\n${sim.summary()}\n--- log (latest) ---\n${sim.formatLog()}`,
    );
  };
  const r = sim.run();
  if (!r.clientConnected || !r.serverConnected) fail('handshake did not complete on both sides');
  if (r.stuckTimers !== 0) fail(`${r.stuckTimers} timer deadline(s) did not move after handleTimeout`);
  const serverConn = sim.serverConnection;
  if (!serverConn) return fail('no server connection');
  const suite = PROFILES[p.profile].suite;
  if (sim.client.connectionInfo?.cipherSuite !== suite || serverConn.connectionInfo?.cipherSuite !== suite) {
    fail(
      `negotiated ${sim.client.connectionInfo?.cipherSuite} / ${serverConn.connectionInfo?.cipherSuite}, want ${suite}`,
    );
  }
  const ck = sim.client.exportKeyingMaterial('EXTRACTOR-dtls_srtp', 60);
  const sk = serverConn.exportKeyingMaterial('EXTRACTOR-dtls_srtp', 60);
  if (ck.length !== 60 || !ck.equals(sk)) fail('exported keying material differs');
  // DTLS does not retransmit application data (RFC 6347 §4.1): the test resends on loss, bounded.
  for (let i = 0; i < 2; i++) {
    for (const from of ['client', 'server'] as const) {
      const payload = Buffer.from(`${from} datagram ${i} seed ${p.seed}`);
      const attempts = sim.sendApplicationData(from, payload, 200, 60);
      if (attempts === undefined) fail(`${from} datagram ${i} never arrived`);
      const to = from === 'client' ? 'server' : 'client';
      // Duplicated datagrams must be caught by the replay window: at most one event per send.
      const seen = dataEvents(sim.result(), to, payload);
      if (seen > attempts!)
        fail(`${to} saw ${seen} copies of a datagram sent ${attempts} times (replay not detected)`);
    }
  }
  const final = sim.result();
  for (const [side, evs] of [
    ['client', final.clientEvents],
    ['server', final.serverEvents],
  ] as const) {
    const bad = evs.find((e) => e.event.type === 'failed' || e.event.type === 'closed');
    if (bad) fail(`${side} reported ${bad.event.type}`);
  }
  return final;
}

interface Scenario {
  name: string;
  count: number;
  params: (seed: number, rnd: () => number) => Omit<RunParams, 'scenario' | 'seed'>;
}

const SCENARIOS: Scenario[] = [
  {
    name: 'clean',
    count: 700,
    params: (seed) => ({
      profile: BASIC_PROFILES[seed % BASIC_PROFILES.length]!,
      cookies: seed % 2 === 0,
      groups: GROUP_CHOICES[seed % 3],
      link: { latencyMs: 10 },
      patient: false,
    }),
  },
  {
    name: 'loss10',
    count: 800,
    params: (seed) => ({
      profile: BASIC_PROFILES[seed % BASIC_PROFILES.length]!,
      cookies: seed % 2 === 1,
      groups: GROUP_CHOICES[seed % 3],
      link: { latencyMs: 15, jitterMs: 20, loss: 0.1, duplicate: 0.03, truncate: 0.02 },
      patient: true,
    }),
  },
  {
    name: 'loss30-dup-reorder',
    count: 800,
    params: (seed) => ({
      profile: BASIC_PROFILES[seed % BASIC_PROFILES.length]!,
      cookies: seed % 2 === 0,
      groups: GROUP_CHOICES[seed % 3],
      link: { latencyMs: 20, jitterMs: 60, loss: 0.3, duplicate: 0.1 },
      patient: true,
    }),
  },
  {
    name: 'mtu200-300',
    count: 700,
    params: (seed, rnd) => {
      const profiles: ProfileName[] = ['rsa-chain-gcm', 'ecdsa-chain-gcm', 'rsa-gcm', 'ecdsa-ccm8'];
      return {
        profile: profiles[seed % profiles.length]!,
        cookies: seed % 2 === 1,
        mtu: 200 + Math.floor(rnd() * 101),
        link: { latencyMs: 10, jitterMs: 15, loss: 0.05, duplicate: 0.02 },
        patient: true,
      };
    },
  },
];

const TOTAL = SCENARIOS.reduce((n, s) => n + s.count, 0);
test(`at least 3,000 seeded handshakes in the matrix (${TOTAL})`, () => {
  assert.ok(TOTAL >= 3000);
});

for (const scenario of SCENARIOS) {
  test(`simulated handshakes: ${scenario.name} × ${scenario.count}`, () => {
    let retransmissions = 0;
    let fragmentedCertificates = 0;
    let completedAtMax = 0;
    const profilesSeen = new Set<string>();
    // Every seed runs, and every failure is listed (with its replay parameters) at the end.
    const failures: string[] = [];
    for (let seed = 0; seed < scenario.count; seed++) {
      const rnd = mulberry32(seed * 7919 + scenario.count);
      const p: RunParams = { scenario: scenario.name, seed, ...scenario.params(seed, rnd) };
      let r: SimResult;
      try {
        r = runOne(p);
      } catch (e) {
        failures.push(e instanceof Error ? e.message : String(e));
        continue;
      }
      profilesSeen.add(p.profile);
      retransmissions += r.retransmissions.client + r.retransmissions.server;
      completedAtMax = Math.max(completedAtMax, r.completedAt!);
      if (p.mtu !== undefined) {
        // The Certificate must really have been split to fit (RFC 6347 §4.2.3).
        const certFragments = r.transmissions.filter(
          (t) => t.from === 'server' && /certificate#\d+ \d+\+\d+\/\d+/.test(t.description),
        );
        if (certFragments.some((t) => !/certificate#\d+ 0\+(\d+)\/\1\b/.test(t.description)))
          fragmentedCertificates++;
        const tooBig = r.transmissions.filter((t) => t.size > p.mtu!);
        assert.equal(tooBig.length, 0, `datagrams over the MTU ${p.mtu}: replay ${describeParams(p)}`);
      }
    }
    if (failures.length > 0) {
      const heads = failures.map((f) => f.split('\n').slice(0, 3).join(' | '));
      assert.fail(
        `${failures.length} of ${scenario.count} failed:\n${heads.join('\n')}\n--- first in full ---\n${failures[0]}`,
      );
    }
    assert.equal(profilesSeen.size, scenario.name === 'mtu200-300' ? 4 : BASIC_PROFILES.length);
    if (scenario.name === 'mtu200-300') assert.equal(fragmentedCertificates, scenario.count);
    if (scenario.name === 'clean') return;
    // Sanity: the lossy scenarios really exercised retransmission.
    assert.ok(retransmissions > scenario.count / 4, `only ${retransmissions} retransmissions`);
    assert.ok(completedAtMax > 1000);
  });
}

test('MTU 200-300 fragments the Certificate and reassembles it', () => {
  const p: RunParams = {
    scenario: 'mtu-check',
    seed: 7,
    profile: 'rsa-chain-gcm',
    cookies: false,
    mtu: 220,
    link: { latencyMs: 10 },
    patient: true,
  };
  const r = runOne(p);
  const fragments = r.transmissions.flatMap((t) =>
    t.from === 'server' ? [...t.description.matchAll(/certificate#\d+ (\d+)\+(\d+)\/(\d+)/g)] : [],
  );
  // An RSA leaf plus its RSA CA is ~1.6 KB: at 220 bytes per datagram that is at least 8 fragments.
  assert.ok(fragments.length >= 8, `only ${fragments.length} certificate fragments`);
  const total = Number(fragments[0]![3]);
  assert.ok(total > 1200);
  assert.ok(r.transmissions.every((t) => t.size <= 220));
});

test('clean path without cookies: 2 round trips, no retransmission', () => {
  for (const profile of BASIC_PROFILES) {
    const sim = buildSimulation({
      scenario: 'clean-exact',
      seed: 1,
      profile,
      cookies: false,
      link: { latencyMs: 10 },
      patient: false,
    });
    const r = sim.run();
    assert.ok(r.clientConnected && r.serverConnected, sim.summary());
    // flight 1 at 0 → flight 4 at 10 → flight 5 at 20 → flight 6 at 30 → client connected at 40.
    assert.equal(r.serverConnectedAt, 30, sim.formatLog());
    assert.equal(r.clientConnectedAt, 40, sim.formatLog());
    assert.deepEqual(r.retransmissions, { client: 0, server: 0 }, sim.formatLog());
    // Client: flights 1 and 5. Server: flight 4 (two datagrams when an RSA certificate fills the first) and 6.
    assert.equal(r.datagramsSent.client, 2, sim.formatLog());
    assert.equal(r.datagramsSent.server, profile === 'rsa-gcm' ? 3 : 2, sim.formatLog());
  }
});

// Regression (fixed in 3c8e5c4): the HelloVerifyRequest reuses the ClientHello's record sequence number
// (RFC 6347 §4.2.1), so a server connection that started its epoch-0 records at 0 sent a ServerHello the
// client's replay window dropped, and every cookie handshake needed a 1 s retransmission.
test('clean path with cookies: 3 round trips, no retransmission (RFC 6347 §4.2.1 record sequence numbers)', () => {
  const sim = buildSimulation({
    scenario: 'clean-cookie-exact',
    seed: 1,
    profile: 'ecdsa-gcm',
    cookies: true,
    link: { latencyMs: 10 },
    patient: false,
  });
  const r = sim.run();
  assert.ok(r.clientConnected && r.serverConnected, sim.summary());
  assert.deepEqual(r.retransmissions, { client: 0, server: 0 }, sim.formatLog());
  // CH 0 → HVR 10 → CH 20 → flight 4 at 30 → flight 5 at 40 → flight 6 at 50 → client connected at 60.
  assert.equal(r.clientConnectedAt, 60, sim.formatLog());
});

/**
 * A client and a raw server (no cookies) with the server's flight 4 in one datagram, not yet delivered,
 * and `resend(now)` to get the server's timer retransmission of it (fresh record sequence numbers).
 */
function clientWithPendingFlight4(tag: string): {
  client: DtlsConnection;
  flight4: Buffer;
  resend: (now: number) => Buffer;
} {
  const cred = PROFILES['ecdsa-gcm'].credentials();
  const client = DtlsConnection.client({ ...cred.trust, random: seededRandom(`${tag}/client`) }, 0);
  const raw = new RawServer({ identity: cred.identity, random: seededRandom(`${tag}/server`) });
  for (let d = client.pollTransmit(); d; d = client.pollTransmit()) raw.handleDatagram(d, 0);
  const s = raw.connection!;
  const datagrams: Buffer[] = [];
  for (let d = s.pollTransmit(); d; d = s.pollTransmit()) datagrams.push(d);
  assert.equal(datagrams.length, 1);
  const resend = (now: number): Buffer => {
    s.handleTimeout(now);
    const again: Buffer[] = [];
    for (let d = s.pollTransmit(); d; d = s.pollTransmit()) again.push(d);
    assert.equal(again.length, 1);
    return again[0]!;
  };
  return { client, flight4: datagrams[0]!, resend };
}

function drainClient(c: DtlsConnection): Buffer[] {
  const out: Buffer[] = [];
  for (let d = c.pollTransmit(); d; d = c.pollTransmit()) out.push(d);
  return out;
}

test('a flight completed by the rest of its records is answered once', () => {
  // The ServerHello record is lost, the rest arrives; then the server's retransmission fills the gap.
  const { client, flight4, resend } = clientWithPendingFlight4('partial-a');
  const serverHelloLength = 13 + flight4.readUInt16BE(11);
  const withoutServerHello = flight4.subarray(serverHelloLength);
  assert.deepEqual(handshakeTypesIn(withoutServerHello), [
    HandshakeType.certificate,
    HandshakeType.server_key_exchange,
    HandshakeType.server_hello_done,
  ]);
  client.handleDatagram(withoutServerHello, 10);
  assert.deepEqual(drainClient(client), [], 'nothing to answer before the ServerHello');
  client.handleDatagram(resend(1000), 1010);
  const answer = drainClient(client);
  assert.equal(answer.filter(hasChangeCipherSpec).length, 1, `flight 5 sent ${answer.length} times`);
  assert.equal(client.stats.retransmissions, 0);
});

// BUG (src/engine/connection.ts, onStaleFragment): a fragment is taken for "the peer resent its previous
// flight" when it completes the last message we processed, even if that message is only the start of
// the peer's *current* flight. Here the client has processed the ServerHello of flight 4 (the rest was
// lost); the server's retransmission of flight 4 then makes the client resend flight 3 (ClientHello)
// although the server plainly has it, before answering with flight 5. RFC 6347 §4.2.4 resends our last
// flight only when the peer resends the flight *before* it.
test('a retransmitted current flight does not trigger a resend of our previous flight', () => {
  const { client, flight4, resend } = clientWithPendingFlight4('partial-b');
  const serverHelloOnly = flight4.subarray(0, 13 + flight4.readUInt16BE(11));
  assert.deepEqual(handshakeTypesIn(serverHelloOnly), [HandshakeType.server_hello]);
  client.handleDatagram(serverHelloOnly, 10);
  assert.deepEqual(drainClient(client), []);
  // The server's timer resends flight 4 a second later; it arrives just before the client's own timer.
  // (The server connection was created at 0, so its timer fires at 1000; the copy reaches the client at 999
  // of the client's own clock, before its timer, which also stands at 1000.)
  client.handleDatagram(resend(1000), 999);
  const answer = drainClient(client);
  const helloResends = answer.filter((d) => handshakeTypesIn(d).includes(HandshakeType.client_hello));
  assert.equal(helloResends.length, 0, `client resent its ClientHello: ${answer.length} datagrams`);
  assert.equal(answer.filter(hasChangeCipherSpec).length, 1);
  assert.equal(client.stats.retransmissions, 0);
});

test('retransmission timing: ClientHello at 0, 1, 3, 7, 15 s … capped at 60 s, then timeout', () => {
  const client = DtlsConnection.client(
    {
      fingerprints: [ecdsa.trust.fingerprints![0]!],
      handshakeTimeoutMs: 60 * 60_000,
      random: seededRandom('t1'),
    },
    0,
  );
  const server = new DtlsServerEndpoint({ identity: ecdsa.identity, random: seededRandom('t1s') });
  const sim = new Simulation(client, server, {
    seed: 1,
    clientToServer: { drop: () => true },
    maxTimeMs: 60 * 60_000,
  });
  const r = sim.run((s) => s.ended('client'));
  const sends = r.transmissions.filter((t) => t.from === 'client').map((t) => t.time);
  // RFC 6347 §4.2.4.1: initial 1 s, doubled on each expiry, at most 60 s; 8 retransmissions by default.
  assert.deepEqual(sends, [0, 1000, 3000, 7000, 15000, 31000, 63000, 123000, 183000]);
  const failed = r.clientEvents.find((e) => e.event.type === 'failed');
  assert.ok(failed && failed.event.type === 'failed');
  assert.equal(failed.event.error.code, 'timeout');
  assert.equal(failed.time, 243000);
  assert.equal(client.stats.retransmissions, 8);
  assert.equal(client.pollTimeout(), undefined);
});

test('retransmission timing: the handshake timeout ends it first (default 60 s)', () => {
  const client = DtlsConnection.client(
    { fingerprints: [ecdsa.trust.fingerprints![0]!], random: seededRandom('t2') },
    0,
  );
  const server = new DtlsServerEndpoint({ identity: ecdsa.identity, random: seededRandom('t2s') });
  const sim = new Simulation(client, server, { seed: 2, clientToServer: { drop: () => true } });
  const r = sim.run((s) => s.ended('client'));
  assert.deepEqual(
    r.transmissions.filter((t) => t.from === 'client').map((t) => t.time),
    [0, 1000, 3000, 7000, 15000, 31000],
  );
  const failed = r.clientEvents.find((e) => e.event.type === 'failed');
  assert.ok(failed && failed.event.type === 'failed');
  assert.equal(failed.event.error.code, 'timeout');
  assert.equal(failed.time, 60000);
});

test('retransmission timing: a custom policy (initial 250 ms, cap 2 s, 5 tries)', () => {
  const client = DtlsConnection.client(
    {
      fingerprints: [ecdsa.trust.fingerprints![0]!],
      retransmit: { initialMs: 250, maxMs: 2000, maxRetransmissions: 5 },
      random: seededRandom('t3'),
    },
    100,
  );
  const server = new DtlsServerEndpoint({ identity: ecdsa.identity, random: seededRandom('t3s') });
  const sim = new Simulation(client, server, {
    seed: 3,
    startTime: 100,
    clientToServer: { drop: () => true },
  });
  const r = sim.run((s) => s.ended('client'));
  assert.deepEqual(
    r.transmissions.filter((t) => t.from === 'client').map((t) => t.time),
    [100, 350, 850, 1850, 3850, 5850],
  );
  const failed = r.clientEvents.find((e) => e.event.type === 'failed');
  assert.equal(failed?.time, 7850);
});

test("retransmission timing: the server's flight 4 at 1, 3, 7, 15 s … then timeout", () => {
  const client = DtlsConnection.client(
    {
      fingerprints: [ecdsa.trust.fingerprints![0]!],
      handshakeTimeoutMs: 60 * 60_000,
      random: seededRandom('t4'),
    },
    0,
  );
  const server = new DtlsServerEndpoint({
    identity: ecdsa.identity,
    handshakeTimeoutMs: 60 * 60_000,
    random: seededRandom('t4s'),
  });
  const sim = new Simulation(client, server, {
    seed: 4,
    // The first ClientHello and the one with the cookie get through; nothing after (the client's
    // retransmissions of it would make the server resend flight 4 early, RFC 6347 §4.2.4).
    clientToServer: { latencyMs: 10, drop: (d) => d.index >= 2 },
    // The HelloVerifyRequest gets through, flight 4 never does.
    serverToClient: { latencyMs: 10, drop: (d) => d.index >= 1 },
    maxTimeMs: 60 * 60_000,
  });
  const r = sim.run((s) => s.ended('server'));
  const flight4 = r.transmissions
    .filter((t) => t.from === 'server' && t.description.includes('server_hello#1'))
    .map((t) => t.time);
  assert.deepEqual(flight4, [30, 1030, 3030, 7030, 15030, 31030, 63030, 123030, 183030], sim.formatLog());
  const failed = r.serverEvents.find((e) => e.event.type === 'failed');
  assert.ok(failed && failed.event.type === 'failed');
  assert.equal(failed.event.error.code, 'timeout');
  assert.equal(failed.time, 243030);
  assert.equal(server.peerCount, 0, 'the failed peer is forgotten');
});

test('our last flight is resent when the peer resends its previous one (lost flight 6)', () => {
  for (const cookies of [false, true]) {
    const client = DtlsConnection.client(
      { fingerprints: [ecdsa.trust.fingerprints![0]!], random: seededRandom('f6') },
      0,
    );
    const server = new DtlsServerEndpoint({ identity: ecdsa.identity, cookies, random: seededRandom('f6s') });
    let droppedFlight6 = false;
    const sim = new Simulation(client, server, {
      seed: 6,
      serverToClient: {
        latencyMs: 10,
        drop: (d) => {
          if (droppedFlight6 || !hasChangeCipherSpec(d.data)) return false;
          droppedFlight6 = true;
          return true;
        },
      },
      clientToServer: { latencyMs: 10 },
    });
    const r = sim.run();
    assert.ok(
      r.clientConnected && r.serverConnected,
      `cookies=${cookies} ${sim.summary()}\n${sim.formatLog()}`,
    );
    const serverFlight6 = r.transmissions.filter(
      (t) => t.from === 'server' && hasChangeCipherSpecDesc(t.description),
    );
    const clientFlight5 = r.transmissions.filter(
      (t) => t.from === 'client' && hasChangeCipherSpecDesc(t.description),
    );
    assert.equal(serverFlight6.length, 2, `cookies=${cookies}\n${sim.formatLog()}`);
    assert.equal(serverFlight6[0]!.fate, 'scripted');
    assert.equal(serverFlight6[1]!.fate, 'delivered');
    // The client's timer resends flight 5 one initial interval later; the server answers it with flight 6.
    const flight5First = clientFlight5[0]!.time;
    assert.equal(clientFlight5.length, 2, sim.formatLog());
    assert.equal(clientFlight5[1]!.time, flight5First + 1000);
    assert.equal(serverFlight6[1]!.time, flight5First + 1010);
    assert.equal(r.clientConnectedAt, flight5First + 1020);
    assert.equal(sim.serverConnection!.stats.retransmissions, 1);
    // Keys still agree after the retransmissions.
    assert.ok(
      client
        .exportKeyingMaterial('EXTRACTOR-dtls_srtp', 60)
        .equals(sim.serverConnection!.exportKeyingMaterial('EXTRACTOR-dtls_srtp', 60)),
    );
  }
});

function hasChangeCipherSpecDesc(description: string): boolean {
  return / ccs0\b/.test(description);
}

test('determinism: the same seed twice gives the same datagram sizes and times', () => {
  // RSA identity: ECDSA signatures vary in DER length with OpenSSL's random nonce (node has no RFC 6979
  // option), which would change sizes; RSA-PSS signatures are always the modulus length.
  const run = () =>
    runOne({
      scenario: 'determinism',
      seed: 4242,
      profile: 'rsa-gcm',
      cookies: true,
      link: { latencyMs: 20, jitterMs: 60, loss: 0.3, duplicate: 0.1, truncate: 0.05 },
      patient: true,
    }).transmissions.map((t) => `${t.time}:${t.from}:${t.size}:${t.fate}:${t.duplicated}:${t.truncatedTo}`);
  const a = run();
  const b = run();
  assert.ok(a.length > 10);
  assert.deepEqual(a, b);
  const c = runOne({
    scenario: 'determinism',
    seed: 4243,
    profile: 'rsa-gcm',
    cookies: true,
    link: { latencyMs: 20, jitterMs: 60, loss: 0.3, duplicate: 0.1, truncate: 0.05 },
    patient: true,
  }).transmissions.map((t) => `${t.time}:${t.from}:${t.size}:${t.fate}:${t.duplicated}:${t.truncatedTo}`);
  assert.notDeepEqual(a, c, 'another seed gives another run');
});

test('raw DtlsConnections (no endpoint) handshake over a lossy link', () => {
  for (let seed = 0; seed < 20; seed++) {
    const cred = ecdsa;
    const client = DtlsConnection.client(
      { ...cred.trust, ...PATIENT, random: seededRandom(`raw${seed}/c`) },
      0,
    );
    const server = new RawServer({
      identity: cred.identity,
      ...PATIENT,
      random: seededRandom(`raw${seed}/s`),
    });
    const link: LinkOptions = { latencyMs: 5, jitterMs: 30, loss: 0.2, duplicate: 0.05 };
    const sim = new Simulation(client, server, { seed, clientToServer: link, serverToClient: link });
    const r = sim.run();
    assert.ok(
      r.clientConnected && r.serverConnected,
      `raw seed ${seed}: ${sim.summary()}\n${sim.formatLog()}`,
    );
    assert.ok(server.connection);
    assert.ok(
      client
        .exportKeyingMaterial('EXTRACTOR-dtls_srtp', 60)
        .equals(server.connection.exportKeyingMaterial('EXTRACTOR-dtls_srtp', 60)),
    );
    assert.ok(sim.sendApplicationData('client', Buffer.from('ping')));
    assert.ok(sim.sendApplicationData('server', Buffer.from('pong')));
  }
});
