import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeCertificateRequest, encodeCertificateRequest } from '../../src/wire/certificate-request.js';
import { DecodeError } from '../../src/wire/errors.js';
import { checkCodec, checkPrefixesRejected, hex } from './decode-robustness.js';

// Hand-built from RFC 5246 §7.4.4: types ecdsa_sign (64) and rsa_sign (1); algorithms 0x0403, 0x0401;
// no CAs / one 5-byte DN.
const NO_CAS = hex('02 40 01 0004 0403 0401 0000');
const ONE_CA = hex('01 40 0002 0403 0007 0005 3003020101');

test('CertificateRequest decodes both shapes and rejects bad lists', () => {
  const a = decodeCertificateRequest(NO_CAS);
  assert.deepEqual(a.certificateTypes, [64, 1]);
  assert.deepEqual(a.signatureAlgorithms, [0x0403, 0x0401]);
  assert.deepEqual(a.certificateAuthorities, []);
  const b = decodeCertificateRequest(ONE_CA);
  assert.deepEqual(
    b.certificateAuthorities.map((d) => d.toString('hex')),
    ['3003020101'],
  );
  assert.throws(
    () => decodeCertificateRequest(hex('00 0002 0403 0000')),
    DecodeError,
    'no certificate types',
  );
  assert.throws(() => decodeCertificateRequest(hex('01 40 0003 040304 0000')), DecodeError, 'odd algorithms');
  assert.throws(() => decodeCertificateRequest(hex('01 40 0000 0000')), DecodeError, 'no algorithms');
  assert.throws(() => decodeCertificateRequest(hex('01 40 0002 0403 0002 0000')), DecodeError, 'empty DN');
  checkPrefixesRejected(decodeCertificateRequest, ONE_CA, 'CertificateRequest');
  checkCodec({
    label: 'CertificateRequest',
    decode: decodeCertificateRequest,
    encode: encodeCertificateRequest,
    valid: [NO_CAS, ONE_CA],
    seed: 700,
  });
});
