import dgram from 'node:dgram';
import { parseArgs } from 'node:util';
import { generateCertificate } from '../cert/generate.js';
import type { DtlsEvent, HandshakeTrace } from '../engine/events.js';
import { connect } from '../node/client.js';
import { createServer } from '../node/server.js';
import type { DtlsSocket } from '../node/socket.js';
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
  new_session_ticket: 'NewSessionTicket',
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
  new_session_ticket: 'the session, sealed by the server, for the client to keep (RFC 5077)',
};

/** What a message is for in a PSK handshake, where the key exchange carries identities, not keys. */
const WHY_PSK: Record<string, string> = {
  server_key_exchange: "the server's PSK identity hint (RFC 4279 §2)",
  client_key_exchange: 'the identity whose key both sides use; no public-key work at all',
};

/** What a message is for in a resumed handshake (RFC 5246 §7.3, RFC 5077 §3.1). */
const WHY_RESUMED: Record<string, string> = {
  client_hello: 'offers the session ticket kept from (1)',
  server_hello: 'accepts it: echoes the session ID; keys come from the old master secret',
  finished: 'the server finishes first in an abbreviated handshake',
};

function renderLadder(rows: Row[], io: CliIo, notes: Record<string, string> = {}): void {
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
    const name = Object.keys(PRETTY).find((k) => PRETTY[k] === base) ?? '';
    const why = r.note ?? (seen.has(base) ? '' : (notes[name] ?? WHY[name] ?? ''));
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

/** Records the client's view of one handshake, numbering flights by who is speaking. */
class LadderRecorder {
  readonly rows: Row[] = [];
  private flight = 0;
  private lastDirection: string | undefined;
  readonly start = performance.now();

  onEvent = (e: DtlsEvent): void => {
    if (e.type !== 'handshake') return;
    const tr = e.trace;
    if (tr.direction !== this.lastDirection && !tr.retransmission) {
      this.flight++;
      this.lastDirection = tr.direction;
    }
    this.rows.push({
      t: performance.now() - this.start,
      kind: tr.direction,
      text: traceText(tr),
      flight: this.flight,
      note: tr.retransmission ? 'retransmitted: the timer expired, or the peer resent its flight' : undefined,
    });
  };

  lost(text: string): void {
    this.rows.push({ t: performance.now() - this.start, kind: 'lost', text });
  }

  /** Round trips the client waited for: one per flight it received. */
  get roundTrips(): number {
    return new Set(this.rows.filter((r) => r.kind === 'received').map((r) => r.flight)).size;
  }
}

/**
 * A relay standing in for the network between client and server. It can lose the first datagram
 * carrying a ServerHello, so the client's retransmission timer (RFC 6347 §4.2.4) has to fire.
 */
async function startRelay(
  serverPort: number,
): Promise<{ port: number; loseNextServerHello(r: LadderRecorder): void; close(): void }> {
  const relay = dgram.createSocket('udp4');
  let clientAddr: { port: number; address: string } | undefined;
  let loseFor: LadderRecorder | undefined;
  relay.on('message', (msg, rinfo) => {
    if (rinfo.port !== serverPort) {
      clientAddr = rinfo;
      relay.send(msg, serverPort, '127.0.0.1');
      return;
    }
    const isServerHello = msg[0] === ContentType.handshake && msg[13] === HandshakeType.server_hello;
    if (isServerHello && loseFor) {
      loseFor.lost(`a ${msg.length}-byte datagram of the server's flight is lost`);
      loseFor = undefined;
      return;
    }
    if (clientAddr) relay.send(msg, clientAddr.port, clientAddr.address);
  });
  await new Promise<void>((resolve) => relay.bind(0, '127.0.0.1', resolve));
  return {
    port: relay.address().port,
    loseNextServerHello: (r) => {
      loseFor = r;
    },
    close: () => relay.close(),
  };
}

async function echoOnce(socket: DtlsSocket, text: string): Promise<string> {
  const reply = new Promise<Buffer>((resolve) => socket.once('message', resolve));
  socket.send(text);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Buffer>((_, reject) => {
    timer = setTimeout(() => reject(new Error('no echo within 2 s')), 2000);
  });
  try {
    return (await Promise.race([reply, timeout])).toString();
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `tsdtls demo`: a server and a client on loopback, with a relay between them that loses one
 * datagram so the retransmission timer shows. The server certificate is pinned by fingerprint, the
 * server's MTU is small enough to fragment its Certificate. Three handshakes, each drawn as a ladder
 * seen from the client: a full one, a resumed one (the session ticket from the first), and a PSK one
 * with CoAP's suite. Then a few messages.
 */
export async function runDemo(argv: string[], io: CliIo): Promise<number> {
  const { values: v } = parseArgs({
    args: argv,
    options: { mtu: { type: 'string', default: '400' }, 'no-loss': { type: 'boolean' } },
    strict: true,
  });
  const mtu = intArg(v.mtu, '--mtu', 200, 1500)!;
  const out = (s = '') => io.stdout.write(`${s}\n`);
  out('tsdtls demo: DTLS 1.2 handshakes over UDP on 127.0.0.1, drawn flight by flight (client on the left).');
  const cert = await generateCertificate({ keyType: 'ecdsa-p256', commonName: 'tsdtls-demo' });
  out('server certificate: ECDSA P-256, self-signed, pinned by the client as');
  out(`  ${cert.fingerprint}`);
  const pskKey = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
  const server = createServer(
    {
      cert: cert.cert,
      key: cert.key,
      mtu,
      psk: { hint: 'demo-gateway', lookup: (id) => (id.toString() === 'sensor-17' ? pskKey : undefined) },
    },
    (s) => s.on('message', (m: Buffer) => s.send(Buffer.concat([Buffer.from('echo: '), m]))),
  );
  const { port: serverPort } = await server.listen(0, '127.0.0.1');
  const relay = await startRelay(serverPort);
  let code = 0;
  try {
    // 1. Full handshake, with one datagram lost on the way.
    out();
    out('1. Full handshake: cookie exchange, certificate, ECDHE key exchange (RFC 6347 §4.2.4 flights 1-6)');
    const full = new LadderRecorder();
    if (!v['no-loss']) relay.loseNextServerHello(full);
    const socket = await connect({
      host: '127.0.0.1',
      port: relay.port,
      fingerprint: cert.fingerprint,
      initialRetransmitTimeout: 500,
      onEngineEvent: full.onEvent,
    });
    const fullMs = performance.now() - full.start;
    renderLadder(full.rows, io);
    out();
    out(`established in ${fullMs.toFixed(1)} ms, ${full.roundTrips} round trips: ${describe(socket.info!)}`);
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
      out(
        `  client -> server: ${JSON.stringify(text)}   server -> client: ${JSON.stringify(await echoOnce(socket, text))}`,
      );
    }
    const session = socket.getSession();
    await socket.close();
    out('closed with close_notify (RFC 5246 §7.2.1).');

    // 2. Resumed handshake from the ticket the server gave.
    out();
    out(
      '2. Resumed handshake: the session ticket from (1) skips the certificate and the key exchange (RFC 5077)',
    );
    const resumedLadder = new LadderRecorder();
    const resumed = await connect({
      host: '127.0.0.1',
      port: relay.port,
      fingerprint: cert.fingerprint,
      session,
      onEngineEvent: resumedLadder.onEvent,
    });
    const resumedMs = performance.now() - resumedLadder.start;
    renderLadder(resumedLadder.rows, io, WHY_RESUMED);
    out();
    out(
      `established in ${resumedMs.toFixed(1)} ms, ${resumedLadder.roundTrips} round trips: ${describe(resumed.info!)}`,
    );
    out(
      `  full handshake ${fullMs.toFixed(1)} ms${v['no-loss'] ? '' : ' (one loss included)'} / ${full.roundTrips} round trips; resumed ${resumedMs.toFixed(1)} ms / ${resumedLadder.roundTrips} round trips, no public-key operation`,
    );
    out(
      `  client -> server: "again"   server -> client: ${JSON.stringify(await echoOnce(resumed, 'again'))}`,
    );
    await resumed.close();

    // 3. PSK, as a CoAP device would do it.
    out();
    out("3. PSK handshake: CoAP's mandatory suite TLS_PSK_WITH_AES_128_CCM_8 (RFC 7252 §9.1.3.1, RFC 4279)");
    const pskLadder = new LadderRecorder();
    const psk = await connect({
      host: '127.0.0.1',
      port: relay.port,
      psk: (hint) => {
        out(
          `  server identity hint: ${JSON.stringify(hint?.toString())}; the device answers with identity "sensor-17"`,
        );
        return { identity: 'sensor-17', key: pskKey };
      },
      cipherSuites: ['TLS_PSK_WITH_AES_128_CCM_8'],
      onEngineEvent: pskLadder.onEvent,
    });
    renderLadder(pskLadder.rows, io, WHY_PSK);
    out();
    out(`established in ${(performance.now() - pskLadder.start).toFixed(1)} ms: ${describe(psk.info!)}`);
    out(`  client -> server: "23.5 C"   server -> client: ${JSON.stringify(await echoOnce(psk, '23.5 C'))}`);
    await psk.close();
    out('closed with close_notify.');
  } catch (e) {
    io.stderr.write(`${errorLine(e)}\n`);
    code = 1;
  } finally {
    relay.close();
    await server.close();
  }
  return code;
}
