/**
 * The trace decoder against traffic it did not produce: OpenSSL's s_client talking to OpenSSL's s_server
 * over 127.0.0.1 (with a small MTU so the server fragments its flight), captured by tshark. What our
 * decoder sees in every datagram (records, epochs, sequence numbers, handshake messages, message_seq,
 * fragment offsets and lengths) and the handshake fields must be what tshark decodes from the same file.
 * OpenSSL writes the key log (-keylogfile), so the decryption of epoch 1 is checked against it too.
 */

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { generateCertificate } from '../../src/cert/generate.js';
import { parseKeylog, traceCapture } from '../../src/trace/decode-flow.js';
import { NamedGroup } from '../../src/wire/constants.js';
import {
  cleanupPeers,
  freePort,
  livePeerCount,
  makeTempDir,
  runOpensslClient,
  startOpensslServer,
} from '../interop/peers.js';
import { LoopbackCapture, runTrace, traceWireView, tsharkFields, tsharkWireView } from './capture-harness.js';

after(async () => {
  await cleanupPeers();
  assert.equal(livePeerCount(), 0, 'every openssl and tshark process was stopped');
});

const CLIENT_TEXT = 'greetings from openssl s_client';
const SERVER_TEXT = 'and hello from openssl s_server';

/** The hex code points in labels such as `TLS_ECDHE_... (0xc02b)` or a bare `0x1301`. */
function codePoints(labels: string[]): number[] {
  return labels.map((l) => Number(/0x[0-9a-f]{4}/.exec(l)![0]));
}

