/**
 * The trace tool on a capture made by someone else: headless Chromium 156 as a WebRTC DTLS client (see
 * /work/shared/fixtures/README.md). Its ClientHello is fragmented, retransmitted after ~50 ms, answered
 * with a HelloVerifyRequest, and the flow shares its 5-tuple with STUN. tshark decodes the same file as
 * the reference.
 */

import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { traceCapture } from '../../src/trace/decode-flow.js';
import { renderLadder } from '../../src/trace/ladder.js';
import { cleanupPeers, makeTempDir } from '../interop/peers.js';
import { runTrace, traceWireView, tsharkWireView } from './capture-harness.js';

after(cleanupPeers);

const FIXTURE = path.resolve(process.cwd(), '../shared/fixtures/chromium156-client-handshake.pcapng');

function loadFixture(): Buffer {
  if (!existsSync(FIXTURE)) {
    throw new Error(`fixture missing: ${FIXTURE} (tests must run from the repository root, /work/main)`);
  }
  return readFileSync(FIXTURE);
}

test('Chromium capture: one flow, STUN ignored, records as tshark decodes them', () => {
  const trace = traceCapture(loadFixture());
  assert.equal(trace.flows.length, 1);
  const flow = trace.flows[0]!;
  assert.deepEqual(flow.client, { address: '127.0.0.1', port: 60095 });
  assert.deepEqual(flow.server, { address: '127.0.0.1', port: 38149 });
  assert.equal(flow.clientIdentified, true);
  assert.equal(trace.otherDatagrams, 6, 'the STUN binding requests and responses');
  assert.deepEqual(traceWireView(flow), tsharkWireView(FIXTURE));
});

