import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { type ClientSession, deserializeSession, serializeSession } from '../engine/resumption.js';
import { connect } from '../node/client.js';
import type { DtlsSocket } from '../node/socket.js';
import { LiveTracer } from '../trace/live.js';
import {
  type CliIo,
  describe,
  errorLine,
  exportSpec,
  hexKey,
  intArg,
  keylogWriter,
  parseExportSpec,
  readFileArg,
  usageError,
} from './common.js';

export const CLIENT_USAGE = `tsdtls client --host H --port N [--ca F | --fingerprint 'sha-256 AB:CD:…' | --insecure]
       [--cert F --key F] [--server-name NAME] [--ciphers LIST] [--groups LIST] [--mtu N]
       [--psk HEX --psk-identity ID] [--srtp PROFILES] [--alpn LIST] [--export LABEL:LENGTH[:CONTEXTHEX]]
       [--sess-out FILE] [--sess-in FILE] [--send TEXT] [--timeout MS] [--keylog FILE] [--trace]`;

/**
 * `tsdtls client`: one line on stderr once established; with --send, send TEXT (again every second
 * until a reply comes, since DTLS never retransmits application data), print the reply, close; else
 * stdin lines out, received datagrams in, as lines.
 */
export async function runClient(argv: string[], io: CliIo): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      ca: { type: 'string' },
      fingerprint: { type: 'string', multiple: true },
      insecure: { type: 'boolean' },
      cert: { type: 'string' },
      key: { type: 'string' },
      'server-name': { type: 'string' },
      ciphers: { type: 'string' },
      groups: { type: 'string' },
      mtu: { type: 'string' },
      psk: { type: 'string' },
      'psk-identity': { type: 'string' },
      send: { type: 'string' },
      timeout: { type: 'string' },
      keylog: { type: 'string' },
      srtp: { type: 'string' },
      alpn: { type: 'string' },
      export: { type: 'string', multiple: true },
      'sess-in': { type: 'string' },
      'sess-out': { type: 'string' },
      trace: { type: 'boolean' },
    },
    strict: true,
  });
  const port = intArg(v.port, '--port', 1, 65535);
  if (port === undefined) throw usageError('--port is required');
  const timeout = intArg(v.timeout, '--timeout', 1, 3_600_000) ?? 30_000;
  if ((v.psk === undefined) !== (v['psk-identity'] === undefined))
    throw usageError('--psk and --psk-identity go together');
  const exports = (v.export ?? []).map(parseExportSpec);
  // --trace: every record and handshake message on stderr as it passes (stdout stays the data channel).
  const tracer = v.trace
    ? new LiveTracer({ role: 'client', write: (t) => io.stderr.write(t), color: colorFor(io.stderr) })
    : undefined;
  const keylog = keylogWriter(v.keylog);
  const finish = (code: number): number => {
    tracer?.close();
    return code;
  };
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeout);
  let socket: DtlsSocket;
  try {
    socket = await connect({
      host: v.host!,
      port,
      ca: v.ca ? readFileArg(v.ca, 'CA file') : undefined,
      fingerprint: v.fingerprint,
      insecure: v.insecure,
      cert: v.cert ? readFileArg(v.cert, 'certificate') : undefined,
      key: v.key ? readFileArg(v.key, 'key') : undefined,
      serverName: v['server-name'],
      cipherSuites: v.ciphers,
      groups: v.groups,
      mtu: intArg(v.mtu, '--mtu', 128, 65507),
      psk: v.psk ? { identity: v['psk-identity']!, key: hexKey(v.psk, '--psk') } : undefined,
      handshakeTimeout: timeout,
      signal: ac.signal,
      onKeylog: tracer
        ? (line) => {
            keylog?.(line);
            tracer.keylog(line);
          }
        : keylog,
      onDatagram: tracer
        ? (direction, data) => tracer.datagram(direction, data, { address: v.host!, port })
        : undefined,
      srtpProfiles: v.srtp,
      alpn: v.alpn,
      session: v['sess-in']
        ? deserializeSession(readFileArg(v['sess-in'], 'session file').toString('utf8'))
        : undefined,
    });
  } catch (e) {
    clearTimeout(timer);
    io.stderr.write(
      `${errorLine(ac.signal.aborted ? Object.assign(e as object, { code: 'timeout' }) : e)}\n`,
    );
    return finish(1);
  }
  io.stderr.write(`established ${describe(socket.info!)}\n`);
  const sessOut = v['sess-out'];
  if (sessOut) {
    // The session comes right after `connected` (and again if a renewed ticket arrives).
    const save = (s: ClientSession) => writeFileSync(sessOut, serializeSession(s), { mode: 0o600 });
    const now = socket.getSession();
    if (now) save(now);
    socket.on('session', save);
  }
  for (const spec of exports) io.stderr.write(`keying material: ${exportSpec(socket, spec)}\n`);
  if (v.send !== undefined) return finish(await sendOnce(socket, v.send, io, timer, ac.signal));
  clearTimeout(timer);
  return finish(await interactive(socket, io));
}

/** Colour only on a terminal, and not when NO_COLOR is set (https://no-color.org). */
function colorFor(stream: NodeJS.WritableStream): boolean {
  return (stream as { isTTY?: boolean }).isTTY === true && process.env.NO_COLOR === undefined;
}

async function sendOnce(
  socket: DtlsSocket,
  text: string,
  io: CliIo,
  timer: NodeJS.Timeout,
  signal: AbortSignal,
): Promise<number> {
  return new Promise<number>((resolve) => {
    let resend: NodeJS.Timeout | undefined;
    let finished = false;
    const done = (code: number, line?: string) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      if (resend) clearInterval(resend);
      if (line) io.stderr.write(`${line}\n`);
      void socket.close().then(() => resolve(code));
    };
    socket.once('message', (m: Buffer) => {
      io.stdout.write(m.toString('utf8').endsWith('\n') ? m : Buffer.concat([m, Buffer.from('\n')]));
      done(0);
    });
    socket.once('error', (e) => done(1, errorLine(e)));
    socket.once('close', () => done(1, 'error: closed: the server closed the association before replying'));
    signal.addEventListener('abort', () => done(1, 'error: timeout: no reply before --timeout'), {
      once: true,
    });
    socket.send(text);
    resend = setInterval(() => {
      if (!socket.closed) socket.send(text);
    }, 1000);
  });
}

async function interactive(socket: DtlsSocket, io: CliIo): Promise<number> {
  socket.on('message', (m: Buffer) => {
    io.stdout.write(m.toString('utf8').endsWith('\n') ? m : Buffer.concat([m, Buffer.from('\n')]));
  });
  let failed = false;
  socket.on('error', (e) => {
    failed = true;
    io.stderr.write(`${errorLine(e)}\n`);
  });
  const rl = createInterface({ input: io.stdin });
  const closed = new Promise<void>((resolve) => socket.once('close', resolve));
  rl.on('line', (line) => {
    if (!socket.closed) socket.send(line);
  });
  await Promise.race([new Promise<void>((resolve) => rl.once('close', resolve)), closed]);
  rl.close();
  await socket.close();
  return failed ? 1 : 0;
}
