/**
 * A peer that will not stop: endless HelloVerifyRequests (RFC 6347 §4.2.1), and renegotiation after
 * the handshake, which we decline with a no_renegotiation warning and keep the connection (RFC 5246
 * §7.2.2, RFC 5746 §4.2).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DtlsConnection } from '../../src/engine/connection.js';
import { AlertDescription, AlertLevel } from '../../src/wire/alert.js';
import { decodeClientHello } from '../../src/wire/client-hello.js';
import { ContentType, HandshakeType, ProtocolVersion } from '../../src/wire/constants.js';
import { encodeHelloVerifyRequest } from '../../src/wire/hello-verify-request.js';
import { clientHelloOf, fragmentsOfType, ScriptedPeer, testCredentials } from './hostile-peer.js';

async function endlessHelloVerifyRequests(maxHelloVerifyRequests?: number) {
  const c = await testCredentials();
  const p = ScriptedPeer.client({ ...c.clientConfig, maxHelloVerifyRequests });
  const hellos: Buffer[] = [];
  // Bounded: the client must give up long before 50 rounds.
  for (let i = 0; i < 50 && p.target.state === 'handshaking'; i++) {
    const out = p.takeRecordsFromTarget();
    const ch = fragmentsOfType(out, HandshakeType.client_hello);
    if (ch.length === 0) break;
    hellos.push(Buffer.from(ch[0]!.body));
    const cookie = Buffer.alloc(32, i + 1);
    const hvr = encodeHelloVerifyRequest({ serverVersion: ProtocolVersion.DTLS1_0, cookie });
    p.deliver(p.handshakeRecord({ msgType: HandshakeType.hello_verify_request, messageSeq: i, body: hvr }));
  }
  return { p, hellos };
}

test('endless HelloVerifyRequests: the client answers the default 4 and then fails with handshake_failure', async () => {
  const { p, hellos } = await endlessHelloVerifyRequests();
  assert.equal(hellos.length, 5, 'the first ClientHello and one answer to each of 4 HelloVerifyRequests');
  // Each answer carries the cookie of the request it answers (RFC 6347 §4.2.1).
  for (let i = 1; i < hellos.length; i++)
    assert.deepEqual(decodeClientHello(hellos[i]!).cookie, Buffer.alloc(32, i));
  p.expectFailure('handshake_failure', { alertSent: true });
  assert.deepEqual(p.alertsIn(p.takeRecordsFromTarget()), [
    { level: AlertLevel.fatal, description: AlertDescription.handshake_failure },
  ]);
});

test('endless HelloVerifyRequests: maxHelloVerifyRequests bounds the answers', async () => {
  const { p, hellos } = await endlessHelloVerifyRequests(1);
  assert.equal(hellos.length, 2);
  p.expectFailure('handshake_failure');
});

async function connectedServer() {
  const c = await testCredentials();
  const p = ScriptedPeer.server(c.serverConfig, c.clientConfig);
  p.exchange();
  assert.equal(p.target.state, 'connected');
  const hello = clientHelloOf(DtlsConnection.client(c.clientConfig, 0).pollTransmit()!).msg.body;
  return { p, hello };
}

async function connectedClient() {
  const c = await testCredentials();
  const p = ScriptedPeer.client(c.clientConfig, c.serverConfig);
  p.deliver(...p.takeFromAccomplice().map((d) => p.relay(d)));
  p.exchange();
  assert.equal(p.target.state, 'connected');
  return p;
}

/** The target declined with a warning no_renegotiation, sealed in epoch 1, and is still connected. */
function assertDeclined(p: ScriptedPeer): void {
  const out = p.takeRecordsFromTarget();
  assert.ok(
    out.every((r) => r.epoch === 1),
    'the answer is protected',
  );
  assert.deepEqual(p.alertsIn(out), [
    { level: AlertLevel.warning, description: AlertDescription.no_renegotiation },
  ]);
  assert.equal(p.target.state, 'connected');
  // The connection still carries data both ways.
  p.deliver(p.record(ContentType.application_data, Buffer.from('still here'), 1));
  assert.deepEqual(
    p.events.flatMap((e) => (e.type === 'data' ? [e.data.toString()] : [])),
    ['still here'],
  );
  p.target.send(Buffer.from('reply'), p.now);
  const reply = p.takeRecordsFromTarget();
  assert.equal(reply[0]?.plaintext?.toString(), 'reply');
}

// RFC 6347 §4.2.2: "in the case of a rehandshake ... the HelloRequest will have message_seq = 0"; a
// renegotiating client likewise starts its new handshake at message_seq 0.
test('server: a renegotiating ClientHello in epoch 1 (message_seq 0, RFC 6347 §4.2.2) gets no_renegotiation', async () => {
  const { p, hello } = await connectedServer();
  p.deliver(p.handshakeRecord({ msgType: HandshakeType.client_hello, messageSeq: 0, body: hello }, 1));
  assertDeclined(p);
});

test('server: a renegotiating ClientHello in epoch 1 numbered after the Finished gets no_renegotiation', async () => {
  const { p, hello } = await connectedServer();
  p.deliver(p.handshakeRecord({ msgType: HandshakeType.client_hello, messageSeq: 3, body: hello }, 1));
  assertDeclined(p);
});

test('client: a HelloRequest in epoch 1 (message_seq 0, RFC 6347 §4.2.2) gets no_renegotiation', async () => {
  const p = await connectedClient();
  p.deliver(
    p.handshakeRecord({ msgType: HandshakeType.hello_request, messageSeq: 0, body: Buffer.alloc(0) }, 1),
  );
  assertDeclined(p);
});

test('client: a HelloRequest in epoch 1 numbered after the server Finished gets no_renegotiation', async () => {
  const p = await connectedClient();
  p.deliver(
    p.handshakeRecord({ msgType: HandshakeType.hello_request, messageSeq: 5, body: Buffer.alloc(0) }, 1),
  );
  assertDeclined(p);
});

test('client: an unprotected (epoch-0) HelloRequest after the handshake is ignored', async () => {
  const p = await connectedClient();
  p.deliver(
    p.handshakeRecord({ msgType: HandshakeType.hello_request, messageSeq: 5, body: Buffer.alloc(0) }, 0),
  );
  assert.deepEqual(p.takeFromTarget(), []);
  assert.equal(p.target.state, 'connected');
});
