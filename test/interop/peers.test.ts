/**
 * Tests of the interop harness itself, peer against peer (OpenSSL <-> OpenSSL, GnuTLS <-> OpenSSL), so the
 * command lines and output parsers are known right before tsdtls is put in place of one side. A missing
 * peer binary fails these tests (run .ci/run or apt-get install gnutls-bin).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { CIPHER_SUITES } from '../../src/crypto/suites.js';
import { ContentType, HandshakeType } from '../../src/wire/constants.js';
import {
  cleanupPeers,
  freePort,
  gnutlsPriorityFor,
  livePeerCount,
  makeTempDir,
  PeerMissingError,
  PeerTimeoutError,
  requireBinary,
  runGnutlsClient,
  runOpensslClient,
  startGnutlsServer,
  startOpensslServer,
  startUdpRelay,
  summarizeDatagram,
} from './peers.js';

after(cleanupPeers);

interface Pem {
  cert: string;
  key: string;
}

let ca: Pem;
let server: Pem;
let client: Pem;

/** Runs the openssl CLI (bounded) to make test certificates: P-256 ECDSA, a CA and two leaves. */
function openssl(args: string[]): void {
  const r = spawnSync(requireBinary('openssl'), args, { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 0, `openssl ${args.join(' ')} failed:\n${r.stderr}`);
}

before(() => {
  const dir = makeTempDir();
  const p = (name: string) => `${dir.path}/${name}`;
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2'];
  openssl([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    p('ca.key'),
    '-out',
    p('ca.pem'),
    '-subj',
    '/CN=tsdtls interop CA',
  ]);
  const leaf = (name: string, cn: string, san: string) =>
    openssl([
      'req',
      '-x509',
      '-CA',
      p('ca.pem'),
      '-CAkey',
      p('ca.key'),
      ...ec,
      '-keyout',
      p(`${name}.key`),
      '-out',
      p(`${name}.pem`),
      '-subj',
      `/CN=${cn}`,
      '-addext',
      `subjectAltName=${san}`,
      '-addext',
      'basicConstraints=critical,CA:FALSE',
    ]);
  leaf('server', 'localhost', 'DNS:localhost,IP:127.0.0.1,IP:::1');
  leaf('client', 'interop client', 'DNS:client.invalid');
  const read = (name: string) => readFileSync(p(name), 'utf8');
  ca = { cert: read('ca.pem'), key: read('ca.key') };
  server = { cert: read('server.pem'), key: read('server.key') };
  client = { cert: read('client.pem'), key: read('client.key') };
});

const SUITE = 'ECDHE-ECDSA-AES128-GCM-SHA256';
const PSK_KEY = '00112233445566778899aabbccddeeff';

test('requireBinary fails loudly with the install hint when a peer is missing', () => {
  assert.match(requireBinary('openssl'), /\/openssl$/);
  assert.throws(
    () => requireBinary('gnutls-cli-that-does-not-exist'),
    (err: unknown) =>
      err instanceof PeerMissingError &&
      /interop peer 'gnutls-cli-that-does-not-exist' is not installed: run \.ci\/run/.test(err.message),
  );
  assert.match(new PeerMissingError('gnutls-cli').message, /apt-get install gnutls-bin/);
});

test('freePort returns a bindable UDP port on 127.0.0.1 and ::1', async () => {
  for (const host of ['127.0.0.1', '::1'] as const) {
    const port = await freePort(host);
    assert.ok(port > 0 && port < 65536);
  }
});

test('openssl s_client <-> s_server: DTLS 1.2 ECDHE-ECDSA-AES128-GCM-SHA256, data both ways', async () => {
  const srv = await startOpensslServer({ cert: server.cert, key: server.key, cipher: SUITE });
  const reply = srv.respond(/^ping from client$/m, 'pong from server\n');
  const run = await runOpensslClient({
    port: srv.port,
    caFile: ca.cert,
    send: 'ping from client',
    expect: /pong from server/,
  });
  await reply;
  assert.equal(run.report.handshakeComplete, true);
  assert.equal(run.report.protocol, 'DTLSv1.2');
  assert.equal(run.report.cipher, SUITE);
  assert.equal(run.report.resumed, false);
  assert.equal(run.report.verifyReturnCode, 0);
  assert.equal(run.report.extendedMasterSecret, true);
  assert.equal(run.report.peerCertificateSubject, 'CN = localhost');
  assert.match(run.received, /^pong from server$/m);
  assert.equal(run.exitCode, 0, 'stdin EOF makes s_client close cleanly');
  assert.equal(srv.report().cipher, SUITE);
  assert.equal(srv.report().handshakes, 1);
  await srv.stop();
  assert.equal(srv.running, false);
});

test('openssl server certificate check fails the handshake for an untrusted CA', async () => {
  const srv = await startOpensslServer({ cert: server.cert, key: server.key });
  // The client trusts only the client leaf, not the CA that issued the server's certificate.
  const run = await runOpensslClient({ port: srv.port, caFile: client.cert, timeoutMs: 5000 });
  assert.equal(run.report.handshakeComplete, false);
  assert.ok(
    run.report.errors.some((line) => /certificate verify failed/.test(line)),
    run.report.errors.join('\n'),
  );
  assert.notEqual(run.exitCode, 0);
  await srv.stop();
});

test('openssl -listen: stateless cookie exchange with a HelloVerifyRequest', async () => {
  const srv = await startOpensslServer({ cert: server.cert, key: server.key, cipher: SUITE, listen: true });
  const relay = await startUdpRelay(srv.port);
  const reply = srv.respond(/^cookie ok\?$/m, 'yes\n');
  const run = await runOpensslClient({
    port: relay.port,
    caFile: ca.cert,
    send: 'cookie ok?',
    expect: /^yes$/m,
  });
  await reply;
  assert.equal(run.report.cipher, SUITE);
  const handshakes = relay.datagrams.map((d) => ({
    direction: d.direction,
    types: summarizeDatagram(d.data).flatMap((r) => (r.handshake ? [r.handshake.msgType] : [])),
  }));
  // RFC 6347 §4.2.1: ClientHello, HelloVerifyRequest, ClientHello (with cookie), ServerHello...
  assert.deepEqual(handshakes[0], { direction: 'to-server', types: [HandshakeType.client_hello] });
  assert.deepEqual(handshakes[1], { direction: 'to-client', types: [HandshakeType.hello_verify_request] });
  assert.deepEqual(handshakes[2], { direction: 'to-server', types: [HandshakeType.client_hello] });
  assert.equal(handshakes[3]?.types[0], HandshakeType.server_hello);
  await relay.close();
  await srv.stop();
});

test('openssl -mtu 500 on both sides: datagrams fit, the flight is fragmented', async () => {
  const mtu = 500;
  const srv = await startOpensslServer({ cert: server.cert, key: server.key, cipher: SUITE, mtu });
  const relay = await startUdpRelay(srv.port);
  const reply = srv.respond(/^small$/m, 'world\n');
  const run = await runOpensslClient({
    port: relay.port,
    caFile: ca.cert,
    mtu,
    send: 'small',
    expect: /^world$/m,
  });
  await reply;
  assert.equal(run.report.cipher, SUITE);
  // OpenSSL's -mtu is the link MTU: minus 20 (IPv4) + 8 (UDP) header bytes.
  const largest = Math.max(...relay.datagrams.map((d) => d.data.length));
  assert.ok(largest <= mtu - 28, `largest datagram ${largest} > ${mtu - 28}`);
  const fragments = relay.datagrams
    .filter((d) => d.direction === 'to-client')
    .flatMap((d) => summarizeDatagram(d.data))
    .filter((r) => r.handshake !== undefined && r.handshake.fragmentLength < r.handshake.length);
  assert.ok(fragments.length >= 2, 'the server flight was split into handshake fragments');
  assert.ok(fragments.every((r) => r.contentType === ContentType.handshake));
  await relay.close();
  await srv.stop();
});

test('openssl client certificate: -Verify requires one and the server reads its subject', async () => {
  const opts = { cert: server.cert, key: server.key, caFile: ca.cert, clientAuth: 'require' as const };
  const srv = await startOpensslServer(opts);
  const reply = srv.respond(/^authenticated$/m, 'welcome\n');
  const run = await runOpensslClient({
    port: srv.port,
    caFile: ca.cert,
    cert: client.cert,
    key: client.key,
    send: 'authenticated',
    expect: /^welcome$/m,
  });
  await reply;
  assert.equal(run.report.handshakeComplete, true);
  assert.equal(srv.report().clientCertificateSubject, 'CN = interop client');
  await srv.stop();

  const strict = await startOpensslServer(opts);
  const anonymous = await runOpensslClient({ port: strict.port, caFile: ca.cert, timeoutMs: 5000 });
  assert.equal(anonymous.report.handshakeComplete, false, 'no client certificate, no handshake');
  assert.equal(anonymous.report.alertReceived, 'handshake failure');
  assert.notEqual(anonymous.exitCode, 0);
  await strict.stop();
});

test('openssl PSK: PSK-AES128-CCM8 with identity and hint', async () => {
  const srv = await startOpensslServer({
    psk: { keyHex: PSK_KEY, identity: 'device-7', hint: 'tsdtls hint' },
    cipher: 'PSK-AES128-CCM8',
  });
  const reply = srv.respond(/^psk data$/m, 'psk reply\n');
  const run = await runOpensslClient({
    port: srv.port,
    psk: { keyHex: PSK_KEY, identity: 'device-7' },
    cipher: 'PSK-AES128-CCM8',
    send: 'psk data',
    expect: /^psk reply$/m,
  });
  await reply;
  assert.equal(run.report.cipher, 'PSK-AES128-CCM8');
  assert.equal(run.report.protocol, 'DTLSv1.2');
  assert.equal(run.report.pskIdentity, 'device-7');
  assert.equal(run.report.pskIdentityHint, 'tsdtls hint');
  assert.equal(srv.report().cipher, 'PSK-AES128-CCM8');
  await srv.stop();
});

test('openssl over ::1 with resumption: -sess_out then -sess_in gives Reused', async () => {
  const dir = makeTempDir();
  const session = `${dir.path}/session.pem`;
  const srv = await startOpensslServer({ host: '::1', cert: server.cert, key: server.key, cipher: SUITE });
  const first = await runOpensslClient({ host: '::1', port: srv.port, caFile: ca.cert, sessOut: session });
  assert.equal(first.report.handshakeComplete, true);
  assert.equal(first.report.resumed, false);
  const second = await runOpensslClient({ host: '::1', port: srv.port, caFile: ca.cert, sessIn: session });
  assert.equal(second.report.resumed, true);
  assert.equal(second.report.cipher, SUITE);
  assert.equal(srv.report().handshakes, 2);
  await srv.stop();
});

test('gnutls-cli -> openssl s_server: chosen priority, SRTP and exported keying material agree', async () => {
  const keyMaterial = { label: 'EXTRACTOR-dtls_srtp', length: 60 };
  const srv = await startOpensslServer({
    cert: server.cert,
    key: server.key,
    srtp: 'SRTP_AES128_CM_SHA1_80',
    keyMaterial,
  });
  const reply = srv.respond(/^hello openssl$/m, 'hello gnutls\n');
  const run = await runGnutlsClient({
    port: srv.port,
    // P-256 must stay offered: in TLS 1.2 OpenSSL also checks the ECDSA certificate's curve against the
    // client's supported_groups (RFC 8422 §5.1.1) and answers "no shared cipher" without it.
    priority: gnutlsPriorityFor(SUITE, ['X25519', 'P-256']),
    caFile: ca.cert,
    srtp: 'SRTP_AES128_CM_HMAC_SHA1_80',
    keyMaterial,
    send: 'hello openssl',
    expect: /^hello gnutls$/m,
  });
  await reply;
  assert.equal(run.report.handshakeComplete, true);
  assert.equal(run.report.certificateTrusted, true);
  assert.equal(run.report.protocol, 'DTLS1.2');
  assert.equal(run.report.keyExchange, 'ECDHE-X25519');
  assert.equal(run.report.cipher, 'AES-128-GCM');
  assert.equal(run.report.srtpProfile, 'SRTP_AES128_CM_HMAC_SHA1_80');
  const server_ = srv.report();
  assert.equal(server_.cipher, SUITE);
  assert.equal(server_.sharedGroups, 'x25519:secp256r1');
  assert.equal(server_.srtpProfile, 'SRTP_AES128_CM_SHA1_80');
  assert.match(run.report.keyingMaterial ?? '', /^[0-9a-f]{120}$/);
  assert.equal(server_.keyingMaterial, run.report.keyingMaterial, 'both ends exported the same 60 bytes');
  await srv.stop();
});

test('gnutls-cli --resume -> openssl s_server: the second handshake is a resumption', async () => {
  const srv = await startOpensslServer({ cert: server.cert, key: server.key, cipher: SUITE });
  const run = await runGnutlsClient({ port: srv.port, caFile: ca.cert, resume: true });
  assert.equal(run.report.handshakeComplete, true);
  assert.equal(run.report.resumed, true);
  assert.equal(run.report.cipher, 'AES-128-GCM');
  assert.equal(srv.report().handshakes, 2);
  await srv.stop();
});

test('openssl s_client -> gnutls-serv --udp --echo: chosen priority and echoed data', async () => {
  const srv = await startGnutlsServer({
    cert: server.cert,
    key: server.key,
    priority: gnutlsPriorityFor('ECDHE-ECDSA-CHACHA20-POLY1305', ['P-256']),
  });
  const run = await runOpensslClient({
    port: srv.port,
    caFile: ca.cert,
    send: 'echo me please',
    expect: /^echo me please$/m,
  });
  assert.equal(run.report.protocol, 'DTLSv1.2');
  assert.equal(run.report.cipher, 'ECDHE-ECDSA-CHACHA20-POLY1305');
  assert.match(run.report.serverTempKey ?? '', /prime256v1/);
  assert.equal(run.exitCode, 0);
  assert.deepEqual(srv.received(), ['echo me please']);
  await srv.stop();
});

test('gnutls-serv PSK (TLS_PSK_WITH_AES_128_CCM_8) with openssl s_client then gnutls-cli', async () => {
  const priority = gnutlsPriorityFor('PSK-AES128-CCM8');
  const psk = { identity: 'sensor-1', keyHex: PSK_KEY };
  const srv = await startGnutlsServer({ psk, priority });
  const run = await runOpensslClient({
    port: srv.port,
    psk,
    cipher: 'PSK-AES128-CCM8',
    send: 'coap-ish',
    expect: /^coap-ish$/m,
  });
  assert.equal(run.report.cipher, 'PSK-AES128-CCM8');
  assert.equal(run.report.pskIdentity, 'sensor-1');
  const gnutls = await runGnutlsClient({ port: srv.port, psk, priority, send: 'again', expect: /^again$/m });
  assert.equal(gnutls.report.cipher, 'AES-128-CCM-8');
  assert.equal(gnutls.report.keyExchange, 'PSK');
  assert.deepEqual(srv.received(), ['coap-ish', 'again']);
  await srv.stop();
});

test('gnutlsPriorityFor selects exactly the suite of our table, by IANA code point', () => {
  const gnutlsCli = requireBinary('gnutls-cli');
  let checked = 0;
  for (const suite of CIPHER_SUITES) {
    let priority: string;
    try {
      priority = gnutlsPriorityFor(suite.opensslName);
    } catch {
      // RFC 8442 ECDHE-PSK AES-GCM/CCM: GnuTLS 3.7 has no such suite.
      assert.match(suite.name, /^TLS_ECDHE_PSK_WITH_AES_/);
      continue;
    }
    const r = spawnSync(gnutlsCli, ['--list', '--priority', priority], { encoding: 'utf8', timeout: 10_000 });
    const ids = [...r.stdout.matchAll(/\t0x([0-9a-f]{2}), 0x([0-9a-f]{2})\t/g)].map((m) =>
      Number.parseInt(m[1]! + m[2]!, 16),
    );
    assert.deepEqual(ids, [suite.id], `${suite.opensslName}: ${priority}`);
    checked++;
  }
  assert.ok(checked >= 15);
});

test('a peer that never answers makes the run time out, and the client is killed', async () => {
  const blackHole = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => blackHole.bind(0, '127.0.0.1', resolve));
  try {
    const running = livePeerCount();
    const started = Date.now();
    await assert.rejects(
      runOpensslClient({ port: blackHole.address().port, caFile: ca.cert, timeoutMs: 1500 }),
      (err: unknown) => err instanceof PeerTimeoutError && /s_client/.test(err.message),
    );
    assert.ok(Date.now() - started < 5000, 'bounded by timeoutMs plus a bounded stop');
    assert.equal(livePeerCount(), running);
  } finally {
    blackHole.close();
  }
});

test('cleanup leaves no peer process running', async () => {
  const running = livePeerCount();
  const openssl = await startOpensslServer({ cert: server.cert, key: server.key });
  const gnutls = await startGnutlsServer({ cert: server.cert, key: server.key });
  assert.equal(livePeerCount(), running + 2);
  await cleanupPeers();
  assert.equal(livePeerCount(), 0);
  assert.equal(openssl.running, false);
  assert.equal(gnutls.running, false);
  assert.ok(openssl.signal === 'SIGTERM' || openssl.exitCode !== null);
});
