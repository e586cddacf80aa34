import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { generateCertificate } from '../../src/cert/generate.js';
import { connect } from '../../src/node/client.js';
import { createServer, type DtlsServer } from '../../src/node/server.js';
import type { DtlsSocket } from '../../src/node/socket.js';
import { cleanupPeers, runOpensslClient, startOpensslServer, withTimeout } from './peers.js';

// IPv6 (::1) in both roles, against OpenSSL and against ourselves: the Node API picks udp6 from the
// address, and the server endpoint keys peers by address and port whatever the family.

const servers = new Set<DtlsServer>();
const sockets = new Set<DtlsSocket>();
after(async () => {
  await Promise.allSettled([...sockets].map((s) => s.close()));
  await Promise.allSettled([...servers].map((s) => s.close()));
  await cleanupPeers();
});

const certPromise = generateCertificate({ commonName: 'localhost', subjectAltNames: ['localhost', '::1'] });

test('our server on [::1] with openssl s_client -connect [::1]:port', async () => {
  const cert = await certPromise;
  const server = createServer({ cert: cert.cert, key: cert.key }, (s) =>
    s.on('message', (m: Buffer) => s.send(m)),
  );
  servers.add(server);
  const { port, family, address } = await server.listen(0, '::1');
  assert.equal(family, 'IPv6');
  assert.equal(address, '::1');
  const r = await runOpensslClient({
    host: '::1',
    port,
    send: 'over ipv6',
    expect: /over ipv6/,
    caFile: cert.cert,
    verify: false,
  });
  assert.match(r.received, /over ipv6/);
});

test('our client to openssl s_server on [::1]', async () => {
  const cert = await certPromise;
  const srv = await startOpensslServer({ host: '::1', cert: cert.cert, key: cert.key });
  const replied = srv.respond(/^ping6$/m, 'pong6\n', 10_000, srv.stdout.length);
  const socket = await connect({
    host: '::1',
    port: srv.port,
    fingerprint: cert.fingerprint,
    handshakeTimeout: 10_000,
  });
  sockets.add(socket);
  assert.equal(socket.remoteFamily, 'IPv6');
  assert.equal(socket.remoteAddress, '::1');
  const reply = withTimeout(
    new Promise<string>((resolve) => socket.once('message', (m: Buffer) => resolve(m.toString()))),
    10_000,
    'the reply over IPv6',
  );
  socket.send('ping6\n');
  await replied;
  assert.equal((await reply).trim(), 'pong6');
});

test('our client and server over ::1, with the cookie exchange', async () => {
  const cert = await certPromise;
  const server = createServer({ cert: cert.cert, key: cert.key }, (s) =>
    s.on('message', (m: Buffer) => s.send(m)),
  );
  servers.add(server);
  const { port } = await server.listen(0, '::1');
  const socket = await connect({ host: '::1', port, fingerprint: cert.fingerprint });
  sockets.add(socket);
  const echoed = new Promise<Buffer>((resolve) => socket.once('message', resolve));
  socket.send('v6');
  assert.equal((await echoed).toString(), 'v6');
  assert.equal(server.stats.helloVerifyRequestsSent, 1);
});
