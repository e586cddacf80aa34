/**
 * DTLS-SRTP (RFC 5764), the RFC 5705 exporter and ALPN (RFC 7301) against OpenSSL 3.0, both roles, through
 * the Node API: the negotiated profile and the exported keying material must be byte for byte what
 * `s_server`/`s_client -use_srtp … -keymatexport LABEL -keymatexportlen N` print.
 *
 * s_client/s_server have no exporter context option (apps/s_client.c passes use_context = 0), so an export
 * WITH a context is checked another way: the master secret and client random from s_client's own
 * -keylogfile, the server random from the ServerHello seen by a UDP relay, and OpenSSL's TLS1-PRF
 * (`openssl kdf`) computing RFC 5705 §4's PRF(master_secret, label, client_random + server_random +
 * context_length + context). The same computation without a context must equal s_client's -keymatexport
 * output, which shows the method is sound.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { type GeneratedCertificate, generateCertificate } from '../../src/cert/generate.js';
import type { DtlsError } from '../../src/errors.js';
import type { SrtpKeys } from '../../src/handshake/srtp.js';
import { type ConnectOptions, connect } from '../../src/node/client.js';
import { createServer, type DtlsServer, type ServerOptions } from '../../src/node/server.js';
import type { DtlsSocket } from '../../src/node/socket.js';
import { ContentType, HandshakeType } from '../../src/wire/constants.js';
import { Reader } from '../../src/wire/reader.js';
import { closeOurs, HANDSHAKE_MS, trackServer, trackSocket } from './ours.js';
import {
  makeTempDir,
  type OpensslServer,
  type RelayedDatagram,
  requireBinary,
  runOpensslClient,
  startOpensslServer,
  startUdpRelay,
  withTimeout,
} from './peers.js';

after(closeOurs);

const SRTP_LABEL = 'EXTRACTOR-dtls_srtp';

let ca: GeneratedCertificate;
let server: GeneratedCertificate;

before(async () => {
  ca = await generateCertificate({ keyType: 'ecdsa-p256', commonName: 'tsdtls SRTP-test CA', isCA: true });
  server = await generateCertificate({
    keyType: 'ecdsa-p256',
    commonName: 'localhost',
    subjectAltNames: ['localhost', '127.0.0.1'],
    issuer: ca,
  });
});

async function connectTracked(
  options: Omit<ConnectOptions, 'host' | 'ca' | 'serverName'>,
): Promise<DtlsSocket> {
  const socket = await connect({
    host: '127.0.0.1',
    ca: ca.cert,
    serverName: 'localhost',
    handshakeTimeout: HANDSHAKE_MS,
    ...options,
  });
  trackSocket(socket);
  return socket;
}

/** An exporter request: label, length, optional context. */
type ExportRequest = [label: string, length: number, context?: Buffer];

function exportKey(label: string, length: number, context?: Buffer): string {
  return `${label}/${length}/${context === undefined ? '-' : context.toString('hex')}`;
}

/**
 * What our server read off a connection the moment it was established: the peer closes right after the
 * exchange, and a closed socket refuses to export (code not_connected).
 */
interface Established {
  socket: DtlsSocket;
  srtpKeys?: SrtpKeys;
  /** Hex, by exportKey(label, length, context). */
  exports: Map<string, string>;
}

/** Our server on 127.0.0.1:free port, echoing; exports `requests` on each connection once established. */
async function startOurServer(
  options: Omit<ServerOptions, 'cert' | 'key'>,
  requests: readonly ExportRequest[] = [],
): Promise<{ server: DtlsServer; port: number; connections: Established[]; peerErrors: DtlsError[] }> {
  const connections: Established[] = [];
  const peerErrors: DtlsError[] = [];
  const dtls = createServer({ cert: server.cert, key: server.key, ...options }, (socket) => {
    const exports = new Map<string, string>();
    for (const [label, length, context] of requests) {
      const material = socket.exportKeyingMaterial(label, length, context);
      exports.set(exportKey(label, length, context), material.toString('hex'));
    }
    connections.push({
      socket,
      exports,
      srtpKeys: socket.info?.srtpProfile ? socket.getSrtpKeys() : undefined,
    });
    socket.on('message', (m: Buffer) => socket.send(m));
    socket.on('error', () => {});
  });
  dtls.on('peerError', (e: DtlsError) => peerErrors.push(e));
  trackServer(dtls);
  const { port } = await dtls.listen(0, '127.0.0.1');
  return { server: dtls, port, connections, peerErrors };
}