test('Chromium capture: flights, fragments, retransmission and the cookie exchange', () => {
  const flow = traceCapture(loadFixture()).flows[0]!;
  assert.deepEqual(
    flow.flights.map((f) => `${f.from} ${f.datagrams.length}`),
    ['client 4', 'server 1', 'client 2', 'server 6', 'client 1', 'server 2', 'client 1'],
  );
  // Flight 1: the 1,413-byte ClientHello in two fragments (1,175 + 238), then both again ~50 ms later.
  const first = flow.flights[0]!.datagrams.map((n) => flow.datagrams[n - 1]!.records[0]!.handshake[0]!);
  assert.deepEqual(
    first.map((h) => [h.name, h.messageSeq, h.fragmentOffset, h.fragmentLength, h.length, h.retransmission]),
    [
      ['ClientHello', 0, 0, 1175, 1413, false],
      ['ClientHello', 0, 1175, 238, 1413, false],
      ['ClientHello', 0, 0, 1175, 1413, true],
      ['ClientHello', 0, 1175, 238, 1413, true],
    ],
  );
  assert.equal(flow.flights[0]!.retransmission, false);
  assert.ok(flow.datagrams[2]!.time > 0.04 && flow.datagrams[2]!.time < 0.06, 'resent after about 50 ms');
  const hello = first[1]!.fields!;
  assert.equal((hello.cipherSuites as string[]).length, 14);
  assert.equal(hello.cookie, '(empty)');
  const extensions = hello.extensions as string[];
  assert.ok(extensions.includes('supported_groups (10): X25519MLKEM768, x25519, secp256r1, secp384r1'));
  assert.ok(extensions.includes('key_share (51): X25519MLKEM768 (1216 bytes), x25519 (32 bytes)'));
  assert.ok(extensions.includes('supported_versions (43): DTLS 1.3 (0xfefc), DTLS 1.2 (0xfefd)'));
  assert.ok(extensions.includes('extended_master_secret (23)'));
  assert.ok(extensions.some((e) => e.startsWith('use_srtp (14): ')));
  // The cookie of the HelloVerifyRequest comes back in ClientHello message_seq 1.
  const hvr = flow.datagrams[flow.flights[1]!.datagrams[0]! - 1]!.records[0]!.handshake[0]!;
  assert.equal(hvr.name, 'HelloVerifyRequest');
  const secondHello = flow.datagrams
    .flatMap((d) => d.records.flatMap((r) => r.handshake))
    .find((h) => h.type === 1 && h.messageSeq === 1 && h.fields)!;
  assert.match(String(hvr.fields!.cookie), /^[0-9a-f]{40}$/);
  assert.equal(secondHello.fields!.cookie, hvr.fields!.cookie);
  assert.equal(flow.summary.cookieExchange, true);
  assert.equal(flow.summary.cipherSuite, 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 (0xc02b)');
  assert.equal(flow.summary.group, 'x25519');
  assert.equal(flow.summary.retransmissions, 3, 'two ClientHello fragments and the HelloVerifyRequest');
  assert.equal(flow.summary.decryption, 'not requested');
});

test('Chromium capture: the ladder shows what a reader needs', () => {
  const text = renderLadder(traceCapture(loadFixture()));
  for (const expected of [
    'client 127.0.0.1:60095 ⇄ server 127.0.0.1:38149',
    '── flight 1 · client · 4 datagrams',
    '│─ ClientHello seq=0 frag 0+1175/1413 ─',
    '│─ ClientHello seq=0 frag 1175+238/1413 ─',
    '│─ ClientHello seq=0 frag 0+1175/1413 (retransmitted) ─',
    '── flight 2 · server · 1 datagram',
    'HelloVerifyRequest seq=0 [cookie] ─│',
    '← cookie from HelloVerifyRequest',
    'ServerKeyExchange seq=3 ─│',
    'cipherSuite: TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 (0xc02b)',
    'Encrypted handshake (Finished)',
    'cookie exchange (HelloVerifyRequest)',
  ]) {
    assert.ok(text.includes(expected), `ladder lacks ${JSON.stringify(expected)}:\n${text}`);
  }
  assert.ok(!text.includes('\u001b['), 'no colour unless asked');
  // Every row's arrow points the right way: client rows to the right, server rows to the left.
  assert.match(text, /│─ ClientKeyExchange seq=3 ─+▶│/);
  assert.match(text, /│◀─+ ServerHello seq=1 ─│/);
});

test('tsdtls trace: --json, --html and colour on a terminal', async () => {
  const json = await runTrace([FIXTURE, '--json']);
  assert.equal(json.code, 0, json.stderr);
  const parsed = JSON.parse(json.stdout);
  assert.equal(parsed.flows.length, 1);
  assert.equal(parsed.flows[0].flights.length, 7);
  assert.equal(parsed.flows[0].datagrams[0].records[0].handshake[0].name, 'ClientHello');

  const out = path.join(makeTempDir().path, 'trace.html');
  const html = await runTrace([FIXTURE, '--html', out]);
  assert.equal(html.code, 0, html.stderr);
  const page = readFileSync(out, 'utf8');
  assert.match(page, /^<!DOCTYPE html>/);
  assert.match(
    page,
    /<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]*>[\s\S]*HelloVerifyRequest[\s\S]*<\/svg>/,
  );
  assert.ok(!/<script|src="http|href="http/.test(page), 'self-contained');
  assert.ok(html.stdout.includes(`wrote ${out}`));

  // NO_COLOR (https://no-color.org) would turn colour off; this check is about the TTY rule.
  const noColor = process.env.NO_COLOR;
  delete process.env.NO_COLOR;
  const tty = await runTrace([FIXTURE], true).finally(() => {
    if (noColor !== undefined) process.env.NO_COLOR = noColor;
  });
  assert.equal(tty.code, 0);
  assert.ok(tty.stdout.includes('\u001b[36m'), 'client arrows coloured on a terminal');
  const plain = await runTrace([FIXTURE], false);
  assert.ok(!plain.stdout.includes('\u001b['));
});
