/**
 * tsdtls against OpenSSL 3.0 (`openssl s_server`/`s_client -dtls1_2`), both roles, through the Node API:
 * every certificate suite and group of the core set, client certificates, cookies, a small MTU, CA chains,
 * fingerprint pinning and the alerts of a rejected certificate. The peers and their quirks are in peers.ts.
 * Certificates come from our generateCertificate, so every run also proves OpenSSL accepts them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type GeneratedCertificate, generateCertificate } from '../../src/cert/generate.js';
import type { DtlsError } from '../../src/errors.js';
import type { ConnectOptions } from '../../src/node/client.js';
import type { DtlsSocket } from '../../src/node/socket.js';
import { ContentType, HandshakeType } from '../../src/wire/constants.js';
import { Reader } from '../../src/wire/reader.js';
import { closeOurs, connectTracked, HANDSHAKE_MS, startOurServer } from './ours.js';
import {
  type OpensslServer,
  type RelayedDatagram,
  runOpensslClient,
  startOpensslServer,
  startUdpRelay,
  summarizeDatagram,
  withTimeout,
} from './peers.js';

after(closeOurs);

let ca: GeneratedCertificate;
let otherCa: GeneratedCertificate;
let ecdsaServer: GeneratedCertificate;
let rsaServer: GeneratedCertificate;
let ecdsaClient: GeneratedCertificate;
let rsaClient: GeneratedCertificate;
let strangerClient: GeneratedCertificate;

before(async () => {
  ca = await generateCertificate({ keyType: 'ecdsa-p256', commonName: 'tsdtls interop CA', isCA: true });
  otherCa = await generateCertificate({ keyType: 'ecdsa-p256', commonName: 'some other CA', isCA: true });
  const san = ['localhost', '127.0.0.1', '::1'];
  ecdsaServer = await generateCertificate({
    keyType: 'ecdsa-p256',
    commonName: 'localhost',
    subjectAltNames: san,
    issuer: ca,
  });
  rsaServer = await generateCertificate({
    keyType: 'rsa-2048',
    commonName: 'localhost',
    subjectAltNames: san,
    issuer: ca,
  });
  ecdsaClient = await generateCertificate({ keyType: 'ecdsa-p256', commonName: 'tsdtls client', issuer: ca });
  rsaClient = await generateCertificate({ keyType: 'rsa-2048', commonName: 'tsdtls rsa client', issuer: ca });
  strangerClient = await generateCertificate({
    keyType: 'ecdsa-p256',
    commonName: 'stranger',
    issuer: otherCa,
  });
});

// -------------------------------------------------------------------------------------------------------
// Helpers

/** Our client: connect, send one line, wait for the peer's reply (s_server answers via respond()). */
async function connectAndExchange(
  srv: OpensslServer,
  options: Omit<ConnectOptions, 'host' | 'port'>,
  port = srv.port,
): Promise<DtlsSocket> {
  // Only what s_server prints from now on: it may have served an earlier connection already.
  const replied = srv.respond(
    /^hello from tsdtls$/m,
    'hello from openssl\n',
    HANDSHAKE_MS,
    srv.stdout.length,
  );
  const socket = await connectTracked({
    host: '127.0.0.1',
    port,
    handshakeTimeout: HANDSHAKE_MS,
    ...options,
  });
  const reply = withTimeout(
    new Promise<string>((resolve) => socket.once('message', (m: Buffer) => resolve(m.toString('utf8')))),
    HANDSHAKE_MS,
    'the reply from s_server',
  );
  socket.send('hello from tsdtls\n');
  await replied;
  assert.equal(await reply, 'hello from openssl\n');
  return socket;
}

/** Our connect() must fail: returns the DtlsError. */
async function connectFails(options: ConnectOptions): Promise<DtlsError> {
  try {
    const socket = await connectTracked({ handshakeTimeout: HANDSHAKE_MS, ...options });
    await socket.close();
  } catch (e) {
    return e as DtlsError;
  }
  assert.fail('the handshake was expected to fail');
}

