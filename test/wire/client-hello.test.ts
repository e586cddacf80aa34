import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  decodeClientHello,
  encodeClientHello,
  replaceClientHelloCookie,
} from '../../src/wire/client-hello.js';
import { DecodeError } from '../../src/wire/errors.js';
import { checkCodec, checkPrefixesRejected, hex } from './decode-robustness.js';

// Hand-built from RFC 6347 §4.2.1.
const RANDOM = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
const HEAD = `fefd ${RANDOM.toString('hex')}`;
const SUITES_AND_COMPRESSION = '0004 c02b c02f 01 00';
/** Extensions: extended_master_secret (empty) then renegotiation_info (00). */
const EXTENSIONS = '0009 0017 0000 ff01 0001 00';
const FIRST = hex(`${HEAD} 00 00 ${SUITES_AND_COMPRESSION} ${EXTENSIONS}`);
const COOKIE = hex('000102030405060708090a0b0c0d0e0f10111213');
const SECOND = hex(`${HEAD} 00 14 ${COOKIE.toString('hex')} ${SUITES_AND_COMPRESSION} ${EXTENSIONS}`);
const NO_EXTENSIONS = hex(`${HEAD} 20 ${'ab'.repeat(32)} 00 ${SUITES_AND_COMPRESSION}`);
const EMPTY_EXTENSIONS = hex(`${HEAD} 00 00 ${SUITES_AND_COMPRESSION} 0000`);

test('decodes the hand-built ClientHello field by field', () => {
  const ch = decodeClientHello(FIRST);
  assert.equal(ch.clientVersion, 0xfefd);
  assert.equal(ch.random.toString('hex'), RANDOM.toString('hex'));
  assert.equal(ch.sessionId.length, 0);
  assert.equal(ch.cookie.length, 0);
  assert.deepEqual(ch.cipherSuites, [0xc02b, 0xc02f]);
  assert.deepEqual(ch.compressionMethods, [0]);
  assert.deepEqual(
    ch.extensions?.map((e) => [e.type, e.data.toString('hex')]),
    [
      [0x17, ''],
      [0xff01, '00'],
    ],
  );
});

test('absent and empty extension blocks stay distinct and re-encode exactly', () => {
  const absent = decodeClientHello(NO_EXTENSIONS);
  assert.equal(absent.extensions, undefined);
  assert.equal(absent.sessionId.length, 32);
  assert.equal(encodeClientHello(absent).toString('hex'), NO_EXTENSIONS.toString('hex'));
  const empty = decodeClientHello(EMPTY_EXTENSIONS);
  assert.deepEqual(empty.extensions, []);
  assert.equal(encodeClientHello(empty).toString('hex'), EMPTY_EXTENSIONS.toString('hex'));
});

test('the second ClientHello differs from the first only by the cookie (RFC 6347 §4.2.1)', () => {
  const first = decodeClientHello(FIRST);
  assert.equal(encodeClientHello({ ...first, cookie: COOKIE }).toString('hex'), SECOND.toString('hex'));
  assert.equal(replaceClientHelloCookie(FIRST, COOKIE).toString('hex'), SECOND.toString('hex'));
  assert.equal(replaceClientHelloCookie(SECOND, Buffer.alloc(0)).toString('hex'), FIRST.toString('hex'));
  assert.equal(decodeClientHello(SECOND).cookie.toString('hex'), COOKIE.toString('hex'));
});

test('structural violations are DecodeErrors', () => {
  const bad = {
    'odd cipher_suites length': `${HEAD} 00 00 0003 c02b c0 01 00`,
    'empty cipher_suites': `${HEAD} 00 00 0000 01 00`,
    'empty compression_methods': `${HEAD} 00 00 0002 c02b 00`,
    'session_id of 33 bytes': `${HEAD} 21 ${'00'.repeat(33)} 00 0002 c02b 01 00`,
    'trailing byte after extensions': `${HEAD} 00 00 ${SUITES_AND_COMPRESSION} ${EXTENSIONS} 00`,
    'a single byte where extensions would start': `${HEAD} 00 00 ${SUITES_AND_COMPRESSION} 00`,
    'duplicate extension': `${HEAD} 00 00 ${SUITES_AND_COMPRESSION} 0008 0017 0000 0017 0000`,
  };
  for (const [what, bytes] of Object.entries(bad))
    assert.throws(() => decodeClientHello(hex(bytes)), DecodeError, what);
});

test('encoder refuses values the decoder would reject', () => {
  const ch = decodeClientHello(FIRST);
  assert.throws(() => encodeClientHello({ ...ch, random: Buffer.alloc(31) }), RangeError);
  assert.throws(() => encodeClientHello({ ...ch, cookie: Buffer.alloc(256) }), RangeError);
  assert.throws(() => encodeClientHello({ ...ch, cipherSuites: [] }), RangeError);
  assert.throws(() => encodeClientHello({ ...ch, compressionMethods: [] }), RangeError);
});

test('round trip, prefixes and fuzz raise only DecodeError', () => {
  // A strict prefix of a message without extensions may be a valid message only at the end of
  // compression_methods, so check rejection on the extension-less form up to that point.
  checkPrefixesRejected(decodeClientHello, NO_EXTENSIONS, 'ClientHello');
  checkCodec({
    label: 'ClientHello',
    decode: decodeClientHello,
    encode: encodeClientHello,
    valid: [FIRST, SECOND, NO_EXTENSIONS, EMPTY_EXTENSIONS],
    seed: 200,
    maxRandomLength: 128,
  });
});
