/**
 * A rebooted client (RFC 6347 §4.2.8): it lost its state and sends a fresh epoch-0 ClientHello from the
 * same address as a live association. The server endpoint answers with a HelloVerifyRequest, runs the
 * new handshake once the cookie comes back, and keeps the old session working until the new one
 * completes; only then does the new one replace it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DtlsConnection } from '../../src/engine/connection.js';
import {
  DtlsServerEndpoint,
  type EndpointEvent,
  type PeerAddress,
} from '../../src/engine/server-endpoint.js';
import { HandshakeType } from '../../src/wire/constants.js';
import { parseHandshakeFragments } from '../../src/wire/handshake-header.js';
import { parseDatagram } from '../../src/wire/record.js';
import { testCredentials } from './hostile-peer.js';

const PEER: PeerAddress = { address: '127.0.0.1', port: 40000 };

class Harness {
  now = 0;
  readonly events: EndpointEvent[] = [];
  constructor(readonly endpoint: DtlsServerEndpoint) {}

  /** Client → endpoint. */
  send(client: DtlsConnection): number {
    let n = 0;
    for (let d = client.pollTransmit(); d; d = client.pollTransmit(), n++)
      this.endpoint.handleDatagram(d, PEER, this.now);
    this.collect();
    return n;
  }

  /** Endpoint → every client at the address (they share it: whichever the datagram is for reads it). */
  receive(...clients: DtlsConnection[]): Buffer[] {
    const out: Buffer[] = [];
    for (let t = this.endpoint.pollTransmit(); t; t = this.endpoint.pollTransmit()) out.push(t.data);
    for (const c of clients) for (const d of out) c.handleDatagram(d, this.now);
    this.collect();
    return out;
  }

  handshake(client: DtlsConnection, ...others: DtlsConnection[]): void {
    for (let i = 0; i < 20 && client.state === 'handshaking'; i++) {
      this.send(client);
      this.receive(client, ...others);
    }
    this.send(client);
  }

  dataFrom(connection: DtlsConnection): string[] {
    return this.events.flatMap((e) =>
      e.type === 'connection-event' && e.connection === connection && e.event.type === 'data'
        ? [e.event.data.toString()]
        : [],
    );
  }

  private collect(): void {
    for (let e = this.endpoint.pollEvent(); e; e = this.endpoint.pollEvent()) this.events.push(e);
  }
}

function received(c: DtlsConnection): string[] {
  const out: string[] = [];
  for (let e = c.pollEvent(); e; e = c.pollEvent()) if (e.type === 'data') out.push(e.data.toString());
  return out;
}

function handshakeTypes(d: Buffer): number[] {
  return parseDatagram(d).records.flatMap((r) =>
    r.epoch === 0 && r.type === 22 ? parseHandshakeFragments(r.fragment).map((f) => f.msgType) : [],
  );
}

test('a rebooted client from the same address: cookie exchange, new handshake, old session kept until then', async () => {
  const c = await testCredentials();
  const h = new Harness(new DtlsServerEndpoint(c.serverConfig));
  const first = DtlsConnection.client(c.clientConfig, h.now);
  h.handshake(first);
  assert.equal(first.state, 'connected');
  const old = h.endpoint.connectionFor(PEER)!;
  assert.equal(old.state, 'connected');
  assert.equal(h.endpoint.stats.helloVerifyRequestsSent, 1);
  received(first);

  // The client reboots: its fresh ClientHello (no cookie) gets only a HelloVerifyRequest.
  const rebooted = DtlsConnection.client(c.clientConfig, h.now);
  const hello = rebooted.pollTransmit()!;
  h.endpoint.handleDatagram(hello, PEER, h.now);
  const hvr = h.receive(rebooted);
  assert.equal(hvr.length, 1);
  assert.deepEqual(handshakeTypes(hvr[0]!), [HandshakeType.hello_verify_request]);
  assert.ok(hvr[0]!.length <= hello.length, 'no amplification');
  assert.equal(h.endpoint.stats.helloVerifyRequestsSent, 2);
  assert.equal(h.endpoint.peerCount, 1);
  assert.equal(h.endpoint.connectionFor(PEER), old, 'no state for an unverified ClientHello');

  // The ClientHello with the cookie starts the new handshake (flight 4 goes out) …
  h.send(rebooted);
  const flight4 = h.receive(rebooted, first);
  assert.ok(flight4.some((d) => handshakeTypes(d).includes(HandshakeType.server_hello)));
  // … while the old session still carries data both ways.
  first.send(Buffer.from('old session, client to server'), h.now);
  h.send(first);
  assert.deepEqual(h.dataFrom(old), ['old session, client to server']);
  h.endpoint.sendTo(old, Buffer.from('old session, server to client'), h.now);
  h.receive(first, rebooted);
  assert.deepEqual(received(first), ['old session, server to client']);
  assert.equal(h.endpoint.connectionFor(PEER), old);

  // The new handshake completes and replaces the old association.
  h.handshake(rebooted, first);
  assert.equal(rebooted.state, 'connected');
  const current = h.endpoint.connectionFor(PEER)!;
  assert.notEqual(current, old);
  assert.equal(current.state, 'connected');
  assert.ok(
    h.events.some((e) => e.type === 'peer-removed' && e.connection === old && e.reason === 'replaced'),
  );
  assert.equal(h.endpoint.peerCount, 1);
  rebooted.send(Buffer.from('new session'), h.now);
  h.send(rebooted);
  assert.deepEqual(h.dataFrom(current), ['new session']);
  // The old keys are gone: the old client's data no longer reaches the application.
  first.send(Buffer.from('stale'), h.now);
  h.send(first);
  assert.deepEqual(h.dataFrom(current), ['new session']);
  assert.deepEqual(h.dataFrom(old), ['old session, client to server']);
});

test('a replayed copy of the current association’s ClientHello starts nothing', async () => {
  const c = await testCredentials();
  const h = new Harness(new DtlsServerEndpoint(c.serverConfig));
  const client = DtlsConnection.client(c.clientConfig, h.now);
  const sent: Buffer[] = [];
  for (let i = 0; i < 20 && client.state === 'handshaking'; i++) {
    for (let d = client.pollTransmit(); d; d = client.pollTransmit()) {
      sent.push(d);
      h.endpoint.handleDatagram(d, PEER, h.now);
    }
    h.receive(client);
  }
  assert.equal(client.state, 'connected');
  const old = h.endpoint.connectionFor(PEER)!;
  const withCookie = sent[1]!; // the second ClientHello, which carried the cookie
  assert.deepEqual(handshakeTypes(withCookie), [HandshakeType.client_hello]);
  h.endpoint.handleDatagram(withCookie, PEER, h.now);
  assert.deepEqual(h.receive(), [], 'no flight 4 for a replayed ClientHello');
  assert.equal(h.endpoint.connectionFor(PEER), old);
  assert.equal(old.state, 'connected');
});
