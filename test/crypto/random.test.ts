import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { seededRandom, systemRandom } from '../../src/crypto/random.js';

test('systemRandom returns the requested number of bytes, different each time', () => {
  const a = systemRandom(32);
  const b = systemRandom(32);
  assert.equal(a.length, 32);
  assert.equal(systemRandom(0).length, 0);
  assert.notDeepEqual(a, b);
});

test('seededRandom is deterministic per seed and differs across seeds', () => {
  assert.deepEqual(seededRandom(7)(100), seededRandom(7)(100));
  assert.deepEqual(seededRandom('abc')(40), seededRandom('abc')(40));
  assert.notDeepEqual(seededRandom(7)(32), seededRandom(8)(32));
  assert.notDeepEqual(seededRandom('a')(32), seededRandom('b')(32));
});

test('seededRandom is one continuous stream across calls and blocks', () => {
  const whole = seededRandom('stream')(100);
  const parts = seededRandom('stream');
  const pieces = Buffer.concat([parts(3), parts(0), parts(29), parts(1), parts(67)]);
  assert.deepEqual(pieces, whole);
  // Block 0 is SHA-256(seed || uint64 0), block 1 SHA-256(seed || uint64 1).
  const block = (i: number) =>
    createHash('sha256')
      .update('stream')
      .update(Buffer.from([0, 0, 0, 0, 0, 0, 0, i]))
      .digest();
  assert.deepEqual(whole.subarray(0, 32), block(0));
  assert.deepEqual(whole.subarray(32, 64), block(1));
});

test('seededRandom rejects a bad length', () => {
  assert.throws(() => seededRandom(1)(-1), RangeError);
  assert.throws(() => seededRandom(1)(1.5), RangeError);
});
