import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DecodeError } from '../../src/wire/errors.js';
import {
  decodeEcdhePskServerKeyExchange,
  decodeEcdheServerKeyExchange,
  decodePskServerKeyExchange,
  encodeEcdhePskServerKeyExchange,
  encodeEcdheServerKeyExchange,
  encodePskServerKeyExchange,
  encodeServerEcdhParams,
} from '../../src/wire/server-key-exchange.js';
import { checkCodec, checkPrefixesRejected, hex } from './decode-robustness.js';

// Hand-built from RFC 8422 §5.4: curve_type named_curve (3), x25519 (0x001d), a 32-byte point, then a
// DigitallySigned with ecdsa_secp256r1_sha256 (0x0403) and a 4-byte "signature".
const POINT = 'ab'.repeat(32);
const PARAMS = `03 001d 20 ${POINT}`;
const ECDHE = hex(`${PARAMS} 0403 0004 01020304`);
// RFC 4279 §2: psk_identity_hint "hint".
const PSK = hex('0004 68696e74');
// RFC 5489 §2: hint "hint" then the same ServerECDHParams, no signature.
const ECDHE_PSK = hex(`0004 68696e74 ${PARAMS}`);

test('ECDHE form: params, their exact bytes, and the signature', () => {
  const x = decodeEcdheServerKeyExchange(ECDHE);
  assert.equal(x.params.namedCurve, 29);
  assert.equal(x.params.publicKey.toString('hex'), POINT);
  assert.equal(x.paramsBytes.toString('hex'), hex(PARAMS).toString('hex'));
  assert.equal(encodeServerEcdhParams(x.params).toString('hex'), hex(PARAMS).toString('hex'));
  assert.equal(x.signed.signatureScheme, 0x0403);
  assert.equal(x.signed.signature.toString('hex'), '01020304');
  // curve_type explicit_prime (1) is deprecated by RFC 8422 §5.4 and unsupported.
  assert.throws(() => decodeEcdheServerKeyExchange(hex(`01 001d 20 ${POINT} 0403 0000`)), DecodeError);
  assert.throws(() => decodeEcdheServerKeyExchange(hex('03 001d 00 0403 0000')), DecodeError, 'empty point');
  checkPrefixesRejected(decodeEcdheServerKeyExchange, ECDHE, 'ECDHE ServerKeyExchange');
  checkCodec({
    label: 'ECDHE ServerKeyExchange',
    decode: decodeEcdheServerKeyExchange,
    encode: encodeEcdheServerKeyExchange,
    valid: [ECDHE],
    seed: 600,
  });
});

test('PSK form (RFC 4279 §2)', () => {
  assert.equal(decodePskServerKeyExchange(PSK).identityHint.toString(), 'hint');
  assert.equal(decodePskServerKeyExchange(hex('0000')).identityHint.length, 0);
  assert.throws(() => decodePskServerKeyExchange(hex('0004 6869')), DecodeError);
  checkCodec({
    label: 'PSK ServerKeyExchange',
    decode: decodePskServerKeyExchange,
    encode: encodePskServerKeyExchange,
    valid: [PSK, hex('0000')],
    seed: 601,
  });
});

test('ECDHE_PSK form (RFC 5489 §2)', () => {
  const x = decodeEcdhePskServerKeyExchange(ECDHE_PSK);
  assert.equal(x.identityHint.toString(), 'hint');
  assert.equal(x.params.namedCurve, 29);
  assert.equal(x.params.publicKey.toString('hex'), POINT);
  assert.throws(
    () => decodeEcdhePskServerKeyExchange(hex(`${ECDHE_PSK.toString('hex')} 0403 0000`)),
    DecodeError,
  );
  checkPrefixesRejected(decodeEcdhePskServerKeyExchange, ECDHE_PSK, 'ECDHE_PSK ServerKeyExchange');
  checkCodec({
    label: 'ECDHE_PSK ServerKeyExchange',
    decode: decodeEcdhePskServerKeyExchange,
    encode: encodeEcdhePskServerKeyExchange,
    valid: [ECDHE_PSK],
    seed: 602,
  });
});
