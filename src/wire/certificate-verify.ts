import { Reader } from './reader.js';
import { Writer } from './writer.js';

/**
 * RFC 5246 §7.4.8: `struct { digitally-signed struct { opaque handshake_messages[...]; } }
 * CertificateVerify;` On the wire a TLS 1.2 digitally-signed element is (RFC 5246 §4.7):
 *
 *   struct {
 *     SignatureAndHashAlgorithm algorithm;   // u16, the RFC 8446 SignatureScheme code point
 *     opaque signature<0..2^16-1>;
 *   } DigitallySigned;
 */
export interface DigitallySigned {
  signatureScheme: number;
  signature: Buffer;
}

export type CertificateVerify = DigitallySigned;

export function readDigitallySigned(r: Reader): DigitallySigned {
  const signatureScheme = r.u16('signature algorithm');
  const signature = r.vec16('signature');
  return { signatureScheme, signature };
}

export function writeDigitallySigned(w: Writer, x: DigitallySigned): void {
  w.u16(x.signatureScheme).vec16(x.signature);
}

export function decodeCertificateVerify(body: Uint8Array): CertificateVerify {
  const r = new Reader(body);
  const out = readDigitallySigned(r);
  r.expectEnd('CertificateVerify');
  return out;
}

export function encodeCertificateVerify(x: CertificateVerify): Buffer {
  const w = new Writer(4 + x.signature.length);
  writeDigitallySigned(w, x);
  return w.finish();
}
