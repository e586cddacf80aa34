/**
 * Hostile and broken input. RFC 6347 §4.1.2.7: invalid records (bad MAC, malformed, replayed, unknown
 * epoch) are discarded silently; the association survives and the drops are counted. Certificate
 * failures end the handshake with the alert RFC 5246 §7.2.2 names, on both sides. And no datagram, at
 * any handshake state, makes the engine throw or fail with an internal error.
 */
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { type GeneratedCertificate, generateCertificate } from '../../src/cert/generate.js';
import { seededRandom } from '../../src/crypto/random.js';
import type { EngineConfig } from '../../src/engine/config.js';
import { DtlsConnection } from '../../src/engine/connection.js';
import type { DtlsEvent } from '../../src/engine/events.js';
import { DtlsServerEndpoint, type ServerEndpointConfig } from '../../src/engine/server-endpoint.js';
import { AlertDescription, AlertLevel, encodeAlert } from '../../src/wire/alert.js';
import { ContentType, HandshakeType, ProtocolVersion } from '../../src/wire/constants.js';
import { encodeHandshakeFragment } from '../../src/wire/handshake-header.js';
import { encodeRecord, parseDatagram } from '../../src/wire/record.js';
import { hasChangeCipherSpec, mulberry32, RawServer, Simulation } from '../sim/network.js';

let server: GeneratedCertificate;
let other: GeneratedCertificate;
let ca: GeneratedCertificate;
let otherCa: GeneratedCertificate;
let leaf: GeneratedCertificate;
let expired: GeneratedCertificate;

before(async () => {
  [server, other, ca, otherCa] = await Promise.all([
    generateCertificate({ keyType: 'ecdsa-p256', commonName: 'bad-input-server' }),
    generateCertificate({ keyType: 'ecdsa-p256', commonName: 'someone-else' }),
    generateCertificate({ keyType: 'ecdsa-p256', commonName: 'Test CA', isCA: true }),
    generateCertificate({ keyType: 'ecdsa-p256', commonName: 'Other CA', isCA: true }),
  ]);
  [leaf, expired] = await Promise.all([
    generateCertificate({ keyType: 'ecdsa-p256', commonName: 'leaf.test', issuer: ca }),
    generateCertificate({
      keyType: 'ecdsa-p256',
      commonName: 'expired.test',
      notBefore: new Date('2020-01-01T00:00:00Z'),
      notAfter: new Date('2020-06-01T00:00:00Z'),
    }),
  ]);
});

/** A connected raw client/server pair over a perfect simulated link. */
function connectedPair(tag: string): { sim: Simulation; client: DtlsConnection; server: DtlsConnection } {
  const client = DtlsConnection.client(
    { fingerprints: [server.fingerprint], random: seededRandom(`${tag}/c`) },
    0,
  );
  const raw = new RawServer({
    identity: { certificateChain: [server.der], privateKey: server.privateKey },
    random: seededRandom(`${tag}/s`),
  });
  const sim = new Simulation(client, raw, { seed: 1 });
  const r = sim.run();
  assert.ok(r.clientConnected && r.serverConnected, sim.summary());
  return { sim, client, server: raw.connection! };
}

/** A sealed application record from `from`, taken off the wire instead of delivered. */
function sealed(from: DtlsConnection, data: string, now: number): Buffer {
  from.send(Buffer.from(data), now);
  const d = from.pollTransmit();
  assert.ok(d);
  assert.equal(from.pollTransmit(), undefined);
  return d;
}

function events(c: DtlsConnection): DtlsEvent[] {
  const out: DtlsEvent[] = [];
  for (let e = c.pollEvent(); e; e = c.pollEvent()) out.push(e);
  return out;
}

function assertNoDataOrFailure(evs: DtlsEvent[], what: string): void {
  for (const e of evs) {
    assert.notEqual(e.type, 'data', `${what} produced data`);
    assert.notEqual(e.type, 'failed', `${what} failed the connection`);
    assert.notEqual(e.type, 'closed', `${what} closed the connection`);
  }
}

/** The connection still carries data from its peer (and so was not disturbed). */
function assertStillWorks(from: DtlsConnection, to: DtlsConnection, now: number): void {
  const msg = `still alive at ${now}`;
  to.handleDatagram(sealed(from, msg, now), now);
  const got = events(to).filter((e) => e.type === 'data');
  assert.equal(got.length, 1);
  assert.equal(got[0]!.type === 'data' && got[0]!.data.toString(), msg);
  assert.equal(to.state, 'connected');
}

