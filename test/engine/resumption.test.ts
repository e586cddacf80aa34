/**
 * Session resumption in the sans-IO engine (RFC 5246 §7.3 abbreviated handshake, RFC 5077 tickets,
 * RFC 7627 §5.3 extended master secret rules), driven over the lossless simulated network with a
 * virtual monotonic clock and a virtual wall clock (`wall`) that the tests move to age sessions.
 *
 * What must hold: a session resumes by ID and by ticket, across server endpoints that share the ticket
 * secret; everything a server cannot or must not resume (expired, retired key, tampered, unknown,
 * suite no longer offered, EMS downgrade) falls back to a full handshake that still succeeds, except
 * the one case RFC 7627 §5.3 makes fatal; resumed connections keep the peer's identity but get fresh
 * keys.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { type GeneratedCertificate, generateCertificate } from '../../src/cert/generate.js';
import { systemRandom } from '../../src/crypto/random.js';
import { suiteByName } from '../../src/crypto/suites.js';
import type { EngineConfig } from '../../src/engine/config.js';
import { DtlsConnection } from '../../src/engine/connection.js';
import type { ConnectionInfo, DtlsEvent } from '../../src/engine/events.js';
import {
  type ClientSession,
  decodeSessionState,
  deserializeSession,
  encodeSessionState,
  SessionCache,
  type SessionState,
  serializeSession,
  TicketKeyring,
} from '../../src/engine/resumption.js';
import {
  DtlsServerEndpoint,
  type PeerAddress,
  type ServerEndpointConfig,
} from '../../src/engine/server-endpoint.js';
import { decodeClientHello, encodeClientHello } from '../../src/wire/client-hello.js';
import { ContentType, ExtensionType, HandshakeType } from '../../src/wire/constants.js';
import { findExtension } from '../../src/wire/extensions.js';
import { encodeHandshakeMessage, parseHandshakeFragments } from '../../src/wire/handshake-header.js';
import { encodeRecord, parseDatagram } from '../../src/wire/record.js';
import { type SimResult, Simulation } from '../sim/network.js';

let serverCert: GeneratedCertificate;
let clientCert: GeneratedCertificate;
let namingCa: GeneratedCertificate;
/** Signed by namingCa, valid for the name a.test only. */
let aTestCert: GeneratedCertificate;

before(async () => {
  [serverCert, clientCert, namingCa] = await Promise.all([
    generateCertificate({ keyType: 'ecdsa-p256', commonName: 'resumption server' }),
    generateCertificate({ keyType: 'ecdsa-p256', commonName: 'resumption client' }),
    generateCertificate({ keyType: 'ecdsa-p256', commonName: 'resumption naming CA', isCA: true }),
  ]);
  aTestCert = await generateCertificate({
    keyType: 'ecdsa-p256',
    commonName: 'a.test',
    subjectAltNames: ['a.test'],
    issuer: namingCa,
  });
});

/** Virtual wall clock (ms) shared by every client and server here: sessions and tickets age with it. */
let wall = 1_750_000_000_000;
/** Virtual monotonic clock: each simulated exchange starts after the previous one ended. */
let clock = 0;
/** Each exchange comes from its own client port, so the endpoint never takes it for a rebooted peer. */
let nextPort = 42_000;

const EXPORTER_LABEL = 'EXPERIMENTAL-tsdtls-resumption';
const AES128_GCM = 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256';
const CHACHA = 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256';

function server(extra: Partial<ServerEndpointConfig> = {}): DtlsServerEndpoint {
  return new DtlsServerEndpoint({
    identity: { certificateChain: [serverCert.der], privateKey: serverCert.privateKey },
    wallClock: () => wall,
    ...extra,
  });
}

type ClientOptions = Omit<EngineConfig, 'role'>;

function client(extra: ClientOptions = {}): DtlsConnection {
  return DtlsConnection.client(
    { fingerprints: [serverCert.fingerprint], wallClock: () => wall, ...extra },
    clock,
  );
}

