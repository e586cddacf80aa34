/**
 * Session resumption against real peers (OpenSSL 3.0 and GnuTLS 3.7), both roles, through the Node API
 * and through the CLI (`node bin/tsdtls.js`): by session ID (RFC 5246 §7.4.1.2) with tickets off, and by
 * ticket (RFC 5077) with the session cache off. "Resumed" is read from the peer's own report
 * (`Reused, ...` from s_client, `*** This is a resumed session` from gnutls-cli, `Reused session-id`
 * from s_server) and from ours (isResumed(), the CLI's `established ... resumed` line).
 *
 * What was found to work (and is asserted): s_client -sess_out/-sess_in and gnutls-cli --resume resume
 * with our server by ID and by ticket; gnutls-cli with %NO_TICKETS against a server without a cache
 * cannot resume and falls back to a full handshake (its --noticket does not stop DTLS 1.2 tickets);
 * s_client with EMS turned off (an OpenSSL config) is refused an EMS session and gets a full handshake
 * for a non-EMS one offered with EMS (RFC 7627 §5.3); our client resumes with s_server (with and
 * without -no_ticket) and with gnutls-serv --udp (with and without --noticket).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type GeneratedCertificate, generateCertificate } from '../../src/cert/generate.js';
import { deserializeSession } from '../../src/engine/resumption.js';
import type { DtlsError } from '../../src/errors.js';
import { type ConnectOptions, connect } from '../../src/node/client.js';
import { createServer, type DtlsServer, type ServerOptions } from '../../src/node/server.js';
import type { DtlsSocket } from '../../src/node/socket.js';
import {
  cleanupPeers,
  type GnutlsServer,
  makeTempDir,
  type OpensslServer,
  PeerProcess,
  requireBinary,
  runGnutlsClient,
  runOpensslClient,
  startGnutlsServer,
  startOpensslServer,
  withTimeout,
} from './peers.js';

/** Every socket and server opened here, closed at the end even when a test failed half-way. */
const opened = new Set<{ close(): Promise<void> }>();

after(async () => {
  await Promise.allSettled([...opened].map((x) => withTimeout(x.close(), 2000, 'closing')));
  await cleanupPeers();
});

/** Our connect(), remembered for the final cleanup. */
async function open(options: ConnectOptions): Promise<DtlsSocket> {
  const socket = await connect({ handshakeTimeout: HANDSHAKE_MS, ...options });
  opened.add(socket);
  return socket;
}

const HANDSHAKE_MS = 5000;
/** The CLI entry point, from dist/test/interop/ back to the repository root. */
const TSDTLS_BIN = fileURLToPath(new URL('../../../bin/tsdtls.js', import.meta.url));

let ca: GeneratedCertificate;
let serverCert: GeneratedCertificate;

before(async () => {
  ca = await generateCertificate({ keyType: 'ecdsa-p256', commonName: 'resumption CA', isCA: true });
  serverCert = await generateCertificate({
    keyType: 'ecdsa-p256',
    commonName: 'localhost',
    subjectAltNames: ['localhost', '127.0.0.1'],
    issuer: ca,
  });
});

// -------------------------------------------------------------------------------------------------------
// Helpers

/** Our server on 127.0.0.1, echoing every datagram; records its connections. */
async function startOurServer(options: Partial<ServerOptions>): Promise<{
  server: DtlsServer;
  port: number;
  connections: DtlsSocket[];
  peerErrors: DtlsError[];
}> {
  const connections: DtlsSocket[] = [];
  const peerErrors: DtlsError[] = [];
  const server = createServer({ cert: serverCert.cert, key: serverCert.key, ...options }, (socket) => {
    connections.push(socket);
    opened.add(socket);
    socket.on('message', (m: Buffer) => socket.send(m));
    socket.on('error', () => {});
  });
  server.on('peerError', (e: DtlsError) => peerErrors.push(e));
  opened.add(server);
  const { port } = await server.listen(0, '127.0.0.1');
  return { server, port, connections, peerErrors };
}

