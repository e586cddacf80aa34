import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { generateCertificate } from '../../src/cert/generate.js';
import { seededRandom } from '../../src/crypto/random.js';
import { DtlsConnection } from '../../src/engine/connection.js';
import { DtlsServerEndpoint } from '../../src/engine/server-endpoint.js';

// Hygiene (RFC 6347 §4.2.4, and the process's own): a peer that vanishes mid-handshake is cleaned up
// after the timeout; closing sockets and servers leaves no timer or handle, so a process can exit by
// itself; two server processes sharing ticket and cookie secrets accept one another's sessions.

const children = new Set<ChildProcess>();
const dirs: string[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const INDEX = new URL('../../src/index.js', import.meta.url).href;

/** Run a script in a fresh node; resolve with its exit code and output, or reject if it does not exit alone. */
function runAlone(script: string, ms: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
    });
    child.stderr!.on('data', (d) => {
      out += d;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`the process did not exit by itself within ${ms} ms (a timer or handle was left):\n${out}`),
      );
    }, ms);
    child.on('exit', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, out });
    });
  });
}

test('after close() on socket and server, the process exits by itself (no timer, handle or peer left)', async () => {
  const script = `
    import { connect, createServer, generateCertificate } from ${JSON.stringify(INDEX)};
    const cert = await generateCertificate();
    const server = createServer({ cert: cert.cert, key: cert.key }, (s) => s.on('message', (m) => s.send(m)));
    const { port } = await server.listen(0, '127.0.0.1');
    const socket = await connect({ host: '127.0.0.1', port, fingerprint: cert.fingerprint });
    const echoed = new Promise((resolve) => socket.once('message', resolve));
    socket.send('ping');
    console.log('echo', String(await echoed));
    await socket.close();
    await server.close();
    console.log('peers', server.peerCount);
  `;
  const r = await runAlone(script, 15_000);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /echo ping/);
  assert.match(r.out, /peers 0/);
});

test('a client whose server never answers fails with timeout and the process exits by itself', async () => {
  const script = `
    import dgram from 'node:dgram';
    import { connect } from ${JSON.stringify(INDEX)};
    const silent = dgram.createSocket('udp4');
    await new Promise((r) => silent.bind(0, '127.0.0.1', r));
    const port = silent.address().port;
    try {
      await connect({ host: '127.0.0.1', port, insecure: true, handshakeTimeout: 1500, initialRetransmitTimeout: 200 });
    } catch (e) {
      console.log('code', e.code);
    }
    silent.close();
  `;
  const r = await runAlone(script, 10_000);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /code timeout/);
});

test('a client whose local port is taken fails with socket_error and the process exits by itself', async () => {
  const script = `
    import dgram from 'node:dgram';
    import { connect } from ${JSON.stringify(INDEX)};
    const holder = dgram.createSocket('udp4');
    await new Promise((r) => holder.bind(0, '127.0.0.1', r));
    const localPort = holder.address().port;
    try {
      await connect({ host: '127.0.0.1', port: 9, localAddress: '127.0.0.1', localPort, insecure: true });
      console.log('connected');
    } catch (e) {
      console.log('code', e.code, e.cause?.code);
    }
    holder.close();
  `;
  const r = await runAlone(script, 10_000);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /code socket_error EADDRINUSE/);
});

test('a client whose server process died keeps sending without an uncaught error, then closes', async () => {
  // The server runs in a child that is killed after the handshake: the kernel then answers our
  // datagrams with ICMP port unreachable, which a connected UDP socket reports as ECONNREFUSED on a
  // later send or receive. UDP is lossy by contract, so that is no error of the association; an
  // application with no 'error' listener must not be brought down by it.
  const script = `
    import { spawn } from 'node:child_process';
    import { once } from 'node:events';
    import { connect } from ${JSON.stringify(INDEX)};
    const serverScript = \`
      import { createServer, generateCertificate } from ${JSON.stringify(INDEX)};
      const cert = await generateCertificate();
      const server = createServer({ cert: cert.cert, key: cert.key });
      const { port } = await server.listen(0, '127.0.0.1');
      console.log(port, cert.fingerprint);
    \`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', serverScript], { stdio: ['ignore', 'pipe', 'ignore'] });
    const exited = once(child, 'exit');
    try {
      const [line] = await once(child.stdout, 'data');
      // "<port> sha-256 AB:CD:…"
      const text = String(line).trim();
      const at = text.indexOf(' ');
      const socket = await connect({ host: '127.0.0.1', port: Number(text.slice(0, at)), fingerprint: text.slice(at + 1) });
      child.kill('SIGKILL');
      await exited;
      for (let i = 0; i < 20; i++) {
        socket.send('still there?');
        await new Promise((r) => setTimeout(r, 10));
      }
      await socket.close();
      console.log('closed', socket.closed);
    } finally {
      child.kill('SIGKILL');
    }
  `;
  const r = await runAlone(script, 20_000);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /closed true/);
});

