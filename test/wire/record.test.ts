import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DecodeError } from '../../src/wire/errors.js';
import {
  decodeDatagramStrict,
  decodeRecordHeader,
  encodeRecord,
  isDtls13UnifiedHeader,
  MAX_RECORD_FRAGMENT_LENGTH,
  parseDatagram,
  RECORD_HEADER_LENGTH,
  writeRecordHeader,
} from '../../src/wire/record.js';
import { hex, seededRandom } from './decode-robustness.js';

// Hand-built from RFC 6347 §4.1: type=handshake(22), version=DTLS 1.2 (254,253), epoch=0,
// sequence_number=1 (48 bits), length=3, fragment 01 02 03.
const HANDSHAKE_RECORD = hex('16 fefd 0000 000000000001 0003 010203');
// type=application_data(23), epoch=1, sequence_number=0x0102_0304_0506, length=2.
const APP_RECORD = hex('17 fefd 0001 010203040506 0002 aabb');

test('record header decodes field by field', () => {
  assert.equal(RECORD_HEADER_LENGTH, 13);
  assert.deepEqual(decodeRecordHeader(HANDSHAKE_RECORD), {
    type: 22,
    version: 0xfefd,
    epoch: 0,
    sequenceNumber: 1,
    length: 3,
  });
  assert.equal(decodeRecordHeader(APP_RECORD).sequenceNumber, 0x0102_0304_0506);
  assert.throws(() => decodeRecordHeader(HANDSHAKE_RECORD.subarray(0, 12)), DecodeError);
});

test('encodeRecord produces the hand-built bytes', () => {
  const r = encodeRecord({ type: 22, version: 0xfefd, epoch: 0, sequenceNumber: 1 }, hex('010203'));
  assert.equal(r.toString('hex'), HANDSHAKE_RECORD.toString('hex'));
  const a = encodeRecord(
    { type: 23, version: 0xfefd, epoch: 1, sequenceNumber: 0x0102_0304_0506 },
    hex('aabb'),
  );
  assert.equal(a.toString('hex'), APP_RECORD.toString('hex'));
});

test('the full 48-bit sequence number range round-trips and beyond it is refused', () => {
  const max = 2 ** 48 - 1;
  const r = encodeRecord({ type: 23, version: 0xfefd, epoch: 0xffff, sequenceNumber: max }, Buffer.alloc(0));
  assert.equal(r.subarray(3, 11).toString('hex'), 'ffffffffffffffff');
  assert.equal(decodeRecordHeader(r).sequenceNumber, max);
  assert.throws(() =>
    encodeRecord({ type: 23, version: 0xfefd, epoch: 0, sequenceNumber: max + 1 }, Buffer.alloc(0)),
  );
  assert.throws(() =>
    encodeRecord({ type: 23, version: 0xfefd, epoch: 0x10000, sequenceNumber: 0 }, Buffer.alloc(0)),
  );
});

test('writeRecordHeader packs a header in place at an offset', () => {
  const buf = Buffer.alloc(2 + 13 + 3, 0xee);
  const next = writeRecordHeader(buf, 2, {
    type: 22,
    version: 0xfefd,
    epoch: 0,
    sequenceNumber: 1,
    length: 3,
  });
  assert.equal(next, 15);
  hex('010203').copy(buf, next);
  assert.equal(buf.subarray(2).toString('hex'), HANDSHAKE_RECORD.toString('hex'));
  assert.equal(buf.readUInt16BE(0), 0xeeee, 'bytes before the offset untouched');
  assert.throws(() => writeRecordHeader(Buffer.alloc(12), 0, { ...decodeRecordHeader(HANDSHAKE_RECORD) }));
});