/** What `openssl sess_id -text` says about a saved s_client session: its ID and whether it has a ticket. */
async function describeOpensslSession(path: string): Promise<{ sessionId: string; ticket: boolean }> {
  const p = new PeerProcess('openssl sess_id', requireBinary('openssl'), [
    'sess_id',
    '-in',
    path,
    '-noout',
    '-text',
  ]);
  assert.ok(await p.waitForExit(5000), p.describe());
  assert.equal(p.exitCode, 0, p.describe());
  return {
    sessionId: /^\s*Session-ID: ([0-9A-F]*)$/m.exec(p.stdout)?.[1] ?? '',
    ticket: /TLS session ticket lifetime hint/.test(p.stdout),
  };
}

/** Our client against s_server: connect, exchange one line (s_server answers via respond()), return. */
async function exchangeWithSServer(
  srv: OpensslServer,
  options: Omit<ConnectOptions, 'host' | 'port'>,
  line: string,
): Promise<DtlsSocket> {
  // The answer must not start with one of s_server's stdin command letters (see peers.ts).
  const replied = srv.respond(
    new RegExp(`^${line}$`, 'm'),
    `answer: ${line}\n`,
    HANDSHAKE_MS,
    srv.stdout.length,
  );
  const socket = await open({ host: '127.0.0.1', port: srv.port, ...options });
  const reply = withTimeout(
    new Promise<string>((resolve) => socket.once('message', (m: Buffer) => resolve(m.toString('utf8')))),
    HANDSHAKE_MS,
    'the reply from s_server',
  );
  socket.send(`${line}\n`);
  await replied;
  assert.equal(await reply, `answer: ${line}\n`);
  return socket;
}

/** Our client against gnutls-serv --echo: connect, one echoed datagram, close cleanly (it serves one at a time). */
async function exchangeWithGnutlsServ(
  srv: GnutlsServer,
  options: Omit<ConnectOptions, 'host' | 'port'>,
  line: string,
): Promise<{ resumed: boolean; socket: DtlsSocket }> {
  const socket = await open({ host: '127.0.0.1', port: srv.port, ...options });
  const echoed = withTimeout(
    new Promise<string>((resolve) => socket.once('message', (m: Buffer) => resolve(m.toString('utf8')))),
    HANDSHAKE_MS,
    'the echo from gnutls-serv',
  );
  socket.send(line);
  assert.equal(await echoed, line);
  const resumed = socket.isResumed();
  await socket.close();
  return { resumed, socket };
}

/** `node bin/tsdtls.js server ...`; resolves once it prints its port. */
async function startCliServer(args: readonly string[]): Promise<{ peer: PeerProcess; port: number }> {
  const peer = new PeerProcess('tsdtls server', process.execPath, [
    TSDTLS_BIN,
    'server',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--echo',
    ...args,
  ]);
  const { match } = await peer.waitFor(/^listening on 127\.0\.0\.1:(\d+)$/m, 10_000);
  return { peer, port: Number(match[1]) };
}

/** `node bin/tsdtls.js client ...` to completion (bounded); returns the finished process. */
async function runCliClient(args: readonly string[]): Promise<PeerProcess> {
  const peer = new PeerProcess('tsdtls client', process.execPath, [TSDTLS_BIN, 'client', ...args]);
  if (!(await peer.waitForExit(15_000))) {
    await peer.stop();
    assert.fail(`the CLI client did not finish\n${peer.describe()}`);
  }
  return peer;
}

const MODES = [
  { name: 'by session ID (tickets off)', server: { tickets: false } as const, ticket: false },
  { name: 'by ticket (session cache off)', server: { sessionCache: false } as const, ticket: true },
];

// -------------------------------------------------------------------------------------------------------
// OpenSSL

