/**
 * Denial of service: what a spoofing or flooding peer can make the server hold. The cookie exchange
 * (RFC 6347 §4.2.1) must keep the server stateless for unverified addresses and must never amplify;
 * every buffer a peer can fill has a cap: ServerLimits (maxHandshakes, maxPeers, maxPendingHellos,
 * maxHelloLength), the reassembler (maxMessageLength, maxMessagesAhead) and the record layer's
 * early-epoch buffer.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { DtlsConnection } from '../../src/engine/connection.js';
import { DtlsServerEndpoint, type PeerAddress } from '../../src/engine/server-endpoint.js';
import type { Reassembler } from '../../src/handshake/reassembler.js';
import { decodeClientHello, encodeClientHello } from '../../src/wire/client-hello.js';
import { ContentType, HandshakeType, ProtocolVersion } from '../../src/wire/constants.js';
import { parseHandshakeFragments } from '../../src/wire/handshake-header.js';
import { parseDatagram } from '../../src/wire/record.js';
import {
  clientHelloOf,
  craftFragment,
  craftRecord,
  fragmentsOfType,
  ScriptedPeer,
  testCredentials,
} from '../scripted/hostile-peer.js';

/** A loopback address per index: 127.0.0.0/8 has room for 16 M spoofed sources. */
function spoofed(i: number): PeerAddress {
  return { address: `127.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`, port: 1024 + (i % 60000) };
}

/**
 * A full garbage collection, when V8 lets us have one: node:test gives no --expose-gc, but the flag can
 * be set at run time and `gc` fetched from a fresh context. Returns false when that is not possible.
 */
function collectGarbage(): boolean {
  try {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as (() => void) | undefined;
    if (typeof gc !== 'function') return false;
    for (let i = 0; i < 3; i++) gc();
    return true;
  } catch {
    return false;
  }
}

function handshakeTypes(d: Buffer): number[] {
  return parseDatagram(d).records.flatMap((r) =>
    r.type === ContentType.handshake ? parseHandshakeFragments(r.fragment).map((f) => f.msgType) : [],
  );
}

test('100,000 spoofed ClientHellos from as many addresses leave the endpoint stateless and memory flat', async (t) => {
  const c = await testCredentials();
  const endpoint = new DtlsServerEndpoint(c.serverConfig);
  const hello = DtlsConnection.client(c.clientConfig, 0).pollTransmit()!;
  const count = 100_000;
  // Warm up (JIT, cookie key cache), then measure.
  for (let i = 0; i < 1000; i++) {
    endpoint.handleDatagram(hello, spoofed(count + i), 0);
    while (endpoint.pollTransmit());
  }
  const gcAvailable = collectGarbage();
  const before = process.memoryUsage();
  let largestAnswer = 0;
  for (let i = 0; i < count; i++) {
    endpoint.handleDatagram(hello, spoofed(i), i);
    for (let out = endpoint.pollTransmit(); out; out = endpoint.pollTransmit()) {
      if (out.data.length > largestAnswer) largestAnswer = out.data.length;
    }
  }
  collectGarbage();
  const after = process.memoryUsage();
  assert.equal(endpoint.peerCount, 0);
  assert.equal(endpoint.pendingHelloCount, 0);
  assert.equal(endpoint.stats.helloVerifyRequestsSent, count + 1000);
  assert.equal(endpoint.stats.connectionsCreated, 0);
  assert.ok(
    largestAnswer <= hello.length,
    `HelloVerifyRequest ${largestAnswer} B > ClientHello ${hello.length} B`,
  );
  const perHello = (after.heapUsed - before.heapUsed) / count;
  const perHelloArrayBuffers = (after.arrayBuffers - before.arrayBuffers) / count;
  t.diagnostic(
    `heapUsed delta per spoofed hello: ${perHello.toFixed(2)} B, arrayBuffers: ${perHelloArrayBuffers.toFixed(2)} B ` +
      `(gc ${gcAvailable ? 'forced' : 'not available'}); ClientHello ${hello.length} B -> HelloVerifyRequest ${largestAnswer} B`,
  );
  // Any per-peer state (a Map entry with a connection) would cost kilobytes per hello.
  const bound = gcAvailable ? 64 : 1024;
  assert.ok(perHello < bound, `heap grew ${perHello.toFixed(1)} B per hello (bound ${bound})`);
  assert.ok(perHelloArrayBuffers < bound);
});