interface Exchange {
  sim: Simulation;
  result: SimResult;
  client: DtlsConnection;
  serverConnection: DtlsConnection | undefined;
  clientInfo: ConnectionInfo | undefined;
  serverInfo: ConnectionInfo | undefined;
  /** The last session the client reported (`session` event). */
  session: ClientSession | undefined;
  clientFailure: Extract<DtlsEvent, { type: 'failed' }>['error'] | undefined;
  serverFailure: Extract<DtlsEvent, { type: 'failed' }>['error'] | undefined;
  /** Every datagram the client sent, in order. */
  clientDatagrams: Buffer[];
  /** Handshake messages (and change_cipher_spec) the server sent, first transmissions only. */
  serverSent: string[];
}

/** One handshake over a clean simulated link between a new client and `endpoint`. */
function exchange(endpoint: DtlsServerEndpoint, clientOptions: ClientOptions = {}): Exchange {
  const c = client(clientOptions);
  const clientDatagrams: Buffer[] = [];
  const sim = new Simulation(c, endpoint, {
    seed: 7,
    startTime: clock,
    maxTimeMs: clock + 5 * 60_000,
    clientAddress: { address: '127.0.0.1', port: nextPort++, family: 'IPv4' },
    clientToServer: {
      drop: (d) => {
        clientDatagrams.push(Buffer.from(d.data));
        return false;
      },
    },
  });
  const result = sim.run();
  clock = sim.now + 1000;
  const find = <T extends DtlsEvent['type']>(events: SimResult['clientEvents'], type: T) =>
    events.map((e) => e.event).filter((e): e is Extract<DtlsEvent, { type: T }> => e.type === type);
  return {
    sim,
    result,
    client: c,
    serverConnection: sim.serverConnection,
    clientInfo: find(result.clientEvents, 'connected')[0]?.info,
    serverInfo: find(result.serverEvents, 'connected')[0]?.info,
    session: find(result.clientEvents, 'session').at(-1)?.session,
    clientFailure: find(result.clientEvents, 'failed')[0]?.error,
    serverFailure: find(result.serverEvents, 'failed')[0]?.error,
    clientDatagrams,
    serverSent: find(result.serverEvents, 'handshake')
      .filter((e) => e.trace.direction === 'sent' && !e.trace.retransmission)
      .map((e) => e.trace.message),
  };
}

function describeExchange(x: Exchange): string {
  return `${x.sim.summary()}\n${x.sim.formatLog()}`;
}

/** Both sides connected; returns whether the handshake was an abbreviated one (both sides must agree). */
function connected(x: Exchange): boolean {
  assert.ok(x.clientInfo && x.serverInfo, `handshake did not complete\n${describeExchange(x)}`);
  assert.equal(x.clientInfo.resumed, x.serverInfo.resumed, 'client and server disagree on resumption');
  return x.clientInfo.resumed;
}

/** A full handshake that must succeed, not resumed, and leave a session. */
function fullHandshake(endpoint: DtlsServerEndpoint, clientOptions: ClientOptions = {}): Exchange {
  const x = exchange(endpoint, clientOptions);
  assert.equal(connected(x), false, 'the first handshake must be a full one');
  assert.ok(x.session, 'the client reported no session after a full handshake');
  return x;
}

function assertResumed(x: Exchange, why: string): void {
  assert.equal(connected(x), true, `expected an abbreviated handshake: ${why}\n${describeExchange(x)}`);
  // RFC 5246 §7.3: ServerHello, [NewSessionTicket], ChangeCipherSpec, Finished; no key exchange at all.
  assert.equal(x.serverSent[0], 'server_hello');
  for (const m of ['certificate', 'server_key_exchange', 'server_hello_done', 'certificate_request']) {
    assert.ok(!x.serverSent.includes(m), `a resumed server sent ${m}: ${x.serverSent.join(', ')}`);
  }
  assert.deepEqual(x.serverSent.slice(-2), ['change_cipher_spec', 'finished']);
}

function assertFullFallback(x: Exchange, why: string): void {
  assert.equal(connected(x), false, `expected a full handshake: ${why}`);
  assert.ok(
    x.serverSent.includes('server_hello_done'),
    'a full handshake ends flight 4 with ServerHelloDone',
  );
  assert.equal(x.client.state, 'connected');
}