describe('openssl s_client -sess_out / -sess_in -> tsdtls server', () => {
  for (const mode of MODES) {
    test(`Node API server, ${mode.name}`, async () => {
      const ours = await startOurServer(mode.server);
      const dir = makeTempDir();
      const sess = join(dir.path, 'session.pem');
      try {
        const first = await runOpensslClient({
          port: ours.port,
          sessOut: sess,
          send: 'first',
          expect: /^first$/m,
        });
        assert.ok(first.report.handshakeComplete, first.stderr);
        assert.equal(first.report.resumed, false);
        assert.equal(first.report.extendedMasterSecret, true);
        const saved = await describeOpensslSession(sess);
        assert.equal(saved.ticket, mode.ticket, 'the session s_client saved has a ticket iff tickets are on');
        if (!mode.ticket) assert.equal(saved.sessionId.length, 64, 'a 32-byte session ID from our cache');
        const second = await runOpensslClient({
          port: ours.port,
          sessIn: sess,
          send: 'second',
          expect: /^second$/m,
        });
        assert.ok(second.report.handshakeComplete, second.stderr);
        assert.equal(second.report.resumed, true, `s_client did not reuse the session\n${second.stdout}`);
        assert.equal(second.report.cipher, first.report.cipher);
        assert.equal(ours.connections.length, 2);
        assert.equal(ours.connections[0]!.isResumed(), false);
        assert.equal(ours.connections[1]!.isResumed(), true);
      } finally {
        dir.remove();
        await ours.server.close();
      }
    });

    test(`CLI server (node bin/tsdtls.js server), ${mode.name}`, async () => {
      const flag = mode.ticket ? '--no-session-cache' : '--no-tickets';
      const { peer, port } = await startCliServer([flag]);
      const dir = makeTempDir();
      const sess = join(dir.path, 'session.pem');
      try {
        const first = await runOpensslClient({ port, sessOut: sess, send: 'first', expect: /^first$/m });
        assert.ok(first.report.handshakeComplete && !first.report.resumed, first.stdout);
        const firstLine = await peer.waitFor(/^established .*$/m, HANDSHAKE_MS, { stream: 'stderr' });
        assert.doesNotMatch(firstLine.match[0], /resumed/);
        assert.equal((await describeOpensslSession(sess)).ticket, mode.ticket);
        const second = await runOpensslClient({ port, sessIn: sess, send: 'second', expect: /^second$/m });
        assert.equal(second.report.resumed, true, second.stdout);
        const secondLine = await peer.waitFor(/^established .*$/m, HANDSHAKE_MS, {
          stream: 'stderr',
          from: firstLine.end,
        });
        assert.match(secondLine.match[0], /, resumed\)$/);
      } finally {
        dir.remove();
        await peer.stop();
      }
    });
  }

  test('a session from another server instance is not resumed: full handshake, transparently', async () => {
    const a = await startOurServer({});
    const b = await startOurServer({});
    const dir = makeTempDir();
    const sess = join(dir.path, 'session.pem');
    try {
      await runOpensslClient({ port: a.port, sessOut: sess });
      const second = await runOpensslClient({
        port: b.port,
        sessIn: sess,
        send: 'again',
        expect: /^again$/m,
      });
      assert.ok(second.report.handshakeComplete, second.stderr);
      assert.equal(second.report.resumed, false);
      assert.equal(b.connections[0]?.isResumed(), false);
    } finally {
      dir.remove();
      await a.server.close();
      await b.server.close();
    }
  });
});

/**
 * OpenSSL 3.0's s_client has no -no_ems; SSL_CONF `Options = -ExtendedMasterSecret` in the system default
 * section of a config named by OPENSSL_CONF turns the extension off (checked: s_client then prints
 * `Extended master secret: no`).
 */
const NO_EMS_CONFIG = `openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_sect
[ssl_sect]
system_default = system_default_sect
[system_default_sect]
Options = -ExtendedMasterSecret
`;

/** Runs `start` with OPENSSL_CONF set (the peer is spawned synchronously inside it), then restores it. */
function withOpensslConf<T>(path: string | undefined, start: () => T): T {
  const previous = process.env.OPENSSL_CONF;
  if (path === undefined) return start();
  process.env.OPENSSL_CONF = path;
  try {
    return start();
  } finally {
    if (previous === undefined) delete process.env.OPENSSL_CONF;
    else process.env.OPENSSL_CONF = previous;
  }
}

