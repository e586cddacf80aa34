/**
 * The `tsdtls` command line (bin/tsdtls.js, run as a child process like the peers) against OpenSSL 3.0 and
 * GnuTLS 3.7: server vs s_client and gnutls-cli, client vs s_server and gnutls-serv, PSK, SRTP with
 * --export, a small MTU, and failures printing `error: <code>: <reason>` with exit code 1.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type GeneratedCertificate, generateCertificate } from '../../src/cert/generate.js';
import {
  cleanupPeers,
  freePort,
  gnutlsPriorityFor,
  makeTempDir,
  PeerProcess,
  runGnutlsClient,
  runOpensslClient,
  startGnutlsServer,
  startOpensslServer,
  startUdpRelay,
  type TempDir,
} from './peers.js';

after(cleanupPeers);

/** bin/tsdtls.js, from dist/test/interop/. */
const TSDTLS = fileURLToPath(new URL('../../../bin/tsdtls.js', import.meta.url));
const RUN_MS = 10_000;
const PSK_HEX = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';

let dir: TempDir;
let ca: GeneratedCertificate;
let server: GeneratedCertificate;
let otherCa: GeneratedCertificate;
const files: Record<string, string> = {};

before(async () => {
  dir = makeTempDir();
  ca = await generateCertificate({ keyType: 'ecdsa-p256', commonName: 'tsdtls CLI-test CA', isCA: true });
  otherCa = await generateCertificate({ keyType: 'ecdsa-p256', commonName: 'another CA', isCA: true });
  server = await generateCertificate({
    keyType: 'ecdsa-p256',
    commonName: 'localhost',
    subjectAltNames: ['localhost', '127.0.0.1'],
    issuer: ca,
  });
  files.ca = dir.file('ca.pem', ca.cert);
  files.otherCa = dir.file('other-ca.pem', otherCa.cert);
  files.cert = dir.file('server.pem', server.cert);
  files.key = dir.file('server.key', server.key);
  files.pskFile = dir.file('psk.txt', `# identity:hexkey\nsensor-9:${PSK_HEX}\n`);
});

/** `tsdtls client ...` run to completion (bounded); killed if it overruns. */
async function runCliClient(args: string[]): Promise<PeerProcess> {
  const cli = new PeerProcess('tsdtls client', process.execPath, [TSDTLS, 'client', ...args]);
  cli.endInput();
  if (!(await cli.waitForExit(RUN_MS))) {
    await cli.stop();
    assert.fail(`tsdtls client did not exit within ${RUN_MS} ms.\n${cli.describe()}`);
  }
  return cli;
}

/** `tsdtls server ...` on a free port; resolves once it printed `listening on 127.0.0.1:PORT`. */
async function startCliServer(args: string[]): Promise<{ cli: PeerProcess; port: number }> {
  const cli = new PeerProcess('tsdtls server', process.execPath, [TSDTLS, 'server', ...args]);
  const { match } = await cli.waitFor(/^listening on 127\.0\.0\.1:(\d+)$/m, RUN_MS);
  return { cli, port: Number(match[1]) };
}

/** The `keying material: HEX` line a tsdtls command printed, as lowercase hex. */
function cliKeyingMaterial(cli: PeerProcess): string | undefined {
  return /^keying material: ([0-9A-F]+)$/m.exec(cli.stderr)?.[1]?.toLowerCase();
}

