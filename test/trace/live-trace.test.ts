/**
 * `tsdtls client --trace` and `tsdtls server --trace` (src/trace/live.ts): the real CLI, as child processes
 * on 127.0.0.1, prints every record and handshake message on stderr with the fields DTLS is learned by,
 * decrypts Finished and application data with the engine's own key log, marks retransmissions, and keeps
 * stdout for data and ANSI colour for terminals.
 */

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { connect } from '../../src/node/client.js';
import { createServer } from '../../src/node/server.js';
import { LiveTracer } from '../../src/trace/live.js';
import { cleanupPeers, freePort, PeerProcess } from '../interop/peers.js';

after(cleanupPeers);

const BIN = path.resolve(process.cwd(), 'bin/tsdtls.js');
const PSK_KEY = '00112233445566778899aabbccddeeff';
const PSK_ARGS = ['--psk', PSK_KEY, '--psk-identity', 'dev1', '--ciphers', 'TLS_PSK_WITH_AES_128_CCM_8'];
// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes are what is looked for
const ANSI = /\u001b\[/;

function tsdtls(label: string, args: string[]): PeerProcess {
  if (!existsSync(BIN)) throw new Error(`${BIN} missing: run the tests from the repository root`);
  return new PeerProcess(label, process.execPath, [BIN, ...args]);
}

/** The record line of a message: content type, `e<epoch> #<record seq>`, length, then the message. */
function recordLine(type: string, epoch: number, message: string): RegExp {
  return new RegExp(`^ +${type} +e${epoch} #\\d+ +\\d+ B  ${message}`, 'm');
}

/** The lines after the first line matching `head`, up to the next record or datagram line. */
function detailsOf(text: string, head: RegExp): string {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => head.test(l));
  assert.ok(at >= 0, `no line matching ${head} in:\n${text}`);
  const out: string[] = [];
  for (const line of lines.slice(at + 1)) {
    if (!/^ {16}/.test(line)) break;
    out.push(line.trim());
  }
  return out.join('\n');
}