describe('RFC 7627 §5.3 with s_client: extended master secret across resumption', () => {
  test('an EMS session offered without EMS: our server aborts with handshake_failure', async () => {
    const ours = await startOurServer({});
    const dir = makeTempDir();
    const sess = join(dir.path, 'session.pem');
    const noEms = dir.file('no-ems.cnf', NO_EMS_CONFIG);
    try {
      const first = await runOpensslClient({ port: ours.port, sessOut: sess });
      assert.equal(first.report.extendedMasterSecret, true);
      const second = await withOpensslConf(noEms, () => runOpensslClient({ port: ours.port, sessIn: sess }));
      assert.equal(second.report.handshakeComplete, false, second.stdout);
      assert.equal(second.report.alertReceived, 'handshake failure', second.stderr);
      assert.equal(ours.peerErrors[0]?.code, 'handshake_failure');
      assert.match(ours.peerErrors[0]!.message, /extended.master.secret/);
      assert.equal(ours.connections.length, 1);
    } finally {
      dir.remove();
      await ours.server.close();
    }
  });

  test('a session made without EMS, offered with EMS: full handshake with EMS', async () => {
    const ours = await startOurServer({});
    const dir = makeTempDir();
    const sess = join(dir.path, 'session.pem');
    const noEms = dir.file('no-ems.cnf', NO_EMS_CONFIG);
    try {
      const first = await withOpensslConf(noEms, () => runOpensslClient({ port: ours.port, sessOut: sess }));
      assert.ok(first.report.handshakeComplete, first.stderr);
      assert.equal(first.report.extendedMasterSecret, false, 'the config did not turn EMS off');
      assert.equal(ours.connections[0]?.info?.extendedMasterSecret, false);
      const second = await runOpensslClient({ port: ours.port, sessIn: sess, send: 'ems', expect: /^ems$/m });
      assert.ok(second.report.handshakeComplete, second.stderr);
      assert.equal(second.report.resumed, false);
      assert.equal(second.report.extendedMasterSecret, true);
      assert.equal(ours.connections[1]?.isResumed(), false);
      assert.equal(ours.connections[1]?.info?.extendedMasterSecret, true);
    } finally {
      dir.remove();
      await ours.server.close();
    }
  });
});

describe('tsdtls client -> openssl s_server', () => {
  for (const noTicket of [true, false]) {
    const mode = noTicket ? 'by session ID (s_server -no_ticket)' : 'by ticket (s_server default)';

    test(`Node API connect({ session }), ${mode}`, async () => {
      const srv = await startOpensslServer({ cert: serverCert.cert, key: serverCert.key, noTicket });
      const first = await exchangeWithSServer(srv, { ca: ca.cert }, 'first from tsdtls');
      assert.equal(first.isResumed(), false);
      const session = first.getSession();
      assert.ok(session, 'no session after the full handshake');
      assert.equal(session.ticket !== undefined, !noTicket, 'a ticket iff s_server issues them');
      if (noTicket) assert.equal(session.sessionId.length, 32);
      const firstCert = first.getPeerCertificate()?.raw;
      const firstKeys = first.exportKeyingMaterial('EXPERIMENTAL-resumption', 32);
      await first.close();
      const mark = srv.stdout.length;
      const second = await exchangeWithSServer(srv, { ca: ca.cert, session }, 'second from tsdtls');
      assert.equal(second.isResumed(), true, `not resumed\n${srv.describe()}`);
      await srv.waitFor(/^Reused session-id$/m, HANDSHAKE_MS, { from: mark });
      assert.deepEqual(second.getPeerCertificate()?.raw, firstCert, 'same server certificate reported');
      assert.notDeepEqual(second.exportKeyingMaterial('EXPERIMENTAL-resumption', 32), firstKeys);
      assert.equal(second.getCipher()?.name, 'ECDHE-ECDSA-AES128-GCM-SHA256');
      await second.close();
    });

    test(`CLI client --sess-out / --sess-in, ${mode}`, async () => {
      const srv = await startOpensslServer({ cert: serverCert.cert, key: serverCert.key, noTicket });
      const dir = makeTempDir();
      const sess = join(dir.path, 'session.json');
      try {
        const common = [
          '--host',
          '127.0.0.1',
          '--port',
          String(srv.port),
          '--ca',
          dir.file('ca.pem', ca.cert),
        ];
        const r1 = srv.respond(/^one$/m, 'answer one\n', HANDSHAKE_MS, srv.stdout.length);
        const c1 = await runCliClient([...common, '--sess-out', sess, '--send', 'one', '--timeout', '10000']);
        await r1;
        assert.equal(c1.exitCode, 0, c1.describe());
        assert.match(c1.stdout, /^answer one$/m);
        assert.match(c1.stderr, /^established DTLSv1\.2 /m);
        assert.doesNotMatch(c1.stderr, /resumed/);
        const saved = deserializeSession(readFileSync(sess, 'utf8'));
        assert.equal(saved.ticket !== undefined, !noTicket);
        const mark = srv.stdout.length;
        const r2 = srv.respond(/^two$/m, 'answer two\n', HANDSHAKE_MS, mark);
        const c2 = await runCliClient([...common, '--sess-in', sess, '--send', 'two', '--timeout', '10000']);
        await r2;
        assert.equal(c2.exitCode, 0, c2.describe());
        assert.match(c2.stdout, /^answer two$/m);
        assert.match(c2.stderr, /^established DTLSv1\.2 .*, resumed\)$/m);
        await srv.waitFor(/^Reused session-id$/m, HANDSHAKE_MS, { from: mark });
      } finally {
        dir.remove();
        await srv.stop();
      }
    });
  }
});