/** The ClientHello body in a client datagram (the first record, unfragmented). */
function clientHelloIn(datagram: Buffer) {
  const rec = parseDatagram(datagram).records[0]!;
  assert.equal(rec.type, ContentType.handshake);
  const [frag] = parseHandshakeFragments(rec.fragment);
  assert.equal(frag!.msgType, HandshakeType.client_hello);
  return decodeClientHello(frag!.body);
}

function exporter(c: DtlsConnection | undefined): Buffer {
  assert.ok(c, 'no connection');
  return c.exportKeyingMaterial(EXPORTER_LABEL, 32);
}

/** Application data both ways over a finished exchange. */
function assertDataFlows(x: Exchange, tag: string): void {
  for (const from of ['client', 'server'] as const) {
    const payload = Buffer.from(`${tag} from ${from}`);
    assert.equal(x.sim.sendApplicationData(from, payload, 200, 5), 1, `${from} data did not arrive`);
  }
}

describe('resumption by session ID (RFC 5246 §7.4.1.2) and by ticket (RFC 5077)', () => {
  test('by session ID: abbreviated handshake, same session, same peer, new keys, data flows', () => {
    const s = server({ tickets: false });
    const first = fullHandshake(s);
    assert.equal(first.session!.ticket, undefined, 'tickets are off: no ticket');
    assert.equal(first.session!.sessionId.length, 32);
    const second = exchange(s, { session: first.session });
    assertResumed(second, 'the server still has the session in its cache');
    assert.ok(!second.serverSent.includes('new_session_ticket'));
    // The ClientHello offered the session by its ID.
    assert.deepEqual(clientHelloIn(second.clientDatagrams[0]!).sessionId, first.session!.sessionId);
    assert.deepEqual(second.session?.sessionId, first.session!.sessionId, 'the session keeps its ID');
    assert.equal(second.clientInfo!.cipherSuite, first.clientInfo!.cipherSuite);
    assert.equal(second.clientInfo!.extendedMasterSecret, true);
    // The server's identity is still reported on the resumed connection.
    assert.deepEqual(second.clientInfo!.peerCertificate?.raw, serverCert.der);
    // Same master secret, new randoms: exporters agree across the connection and differ from the first.
    assert.deepEqual(exporter(second.client), exporter(second.serverConnection));
    assert.notDeepEqual(exporter(second.client), exporter(first.client));
    assertDataFlows(second, 'resumed by id');
    // And again: a session resumed once can be resumed again.
    assertResumed(exchange(s, { session: second.session }), 'a resumed session stays resumable');
  });

  test('by ticket with the session cache off: NewSessionTicket on both handshakes, data flows', () => {
    const s = server({ sessionCache: false });
    const first = fullHandshake(s);
    assert.ok(first.serverSent.includes('new_session_ticket'));
    assert.ok(first.session!.ticket && first.session!.ticket.length > 0, 'no ticket issued');
    assert.equal(first.session!.sessionId.length, 0, 'no cache: the server sends an empty session ID');
    assert.equal(first.session!.ticketLifetimeSeconds, 7200, 'lifetime hint is the 2 h default');
    const second = exchange(s, { session: first.session });
    assertResumed(second, 'the ticket opens on the server that sealed it');
    const hello = clientHelloIn(second.clientDatagrams[0]!);
    // RFC 5077 §3.4: with a ticket and no ID the client makes an ID up; the server echoes it to accept.
    assert.equal(hello.sessionId.length, 32);
    assert.deepEqual(findExtension(hello.extensions, ExtensionType.session_ticket), first.session!.ticket);
    assert.deepEqual(second.serverSent, [
      'server_hello',
      'new_session_ticket',
      'change_cipher_spec',
      'finished',
    ]);
    assert.ok(second.session?.ticket, 'a renewed ticket is kept');
    assert.notDeepEqual(second.session.ticket, first.session!.ticket, 'the renewed ticket is a new seal');
    assert.deepEqual(second.clientInfo!.peerCertificate?.raw, serverCert.der);
    assert.deepEqual(exporter(second.client), exporter(second.serverConnection));
    assert.notDeepEqual(exporter(second.client), exporter(first.client));
    assertDataFlows(second, 'resumed by ticket');
    assertResumed(exchange(s, { session: second.session }), 'the renewed ticket resumes too');
  });

  test('defaults (cache and tickets): the session resumes; requestTicket: false gets no ticket', () => {
    const s = server();
    const first = fullHandshake(s);
    assert.ok(first.session!.ticket);
    assert.equal(first.session!.sessionId.length, 32);
    assertResumed(exchange(s, { session: first.session }), 'default server');
    const noTicket = fullHandshake(s, { requestTicket: false });
    assert.equal(noTicket.session!.ticket, undefined);
    assert.ok(!noTicket.serverSent.includes('new_session_ticket'));
    assertResumed(exchange(s, { session: noTicket.session, requestTicket: false }), 'by ID only');
  });

  test('a session survives serializeSession/deserializeSession (what --sess-out/--sess-in store)', () => {
    const s = server();
    const first = fullHandshake(s);
    const text = serializeSession(first.session!);
    const back = deserializeSession(text);
    assert.deepEqual(back.sessionId, first.session!.sessionId);
    assert.deepEqual(back.ticket, first.session!.ticket);
    assert.deepEqual(back.state.masterSecret, first.session!.state.masterSecret);
    assert.deepEqual(back.state.peerCertificate, serverCert.der);
    assertResumed(exchange(s, { session: back }), 'a deserialized session');
    assert.throws(() => deserializeSession('{"format":"something else"}'), { code: 'invalid_argument' });
    assert.throws(() => deserializeSession('not json'), { code: 'invalid_argument' });
  });

  test('two endpoints sharing tickets.secret and a wall clock accept each other’s tickets', () => {
    const secret = Buffer.alloc(32, 0x5a);
    const a = server({ tickets: { secret }, sessionCache: false });
    const b = server({ tickets: { secret }, sessionCache: false });
    const first = fullHandshake(a);
    const onB = exchange(b, { session: first.session });
    assertResumed(onB, 'b derives the same ticket key from the shared secret');
    assertDataFlows(onB, 'resumed on b');
    // And b's renewed ticket works back on a.
    assertResumed(exchange(a, { session: onB.session }), 'a opens the ticket b sealed');
    // A server with another secret cannot open it: full handshake, transparently.
    const c = server({ tickets: { secret: Buffer.alloc(32, 0x33) }, sessionCache: false });
    const onC = exchange(c, { session: first.session });
    assertFullFallback(onC, 'another secret');
    assertDataFlows(onC, 'full on c');
  });
});