test('a client refused for a bad option opens no socket: the process exits by itself', async () => {
  const script = `
    import { connect } from ${JSON.stringify(INDEX)};
    try {
      await connect({ host: '127.0.0.1', port: 9, insecure: true, mtu: 10 });
      console.log('connected');
    } catch (e) {
      console.log('code', e.code);
    }
  `;
  const r = await runAlone(script, 10_000);
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /code invalid_argument/);
});

test('a peer that vanishes mid-handshake is forgotten after the handshake timeout', async () => {
  const cert = await generateCertificate();
  const endpoint = new DtlsServerEndpoint({
    identity: { certificateChain: [cert.der], privateKey: cert.privateKey },
    handshakeTimeoutMs: 10_000,
    cookies: false,
    random: seededRandom('vanish/s'),
  });
  const client = DtlsConnection.client(
    { fingerprints: [cert.fingerprint], random: seededRandom('vanish/c') },
    0,
  );
  const peer = { address: '127.0.0.1', port: 40001 };
  for (let d = client.pollTransmit(); d; d = client.pollTransmit()) endpoint.handleDatagram(d, peer, 0);
  assert.equal(endpoint.peerCount, 1, 'the server holds state once the handshake started');
  // The client is gone. The server retransmits its flight on its timer, then gives up.
  let now = 0;
  let removed: string | undefined;
  for (let i = 0; i < 100 && endpoint.peerCount > 0; i++) {
    now = Math.max(now + 1, endpoint.pollTimeout() ?? now + 1000);
    endpoint.handleTimeout(now);
    while (endpoint.pollTransmit()) {
      // into the void
    }
    for (let e = endpoint.pollEvent(); e; e = endpoint.pollEvent())
      if (e.type === 'peer-removed') removed = e.reason;
  }
  assert.equal(endpoint.peerCount, 0);
  assert.equal(removed, 'failed');
  assert.ok(now >= 10_000 && now <= 10_000 + 1, `forgotten at ${now} ms, the handshake timeout is 10,000`);
  assert.equal(endpoint.pollTimeout(), undefined, 'no deadline left');
});

function startCli(args: string[]): Promise<{ child: ChildProcess; port: number; err: () => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/tsdtls.js', 'server', '--port', '0', '--echo', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let out = '';
    let err = '';
    child.stderr!.on('data', (d) => {
      err += d;
    });
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out} ${err}`)), 10_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), err: () => err });
      }
    });
  });
}

function runClient(args: string[]): Promise<{ code: number | null; err: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['bin/tsdtls.js', 'client', '--send', 'hi', '--timeout', '8000', ...args],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    children.add(child);
    let err = '';
    child.stderr!.on('data', (d) => {
      err += d;
    });
    child.on('exit', (code) => {
      children.delete(child);
      resolve({ code, err });
    });
  });
}

test('two server processes sharing --ticket-secret and --cookie-secret: a session from one resumes on the other', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsdtls-lb-'));
  dirs.push(dir);
  const key = join(dir, 'key.pem');
  const crt = join(dir, 'cert.pem');
  const { writeFileSync } = await import('node:fs');
  const cert = await generateCertificate({ commonName: 'lb.test' });
  writeFileSync(crt, cert.cert);
  writeFileSync(key, cert.key);
  const shared = [
    '--cert',
    crt,
    '--key',
    key,
    '--ticket-secret',
    'aa'.repeat(32),
    '--cookie-secret',
    'bb'.repeat(32),
  ];
  const a = await startCli([...shared, '--no-session-cache']);
  const b = await startCli([...shared, '--no-session-cache']);
  const sess = join(dir, 'session.json');
  const fp = ['--fingerprint', cert.fingerprint];
  const first = await runClient(['--port', String(a.port), ...fp, '--sess-out', sess]);
  assert.equal(first.code, 0, first.err);
  assert.doesNotMatch(first.err, /resumed/);
  const second = await runClient(['--port', String(b.port), ...fp, '--sess-in', sess]);
  assert.equal(second.code, 0, second.err);
  assert.match(second.err, /established .*resumed/, 'the ticket from process A opens on process B');
  // A third process with another secret cannot open it: a full handshake, transparently.
  const c = await startCli([
    '--cert',
    crt,
    '--key',
    key,
    '--ticket-secret',
    'cc'.repeat(32),
    '--no-session-cache',
  ]);
  const third = await runClient(['--port', String(c.port), ...fp, '--sess-in', sess]);
  assert.equal(third.code, 0, third.err);
  assert.doesNotMatch(third.err, /resumed/);
  for (const s of [a, b, c]) s.child.kill('SIGTERM');
});
