import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DtlsConnection } from '../../src/engine/connection.js';
import { PeerTable } from '../../src/engine/peer-table.js';
import { DtlsServerEndpoint, type PeerAddress } from '../../src/engine/server-endpoint.js';

const entry = (address: string, port: number) => ({ peer: { address, port } });

test('peers on distinct ports and on a shared port are found by address and port, and only so', () => {
  const t = new PeerTable<ReturnType<typeof entry>>();
  const a = entry('192.0.2.1', 5000);
  const b = entry('192.0.2.2', 5000); // the same port from another address
  const c = entry('::1', 6000);
  for (const e of [a, b, c]) t.set(e);
  assert.equal(t.size, 3);
  assert.equal(t.get('192.0.2.1', 5000), a);
  assert.equal(t.get('192.0.2.2', 5000), b);
  assert.equal(t.get('::1', 6000), c);
  assert.equal(t.get('192.0.2.3', 5000), undefined);
  assert.equal(t.get('::1', 5000), undefined);
  assert.equal(t.get('192.0.2.1', 6000), undefined);
  assert.deepEqual(new Set(t.values()), new Set([a, b, c]));
});

test('set replaces the entry of the same address and port; delete removes only the entry registered', () => {
  const t = new PeerTable<ReturnType<typeof entry>>();
  const a = entry('192.0.2.1', 5000);
  const a2 = entry('192.0.2.1', 5000);
  const b = entry('192.0.2.2', 5000);
  t.set(a);
  t.set(a2);
  assert.equal(t.size, 1);
  assert.equal(t.get('192.0.2.1', 5000), a2);
  t.delete(a); // no longer registered: nothing happens
  assert.equal(t.size, 1);
  t.set(b);
  t.set(entry('192.0.2.2', 5000));
  assert.equal(t.size, 2, 'a replacement on a shared port is no new peer');
  t.delete(a2);
  assert.equal(t.size, 1);
  assert.equal(t.get('192.0.2.1', 5000), undefined);
  assert.equal(t.get('192.0.2.2', 5000)?.peer.address, '192.0.2.2');
  t.delete(t.get('192.0.2.2', 5000)!);
  assert.equal(t.size, 0);
  assert.deepEqual(t.values(), []);
});

test('values() is a snapshot: entries deleted while walking it do not disturb the walk', () => {
  const t = new PeerTable<ReturnType<typeof entry>>();
  const all = Array.from({ length: 20 }, (_, i) => entry(`192.0.2.${i % 3}`, 7000 + (i % 7)));
  for (const e of all) t.set(e);
  const seen = t.values();
  for (const e of seen) t.delete(e);
  assert.equal(seen.length, new Set(all.map((e) => `${e.peer.address}|${e.peer.port}`)).size);
  assert.equal(t.size, 0);
});

test('a server endpoint keeps apart peers that share a port or an address, and forgets only the one closed', () => {
  const key = Buffer.alloc(16, 9);
  const endpoint = new DtlsServerEndpoint({
    psk: { lookup: () => key },
    cipherSuites: ['TLS_PSK_WITH_AES_128_CCM_8'],
  });
  const peers: PeerAddress[] = [
    { address: '192.0.2.1', port: 5000, family: 'IPv4' },
    { address: '192.0.2.2', port: 5000, family: 'IPv4' }, // the same port from another address
    { address: '192.0.2.1', port: 5001, family: 'IPv4' }, // the same address on another port
  ];
  const clients = peers.map(() =>
    DtlsConnection.client(
      { psk: { identity: 'node', key }, cipherSuites: ['TLS_PSK_WITH_AES_128_CCM_8'] },
      0,
    ),
  );
  const received: string[][] = peers.map(() => []);
  const atServer: string[] = [];
  const pump = () => {
    // Bounded: a handshake and a few data datagrams need far fewer rounds.
    for (let round = 0; round < 20; round++) {
      let moved = 0;
      clients.forEach((c, i) => {
        for (let d = c.pollTransmit(); d; d = c.pollTransmit(), moved++)
          endpoint.handleDatagram(d, peers[i]!, 0);
      });
      for (let t = endpoint.pollTransmit(); t; t = endpoint.pollTransmit(), moved++) {
        const i = peers.findIndex((p) => p.address === t!.peer.address && p.port === t!.peer.port);
        clients[i]!.handleDatagram(t.data, 0);
      }
      for (let e = endpoint.pollEvent(); e; e = endpoint.pollEvent()) {
        if (e.type === 'connection-event' && e.event.type === 'data') {
          atServer.push(`${e.peer.address}:${e.peer.port} ${e.event.data.toString()}`);
        }
      }
      clients.forEach((c, i) => {
        for (let e = c.pollEvent(); e; e = c.pollEvent())
          if (e.type === 'data') received[i]!.push(e.data.toString());
      });
      if (moved === 0) return;
    }
  };
  pump();
  assert.deepEqual(
    clients.map((c) => c.state),
    ['connected', 'connected', 'connected'],
  );
  assert.equal(endpoint.peerCount, 3);
  for (const [i, c] of clients.entries()) c.send(Buffer.from(`from ${i}`), 0);
  for (const [i, p] of peers.entries())
    endpoint.sendTo(endpoint.connectionFor(p)!, Buffer.from(`to ${i}`), 0);
  pump();
  assert.deepEqual(atServer.sort(), [
    '192.0.2.1:5000 from 0',
    '192.0.2.1:5001 from 2',
    '192.0.2.2:5000 from 1',
  ]);
  assert.deepEqual(received, [['to 0'], ['to 1'], ['to 2']]);

  endpoint.closeConnection(endpoint.connectionFor(peers[1]!)!, 0);
  pump();
  assert.equal(endpoint.peerCount, 2);
  assert.equal(endpoint.connectionFor(peers[1]!), undefined);
  assert.equal(clients[1]!.state, 'closed');
  endpoint.sendTo(endpoint.connectionFor(peers[0]!)!, Buffer.from('still here'), 0);
  pump();
  assert.deepEqual(received[0], ['to 0', 'still here']);
});