test('invalid records after the handshake are dropped silently and counted', () => {
  const { client, server } = connectedPair('drops');
  events(client);
  events(server);
  const rnd = mulberry32(99);
  const base = { ...client.record.drops };
  const statsBefore = { ...client.stats };
  let now = 1000;

  // Garbage datagrams.
  for (let i = 0; i < 50; i++) {
    const junk = Buffer.from(Array.from({ length: Math.floor(rnd() * 200) }, () => Math.floor(rnd() * 256)));
    assert.doesNotThrow(() => client.handleDatagram(junk, now++));
  }
  assertNoDataOrFailure(events(client), 'garbage');
  const afterGarbage = { ...client.record.drops };
  assert.ok(afterGarbage.malformed > base.malformed, 'garbage counted as malformed');

  // Truncated datagrams: a real record cut at every length.
  const good = sealed(server, 'to be truncated', now);
  for (let n = 0; n < good.length; n++) client.handleDatagram(good.subarray(0, n), now);
  assertNoDataOrFailure(events(client), 'truncated');
  assert.ok(client.record.drops.malformed >= afterGarbage.malformed + good.length - 1);

  // A flipped bit in the AEAD tag (and in the ciphertext).
  const tagFlip = sealed(server, 'bad mac', now);
  tagFlip[tagFlip.length - 1]! ^= 0x01;
  client.handleDatagram(tagFlip, now);
  const bodyFlip = sealed(server, 'bad body', now);
  bodyFlip[13 + 8 + 2]! ^= 0x80;
  client.handleDatagram(bodyFlip, now);
  assertNoDataOrFailure(events(client), 'flipped bit');
  assert.equal(client.record.drops.badMac, base.badMac + 2);

  // A replayed record: delivered once, its copy is dropped.
  const once = sealed(server, 'only once', now);
  client.handleDatagram(once, now);
  const first = events(client).filter((e) => e.type === 'data');
  assert.equal(first.length, 1);
  const replayedBefore = client.record.drops.replayed;
  client.handleDatagram(Buffer.from(once), now + 1);
  assertNoDataOrFailure(events(client), 'replay');
  assert.equal(client.record.drops.replayed, replayedBefore + 1);

  // A record of an epoch that does not exist.
  const wrongEpoch = sealed(server, 'epoch 7', now);
  wrongEpoch.writeUInt16BE(7, 3);
  const unknownBefore = client.record.drops.unknownEpoch;
  client.handleDatagram(wrongEpoch, now);
  assertNoDataOrFailure(events(client), 'unknown epoch');
  assert.equal(client.record.drops.unknownEpoch, unknownBefore + 1);

  // application_data in epoch 0 (no protection: never legitimate).
  const plain = encodeRecord(
    { type: ContentType.application_data, version: ProtocolVersion.DTLS1_2, epoch: 0, sequenceNumber: 1000 },
    Buffer.from('plaintext injection'),
  );
  client.handleDatagram(plain, now);
  assertNoDataOrFailure(events(client), 'epoch-0 application data');
  assert.equal(client.record.drops.unknownEpoch, unknownBefore + 2);

  // A forged plaintext fatal alert, and a forged epoch-0 handshake message, after the handshake.
  const forgedAlert = encodeRecord(
    { type: ContentType.alert, version: ProtocolVersion.DTLS1_2, epoch: 0, sequenceNumber: 1001 },
    encodeAlert({ level: AlertLevel.fatal, description: AlertDescription.handshake_failure }),
  );
  client.handleDatagram(forgedAlert, now);
  const forgedHello = encodeRecord(
    { type: ContentType.handshake, version: ProtocolVersion.DTLS1_2, epoch: 0, sequenceNumber: 1002 },
    encodeHandshakeFragment({
      msgType: HandshakeType.hello_request,
      length: 0,
      messageSeq: 9,
      fragmentOffset: 0,
      body: Buffer.alloc(0),
    }),
  );
  client.handleDatagram(forgedHello, now);
  assertNoDataOrFailure(events(client), 'forged epoch-0 alert/handshake');

  // The counters the user sees moved accordingly.
  assert.ok(client.stats.recordsDropped > statsBefore.recordsDropped + 50);
  assert.ok(client.stats.datagramsIn > statsBefore.datagramsIn + 50);
  assert.equal(client.state, 'connected');
  assertStillWorks(server, client, now + 10);
  assertStillWorks(client, server, now + 20);
});