/** Our client exchanges one line with s_server (which answers through its stdin). */
async function exchangeWith(srv: OpensslServer, socket: DtlsSocket): Promise<void> {
  const replied = srv.respond(/^srtp hello$/m, 'srtp world\n');
  const reply = withTimeout(
    new Promise<string>((resolve) => socket.once('message', (m: Buffer) => resolve(m.toString('utf8')))),
    HANDSHAKE_MS,
    'the reply from s_server',
  );
  socket.send('srtp hello\n');
  await replied;
  assert.equal(await reply, 'srtp world\n');
}

/**
 * The profiles OpenSSL supports, with their OpenSSL names and the key/salt lengths of RFC 5764 §4.1.2 and
 * RFC 7714 §14.2, written out here rather than read from our profile table.
 */
const PROFILES = [
  { ours: 'SRTP_AES128_CM_HMAC_SHA1_80', openssl: 'SRTP_AES128_CM_SHA1_80', key: 16, salt: 14 },
  { ours: 'SRTP_AES128_CM_HMAC_SHA1_32', openssl: 'SRTP_AES128_CM_SHA1_32', key: 16, salt: 14 },
  { ours: 'SRTP_AEAD_AES_128_GCM', openssl: 'SRTP_AEAD_AES_128_GCM', key: 16, salt: 12 },
  { ours: 'SRTP_AEAD_AES_256_GCM', openssl: 'SRTP_AEAD_AES_256_GCM', key: 32, salt: 12 },
];

/** RFC 5764 §4.2: client_write_key | server_write_key | client_write_salt | server_write_salt. */
function assertSrtpSplit(keys: SrtpKeys, profile: (typeof PROFILES)[number], materialHex: string): void {
  const material = Buffer.from(materialHex, 'hex');
  assert.equal(material.length, 2 * (profile.key + profile.salt));
  assert.equal(keys.profile, profile.ours);
  const k = profile.key;
  const s = profile.salt;
  assert.equal(keys.clientWriteKey.toString('hex'), material.subarray(0, k).toString('hex'));
  assert.equal(keys.serverWriteKey.toString('hex'), material.subarray(k, 2 * k).toString('hex'));
  assert.equal(keys.clientWriteSalt.toString('hex'), material.subarray(2 * k, 2 * k + s).toString('hex'));
  assert.equal(keys.serverWriteSalt.toString('hex'), material.subarray(2 * k + s).toString('hex'));
}

