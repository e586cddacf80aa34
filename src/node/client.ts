import dgram from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { DtlsConnection } from '../engine/connection.js';
import type { DtlsEvent } from '../engine/events.js';
import type { ClientSession } from '../engine/resumption.js';
import { DtlsError } from '../errors.js';
import { type ClientPsk, type CommonOptions, engineConfigFrom } from './options.js';
import { DtlsSocket, monotonicNow, type SocketCarrier } from './socket.js';

export interface ConnectOptions extends CommonOptions {
  host: string;
  port: number;
  /** Name for server_name (RFC 6066) and for checking the certificate (default: host, if not an IP). */
  serverName?: string;
  localAddress?: string;
  localPort?: number;
  /** Cancels the handshake; the promise rejects with code `aborted`. */
  signal?: AbortSignal;
  /** Pre-shared key credentials (RFC 4279), or a function of the server's identity hint. */
  psk?: ClientPsk;
  /** Called with each NSS key log line (as node:tls's `keylog` event). */
  onKeylog?: (line: Buffer) => void;
  /** Every raw engine event, from the first flight on (handshake traces for ladders and --trace). */
  onEngineEvent?: (e: DtlsEvent) => void;
  /** A session from an earlier connection's `session` event or getSession(): resume it if the server agrees. */
  session?: ClientSession;
  /** Ask the server for a session ticket (RFC 5077); default true. */
  requestTicket?: boolean;
  /** Every UDP datagram as it passes, both ways (for live traces such as the CLI's --trace). */
  onDatagram?: (direction: 'in' | 'out', data: Buffer) => void;
}

/**
 * Open a DTLS client association over a new UDP socket. Resolves once the handshake is complete and
 * the server authenticated (certificate chain, pinned fingerprint, or PSK); rejects with a DtlsError
 * whose `code` names the reason.
 */
export async function connect(options: ConnectOptions): Promise<DtlsSocket> {
  const base = engineConfigFrom(options);
  const usesPskOnly =
    options.psk !== undefined && options.cert === undefined && !options.ca && !options.fingerprint;
  if (!options.ca && !options.fingerprint && !options.insecure && !usesPskOnly) {
    throw new DtlsError(
      'invalid_argument',
      'give ca, fingerprint, psk or insecure: the server must be authenticated',
    );
  }
  if (options.signal?.aborted) throw new DtlsError('aborted', 'aborted before the handshake started');
  const address = isIP(options.host) ? options.host : (await lookup(options.host)).address;
  const family = isIP(address) === 6 ? 'IPv6' : 'IPv4';
  const serverName = options.serverName ?? (isIP(options.host) ? undefined : options.host);
  const udp = dgram.createSocket(family === 'IPv6' ? 'udp6' : 'udp4');
  // One socket-level step (bind, connect) as a promise; on failure the socket is closed and the error
  // is a DtlsError('socket_error') like every other failure of connect().
  const step = (start: (done: () => void) => void) =>
    new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      start(() => {
        udp.off('error', reject);
        resolve();
      });
    }).catch((e: unknown) => {
      udp.close();
      throw new DtlsError('socket_error', e instanceof Error ? e.message : String(e), { cause: e });
    });
  if (options.localPort !== undefined || options.localAddress !== undefined) {
    await step((done) => udp.bind({ port: options.localPort ?? 0, address: options.localAddress }, done));
  }
  // connect() binds an unbound socket to an ephemeral port itself: one event-loop turn less per connect.
  await step((done) => udp.connect(options.port, address, done));

  // Object.assign onto the fresh object, not `{ ...base, … }`: see resolveConfig on why.
  const connection = DtlsConnection.client(
    Object.assign(base, {
      serverName,
      psk: options.psk,
      session: options.session,
      requestTicket: options.requestTicket,
      wallClock: () => Date.now(),
    }),
    monotonicNow(),
  );
  let timer: NodeJS.Timeout | undefined;
  let timerAt: number | undefined;
  let socket: DtlsSocket | undefined;
  let settle: { resolve: (s: DtlsSocket) => void; reject: (e: unknown) => void } | undefined;
  let released = false;

  const flush = (c: DtlsConnection) => carrier.flush(c);
  const carrier: SocketCarrier & { flush(c: DtlsConnection): void } = {
    transmit(_s, data) {
      connection.send(data, monotonicNow());
      flush(connection);
    },
    shutdown() {
      connection.close(monotonicNow());
      flush(connection);
    },
    flush(c) {
      for (let d = c.pollTransmit(); d; d = c.pollTransmit()) {
        options.onDatagram?.('out', d);
        udp.send(d, (err) => {
          if (err && socket && !socket.closed)
            socket.emit('error', new DtlsError('socket_error', err.message, { cause: err }));
        });
      }
      for (let e = c.pollEvent(); e; e = c.pollEvent()) {
        options.onEngineEvent?.(e);
        if (e.type === 'keylog') options.onKeylog?.(Buffer.from(`${e.line}\n`));
        if (e.type === 'connected') settle?.resolve(socket!);
        if (e.type === 'failed') settle?.reject(e.error);
        if (e.type === 'connected' || e.type === 'failed') settle = undefined;
        socket!.handleEvent(e);
      }
      // Re-arm the one timer only when the engine's deadline moved (most datagrams leave it alone).
      const deadline = released ? undefined : c.pollTimeout();
      if (deadline === timerAt && (timer !== undefined || deadline === undefined)) return;
      if (timer) clearTimeout(timer);
      timer = undefined;
      timerAt = deadline;
      if (deadline !== undefined) {
        timer = setTimeout(
          () => {
            timer = undefined;
            timerAt = undefined;
            c.handleTimeout(monotonicNow());
            carrier.flush(c);
          },
          Math.max(0, Math.ceil(deadline - monotonicNow())),
        );
      }
    },
    release() {
      if (released) return;
      released = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      options.signal?.removeEventListener('abort', onAbort);
      udp.close();
    },
  };
  socket = new DtlsSocket(connection, carrier, address, options.port, family);

  const onAbort = () => {
    if (connection.state !== 'handshaking') return;
    settle?.reject(new DtlsError('aborted', 'handshake aborted'));
    settle = undefined;
    connection.close(monotonicNow());
    carrier.flush(connection);
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  udp.on('message', (msg) => {
    options.onDatagram?.('in', msg);
    connection.handleDatagram(msg, monotonicNow());
    carrier.flush(connection);
  });
  udp.on('error', (err) => {
    // ICMP port unreachable shows up as ECONNREFUSED on a connected UDP socket: the peer is not there
    // (yet); DTLS retransmission carries on as over any lossy path.
    if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') return;
    const e = new DtlsError('socket_error', err.message, { cause: err });
    settle?.reject(e);
    settle = undefined;
    if (socket && !socket.closed && socket.listenerCount('error') > 0) socket.emit('error', e);
    socket?.markClosed();
  });

  return new Promise<DtlsSocket>((resolve, reject) => {
    settle = { resolve, reject };
    carrier.flush(connection);
  });
}