test('the server side drops the same kinds of invalid records', () => {
  const { client, server } = connectedPair('drops-server');
  events(server);
  const good = sealed(client, 'x', 10);
  const flipped = Buffer.from(good);
  flipped[flipped.length - 3]! ^= 0x10;
  server.handleDatagram(flipped, 10);
  server.handleDatagram(good.subarray(0, good.length - 1), 10);
  server.handleDatagram(good, 10);
  server.handleDatagram(good, 11);
  const evs = events(server);
  assert.equal(evs.filter((e) => e.type === 'data').length, 1);
  assert.equal(evs.filter((e) => e.type === 'failed').length, 0);
  assert.equal(server.record.drops.badMac, 1);
  assert.equal(server.record.drops.replayed, 1);
  assert.ok(server.record.drops.malformed >= 1);
  assertStillWorks(client, server, 20);
});

/** Run a handshake with the endpoint; return the failure events of both sides. */
function failingHandshake(
  clientConfig: Omit<EngineConfig, 'role'>,
  serverConfig: Partial<ServerEndpointConfig>,
  tag: string,
): { clientError: DtlsEvent | undefined; serverError: DtlsEvent | undefined; sim: Simulation } {
  const client = DtlsConnection.client({ random: seededRandom(`${tag}/c`), ...clientConfig }, 0);
  const endpoint = new DtlsServerEndpoint({
    identity: { certificateChain: [server.der], privateKey: server.privateKey },
    // No NewSessionTicket in flight 6: a mutated copy of the server's ChangeCipherSpec must be able to
    // open epoch 1 for the forged records to reach authentication.
    tickets: false,
    random: seededRandom(`${tag}/s`),
    ...serverConfig,
  });
  const sim = new Simulation(client, endpoint, { seed: 5 });
  sim.run((s) => s.ended('client') && s.ended('server'));
  const find = (side: 'client' | 'server') => sim.events[side].find((e) => e.event.type === 'failed')?.event;
  return { clientError: find('client'), serverError: find('server'), sim };
}

function assertFailure(e: DtlsEvent | undefined, code: string, how: 'sent' | 'received', log: string): void {
  assert.ok(e && e.type === 'failed', `no failure\n${log}`);
  assert.equal(e.error.code, code, log);
  if (how === 'sent') assert.ok(e.error.alertSent, 'alert sent');
  else assert.ok(e.error.alertReceived, 'alert received');
}

test('a server certificate not matching the pinned fingerprint: bad_certificate on both sides', () => {
  const { clientError, serverError, sim } = failingHandshake(
    { fingerprints: [other.fingerprint] },
    {},
    'pin',
  );
  assertFailure(clientError, 'bad_certificate', 'sent', sim.formatLog());
  assertFailure(serverError, 'bad_certificate', 'received', sim.formatLog());
  assert.equal(sim.client.state, 'failed');
});

test('a server certificate from a CA the client does not trust: unknown_ca', () => {
  const { clientError, serverError, sim } = failingHandshake(
    { ca: [otherCa.cert] },
    { identity: { certificateChain: [leaf.der, ca.der], privateKey: leaf.privateKey } },
    'unknown-ca',
  );
  assertFailure(clientError, 'unknown_ca', 'sent', sim.formatLog());
  assertFailure(serverError, 'unknown_ca', 'received', sim.formatLog());
});

test('the same chain with the right CA connects (control for unknown_ca)', () => {
  const client = DtlsConnection.client({ ca: [ca.cert], random: seededRandom('ca-ok/c') }, 0);
  const endpoint = new DtlsServerEndpoint({
    identity: { certificateChain: [leaf.der, ca.der], privateKey: leaf.privateKey },
    random: seededRandom('ca-ok/s'),
  });
  const sim = new Simulation(client, endpoint, { seed: 6 });
  const r = sim.run();
  assert.ok(r.clientConnected && r.serverConnected, sim.formatLog());
});

