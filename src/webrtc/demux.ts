/**
 * What one datagram on a WebRTC 5-tuple carries. STUN, DTLS, SRTP/SRTCP (and TURN channel data, ZRTP)
 * share a single UDP port, and the first byte alone tells them apart (RFC 7983 §7, updating RFC 5764 §5.1.2).
 */
export type DatagramKind = 'stun' | 'zrtp' | 'dtls' | 'turn-channel' | 'rtp' | 'unknown';

/**
 * Classify a received datagram by its first byte, following the ranges of RFC 7983 §7:
 *
 * ```
 *   [0..3]     -> STUN         (the two top bits of a STUN message type are zero, RFC 8489 §5)
 *   [16..19]   -> ZRTP
 *   [20..63]   -> DTLS         (content types 20-25 and the DTLS 1.3 unified header, RFC 9147 §4)
 *   [64..79]   -> TURN Channel (channel numbers 0x4000-0x4FFF, RFC 8656 §12)
 *   [128..191] -> RTP/RTCP     (version 2 in the top two bits, RFC 3550 §5.1)
 *   else       -> drop
 * ```
 *
 * An empty datagram has no first byte and is 'unknown' (to be dropped).
 */
export function classifyDatagram(buf: Uint8Array): DatagramKind {
  if (buf.length === 0) return 'unknown';
  const b = buf[0]!;
  if (b <= 3) return 'stun';
  if (b >= 16 && b <= 19) return 'zrtp';
  if (b >= 20 && b <= 63) return 'dtls';
  if (b >= 64 && b <= 79) return 'turn-channel';
  if (b >= 128 && b <= 191) return 'rtp';
  return 'unknown';
}