test('OpenSSL-to-OpenSSL capture: our flow decoder agrees with tshark', async () => {
  const dir = makeTempDir();
  const cert = await generateCertificate({ keyType: 'ecdsa-p256', commonName: 'openssl-trace-server' });
  const port = await freePort();
  const keylogPath = join(dir.path, 'openssl.keylog');
  const capture = await LoopbackCapture.start(port, dir, 'openssl.pcapng');
  const server = await startOpensslServer({
    port,
    cert: cert.cert,
    key: cert.key,
    cipher: 'ECDHE-ECDSA-AES128-GCM-SHA256',
    groups: 'X25519',
    // A 400-byte link MTU (372-byte payloads) splits the server's Certificate flight into fragments.
    mtu: 400,
  });
  const reply = server.respond(new RegExp(CLIENT_TEXT), `${SERVER_TEXT}\n`);
  const client = await runOpensslClient({
    port,
    send: CLIENT_TEXT,
    expect: new RegExp(SERVER_TEXT),
    extraArgs: ['-keylogfile', keylogPath],
  });
  await reply;
  assert.equal(client.report.handshakeComplete, true, client.stderr);
  await server.stop();
  await capture.stop();

  const keylog = parseKeylog(readFileSync(keylogPath, 'utf8'));
  const trace = traceCapture(readFileSync(capture.file), { keylog });
  assert.equal(trace.flows.length, 1);
  const flow = trace.flows[0]!;
  assert.equal(flow.server.port, port);
  assert.equal(flow.clientIdentified, true);

  // Record by record, message by message, the same as tshark (both decrypting with the key log).
  const ours = traceWireView(flow);
  const theirs = tsharkWireView(capture.file, { keylog: keylogPath, port });
  assert.deepEqual(ours, theirs);
  assert.ok(flow.summary.fragments > 0, 'the server flight was fragmented');
  const hs = flow.datagrams.flatMap((d) => d.records.flatMap((r) => r.handshake.map((h) => ({ d, h }))));
  // OpenSSL's s_server always makes a cookie exchange (test/interop/peers.ts quirks).
  assert.deepEqual(
    hs.filter((x) => x.h.fragmentOffset === 0).map((x) => `${x.d.from} ${x.h.name}`),
    [
      'client ClientHello',
      'server HelloVerifyRequest',
      'client ClientHello',
      'server ServerHello',
      'server Certificate',
      'server ServerKeyExchange',
      'server ServerHelloDone',
      'client ClientKeyExchange',
      'client Finished',
      'server NewSessionTicket',
      'server Finished',
    ],
  );

  // The fields, against tshark's decoding of the same frames.
  const fields = tsharkFields(
    capture.file,
    [
      'dtls.handshake.random',
      'dtls.handshake.cookie',
      'dtls.handshake.ciphersuite',
      'dtls.handshake.extension.type',
      'dtls.handshake.session_id',
      'dtls.handshake.certificate',
      'dtls.handshake.server_named_curve',
      'data.data',
    ],
    { keylog: keylogPath, port },
  );
  const column = (i: number) => fields.flatMap((row) => row[i]!);
  const hello = (type: number) => hs.filter((x) => x.h.type === type && x.h.fields).map((x) => x.h.fields!);
  const clientHellos = hello(1);
  const serverHello = hello(2)[0]!;
  assert.equal(clientHellos.length, 2);
  assert.deepEqual(column(0), [clientHellos[0]!.random, clientHellos[1]!.random, serverHello.random]);
  const hvrCookie = hello(3)[0]!.cookie;
  assert.deepEqual(column(1), [hvrCookie, clientHellos[1]!.cookie], 'HelloVerifyRequest cookie, echoed');
  assert.equal(flow.summary.cookie, hvrCookie);
  const suiteRows = fields.filter((row) => row[2]!.length > 0).map((row) => row[2]!.map(Number));
  assert.deepEqual(suiteRows, [
    codePoints(clientHellos[0]!.cipherSuites as string[]),
    codePoints(clientHellos[1]!.cipherSuites as string[]),
    codePoints([serverHello.cipherSuite as string]),
  ]);
  assert.equal(flow.summary.cipherSuite, 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 (0xc02b)');
  const extensionRows = fields.filter((row) => row[3]!.length > 0).map((row) => row[3]!.map(Number));
  const ourExtensions = [...clientHellos, serverHello].map((f) =>
    (f.extensions as string[]).map((e) => Number(/\((\d+)\)/.exec(e)![1])),
  );
  assert.deepEqual(extensionRows, ourExtensions);
  // tshark prints no session_id field when it is empty; OpenSSL uses tickets, so all three are.
  const sessionIds = [...clientHellos, serverHello].map((f) => f.sessionId).filter((v) => v !== '(empty)');
  assert.deepEqual(column(4), sessionIds, 'session ids');
  // The certificate tshark reassembled is the one we generated, and our fingerprint is its SHA-256.
  const der = Buffer.from(column(5)[0]!, 'hex');
  const theirFingerprint = new X509Certificate(der).fingerprint256;
  assert.equal(flow.summary.serverFingerprint, theirFingerprint);
  assert.equal(`sha-256 ${theirFingerprint}`, cert.fingerprint);
  assert.equal(flow.summary.serverCertificate, 'CN=openssl-trace-server');
  assert.deepEqual(column(6).map(Number), [NamedGroup.x25519]);
  assert.equal(flow.summary.group, 'x25519');
  // Decrypted application data: the same bytes tshark decrypted, and the texts both sides sent.
  const texts = flow.datagrams.flatMap((d) =>
    d.records.filter((r) => r.applicationData?.text !== undefined).map((r) => r.applicationData!.text!),
  );
  assert.deepEqual(
    texts.map((t) => Buffer.from(t).toString('hex')),
    column(7),
  );
  assert.deepEqual(texts, [`${CLIENT_TEXT}\n`, `${SERVER_TEXT}\n`]);
  assert.equal(flow.summary.decryption, 'decrypted');

  // The ladder shows the fragments and the cookie exchange; --port selects the flow.
  const out = await runTrace([capture.file, '--keylog', keylogPath, '--port', String(port)]);
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, /Certificate seq=2 frag 0\+\d+\/\d+/);
  assert.match(out.stdout, /HelloVerifyRequest seq=0 \[cookie\]/);
  assert.ok(out.stdout.includes(`cookie: ${hvrCookie}  ← cookie from HelloVerifyRequest`));
  const other = await runTrace([capture.file, '--port', String(port === 65535 ? 1 : port + 1)]);
  assert.equal(other.code, 1);
  assert.match(other.stderr, /^error: no DTLS traffic found on port \d+/);
});
