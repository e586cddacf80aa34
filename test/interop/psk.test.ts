/**
 * tsdtls PSK (RFC 4279, RFC 6655 CCM, RFC 7905 ChaCha20) and the CCM suites against OpenSSL 3.0
 * `s_server`/`s_client -dtls1_2 -psk HEX -psk_identity ID [-psk_hint H] -nocert`, both roles, through the
 * Node API. GnuTLS PSK runs are in gnutls.test.ts.
 *
 * What real peers do with a wrong key (found by running them): neither OpenSSL nor GnuTLS sends an alert;
 * the Finished they cannot decrypt is discarded as RFC 6347 §4.1.2.7 says ("invalid records SHOULD be
 * silently discarded"). Our server drops the first one too, and ends with a fatal bad_record_mac when the
 * peer's resent flight fails the same way; our client against such a silent peer ends in `timeout` after
 * handshakeTimeout, never in a hang. s_server's -psk_identity is only a hint for its log: it accepts any identity with
 * the one key ("PSK warning: client identity not what we expected"), so unknown_psk_identity can only be
 * shown with our server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type GeneratedCertificate, generateCertificate } from '../../src/cert/generate.js';
import type { DtlsError } from '../../src/errors.js';
import type { DtlsSocket } from '../../src/node/socket.js';
import { closeOurs, connectTracked, HANDSHAKE_MS, startOurServer } from './ours.js';
import { runOpensslClient, startOpensslServer, withTimeout } from './peers.js';

after(closeOurs);
const PSK_HEX = '0123456789abcdeffedcba9876543210';
const PSK = Buffer.from(PSK_HEX, 'hex');
const IDENTITY = 'device-7';
const HINT = 'tsdtls hint';

let ca: GeneratedCertificate;
let ecdsaServer: GeneratedCertificate;

before(async () => {
  ca = await generateCertificate({ keyType: 'ecdsa-p256', commonName: 'tsdtls PSK-test CA', isCA: true });
  ecdsaServer = await generateCertificate({
    keyType: 'ecdsa-p256',
    commonName: 'localhost',
    subjectAltNames: ['localhost', '127.0.0.1'],
    issuer: ca,
  });
});

/** Sends a line and resolves with the first datagram that comes back. */
async function exchange(socket: DtlsSocket, text: string): Promise<string> {
  const reply = withTimeout(
    new Promise<string>((resolve) => socket.once('message', (m: Buffer) => resolve(m.toString('utf8')))),
    HANDSHAKE_MS,
    'a reply',
  );
  socket.send(text);
  return reply;
}

/** IANA name -> OpenSSL name, written out here rather than read from our suite table. */
const PSK_SUITES: Record<string, string> = {
  TLS_PSK_WITH_AES_128_CCM_8: 'PSK-AES128-CCM8',
  TLS_PSK_WITH_AES_256_CCM_8: 'PSK-AES256-CCM8',
  TLS_PSK_WITH_AES_128_CCM: 'PSK-AES128-CCM',
  TLS_PSK_WITH_AES_128_GCM_SHA256: 'PSK-AES128-GCM-SHA256',
  TLS_PSK_WITH_CHACHA20_POLY1305_SHA256: 'PSK-CHACHA20-POLY1305',
  TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-PSK-CHACHA20-POLY1305',
};

describe('PSK suites against OpenSSL, both roles', { concurrency: 6 }, () => {
  for (const [suite, opensslName] of Object.entries(PSK_SUITES)) {
    const ecdhe = suite.startsWith('TLS_ECDHE_');

    test(`tsdtls client -> s_server -nocert: ${suite}`, async () => {
      const srv = await startOpensslServer({
        psk: { keyHex: PSK_HEX, identity: IDENTITY, hint: HINT },
        cipher: opensslName,
      });
      const hints: (string | undefined)[] = [];
      const replied = srv.respond(/^psk ping$/m, 'psk pong\n');
      const socket = await connectTracked({
        host: '127.0.0.1',
        port: srv.port,
        handshakeTimeout: HANDSHAKE_MS,
        cipherSuites: [suite],
        // RFC 4279 §5.2: the client may pick its identity from the server's hint.
        psk: (hint) => {
          hints.push(hint?.toString('utf8'));
          return { identity: IDENTITY, key: PSK };
        },
      });
      const reply = exchange(socket, 'psk ping\n');
      await replied;
      assert.equal(await reply, 'psk pong\n');
      assert.deepEqual(hints, [HINT]);
      assert.deepEqual(socket.getCipher(), { name: opensslName, standardName: suite, version: 'DTLSv1.2' });
      assert.equal(socket.info?.pskIdentity, IDENTITY);
      assert.equal(socket.info?.group, ecdhe ? 'x25519' : undefined);
      assert.equal(socket.getPeerCertificate(), undefined);
      await socket.close();
      assert.equal(srv.report().cipher, opensslName);
      assert.doesNotMatch(srv.stdout, /PSK warning/, 's_server got the identity it expected');
      await srv.stop();
    });

    test(`s_client -> tsdtls server (hint, async lookup): ${suite}`, async () => {
      const looked: string[] = [];
      const ours = await startOurServer({
        cipherSuites: [suite],
        psk: {
          hint: HINT,
          lookup: async (identity) => {
            looked.push(identity.toString('utf8'));
            return identity.toString('utf8') === IDENTITY ? PSK : undefined;
          },
        },
      });
      try {
        const run = await runOpensslClient({
          port: ours.port,
          psk: { keyHex: PSK_HEX, identity: IDENTITY },
          cipher: opensslName,
          send: 'coap-like',
          expect: /^coap-like$/m,
        });
        assert.equal(run.report.handshakeComplete, true, run.stderr);
        assert.equal(run.report.cipher, opensslName);
        assert.equal(run.report.pskIdentity, IDENTITY);
        assert.equal(run.report.pskIdentityHint, HINT);
        assert.match(run.report.serverTempKey ?? '(none)', ecdhe ? /^X25519/ : /^\(none\)$/);
        assert.deepEqual(looked, [IDENTITY]);
        assert.equal(ours.connections[0]?.info?.cipherSuite, suite);
        assert.equal(ours.connections[0]?.info?.pskIdentity, IDENTITY);
      } finally {
        await ours.server.close();
      }
    });
  }
});

