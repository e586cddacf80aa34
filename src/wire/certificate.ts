import { Reader } from './reader.js';
import { Writer } from './writer.js';

/**
 * RFC 5246 §7.4.2:
 *
 *   opaque ASN.1Cert<1..2^24-1>;
 *   struct { ASN.1Cert certificate_list<0..2^24-1>; } Certificate;
 *
 * The sender's certificate comes first. An empty list is legal (a client with no certificate answers a
 * CertificateRequest that way, RFC 5246 §7.4.6). Certificates stay DER bytes (views into the input);
 * parsing them is the certificate layer's job.
 */
export interface Certificate {
  certificateList: Buffer[];
}

export function decodeCertificate(body: Uint8Array): Certificate {
  const r = new Reader(body);
  const list = r.sub(r.u24('certificate_list length'), 'certificate_list');
  r.expectEnd('Certificate');
  const certificateList: Buffer[] = [];
  // Each iteration consumes at least 4 bytes (a 3-byte length and a non-empty certificate) or throws.
  while (!list.atEnd()) certificateList.push(list.vec24('ASN.1Cert', 1));
  return { certificateList };
}

export function encodeCertificate(x: Certificate): Buffer {
  const w = new Writer(3 + x.certificateList.reduce((n, c) => n + 3 + c.length, 0));
  w.withLength(3, (inner) => {
    for (const c of x.certificateList) {
      if (c.length === 0) throw new RangeError('a certificate must not be empty');
      inner.vec24(c);
    }
  });
  return w.finish();
}