test('certificate handshake: hello, cookie, suites, certificate, key exchange, decrypted Finished and data, retransmission', async () => {
  const port = await freePort();
  // The client starts before the server listens: its first ClientHello is lost (sent to a closed port), so
  // the resend after the 1 s timer (RFC 6347 §4.2.4.1) must be traced as a retransmission.
  const client = tsdtls('client', [
    'client',
    '--trace',
    '--port',
    String(port),
    '--insecure',
    '--send',
    'hi',
    '--timeout',
    '9000',
  ]);
  await client.waitFor(/ClientHello seq=0$/m, 5000, { stream: 'stderr' });
  const server = tsdtls('server', ['server', '--trace', '--port', String(port), '--echo']);
  const listening = await server.waitFor(/listening on 127\.0\.0\.1:(\d+)/, 5000);
  assert.equal(Number(listening.match[1]), port);
  assert.ok(await client.waitForExit(9000), `client did not finish\n${client.describe()}`);
  assert.equal(client.exitCode, 0, client.describe());
  // The client's close_notify reaching the server is the last thing the server traces.
  await server.waitFor(/Alert warning close_notify \(decrypted\)/, 5000, { stream: 'stderr' });
  await server.stop();

  const c = client.stderr;
  const s = server.stderr;
  // stdout stays the data channel: only the echoed reply; the server's stdout only its usual lines.
  assert.equal(client.stdout, 'hi\n');
  assert.match(server.stdout, /^fingerprint: sha-256 [0-9A-F:]+\nlistening on 127\.0\.0\.1:\d+\n$/);
  // Piped, so no colour.
  assert.ok(!ANSI.test(c) && !ANSI.test(s), 'no ANSI escapes when stderr is not a terminal');

  for (const [side, text, peer] of [
    ['client', c, `client → server 127.0.0.1:${port}`],
    ['server', s, 'server ← client 127.0.0.1:'],
  ] as const) {
    assert.ok(text.includes(peer), `${side}: direction and peer shown`);
    assert.match(text, /^ +\+\d+\.\d{6}s {2}(client|server) [←→] /m, `${side}: time column`);
    // ClientHello: epoch 0, record sequence 0, message_seq 0, its random and offered suites.
    assert.match(text, recordLine('Handshake', 0, 'ClientHello seq=0'), side);
    const hello = detailsOf(text, /ClientHello seq=0$/);
    assert.match(hello, /^random: [0-9a-f]{64}$/m, side);
    assert.match(hello, /^cipherSuites:\nTLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 \(0xc02b\)\n/m, side);
    assert.match(hello, /supported_groups \(10\): x25519, secp256r1/, side);
    // HelloVerifyRequest with the cookie, echoed in the second ClientHello (RFC 6347 §4.2.1).
    const hvr = detailsOf(text, /HelloVerifyRequest seq=0 \[cookie\]$/);
    const cookie = /^cookie: ([0-9a-f]+)$/m.exec(hvr)?.[1];
    assert.ok(cookie, `${side}: cookie shown: ${hvr}`);
    assert.match(detailsOf(text, /ClientHello seq=1$/), new RegExp(`^cookie: ${cookie}  ← cookie from`, 'm'));
    // ServerHello: the chosen suite.
    assert.match(
      detailsOf(text, /ServerHello seq=1$/),
      /^cipherSuite: TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 \(0xc02b\)$/m,
    );
    // Certificate: subject and SHA-256 fingerprint, the one the server announced on stdout.
    const fingerprint = /^fingerprint: sha-256 ([0-9A-F:]+)$/m.exec(server.stdout)![1]!;
    const certificate = detailsOf(text, /Certificate seq=2$/);
    assert.match(certificate, /^subject: CN=tsdtls$/m, side);
    assert.match(certificate, new RegExp(`^sha256: ${fingerprint}$`, 'm'), side);
    // ServerKeyExchange: group, public point, signature scheme.
    const ske = detailsOf(text, /ServerKeyExchange seq=3$/);
    assert.match(ske, /^group: x25519$/m, side);
    assert.match(ske, /^publicKey: [0-9a-f]{16}…[0-9a-f]{16} \(32 bytes\)$/m, side);
    assert.match(ske, /^signatureScheme: ecdsa_secp256r1_sha256$/m, side);
    assert.match(detailsOf(text, /ClientKeyExchange seq=2$/), /^publicKey: .*\(32 bytes\)$/m, side);
    // ChangeCipherSpec in epoch 0, then each Finished in epoch 1, record sequence 0, decrypted.
    assert.match(text, recordLine('ChangeCipherSpec', 0, 'ChangeCipherSpec'), side);
    assert.match(text, /^ +Handshake +e1 #0 +\d+ B {2}Finished seq=3 \(decrypted\)$/m, side);
    // The server's Finished: its message_seq follows ServerHelloDone (and NewSessionTicket, if sent).
    assert.match(text, /^ +Handshake +e1 #0 +\d+ B {2}Finished seq=[56] \(decrypted\)$/m, side);
    assert.match(detailsOf(text, /Finished seq=3 \(decrypted\)$/), /^verifyData: [0-9a-f]{24}$/m, side);
    // Application data, both ways, decrypted.
    assert.match(
      text,
      /^ +ApplicationData +e1 #[1-9]\d* +\d+ B {2}ApplicationData "hi" \(decrypted\)$/m,
      side,
    );
  }
  // Both ends saw the same handshake: the same client random.
  const random = (t: string) => /^ +random: ([0-9a-f]{64})$/m.exec(t)?.[1];
  assert.equal(random(c), random(s));
  // The lost first flight, resent by the client with new record sequence numbers.
  assert.match(c, /datagram 2 · \d+ B · flight 1 · retransmission/);
  assert.match(c, /^ +Handshake +e0 #1 +\d+ B {2}ClientHello seq=0 \(retransmitted\)$/m);
  // The server saw only the copy that arrived: nothing resent there.
  assert.ok(!s.includes('retransmi'), s);
});

test('PSK handshake: identity hint from the server, identity from the client, on both traces', async () => {
  const server = tsdtls('psk server', [
    'server',
    '--trace',
    '--port',
    '0',
    '--echo',
    '--psk-hint',
    'gw',
    ...PSK_ARGS,
  ]);
  const port = (await server.waitFor(/listening on 127\.0\.0\.1:(\d+)/, 5000)).match[1]!;
  const client = tsdtls('psk client', [
    'client',
    '--trace',
    '--port',
    port,
    '--send',
    'hi',
    '--timeout',
    '8000',
    ...PSK_ARGS,
  ]);
  assert.ok(await client.waitForExit(9000), `client did not finish\n${client.describe()}`);
  assert.equal(client.exitCode, 0, client.describe());
  await server.waitFor(/Alert warning close_notify \(decrypted\)/, 5000, { stream: 'stderr' });
  await server.stop();
  assert.equal(client.stdout, 'hi\n');
  for (const [side, text] of [
    ['client', client.stderr],
    ['server', server.stderr],
  ] as const) {
    assert.ok(!ANSI.test(text), `${side}: no ANSI escapes when piped`);
    assert.match(
      detailsOf(text, /ClientHello seq=0$/),
      /^cipherSuites: TLS_PSK_WITH_AES_128_CCM_8 \(0xc0a8\)$/m,
    );
    assert.match(
      detailsOf(text, /ServerHello seq=1$/),
      /^cipherSuite: TLS_PSK_WITH_AES_128_CCM_8 \(0xc0a8\)$/m,
    );
    // RFC 4279 §2: the hint in ServerKeyExchange, the identity in ClientKeyExchange.
    assert.match(detailsOf(text, /ServerKeyExchange seq=2$/), /^pskIdentityHint: "gw"$/m, side);
    assert.match(detailsOf(text, /ClientKeyExchange seq=2$/), /^pskIdentity: "dev1"$/m, side);
    // CCM_8 records are 8 bytes of explicit nonce + 8 of tag longer than their plaintext (RFC 6655 §3).
    assert.match(text, /^ +Handshake +e1 #0 +40 B {2}Finished seq=3 \(decrypted\)$/m, side);
    assert.match(text, /^ +ApplicationData +e1 #\d+ +18 B {2}ApplicationData "hi" \(decrypted\)$/m, side);
  }
});

test('LiveTracer in process: colour only when asked, same text otherwise; key log lines open epoch 1', async () => {
  const plain: string[] = [];
  const colored: string[] = [];
  const tracers = [
    new LiveTracer({ role: 'client', write: (t) => plain.push(t) }),
    new LiveTracer({ role: 'client', write: (t) => colored.push(t), color: true }),
  ];
  const key = Buffer.from(PSK_KEY, 'hex');
  const server = createServer({
    cipherSuites: 'TLS_PSK_WITH_AES_128_CCM_8',
    psk: { hint: 'gw', lookup: (id) => (id.toString('utf8') === 'dev1' ? key : undefined) },
  });
  const { port } = await server.listen(0, '127.0.0.1');
  try {
    const peer = { address: '127.0.0.1', port };
    const socket = await connect({
      host: '127.0.0.1',
      port,
      cipherSuites: 'TLS_PSK_WITH_AES_128_CCM_8',
      psk: { identity: 'dev1', key },
      handshakeTimeout: 5000,
      onDatagram: (direction, data) => {
        const time = performance.now();
        for (const t of tracers) t.datagram(direction, data, peer, time);
      },
      onKeylog: (line) => {
        for (const t of tracers) t.keylog(line);
      },
    });
    await socket.close();
  } finally {
    await server.close();
  }
  for (const t of tracers) t.close();
  const text = plain.join('');
  const paint = colored.join('');
  assert.ok(!ANSI.test(text));
  assert.ok(ANSI.test(paint), 'colour when asked');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing the ANSI escapes
  const stripped = paint.replace(/\u001b\[[0-9;]*m/g, '');
  const noDates = (t: string) => t.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, 'DATE');
  assert.equal(noDates(stripped), noDates(text));
  // The client's Finished goes out before the engine reports the key log line; it waits for it.
  assert.match(text, /key log: master secret for client random [0-9a-f]{16}…/);
  assert.equal(text.match(/Handshake +e1 #0 +\d+ B {2}Finished seq=\d+ \(decrypted\)/g)?.length, 2, text);
  assert.match(text, /Alert warning close_notify \(decrypted\)/);
  assert.ok(!text.includes('encrypted ('), text);
});
