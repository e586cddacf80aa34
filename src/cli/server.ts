import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { generateCertificate } from '../cert/generate.js';
import type { ServerPsk } from '../engine/config.js';
import { createServer } from '../node/server.js';
import type { DtlsSocket } from '../node/socket.js';
import { LiveTracer, type PeerEndpoint } from '../trace/live.js';
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

export const SERVER_USAGE = `tsdtls server --port N [--host H] [--cert F --key F] [--ca F] [--fingerprint FP]
       [--request-cert | --require-cert]
       [--ciphers LIST] [--groups LIST] [--mtu N] [--no-cookie] [--echo]
       [--psk HEX --psk-identity ID] [--psk-hint TEXT] [--psk-file FILE] [--srtp PROFILES] [--alpn LIST]
       [--export LABEL:LENGTH[:CONTEXTHEX]] [--no-tickets] [--no-session-cache]
       [--ticket-secret HEX] [--cookie-secret HEX] [--keylog FILE] [--trace]`;

/** Parse `identity:hexkey` lines (blank lines and # comments ignored). */
export function parsePskFile(text: string): Map<string, Buffer> {
  const keys = new Map<string, Buffer>();
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(':');
    if (at <= 0) throw usageError(`psk file line ${i + 1}: expected identity:hexkey`);
    keys.set(line.slice(0, at), hexKey(line.slice(at + 1), `psk file line ${i + 1}`));
  }
  return keys;
}

/**
 * `tsdtls server`: prints `listening on HOST:PORT` on stdout when ready, one stderr line per
 * established peer; with --echo every datagram goes back to its sender, else it is printed.
 */
export async function runServer(argv: string[], io: CliIo, signal?: AbortSignal): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      cert: { type: 'string' },
      key: { type: 'string' },
      ca: { type: 'string' },
      fingerprint: { type: 'string', multiple: true },
      'request-cert': { type: 'boolean' },
      'require-cert': { type: 'boolean' },
      ciphers: { type: 'string' },
      groups: { type: 'string' },
      mtu: { type: 'string' },
      'no-cookie': { type: 'boolean' },
      echo: { type: 'boolean' },
      psk: { type: 'string' },
      'psk-identity': { type: 'string' },
      'psk-hint': { type: 'string' },
      'psk-file': { type: 'string' },
      keylog: { type: 'string' },
      srtp: { type: 'string' },
      alpn: { type: 'string' },
      export: { type: 'string', multiple: true },
      'no-tickets': { type: 'boolean' },
      'ticket-secret': { type: 'string' },
      'cookie-secret': { type: 'string' },
      'no-session-cache': { type: 'boolean' },
      trace: { type: 'boolean' },
    },
    strict: true,
  });
  const port = intArg(v.port, '--port', 0, 65535)!;
  if ((v.psk === undefined) !== (v['psk-identity'] === undefined))
    throw usageError('--psk and --psk-identity go together');
  const pskKeys = new Map<string, Buffer>();
  if (v['psk-file'])
    for (const [k, key] of parsePskFile(readFileSync(v['psk-file'], 'utf8'))) pskKeys.set(k, key);
  if (v.psk) pskKeys.set(v['psk-identity']!, hexKey(v.psk, '--psk'));
  const psk: ServerPsk | undefined =
    pskKeys.size > 0 ? { hint: v['psk-hint'], lookup: (id) => pskKeys.get(id.toString('utf8')) } : undefined;

  let cert = v.cert ? readFileArg(v.cert, 'certificate') : undefined;
  let key = v.key ? readFileArg(v.key, 'key') : undefined;
  const pskOnly = psk && v.ciphers?.split(',').every((c) => c.includes('PSK'));
  if (!cert && !pskOnly) {
    const g = await generateCertificate({ keyType: 'ecdsa-p256', commonName: 'tsdtls' });
    cert = Buffer.from(g.cert);
    key = Buffer.from(g.key);
    io.stdout.write(`fingerprint: ${g.fingerprint}\n`);
  }
  const keylog = keylogWriter(v.keylog);
  const server = createServer({
    cert,
    key,
    ca: v.ca ? readFileArg(v.ca, 'CA file') : undefined,
    fingerprint: v.fingerprint,
    requestCert: v['request-cert'],
    requireCert: v['require-cert'],
    cipherSuites: v.ciphers,
    groups: v.groups,
    mtu: intArg(v.mtu, '--mtu', 128, 65507),
    cookies: !v['no-cookie'],
    psk,
    srtpProfiles: v.srtp,
    alpn: v.alpn,
    tickets: v['no-tickets']
      ? false
      : v['ticket-secret']
        ? { secret: hexKey(v['ticket-secret'], '--ticket-secret') }
        : undefined,
    cookieSecret: v['cookie-secret'] ? hexKey(v['cookie-secret'], '--cookie-secret') : undefined,
    sessionCache: v['no-session-cache'] ? false : undefined,
  });
  const exports = (v.export ?? []).map(parseExportSpec);
  server.on('connection', (s: DtlsSocket) => {
    io.stderr.write(`established ${s.remoteAddress}:${s.remotePort} ${describe(s.info!)}\n`);
    for (const spec of exports) io.stderr.write(`keying material: ${exportSpec(s, spec)}\n`);
    s.on('message', (m: Buffer) => {
      if (v.echo) s.send(m);
      else io.stdout.write(m.toString('utf8').endsWith('\n') ? m : Buffer.concat([m, Buffer.from('\n')]));
    });
    s.on('error', (e) => io.stderr.write(`peer ${s.remoteAddress}:${s.remotePort} ${errorLine(e)}\n`));
    s.on('close', () => io.stderr.write(`closed ${s.remoteAddress}:${s.remotePort}\n`));
  });
  server.on('peerError', (e: unknown, peer: { address: string; port: number }) =>
    io.stderr.write(`peer ${peer.address}:${peer.port} ${errorLine(e)}\n`),
  );
  if (keylog) server.on('keylog', (line: Buffer) => keylog(line));
  const trace = v.trace ? traceServer(server, io) : undefined;
  const listening = server.listen(port, v.host);
  const addr = await listening;
  const shown = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  io.stdout.write(`listening on ${shown}:${addr.port}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    signal?.addEventListener('abort', stop, { once: true });
  });
  await server.close();
  trace?.tracer.close();
  return 0;
}

type TracedDatagram = (direction: 'in' | 'out', data: Buffer, peer: PeerEndpoint) => void;

/**
 * --trace: every record and handshake message on stderr as it passes (stdout stays the data channel),
 * decrypted with the server's own key log. Colour only on a terminal, and not when NO_COLOR is set.
 */
function traceServer(
  server: ReturnType<typeof createServer>,
  io: CliIo,
): { tracer: LiveTracer; feed: TracedDatagram } {
  const color = (io.stderr as { isTTY?: boolean }).isTTY === true && process.env.NO_COLOR === undefined;
  const tracer = new LiveTracer({ role: 'server', write: (t) => io.stderr.write(t), color });
  const feed: TracedDatagram = (direction, data, peer) => tracer.datagram(direction, data, peer);
  server.on('datagram', feed);
  server.on('keylog', (line: Buffer) => tracer.keylog(line));
  return { tracer, feed };
}
