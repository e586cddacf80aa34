/**
 * Engine and Node-API configurations of the benchmarked handshakes, from one certificate:
 * ECDHE-ECDSA with AES-128-GCM over P-256 or X25519 (RFC 8422, RFC 5289), and plain PSK with
 * AES-128-CCM_8 (RFC 4279, RFC 6655). `resume` uses the P-256 configuration; the session to resume is
 * added by the scenario once a first full handshake has produced it.
 */
import type { GeneratedCertificate } from '../../src/cert/generate.js';
import type { EngineConfig } from '../../src/engine/config.js';
import type { ConnectOptions } from '../../src/node/client.js';
import type { ServerOptions } from '../../src/node/server.js';
import { type HandshakeVariant, PSK_IDENTITY, PSK_KEY, PSK_SUITE } from '../lib/common.js';

const ECDSA_SUITE = 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256';

function lookupPsk(identity: Buffer): Buffer | undefined {
  return identity.toString('utf8') === PSK_IDENTITY ? PSK_KEY : undefined;
}

export function engineConfigs(
  variant: HandshakeVariant,
  cert: GeneratedCertificate,
): { client: Omit<EngineConfig, 'role'>; server: Omit<EngineConfig, 'role'> } {
  if (variant === 'psk') {
    return {
      client: { cipherSuites: [PSK_SUITE], psk: { identity: PSK_IDENTITY, key: PSK_KEY } },
      server: { cipherSuites: [PSK_SUITE], psk: { hint: 'bench', lookup: lookupPsk } },
    };
  }
  const groups = [variant === 'x25519' ? 'x25519' : 'secp256r1'] as const;
  return {
    client: { cipherSuites: [ECDSA_SUITE], groups, fingerprints: [cert.fingerprint] },
    server: {
      cipherSuites: [ECDSA_SUITE],
      groups,
      identity: { certificateChain: [cert.der], privateKey: cert.privateKey },
    },
  };
}

export function nodeServerOptions(variant: HandshakeVariant, cert: GeneratedCertificate): ServerOptions {
  if (variant === 'psk') return { cipherSuites: [PSK_SUITE], psk: { hint: 'bench', lookup: lookupPsk } };
  return {
    cert: cert.cert,
    key: cert.key,
    cipherSuites: [ECDSA_SUITE],
    groups: [variant === 'x25519' ? 'x25519' : 'secp256r1'],
  };
}

export function nodeClientOptions(
  variant: HandshakeVariant,
  fingerprint: string | undefined,
  port: number,
): ConnectOptions {
  const base = { host: '127.0.0.1', port, handshakeTimeout: 10_000 };
  if (variant === 'psk') {
    return { ...base, cipherSuites: [PSK_SUITE], psk: { identity: PSK_IDENTITY, key: PSK_KEY } };
  }
  return {
    ...base,
    cipherSuites: [ECDSA_SUITE],
    groups: [variant === 'x25519' ? 'x25519' : 'secp256r1'],
    fingerprint,
  };
}
