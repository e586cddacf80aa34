/**
 * tsdtls: DTLS 1.2 (RFC 6347) for Node.js, with a sans-IO core.
 *
 * - `connect()` / `createServer()`: the Node API over dgram sockets.
 * - `DtlsConnection` / `DtlsServerEndpoint`: the sans-IO engine, for any datagram transport.
 */
export { connect, type ConnectOptions } from './node/client.js';
export { createServer, DtlsServer, type ServerOptions } from './node/server.js';
export { DtlsSocket } from './node/socket.js';
export type { CommonOptions } from './node/options.js';
export { DtlsConnection, type ConnectionState, type ConnectionStats } from './engine/connection.js';
export {
  DtlsServerEndpoint,
  type EndpointEvent,
  type PeerAddress,
  type ServerEndpointConfig,
  type ServerLimits,
} from './engine/server-endpoint.js';
export type { EngineConfig, Identity, PskCredentials, ClientPsk, ServerPsk } from './engine/config.js';
export type { ConnectionInfo, DtlsEvent, HandshakeTrace } from './engine/events.js';
export { DtlsError, type DtlsErrorCode } from './errors.js';
export { generateCertificate, loadCertificate, loadPrivateKey, type GeneratedCertificate, type KeyType } from './cert/generate.js';
export { fingerprint, parseFingerprint, type FingerprintHash } from './cert/fingerprint.js';
export { CIPHER_SUITES, type CipherSuite } from './crypto/suites.js';
export { seededRandom, type RandomSource } from './crypto/random.js';
