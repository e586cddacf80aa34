import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DecodeError } from '../../src/wire/errors.js';
import { decodeServerHelloDone, encodeServerHelloDone } from '../../src/wire/server-hello-done.js';
import { fuzzDecoder } from './decode-robustness.js';

test('ServerHelloDone is empty (RFC 5246 §7.4.5)', () => {
  assert.deepEqual(decodeServerHelloDone(Buffer.alloc(0)), {});
  assert.equal(encodeServerHelloDone().length, 0);
  assert.throws(() => decodeServerHelloDone(Buffer.of(0)), DecodeError);
  const decoded = fuzzDecoder({
    label: 'ServerHelloDone',
    decode: decodeServerHelloDone,
    encode: encodeServerHelloDone,
    valid: [Buffer.alloc(0)],
    seed: 800,
  });
  assert.ok(decoded > 0, 'the empty inputs of the fuzz decode');
});