// -------------------------------------------------------------------------------------------------------
// GnuTLS

describe('gnutls-cli --udp --resume -> tsdtls server', () => {
  for (const mode of MODES) {
    test(`${mode.name}`, async () => {
      const ours = await startOurServer(mode.server);
      try {
        const run = await runGnutlsClient({ port: ours.port, resume: true, send: 'ping', expect: /^ping$/m });
        assert.ok(run.report.handshakeComplete, run.stdout);
        assert.equal(run.report.resumed, true, `gnutls-cli did not resume\n${run.stdout}`);
        assert.equal(ours.connections.length, 2);
        assert.equal(ours.connections[0]!.isResumed(), false);
        assert.equal(ours.connections[1]!.isResumed(), true);
      } finally {
        await ours.server.close();
      }
    });
  }

  test('gnutls-cli with %NO_TICKETS against a server without a session cache: full handshake again', async () => {
    // gnutls-cli 3.7.9 --noticket still sends an empty SessionTicket extension in DTLS 1.2 (the flag
    // only stops TLS 1.3 tickets), and resumes by ticket; the priority keyword %NO_TICKETS removes it.
    const ours = await startOurServer({ sessionCache: false });
    try {
      const run = await runGnutlsClient({
        port: ours.port,
        resume: true,
        priority: 'NORMAL:%NO_TICKETS',
        send: 'ping',
        expect: /^ping$/m,
      });
      assert.ok(run.report.handshakeComplete, run.stdout);
      assert.equal(run.report.resumed, false, 'no mechanism in common, yet resumed');
      assert.equal(ours.connections.length, 2);
      assert.deepEqual(
        ours.connections.map((c) => c.isResumed()),
        [false, false],
      );
    } finally {
      await ours.server.close();
    }
  });

  test('gnutls-cli with %NO_TICKETS resumes by session ID from our cache', async () => {
    const ours = await startOurServer({});
    try {
      const run = await runGnutlsClient({ port: ours.port, resume: true, priority: 'NORMAL:%NO_TICKETS' });
      assert.equal(run.report.resumed, true, run.stdout);
      assert.equal(ours.connections[1]?.isResumed(), true);
    } finally {
      await ours.server.close();
    }
  });
});

describe('tsdtls client -> gnutls-serv --udp', () => {
  for (const noTicket of [false, true]) {
    test(noTicket ? 'by session ID (--noticket)' : 'default (tickets)', async () => {
      const srv = await startGnutlsServer({
        cert: serverCert.cert,
        key: serverCert.key,
        clientAuth: 'none',
        extraArgs: noTicket ? ['--noticket'] : [],
      });
      try {
        const first = await exchangeWithGnutlsServ(srv, { ca: ca.cert }, 'first');
        assert.equal(first.resumed, false);
        const session = first.socket.getSession();
        assert.ok(session);
        assert.equal(session.ticket !== undefined, !noTicket, 'a ticket iff gnutls-serv issues them');
        const second = await exchangeWithGnutlsServ(srv, { ca: ca.cert, session }, 'second');
        assert.equal(second.resumed, true, `not resumed\n${srv.describe()}`);
        assert.deepEqual(
          second.socket.getPeerCertificate()?.raw,
          first.socket.getPeerCertificate()?.raw,
          'same server certificate reported',
        );
      } finally {
        await srv.stop();
      }
    });
  }
});
