/**
 * Abbreviated handshakes (RFC 5246 §7.3) over the simulated lossy network (test/sim/network.ts).
 *
 * In DTLS the abbreviated handshake turns the flights around (RFC 6347 §4.2.4, figure 2): the server's
 * ServerHello, [NewSessionTicket], ChangeCipherSpec, Finished is flight 4 with a timer, and the client's
 * ChangeCipherSpec, Finished is the final flight, sent without a timer and resent only when the server
 * resends its flight. Hundreds of seeds at 20-30 % loss (with duplication and reordering), by session ID
 * and by ticket, must all complete resumed with matching keys; then the scripted loss of the client's
 * final flight, and of the server's flight.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { type GeneratedCertificate, generateCertificate } from '../../src/cert/generate.js';
import { seededRandom } from '../../src/crypto/random.js';
import type { EngineConfig } from '../../src/engine/config.js';
import { DtlsConnection } from '../../src/engine/connection.js';
import type { ClientSession } from '../../src/engine/resumption.js';
import { DtlsServerEndpoint, type ServerEndpointConfig } from '../../src/engine/server-endpoint.js';
import { HandshakeType } from '../../src/wire/constants.js';
import {
  handshakeTypesIn,
  hasChangeCipherSpec,
  type LinkOptions,
  type SimResult,
  Simulation,
} from './network.js';

let cert: GeneratedCertificate;
before(async () => {
  cert = await generateCertificate({ keyType: 'ecdsa-p256', commonName: 'resumption-sim' });
});

const WALL = 1_750_000_000_000;

/** Timers for lossy paths, as in handshake-sim.test.ts: enough tries that 30 % loss each way completes. */
const PATIENT: Pick<EngineConfig, 'retransmit' | 'handshakeTimeoutMs'> = {
  retransmit: { maxRetransmissions: 20 },
  handshakeTimeoutMs: 10 * 60_000,
};

type Mode = 'id' | 'ticket';

function endpoint(mode: Mode, seed: number, extra: Partial<ServerEndpointConfig> = {}): DtlsServerEndpoint {
  return new DtlsServerEndpoint({
    identity: { certificateChain: [cert.der], privateKey: cert.privateKey },
    random: seededRandom(`${seed}/server`),
    wallClock: () => WALL,
    sessionCache: mode === 'id' ? {} : false,
    tickets: mode === 'ticket' ? { secret: Buffer.alloc(32, 0x3c) } : false,
    serverLimits: { idleTimeoutMs: 30 * 60_000 },
    ...PATIENT,
    ...extra,
  });
}

/** Where the resumed handshake starts on the virtual clock: after the full one, never back in time. */
const RESUME_AT = 10_000;

function newClient(seed: number, session?: ClientSession): DtlsConnection {
  return DtlsConnection.client(
    {
      fingerprints: [cert.fingerprint],
      random: seededRandom(`${seed}/client${session ? '/resume' : ''}`),
      wallClock: () => WALL,
      session,
      ...PATIENT,
    },
    session ? RESUME_AT : 0,
  );
}

/** A full handshake on a clean link; returns the client's session. */
function fullSession(server: DtlsServerEndpoint, seed: number): ClientSession {
  const client = newClient(seed);
  const sim = new Simulation(client, server, {
    seed,
    clientAddress: { address: '127.0.0.1', port: 30_000, family: 'IPv4' },
  });
  const r = sim.run();
  assert.ok(r.clientConnected && r.serverConnected, `full handshake failed: ${sim.summary()}`);
  const ev = r.clientEvents.find((e) => e.event.type === 'session');
  assert.ok(ev && ev.event.type === 'session', 'no session after the full handshake');
  return ev.event.session;
}

interface Scenario {
  mode: Mode;
  seed: number;
  link: LinkOptions;
}

/** Resume `session` on `server` over the scenario's link; both sides must connect resumed, same keys. */
function resumeOver(server: DtlsServerEndpoint, session: ClientSession, sc: Scenario): Simulation {
  const sim = new Simulation(newClient(sc.seed, session), server, {
    seed: sc.seed,
    startTime: RESUME_AT,
    maxTimeMs: RESUME_AT + 15 * 60_000,
    clientAddress: { address: '127.0.0.1', port: 30_001, family: 'IPv4' },
    clientToServer: sc.link,
    serverToClient: sc.link,
  });
  const fail = (what: string): never =>
    assert.fail(`${what}\nreplay: ${JSON.stringify(sc)}\n${sim.summary()}\n--- log ---\n${sim.formatLog()}`);
  const r = sim.run();
  if (!r.clientConnected || !r.serverConnected) fail('abbreviated handshake did not complete');
  if (r.stuckTimers !== 0) fail(`${r.stuckTimers} stuck timer(s)`);
  const s = sim.serverConnection;
  if (!sim.client.connectionInfo?.resumed || !s?.connectionInfo?.resumed) fail('not resumed');
  const ck = sim.client.exportKeyingMaterial('EXTRACTOR-dtls_srtp', 60);
  if (!ck.equals(s!.exportKeyingMaterial('EXTRACTOR-dtls_srtp', 60))) fail('exported keys differ');
  for (const from of ['client', 'server'] as const) {
    const payload = Buffer.from(`${from} after resumption, seed ${sc.seed}`);
    if (sim.sendApplicationData(from, payload, 200, 60) === undefined) fail(`${from} data never arrived`);
  }
  const bad = [...sim.result().clientEvents, ...sim.result().serverEvents].find(
    (e) => e.event.type === 'failed' || e.event.type === 'closed',
  );
  if (bad) fail(`a side reported ${bad.event.type}`);
  return sim;
}

