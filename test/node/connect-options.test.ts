import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type GeneratedCertificate, generateCertificate } from '../../src/cert/generate.js';
import { type ConnectOptions, connect } from '../../src/node/client.js';
import { createServer, type DtlsServer } from '../../src/node/server.js';

// connect() resolves its engine configuration once per options object and reuses it while the options
// are unchanged (see clientConfig in src/node/client.ts). These tests change the options between
// connects, in every way a caller can, and check that each change is honoured.

let cert: GeneratedCertificate;
let other: GeneratedCertificate;
let server: DtlsServer;
let port: number;

before(async () => {
  [cert, other] = await Promise.all([generateCertificate(), generateCertificate()]);
  server = createServer({ cert: cert.cert, key: cert.key });
  server.on('connection', (s) => s.on('error', () => {}));
  server.on('peerError', () => {});
  ({ port } = await server.listen(0, '127.0.0.1'));
});
after(() => server.close());

async function outcome(options: ConnectOptions): Promise<string> {
  try {
    const s = await connect(options);
    await s.close();
    return 'connected';
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
}

test('a pinned fingerprint changed between connects, in place or replaced, is honoured', async () => {
  const pins = [cert.fingerprint];
  const options: ConnectOptions = { host: '127.0.0.1', port, fingerprint: pins, handshakeTimeout: 5_000 };
  assert.equal(await outcome(options), 'connected');
  pins[0] = other.fingerprint; // the same array, changed in place
  assert.equal(await outcome(options), 'bad_certificate');
  pins[0] = cert.fingerprint;
  assert.equal(await outcome(options), 'connected');
  options.fingerprint = other.fingerprint; // replaced by a string
  assert.equal(await outcome(options), 'bad_certificate');
  options.fingerprint = [other.fingerprint, cert.fingerprint];
  assert.equal(await outcome(options), 'connected');
  // Options inherited from a shared base object count as well.
  const base: Partial<ConnectOptions> = { fingerprint: cert.fingerprint, handshakeTimeout: 5_000 };
  const derived = Object.assign(Object.create(base) as ConnectOptions, { host: '127.0.0.1', port });
  assert.equal(await outcome(derived), 'connected');
  base.fingerprint = other.fingerprint;
  assert.equal(await outcome(derived), 'bad_certificate');
});

test('suites, MTU and a session changed between connects are honoured', async () => {
  const options: ConnectOptions = {
    host: '127.0.0.1',
    port,
    fingerprint: cert.fingerprint,
    cipherSuites: ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'],
    handshakeTimeout: 5_000,
  };
  const first = await connect(options);
  assert.equal(first.getCipher()?.standardName, 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256');
  const session = first.getSession();
  await first.close();
  assert.ok(session);

  options.cipherSuites = ['TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256'];
  const second = await connect(options);
  assert.equal(second.getCipher()?.standardName, 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256');
  assert.equal(second.isResumed(), false);
  await second.close();

  options.cipherSuites = ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'];
  options.session = session;
  const resumed = await connect(options);
  assert.equal(resumed.isResumed(), true);
  await resumed.close();

  options.mtu = 10; // below the smallest MTU: refused before any socket is opened
  assert.equal(await outcome(options), 'invalid_argument');
  options.mtu = undefined;
  options.session = undefined;
  assert.equal(await outcome(options), 'connected');
});

test('a server listening on a host name still resolves it (names go to dns.lookup, literals do not)', async () => {
  const named = createServer({ cert: cert.cert, key: cert.key });
  named.on('connection', (s) => s.on('message', (m: Buffer) => s.send(m)));
  const { address, port: namedPort } = await named.listen(0, 'localhost');
  try {
    assert.equal(address, '127.0.0.1');
    const s = await connect({
      host: address,
      port: namedPort,
      fingerprint: cert.fingerprint,
      handshakeTimeout: 5_000,
    });
    const echoed = new Promise<Buffer>((resolve) => s.once('message', resolve));
    s.send('over a resolved name');
    assert.equal(String(await echoed), 'over a resolved name');
    await s.close();
  } finally {
    await named.close();
  }
});
