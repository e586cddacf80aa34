import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeCertificate, encodeCertificate } from '../../src/wire/certificate.js';
import { DecodeError } from '../../src/wire/errors.js';
import { checkCodec, checkPrefixesRejected, hex } from './decode-robustness.js';

// Hand-built from RFC 5246 §7.4.2: a list of two "certificates" (aabbcc, ddee): 3+3 + 3+2 = 11 bytes.
const TWO = hex('00000b 000003 aabbcc 000002 ddee');

test('Certificate decodes a list, an empty list, and rejects empty entries', () => {
  assert.deepEqual(
    decodeCertificate(TWO).certificateList.map((c) => c.toString('hex')),
    ['aabbcc', 'ddee'],
  );
  assert.deepEqual(decodeCertificate(hex('000000')).certificateList, []);
  assert.equal(encodeCertificate({ certificateList: [] }).toString('hex'), '000000');
  assert.throws(() => decodeCertificate(hex('000003 000000')), DecodeError, 'empty ASN.1Cert');
  assert.throws(() => decodeCertificate(hex('000006 000004 aabbcc')), DecodeError, 'entry overruns list');
  assert.throws(() => decodeCertificate(hex('000005 000003 aabbcc')), DecodeError, 'list longer than body');
  assert.throws(() => decodeCertificate(hex('000000 00')), DecodeError, 'trailing byte');
  assert.throws(() => encodeCertificate({ certificateList: [Buffer.alloc(0)] }), RangeError);
  checkPrefixesRejected(decodeCertificate, TWO, 'Certificate');
  checkCodec({
    label: 'Certificate',
    decode: decodeCertificate,
    encode: encodeCertificate,
    valid: [TWO],
    seed: 500,
  });
});
