/**
 * Handshake message reassembly (RFC 6347 §4.2.3): fragments out of order, duplicated, overlapping,
 * re-cut differently on retransmission; messages out strictly in message_seq order, each exactly once;
 * bounded memory against hostile lengths and sequence numbers.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type HandshakeMessage, Reassembler } from '../../src/handshake/reassembler.js';
import { HandshakeType } from '../../src/wire/constants.js';
import type { HandshakeFragment } from '../../src/wire/handshake-header.js';
import { mulberry32 } from '../sim/network.js';

function frag(
  messageSeq: number,
  body: Buffer,
  offset: number,
  length: number,
  msgType: number = HandshakeType.certificate,
) {
  const piece = body.subarray(offset, offset + length);
  return {
    msgType,
    length: body.length,
    messageSeq,
    fragmentOffset: offset,
    fragmentLength: piece.length,
    body: piece,
  } satisfies HandshakeFragment;
}

/** Cut a body at the given offsets: [0, a), [a, b), … [z, end). */
function cut(messageSeq: number, body: Buffer, offsets: number[], msgType?: number): HandshakeFragment[] {
  const edges = [0, ...offsets, body.length];
  const out: HandshakeFragment[] = [];
  for (let i = 0; i + 1 < edges.length; i++)
    out.push(frag(messageSeq, body, edges[i]!, edges[i + 1]! - edges[i]!, msgType));
  return out;
}

function bodyOf(n: number, seed: number): Buffer {
  const rnd = mulberry32(seed);
  return Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));
}

function drain(r: Reassembler): HandshakeMessage[] {
  const out: HandshakeMessage[] = [];
  for (let m = r.poll(); m; m = r.poll()) out.push(m);
  return out;
}

test('an unfragmented message is delivered at once', () => {
  const r = new Reassembler(0);
  const body = bodyOf(100, 1);
  assert.equal(r.add(frag(0, body, 0, 100, HandshakeType.server_hello), 0), 'accepted');
  const [m, ...rest] = drain(r);
  assert.deepEqual(rest, []);
  assert.equal(m!.msgType, HandshakeType.server_hello);
  assert.equal(m!.messageSeq, 0);
  assert.equal(m!.epoch, 0);
  assert.ok(m!.body.equals(body));
  assert.equal(r.expectedSeq, 1);
});

test('fragments out of order reassemble to the same bytes', () => {
  const r = new Reassembler(0);
  const body = bodyOf(1000, 2);
  const pieces = cut(0, body, [100, 250, 600, 601, 900]);
  for (const i of [3, 5, 0, 2, 4]) {
    assert.equal(r.add(pieces[i]!, 0), 'accepted');
    assert.equal(r.poll(), undefined, 'not complete yet');
  }
  assert.equal(r.add(pieces[1]!, 0), 'accepted');
  const [m] = drain(r);
  assert.ok(m!.body.equals(body));
});

test('duplicate fragments are harmless', () => {
  const r = new Reassembler(0);
  const body = bodyOf(300, 3);
  const pieces = cut(0, body, [100, 200]);
  assert.equal(r.add(pieces[0]!, 0), 'accepted');
  assert.equal(r.add(pieces[0]!, 0), 'accepted');
  assert.equal(r.add(pieces[2]!, 0), 'accepted');
  assert.equal(r.add(pieces[2]!, 0), 'accepted');
  assert.equal(r.poll(), undefined);
  assert.equal(r.add(pieces[1]!, 0), 'accepted');
  const msgs = drain(r);
  assert.equal(msgs.length, 1);
  assert.ok(msgs[0]!.body.equals(body));
  // Once delivered, any further fragment of it is old.
  assert.equal(r.add(pieces[1]!, 0), 'old');
  assert.equal(r.poll(), undefined);
});

test('overlapping fragments with the same bytes are merged', () => {
  const r = new Reassembler(0);
  const body = bodyOf(500, 4);
  assert.equal(r.add(frag(0, body, 0, 200), 0), 'accepted');
  assert.equal(r.add(frag(0, body, 150, 200), 0), 'accepted');
  assert.equal(r.add(frag(0, body, 340, 100), 0), 'accepted');
  assert.equal(r.poll(), undefined);
  assert.equal(r.add(frag(0, body, 100, 400), 0), 'accepted');
  assert.ok(drain(r)[0]!.body.equals(body));
});

