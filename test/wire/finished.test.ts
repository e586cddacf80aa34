import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DecodeError } from '../../src/wire/errors.js';
import { decodeFinished, encodeFinished, VERIFY_DATA_LENGTH } from '../../src/wire/finished.js';
import { checkCodec, checkPrefixesRejected, hex } from './decode-robustness.js';

// RFC 5246 §7.4.9: verify_data is 12 bytes in TLS 1.2.
const FIN = hex('000102030405060708090a0b');

test('Finished carries exactly 12 bytes of verify_data', () => {
  assert.equal(VERIFY_DATA_LENGTH, 12);
  assert.equal(decodeFinished(FIN).verifyData.toString('hex'), FIN.toString('hex'));
  assert.throws(() => decodeFinished(hex(`${FIN.toString('hex')}00`)), DecodeError);
  assert.throws(() => decodeFinished(Buffer.alloc(0)), DecodeError);
  checkPrefixesRejected(decodeFinished, FIN, 'Finished');
  checkCodec({
    label: 'Finished',
    decode: (b) => decodeFinished(b),
    encode: encodeFinished,
    valid: [FIN],
    seed: 1100,
  });
});
