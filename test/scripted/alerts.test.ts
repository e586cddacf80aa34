/**
 * Alerts from the peer at every handshake state of both roles (RFC 5246 §7.2): a fatal alert ends the
 * handshake with `failed`, `alertReceived` and the alert's name, and nothing is sent back. close_notify
 * both ways (RFC 5246 §7.2.1). An unprotected alert once keys are in use is ignored.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AlertDescription, AlertLevel, type AlertName } from '../../src/wire/alert.js';
import { ContentType, HandshakeType } from '../../src/wire/constants.js';
import { encodeHelloVerifyRequest } from '../../src/wire/hello-verify-request.js';
import {
  type PeerConfig,
  ScriptedPeer,
  splitRecords,
  testCredentials,
  withClientIdentity,
} from './hostile-peer.js';

const ALERTS: AlertName[] = [
  'handshake_failure',
  'bad_certificate',
  'decrypt_error',
  'illegal_parameter',
  'internal_error',
  'access_denied',
  'unknown_ca',
  'protocol_version',
];

function assertFailedByAlert(p: ScriptedPeer, name: AlertName, stage: string): void {
  const f = p.failure;
  assert.ok(f, `${stage}: the target must fail`);
  assert.equal(f.code, name, `${stage}: ${f.message}`);
  assert.equal(f.alertReceived, true, stage);
  assert.equal(f.alertSent, false, stage);
  assert.equal(p.target.state, 'failed', stage);
  // A fatal alert is not answered (RFC 5246 §7.2.2: the connection is already gone).
  assert.deepEqual(p.takeFromTarget(), [], `${stage}: nothing sent back`);
}

test('client: a fatal alert at every handshake state fails with that alert', async () => {
  const c = await testCredentials();
  // Client state after the first k records of flight 4 (ServerHello, Certificate, ServerKeyExchange,
  // ServerHelloDone), then after flight 5 (waiting for ChangeCipherSpec) and after it (waiting for Finished).
  const stages = [
    'wait_server_hello',
    'wait_certificate',
    'wait_server_key_exchange',
    'wait_certificate_request_or_done',
  ];
  for (let k = 0; k < stages.length; k++) {
    const p = ScriptedPeer.client(c.clientConfig, c.serverConfig);
    const flight4 = p.takeFromAccomplice().flatMap(splitRecords);
    p.deliver(...flight4.slice(0, k).map((d) => p.relay(d)));
    assert.equal(p.target.state, 'handshaking');
    const name = ALERTS[k]!;
    p.takeFromTarget();
    p.deliver(p.alertRecord(AlertLevel.fatal, AlertDescription[name], 0));
    assertFailedByAlert(p, name, stages[k]!);
  }

  // Waiting for the server's ChangeCipherSpec: still epoch 0.
  let p = ScriptedPeer.client(c.clientConfig, c.serverConfig);
  p.deliver(...p.takeFromAccomplice().map((d) => p.relay(d)));
  p.toAccomplice(...p.takeFromTarget());
  p.deliver(p.alertRecord(AlertLevel.fatal, AlertDescription.decrypt_error, 0));
  assertFailedByAlert(p, 'decrypt_error', 'wait_change_cipher_spec');

  // Waiting for Finished: the alert must be protected, and a plaintext one is ignored.
  p = ScriptedPeer.client(c.clientConfig, c.serverConfig);
  p.deliver(...p.takeFromAccomplice().map((d) => p.relay(d)));
  p.toAccomplice(...p.takeFromTarget());
  const flight6 = p.takeRecordsFromAccomplice();
  const ccs = flight6.find((r) => r.type === ContentType.change_cipher_spec)!;
  p.deliver(p.relay(ccs.raw));
  assert.equal(p.target.record.readEpoch, 1);
  p.deliver(p.alertRecord(AlertLevel.fatal, AlertDescription.bad_record_mac, 0));
  assert.equal(p.target.state, 'handshaking', 'an unprotected alert after ChangeCipherSpec is ignored');
  p.deliver(p.alertRecord(AlertLevel.fatal, AlertDescription.bad_record_mac, 1));
  assertFailedByAlert(p, 'bad_record_mac', 'wait_finished');
});

test('client: a fatal alert after a HelloVerifyRequest fails with that alert', async () => {
  const c = await testCredentials();
  const p = ScriptedPeer.client(c.clientConfig);
  p.takeFromTarget();
  const hvr = encodeHelloVerifyRequest({ serverVersion: 0xfeff, cookie: Buffer.alloc(32, 7) });
  p.deliver(p.handshakeRecord({ msgType: HandshakeType.hello_verify_request, messageSeq: 0, body: hvr }));
  assert.equal(p.takeFromTarget().length, 1, 'the ClientHello with the cookie');
  p.deliver(p.alertRecord(AlertLevel.fatal, AlertDescription.access_denied, 0));
  assertFailedByAlert(p, 'access_denied', 'wait_server_hello after HelloVerifyRequest');
});

test('server: a fatal alert at every handshake state fails with that alert', async () => {
  const c = await testCredentials();
  const requireCert = { ...c.serverConfig, clientCertificate: 'require' as const };
  // [server config, client config, records of flight 5 delivered first, stage name, epoch of the alert]
  const cases: [PeerConfig, PeerConfig, number, string, number][] = [
    [c.serverConfig, c.clientConfig, 0, 'wait_client_key_exchange', 0],
    [requireCert, withClientIdentity(c), 0, 'wait_client_certificate', 0],
    [requireCert, withClientIdentity(c), 2, 'wait_certificate_verify', 0],
    [requireCert, withClientIdentity(c), 3, 'wait_change_cipher_spec', 0],
    [c.serverConfig, c.clientConfig, 1, 'wait_change_cipher_spec', 0],
    [c.serverConfig, c.clientConfig, 2, 'wait_finished', 1],
  ];
  for (const [i, [server, client, k, stage, epoch]] of cases.entries()) {
    const p = ScriptedPeer.server(server, client);
    p.toAccomplice(...p.takeFromTarget());
    const flight5 = p.takeFromAccomplice().flatMap(splitRecords);
    p.deliver(...flight5.slice(0, k).map((d) => p.relay(d)));
    assert.equal(p.target.state, 'handshaking', stage);
    assert.equal(p.target.record.readEpoch, epoch, stage);
    const name = ALERTS[i]!;
    p.deliver(p.alertRecord(AlertLevel.fatal, AlertDescription[name], epoch));
    assertFailedByAlert(p, name, stage);
  }
});

test('a warning alert other than close_notify during the handshake ends it; no_renegotiation does not', async () => {
  const c = await testCredentials();
  let p = ScriptedPeer.server(c.serverConfig, c.clientConfig);
  p.takeFromTarget();
  p.deliver(p.alertRecord(AlertLevel.warning, AlertDescription.user_canceled, 0));
  assertFailedByAlert(p, 'user_canceled', 'warning user_canceled');

  p = ScriptedPeer.server(c.serverConfig, c.clientConfig);
  p.deliver(p.alertRecord(AlertLevel.warning, AlertDescription.no_renegotiation, 0));
  assert.equal(p.target.state, 'handshaking');
  p.exchange();
  assert.equal(p.target.state, 'connected');
});

test('connected: a fatal alert from the peer fails the connection; warnings are reported', async () => {
  const c = await testCredentials();
  const p = ScriptedPeer.server(c.serverConfig, c.clientConfig);
  p.exchange();
  assert.equal(p.target.state, 'connected');
  p.deliver(p.alertRecord(AlertLevel.warning, AlertDescription.user_canceled, 1));
  assert.equal(p.target.state, 'connected');
  assert.ok(p.events.some((e) => e.type === 'alert' && e.description === 'user_canceled'));
  p.deliver(p.alertRecord(AlertLevel.fatal, AlertDescription.internal_error, 0));
  assert.equal(p.target.state, 'connected', 'an unprotected alert is ignored once keys are in use');
  p.deliver(p.alertRecord(AlertLevel.fatal, AlertDescription.internal_error, 1));
  const f = p.failure;
  assert.equal(f?.code, 'internal_error');
  assert.equal(f?.alertReceived, true);
  assert.equal(p.target.state, 'failed');
});

test('close_notify both ways: each side answers close_notify and reports closed', async () => {
  const c = await testCredentials();
  // The target closes.
  let p = ScriptedPeer.client(c.clientConfig, c.serverConfig);
  p.deliver(...p.takeFromAccomplice().map((d) => p.relay(d)));
  p.exchange();
  p.target.close(p.now);
  const out = p.takeFromTarget();
  assert.deepEqual(p.alertsIn(out.flatMap((d) => p.watcher.parse(d, 'client'))), [
    { level: AlertLevel.warning, description: AlertDescription.close_notify },
  ]);
  assert.ok(p.events.some((e) => e.type === 'closed' && !e.byPeer));
  p.toAccomplice(...out);
  assert.equal(p.accomplice!.state, 'closed');
  assert.ok(p.accompliceEvents.some((e) => e.type === 'closed' && e.byPeer));
  const answer = p.takeFromAccomplice();
  assert.deepEqual(p.alertsIn(answer.flatMap((d) => p.watcher.parse(d, 'server'))), [
    { level: AlertLevel.warning, description: AlertDescription.close_notify },
  ]);
  p.deliver(...answer);
  assert.deepEqual(p.takeFromTarget(), [], 'a closed connection answers nothing');
  assert.throws(() => p.target.send(Buffer.from('late'), p.now), { code: 'not_connected' });

  // The peer closes.
  p = ScriptedPeer.server(c.serverConfig, c.clientConfig);
  p.exchange();
  p.deliver(p.alertRecord(AlertLevel.warning, AlertDescription.close_notify, 1));
  assert.equal(p.target.state, 'closed');
  assert.ok(p.events.some((e) => e.type === 'closed' && e.byPeer));
  assert.deepEqual(p.alertsIn(p.takeRecordsFromTarget()), [
    { level: AlertLevel.warning, description: AlertDescription.close_notify },
  ]);
  p.deliver(p.record(ContentType.application_data, Buffer.from('after close'), 1));
  assert.equal(p.events.filter((e) => e.type === 'data').length, 0, 'nothing is read after close_notify');
});
