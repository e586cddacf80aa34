/**
 * Hostile records and fragments (RFC 6347 §4.1, §4.2.3): future epochs, fragments that contradict one
 * another, message_seq far ahead, absurd declared lengths. All are dropped and counted (RFC 6347
 * §4.1.2.7), none allocates what it claims, and the genuine handshake still completes afterwards.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ContentType, HandshakeType } from '../../src/wire/constants.js';
import {
  craftFragment,
  craftRecord,
  fragmentsOfType,
  ScriptedPeer,
  testCredentials,
} from './hostile-peer.js';

async function clientAwaitingFlight4() {
  const c = await testCredentials();
  const p = ScriptedPeer.client(c.clientConfig, c.serverConfig);
  const flight4 = p.takeFromAccomplice();
  const records = flight4.flatMap((d) => p.watcher.parse(d, 'server'));
  const serverHello = fragmentsOfType(records, HandshakeType.server_hello)[0]!;
  return { p, flight4, serverHello };
}

function finish(p: ScriptedPeer, flight4: Buffer[]): void {
  p.deliver(...flight4.map((d) => p.relay(d)));
  p.exchange();
  assert.equal(p.target.state, 'connected', 'the genuine handshake completes after the hostile input');
}

test('records of a future epoch (5) are dropped, during the handshake and after it', async () => {
  const { p, flight4, serverHello } = await clientAwaitingFlight4();
  // The genuine ServerHello, but in epoch 5: it must not be read.
  p.deliver(
    craftRecord({
      type: ContentType.handshake,
      epoch: 5,
      seq: 1,
      fragment: craftFragment({ msgType: HandshakeType.server_hello, messageSeq: 0, body: serverHello.body }),
    }),
  );
  assert.equal(p.target.record.drops.unknownEpoch, 1);
  assert.deepEqual(p.takeFromTarget(), []);
  assert.equal(p.events.filter((e) => e.type === 'handshake' && e.trace.direction === 'received').length, 0);
  finish(p, flight4);

  // Connected: application data sealed with the real keys but labelled epoch 5 never surfaces.
  const dropped = p.target.record.drops.unknownEpoch;
  p.deliver(p.watcher.keys!.seal('server', ContentType.application_data, 5, 1, Buffer.from('forged')));
  assert.equal(p.target.record.drops.unknownEpoch, dropped + 1);
  assert.equal(p.events.filter((e) => e.type === 'data').length, 0);
  assert.equal(p.target.state, 'connected');
  // The genuine epoch keeps working.
  p.deliver(p.record(ContentType.application_data, Buffer.from('genuine'), 1));
  const data = p.events.flatMap((e) => (e.type === 'data' ? [e.data.toString()] : []));
  assert.deepEqual(data, ['genuine']);
});

test('overlapping fragments whose bytes disagree are dropped and counted; the genuine message wins', async () => {
  const { p, flight4, serverHello } = await clientAwaitingFlight4();
  const body = serverHello.body;
  const forged = Buffer.from(body);
  forged[30] = forged[30]! ^ 0xff; // inside the server random, in the overlap of the two fragments
  p.deliver(
    p.handshakeRecord({ msgType: HandshakeType.server_hello, messageSeq: 0, body, offset: 0, end: 40 }),
  );
  assert.equal(p.target.stats.fragmentsDropped, 0);
  p.deliver(
    p.handshakeRecord({
      msgType: HandshakeType.server_hello,
      messageSeq: 0,
      body: forged,
      offset: 20,
      end: 60,
    }),
  );
  assert.equal(p.target.stats.fragmentsDropped, 1, 'the contradicting fragment is counted');
  // An overlap that agrees is fine (a retransmission cut at other offsets, RFC 6347 §4.2.3).
  p.deliver(
    p.handshakeRecord({ msgType: HandshakeType.server_hello, messageSeq: 0, body, offset: 20, end: 60 }),
  );
  assert.equal(p.target.stats.fragmentsDropped, 1);
  finish(p, flight4);
  // The server random the client used is the genuine one, or Finished would not have verified.
});

test('a fragment whose message_seq is far ahead (1000) is dropped without buffering', async () => {
  const { p, flight4, serverHello } = await clientAwaitingFlight4();
  p.deliver(
    p.handshakeRecord({ msgType: HandshakeType.server_hello, messageSeq: 1000, body: serverHello.body }),
  );
  assert.equal(p.target.stats.fragmentsDropped, 1);
  assert.deepEqual(p.takeFromTarget(), []);
  finish(p, flight4);
});

test('a declared message length of 16 MB is dropped with no large allocation', async () => {
  const { p, flight4, serverHello } = await clientAwaitingFlight4();
  const rounds = 200;
  const before = process.memoryUsage();
  for (let i = 0; i < rounds; i++) {
    p.deliver(
      p.handshakeRecord({
        msgType: HandshakeType.certificate,
        messageSeq: 1 + (i % 4),
        body: serverHello.body,
        offset: 0,
        end: 16,
        length: 0xffffff, // the largest uint24: 16 MB - 1
      }),
    );
  }
  const after = process.memoryUsage();
  assert.equal(p.target.stats.fragmentsDropped, rounds);
  // 200 x 16 MB would be 3.2 GB; allow for unrelated noise only.
  const grown = after.arrayBuffers - before.arrayBuffers;
  assert.ok(grown < 4 * 1024 * 1024, `arrayBuffers grew by ${grown} bytes`);
  assert.ok(after.heapUsed - before.heapUsed < 16 * 1024 * 1024);
  finish(p, flight4);
});
