import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeCertificateVerify, encodeCertificateVerify } from '../../src/wire/certificate-verify.js';
import { DecodeError } from '../../src/wire/errors.js';
import { checkCodec, checkPrefixesRejected, hex } from './decode-robustness.js';

// Hand-built from RFC 5246 §4.7: rsa_pss_rsae_sha256 (0x0804), 4-byte signature.
const CV = hex('0804 0004 01020304');

test('CertificateVerify (DigitallySigned)', () => {
  const x = decodeCertificateVerify(CV);
  assert.equal(x.signatureScheme, 0x0804);
  assert.equal(x.signature.toString('hex'), '01020304');
  assert.equal(decodeCertificateVerify(hex('0403 0000')).signature.length, 0);
  assert.throws(() => decodeCertificateVerify(hex('0804 0004 010203')), DecodeError);
  assert.throws(() => decodeCertificateVerify(hex('0804 0004 0102030405')), DecodeError);
  checkPrefixesRejected(decodeCertificateVerify, CV, 'CertificateVerify');
  checkCodec({
    label: 'CertificateVerify',
    decode: decodeCertificateVerify,
    encode: encodeCertificateVerify,
    valid: [CV],
    seed: 1000,
  });
});
