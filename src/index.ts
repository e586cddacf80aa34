/**
 * tsdtls: DTLS 1.2 (RFC 6347) for Node.js, with a sans-IO core.
 *
 * - `connect()` / `createServer()`: the Node API over dgram sockets.
 * - `DtlsConnection` / `DtlsServerEndpoint`: the sans-IO engine, for any datagram transport.
 */

export { type FingerprintHash, fingerprint, parseFingerprint } from './cert/fingerprint.js';
export {
  type GeneratedCertificate,
  generateCertificate,
  type KeyType,
  loadCertificate,
  loadPrivateKey,
} from './cert/generate.js';
export { type RandomSource, seededRandom } from './crypto/random.js';
export { CIPHER_SUITES, type CipherSuite } from './crypto/suites.js';
export type { ClientPsk, EngineConfig, Identity, PskCredentials, ServerPsk } from './engine/config.js';
export { type ConnectionState, type ConnectionStats, DtlsConnection } from './engine/connection.js';
export type { ConnectionInfo, DtlsEvent, HandshakeTrace } from './engine/events.js';
export {
  type ClientSession,
  deserializeSession,
  SessionCache,
  type SessionCacheOptions,
  type SessionState,
  serializeSession,
  TicketKeyring,
  type TicketOptions,
} from './engine/resumption.js';
export {
  DtlsServerEndpoint,
  type EndpointEvent,
  type PeerAddress,
  type ServerEndpointConfig,
  type ServerLimits,
} from './engine/server-endpoint.js';
export { DtlsError, type DtlsErrorCode } from './errors.js';
export { type ConnectOptions, connect } from './node/client.js';
export type { CommonOptions } from './node/options.js';
export { createServer, DtlsServer, type ServerOptions } from './node/server.js';
export { DtlsSocket } from './node/socket.js';
