import assert from 'node:assert/strict';
import { DecodeError } from '../../src/wire/errors.js';

/**
 * Shared checks that a decoder fails only with DecodeError on bad input: every prefix of a valid
 * encoding, random bytes, and random mutations of valid encodings. When a mutated input does decode and
 * an encoder is given, re-encoding must reproduce it exactly (the codecs are canonical).
 */

/** mulberry32: a tiny seeded PRNG so fuzz runs are reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function hex(s: string): Buffer {
  return Buffer.from(s.replace(/[\s:]/g, ''), 'hex');
}

type Decode<T> = (bytes: Buffer) => T;
type Encode<T> = (x: T) => Buffer;

/** Run decode; return the value, undefined on DecodeError, and fail the test on any other throw. */
export function decodeOrDecodeError<T>(decode: Decode<T>, input: Buffer, label: string): T | undefined {
  try {
    return decode(input);
  } catch (e) {
    if (e instanceof DecodeError) return undefined;
    assert.fail(`${label}: non-DecodeError on input ${input.toString('hex')}: ${String(e)}`);
  }
}

/** Every strict prefix must throw DecodeError or decode; the full encoding must decode. */
export function checkPrefixes<T>(decode: Decode<T>, valid: Buffer, label: string): void {
  for (let n = 0; n < valid.length; n++) {
    decodeOrDecodeError(decode, Buffer.from(valid.subarray(0, n)), `${label} prefix ${n}`);
  }
  assert.ok(decodeOrDecodeError(decode, valid, label) !== undefined, `${label}: full encoding must decode`);
}

/** Every strict prefix must be rejected (for messages where no prefix is itself a valid message). */
export function checkPrefixesRejected<T>(decode: Decode<T>, valid: Buffer, label: string): void {
  for (let n = 0; n < valid.length; n++) {
    assert.throws(() => decode(Buffer.from(valid.subarray(0, n))), DecodeError, `${label} prefix ${n}`);
  }
}

function mutate(rand: () => number, seed: Buffer): Buffer {
  const b = Buffer.from(seed);
  const kind = Math.floor(rand() * 4);
  if (kind === 0 && b.length > 0) {
    // flip a few bytes
    const flips = 1 + Math.floor(rand() * 3);
    for (let i = 0; i < flips; i++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
    return b;
  }
  if (kind === 1) return b.subarray(0, Math.floor(rand() * (b.length + 1)));
  if (kind === 2) {
    const extra = Buffer.alloc(1 + Math.floor(rand() * 8), Math.floor(rand() * 256));
    const at = Math.floor(rand() * (b.length + 1));
    return Buffer.concat([b.subarray(0, at), extra, b.subarray(at)]);
  }
  // set one byte to a boundary value: the likeliest way to hit a length field's edge
  if (b.length > 0)
    b[Math.floor(rand() * b.length)] = [0, 1, 0x7f, 0x80, 0xfe, 0xff][Math.floor(rand() * 6)]!;
  return b;
}

export interface FuzzOptions<T> {
  label: string;
  decode: Decode<T>;
  encode?: Encode<T>;
  valid: Buffer[];
  seed: number;
  iterations?: number;
  maxRandomLength?: number;
}

/** Random bytes and mutated valid encodings, `iterations` of each. Returns how many decoded. */
export function fuzzDecoder<T>(o: FuzzOptions<T>): number {
  const rand = seededRandom(o.seed);
  const iterations = o.iterations ?? 2000;
  const maxLength = o.maxRandomLength ?? 96;
  let decoded = 0;
  const check = (input: Buffer) => {
    const value = decodeOrDecodeError(o.decode, input, o.label);
    if (value === undefined) return;
    decoded++;
    if (o.encode) {
      assert.equal(o.encode(value).toString('hex'), input.toString('hex'), `${o.label}: not canonical`);
    }
  };
  for (let i = 0; i < iterations; i++) {
    const input = Buffer.alloc(Math.floor(rand() * (maxLength + 1)));
    for (let j = 0; j < input.length; j++) input[j] = Math.floor(rand() * 256);
    check(input);
  }
  for (let i = 0; i < iterations; i++) check(mutate(rand, o.valid[i % o.valid.length]!));
  return decoded;
}

/** The usual full battery for one codec: round trip, prefixes, fuzz. */
export function checkCodec<T>(o: FuzzOptions<T> & { encode: Encode<T> }): void {
  for (const v of o.valid) {
    assert.equal(o.encode(o.decode(v)).toString('hex'), v.toString('hex'), `${o.label}: round trip`);
    checkPrefixes(o.decode, v, o.label);
  }
  fuzzDecoder(o);
}
