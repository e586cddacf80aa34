/**
 * Raised by every decoder when bytes do not form a valid structure. The record layer turns it into a
 * silent drop (RFC 6347 §4.1.2.7); the handshake layer turns it into a decode_error alert.
 */
export class DecodeError extends Error {
  override name = 'DecodeError';
}