test('a retransmission cut at other offsets completes a partly received message', () => {
  const r = new Reassembler(0);
  const body = bodyOf(1200, 5);
  // First send at MTU ~ 400: pieces 0 and 2 arrive, 1 is lost.
  const first = cut(0, body, [400, 800]);
  assert.equal(r.add(first[0]!, 0), 'accepted');
  assert.equal(r.add(first[2]!, 0), 'accepted');
  assert.equal(r.poll(), undefined);
  // Retransmission after a smaller MTU: pieces of 250 bytes, only the middle ones arrive.
  const second = cut(0, body, [250, 500, 750, 1000]);
  assert.equal(r.add(second[1]!, 0), 'accepted');
  assert.equal(r.add(second[2]!, 0), 'accepted');
  assert.equal(r.poll(), undefined, 'bytes 750..800 still missing');
  assert.equal(r.add(second[3]!, 0), 'accepted');
  const [m] = drain(r);
  assert.ok(m!.body.equals(body));
});

test('an overlap with different bytes is inconsistent and does not corrupt the message', () => {
  const r = new Reassembler(0);
  const body = bodyOf(300, 6);
  assert.equal(r.add(frag(0, body, 0, 200), 0), 'accepted');
  const forged = Buffer.from(body);
  forged[150] = forged[150]! ^ 0xff;
  assert.equal(r.add(frag(0, forged, 100, 200), 0), 'inconsistent');
  assert.equal(r.poll(), undefined);
  // The genuine rest still completes it with the original bytes.
  assert.equal(r.add(frag(0, body, 200, 100), 0), 'accepted');
  assert.ok(drain(r)[0]!.body.equals(body));
});

test('a fragment disagreeing on type, length or epoch is inconsistent', () => {
  const r = new Reassembler(0);
  const body = bodyOf(300, 7);
  assert.equal(r.add(frag(0, body, 0, 100), 0), 'accepted');
  assert.equal(r.add(frag(0, body, 100, 100, HandshakeType.server_key_exchange), 0), 'inconsistent');
  const longer = Buffer.concat([body, Buffer.alloc(1)]);
  assert.equal(r.add(frag(0, longer, 100, 100), 0), 'inconsistent');
  assert.equal(r.add(frag(0, body, 100, 100), 1), 'inconsistent');
  assert.equal(r.add(frag(0, body, 100, 200), 0), 'accepted');
  assert.ok(drain(r)[0]!.body.equals(body));
});

test('a zero-length message (ServerHelloDone) is complete at once', () => {
  const r = new Reassembler(3);
  const empty = Buffer.alloc(0);
  assert.equal(r.add(frag(3, empty, 0, 0, HandshakeType.server_hello_done), 0), 'accepted');
  const [m, ...rest] = drain(r);
  assert.deepEqual(rest, []);
  assert.equal(m!.msgType, HandshakeType.server_hello_done);
  assert.equal(m!.messageSeq, 3);
  assert.equal(m!.body.length, 0);
});

test('messages come out in message_seq order, each exactly once', () => {
  const r = new Reassembler(1);
  const bodies = [bodyOf(50, 10), bodyOf(700, 11), bodyOf(0, 12), bodyOf(300, 13)];
  // Messages 2..4 arrive complete before message 1: nothing comes out until 1 is complete.
  assert.equal(r.add(frag(4, bodies[3]!, 0, 300), 0), 'accepted');
  assert.equal(r.add(frag(3, bodies[2]!, 0, 0), 0), 'accepted');
  assert.equal(r.add(frag(2, bodies[1]!, 0, 700), 0), 'accepted');
  assert.equal(r.poll(), undefined);
  assert.equal(r.add(frag(1, bodies[0]!, 0, 25), 0), 'accepted');
  assert.equal(r.poll(), undefined);
  assert.equal(r.add(frag(1, bodies[0]!, 25, 25), 0), 'accepted');
  const msgs = drain(r);
  assert.deepEqual(
    msgs.map((m) => m.messageSeq),
    [1, 2, 3, 4],
  );
  for (const [i, m] of msgs.entries()) assert.ok(m.body.equals(bodies[i]!), `message ${i + 1}`);
  assert.equal(r.expectedSeq, 5);
  assert.equal(r.bufferedBytes, 0);
});

