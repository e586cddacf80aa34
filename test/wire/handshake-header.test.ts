import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DecodeError } from '../../src/wire/errors.js';
import {
  encodeHandshakeFragment,
  encodeHandshakeMessage,
  HANDSHAKE_HEADER_LENGTH,
  parseHandshakeFragments,
} from '../../src/wire/handshake-header.js';
import { checkPrefixes, fuzzDecoder, hex } from './decode-robustness.js';

// Hand-built from RFC 6347 §4.2.2: a ServerHelloDone (msg_type 14, empty body), message_seq 5,
// unfragmented: length 0, fragment_offset 0, fragment_length 0.
const SERVER_HELLO_DONE = hex('0e 000000 0005 000000 000000');
// Second fragment of a 10-byte Finished (20): offset 4, fragment_length 6, message_seq 7.
const FINISHED_TAIL = hex('14 00000a 0007 000004 000006 050607080900');

test('a single unfragmented message decodes', () => {
  assert.equal(HANDSHAKE_HEADER_LENGTH, 12);
  const [f, ...rest] = parseHandshakeFragments(SERVER_HELLO_DONE);
  assert.equal(rest.length, 0);
  assert.deepEqual(
    { ...f!, body: f!.body.toString('hex') },
    {
      msgType: 14,
      length: 0,
      messageSeq: 5,
      fragmentOffset: 0,
      fragmentLength: 0,
      body: '',
    },
  );
});

test('several fragments in one record decode in order and re-encode to the same bytes', () => {
  const record = Buffer.concat([SERVER_HELLO_DONE, FINISHED_TAIL]);
  const frags = parseHandshakeFragments(record);
  assert.equal(frags.length, 2);
  assert.deepEqual(
    frags.map((f) => [f.msgType, f.length, f.messageSeq, f.fragmentOffset, f.fragmentLength]),
    [
      [14, 0, 5, 0, 0],
      [20, 10, 7, 4, 6],
    ],
  );
  assert.equal(frags[1]!.body.toString('hex'), '050607080900');
  assert.equal(Buffer.concat(frags.map(encodeHandshakeFragment)).toString('hex'), record.toString('hex'));
});

test('encodeHandshakeMessage is the unfragmented form (RFC 6347 §4.2.6)', () => {
  const m = encodeHandshakeMessage(20, 3, hex('000102030405060708090a0b'));
  assert.equal(m.toString('hex'), `14 00000c 0003 000000 00000c 000102030405060708090a0b`.replace(/ /g, ''));
  assert.equal(
    encodeHandshakeMessage(14, 5, Buffer.alloc(0)).toString('hex'),
    SERVER_HELLO_DONE.toString('hex'),
  );
});

test('fragments outside the message or with a short body are rejected', () => {
  // offset 8 + fragment_length 6 > length 10
  assert.throws(() => parseHandshakeFragments(hex('14 00000a 0007 000008 000006 050607080900')), DecodeError);
  // fragment_length 6 but only 5 body bytes
  assert.throws(() => parseHandshakeFragments(hex('14 00000a 0007 000004 000006 0506070809')), DecodeError);
  // trailing bytes that are not a whole header
  assert.throws(() => parseHandshakeFragments(Buffer.concat([SERVER_HELLO_DONE, hex('0e00')])), DecodeError);
  assert.throws(() => parseHandshakeFragments(Buffer.alloc(0)), DecodeError);
  assert.throws(() =>
    encodeHandshakeFragment({ msgType: 1, length: 2, messageSeq: 0, fragmentOffset: 1, body: hex('0102') }),
  );
  assert.throws(() =>
    encodeHandshakeFragment({
      msgType: 1,
      length: 2,
      messageSeq: 0,
      fragmentOffset: 0,
      fragmentLength: 1,
      body: hex('0102'),
    }),
  );
});

test('prefixes and fuzz raise only DecodeError', () => {
  const record = Buffer.concat([FINISHED_TAIL, SERVER_HELLO_DONE]);
  checkPrefixes(parseHandshakeFragments, record, 'handshake fragments');
  const encode = (fs: ReturnType<typeof parseHandshakeFragments>) =>
    Buffer.concat(fs.map(encodeHandshakeFragment));
  fuzzDecoder({
    label: 'handshake fragments',
    decode: parseHandshakeFragments,
    encode,
    valid: [record],
    seed: 12,
  });
});