test('an expired server certificate: certificate_expired', () => {
  const { clientError, serverError, sim } = failingHandshake(
    { ca: [expired.cert] },
    { identity: { certificateChain: [expired.der], privateKey: expired.privateKey } },
    'expired',
  );
  assertFailure(clientError, 'certificate_expired', 'sent', sim.formatLog());
  assertFailure(serverError, 'certificate_expired', 'received', sim.formatLog());
});

test('a server requiring a client certificate from a client without one: handshake_failure', () => {
  const { clientError, serverError, sim } = failingHandshake(
    { fingerprints: [server.fingerprint] },
    { clientCertificate: 'require', fingerprints: [other.fingerprint] },
    'require-cert',
  );
  assertFailure(serverError, 'handshake_failure', 'sent', sim.formatLog());
  assertFailure(clientError, 'handshake_failure', 'received', sim.formatLog());
});

// ---- random datagrams at every handshake state ------------------------------------------------------

type StateName =
  | 'client: ClientHello sent'
  | 'client: cookie ClientHello sent'
  | 'client: flight 5 sent'
  | 'client: connected'
  | 'server: flight 4 sent'
  | 'server: connected';

/** Drive a fresh handshake (cookies on) to the state, and return the connection to attack. */
function reachState(state: StateName, n: number): DtlsConnection {
  const client = DtlsConnection.client(
    { fingerprints: [server.fingerprint], random: seededRandom(`fz${n}/c`) },
    0,
  );
  const endpoint = new DtlsServerEndpoint({
    identity: { certificateChain: [server.der], privateKey: server.privateKey },
    // No NewSessionTicket in flight 6: a mutated copy of the server's ChangeCipherSpec must be able to
    // open epoch 1 for the forged records to reach authentication.
    tickets: false,
    random: seededRandom(`fz${n}/s`),
  });
  const sim = new Simulation(client, endpoint, { seed: n });
  const sentBy = (side: 'client' | 'server', pred: (d: string) => boolean) =>
    sim.transmissions.some((t) => t.from === side && pred(t.description));
  const stopAt: Record<StateName, (s: Simulation) => boolean> = {
    'client: ClientHello sent': () => true,
    'client: cookie ClientHello sent': () => sentBy('client', (d) => d.includes('client_hello#1')),
    'client: flight 5 sent': () => sentBy('client', (d) => / ccs0/.test(d)),
    'client: connected': (s) => s.bothConnected(),
    'server: flight 4 sent': () => sentBy('server', (d) => d.includes('server_hello')),
    'server: connected': (s) => s.bothConnected(),
  };
  sim.run(stopAt[state]);
  const target = state.startsWith('client') ? client : sim.serverConnection!;
  assert.ok(target, `no connection for ${state}`);
  const expected = state.endsWith('connected') ? 'connected' : 'handshaking';
  assert.equal(target.state, expected, `${state}: ${sim.summary()}`);
  return target;
}

