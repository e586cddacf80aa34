import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { type GeneratedCertificate, generateCertificate } from '../../src/cert/generate.js';
import type { ConnectionInfo } from '../../src/engine/events.js';
import type { DtlsError } from '../../src/errors.js';
import { classifyDatagram, type DatagramKind } from '../../src/webrtc/demux.js';
import { encodeStunMessage, StunAttribute, StunMessageType } from '../../src/webrtc/stun.js';
import { DtlsTransport, type DtlsTransportOptions } from '../../src/webrtc/transport.js';

let clientCert: GeneratedCertificate;
let serverCert: GeneratedCertificate;
let strangerCert: GeneratedCertificate;

before(async () => {
  [clientCert, serverCert, strangerCert] = await Promise.all([
    generateCertificate({ keyType: 'ecdsa-p256', commonName: 'client' }),
    generateCertificate({ keyType: 'ed25519', commonName: 'server' }),
    generateCertificate({ keyType: 'ecdsa-p256', commonName: 'stranger' }),
  ]);
});

const fakeStun = (): Buffer =>
  encodeStunMessage(
    StunMessageType.bindingRequest,
    Buffer.alloc(12, 9),
    [{ type: StunAttribute.USERNAME, value: Buffer.from('a:b') }],
    { integrityKey: 'password-password-pass', fingerprint: true },
  );
// RTP version 2, payload type 111, sequence 1, timestamp 0, SSRC 0x01020304 (RFC 3550 §5.1), then payload.
const fakeRtp = (): Buffer =>
  Buffer.concat([Buffer.from('806f00010000000001020304', 'hex'), Buffer.alloc(20, 0xaa)]);

/**
 * Two DtlsTransports over an in-memory "5-tuple": every DTLS datagram travels with STUN and RTP
 * traffic around it, and the receiving side demultiplexes by first byte (RFC 7983 §7) as a WebRTC
 * endpoint would. `lose` may drop DTLS datagrams by their index in each direction.
 */
function pair(
  clientOpts: Partial<DtlsTransportOptions>,
  serverOpts: Partial<DtlsTransportOptions>,
  lose: (direction: 'c2s' | 's2c', index: number) => boolean = () => false,
) {
  const seen = { c2s: new Map<DatagramKind, number>(), s2c: new Map<DatagramKind, number>() };
  const dtlsCount = { c2s: 0, s2c: 0 };
  let client!: DtlsTransport;
  let server!: DtlsTransport;
  const wire = (direction: 'c2s' | 's2c') => (datagram: Buffer) => {
    if (datagram[0]! < 20 || datagram[0]! > 63)
      throw new Error('the transport sent something that is not DTLS');
    const index = dtlsCount[direction]++;
    const target = () => (direction === 'c2s' ? server : client);
    const burst = [fakeStun(), ...(lose(direction, index) ? [] : [Buffer.from(datagram)]), fakeRtp()];
    for (const d of burst) {
      setImmediate(() => {
        const kind = classifyDatagram(d);
        seen[direction].set(kind, (seen[direction].get(kind) ?? 0) + 1);
        if (kind === 'dtls') target().handleDatagram(d);
      });
    }
  };
  client = new DtlsTransport({
    role: 'client',
    send: wire('c2s'),
    identity: { certificateChain: [clientCert.der], privateKey: clientCert.privateKey },
    fingerprints: [serverCert.fingerprint],
    srtpProfiles: ['SRTP_AEAD_AES_128_GCM', 'SRTP_AES128_CM_HMAC_SHA1_80'],
    ...clientOpts,
  });
  server = new DtlsTransport({
    role: 'server',
    send: wire('s2c'),
    cert: serverCert.cert,
    key: serverCert.key,
    fingerprints: clientCert.fingerprint,
    srtpProfiles: ['SRTP_AES128_CM_HMAC_SHA1_80', 'SRTP_AEAD_AES_128_GCM'],
    ...serverOpts,
  });
  return { client, server, seen, dtlsCount };
}

