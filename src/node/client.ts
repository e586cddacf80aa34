import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { type ResolvedConfig, resolveConfigFor } from '../engine/config.js';
import { DtlsConnection } from '../engine/connection.js';
import type { DtlsEvent } from '../engine/events.js';
import type { ClientSession } from '../engine/resumption.js';
import { DtlsError } from '../errors.js';
import { type ClientPsk, type CommonOptions, engineConfigFrom } from './options.js';
import { DtlsSocket, monotonicNow, type SocketCarrier } from './socket.js';
import { createUdpSocket } from './udp.js';

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

function wallClock(): number {
  return Date.now();
}

/** Marks where an array option's elements start in a list of configuration inputs. */
const ARRAY_ELEMENTS = Symbol('array elements');

/** Options that steer only this connection's socket and callbacks, never the engine configuration. */
const NOT_CONFIGURATION = new Set<string>([
  'port',
  'localAddress',
  'localPort',
  'signal',
  'onKeylog',
  'onEngineEvent',
  'onDatagram',
]);

/**
 * Every option the engine configuration may be built from, by name and value, arrays element by
 * element. Taken from the object itself (inherited options too), not from a list of known names, so an
 * option added later cannot be forgotten here and leave a stale configuration in use.
 */
function configInputs(o: ConnectOptions, serverName: string | undefined): unknown[] {
  const inputs: unknown[] = [serverName];
  for (const k in o) {
    if (NOT_CONFIGURATION.has(k)) continue;
    const v = (o as unknown as Record<string, unknown>)[k];
    inputs.push(k);
    if (Array.isArray(v)) inputs.push(ARRAY_ELEMENTS, v.length, ...v);
    else inputs.push(v);
  }
  return inputs;
}

function sameInputs(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The resolved engine configuration of the last connect() with this options object. Resolving parses
 * certificates, keys and fingerprints and checks every limit; a client that reconnects with the same
 * options (a reconnect loop, a pool, a resumption) needs it once, not per connection (~20 µs each, far
 * more with a client certificate). It is reused only while every input is the same value.
 */
const resolvedByOptions = new WeakMap<ConnectOptions, { inputs: unknown[]; config: ResolvedConfig }>();

function clientConfig(options: ConnectOptions, serverName: string | undefined): ResolvedConfig {
  const inputs = configInputs(options, serverName);
  const known = resolvedByOptions.get(options);
  if (known && sameInputs(known.inputs, inputs)) return known.config;
  // Object.assign onto the fresh object, not `{ ...base, … }`: see resolveConfig on why.
  const config = resolveConfigFor(
    Object.assign(engineConfigFrom(options), {
      serverName,
      psk: options.psk,
      session: options.session,
      requestTicket: options.requestTicket,
      wallClock,
    }),
    'client',
  );
  resolvedByOptions.set(options, { inputs, config });
  return config;
}

/**
 * Open a DTLS client association over a new UDP socket. Resolves once the handshake is complete and
 * the server authenticated (certificate chain, pinned fingerprint, or PSK); rejects with a DtlsError
 * whose `code` names the reason.
 */
export async function connect(options: ConnectOptions): Promise<DtlsSocket> {
  const serverName = options.serverName ?? (isIP(options.host) ? undefined : options.host);
  // Resolved (and so validated) before any socket exists: a bad option must not leave one open.
  const config = clientConfig(options, serverName);
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
  const udp = createUdpSocket(family);
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

  const connection = DtlsConnection.client(config, monotonicNow());
  let timer: NodeJS.Timeout | undefined;
  let timerAt: number | undefined;
  let socket: DtlsSocket | undefined;
  let settle: { resolve: (s: DtlsSocket) => void; reject: (e: unknown) => void } | undefined;
  let released = false;

  const flush = (c: DtlsConnection) => carrier.flush(c);
  // One callback for every send rather than a closure per datagram. ECONNREFUSED is an earlier ICMP
  // port unreachable reported late, no error of the association (as in the 'error' handler below).
  const onSent = (err: Error | null) => {
    if (!err || (err as NodeJS.ErrnoException).code === 'ECONNREFUSED') return;
    if (socket && !socket.closed)
      socket.emit('error', new DtlsError('socket_error', err.message, { cause: err }));
  };
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
      // Application data comes as the record's parts; dgram gathers them into one datagram.
      for (let d = c.pollTransmitGathered(); d; d = c.pollTransmitGathered()) {
        if (options.onDatagram) options.onDatagram('out', Array.isArray(d) ? Buffer.concat(d) : d);
        udp.send(d, onSent);
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