/** Handshake records (epoch 0) of relayed datagrams, with the direction they went. */
function handshakeRecords(datagrams: readonly RelayedDatagram[], direction: RelayedDatagram['direction']) {
  return datagrams
    .filter((d) => d.direction === direction)
    .flatMap((d) => summarizeDatagram(d.data))
    .filter((r) => r.contentType === ContentType.handshake && r.handshake !== undefined)
    .map((r) => r.handshake!);
}

/** The cookie of the ClientHello that starts `datagram` (RFC 6347 §4.2.1: after session_id). */
function clientHelloCookie(datagram: Buffer): Buffer {
  const reader = new Reader(datagram);
  reader.bytes(13, 'record header');
  assert.equal(reader.u8('msg_type'), HandshakeType.client_hello);
  reader.bytes(11, 'rest of the handshake header');
  reader.bytes(2 + 32, 'client_version and random');
  reader.vec8('session_id');
  return Buffer.from(reader.vec8('cookie'));
}

// -------------------------------------------------------------------------------------------------------
// Every suite x group

const ECDSA_SUITES = [
  'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
  'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
  'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
];
const RSA_SUITES = [
  'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
  'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
  'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
];
/** IANA name -> OpenSSL name, written out here rather than read from our suite table. */
const OPENSSL_SUITE: Record<string, string> = {
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
};
/** Our group name -> OpenSSL -groups name and what s_client prints as `Server Temp Key`. */
const GROUPS = [
  { ours: 'x25519', openssl: 'X25519', tempKey: 'X25519, 253 bits' },
  { ours: 'secp256r1', openssl: 'P-256', tempKey: 'ECDH, prime256v1, 256 bits' },
  { ours: 'secp384r1', openssl: 'P-384', tempKey: 'ECDH, secp384r1, 384 bits' },
];

describe('tsdtls client -> openssl s_server, every suite and group', { concurrency: 6 }, () => {
  for (const suite of [...ECDSA_SUITES, ...RSA_SUITES]) {
    for (const group of GROUPS) {
      test(`${suite} over ${group.ours}`, async () => {
        const rsa = suite.includes('_RSA_');
        const cert = rsa ? rsaServer : ecdsaServer;
        // s_server offers exactly this suite and group; our client offers its defaults and must follow.
        const srv = await startOpensslServer({
          cert: cert.cert,
          key: cert.key,
          cipher: OPENSSL_SUITE[suite]!,
          groups: group.openssl,
        });
        const socket = await connectAndExchange(srv, { ca: ca.cert, serverName: 'localhost' });
        assert.deepEqual(socket.getCipher(), {
          name: OPENSSL_SUITE[suite],
          standardName: suite,
          version: 'DTLSv1.2',
        });
        assert.equal(socket.getProtocol(), 'DTLSv1.2');
        assert.equal(socket.info?.group, group.ours);
        assert.match(socket.info?.signatureScheme ?? '', rsa ? /^rsa_/ : /^ecdsa_secp256r1_sha256$/);
        assert.equal(socket.info?.extendedMasterSecret, true);
        assert.equal(socket.getPeerCertificate()?.subject, 'CN=localhost');
        await socket.close();
        assert.equal(srv.report().cipher, OPENSSL_SUITE[suite]);
        assert.equal(srv.report().handshakes, 1);
        await srv.stop();
      });
    }
  }
});

describe('openssl s_client -> tsdtls server, every suite and group', { concurrency: 6 }, () => {
  for (const suite of [...ECDSA_SUITES, ...RSA_SUITES]) {
    for (const group of GROUPS) {
      test(`${suite} over ${group.ours}`, async () => {
        const rsa = suite.includes('_RSA_');
        const cert = rsa ? rsaServer : ecdsaServer;
        // Our server accepts exactly this suite and group; s_client offers OpenSSL's defaults.
        const ours = await startOurServer({
          cert: cert.cert,
          key: cert.key,
          cipherSuites: [suite],
          groups: [group.ours],
        });
        try {
          const run = await runOpensslClient({
            port: ours.port,
            caFile: ca.cert,
            servername: 'localhost',
            send: 'ping over dtls',
            expect: /^ping over dtls$/m,
          });
          assert.equal(run.report.handshakeComplete, true, run.stderr);
          assert.equal(run.report.protocol, 'DTLSv1.2');
          assert.equal(run.report.cipher, OPENSSL_SUITE[suite]);
          assert.equal(run.report.serverTempKey, group.tempKey);
          assert.equal(run.report.verifyReturnCode, 0, 'OpenSSL verified the chain we sent');
          assert.equal(run.report.extendedMasterSecret, true);
          assert.equal(run.exitCode, 0);
          assert.equal(ours.connections.length, 1);
          assert.equal(ours.connections[0]!.info?.cipherSuite, suite);
          assert.equal(ours.connections[0]!.info?.group, group.ours);
          assert.deepEqual(ours.peerErrors, []);
        } finally {
          await ours.server.close();
        }
      });
    }
  }
});