test('a HelloVerifyRequest is never larger than the ClientHello datagram that caused it', async () => {
  const c = await testCredentials();
  const endpoint = new DtlsServerEndpoint(c.serverConfig);
  const real = clientHelloOf(DtlsConnection.client(c.clientConfig, 0).pollTransmit()!).msg.body;
  // The smallest ClientHello that decodes: one suite, null compression, no extensions.
  const minimal = encodeClientHello({
    ...decodeClientHello(real),
    sessionId: Buffer.alloc(0),
    cipherSuites: [0xc02b],
    extensions: undefined,
  });
  const bodies = [minimal, real];
  // And ClientHellos carrying stale or forged cookies of every length.
  for (const n of [1, 16, 32, 64, 255])
    bodies.push(encodeClientHello({ ...decodeClientHello(minimal), cookie: Buffer.alloc(n, 1) }));
  for (const [i, body] of bodies.entries()) {
    const d = craftRecord({
      type: ContentType.handshake,
      version: ProtocolVersion.DTLS1_0,
      seq: 0,
      fragment: craftFragment({ msgType: HandshakeType.client_hello, messageSeq: 0, body }),
    });
    endpoint.handleDatagram(d, spoofed(i), 0);
    const out = endpoint.pollTransmit();
    assert.ok(out, `ClientHello #${i} (${d.length} B) is answered`);
    assert.deepEqual(handshakeTypes(out.data), [HandshakeType.hello_verify_request]);
    assert.ok(
      out.data.length <= d.length,
      `HelloVerifyRequest ${out.data.length} B > ClientHello ${d.length} B`,
    );
  }
  assert.equal(endpoint.peerCount, 0);
});

test('a ClientHello fragmented so its last datagram is tiny still gets a HelloVerifyRequest', async () => {
  const c = await testCredentials();
  const length = clientHelloOf(DtlsConnection.client(c.clientConfig, 0).pollTransmit()!).msg.body.length;
  // An MTU at which the last fragment of the ClientHello carries only a few bytes (the client's own
  // fragmentation: 13-byte record header + 12-byte handshake header per datagram).
  let mtu = 0;
  for (let m = 128; m < length + 25; m++) {
    const tail = length % (m - 25);
    if (tail > 0 && tail <= 8) {
      mtu = m;
      break;
    }
  }
  assert.ok(mtu > 0, 'an MTU with a tiny last fragment exists');
  const endpoint = new DtlsServerEndpoint({ ...c.serverConfig, mtu });
  const client = DtlsConnection.client({ ...c.clientConfig, mtu }, 0);
  const sent: Buffer[] = [];
  for (let d = client.pollTransmit(); d; d = client.pollTransmit()) sent.push(d);
  assert.ok(sent.length >= 2, 'the ClientHello is fragmented');
  const peer = spoofed(1);
  for (const d of sent) endpoint.handleDatagram(d, peer, 0);
  const total = sent.reduce((n, d) => n + d.length, 0);
  const answer = endpoint.pollTransmit();
  // The peer sent `total` bytes for this hello: answering with fewer is no amplification.
  assert.ok(
    answer,
    `no HelloVerifyRequest for a ${total}-byte ClientHello whose last datagram is ${sent.at(-1)!.length} B`,
  );
  assert.ok(answer.data.length <= total);
});

test('maxHandshakes and maxPeers cap the connections a flood of valid ClientHellos creates', async () => {
  const c = await testCredentials();
  const endpoint = new DtlsServerEndpoint({
    ...c.serverConfig,
    cookies: false,
    serverLimits: { maxHandshakes: 5 },
  });
  for (let i = 0; i < 12; i++) {
    endpoint.handleDatagram(DtlsConnection.client(c.clientConfig, 0).pollTransmit()!, spoofed(i), 0);
  }
  assert.equal(endpoint.peerCount, 5);
  assert.equal(endpoint.stats.hellosRefusedAtLimit, 7);
  assert.equal(endpoint.stats.connectionsCreated, 5);

  const capped = new DtlsServerEndpoint({ ...c.serverConfig, cookies: false, serverLimits: { maxPeers: 3 } });
  for (let i = 0; i < 6; i++)
    capped.handleDatagram(DtlsConnection.client(c.clientConfig, 0).pollTransmit()!, spoofed(i), 0);
  assert.equal(capped.peerCount, 3);
  assert.equal(capped.stats.hellosRefusedAtLimit, 3);
});

test('maxPendingHellos caps partial ClientHellos across all addresses, and they expire', async () => {
  const c = await testCredentials();
  const endpoint = new DtlsServerEndpoint({
    ...c.serverConfig,
    serverLimits: { maxPendingHellos: 10, pendingHelloTtlMs: 5000 },
  });
  const body = clientHelloOf(DtlsConnection.client(c.clientConfig, 0).pollTransmit()!).msg.body;
  for (let i = 0; i < 1000; i++) {
    // Only the first half of a ClientHello: the endpoint has to hold it to reassemble.
    const frag = craftFragment({
      msgType: HandshakeType.client_hello,
      messageSeq: 0,
      body,
      end: body.length >> 1,
    });
    endpoint.handleDatagram(
      craftRecord({ type: ContentType.handshake, seq: 0, fragment: frag }),
      spoofed(i),
      i,
    );
    assert.ok(endpoint.pendingHelloCount <= 10);
  }
  assert.equal(endpoint.pendingHelloCount, 10);
  assert.equal(endpoint.peerCount, 0);
  assert.equal(endpoint.pollTransmit(), undefined, 'nothing is answered for half a ClientHello');
  endpoint.handleTimeout(1000 + 5000);
  assert.equal(endpoint.pendingHelloCount, 0, 'partial hellos expire after pendingHelloTtlMs');
});