function outcome(t: DtlsTransport, ms = 10_000): Promise<{ info?: ConnectionInfo; error?: DtlsError }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no outcome within ${ms} ms (state ${t.state})`)), ms);
    t.once('connected', (info: ConnectionInfo) => {
      clearTimeout(timer);
      resolve({ info });
    });
    t.once('error', (error: DtlsError) => {
      clearTimeout(timer);
      resolve({ error });
    });
  });
}

function nextMessage(t: DtlsTransport): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no message')), 5000);
    t.once('message', (m: Buffer) => {
      clearTimeout(timer);
      resolve(m);
    });
  });
}

test('client and server connect over a demultiplexed in-memory transport with STUN and RTP around DTLS', async () => {
  // A small MTU splits the ClientHello and the certificate flight over several datagrams, as a
  // browser's ClientHello is split: the server endpoint must reassemble it.
  const { client, server, seen, dtlsCount } = pair({ mtu: 200 }, { mtu: 200 });
  const done = Promise.all([outcome(client), outcome(server)]);
  server.start();
  client.start();
  const [c, s] = await done;
  assert.ok(c.info && s.info, `client ${c.error?.code} server ${s.error?.code}`);
  assert.equal(client.state, 'connected');
  assert.equal(server.state, 'connected');
  assert.equal(c.info.cipherSuite, s.info.cipherSuite);
  // RFC 5764 §4.1.1: the server picks from the client's list by its own preference.
  assert.equal(s.info.srtpProfile, 'SRTP_AES128_CM_HMAC_SHA1_80');
  assert.equal(c.info.srtpProfile, 'SRTP_AES128_CM_HMAC_SHA1_80');
  assert.equal(c.info.peerCertificate?.fingerprint256, serverCert.certificate.fingerprint256);
  assert.equal(s.info.peerCertificate?.fingerprint256, clientCert.certificate.fingerprint256);
  assert.ok(dtlsCount.c2s >= 2, 'the ClientHello went out fragmented');

  const fromClient = nextMessage(server);
  client.send('hello from the client');
  assert.equal((await fromClient).toString(), 'hello from the client');
  const fromServer = nextMessage(client);
  server.send(Buffer.from('hello from the server'));
  assert.equal((await fromServer).toString(), 'hello from the server');

  assert.deepEqual(
    client.exportKeyingMaterial('EXPORTER-test', 32),
    server.exportKeyingMaterial('EXPORTER-test', 32),
  );
  const ck = client.getSrtpKeys();
  const sk = server.getSrtpKeys();
  assert.equal(ck.profile, 'SRTP_AES128_CM_HMAC_SHA1_80');
  assert.deepEqual(ck.clientWriteKey, sk.clientWriteKey);
  assert.deepEqual(ck.serverWriteSalt, sk.serverWriteSalt);
  assert.equal(ck.clientWriteKey.length, 16);
  assert.equal(ck.clientWriteSalt.length, 14);

  const closed = new Promise<void>((resolve) => server.once('close', () => resolve()));
  client.close();
  await closed;
  assert.equal(server.state, 'closed');
  assert.equal(client.state, 'closed');
  await new Promise((r) => setImmediate(r));
  // Every STUN and RTP packet was classified as such and none reached DTLS.
  for (const dir of ['c2s', 's2c'] as const) {
    assert.equal(seen[dir].get('stun'), dtlsCount[dir]);
    assert.equal(seen[dir].get('rtp'), dtlsCount[dir]);
    assert.equal(seen[dir].get('dtls'), dtlsCount[dir]);
  }
});

test('a lost flight is retransmitted by the transport timer', async () => {
  // Lose the server's first flight once: the client's timer (50 ms here) resends the ClientHello.
  const { client, server } = pair(
    { retransmit: { initialMs: 50 } },
    { retransmit: { initialMs: 50 } },
    (dir, i) => dir === 's2c' && i === 0,
  );
  const done = Promise.all([outcome(client), outcome(server)]);
  client.start();
  const [c, s] = await done;
  assert.ok(c.info && s.info);
  assert.ok((client.stats?.retransmissions ?? 0) >= 1);
  client.close();
});

test('a server pinning the wrong client fingerprint refuses it with bad_certificate', async () => {
  const { client, server } = pair({}, { fingerprints: [strangerCert.fingerprint] });
  const done = Promise.all([outcome(client), outcome(server)]);
  client.start();
  const [c, s] = await done;
  assert.equal(s.error?.code, 'bad_certificate');
  assert.equal(s.error?.alertSent, true);
  assert.equal(c.error?.code, 'bad_certificate');
  assert.equal(c.error?.alertReceived, true);
  assert.equal(server.state, 'failed');
  assert.throws(() => server.getSrtpKeys(), { code: 'not_connected' });
  assert.throws(() => server.send('x'), { code: 'not_connected' });
});

test('a client pinning the wrong server fingerprint refuses it with bad_certificate', async () => {
  const { client, server } = pair({ fingerprints: strangerCert.fingerprint }, {});
  const done = Promise.all([outcome(client), outcome(server)]);
  client.start();
  const [c, s] = await done;
  assert.equal(c.error?.code, 'bad_certificate');
  assert.equal(c.error?.alertSent, true);
  assert.equal(s.error?.code, 'bad_certificate');
  assert.equal(s.error?.alertReceived, true);
  assert.equal(client.state, 'failed');
  assert.throws(() => client.exportKeyingMaterial('EXTRACTOR-dtls_srtp', 60), { code: 'not_connected' });
});

test('options: the peer fingerprint and our certificate are required', () => {
  const identity = { certificateChain: [clientCert.der], privateKey: clientCert.privateKey };
  assert.throws(() => new DtlsTransport({ role: 'client', send: () => {}, identity, fingerprints: [] }), {
    code: 'invalid_argument',
  });
  assert.throws(
    () => new DtlsTransport({ role: 'server', send: () => {}, fingerprints: serverCert.fingerprint }),
    {
      code: 'invalid_argument',
    },
  );
  assert.throws(
    () => new DtlsTransport({ role: 'client', send: () => {}, identity, fingerprints: 'sha-256 zz' }),
    { code: 'invalid_argument' },
  );
});

test('non-DTLS bytes fed to a transport are dropped without harm', async () => {
  const { client, server } = pair({}, {});
  server.handleDatagram(fakeStun());
  server.handleDatagram(fakeRtp());
  server.handleDatagram(Buffer.from([0x16, 0xfe, 0xfd]));
  const done = Promise.all([outcome(client), outcome(server)]);
  client.start();
  const [c, s] = await done;
  assert.ok(c.info && s.info);
  client.close();
});
