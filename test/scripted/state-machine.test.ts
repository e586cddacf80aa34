/**
 * Hostile peers against the handshake state machines (RFC 5246 §7.3, RFC 6347 §4.2.4): messages in the
 * wrong order, skipped, unrequested or early. Each case asserts the documented outcome: a named error
 * with the right alert, or a silent drop that leaves the handshake where it was.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AlertDescription, AlertLevel } from '../../src/wire/alert.js';
import { encodeCertificate } from '../../src/wire/certificate.js';
import { ContentType, HandshakeType } from '../../src/wire/constants.js';
import {
  datagram,
  fragmentsOfType,
  ScriptedPeer,
  splitRecords,
  testCredentials,
  withClientIdentity,
} from './hostile-peer.js';

test('server: a plaintext epoch-0 Finished instead of ChangeCipherSpec + Finished ends with unexpected_message', async () => {
  const c = await testCredentials();
  const p = ScriptedPeer.server(c.serverConfig, c.clientConfig);
  p.toAccomplice(...p.takeFromTarget()); // flight 4 to the real client
  const flight5 = p.takeRecordsFromAccomplice();
  const finished = flight5.find((r) => r.epoch === 1 && r.type === ContentType.handshake);
  assert.ok(finished?.plaintext, 'the client Finished opens with the keys from the keylog');
  assert.equal(finished.fragments[0]?.msgType, HandshakeType.finished);
  // The genuine verify_data, but sent in the clear and without the ChangeCipherSpec (the CCS-skip attack).
  const epoch0 = flight5.filter((r) => r.epoch === 0 && r.type === ContentType.handshake).map((r) => r.raw);
  p.deliver(p.relay(datagram(...epoch0)), p.record(ContentType.handshake, finished.plaintext, 0));
  p.expectFailure('unexpected_message', { alertSent: true });
  assert.deepEqual(p.alertsIn(p.takeRecordsFromTarget()), [
    { level: AlertLevel.fatal, description: AlertDescription.unexpected_message },
  ]);
});

test('client: a plaintext epoch-0 server Finished without ChangeCipherSpec ends with unexpected_message', async () => {
  const c = await testCredentials();
  const p = ScriptedPeer.client(c.clientConfig, c.serverConfig);
  p.deliver(...p.takeFromAccomplice()); // flight 4
  p.toAccomplice(...p.takeFromTarget()); // flight 5: the real server completes
  const flight6 = p.takeRecordsFromAccomplice();
  const finished = flight6.find((r) => r.epoch === 1 && r.type === ContentType.handshake);
  assert.ok(finished?.plaintext);
  p.deliver(p.record(ContentType.handshake, finished.plaintext, 0));
  p.expectFailure('unexpected_message', { alertSent: true });
  assert.deepEqual(p.alertsIn(p.takeRecordsFromTarget()), [
    { level: AlertLevel.fatal, description: AlertDescription.unexpected_message },
  ]);
});

test('server: ChangeCipherSpec before the key exchange is dropped and the handshake stays in epoch 0', async () => {
  const c = await testCredentials();
  const p = ScriptedPeer.server(c.serverConfig, c.clientConfig);
  const flight4 = p.takeFromTarget();
  const dropped = p.target.stats.recordsDropped;
  p.deliver(p.ccsRecord(0));
  assert.equal(p.target.stats.recordsDropped, dropped + 1);
  assert.equal(p.target.record.readEpoch, 0);
  assert.equal(p.target.state, 'handshaking');
  assert.deepEqual(p.takeFromTarget(), []);
  // The genuine flight 5 afterwards still completes the handshake.
  p.toAccomplice(...flight4);
  p.exchange();
  assert.equal(p.target.state, 'connected');
  assert.equal(p.accomplice!.state, 'connected');
});

test('client: ChangeCipherSpec before ServerHello and between ServerHello and ServerHelloDone is dropped', async () => {
  const c = await testCredentials();
  const p = ScriptedPeer.client(c.clientConfig, c.serverConfig);
  const flight4 = p.takeFromAccomplice().flatMap(splitRecords);
  assert.ok(flight4.length >= 4, 'ServerHello, Certificate, ServerKeyExchange, ServerHelloDone');
  const dropped = p.target.stats.recordsDropped;
  p.deliver(p.ccsRecord(0)); // in wait_server_hello
  p.deliver(p.relay(flight4[0]!)); // ServerHello
  p.deliver(p.ccsRecord(0)); // in wait_certificate
  assert.equal(p.target.stats.recordsDropped, dropped + 2);
  assert.equal(p.target.record.readEpoch, 0);
  assert.deepEqual(p.takeFromTarget(), [], 'nothing is sent before ServerHelloDone');
  p.deliver(...flight4.slice(1).map((d) => p.relay(d)));
  p.exchange();
  assert.equal(p.target.state, 'connected');
});

test('server requiring a client certificate: CertificateVerify skipped never establishes (timeout)', async () => {
  const c = await testCredentials();
  const p = ScriptedPeer.server({ ...c.serverConfig, clientCertificate: 'require' }, withClientIdentity(c));
  p.toAccomplice(...p.takeFromTarget());
  const flight5 = p.takeRecordsFromAccomplice();
  assert.equal(fragmentsOfType(flight5, HandshakeType.certificate_verify).length, 1);
  const withoutVerify = flight5.filter(
    (r) => !r.fragments.some((f) => f.msgType === HandshakeType.certificate_verify),
  );
  p.deliver(datagram(...withoutVerify.map((r) => r.raw)));
  assert.equal(p.target.state, 'handshaking');
  assert.equal(
    p.target.record.readEpoch,
    0,
    'the ChangeCipherSpec is not honoured while CertificateVerify is due',
  );
  // The engine waits for the missing message (it may still come: datagrams get lost) until it gives up.
  p.runTargetTimersToEnd();
  p.expectFailure('timeout', { alertSent: false });
});

test('server requiring a client certificate: Finished in place of CertificateVerify is unexpected_message', async () => {
  const c = await testCredentials();
  const p = ScriptedPeer.server({ ...c.serverConfig, clientCertificate: 'require' }, withClientIdentity(c));
  p.toAccomplice(...p.takeFromTarget());
  const flight5 = p.takeRecordsFromAccomplice();
  const verify = fragmentsOfType(flight5, HandshakeType.certificate_verify)[0]!;
  const finished = fragmentsOfType(flight5, HandshakeType.finished)[0]!;
  const before = flight5.filter((r) =>
    r.fragments.some(
      (f) => f.msgType === HandshakeType.certificate || f.msgType === HandshakeType.client_key_exchange,
    ),
  );
  // A peer holding the keys numbers its Finished where CertificateVerify belongs.
  p.deliver(
    p.relay(datagram(...before.map((r) => r.raw))),
    p.handshakeRecord({
      msgType: HandshakeType.finished,
      messageSeq: verify.messageSeq,
      body: finished.body,
    }),
  );
  p.expectFailure('unexpected_message', { alertSent: true });
});

test('server not asking for a client certificate: an unrequested Certificate is unexpected_message', async () => {
  const c = await testCredentials();
  const p = ScriptedPeer.server(c.serverConfig, withClientIdentity(c));
  p.takeFromTarget();
  p.deliver(
    p.handshakeRecord({
      msgType: HandshakeType.certificate,
      messageSeq: 1,
      body: encodeCertificate({ certificateList: [c.client.der] }),
    }),
  );
  p.expectFailure('unexpected_message', { alertSent: true });
  assert.deepEqual(p.alertsIn(p.takeRecordsFromTarget()), [
    { level: AlertLevel.fatal, description: AlertDescription.unexpected_message },
  ]);
});

test('client: flight 4 in reverse order is buffered and acted on only in message_seq order', async () => {
  const c = await testCredentials();
  const p = ScriptedPeer.client(c.clientConfig, c.serverConfig);
  const flight4 = p.takeFromAccomplice().flatMap(splitRecords);
  for (const d of flight4.slice(1).reverse()) {
    p.deliver(d);
    assert.deepEqual(p.takeFromTarget(), [], 'nothing is acted on before the ServerHello');
    assert.equal(p.target.state, 'handshaking');
  }
  assert.equal(
    p.events.filter((e) => e.type === 'handshake' && e.trace.direction === 'received').length,
    0,
    'no message was processed out of order',
  );
  p.deliver(flight4[0]!); // the ServerHello releases the whole flight
  const flight5 = p.takeFromTarget();
  assert.ok(flight5.length > 0, 'flight 5 goes out once the flight is complete');
  const received = p.events.flatMap((e) =>
    e.type === 'handshake' && e.trace.direction === 'received' ? [e.trace.messageSeq] : [],
  );
  assert.deepEqual(
    received,
    [...received].sort((a, b) => a! - b!),
    'messages processed in order',
  );
  p.toAccomplice(...flight5);
  p.exchange();
  assert.equal(p.target.state, 'connected');
});

test('server: the client Finished (epoch 1) before ClientKeyExchange is held until its ChangeCipherSpec', async () => {
  const c = await testCredentials();
  const p = ScriptedPeer.server(c.serverConfig, c.clientConfig);
  p.toAccomplice(...p.takeFromTarget());
  const flight5 = p.takeFromAccomplice().flatMap(splitRecords);
  const records = flight5.map((d) => p.watcher.parse(d, 'client')[0]!);
  const finishedIndex = records.findIndex((r) => r.epoch === 1);
  p.deliver(flight5[finishedIndex]!);
  assert.deepEqual(p.takeFromTarget(), []);
  assert.equal(p.target.state, 'handshaking');
  p.deliver(...flight5.filter((_, i) => i !== finishedIndex));
  assert.equal(p.target.state, 'connected', 'the buffered Finished is processed after the ChangeCipherSpec');
  p.exchange();
  assert.equal(p.accomplice!.state, 'connected');
});

/** A DER certificate that still parses, but whose P-256 public key is not a point on the curve. */
function withBrokenPublicKey(der: Buffer): Buffer {
  const out = Buffer.from(der);
  // SubjectPublicKeyInfo's BIT STRING holding the uncompressed point: 03 42 00 04 X(32) Y(32).
  const at = out.indexOf(Buffer.from([0x03, 0x42, 0x00, 0x04]));
  assert.ok(at > 0);
  out[at + 4 + 40] = out[at + 4 + 40]! ^ 0x01;
  return out;
}

