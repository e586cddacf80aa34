/**
 * Our side of an interop test: servers and sockets made through the Node API, remembered so that a
 * file's `after(closeOurs)` closes them even when a test failed half-way (and node can exit).
 */
import type { DtlsError } from '../../src/errors.js';
import { type ConnectOptions, connect } from '../../src/node/client.js';
import { createServer, type DtlsServer, type ServerOptions } from '../../src/node/server.js';
import type { DtlsSocket } from '../../src/node/socket.js';
import { cleanupPeers, withTimeout } from './peers.js';

/** Bound for one of our handshakes against a local peer (they take tens of ms). */
export const HANDSHAKE_MS = 5000;

const liveSockets = new Set<DtlsSocket>();
const liveServers = new Set<DtlsServer>();

/** For `after()`: close every socket and server we opened, then every peer process. */
export async function closeOurs(): Promise<void> {
  await Promise.allSettled([...liveSockets].map((s) => s.close()));
  await Promise.allSettled([...liveServers].map((s) => s.close()));
  await cleanupPeers();
}

/** Remember a socket for closeOurs() (until it closes by itself). */
export function trackSocket(socket: DtlsSocket): DtlsSocket {
  liveSockets.add(socket);
  socket.once('close', () => liveSockets.delete(socket));
  return socket;
}

/** Remember a server for closeOurs() (until it closes by itself). */
export function trackServer(server: DtlsServer): DtlsServer {
  liveServers.add(server);
  server.once('close', () => liveServers.delete(server));
  return server;
}

/** connect() whose socket is closed by closeOurs() if the test does not close it. */
export async function connectTracked(options: ConnectOptions): Promise<DtlsSocket> {
  return trackSocket(await connect(options));
}

export interface OurServer {
  server: DtlsServer;
  port: number;
  connections: DtlsSocket[];
  peerErrors: DtlsError[];
  nextPeerError(ms?: number): Promise<DtlsError>;
}

/** Our server on 127.0.0.1:free port; echoes every datagram; records connections and failed peers. */
export async function startOurServer(options: ServerOptions): Promise<OurServer> {
  const connections: DtlsSocket[] = [];
  const peerErrors: DtlsError[] = [];
  const server = createServer(options, (socket) => {
    connections.push(socket);
    socket.on('message', (m: Buffer) => socket.send(m));
    socket.on('error', () => {});
  });
  server.on('peerError', (e: DtlsError) => peerErrors.push(e));
  trackServer(server);
  const { port } = await server.listen(0, '127.0.0.1');
  const nextPeerError = (ms = HANDSHAKE_MS) =>
    withTimeout(
      new Promise<DtlsError>((resolve) => {
        if (peerErrors.length > 0) resolve(peerErrors[0]!);
        else server.once('peerError', (e: DtlsError) => resolve(e));
      }),
      ms,
      'our server reporting a failed peer',
    );
  return { server, port, connections, peerErrors, nextPeerError };
}