test('random interleavings of fragmented, duplicated messages deliver each once, in order', () => {
  for (let seed = 1; seed <= 200; seed++) {
    const rnd = mulberry32(seed);
    const r = new Reassembler(0);
    const count = 1 + Math.floor(rnd() * 6);
    const bodies = Array.from({ length: count }, (_, i) => bodyOf(Math.floor(rnd() * 2000), seed * 100 + i));
    const fragments: HandshakeFragment[] = [];
    for (const [seq, body] of bodies.entries()) {
      // Two sends of each message with different cuts (a retransmission re-fragmented at another MTU).
      for (let send = 0; send < 2; send++) {
        const mtu = 50 + Math.floor(rnd() * 600);
        const offsets: number[] = [];
        for (let o = mtu; o < body.length; o += mtu) offsets.push(o);
        fragments.push(...cut(seq, body, offsets));
      }
    }
    // Shuffle (Fisher–Yates), then duplicate some.
    for (let i = fragments.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [fragments[i], fragments[j]] = [fragments[j]!, fragments[i]!];
    }
    const delivered: HandshakeMessage[] = [];
    for (const f of fragments) {
      const verdict = r.add(f, 0);
      assert.ok(verdict === 'accepted' || verdict === 'old', `seed ${seed}: ${verdict}`);
      if (rnd() < 0.2) r.add(f, 0);
      delivered.push(...drain(r));
    }
    assert.deepEqual(
      delivered.map((m) => m.messageSeq),
      bodies.map((_, i) => i),
      `seed ${seed}`,
    );
    for (const [i, m] of delivered.entries())
      assert.ok(m.body.equals(bodies[i]!), `seed ${seed} message ${i}`);
  }
});

test('fragments too far ahead are refused', () => {
  const r = new Reassembler(2, { maxMessageLength: 1000, maxMessagesAhead: 4 });
  const body = bodyOf(10, 20);
  assert.equal(r.add(frag(5, body, 0, 10), 0), 'accepted', 'expected + 3 is inside');
  assert.equal(r.add(frag(6, body, 0, 10), 0), 'too-far-ahead');
  assert.equal(r.add(frag(65535, body, 0, 10), 0), 'too-far-ahead');
  assert.equal(r.add(frag(1, body, 0, 10), 0), 'old');
  assert.equal(r.bufferedBytes, 10);
});

test('a declared length over the limit is refused without allocating it', () => {
  const r = new Reassembler(0, { maxMessageLength: 64 * 1024, maxMessagesAhead: 8 });
  const before = process.memoryUsage().arrayBuffers;
  for (let seq = 0; seq < 8; seq++) {
    // A 16 MB message (the largest uint24) announced in a 10-byte fragment.
    const f: HandshakeFragment = {
      msgType: HandshakeType.certificate,
      length: 0xffffff,
      messageSeq: seq,
      fragmentOffset: 0,
      fragmentLength: 10,
      body: Buffer.alloc(10),
    };
    assert.equal(r.add(f, 0), 'too-large');
  }
  assert.equal(r.bufferedBytes, 0);
  assert.equal(r.poll(), undefined);
  // 8 × 16 MB would have shown up here.
  assert.ok(process.memoryUsage().arrayBuffers - before < 8 * 1024 * 1024);
  // Exactly at the limit is fine.
  const atLimit = bodyOf(64 * 1024, 21);
  assert.equal(r.add(frag(0, atLimit, 0, 1000), 0), 'accepted');
  assert.equal(r.bufferedBytes, 64 * 1024);
});

test('clear() forgets partial messages', () => {
  const r = new Reassembler(0);
  const body = bodyOf(100, 22);
  r.add(frag(0, body, 0, 50), 0);
  r.add(frag(1, body, 0, 50), 0);
  assert.equal(r.bufferedBytes, 200);
  r.clear();
  assert.equal(r.bufferedBytes, 0);
  r.add(frag(0, body, 50, 50), 0);
  assert.equal(r.poll(), undefined, 'the first half is gone');
});