describe('CCM with a certificate, PSK failures', { concurrency: 4 }, () => {
  test('TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 with a certificate, both roles', async () => {
    const suite = 'TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8';
    const opensslName = 'ECDHE-ECDSA-AES128-CCM8';
    const srv = await startOpensslServer({
      cert: ecdsaServer.cert,
      key: ecdsaServer.key,
      cipher: opensslName,
    });
    const replied = srv.respond(/^ccm8$/m, 'got ccm8\n');
    const socket = await connectTracked({
      host: '127.0.0.1',
      port: srv.port,
      ca: ca.cert,
      serverName: 'localhost',
      cipherSuites: [suite],
      handshakeTimeout: HANDSHAKE_MS,
    });
    const reply = exchange(socket, 'ccm8\n');
    await replied;
    assert.equal(await reply, 'got ccm8\n');
    assert.equal(socket.getCipher()?.name, opensslName);
    await socket.close();
    assert.equal(srv.report().cipher, opensslName);
    await srv.stop();

    const ours = await startOurServer({
      cert: ecdsaServer.cert,
      key: ecdsaServer.key,
      cipherSuites: [suite],
    });
    try {
      const run = await runOpensslClient({
        port: ours.port,
        caFile: ca.cert,
        cipher: opensslName,
        send: 'ccm8 again',
        expect: /^ccm8 again$/m,
      });
      assert.equal(run.report.cipher, opensslName);
      assert.equal(run.report.verifyReturnCode, 0);
      assert.equal(ours.connections[0]?.info?.cipherSuite, suite);
    } finally {
      await ours.server.close();
    }
  });

  test('an unknown identity: our server sends unknown_psk_identity, s_client reads it', async () => {
    const ours = await startOurServer({
      cipherSuites: ['TLS_PSK_WITH_AES_128_CCM_8'],
      psk: { hint: HINT, lookup: (identity) => (identity.toString('utf8') === IDENTITY ? PSK : undefined) },
    });
    try {
      const run = await runOpensslClient({
        port: ours.port,
        psk: { keyHex: PSK_HEX, identity: 'intruder' },
        cipher: 'PSK-AES128-CCM8',
        timeoutMs: HANDSHAKE_MS,
      });
      assert.equal(run.report.handshakeComplete, false);
      assert.equal(run.report.alertReceived, 'unknown psk identity', run.stderr);
      assert.notEqual(run.exitCode, 0);
      const error = await ours.nextPeerError();
      assert.equal(error.code, 'unknown_psk_identity');
      assert.equal(error.alertSent, true);
      assert.equal(ours.connections.length, 0);
    } finally {
      await ours.server.close();
    }
  });

  test('a wrong key, tsdtls client: s_server discards the Finished, we fail with timeout, no hang', async () => {
    const srv = await startOpensslServer({
      psk: { keyHex: PSK_HEX, identity: IDENTITY },
      cipher: 'PSK-AES128-CCM8',
    });
    const started = Date.now();
    const handshakeTimeout = 2000;
    const error = await connectTracked({
      host: '127.0.0.1',
      port: srv.port,
      cipherSuites: ['TLS_PSK_WITH_AES_128_CCM_8'],
      psk: { identity: IDENTITY, key: Buffer.from('ffeeddccbbaa99887766554433221100', 'hex') },
      handshakeTimeout,
    }).then(
      async (socket) => {
        await socket.close();
        return assert.fail('a wrong PSK must not complete the handshake');
      },
      (e: DtlsError) => e,
    );
    const elapsed = Date.now() - started;
    // OpenSSL never alerts (RFC 6347 §4.1.2.7), so our client can only give up at handshakeTimeout.
    assert.equal(error.code, 'timeout', error.message);
    assert.ok(elapsed < handshakeTimeout + 1000, `failed after ${elapsed} ms`);
    assert.equal(srv.report().handshakes, 0);
    await srv.stop();
  });

  test('a wrong key, tsdtls server: the Finished fails authentication twice, so we end with bad_record_mac', async () => {
    const ours = await startOurServer({
      cipherSuites: ['TLS_PSK_WITH_AES_128_CCM_8'],
      psk: { lookup: () => PSK },
      handshakeTimeout: 5000,
    });
    try {
      // s_client retransmits its flight once (1 s); the second undecryptable Finished ends it.
      const client = runOpensslClient({
        port: ours.port,
        psk: { keyHex: 'ffeeddccbbaa99887766554433221100', identity: IDENTITY },
        cipher: 'PSK-AES128-CCM8',
        timeoutMs: 4000,
      }).catch((e: unknown) => e);
      const error = await ours.nextPeerError(4000);
      assert.equal(error.code, 'bad_record_mac', error.message);
      assert.equal(error.alertSent, true);
      assert.equal(ours.connections.length, 0);
      const r = await client;
      if (!(r instanceof Error)) {
        // s_client read our fatal alert and did not complete.
        assert.notEqual((r as { exitCode: number | null }).exitCode, 0);
        assert.match(`${(r as { stderr: string }).stderr}`, /bad record mac/i);
      }
    } finally {
      await ours.server.close();
    }
  });
});
