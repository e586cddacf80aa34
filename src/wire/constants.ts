/** Record content types (RFC 5246 §6.2.1, RFC 6347 §4.1). */
export const ContentType = {
  change_cipher_spec: 20,
  alert: 21,
  handshake: 22,
  application_data: 23,
  /** RFC 9147 §7: DTLS 1.3 ACK; recognised so a 1.3 peer's ACK is dropped, not misread. */
  ack: 26,
} as const;
export type ContentType = (typeof ContentType)[keyof typeof ContentType];

/** Protocol versions on the wire: DTLS uses the one's complement of the TLS version (RFC 6347 §4.1). */
export const ProtocolVersion = {
  DTLS1_0: 0xfeff,
  DTLS1_2: 0xfefd,
  DTLS1_3: 0xfefc,
} as const;

/** Handshake message types (RFC 5246 §7.4, RFC 6347 §4.3.2, RFC 5077 §3.3). */
export const HandshakeType = {
  hello_request: 0,
  client_hello: 1,
  server_hello: 2,
  hello_verify_request: 3,
  new_session_ticket: 4,
  certificate: 11,
  server_key_exchange: 12,
  certificate_request: 13,
  server_hello_done: 14,
  certificate_verify: 15,
  client_key_exchange: 16,
  finished: 20,
} as const;
export type HandshakeType = (typeof HandshakeType)[keyof typeof HandshakeType];

const HANDSHAKE_TYPE_NAMES = new Map<number, string>(Object.entries(HandshakeType).map(([k, v]) => [v, k]));

export function handshakeTypeName(t: number): string {
  return HANDSHAKE_TYPE_NAMES.get(t) ?? `unknown(${t})`;
}

/** Extension code points (IANA TLS ExtensionType registry). */
export const ExtensionType = {
  server_name: 0,
  supported_groups: 10,
  ec_point_formats: 11,
  signature_algorithms: 13,
  use_srtp: 14,
  application_layer_protocol_negotiation: 16,
  encrypt_then_mac: 22,
  extended_master_secret: 23,
  session_ticket: 35,
  pre_shared_key: 41,
  supported_versions: 43,
  cookie: 44,
  psk_key_exchange_modes: 45,
  key_share: 51,
  renegotiation_info: 0xff01,
} as const;

export function extensionTypeName(t: number): string {
  for (const [k, v] of Object.entries(ExtensionType)) if (v === t) return k;
  return `unknown(${t})`;
}

/** Named groups (RFC 8422 §5.1.1, RFC 7919, IANA). */
export const NamedGroup = {
  secp256r1: 23,
  secp384r1: 24,
  secp521r1: 25,
  x25519: 29,
  x448: 30,
  X25519MLKEM768: 0x11ec,
} as const;
export type NamedGroupName = 'secp256r1' | 'secp384r1' | 'x25519';

/** Signature schemes (RFC 8446 §4.2.3 code points, also used by TLS 1.2 signature_algorithms). */
export const SignatureScheme = {
  rsa_pkcs1_sha256: 0x0401,
  rsa_pkcs1_sha384: 0x0501,
  ecdsa_secp256r1_sha256: 0x0403,
  ecdsa_secp384r1_sha384: 0x0503,
  rsa_pss_rsae_sha256: 0x0804,
  rsa_pss_rsae_sha384: 0x0805,
  ed25519: 0x0807,
} as const;
export type SignatureSchemeName = keyof typeof SignatureScheme;

export function signatureSchemeName(v: number): string {
  for (const [k, c] of Object.entries(SignatureScheme)) if (c === v) return k;
  return `0x${v.toString(16).padStart(4, '0')}`;
}

/** Renegotiation SCSV (RFC 5746 §3.3). */
export const TLS_EMPTY_RENEGOTIATION_INFO_SCSV = 0x00ff;
/** Fallback SCSV (RFC 7507). */
export const TLS_FALLBACK_SCSV = 0x5600;
