import { DecodeError } from './errors.js';
import { Reader } from './reader.js';

/** Alert levels (RFC 5246 §7.2). */
export const AlertLevel = { warning: 1, fatal: 2 } as const;

/** Alert descriptions (RFC 5246 §7.2, RFC 4279 §2, RFC 7301 §3.2, RFC 8446 §6). */
export const AlertDescription = {
  close_notify: 0,
  unexpected_message: 10,
  bad_record_mac: 20,
  record_overflow: 22,
  handshake_failure: 40,
  bad_certificate: 42,
  unsupported_certificate: 43,
  certificate_revoked: 44,
  certificate_expired: 45,
  certificate_unknown: 46,
  illegal_parameter: 47,
  unknown_ca: 48,
  access_denied: 49,
  decode_error: 50,
  decrypt_error: 51,
  protocol_version: 70,
  insufficient_security: 71,
  internal_error: 80,
  inappropriate_fallback: 86,
  user_canceled: 90,
  no_renegotiation: 100,
  unsupported_extension: 110,
  unrecognized_name: 112,
  unknown_psk_identity: 115,
  no_application_protocol: 120,
} as const;
export type AlertName = keyof typeof AlertDescription;

export function alertName(code: number): string {
  for (const [k, v] of Object.entries(AlertDescription)) if (v === code) return k;
  return `alert_${code}`;
}

export interface Alert {
  level: number;
  description: number;
}

export function decodeAlert(body: Uint8Array): Alert {
  const r = new Reader(body);
  const level = r.u8('alert level');
  const description = r.u8('alert description');
  r.expectEnd('alert');
  if (level !== AlertLevel.warning && level !== AlertLevel.fatal)
    throw new DecodeError(`alert level ${level}`);
  return { level, description };
}

export function encodeAlert(a: Alert): Buffer {
  return Buffer.from([a.level, a.description]);
}
