import { DecodeError } from './errors.js';
import { Reader } from './reader.js';
import { Writer } from './writer.js';

/**
 * RFC 5246 §7.4.4:
 *
 *   struct {
 *     ClientCertificateType certificate_types<1..2^8-1>;
 *     SignatureAndHashAlgorithm supported_signature_algorithms<2..2^16-2>;   // bounds from §7.4.1.4.1
 *     DistinguishedName certificate_authorities<0..2^16-1>;
 *   } CertificateRequest;
 *   opaque DistinguishedName<1..2^16-1>;   // DER
 */
export interface CertificateRequest {
  certificateTypes: number[];
  signatureAlgorithms: number[];
  certificateAuthorities: Buffer[];
}

/** ClientCertificateType values (RFC 5246 §7.4.4, RFC 8422 §5.5). */
export const ClientCertificateType = {
  rsa_sign: 1,
  ecdsa_sign: 64,
} as const;

export function decodeCertificateRequest(body: Uint8Array): CertificateRequest {
  const r = new Reader(body);
  const certificateTypes = [...r.vec8('certificate_types', 1)];
  const algs = r.vec16('supported_signature_algorithms', 2, 0xfffe);
  if (algs.length % 2 !== 0)
    throw new DecodeError(`supported_signature_algorithms: odd length ${algs.length}`);
  const ar = new Reader(algs);
  const signatureAlgorithms: number[] = [];
  while (!ar.atEnd()) signatureAlgorithms.push(ar.u16('SignatureAndHashAlgorithm'));
  const cas = r.sub(r.u16('certificate_authorities length'), 'certificate_authorities');
  r.expectEnd('CertificateRequest');
  const certificateAuthorities: Buffer[] = [];
  while (!cas.atEnd()) certificateAuthorities.push(cas.vec16('DistinguishedName', 1));
  return { certificateTypes, signatureAlgorithms, certificateAuthorities };
}

export function encodeCertificateRequest(x: CertificateRequest): Buffer {
  if (x.certificateTypes.length === 0) throw new RangeError('certificate_types must not be empty');
  if (x.signatureAlgorithms.length === 0)
    throw new RangeError('supported_signature_algorithms must not be empty');
  const w = new Writer();
  w.vec8(Uint8Array.from(x.certificateTypes));
  w.withLength(2, (inner) => {
    for (const a of x.signatureAlgorithms) inner.u16(a);
  });
  w.withLength(2, (inner) => {
    for (const dn of x.certificateAuthorities) {
      if (dn.length === 0) throw new RangeError('a DistinguishedName must not be empty');
      inner.vec16(dn);
    }
  });
  return w.finish();
}
