import dgram from 'node:dgram';
import { parseArgs } from 'node:util';
import { generateCertificate } from '../cert/generate.js';
import type { DtlsEvent, HandshakeTrace } from '../engine/events.js';
import { connect } from '../node/client.js';
import { createServer } from '../node/server.js';
import { ContentType, HandshakeType } from '../wire/constants.js';
import { type CliIo, describe, errorLine, intArg } from './common.js';

/** One line of the ladder: a message the client sent or received, or a datagram the relay dropped. */
interface Row {
  t: number;
  kind: 'sent' | 'received' | 'lost' | 'note';
  text: string;
  flight?: number;
  note?: string;
}

const PRETTY: Record<string, string> = {
  client_hello: 'ClientHello',
  hello_verify_request: 'HelloVerifyRequest',
  server_hello: 'ServerHello',
  certificate: 'Certificate',
  server_key_exchange: 'ServerKeyExchange',
  certificate_request: 'CertificateRequest',
  server_hello_done: 'ServerHelloDone',
  client_key_exchange: 'ClientKeyExchange',
  certificate_verify: 'CertificateVerify',
  finished: 'Finished',
  change_cipher_spec: 'ChangeCipherSpec',
};

/** What each message is for, shown the first time it appears (RFC 6347 §4.2, RFC 5246 §7.4). */
const WHY: Record<string, string> = {
  client_hello: 'offers suites, groups, signature schemes, extensions',
  hello_verify_request: 'stateless cookie: prove you own your address (RFC 6347 §4.2.1)',
  server_hello: 'chooses the suite and extensions',
  certificate: "server's certificate chain",
  server_key_exchange: 'ephemeral ECDH public key, signed by the certificate key',
  server_hello_done: 'end of the server flight',
  client_key_exchange: "client's ephemeral ECDH public key",
  change_cipher_spec: 'switch to the new keys (epoch 0 -> 1)',
  finished: 'MAC of the whole transcript, first record under the new keys',
};

function serverFlight(message: string): number | undefined {
  if (message === 'hello_verify_request') return 2;
  if (message === 'change_cipher_spec' || message === 'finished') return 6;
  return 4;
}

function renderLadder(rows: Row[], io: CliIo): void {
  const W = 46;
  const out = (s: string) => io.stdout.write(`${s}\n`);
  out(`   t (ms)  ${'CLIENT'.padEnd(W / 2)}${'SERVER'.padStart(W / 2 + 2)}`);
  const seen = new Set<string>();
  let lastFlight: string | undefined;
  for (const r of rows) {
    const t = r.t.toFixed(1).padStart(8);
    const flight = r.flight !== undefined ? `flight ${r.flight}` : '';
    const key = `${r.kind === 'sent' ? 'c' : 's'}${r.flight}`;
    if (r.kind !== 'lost' && r.kind !== 'note' && key !== lastFlight) {
      out(`          ${'·'.repeat(W + 2)}  ${flight}`);
      lastFlight = key;
    }
    if (r.kind === 'note') {
      out(`${t}  ${r.text}`);
      continue;
    }
    const label = r.text.length > W - 6 ? `${r.text.slice(0, W - 7)}…` : r.text;
    let line: string;
    if (r.kind === 'sent') line = `${label} ${'─'.repeat(Math.max(2, W - label.length - 1))}▶`;
    else if (r.kind === 'received') line = `◀${'─'.repeat(Math.max(2, W - label.length - 1))} ${label}`;
    else line = `${' '.repeat(Math.max(0, W / 2 - 8))}✗ ${label}`;
    const base = r.text.split(' ')[0] ?? '';
    const why =
      r.note ??
      (seen.has(base) ? '' : (WHY[Object.keys(PRETTY).find((k) => PRETTY[k] === base) ?? ''] ?? ''));
    seen.add(base);
    out(`${t}  ${line.padEnd(W + 2)}  ${why}`);
  }
}

function traceText(tr: HandshakeTrace): string {
  const name = PRETTY[tr.message] ?? tr.message;
  const parts = [name];
  if (tr.messageSeq !== undefined) parts.push(`#${tr.messageSeq}`);
  parts.push(`${tr.length}B`);
  if (tr.epoch > 0) parts.push(`e${tr.epoch}`);
  if (tr.fragments > 1) parts.push(`${tr.fragments} frags`);
  if (tr.retransmission) parts.push('RETX');
  return parts.join(' ');
}

