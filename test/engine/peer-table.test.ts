import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PeerTable } from '../../src/engine/peer-table.js';

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
