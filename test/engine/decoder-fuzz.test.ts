/**
 * Property tests on hostile bytes. Decoders: every message of real handshakes (certificate, mutual
 * certificate, PSK with a hint, ECDHE_PSK, a HelloVerifyRequest), each fed to every decoder as is and
 * mutated (bit flips, truncations, insertions, length fields at their boundaries): only DecodeError
 * may escape. Engines: both roles at every handshake state fed mutations of genuine traffic, raw and
 * sealed again under the real keys (test/scripted/hostile-peer.ts fuzzEngine): no exception escapes
 * handleDatagram/handleTimeout, nothing hangs, the heap stays bounded. The long run is bench/fuzz.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DtlsConnection } from '../../src/engine/connection.js';
import { decodeAlert } from '../../src/wire/alert.js';
import { decodeCertificate } from '../../src/wire/certificate.js';
import { decodeCertificateRequest } from '../../src/wire/certificate-request.js';
import { decodeCertificateVerify } from '../../src/wire/certificate-verify.js';
import { decodeClientHello, replaceClientHelloCookie } from '../../src/wire/client-hello.js';
import {
  decodeEcdheClientKeyExchange,
  decodeEcdhePskClientKeyExchange,
  decodePskClientKeyExchange,
} from '../../src/wire/client-key-exchange.js';
import { ContentType, HandshakeType, ProtocolVersion } from '../../src/wire/constants.js';
import { DecodeError } from '../../src/wire/errors.js';
import {
  decodeAlpn,
  decodeEcPointFormats,
  decodeEmptyExtension,
  decodeExtensions,
  decodeRenegotiationInfo,
  decodeServerNameList,
  decodeSessionTicketExtension,
  decodeSignatureAlgorithms,
  decodeSupportedGroups,
  decodeSupportedVersionsClient,
  decodeSupportedVersionsServer,
  decodeUseSrtp,
} from '../../src/wire/extensions.js';
import { decodeFinished } from '../../src/wire/finished.js';
import { parseHandshakeFragments } from '../../src/wire/handshake-header.js';
import { decodeHelloVerifyRequest, encodeHelloVerifyRequest } from '../../src/wire/hello-verify-request.js';
import { decodeNewSessionTicket } from '../../src/wire/new-session-ticket.js';
import { decodeDatagramStrict, decodeRecordHeader, parseDatagram } from '../../src/wire/record.js';
import { decodeServerHello } from '../../src/wire/server-hello.js';
import { decodeServerHelloDone } from '../../src/wire/server-hello-done.js';
import {
  decodeEcdhePskServerKeyExchange,
  decodeEcdheServerKeyExchange,
  decodePskServerKeyExchange,
} from '../../src/wire/server-key-exchange.js';
import {
  fuzzEndpoint,
  fuzzEngine,
  fuzzScenarios,
  mutateBytes,
  mutateHandshakePlaintext,
  prng,
  ScriptedPeer,
  testCredentials,
} from '../scripted/hostile-peer.js';

interface Corpus {
  /** Bodies of handshake messages, by msg_type. */
  messages: Map<number, Buffer[]>;
  /** Plaintexts of handshake records (headers included). */
  handshakeRecords: Buffer[];
  /** Datagrams as sent, both directions. */
  datagrams: Buffer[];
  alerts: Buffer[];
  extensions: Buffer[];
}