/**
 * `tsdtls demo`: a server and a client on loopback, with a relay between them that loses one
 * datagram so the retransmission timer shows. The server certificate is pinned by fingerprint, the
 * server's MTU is small enough to fragment its Certificate. Prints the handshake as a ladder seen
 * from the client, the negotiated parameters, then exchanges a few messages.
 */
export async function runDemo(argv: string[], io: CliIo): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: { mtu: { type: 'string', default: '400' }, 'no-loss': { type: 'boolean' } },
    strict: true,
  });
  const mtu = intArg(v.mtu, '--mtu', 200, 1500)!;
  const out = (s = '') => io.stdout.write(`${s}\n`);
  out('tsdtls demo: a DTLS 1.2 handshake over UDP on 127.0.0.1, drawn flight by flight.');
  const cert = await generateCertificate({ keyType: 'ecdsa-p256', commonName: 'tsdtls-demo' });
  out(`server certificate: ECDSA P-256, self-signed, pinned by the client as`);
  out(`  ${cert.fingerprint}`);

  const server = createServer({ cert: cert.cert, key: cert.key, mtu }, (s) => {
    s.on('message', (m: Buffer) => s.send(Buffer.concat([Buffer.from('echo: '), m])));
  });
  const { port: serverPort } = await server.listen(0, '127.0.0.1');

  // A relay standing in for the network: it drops the first datagram that carries the ServerHello,
  // so the client's retransmission timer (RFC 6347 §4.2.4) has to fire.
  const start = performance.now();
  const rows: Row[] = [];
  const relay = dgram.createSocket('udp4');
  let clientAddr: { port: number; address: string } | undefined;
  let dropped = false;
  relay.on('message', (msg, rinfo) => {
    if (rinfo.port !== serverPort) {
      clientAddr = rinfo;
      relay.send(msg, serverPort, '127.0.0.1');
      return;
    }
    const isServerHello = msg[0] === ContentType.handshake && msg[13] === HandshakeType.server_hello;
    if (isServerHello && !dropped && !v['no-loss']) {
      dropped = true;
      rows.push({
        t: performance.now() - start,
        kind: 'lost',
        text: `a ${msg.length}-byte datagram of flight 4 is lost`,
      });
      return;
    }
    if (clientAddr) relay.send(msg, clientAddr.port, clientAddr.address);
  });
  await new Promise<void>((resolve) => relay.bind(0, '127.0.0.1', resolve));
  const relayPort = relay.address().port;

  const onEvent = (e: DtlsEvent) => {
    if (e.type !== 'handshake') return;
    const tr = e.trace;
    rows.push({
      t: performance.now() - start,
      kind: tr.direction,
      text: traceText(tr),
      flight: tr.direction === 'sent' ? tr.flight : serverFlight(tr.message),
      note: tr.retransmission ? 'retransmitted: the timer expired, or the peer resent its flight' : undefined,
    });
  };
  let code = 0;
  try {
    const socket = await connect({
      host: '127.0.0.1',
      port: relayPort,
      fingerprint: cert.fingerprint,
      initialRetransmitTimeout: 500,
      onEngineEvent: onEvent,
    });
    const elapsed = performance.now() - start;
    out();
    renderLadder(rows, io);
    out();
    out(`established in ${elapsed.toFixed(1)} ms: ${describe(socket.info!)}`);
    out(
      `  server certificate ${socket.getPeerCertificate()?.subject.replace(/\n/g, ', ')} matched the pinned fingerprint`,
    );
    out(`  server MTU ${mtu} bytes: messages larger than a datagram are fragmented (RFC 6347 §4.2.3)`);
    out(
      `  DTLS-SRTP-style exporter (RFC 5705): ${socket.exportKeyingMaterial('EXTRACTOR-dtls_srtp', 16).toString('hex')}…`,
    );
    out();
    out('application data (each send is one record in one datagram, epoch 1):');
    for (const text of ['hello', 'datagrams keep their boundaries', 'goodbye']) {
      const reply = new Promise<Buffer>((resolve) => socket.once('message', resolve));
      socket.send(text);
      const timeout = new Promise<Buffer>((_, reject) =>
        setTimeout(() => reject(new Error('no echo within 2 s')), 2000),
      );
      const r = await Promise.race([reply, timeout]);
      out(`  client -> server: ${JSON.stringify(text)}   server -> client: ${JSON.stringify(r.toString())}`);
    }
    await socket.close();
    out('closed with close_notify (RFC 5246 §7.2.1).');
  } catch (e) {
    io.stderr.write(`${errorLine(e)}\n`);
    code = 1;
  } finally {
    relay.close();
    await server.close();
  }
  return code;
}