// -------------------------------------------------------------------------------------------------------
// Client certificates, cookies, MTU, chains and pins, rejected certificates

describe('openssl: authentication, cookies, MTU', { concurrency: 4 }, () => {
  test('tsdtls client presents a certificate to s_server -Verify', async () => {
    const srv = await startOpensslServer({
      cert: ecdsaServer.cert,
      key: ecdsaServer.key,
      caFile: ca.cert,
      clientAuth: 'require',
    });
    const socket = await connectAndExchange(srv, {
      ca: ca.cert,
      serverName: 'localhost',
      cert: ecdsaClient.cert,
      key: ecdsaClient.key,
    });
    await socket.close();
    assert.equal(srv.report().clientCertificateSubject, 'CN = tsdtls client');
    await srv.stop();
  });

  test('tsdtls client without a certificate is refused by s_server -Verify', async () => {
    const srv = await startOpensslServer({
      cert: ecdsaServer.cert,
      key: ecdsaServer.key,
      caFile: ca.cert,
      clientAuth: 'require',
    });
    const error = await connectFails({
      host: '127.0.0.1',
      port: srv.port,
      ca: ca.cert,
      serverName: 'localhost',
    });
    assert.equal(error.code, 'handshake_failure');
    assert.equal(error.alertReceived, true);
    await srv.waitFor(/peer did not return a certificate/, HANDSHAKE_MS, { stream: 'stderr' });
    await srv.stop();
  });

  test('tsdtls server with requireCert + ca accepts s_client certificate, refuses none and strangers', async () => {
    const ours = await startOurServer({
      cert: ecdsaServer.cert,
      key: ecdsaServer.key,
      ca: ca.cert,
      requireCert: true,
    });
    try {
      const run = await runOpensslClient({
        port: ours.port,
        caFile: ca.cert,
        cert: ecdsaClient.cert,
        key: ecdsaClient.key,
        send: 'with a certificate',
        expect: /^with a certificate$/m,
      });
      assert.equal(run.report.handshakeComplete, true, run.stderr);
      assert.equal(ours.connections[0]?.getPeerCertificate()?.subject, 'CN=tsdtls client');

      const anonymous = await runOpensslClient({ port: ours.port, caFile: ca.cert, timeoutMs: HANDSHAKE_MS });
      assert.equal(anonymous.report.handshakeComplete, false);
      assert.equal(anonymous.report.alertReceived, 'handshake failure', anonymous.stderr);
      assert.equal((await ours.nextPeerError()).code, 'handshake_failure');

      ours.peerErrors.length = 0;
      const stranger = await runOpensslClient({
        port: ours.port,
        caFile: ca.cert,
        cert: strangerClient.cert,
        key: strangerClient.key,
        timeoutMs: HANDSHAKE_MS,
      });
      assert.equal(stranger.report.handshakeComplete, false);
      assert.equal(stranger.report.alertReceived, 'unknown ca', stranger.stderr);
      assert.equal((await ours.nextPeerError()).code, 'unknown_ca');
      assert.equal(ours.connections.length, 1);
    } finally {
      await ours.server.close();
    }
  });

  test('s_server -listen: tsdtls client answers the HelloVerifyRequest with the cookie', async () => {
    const srv = await startOpensslServer({ cert: ecdsaServer.cert, key: ecdsaServer.key, listen: true });
    const relay = await startUdpRelay(srv.port);
    const socket = await connectAndExchange(srv, { ca: ca.cert, serverName: 'localhost' }, relay.port);
    await socket.close();
    const first = relay.datagrams.slice(0, 3);
    assert.deepEqual(
      first.map((d) => [d.direction, summarizeDatagram(d.data)[0]?.handshake?.msgType]),
      [
        ['to-server', HandshakeType.client_hello],
        ['to-client', HandshakeType.hello_verify_request],
        ['to-server', HandshakeType.client_hello],
      ],
    );
    assert.equal(clientHelloCookie(first[0]!.data).length, 0, 'the first ClientHello has no cookie');
    // RFC 6347 §4.2.1: the cookie from the HelloVerifyRequest (server_version, cookie<0..255>).
    const hvr = new Reader(first[1]!.data.subarray(13 + 12));
    hvr.u16('server_version');
    const cookie = Buffer.from(hvr.vec8('cookie'));
    assert.ok(cookie.length > 0);
    assert.deepEqual(clientHelloCookie(first[2]!.data), cookie);
    await relay.close();
    await srv.stop();
  });

  test('tsdtls server sends a HelloVerifyRequest to s_client (cookies on by default), none with cookies: false', async () => {
    for (const cookies of [true, false]) {
      const ours = await startOurServer({ cert: ecdsaServer.cert, key: ecdsaServer.key, cookies });
      const relay = await startUdpRelay(ours.port);
      try {
        const run = await runOpensslClient({
          port: relay.port,
          caFile: ca.cert,
          send: 'cookie',
          expect: /^cookie$/m,
        });
        assert.equal(run.report.handshakeComplete, true, run.stderr);
        const types = relay.datagrams.map((d) => summarizeDatagram(d.data)[0]?.handshake?.msgType);
        if (cookies) {
          assert.deepEqual(types.slice(0, 4), [
            HandshakeType.client_hello,
            HandshakeType.hello_verify_request,
            HandshakeType.client_hello,
            HandshakeType.server_hello,
          ]);
        } else {
          assert.deepEqual(types.slice(0, 2), [HandshakeType.client_hello, HandshakeType.server_hello]);
        }
      } finally {
        await relay.close();
        await ours.server.close();
      }
    }
  });

  test('small MTU: tsdtls client (mtu 472) <-> s_server -mtu 500, fragmented both ways, all within 472', async () => {
    // An RSA-2048 server certificate and a client chain of two certificates each exceed one datagram.
    const server = await startOpensslServer({
      cert: rsaServer.cert,
      key: rsaServer.key,
      caFile: ca.cert,
      clientAuth: 'require',
      mtu: 500,
    });
    const relay = await startUdpRelay(server.port);
    const socket = await connectAndExchange(
      server,
      {
        ca: ca.cert,
        serverName: 'localhost',
        cert: ecdsaClient.cert + ca.cert,
        key: ecdsaClient.key,
        mtu: 472,
      },
      relay.port,
    );
    await socket.close();
    assert.equal(server.report().clientCertificateSubject, 'CN = tsdtls client');
    const sizes = relay.datagrams.map((d) => d.data.length);
    assert.ok(Math.max(...sizes) <= 472, `datagram sizes ${sizes.join(',')}`);
    for (const direction of ['to-server', 'to-client'] as const) {
      const fragments = handshakeRecords(relay.datagrams, direction).filter(
        (h) => h.fragmentLength < h.length,
      );
      assert.ok(fragments.length >= 2, `${direction}: the flight was split into handshake fragments`);
      assert.ok(
        fragments.some((h) => h.msgType === HandshakeType.certificate && h.fragmentOffset > 0),
        `${direction}: the Certificate message was fragmented`,
      );
    }
    await relay.close();
    await server.stop();
  });

  test('small MTU: s_client -mtu 500 <-> tsdtls server (mtu 472), fragmented both ways, all within 472', async () => {
    const ours = await startOurServer({
      cert: rsaServer.cert + ca.cert,
      key: rsaServer.key,
      ca: ca.cert,
      requireCert: true,
      mtu: 472,
    });
    const relay = await startUdpRelay(ours.port);
    try {
      const run = await runOpensslClient({
        port: relay.port,
        caFile: ca.cert,
        cert: rsaClient.cert,
        key: rsaClient.key,
        mtu: 500,
        send: 'tiny',
        expect: /^tiny$/m,
      });
      assert.equal(run.report.handshakeComplete, true, run.stderr);
      assert.equal(run.report.verifyReturnCode, 0);
      assert.equal(ours.connections[0]?.getPeerCertificate()?.subject, 'CN=tsdtls rsa client');
      const sizes = relay.datagrams.map((d) => d.data.length);
      assert.ok(Math.max(...sizes) <= 472, `datagram sizes ${sizes.join(',')}`);
      for (const direction of ['to-server', 'to-client'] as const) {
        const fragments = handshakeRecords(relay.datagrams, direction).filter(
          (h) => h.msgType === HandshakeType.certificate && h.fragmentLength < h.length,
        );
        assert.ok(fragments.length >= 2, `${direction}: the Certificate message was fragmented`);
      }
    } finally {
      await relay.close();
      await ours.server.close();
    }
  });

  test('CA-verified chain with serverName localhost, and fingerprint pinning', async () => {
    const srv = await startOpensslServer({ cert: ecdsaServer.cert, key: ecdsaServer.key });
    const verified = await connectAndExchange(srv, { ca: ca.cert, serverName: 'localhost' });
    assert.equal(verified.getPeerCertificate()?.fingerprint256, ecdsaServer.certificate.fingerprint256);
    await verified.close();
    const pinned = await connectAndExchange(srv, { fingerprint: ecdsaServer.fingerprint });
    assert.equal(pinned.getPeerCertificate()?.subject, 'CN=localhost');
    await pinned.close();
    assert.equal(srv.report().handshakes, 2);
    await srv.stop();
  });

  test('a wrong pinned fingerprint: bad_certificate, and s_server reads the alert', async () => {
    const srv = await startOpensslServer({ cert: ecdsaServer.cert, key: ecdsaServer.key });
    const error = await connectFails({
      host: '127.0.0.1',
      port: srv.port,
      fingerprint: rsaServer.fingerprint,
    });
    assert.equal(error.code, 'bad_certificate');
    assert.equal(error.alertSent, true);
    await srv.waitFor(/alert bad certificate:.*SSL alert number 42/, HANDSHAKE_MS, { stream: 'stderr' });
    await srv.stop();
  });

  test('an untrusted CA: unknown_ca, and s_server reads the alert', async () => {
    const srv = await startOpensslServer({ cert: ecdsaServer.cert, key: ecdsaServer.key });
    const error = await connectFails({
      host: '127.0.0.1',
      port: srv.port,
      ca: otherCa.cert,
      serverName: 'localhost',
    });
    assert.equal(error.code, 'unknown_ca');
    assert.equal(error.alertSent, true);
    await srv.waitFor(/alert unknown ca:.*SSL alert number 48/, HANDSHAKE_MS, { stream: 'stderr' });
    await srv.stop();
  });

  test('self-signed ecdsa-p384 and rsa-2048 certificates from generateCertificate verify in s_client', async () => {
    for (const keyType of ['ecdsa-p384', 'rsa-2048'] as const) {
      const cert = await generateCertificate({
        keyType,
        commonName: 'localhost',
        subjectAltNames: ['localhost'],
      });
      const ours = await startOurServer({ cert: cert.cert, key: cert.key });
      try {
        // The certificate is its own trust anchor; -verify_return_error aborts on any complaint.
        const run = await runOpensslClient({
          port: ours.port,
          caFile: cert.cert,
          servername: 'localhost',
          extraArgs: ['-verify_hostname', 'localhost'],
          send: keyType,
          expect: new RegExp(`^${keyType}$`, 'm'),
        });
        assert.equal(run.report.handshakeComplete, true, run.stderr);
        assert.equal(run.report.verifyReturnCode, 0, `${keyType}: ${run.report.verifyReturnText}`);
        assert.match(
          ours.connections[0]?.info?.signatureScheme ?? '',
          keyType === 'rsa-2048' ? /^rsa_/ : /^ecdsa_secp384r1_sha384$/,
        );
      } finally {
        await ours.server.close();
      }
    }
  });
});