test('parseDatagram splits several records (RFC 6347 §4.1.1)', () => {
  const datagram = Buffer.concat([HANDSHAKE_RECORD, APP_RECORD]);
  const { records, malformed } = parseDatagram(datagram);
  assert.equal(malformed, 0);
  assert.equal(records.length, 2);
  assert.equal(records[0]!.type, 22);
  assert.equal(records[0]!.fragment.toString('hex'), '010203');
  assert.equal(records[0]!.raw.toString('hex'), HANDSHAKE_RECORD.toString('hex'));
  assert.equal(records[1]!.epoch, 1);
  assert.equal(records[1]!.fragment.toString('hex'), 'aabb');
  assert.equal(records[1]!.raw.toString('hex'), APP_RECORD.toString('hex'));
  assert.deepEqual(parseDatagram(Buffer.alloc(0)), { records: [], malformed: 0 });
  assert.equal(decodeDatagramStrict(datagram).length, 2);
});

test('a record longer than the rest of the datagram stops parsing and counts as malformed', () => {
  const overlong = hex('16 fefd 0000 000000000002 0100 0102');
  const { records, malformed } = parseDatagram(Buffer.concat([HANDSHAKE_RECORD, overlong, APP_RECORD]));
  assert.equal(records.length, 1);
  assert.equal(malformed, 1);
  assert.throws(() => decodeDatagramStrict(overlong), DecodeError);
});

test('a trailing partial header counts as malformed', () => {
  const r = parseDatagram(Buffer.concat([HANDSHAKE_RECORD, hex('16fefd00')]));
  assert.equal(r.records.length, 1);
  assert.equal(r.malformed, 1);
});

test('length above 2^14+2048 is malformed even if the bytes are there; exactly that is accepted', () => {
  const limit = MAX_RECORD_FRAGMENT_LENGTH;
  assert.equal(limit, 18432);
  const header = (len: number) => hex(`17 fefd 0001 000000000005 ${len.toString(16).padStart(4, '0')}`);
  const ok = parseDatagram(Buffer.concat([header(limit), Buffer.alloc(limit)]));
  assert.deepEqual([ok.records.length, ok.malformed], [1, 0]);
  const tooLong = parseDatagram(Buffer.concat([header(limit + 1), Buffer.alloc(limit + 1)]));
  assert.deepEqual([tooLong.records.length, tooLong.malformed], [0, 1]);
});

test('a DTLS 1.3 unified header (0b001xxxxx, RFC 9147 §4) skips the rest of the datagram', () => {
  assert.equal(isDtls13UnifiedHeader(0x2c), true);
  assert.equal(isDtls13UnifiedHeader(0x3f), true);
  assert.equal(isDtls13UnifiedHeader(0x20), true);
  for (const t of [20, 21, 22, 23, 26, 0x40, 0x1f]) assert.equal(isDtls13UnifiedHeader(t), false);
  // 0x2c = fixed bits 001, C=0, S=1 (16-bit seq), L=1 (length present), epoch bits 00.
  const unified = hex('2c 0001 0004 deadbeef');
  const r = parseDatagram(Buffer.concat([HANDSHAKE_RECORD, unified, APP_RECORD]));
  assert.equal(r.records.length, 1);
  assert.equal(r.malformed, 1);
});

test('parseDatagram never throws on random input and its records tile a prefix of the datagram', () => {
  const rand = seededRandom(0x5eed_0001);
  for (let i = 0; i < 2000; i++) {
    const parts: Buffer[] = [];
    const count = Math.floor(rand() * 4);
    for (let k = 0; k < count; k++) {
      const frag = Buffer.alloc(Math.floor(rand() * 40), k);
      parts.push(encodeRecord({ type: 20 + k, version: 0xfefd, epoch: k, sequenceNumber: i }, frag));
    }
    const junk = Buffer.alloc(Math.floor(rand() * 30));
    for (let j = 0; j < junk.length; j++) junk[j] = Math.floor(rand() * 256);
    const datagram = Buffer.concat([...parts, junk]);
    if (rand() < 0.3 && datagram.length > 0)
      datagram[Math.floor(rand() * datagram.length)] = Math.floor(rand() * 256);
    const { records, malformed } = parseDatagram(datagram);
    const consumed = Buffer.concat(records.map((r) => r.raw));
    assert.equal(consumed.toString('hex'), datagram.subarray(0, consumed.length).toString('hex'));
    assert.ok(malformed === 0 || malformed === 1);
    assert.equal(malformed === 0, consumed.length === datagram.length);
  }
});