/** Real traffic of a handshake per scenario, opened with the keys a peer holding them has. */
async function captureCorpus(): Promise<Corpus> {
  const c = await testCredentials();
  const corpus: Corpus = {
    messages: new Map(),
    handshakeRecords: [],
    datagrams: [],
    alerts: [],
    extensions: [],
  };
  const add = (records: ReturnType<ScriptedPeer['takeRecordsFromTarget']>) => {
    for (const r of records) {
      corpus.datagrams.push(r.raw);
      if (!r.plaintext) continue;
      if (r.type === ContentType.alert) corpus.alerts.push(r.plaintext);
      if (r.type !== ContentType.handshake) continue;
      corpus.handshakeRecords.push(r.plaintext);
      for (const f of r.fragments) {
        const list = corpus.messages.get(f.msgType) ?? [];
        list.push(Buffer.from(f.body));
        corpus.messages.set(f.msgType, list);
      }
    }
  };
  for (const s of fuzzScenarios(c)) {
    const p = ScriptedPeer.server(s.server, s.client);
    // The ClientHello that created the server target (ScriptedPeer consumed it).
    add(p.watcher.parse(DtlsConnection.client(s.client, 0).pollTransmit()!, 'client'));
    for (let round = 0; round < 6; round++) {
      const fromServer = p.takeRecordsFromTarget();
      add(fromServer);
      p.toAccomplice(...fromServer.map((r) => r.raw));
      const fromClient = p.takeRecordsFromAccomplice();
      add(fromClient);
      p.deliver(...fromClient.map((r) => p.relay(r.raw)));
    }
    assert.equal(p.target.state, 'connected', s.name);
    p.target.close(p.now);
    add(p.takeRecordsFromTarget());
  }
  const hvr = encodeHelloVerifyRequest({
    serverVersion: ProtocolVersion.DTLS1_0,
    cookie: Buffer.alloc(32, 9),
  });
  corpus.messages.set(HandshakeType.hello_verify_request, [hvr]);
  for (const ch of corpus.messages.get(HandshakeType.client_hello) ?? []) {
    for (const e of decodeClientHello(ch).extensions ?? []) corpus.extensions.push(Buffer.from(e.data));
  }
  return corpus;
}

const MESSAGE_DECODERS: [string, (b: Buffer) => unknown][] = [
  ['ClientHello', decodeClientHello],
  ['ClientHello cookie splice', (b) => replaceClientHelloCookie(b, Buffer.alloc(32))],
  ['ServerHello', decodeServerHello],
  ['HelloVerifyRequest', decodeHelloVerifyRequest],
  ['Certificate', decodeCertificate],
  ['CertificateRequest', decodeCertificateRequest],
  ['CertificateVerify', decodeCertificateVerify],
  ['ServerKeyExchange (ECDHE)', decodeEcdheServerKeyExchange],
  ['ServerKeyExchange (PSK)', decodePskServerKeyExchange],
  ['ServerKeyExchange (ECDHE_PSK)', decodeEcdhePskServerKeyExchange],
  ['ServerHelloDone', decodeServerHelloDone],
  ['ClientKeyExchange (ECDHE)', decodeEcdheClientKeyExchange],
  ['ClientKeyExchange (PSK)', decodePskClientKeyExchange],
  ['ClientKeyExchange (ECDHE_PSK)', decodeEcdhePskClientKeyExchange],
  ['Finished', decodeFinished],
  ['NewSessionTicket', decodeNewSessionTicket],
  ['Alert', decodeAlert],
  ['handshake fragments', parseHandshakeFragments],
  ['record header', decodeRecordHeader],
  ['datagram (strict)', decodeDatagramStrict],
  ['extensions block', decodeExtensions],
];

const EXTENSION_DECODERS: [string, (b: Buffer) => unknown][] = [
  ['server_name', decodeServerNameList],
  ['supported_groups', decodeSupportedGroups],
  ['ec_point_formats', decodeEcPointFormats],
  ['signature_algorithms', decodeSignatureAlgorithms],
  ['use_srtp', decodeUseSrtp],
  ['alpn', decodeAlpn],
  ['empty extension', decodeEmptyExtension],
  ['renegotiation_info', decodeRenegotiationInfo],
  ['session_ticket', decodeSessionTicketExtension],
  ['supported_versions (client)', decodeSupportedVersionsClient],
  ['supported_versions (server)', decodeSupportedVersionsServer],
];

/** Run one decoder on one input: it may return or throw DecodeError, nothing else. */
function feed(name: string, decode: (b: Buffer) => unknown, input: Buffer): boolean {
  try {
    decode(input);
    return true;
  } catch (e) {
    if (e instanceof DecodeError) return false;
    assert.fail(`${name} threw ${String(e)} (not a DecodeError) on ${input.toString('hex')}`);
  }
}