/** Seeded hostile datagrams: random bytes, plausible records, plausible handshake fragments, mixes. */
function hostileDatagram(rnd: () => number, realSamples: Buffer[], counter: { seq: number }): Buffer {
  const byte = () => Math.floor(rnd() * 256);
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, byte));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  // Increasing sequence numbers, so forged records keep passing the replay window and reach the handshake
  // layer (one accepted epoch-0 record with a huge number would make every later one look replayed).
  const seq = () => {
    const b = Buffer.alloc(6);
    b.writeUIntBE(counter.seq++, 0, 6);
    return b;
  };
  const record = (type: number, epoch: number, fragment: Buffer) =>
    Buffer.concat([
      Buffer.from([type]),
      Buffer.from(
        pick([
          [0xfe, 0xfd],
          [0xfe, 0xfd],
          [0xfe, 0xff],
          [0x03, 0x03],
          [byte(), byte()],
        ]),
      ),
      Buffer.from([epoch >> 8, epoch & 0xff]),
      seq(),
      Buffer.from([fragment.length >> 8, fragment.length & 0xff]),
      fragment,
    ]);
  const handshakeFragment = () => {
    const length = pick([0, 1, 2, 12, 40, 100, byte() * 256 + byte()]);
    const offset = rnd() < 0.6 ? 0 : Math.floor(rnd() * (length + 1));
    const fragLength = Math.min(length - offset, Math.floor(rnd() * 120));
    const header = Buffer.from([
      pick([0, 1, 2, 3, 4, 11, 12, 13, 14, 15, 16, 20, byte()]),
      length >> 16,
      (length >> 8) & 0xff,
      length & 0xff,
      0,
      pick([0, 1, 2, 3, 4, 5, 6, byte()]),
      offset >> 16,
      (offset >> 8) & 0xff,
      offset & 0xff,
      fragLength >> 16,
      (fragLength >> 8) & 0xff,
      fragLength & 0xff,
    ]);
    return Buffer.concat([header, bytes(Math.max(0, fragLength))]);
  };
  const kind = rnd();
  if (kind < 0.25) return bytes(Math.floor(rnd() * 300));
  if (kind < 0.45) {
    const type = pick([20, 21, 22, 23, 24, 25, 26, byte()]);
    return record(type, pick([0, 1, 2, byte()]), bytes(Math.floor(rnd() * 120)));
  }
  if (kind < 0.6) {
    // A plausible handshake record in epoch 0 or 1 (the latter cannot authenticate).
    return record(22, rnd() < 0.85 ? 1 : 0, handshakeFragment());
  }
  if (kind < 0.7) return record(22, 0, handshakeFragment());
  if (kind < 0.8) {
    // A few records back to back, the last maybe cut short.
    const parts = Array.from({ length: 1 + Math.floor(rnd() * 4) }, () =>
      record(
        pick([20, 21, 22, 23]),
        pick([0, 1]),
        rnd() < 0.5 ? handshakeFragment() : bytes(Math.floor(rnd() * 60)),
      ),
    );
    const all = Buffer.concat(parts);
    return rnd() < 0.5 ? all : all.subarray(0, Math.floor(rnd() * all.length));
  }
  if (kind < 0.85) {
    // Alerts and ChangeCipherSpecs in odd shapes.
    return record(pick([20, 21]), pick([0, 1]), bytes(pick([0, 1, 2, 3])));
  }
  // Mutations of real traffic: bit flips, truncation, splices.
  const sample = realSamples.length > 0 ? Buffer.from(pick(realSamples)) : bytes(100);
  const flips = 1 + Math.floor(rnd() * 4);
  for (let i = 0; i < flips && sample.length > 0; i++) {
    const at = Math.floor(rnd() * sample.length);
    // Not in the first record's sequence number: one accepted epoch-0 record with a huge number would
    // make every later record look replayed, and the rest of the run would test nothing.
    if (at >= 5 && at < 11) continue;
    sample[at]! ^= 1 << Math.floor(rnd() * 8);
  }
  if (rnd() < 0.3) return sample.subarray(0, Math.floor(rnd() * sample.length));
  if (rnd() < 0.2) return Buffer.concat([sample, bytes(Math.floor(rnd() * 50))]);
  return sample;
}

/** Real datagrams of a handshake, to mutate. */
function realTraffic(): Buffer[] {
  const client = DtlsConnection.client(
    { fingerprints: [server.fingerprint], random: seededRandom('traffic/c') },
    0,
  );
  const endpoint = new DtlsServerEndpoint({
    identity: { certificateChain: [server.der], privateKey: server.privateKey },
    // No NewSessionTicket in flight 6: a mutated copy of the server's ChangeCipherSpec must be able to
    // open epoch 1 for the forged records to reach authentication.
    tickets: false,
    random: seededRandom('traffic/s'),
  });
  const out: Buffer[] = [];
  const sim = new Simulation(client, endpoint, {
    seed: 77,
    clientToServer: {
      drop: (d) => {
        out.push(Buffer.from(d.data));
        return false;
      },
    },
    serverToClient: {
      drop: (d) => {
        out.push(Buffer.from(d.data));
        return false;
      },
    },
  });
  sim.run();
  assert.ok(out.length >= 5 && out.some(hasChangeCipherSpec));
  return out;
}

const STATES: StateName[] = [
  'client: ClientHello sent',
  'client: cookie ClientHello sent',
  'client: flight 5 sent',
  'client: connected',
  'server: flight 4 sent',
  'server: connected',
];