test('maxHelloLength: an over-long ClientHello, or one declaring 16 MB, is dropped without state', async () => {
  const c = await testCredentials();
  const endpoint = new DtlsServerEndpoint({ ...c.serverConfig, serverLimits: { maxHelloLength: 256 } });
  const real = decodeClientHello(
    clientHelloOf(DtlsConnection.client(c.clientConfig, 0).pollTransmit()!).msg.body,
  );
  // RFC 7685 padding extension (21) makes it longer than the limit.
  const long = encodeClientHello({
    ...real,
    extensions: [...(real.extensions ?? []), { type: 21, data: Buffer.alloc(300) }],
  });
  assert.ok(long.length > 256);
  const dropped = endpoint.stats.datagramsDropped;
  endpoint.handleDatagram(
    craftRecord({
      type: ContentType.handshake,
      seq: 0,
      fragment: craftFragment({ msgType: 1, messageSeq: 0, body: long }),
    }),
    spoofed(1),
    0,
  );
  const before = process.memoryUsage().arrayBuffers;
  for (let i = 0; i < 100; i++) {
    const huge = craftFragment({ msgType: 1, messageSeq: 0, body: long, end: 100, length: 0xffffff });
    endpoint.handleDatagram(
      craftRecord({ type: ContentType.handshake, seq: 0, fragment: huge }),
      spoofed(2 + i),
      0,
    );
  }
  assert.ok(process.memoryUsage().arrayBuffers - before < 4 * 1024 * 1024, 'no 16 MB allocation');
  assert.equal(endpoint.pollTransmit(), undefined);
  assert.equal(endpoint.stats.datagramsDropped, dropped + 101);
  assert.equal(endpoint.pendingHelloCount, 0);
  assert.equal(endpoint.peerCount, 0);
});

test('reassembler limits: messages over maxMessageLength or beyond maxMessagesAhead are dropped; memory capped', async () => {
  const c = await testCredentials();
  const limits = { maxMessageLength: 4096, maxMessagesAhead: 4 };
  const p = ScriptedPeer.client({ ...c.clientConfig, limits }, c.serverConfig);
  const flight4 = p.takeFromAccomplice();
  const sh = fragmentsOfType(
    flight4.flatMap((d) => p.watcher.parse(d, 'server')),
    HandshakeType.server_hello,
  )[0]!;
  const big = Buffer.alloc(limits.maxMessageLength);
  p.deliver(
    p.handshakeRecord({
      msgType: 11,
      messageSeq: 1,
      body: big,
      end: 10,
      length: limits.maxMessageLength + 1,
    }),
  );
  assert.equal(p.target.stats.fragmentsDropped, 1, 'over maxMessageLength');
  p.deliver(p.handshakeRecord({ msgType: 11, messageSeq: limits.maxMessagesAhead, body: big, end: 10 }));
  assert.equal(p.target.stats.fragmentsDropped, 2, 'beyond maxMessagesAhead');
  // Fill every slot allowed with a partial message of the largest size.
  for (let seq = 0; seq < limits.maxMessagesAhead; seq++) {
    p.deliver(p.handshakeRecord({ msgType: 11, messageSeq: seq, body: big, offset: 100, end: 110 }));
  }
  assert.equal(p.target.stats.fragmentsDropped, 2);
  // The reassembler is private; its buffered bytes are read here only to check the documented bound.
  const reassembler = (p.target as unknown as { reassembler: Reassembler }).reassembler;
  assert.ok(reassembler.bufferedBytes <= limits.maxMessagesAhead * limits.maxMessageLength);
  assert.equal(p.target.state, 'handshaking');
  assert.ok(sh.length > 0);
});

test('record layer: early next-epoch records are buffered up to 32 records / 64 KB, the rest dropped', async () => {
  const c = await testCredentials();
  const p = ScriptedPeer.client(c.clientConfig, c.serverConfig);
  p.takeFromAccomplice();
  for (let i = 0; i < 40; i++) {
    p.deliver(craftRecord({ type: ContentType.handshake, epoch: 1, seq: i, fragment: Buffer.alloc(64, i) }));
  }
  assert.equal(p.target.record.drops.bufferFull, 8, 'records beyond 32 are dropped');

  const q = ScriptedPeer.client(c.clientConfig, c.serverConfig);
  q.takeFromAccomplice();
  for (let i = 0; i < 6; i++) {
    q.deliver(
      craftRecord({
        type: ContentType.application_data,
        epoch: 1,
        seq: i,
        fragment: Buffer.alloc(16_384 + 256),
      }),
    );
  }
  assert.equal(q.target.record.drops.bufferFull, 3, 'bytes beyond 64 KB are dropped');
  assert.equal(q.target.state, 'handshaking');
});