test('every decoder, fed every real message and mutations of it, fails only with DecodeError', async () => {
  const corpus = await captureCorpus();
  for (const t of [
    HandshakeType.client_hello,
    HandshakeType.server_hello,
    HandshakeType.certificate,
    HandshakeType.server_key_exchange,
    HandshakeType.certificate_request,
    HandshakeType.server_hello_done,
    HandshakeType.certificate_verify,
    HandshakeType.client_key_exchange,
    HandshakeType.finished,
  ]) {
    assert.ok(corpus.messages.get(t)?.length, `the corpus holds message type ${t}`);
  }
  const bodies = [...corpus.messages.values()].flat();
  const seeds = [...bodies, ...corpus.handshakeRecords, ...corpus.datagrams, ...corpus.alerts];
  const rand = prng(0x5eed);
  let inputs = 0;
  let decoded = 0;
  const mutationsPerSeed = 12;
  for (const [name, decode] of MESSAGE_DECODERS) {
    for (const seed of seeds) {
      decoded += feed(name, decode, seed) ? 1 : 0;
      inputs++;
      for (let i = 0; i < mutationsPerSeed; i++) {
        const m = rand() < 0.5 ? mutateBytes(rand, seed) : mutateHandshakePlaintext(rand, seed);
        decoded += feed(name, decode, m) ? 1 : 0;
        inputs++;
      }
    }
  }
  for (const [name, decode] of EXTENSION_DECODERS) {
    for (const seed of [...corpus.extensions, Buffer.alloc(0), Buffer.of(0xff, 0xff)]) {
      feed(name, decode, seed);
      for (let i = 0; i < 200; i++) feed(name, decode, mutateBytes(rand, seed));
      inputs += 201;
    }
  }
  // parseDatagram never throws at all: malformed input is counted (RFC 6347 §4.1.2.7).
  for (const seed of corpus.datagrams) {
    for (let i = 0; i < 200; i++) {
      const m = mutateBytes(rand, seed);
      const { records } = parseDatagram(m);
      for (const r of records) assert.ok(r.raw.length <= m.length);
      inputs++;
    }
  }
  assert.ok(inputs > 50_000, `${inputs} inputs`);
  assert.ok(decoded > 0, 'some inputs decode (the corpus is real)');
});

test('engines of both roles at every handshake state: mutated traffic never escapes as an exception', async () => {
  const report = await fuzzEngine({ seed: 20240601, runs: 700 });
  const escaped = report.findings.filter((f) => f.kind === 'escaped');
  assert.deepEqual(escaped, [], 'no exception escapes handleDatagram/handleTimeout');
  assert.equal(report.crashes, 0);
  assert.ok(report.inputs > 5000, `${report.inputs} inputs`);
  assert.ok(report.slowestInputMs < 1000, `slowest input took ${report.slowestInputMs} ms`);
  assert.ok(report.peakHeapUsed - report.heapUsedStart < 256 * 1024 * 1024, 'heap bounded');
  // Both good and bad ends are reached: the mutations reach the handshake.
  assert.ok(report.outcomes.connected! > 0);
  assert.ok(Object.keys(report.outcomes).some((k) => k.startsWith('failed:')));
});

test('engines under mutated traffic never hit their internal_error catch-all (a contained bug)', async () => {
  const report = await fuzzEngine({ seed: 1, runs: 1000 });
  const internal = report.findings.filter((f) => f.kind === 'internal');
  assert.deepEqual(
    internal.map((f) => `${f.scenario} ${f.role} step ${f.step}: ${f.error}`),
    [],
    'every hostile input ends with a named alert or a silent drop, not internal_error',
  );
});

test('the server endpoint’s stateless path under mutated ClientHellos: no exception, state capped', async () => {
  const report = await fuzzEndpoint({ seed: 7, runs: 150 });
  assert.equal(report.crashes, 0, JSON.stringify(report.findings.slice(0, 3)));
  assert.ok(report.inputs >= 9000);
  for (const k of Object.keys(report.outcomes)) assert.ok(Number(k.slice('peers='.length)) <= 8);
});