for (const [index, state] of STATES.entries()) {
  test(`5,000 random datagrams never throw or fail internally (${state})`, () => {
    const samples = realTraffic();
    const rnd = mulberry32(0xbad + index);
    let rebuilt = 0;
    // Forged epoch-1 records that failed authentication, over every target (a mutated copy of the
    // peer's ChangeCipherSpec + Finished, seen twice, ends a handshake with bad_record_mac by design).
    let badMacSeen = 0;
    let n = 0;
    let target = reachState(state, n);
    // Start above the sequence numbers the real handshake used.
    let counter = { seq: 50 };
    const connectedState = state.endsWith('connected');
    const failures = new Map<string, number>();
    for (let i = 0; i < 5000; i++) {
      const d = hostileDatagram(rnd, samples, counter);
      try {
        target.handleDatagram(d, 100 + i);
      } catch (e) {
        assert.fail(`${state}: datagram ${i} threw ${String(e)}: ${d.toString('hex')}`);
      }
      for (let e = target.pollEvent(); e; e = target.pollEvent()) {
        assert.notEqual(
          e.type,
          'data',
          `${state}: datagram ${i} produced application data: ${d.toString('hex')}`,
        );
        if (e.type === 'failed') {
          assert.notEqual(
            e.error.code,
            'internal_error',
            `${state}: datagram ${i}: ${e.error.message}: ${d.toString('hex')}`,
          );
          // After the handshake, nothing unauthenticated may end the association (RFC 6347 §4.1.2.7).
          assert.ok(
            !connectedState,
            `${state}: datagram ${i} failed the connection: ${e.error.code} ${d.toString('hex')}`,
          );
          failures.set(e.error.code, (failures.get(e.error.code) ?? 0) + 1);
        }
        if (e.type === 'closed') assert.ok(!connectedState, `${state}: datagram ${i} closed the connection`);
      }
      while (target.pollTransmit()) {
        // whatever it answers (alerts, retransmissions) goes nowhere
      }
      if (target.state === 'failed' || target.state === 'closed') {
        badMacSeen += target.record.drops.badMac;
        rebuilt++;
        target = reachState(state, ++n);
        counter = { seq: 50 };
      }
    }
    // After the handshake nothing may end it. Before, a forged plaintext message can (unexpected_message
    // and the like, never internal_error), but only rarely: most garbage must be dropped as such.
    if (connectedState) assert.equal(rebuilt, 0);
    assert.ok(rebuilt < 50, `${state}: ${rebuilt} failures ${JSON.stringify([...failures])}`);
    const drops = target.record.drops;
    assert.ok(drops.malformed > 0 && drops.replayed > 0, `${state}: ${JSON.stringify(drops)}`);
    // Once epoch-1 read keys exist, forged epoch-1 records must have reached authentication and failed it.
    if (state === 'client: flight 5 sent' || connectedState) {
      assert.ok(drops.badMac + badMacSeen > 0, `${state}: forged epoch-1 records reached authentication`);
    }
  });
}

test('5,000 random datagrams from random addresses to a server endpoint create no peers', () => {
  const samples = realTraffic();
  const rnd = mulberry32(0xe9d);
  const counter = { seq: 0 };
  const endpoint = new DtlsServerEndpoint({
    identity: { certificateChain: [server.der], privateKey: server.privateKey },
    // No NewSessionTicket in flight 6: a mutated copy of the server's ChangeCipherSpec must be able to
    // open epoch 1 for the forged records to reach authentication.
    tickets: false,
    random: seededRandom('endpoint-fuzz'),
  });
  for (let i = 0; i < 5000; i++) {
    const d = hostileDatagram(rnd, samples, counter);
    const peer = { address: `127.0.0.${1 + Math.floor(rnd() * 8)}`, port: 1000 + Math.floor(rnd() * 8) };
    assert.doesNotThrow(() => endpoint.handleDatagram(d, peer, i));
    for (let t = endpoint.pollTransmit(); t; t = endpoint.pollTransmit()) {
      // Only HelloVerifyRequests may go out, never larger than what came in.
      assert.ok(t.data.length <= d.length, `answer of ${t.data.length} to ${d.length} bytes`);
      assert.equal(parseDatagram(t.data).records[0]?.type, ContentType.handshake);
    }
  }
  assert.equal(endpoint.peerCount, 0);
  assert.doesNotThrow(() => endpoint.handleTimeout(10_000));
});