describe('DTLS-SRTP profiles and EXTRACTOR-dtls_srtp against OpenSSL', { concurrency: 8 }, () => {
  for (const profile of PROFILES) {
    // RFC 5764 §4.2: the exporter yields 2 * (key + salt) bytes for the profile (60, 60, 56, 88).
    const length = 2 * (profile.key + profile.salt);

    test(`tsdtls client -> s_server: ${profile.ours}`, async () => {
      const srv = await startOpensslServer({
        cert: server.cert,
        key: server.key,
        srtp: profile.openssl,
        keyMaterial: { label: SRTP_LABEL, length },
      });
      const socket = await connectTracked({ port: srv.port, srtpProfiles: [profile.ours] });
      await exchangeWith(srv, socket);
      assert.equal(socket.info?.srtpProfile, profile.ours);
      const ours = socket.exportKeyingMaterial(SRTP_LABEL, length).toString('hex');
      const report = srv.report();
      assert.equal(report.srtpProfile, profile.openssl);
      assert.equal(report.keyingMaterial, ours);
      assertSrtpSplit(socket.getSrtpKeys(), profile, report.keyingMaterial!);
      await socket.close();
      await srv.stop();
    });

    test(`s_client -> tsdtls server: ${profile.ours}`, async () => {
      const ours = await startOurServer({ srtpProfiles: [profile.ours] }, [[SRTP_LABEL, length]]);
      try {
        const run = await runOpensslClient({
          port: ours.port,
          caFile: ca.cert,
          srtp: profile.openssl,
          keyMaterial: { label: SRTP_LABEL, length },
          send: 'srtp',
          expect: /^srtp$/m,
        });
        assert.equal(run.report.handshakeComplete, true, run.stderr);
        assert.equal(run.report.srtpProfile, profile.openssl);
        const established = ours.connections[0]!;
        assert.equal(established.socket.info?.srtpProfile, profile.ours);
        assert.equal(run.report.keyingMaterial, established.exports.get(exportKey(SRTP_LABEL, length)));
        assertSrtpSplit(established.srtpKeys!, profile, run.report.keyingMaterial!);
      } finally {
        await ours.server.close();
      }
    });
  }

  test('several profiles offered: both ends agree on the server choice and on the keys', async () => {
    // Our server prefers AES-256-GCM; s_client offers three, the CM one first.
    const ours = await startOurServer(
      { srtpProfiles: ['SRTP_AEAD_AES_256_GCM', 'SRTP_AES128_CM_HMAC_SHA1_80'] },
      [[SRTP_LABEL, 88]],
    );
    try {
      const run = await runOpensslClient({
        port: ours.port,
        caFile: ca.cert,
        srtp: 'SRTP_AES128_CM_SHA1_80:SRTP_AEAD_AES_128_GCM:SRTP_AEAD_AES_256_GCM',
        keyMaterial: { label: SRTP_LABEL, length: 88 },
        send: 'choice',
        expect: /^choice$/m,
      });
      const established = ours.connections[0]!;
      assert.ok(['SRTP_AES128_CM_SHA1_80', 'SRTP_AEAD_AES_256_GCM'].includes(run.report.srtpProfile ?? ''));
      const profile = PROFILES.find((p) => p.openssl === run.report.srtpProfile)!;
      assert.equal(established.socket.info?.srtpProfile, profile.ours);
      assert.equal(run.report.keyingMaterial, established.exports.get(exportKey(SRTP_LABEL, 88)));
    } finally {
      await ours.server.close();
    }
  });

  test('an arbitrary exporter label without context, both roles', async () => {
    const label = 'EXPERIMENTAL-tsdtls-interop';
    const srv = await startOpensslServer({
      cert: server.cert,
      key: server.key,
      keyMaterial: { label, length: 48 },
    });
    const socket = await connectTracked({ port: srv.port });
    await exchangeWith(srv, socket);
    assert.equal(srv.report().keyingMaterial, socket.exportKeyingMaterial(label, 48).toString('hex'));
    assert.equal(socket.info?.srtpProfile, undefined);
    await socket.close();
    await srv.stop();

    const ours = await startOurServer({}, [[label, 33]]);
    try {
      const run = await runOpensslClient({
        port: ours.port,
        caFile: ca.cert,
        keyMaterial: { label, length: 33 },
        send: 'label',
        expect: /^label$/m,
      });
      assert.match(run.report.keyingMaterial ?? '', /^[0-9a-f]{66}$/);
      assert.equal(run.report.keyingMaterial, ours.connections[0]!.exports.get(exportKey(label, 33)));
    } finally {
      await ours.server.close();
    }
  });
});

// -------------------------------------------------------------------------------------------------------
// Exporter with a context, against OpenSSL's TLS1-PRF fed from s_client's key log

/** The ServerHello random (RFC 5246 §7.4.1.3) from the relayed server datagrams. */
function serverRandom(datagrams: readonly RelayedDatagram[]): Buffer {
  for (const d of datagrams.filter((x) => x.direction === 'to-client')) {
    const reader = new Reader(d.data);
    while (!reader.atEnd()) {
      const type = reader.u8('type');
      reader.u16('version');
      const epoch = reader.u16('epoch');
      reader.u48('sequence');
      const body = reader.sub(reader.u16('length'), 'record');
      if (type !== ContentType.handshake || epoch !== 0) continue;
      if (body.u8('msg_type') !== HandshakeType.server_hello) continue;
      body.bytes(3 + 2 + 3 + 3, 'rest of the handshake header');
      body.u16('server_version');
      return Buffer.from(body.bytes(32, 'random'));
    }
  }
  throw new Error('no ServerHello in the relayed datagrams');
}