describe('fallbacks to a full handshake', () => {
  test('an expired ticket (wall clock past tickets.lifetimeMs)', () => {
    const s = server({ tickets: { lifetimeMs: 60_000 }, sessionCache: false });
    const first = fullHandshake(s);
    assert.equal(first.session!.ticketLifetimeSeconds, 60);
    wall += 59_000;
    assertResumed(exchange(s, { session: first.session }), 'still inside its lifetime');
    wall += 2_000;
    assertFullFallback(exchange(s, { session: first.session }), 'ticket 61 s old, lifetime 60 s');
  });

  test('a ticket under a retired key (two rotation periods later); the previous key still opens', () => {
    const rotationMs = 10_000;
    // Start at the beginning of a rotation period so "one period later" is unambiguous.
    wall = Math.ceil(wall / rotationMs) * rotationMs + 1;
    const s = server({ tickets: { rotationMs, lifetimeMs: 3_600_000 }, sessionCache: false });
    const first = fullHandshake(s);
    wall += rotationMs;
    assertResumed(exchange(s, { session: first.session }), 'sealed under the previous period’s key');
    wall += rotationMs;
    assertFullFallback(exchange(s, { session: first.session }), 'sealed two periods ago: key retired');
  });

  test('a tampered ticket (one byte flipped anywhere) with the cache off', () => {
    const s = server({ sessionCache: false });
    const first = fullHandshake(s);
    const ticket = first.session!.ticket!;
    // key name, nonce, ciphertext and tag: every part is authenticated.
    for (const at of [0, 20, 40, ticket.length - 1]) {
      const bad = Buffer.from(ticket);
      bad[at]! ^= 0x01;
      const x = exchange(s, { session: { ...first.session!, ticket: bad } });
      assertFullFallback(x, `ticket byte ${at} flipped`);
    }
    assertResumed(exchange(s, { session: first.session }), 'the untouched ticket still works');
    // The full handshake that replaced a bad ticket left a new session, which resumes.
    const bad = Buffer.from(ticket);
    bad[30]! ^= 0x80;
    const fallback = exchange(s, { session: { ...first.session!, ticket: bad } });
    assertFullFallback(fallback, 'tampered again');
    assert.notDeepEqual(fallback.session?.ticket, ticket);
    assertResumed(exchange(s, { session: fallback.session }), 'the ticket issued by the fallback');
  });

  test('a ticket the server cannot open is not resumed by the session ID beside it (RFC 5077 §3.4)', () => {
    // RFC 5077 §3.4: "If a ticket is presented by the client, the server MUST NOT attempt to use the
    // Session ID in the ClientHello for stateful session resumption." With the defaults (cache and
    // tickets both on) the client holds the server's real session ID next to its ticket.
    const s = server();
    const first = fullHandshake(s);
    assert.equal(first.session!.sessionId.length, 32);
    const bad = Buffer.from(first.session!.ticket!);
    bad[bad.length - 1]! ^= 0x01;
    assertFullFallback(exchange(s, { session: { ...first.session!, ticket: bad } }), 'tampered ticket');
  });

  test('an unknown session ID (a fresh server) and a ticket from a server that restarted', () => {
    const before = server({ tickets: false });
    const first = fullHandshake(before);
    const fresh = server({ tickets: false });
    const x = exchange(fresh, { session: first.session });
    assertFullFallback(x, 'unknown session ID');
    assert.notDeepEqual(x.session!.sessionId, first.session!.sessionId, 'a new session gets a new ID');
    assertDataFlows(x, 'after unknown id');
    // A restarted server with a random ticket secret cannot open the old tickets.
    const withTickets = server({ sessionCache: false });
    const t = fullHandshake(withTickets);
    assertFullFallback(exchange(server({ sessionCache: false }), { session: t.session }), 'restarted');
  });

  test('a session whose suite the client no longer offers is not offered at all', () => {
    const s = server();
    const first = fullHandshake(s, { cipherSuites: [AES128_GCM, CHACHA] });
    assert.equal(first.clientInfo!.cipherSuite, AES128_GCM);
    const x = exchange(s, { session: first.session, cipherSuites: [CHACHA] });
    assertFullFallback(x, 'suite not offered');
    assert.equal(x.clientInfo!.cipherSuite, CHACHA);
    const hello = clientHelloIn(x.clientDatagrams[0]!);
    assert.equal(hello.sessionId.length, 0, 'no session ID offered');
    assert.equal(
      findExtension(hello.extensions, ExtensionType.session_ticket)?.length,
      0,
      'empty ticket ext',
    );
  });

  test('a session whose suite the server no longer accepts (shared ticket secret)', () => {
    const secret = Buffer.alloc(32, 0x77);
    const a = server({ tickets: { secret }, cipherSuites: [AES128_GCM] });
    const first = fullHandshake(a);
    const b = server({ tickets: { secret }, cipherSuites: [CHACHA] });
    const x = exchange(b, { session: first.session });
    assertFullFallback(x, 'server dropped the suite');
    assert.equal(x.clientInfo!.cipherSuite, CHACHA);
    assert.equal(x.clientInfo!.cipherSuiteId, suiteByName(CHACHA)!.id);
  });

  test('session cache: maxEntries evicts the oldest session', () => {
    const s = server({ tickets: false, sessionCache: { maxEntries: 2 } });
    const a = fullHandshake(s);
    const b = fullHandshake(s);
    const c = fullHandshake(s);
    assertResumed(exchange(s, { session: c.session }), 'newest entry');
    assertResumed(exchange(s, { session: b.session }), 'second newest entry');
    assertFullFallback(exchange(s, { session: a.session }), 'evicted by the third session');
  });

  test('session cache: lifetimeMs expires a session', () => {
    const s = server({ tickets: false, sessionCache: { lifetimeMs: 60_000 } });
    const first = fullHandshake(s);
    wall += 59_000;
    assertResumed(exchange(s, { session: first.session }), 'inside the lifetime');
    wall += 2_000;
    assertFullFallback(exchange(s, { session: first.session }), '61 s old, lifetime 60 s');
  });

  test('SessionCache and TicketKeyring directly: bounds, lifetime, forgery', () => {
    const cache = new SessionCache({ maxEntries: 3, lifetimeMs: 1000 });
    const state: SessionState = {
      cipherSuite: 0xc02b,
      masterSecret: Buffer.alloc(48, 1),
      extendedMasterSecret: true,
      createdAt: 10_000,
    };
    for (let i = 0; i < 5; i++) cache.store(Buffer.from([i]), state);
    assert.equal(cache.size, 3);
    assert.equal(cache.lookup(Buffer.from([0]), 10_001), undefined);
    assert.equal(cache.lookup(Buffer.from([1]), 10_001), undefined);
    assert.ok(cache.lookup(Buffer.from([4]), 10_999));
    assert.equal(cache.lookup(Buffer.from([4]), 11_000), undefined);
    const ring = new TicketKeyring(
      { secret: Buffer.alloc(16, 9), rotationMs: 100, lifetimeMs: 1000 },
      systemRandom,
    );
    const t = ring.seal(state, 10_000);
    assert.deepEqual(ring.open(t, 10_050)?.masterSecret, state.masterSecret);
    assert.ok(ring.open(t, 10_199), 'previous period');
    assert.equal(ring.open(t, 10_200), undefined, 'two periods later');
    assert.equal(ring.open(t.subarray(0, 40), 10_050), undefined, 'truncated');
    assert.throws(() => new TicketKeyring({ secret: Buffer.alloc(8) }, systemRandom), {
      code: 'invalid_argument',
    });
    assert.deepEqual(decodeSessionState(encodeSessionState(state)), {
      ...state,
      peerCertificate: undefined,
      pskIdentity: undefined,
    });
  });
});