describe('tsdtls server (CLI) against openssl s_client and gnutls-cli', { concurrency: 6 }, () => {
  test('--cert/--key --echo with s_client: established line, echo, CA-verified chain', async () => {
    const { cli, port } = await startCliServer(['--cert', files.cert!, '--key', files.key!, '--echo']);
    const run = await runOpensslClient({
      port,
      caFile: ca.cert,
      servername: 'localhost',
      send: 'echo through the cli',
      expect: /^echo through the cli$/m,
    });
    assert.equal(run.report.handshakeComplete, true, run.stderr);
    assert.equal(run.report.verifyReturnCode, 0);
    await cli.waitFor(
      /^established 127\.0\.0\.1:\d+ DTLSv1\.2 TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 \(x25519, ecdsa_secp256r1_sha256, extended master secret\)$/m,
      RUN_MS,
      { stream: 'stderr' },
    );
    assert.equal(run.report.cipher, 'ECDHE-ECDSA-AES128-GCM-SHA256');
    await cli.stop();
  });

  test('without --cert it prints the fingerprint of the certificate s_client then receives', async () => {
    const { cli, port } = await startCliServer([
      '--echo',
      '--ciphers',
      'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
    ]);
    const printed = /^fingerprint: (sha-256 [0-9A-F:]+)$/m.exec(cli.stdout)?.[1];
    assert.ok(printed, cli.stdout);
    const run = await runOpensslClient({ port, send: 'self-signed', expect: /^self-signed$/m });
    assert.equal(run.report.cipher, 'ECDHE-ECDSA-CHACHA20-POLY1305');
    const pem = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/.exec(run.stdout)?.[0];
    assert.ok(pem, 's_client printed the server certificate');
    assert.equal(printed, `sha-256 ${new X509Certificate(pem).fingerprint256}`);
    await cli.stop();
  });

  test('--psk --psk-identity --psk-hint with s_client PSK-AES128-CCM8', async () => {
    const { cli, port } = await startCliServer([
      '--psk',
      PSK_HEX,
      '--psk-identity',
      'cli-device',
      '--psk-hint',
      'cli hint',
      '--ciphers',
      'PSK-AES128-CCM8',
      '--echo',
    ]);
    assert.doesNotMatch(cli.stdout, /^fingerprint:/m, 'PSK only: no certificate generated');
    const run = await runOpensslClient({
      port,
      psk: { keyHex: PSK_HEX, identity: 'cli-device' },
      cipher: 'PSK-AES128-CCM8',
      send: 'psk via cli',
      expect: /^psk via cli$/m,
    });
    assert.equal(run.report.cipher, 'PSK-AES128-CCM8');
    assert.equal(run.report.pskIdentityHint, 'cli hint');
    await cli.waitFor(/^established .* TLS_PSK_WITH_AES_128_CCM_8 \(psk identity cli-device/m, RUN_MS, {
      stream: 'stderr',
    });
    await cli.stop();
  });

  test('--psk-file with gnutls-cli (PSK, AES-128-CCM-8)', async () => {
    const { cli, port } = await startCliServer([
      '--psk-file',
      files.pskFile!,
      '--ciphers',
      'PSK-AES128-CCM8',
      '--echo',
    ]);
    const run = await runGnutlsClient({
      port,
      priority: gnutlsPriorityFor('PSK-AES128-CCM8'),
      psk: { identity: 'sensor-9', keyHex: PSK_HEX },
      send: 'psk file',
      expect: /^psk file$/m,
    });
    assert.equal(run.report.handshakeComplete, true, run.stdout);
    assert.equal(run.report.cipher, 'AES-128-CCM-8');
    await cli.waitFor(/psk identity sensor-9/, RUN_MS, { stream: 'stderr' });
    await cli.stop();
  });

  test('--srtp --export with s_client -use_srtp -keymatexport: same profile, same bytes', async () => {
    const { cli, port } = await startCliServer([
      '--cert',
      files.cert!,
      '--key',
      files.key!,
      '--srtp',
      'SRTP_AEAD_AES_128_GCM',
      '--export',
      'EXTRACTOR-dtls_srtp:56',
      '--echo',
    ]);
    const run = await runOpensslClient({
      port,
      caFile: ca.cert,
      srtp: 'SRTP_AES128_CM_SHA1_80:SRTP_AEAD_AES_128_GCM',
      keyMaterial: { label: 'EXTRACTOR-dtls_srtp', length: 56 },
      send: 'srtp cli',
      expect: /^srtp cli$/m,
    });
    assert.equal(run.report.srtpProfile, 'SRTP_AEAD_AES_128_GCM');
    await cli.waitFor(/^keying material: /m, RUN_MS, { stream: 'stderr' });
    assert.match(cli.stderr, /srtp SRTP_AEAD_AES_128_GCM/);
    assert.match(run.report.keyingMaterial ?? '', /^[0-9a-f]{112}$/);
    assert.equal(cliKeyingMaterial(cli), run.report.keyingMaterial);
    await cli.stop();
  });

  test('--export with gnutls-cli --keymatexport (SRTP_AES128_CM_HMAC_SHA1_80)', async () => {
    const { cli, port } = await startCliServer([
      '--cert',
      files.cert!,
      '--key',
      files.key!,
      '--srtp',
      'SRTP_AES128_CM_HMAC_SHA1_80',
      '--export',
      'EXTRACTOR-dtls_srtp:60',
      '--echo',
    ]);
    const run = await runGnutlsClient({
      port,
      caFile: ca.cert,
      verifyHostname: 'localhost',
      srtp: 'SRTP_AES128_CM_HMAC_SHA1_80',
      keyMaterial: { label: 'EXTRACTOR-dtls_srtp', length: 60 },
    });
    assert.equal(run.report.srtpProfile, 'SRTP_AES128_CM_HMAC_SHA1_80');
    await cli.waitFor(/^keying material: /m, RUN_MS, { stream: 'stderr' });
    assert.equal(cliKeyingMaterial(cli), run.report.keyingMaterial);
    await cli.stop();
  });
});

describe('tsdtls client (CLI) against openssl s_server and gnutls-serv', { concurrency: 6 }, () => {
  test('--ca --server-name --send against s_server: reply on stdout, exit 0', async () => {
    const srv = await startOpensslServer({ cert: server.cert, key: server.key });
    const replied = srv.respond(/^from the cli$/m, 'to the cli\n');
    const cli = await runCliClient([
      '--host',
      '127.0.0.1',
      '--port',
      String(srv.port),
      '--ca',
      files.ca!,
      '--server-name',
      'localhost',
      '--send',
      'from the cli',
    ]);
    await replied;
    assert.equal(cli.exitCode, 0, cli.describe());
    assert.equal(cli.stdout, 'to the cli\n');
    assert.match(
      cli.stderr,
      /^established DTLSv1\.2 TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 \(x25519, ecdsa_secp256r1_sha256, extended master secret\)$/m,
    );
    await srv.stop();
  });

  test('--psk --ciphers PSK-AES256-CCM8 against s_server -psk', async () => {
    const srv = await startOpensslServer({
      psk: { keyHex: PSK_HEX, identity: 'cli-client' },
      cipher: 'PSK-AES256-CCM8',
    });
    const replied = srv.respond(/^psk hello$/m, 'psk welcome\n');
    const cli = await runCliClient([
      '--port',
      String(srv.port),
      '--psk',
      PSK_HEX,
      '--psk-identity',
      'cli-client',
      '--ciphers',
      'PSK-AES256-CCM8',
      '--send',
      'psk hello',
    ]);
    await replied;
    assert.equal(cli.exitCode, 0, cli.describe());
    assert.equal(cli.stdout, 'psk welcome\n');
    assert.match(cli.stderr, /^established DTLSv1\.2 TLS_PSK_WITH_AES_256_CCM_8 \(psk identity cli-client/m);
    assert.equal(srv.report().cipher, 'PSK-AES256-CCM8');
    await srv.stop();
  });

  test('--srtp --export against s_server -use_srtp -keymatexport', async () => {
    const srv = await startOpensslServer({
      cert: server.cert,
      key: server.key,
      srtp: 'SRTP_AES128_CM_SHA1_32',
      keyMaterial: { label: 'EXTRACTOR-dtls_srtp', length: 60 },
    });
    const replied = srv.respond(/^keys$/m, 'ok\n');
    const cli = await runCliClient([
      '--port',
      String(srv.port),
      '--ca',
      files.ca!,
      '--server-name',
      'localhost',
      '--srtp',
      'SRTP_AEAD_AES_256_GCM,SRTP_AES128_CM_HMAC_SHA1_32',
      '--export',
      'EXTRACTOR-dtls_srtp:60',
      '--send',
      'keys',
    ]);
    await replied;
    assert.equal(cli.exitCode, 0, cli.describe());
    assert.match(cli.stderr, /srtp SRTP_AES128_CM_HMAC_SHA1_32/);
    assert.equal(srv.report().srtpProfile, 'SRTP_AES128_CM_SHA1_32');
    assert.match(srv.report().keyingMaterial ?? '', /^[0-9a-f]{120}$/);
    assert.equal(cliKeyingMaterial(cli), srv.report().keyingMaterial);
    await srv.stop();
  });

  test('--mtu 472 against s_server -mtu 500 through a relay: every datagram within 472', async () => {
    const rsa = await generateCertificate({ keyType: 'rsa-2048', commonName: 'localhost', issuer: ca });
    const srv = await startOpensslServer({ cert: rsa.cert, key: rsa.key, mtu: 500 });
    const relay = await startUdpRelay(srv.port);
    const replied = srv.respond(/^small$/m, 'fits\n');
    const cli = await runCliClient([
      '--port',
      String(relay.port),
      '--ca',
      files.ca!,
      '--server-name',
      'localhost',
      '--mtu',
      '472',
      '--send',
      'small',
    ]);
    await replied;
    assert.equal(cli.exitCode, 0, cli.describe());
    assert.equal(cli.stdout, 'fits\n');
    const sizes = relay.datagrams.map((d) => d.data.length);
    assert.ok(Math.max(...sizes) <= 472, `datagram sizes ${sizes.join(',')}`);
    await relay.close();
    await srv.stop();
  });

  test('--send against gnutls-serv --echo (ChaCha20-Poly1305)', async () => {
    const srv = await startGnutlsServer({
      cert: server.cert,
      key: server.key,
      clientAuth: 'none',
      priority: gnutlsPriorityFor('ECDHE-ECDSA-CHACHA20-POLY1305'),
    });
    const cli = await runCliClient([
      '--port',
      String(srv.port),
      '--ca',
      files.ca!,
      '--server-name',
      'localhost',
      '--send',
      'gnutls echo',
    ]);
    assert.equal(cli.exitCode, 0, cli.describe());
    assert.equal(cli.stdout, 'gnutls echo\n');
    assert.match(cli.stderr, /^established DTLSv1\.2 TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 /m);
    await srv.stop();
  });
});

describe('tsdtls client (CLI) failures: error line and exit code 1', { concurrency: 4 }, () => {
  test('a wrong --fingerprint: error: bad_certificate, and s_server reads the alert', async () => {
    const srv = await startOpensslServer({ cert: server.cert, key: server.key });
    const cli = await runCliClient([
      '--port',
      String(srv.port),
      '--fingerprint',
      otherCa.fingerprint,
      '--send',
      'x',
    ]);
    assert.equal(cli.exitCode, 1);
    assert.match(cli.stderr, /^error: bad_certificate: .+$/m);
    assert.doesNotMatch(cli.stderr, /^established/m);
    assert.equal(cli.stdout, '');
    await srv.waitFor(/alert bad certificate/, RUN_MS, { stream: 'stderr' });
    await srv.stop();
  });

  test('an untrusted --ca: error: unknown_ca', async () => {
    const srv = await startOpensslServer({ cert: server.cert, key: server.key });
    const cli = await runCliClient([
      '--port',
      String(srv.port),
      '--ca',
      files.otherCa!,
      '--server-name',
      'localhost',
      '--send',
      'x',
    ]);
    assert.equal(cli.exitCode, 1);
    assert.match(cli.stderr, /^error: unknown_ca: .+$/m);
    await srv.waitFor(/alert unknown ca/, RUN_MS, { stream: 'stderr' });
    await srv.stop();
  });

  test('no server at all: error: timeout after --timeout', async () => {
    const port = await freePort();
    const started = Date.now();
    const cli = await runCliClient([
      '--port',
      String(port),
      '--insecure',
      '--timeout',
      '1500',
      '--send',
      'x',
    ]);
    assert.equal(cli.exitCode, 1);
    assert.match(cli.stderr, /^error: timeout: .+$/m);
    assert.ok(Date.now() - started < 5000);
  });

  test('an unknown PSK identity against the CLI server: s_client reads unknown psk identity, server logs it', async () => {
    const { cli, port } = await startCliServer([
      '--psk',
      PSK_HEX,
      '--psk-identity',
      'known',
      '--ciphers',
      'PSK-AES128-CCM8',
    ]);
    const run = await runOpensslClient({
      port,
      psk: { keyHex: PSK_HEX, identity: 'unknown' },
      cipher: 'PSK-AES128-CCM8',
      timeoutMs: 5000,
    });
    assert.equal(run.report.handshakeComplete, false);
    assert.equal(run.report.alertReceived, 'unknown psk identity', run.stderr);
    await cli.waitFor(/^peer 127\.0\.0\.1:\d+ error: unknown_psk_identity: /m, RUN_MS, { stream: 'stderr' });
    await cli.stop();
  });
});