/** OpenSSL's TLS 1.2 PRF (P_SHA256): `openssl kdf TLS1-PRF`, label included in the seed. */
function opensslPrf(secret: Buffer, seed: Buffer, length: number): string {
  const r = spawnSync(
    requireBinary('openssl'),
    [
      'kdf',
      '-keylen',
      String(length),
      '-kdfopt',
      'digest:SHA256',
      '-kdfopt',
      `hexsecret:${secret.toString('hex')}`,
      '-kdfopt',
      `hexseed:${seed.toString('hex')}`,
      'TLS1-PRF',
    ],
    { encoding: 'utf8', timeout: 10_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().replaceAll(':', '').toLowerCase();
}

test('exporter with a context equals OpenSSL TLS1-PRF over s_client key log (RFC 5705 §4)', async () => {
  const dir = makeTempDir();
  const keylog = dir.file('keylog.txt', '');
  const label = 'EXPERIMENTAL-tsdtls-context';
  const contexts = [Buffer.from('00ff10203040', 'hex'), Buffer.alloc(0)];
  const ours = await startOurServer({ cipherSuites: ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'] }, [
    [label, 40],
    ...contexts.map((context): ExportRequest => [label, 40, context]),
  ]);
  const relay = await startUdpRelay(ours.port);
  try {
    const run = await runOpensslClient({
      port: relay.port,
      caFile: ca.cert,
      keyMaterial: { label, length: 40 },
      extraArgs: ['-keylogfile', keylog],
      send: 'context',
      expect: /^context$/m,
    });
    assert.equal(run.report.cipher, 'ECDHE-ECDSA-AES128-GCM-SHA256');
    const line = /^CLIENT_RANDOM ([0-9a-f]{64}) ([0-9a-f]{96})$/im.exec(readFileSync(keylog, 'utf8'));
    assert.ok(line, 's_client logged its master secret');
    const clientRandom = Buffer.from(line[1]!, 'hex');
    const masterSecret = Buffer.from(line[2]!, 'hex');
    const randoms = Buffer.concat([clientRandom, serverRandom(relay.datagrams)]);
    const { exports } = ours.connections[0]!;
    const labelBytes = Buffer.from(label, 'ascii');

    // Without context: the method reproduces what s_client itself exported.
    const noContext = opensslPrf(masterSecret, Buffer.concat([labelBytes, randoms]), 40);
    assert.equal(noContext, run.report.keyingMaterial);
    assert.equal(exports.get(exportKey(label, 40)), noContext);

    // With a context: seed = label + randoms + uint16 context length + context.
    for (const context of contexts) {
      const length = Buffer.from([context.length >> 8, context.length & 0xff]);
      const expected = opensslPrf(masterSecret, Buffer.concat([labelBytes, randoms, length, context]), 40);
      assert.equal(exports.get(exportKey(label, 40, context)), expected);
      assert.notEqual(expected, noContext, 'an empty context differs from no context (RFC 5705 §4)');
    }
  } finally {
    await relay.close();
    await ours.server.close();
  }
});

// -------------------------------------------------------------------------------------------------------
// ALPN

describe('ALPN against OpenSSL', { concurrency: 2 }, () => {
  test('tsdtls client -> s_server -alpn', async () => {
    const srv = await startOpensslServer({ cert: server.cert, key: server.key, alpn: 'coap,webrtc' });
    const socket = await connectTracked({ port: srv.port, alpn: ['webrtc', 'c-webrtc'] });
    await exchangeWith(srv, socket);
    assert.equal(socket.info?.alpnProtocol, 'webrtc');
    assert.equal(socket.alpnProtocol, 'webrtc');
    assert.equal(srv.report().alpn, 'webrtc');
    await socket.close();
    await srv.stop();
  });

  test('s_client -alpn -> tsdtls server', async () => {
    const ours = await startOurServer({ alpn: ['c-webrtc', 'webrtc'] });
    try {
      const run = await runOpensslClient({
        port: ours.port,
        caFile: ca.cert,
        alpn: 'webrtc,c-webrtc',
        send: 'alpn',
        expect: /^alpn$/m,
      });
      assert.equal(run.report.handshakeComplete, true, run.stderr);
      // RFC 7301 §3.2: the server picks by its own preference among what the client offered.
      assert.equal(run.report.alpn, 'c-webrtc');
      assert.equal(ours.connections[0]?.socket.info?.alpnProtocol, 'c-webrtc');
    } finally {
      await ours.server.close();
    }
  });
});
