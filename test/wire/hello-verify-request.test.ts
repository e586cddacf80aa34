import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DecodeError } from '../../src/wire/errors.js';
import { decodeHelloVerifyRequest, encodeHelloVerifyRequest } from '../../src/wire/hello-verify-request.js';
import { checkCodec, checkPrefixesRejected, hex } from './decode-robustness.js';

// Hand-built from RFC 6347 §4.2.1: server_version DTLS 1.0 (the RFC's SHOULD), a 4-byte cookie.
const HVR = hex('feff 04 deadbeef');

test('HelloVerifyRequest decodes, encodes and rejects bad lengths', () => {
  const v = decodeHelloVerifyRequest(HVR);
  assert.equal(v.serverVersion, 0xfeff);
  assert.equal(v.cookie.toString('hex'), 'deadbeef');
  assert.equal(
    encodeHelloVerifyRequest({ serverVersion: 0xfefd, cookie: Buffer.alloc(0) }).toString('hex'),
    'fefd00',
  );
  assert.throws(() => decodeHelloVerifyRequest(hex('feff 04 deadbeef 00')), DecodeError);
  assert.throws(() => decodeHelloVerifyRequest(hex('feff 05 deadbeef')), DecodeError);
  assert.throws(
    () => encodeHelloVerifyRequest({ serverVersion: 0xfeff, cookie: Buffer.alloc(256) }),
    RangeError,
  );
  checkPrefixesRejected(decodeHelloVerifyRequest, HVR, 'HelloVerifyRequest');
  checkCodec({
    label: 'HelloVerifyRequest',
    decode: decodeHelloVerifyRequest,
    encode: encodeHelloVerifyRequest,
    valid: [HVR, hex('fefd 00')],
    seed: 400,
  });
});