/** Client datagrams carrying its final flight (a ChangeCipherSpec record). */
function finalFlights(r: SimResult) {
  return r.transmissions.filter((t) => t.from === 'client' && t.description.includes(' ccs0'));
}

describe('abbreviated handshakes over a lossy network', () => {
  test('300 seeds, 20-30 % loss each way with duplication and reordering, by ID and by ticket', () => {
    let finalFlightLost = 0;
    let serverResent = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const mode: Mode = seed % 2 === 0 ? 'id' : 'ticket';
      const server = endpoint(mode, seed);
      const session = fullSession(server, seed);
      const loss = 0.2 + 0.1 * ((seed % 11) / 10);
      const sc: Scenario = { mode, seed, link: { loss, duplicate: 0.05, jitterMs: 15, latencyMs: 10 } };
      const sim = resumeOver(server, session, sc);
      const r = sim.result();
      if (finalFlights(r).some((t) => t.fate !== 'delivered')) finalFlightLost++;
      if (r.retransmissions.server > 0) serverResent++;
    }
    // The runs really exercised the interesting paths, not just lucky clean ones.
    assert.ok(finalFlightLost >= 30, `client final flight lost in only ${finalFlightLost} runs`);
    assert.ok(serverResent >= 50, `server resent flight 4 in only ${serverResent} runs`);
  });
});

describe('scripted loss in the abbreviated handshake (RFC 6347 §4.2.4)', () => {
  for (const mode of ['id', 'ticket'] as const) {
    test(`${mode}: the client's final flight is lost once; the server's timer resends, the client answers`, () => {
      const seed = 1001;
      const server = endpoint(mode, seed);
      const session = fullSession(server, seed);
      let dropped = 0;
      const sim = resumeOver(server, session, {
        mode,
        seed,
        link: {
          drop: (d) => {
            // Drop the first datagram of the client's final flight (ChangeCipherSpec + Finished).
            if (d.from === 'client' && dropped === 0 && hasChangeCipherSpec(d.data)) {
              dropped++;
              return true;
            }
            return false;
          },
        },
      });
      const r = sim.result();
      assert.equal(dropped, 1);
      // The client finished first (it had the server's Finished); the server only after the resend.
      assert.ok(r.clientConnectedAt! < r.serverConnectedAt!, 'the client completes before the server');
      const flights = finalFlights(r);
      assert.equal(flights.length, 2, `final flight sent ${flights.length} times:\n${sim.formatLog()}`);
      assert.deepEqual(
        flights.map((t) => t.fate),
        ['scripted', 'delivered'],
      );
      // The resend was triggered by the server's timer (initial 1 s), not by a client timer.
      assert.equal(r.retransmissions.server, 1);
      assert.equal(r.retransmissions.client, 1);
      const serverFlights = r.transmissions.filter(
        (t) => t.from === 'server' && t.description.includes('server_hello'),
      );
      assert.equal(serverFlights.length, 2, 'the server sent its flight twice');
      assert.ok(serverFlights[1]!.time - serverFlights[0]!.time >= 1000, 'resent on the timer');
      assert.ok(flights[1]!.time > serverFlights[1]!.time, 'the client answered the resent flight');
      assert.ok(r.serverConnectedAt! - r.clientConnectedAt! >= 1000);
    });

    test(`${mode}: the server's flight is lost once; the client's timer resends its ClientHello`, () => {
      const seed = 2002;
      const server = endpoint(mode, seed, { cookies: false });
      const session = fullSession(server, seed);
      let dropped = 0;
      const sim = resumeOver(server, session, {
        mode,
        seed,
        link: {
          drop: (d) => {
            if (
              d.from === 'server' &&
              dropped === 0 &&
              handshakeTypesIn(d.data).includes(HandshakeType.server_hello)
            ) {
              dropped++;
              return true;
            }
            return false;
          },
        },
      });
      const r = sim.result();
      assert.equal(dropped, 1);
      assert.equal(r.retransmissions.client, 1, 'the client resent its ClientHello once');
      assert.equal(finalFlights(r).length, 1, 'the final flight went out once');
      assert.equal(
        r.transmissions.filter((t) => t.from === 'client' && t.description.includes('client_hello')).length,
        2,
      );
    });
  }

  test("the client's final flight lost three times: each resent server flight is answered, both connect once", () => {
    const seed = 3003;
    const server = endpoint('ticket', seed);
    const session = fullSession(server, seed);
    let dropped = 0;
    const sim = resumeOver(server, session, {
      mode: 'ticket',
      seed,
      link: {
        drop: (d) => {
          if (d.from === 'client' && hasChangeCipherSpec(d.data) && dropped < 3) {
            dropped++;
            return true;
          }
          return false;
        },
      },
    });
    const r = sim.result();
    assert.equal(dropped, 3);
    assert.equal(finalFlights(r).length, 4, 'one final flight per server flight received');
    assert.equal(r.clientEvents.filter((e) => e.event.type === 'connected').length, 1);
    assert.equal(r.serverEvents.filter((e) => e.event.type === 'connected').length, 1);
  });
});
