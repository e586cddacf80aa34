/**
 * Our key log lines are right if an independent implementation can decrypt our traffic with them:
 * capture a real handshake over 127.0.0.1 with tshark, hand tshark the NSS key log our engine emitted,
 * and check that tshark shows the plaintext (and, as a control, does not without the key log). The same
 * capture then goes through our trace decoder, whose records must match tshark's, frame by frame.
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { generateCertificate } from '../../src/cert/generate.js';
import { connect } from '../../src/node/client.js';
import { createServer } from '../../src/node/server.js';
import type { DtlsSocket } from '../../src/node/socket.js';
import { parseKeylog, type TraceFlow, traceCapture } from '../../src/trace/decode-flow.js';
import { cleanupPeers, freePort, livePeerCount, makeTempDir, withTimeout } from '../interop/peers.js';
import { LoopbackCapture, runTrace, traceWireView, tsharkFields, tsharkWireView } from './capture-harness.js';

after(async () => {
  await cleanupPeers();
  assert.equal(livePeerCount(), 0, 'every tshark was stopped');
});

const CLIENT_TEXT = 'hello from the tsdtls client: the quick brown fox';
const SERVER_TEXT = 'reply from the tsdtls server: jumps over the lazy dog';
const PSK_KEY = Buffer.from('0f1e2d3c4b5a69788796a5b4c3d2e1f0', 'hex');
const PSK_IDENTITY = 'trace-client-7';
const PSK_HINT = 'trace-hint';

interface OwnRun {
  file: string;
  keylogPath: string;
  port: number;
  clientLines: string[];
  serverLines: string[];
}

type Variant = 'certificate' | 'psk';

/** One handshake plus one exchange of known text through the Node API, captured by tshark. */
async function captureOwnHandshake(variant: Variant): Promise<OwnRun> {
  const dir = makeTempDir();
  const port = await freePort();
  const capture = await LoopbackCapture.start(port, dir, `${variant}.pcapng`);
  const clientLines: string[] = [];
  const serverLines: string[] = [];
  const cert = variant === 'certificate' ? await generateCertificate({ keyType: 'ecdsa-p256' }) : undefined;
  const server = createServer(
    cert
      ? { cert: cert.cert, key: cert.key, cipherSuites: ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'] }
      : {
          cipherSuites: ['TLS_PSK_WITH_AES_128_CCM_8'],
          psk: { hint: PSK_HINT, lookup: (id) => (id.toString() === PSK_IDENTITY ? PSK_KEY : undefined) },
        },
  );
  server.on('keylog', (line: Buffer) => serverLines.push(line.toString()));
  server.on('connection', (s: DtlsSocket) => {
    s.on('message', (m: Buffer) => {
      if (m.toString() === CLIENT_TEXT) s.send(SERVER_TEXT);
    });
  });
  let client: DtlsSocket | undefined;
  try {
    await server.listen(port, '127.0.0.1');
    client = await withTimeout(
      connect({
        host: '127.0.0.1',
        port,
        ...(cert
          ? { fingerprint: [cert.fingerprint], cipherSuites: ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'] }
          : { psk: { identity: PSK_IDENTITY, key: PSK_KEY }, cipherSuites: ['TLS_PSK_WITH_AES_128_CCM_8'] }),
        onKeylog: (line) => clientLines.push(line.toString()),
      }),
      10_000,
      'DTLS handshake',
    );
    const reply = once(client, 'message');
    client.send(CLIENT_TEXT);
    const [received] = (await withTimeout(reply, 10_000, 'the server reply')) as [Buffer];
    assert.equal(received.toString(), SERVER_TEXT);
    await withTimeout(client.close(), 5000, 'client close');
  } finally {
    await withTimeout(server.close(), 5000, 'server close');
  }
  const bytes = await capture.stop();
  assert.ok(bytes.length > 0, 'the capture file is not empty');
  const keylogPath = dir.file(`${variant}.keylog`, clientLines.join(''));
  return { file: capture.file, keylogPath, port, clientLines, serverLines };
}

const hexOf = (s: string) => Buffer.from(s).toString('hex');

function onlyFlow(file: string, keylogPath?: string): TraceFlow {
  const trace = traceCapture(readFileSync(file), {
    keylog: keylogPath ? parseKeylog(readFileSync(keylogPath, 'utf8')) : undefined,
  });
  assert.equal(trace.flows.length, 1, 'one DTLS flow in the capture');
  return trace.flows[0]!;
}

async function checkVariant(variant: Variant): Promise<void> {
  const run = await captureOwnHandshake(variant);

  // 1. Both ends log the same single CLIENT_RANDOM line (NSS key log format).
  assert.equal(run.clientLines.length, 1, 'one key log line from the client');
  assert.deepEqual(run.serverLines, run.clientLines, 'the server logs the same line');
  assert.match(run.clientLines[0]!, /^CLIENT_RANDOM [0-9a-f]{64} [0-9a-f]{96}\n$/);

  // 2. tshark decrypts our records with that key log: it shows both texts and both Finished messages.
  const withKeys = tsharkFields(run.file, ['data.data', 'dtls.handshake.type', 'dtls.handshake.random'], {
    keylog: run.keylogPath,
    port: run.port,
  });
  const plaintexts = withKeys.flatMap((row) => row[0]!);
  assert.ok(
    plaintexts.includes(hexOf(CLIENT_TEXT)),
    `tshark decrypted the client text: ${JSON.stringify(withKeys)}`,
  );
  assert.ok(plaintexts.includes(hexOf(SERVER_TEXT)), `tshark decrypted the server text: ${plaintexts}`);
  const finishedCount = withKeys.flatMap((row) => row[1]!).filter((t) => t === '20').length;
  assert.equal(finishedCount, 2, 'tshark decrypted both Finished messages');
  // The capture started in time: tshark's first frame is the ClientHello with the random we logged.
  assert.deepEqual(withKeys[0]![1], ['1'], 'the first captured DTLS frame is the ClientHello');
  assert.equal(withKeys[0]![2]![0], run.clientLines[0]!.split(' ')[1], 'key log random = ClientHello random');

  // Control: without the key log tshark sees no plaintext at all.
  const withoutKeys = tsharkFields(run.file, ['data.data'], { port: run.port });
  const leaked = withoutKeys.flatMap((row) => row[0]!);
  assert.ok(!leaked.includes(hexOf(CLIENT_TEXT)) && !leaked.includes(hexOf(SERVER_TEXT)));

  // 3. Our trace of the same capture matches tshark record by record (with the keys, both decode
  // the Finished messages) and shows the decrypted text.
  const flow = onlyFlow(run.file, run.keylogPath);
  assert.deepEqual(traceWireView(flow), tsharkWireView(run.file, { keylog: run.keylogPath, port: run.port }));
  assert.equal(flow.summary.decryption, 'decrypted');
  assert.equal(flow.summary.cookieExchange, true, 'our server makes a cookie exchange by default');
  const texts = flow.datagrams.flatMap((d) =>
    d.records
      .filter((r) => r.applicationData?.text !== undefined)
      .map((r) => `${d.from}: ${r.applicationData!.text}`),
  );
  assert.deepEqual(texts, [`client: ${CLIENT_TEXT}`, `server: ${SERVER_TEXT}`]);
  const finished = flow.datagrams.flatMap((d) =>
    d.records.flatMap((r) => r.handshake.filter((h) => h.type === 20).map((h) => ({ from: d.from, h }))),
  );
  assert.deepEqual(
    finished.map((f) => f.from),
    ['client', 'server'],
  );
  for (const f of finished) assert.match(String(f.h.fields?.verifyData), /^[0-9a-f]{24}$/);
  assert.equal(flow.summary.clientRandom, run.clientLines[0]!.split(' ')[1]);
  if (variant === 'psk') {
    assert.equal(flow.summary.pskIdentity, JSON.stringify(PSK_IDENTITY));
    assert.equal(flow.summary.pskIdentityHint, JSON.stringify(PSK_HINT));
    const psk = tsharkFields(run.file, ['dtls.handshake.identity', 'dtls.handshake.hint'], {
      port: run.port,
    });
    assert.deepEqual(
      psk.flatMap((row) => row[0]!),
      [hexOf(PSK_IDENTITY)],
    );
    assert.deepEqual(
      psk.flatMap((row) => row[1]!),
      [hexOf(PSK_HINT)],
    );
    assert.equal(flow.summary.cipherSuite, 'TLS_PSK_WITH_AES_128_CCM_8 (0xc0a8)');
  } else {
    assert.equal(flow.summary.cipherSuite, 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 (0xc02b)');
  }

  // 4. The command line shows the same, and without the key log says the records are encrypted.
  const decrypted = await runTrace([run.file, '--keylog', run.keylogPath]);
  assert.equal(decrypted.code, 0, decrypted.stderr);
  assert.ok(decrypted.stdout.includes(`ApplicationData ${JSON.stringify(CLIENT_TEXT)}`), decrypted.stdout);
  assert.ok(decrypted.stdout.includes(`ApplicationData ${JSON.stringify(SERVER_TEXT)}`), decrypted.stdout);
  assert.match(decrypted.stdout, /Finished seq=\d+/);
  const sealed = await runTrace([run.file]);
  assert.equal(sealed.code, 0, sealed.stderr);
  assert.ok(!sealed.stdout.includes(CLIENT_TEXT));
  assert.match(sealed.stdout, /ApplicationData \d+ B \(encrypted\)/);
  assert.match(sealed.stdout, /Encrypted handshake \(Finished\)/);

  // A key log for another connection decrypts nothing, and says why.
  const wrongKeylog = makeTempDir().file(
    'other.keylog',
    `CLIENT_RANDOM ${'ab'.repeat(32)} ${'cd'.repeat(48)}\n`,
  );
  const wrong = onlyFlow(run.file, wrongKeylog);
  assert.equal(wrong.summary.decryption, 'the key log has no line for this client random');
}

test('tshark decrypts our certificate-suite traffic (TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256) with our key log', async () => {
  await checkVariant('certificate');
});

test('tshark decrypts our PSK traffic (TLS_PSK_WITH_AES_128_CCM_8) with our key log', async () => {
  await checkVariant('psk');
});