// With `insecure` (no chain or pin check) the leaf is accepted as parsed; its key is decoded only later.
test('client (insecure): a server certificate whose public key does not decode ends with bad_certificate', async () => {
  const c = await testCredentials();
  const p = ScriptedPeer.client({ insecure: true }, c.serverConfig);
  const flight4 = p.takeRecordsFromAccomplice();
  const sh = fragmentsOfType(flight4, HandshakeType.server_hello)[0]!;
  const cert = fragmentsOfType(flight4, HandshakeType.certificate)[0]!;
  p.deliver(
    p.handshakeRecord({ msgType: HandshakeType.server_hello, messageSeq: sh.messageSeq, body: sh.body }),
    p.handshakeRecord({
      msgType: HandshakeType.certificate,
      messageSeq: cert.messageSeq,
      body: encodeCertificate({ certificateList: [withBrokenPublicKey(c.server.der)] }),
    }),
  );
  p.expectFailure('bad_certificate', { alertSent: true });
});

test('server (insecure, client certificate required): a client key that does not decode ends with bad_certificate', async () => {
  const c = await testCredentials();
  const p = ScriptedPeer.server({ ...c.serverConfig, clientCertificate: 'require' }, withClientIdentity(c));
  p.toAccomplice(...p.takeFromTarget());
  const flight5 = p.takeRecordsFromAccomplice();
  const cert = fragmentsOfType(flight5, HandshakeType.certificate)[0]!;
  const rest = flight5.filter((r) => !r.fragments.some((f) => f.msgType === HandshakeType.certificate));
  p.deliver(
    p.handshakeRecord({
      msgType: HandshakeType.certificate,
      messageSeq: cert.messageSeq,
      body: encodeCertificate({ certificateList: [withBrokenPublicKey(c.client.der)] }),
    }),
    p.relay(datagram(...rest.map((r) => r.raw))),
  );
  p.expectFailure('bad_certificate', { alertSent: true });
});
