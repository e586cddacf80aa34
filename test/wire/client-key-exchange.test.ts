import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodeEcdheClientKeyExchange,
  decodeEcdhePskClientKeyExchange,
  decodePskClientKeyExchange,
  encodeEcdheClientKeyExchange,
  encodeEcdhePskClientKeyExchange,
  encodePskClientKeyExchange,
} from '../../src/wire/client-key-exchange.js';
import { DecodeError } from '../../src/wire/errors.js';
import { checkCodec, checkPrefixesRejected, hex } from './decode-robustness.js';

// Hand-built: RFC 8422 §5.7 ECPoint<1..255>; RFC 4279 §2 psk_identity<0..2^16-1>; RFC 5489 §2 both.
const POINT = '04'.repeat(65);
const ECDHE = hex(`41 ${POINT}`);
const PSK = hex('0008 636c69656e743031');
const ECDHE_PSK = hex(`0008 636c69656e743031 41 ${POINT}`);

test('ECDHE ClientKeyExchange', () => {
  assert.equal(decodeEcdheClientKeyExchange(ECDHE).publicKey.toString('hex'), POINT);
  assert.throws(() => decodeEcdheClientKeyExchange(hex('00')), DecodeError, 'implicit (empty) point');
  assert.throws(() => decodeEcdheClientKeyExchange(hex(`${ECDHE.toString('hex')}00`)), DecodeError);
  assert.throws(() => encodeEcdheClientKeyExchange({ publicKey: Buffer.alloc(0) }), RangeError);
  checkPrefixesRejected(decodeEcdheClientKeyExchange, ECDHE, 'ECDHE CKE');
  checkCodec({
    label: 'ECDHE CKE',
    decode: decodeEcdheClientKeyExchange,
    encode: encodeEcdheClientKeyExchange,
    valid: [ECDHE],
    seed: 900,
  });
});

test('PSK ClientKeyExchange', () => {
  assert.equal(decodePskClientKeyExchange(PSK).identity.toString(), 'client01');
  assert.equal(decodePskClientKeyExchange(hex('0000')).identity.length, 0);
  checkPrefixesRejected(decodePskClientKeyExchange, PSK, 'PSK CKE');
  checkCodec({
    label: 'PSK CKE',
    decode: decodePskClientKeyExchange,
    encode: encodePskClientKeyExchange,
    valid: [PSK],
    seed: 901,
  });
});

test('ECDHE_PSK ClientKeyExchange', () => {
  const x = decodeEcdhePskClientKeyExchange(ECDHE_PSK);
  assert.equal(x.identity.toString(), 'client01');
  assert.equal(x.publicKey.toString('hex'), POINT);
  assert.throws(() => decodeEcdhePskClientKeyExchange(PSK), DecodeError, 'point missing');
  checkPrefixesRejected(decodeEcdhePskClientKeyExchange, ECDHE_PSK, 'ECDHE_PSK CKE');
  checkCodec({
    label: 'ECDHE_PSK CKE',
    decode: decodeEcdhePskClientKeyExchange,
    encode: encodeEcdhePskClientKeyExchange,
    valid: [ECDHE_PSK],
    seed: 902,
  });
});