/** A ticket for `state`, sealed as the server with `secret` would seal it. */
function sealTicket(secret: Buffer, state: SessionState): Buffer {
  return new TicketKeyring({ secret }, systemRandom).seal(state, wall);
}

/** The client's ClientHello datagram with one extension removed (record and handshake lengths fixed). */
function withoutExtension(datagram: Buffer, type: number): Buffer {
  const rec = parseDatagram(datagram).records[0]!;
  const [frag] = parseHandshakeFragments(rec.fragment);
  const hello = decodeClientHello(frag!.body);
  const stripped = encodeClientHello({
    ...hello,
    extensions: hello.extensions!.filter((e) => e.type !== type),
  });
  return encodeRecord(
    { type: rec.type, version: rec.version, epoch: rec.epoch, sequenceNumber: rec.sequenceNumber },
    encodeHandshakeMessage(frag!.msgType, frag!.messageSeq, stripped),
  );
}

describe('RFC 7627 §5.3: extended master secret and resumption', () => {
  const secret = Buffer.alloc(32, 0x42);
  const masterSecret = Buffer.alloc(48, 0x11);
  const sessionWith = (ems: boolean, ticketEms = ems): ClientSession => {
    const state: SessionState = {
      cipherSuite: suiteByName(AES128_GCM)!.id,
      masterSecret,
      extendedMasterSecret: ems,
      createdAt: wall,
      peerCertificate: serverCert.der,
    };
    return {
      sessionId: Buffer.alloc(0),
      ticket: sealTicket(secret, { ...state, extendedMasterSecret: ticketEms }),
      state,
    };
  };

  test('control: the same crafted EMS session resumes (the ticket and master secret are good)', () => {
    const x = exchange(server({ tickets: { secret }, sessionCache: false }), { session: sessionWith(true) });
    assertResumed(x, 'EMS session, EMS ClientHello');
    assertDataFlows(x, 'crafted ems session');
  });

  test('a session made without EMS is not resumed into a connection with EMS: full handshake', () => {
    // "the server MUST NOT perform the abbreviated handshake. Instead, it SHOULD continue with a full
    // handshake". Our client always offers EMS, so only the server's check stops the resumption.
    const x = exchange(server({ tickets: { secret }, sessionCache: false }), { session: sessionWith(false) });
    assertFullFallback(x, 'non-EMS session offered with EMS');
    assert.equal(x.clientInfo!.extendedMasterSecret, true);
    assertDataFlows(x, 'after the non-EMS session');
  });

  test('an EMS session offered in a ClientHello without EMS: the server aborts with handshake_failure', () => {
    // "If the original session used the extension but the new ClientHello does not contain it, the
    // server MUST abort the abbreviated handshake" (abort = fatal handshake_failure, §5.2).
    const s = server({ tickets: { secret }, sessionCache: false, cookies: false });
    const c = client({ session: sessionWith(true) });
    const hello = c.pollTransmit()!;
    assert.ok(findExtension(clientHelloIn(hello).extensions, ExtensionType.extended_master_secret));
    const stripped = withoutExtension(hello, ExtensionType.extended_master_secret);
    assert.equal(
      findExtension(clientHelloIn(stripped).extensions, ExtensionType.extended_master_secret),
      undefined,
    );
    const peer: PeerAddress = { address: '127.0.0.1', port: nextPort++ };
    s.handleDatagram(stripped, peer, clock);
    const events: DtlsEvent[] = [];
    for (let e = s.pollEvent(); e; e = s.pollEvent()) if (e.type === 'connection-event') events.push(e.event);
    const failed = events.find((e) => e.type === 'failed');
    assert.ok(failed && failed.type === 'failed', 'the server did not fail the handshake');
    assert.equal(failed.error.code, 'handshake_failure');
    assert.equal(failed.error.alertSent, true);
    const out = [];
    for (let t = s.pollTransmit(); t; t = s.pollTransmit()) out.push(t.data);
    assert.equal(out.length, 1, 'only the fatal alert goes out: no ServerHello');
    const alert = parseDatagram(out[0]!).records[0]!;
    assert.equal(alert.type, ContentType.alert);
    assert.deepEqual([...alert.fragment], [2, 40], 'fatal handshake_failure');
  });

  test('the client aborts when the server resumes with an EMS state that differs from its session', () => {
    // "If the original session did not use the extension but the new ServerHello contains the extension,
    // the client MUST abort the handshake." Here the client's record says no EMS while the ticket says
    // EMS, so the server (correctly, by its ticket) resumes with EMS and the client must refuse.
    const x = exchange(server({ tickets: { secret }, sessionCache: false }), {
      session: sessionWith(false, true),
    });
    assert.equal(x.clientInfo, undefined, 'the client must not connect');
    assert.equal(x.clientFailure?.code, 'handshake_failure');
    assert.equal(x.clientFailure?.alertSent, true);
    assert.equal(x.serverInfo, undefined);
  });
});

describe('resumed connections keep the peer identity', () => {
  test('PSK: the resumed connection reports the same PSK identity on both sides', () => {
    const key = Buffer.alloc(16, 0x2b);
    const psk = 'TLS_PSK_WITH_AES_128_CCM_8';
    const s = new DtlsServerEndpoint({
      cipherSuites: [psk],
      psk: { hint: 'resumption', lookup: (id) => (id.toString() === 'alice' ? key : undefined) },
      wallClock: () => wall,
    });
    const opts: ClientOptions = {
      cipherSuites: [psk],
      psk: { identity: 'alice', key },
      wallClock: () => wall,
    };
    const first = exchange(s, opts);
    assert.equal(connected(first), false);
    assert.equal(first.serverInfo!.pskIdentity, 'alice');
    const second = exchange(s, { ...opts, session: first.session });
    assertResumed(second, 'PSK session');
    assert.equal(second.serverInfo!.pskIdentity, 'alice');
    assert.equal(second.clientInfo!.pskIdentity, 'alice');
    assert.deepEqual(exporter(second.client), exporter(second.serverConnection));
    assert.notDeepEqual(exporter(second.client), exporter(first.client));
    assertDataFlows(second, 'psk resumed');
  });

  test('a session without a client certificate is not resumed by a server that now requires one', () => {
    const secret = Buffer.alloc(32, 0x19);
    const fingerprints = [clientCert.fingerprint];
    const lenient = server({ tickets: { secret }, clientCertificate: 'request', fingerprints });
    const first = fullHandshake(lenient);
    assert.equal(first.serverInfo!.peerCertificate, undefined);
    const strict = server({ tickets: { secret }, clientCertificate: 'require', fingerprints });
    const identity = { certificateChain: [clientCert.der], privateKey: clientCert.privateKey };
    const x = exchange(strict, { identity, session: first.session });
    assertFullFallback(x, 'the session has no client certificate');
    assert.ok(x.serverSent.includes('certificate_request'));
    assert.deepEqual(x.serverInfo!.peerCertificate?.raw, clientCert.der);
  });

  test('client certificates: the resumed server still reports the client’s certificate', () => {
    const s = server({ clientCertificate: 'require', fingerprints: [clientCert.fingerprint] });
    const identity = { certificateChain: [clientCert.der], privateKey: clientCert.privateKey };
    const first = exchange(s, { identity });
    assert.equal(connected(first), false);
    assert.deepEqual(first.serverInfo!.peerCertificate?.raw, clientCert.der);
    for (const session of [first.session!, { ...first.session!, ticket: undefined }]) {
      const x = exchange(s, { identity, session });
      assertResumed(x, session.ticket ? 'by ticket' : 'by session ID');
      assert.deepEqual(x.serverInfo!.peerCertificate?.raw, clientCert.der);
      assert.equal(x.serverConnection?.peerCertificate?.subject, 'CN=resumption client');
      assert.deepEqual(x.clientInfo!.peerCertificate?.raw, serverCert.der);
      assertDataFlows(x, 'client cert resumed');
    }
  });

  test('a session verified for one server name does not authenticate another (full check instead)', () => {
    // The session's certificate was checked for a.test only. Offering it when connecting to b.test
    // must not yield a connection that reports b.test's server as authenticated: without resumption
    // the full handshake checks the certificate against b.test and fails (RFC 6125 name check).
    const s = new DtlsServerEndpoint({
      identity: { certificateChain: [aTestCert.der], privateKey: aTestCert.privateKey },
      wallClock: () => wall,
    });
    const trust: ClientOptions = { ca: [namingCa.cert], fingerprints: undefined };
    const first = fullHandshake(s, { ...trust, serverName: 'a.test' });
    assert.equal(first.session!.serverName, 'a.test');
    // (On an endpoint of its own: the failed peer's flight would still be resent from `s`.)
    const plain = exchange(
      new DtlsServerEndpoint({
        identity: { certificateChain: [aTestCert.der], privateKey: aTestCert.privateKey },
      }),
      { ...trust, serverName: 'b.test' },
    );
    assert.equal(plain.clientInfo, undefined, 'b.test is not in the certificate: a full handshake fails');
    const x = exchange(s, { ...trust, serverName: 'b.test', session: first.session });
    assert.ok(
      x.clientInfo === undefined,
      `connected${x.clientInfo?.resumed ? ' (resumed)' : ''} to b.test with a certificate for a.test only`,
    );
  });

  test('a session is not resumed past a trust configuration that no longer accepts its certificate', () => {
    // The client now pins another fingerprint; the session's server certificate does not match it.
    // A full handshake would fail the pin; a resumption must not silently accept the old certificate.
    const s = server();
    const first = fullHandshake(s);
    const pinnedElsewhere: ClientOptions = { fingerprints: [clientCert.fingerprint] };
    const x = exchange(s, { ...pinnedElsewhere, session: first.session });
    assert.ok(
      x.clientInfo === undefined,
      `connected${x.clientInfo?.resumed ? ' (resumed)' : ''} although the pinned fingerprint does not match`,
    );
  });

  test('the server does not resume a session under a different server_name (RFC 6066 §3)', () => {
    // "A server that implements this extension MUST NOT accept the request to resume the session if
    // the server_name extension contains a different name. Instead, it proceeds with a full handshake."
    // The client pins the fingerprint (no name check), so only the server can refuse here.
    const s = server();
    const first = fullHandshake(s, { serverName: 'a.test' });
    const x = exchange(s, { serverName: 'b.test', session: { ...first.session!, serverName: 'b.test' } });
    const hello = clientHelloIn(x.clientDatagrams[0]!);
    assert.ok(findExtension(hello.extensions, ExtensionType.server_name), 'b.test sent as SNI');
    assertFullFallback(x, 'session made for a.test, resumed for b.test');
  });
});
