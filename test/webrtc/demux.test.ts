import assert from 'node:assert/strict';
import { test } from 'node:test';
import { classifyDatagram } from '../../src/webrtc/demux.js';

test('RFC 7983 §7: every first-byte value falls in the right range', () => {
  const expected = (b: number): string => {
    if (b <= 3) return 'stun';
    if (b >= 16 && b <= 19) return 'zrtp';
    if (b >= 20 && b <= 63) return 'dtls';
    if (b >= 64 && b <= 79) return 'turn-channel';
    if (b >= 128 && b <= 191) return 'rtp';
    return 'unknown';
  };
  for (let b = 0; b < 256; b++)
    assert.equal(classifyDatagram(Buffer.from([b, 0, 0, 0])), expected(b), `byte ${b}`);
});

test('range boundaries and real first bytes', () => {
  const table: [number, string][] = [
    [0x00, 'stun'], // Binding request 0x0001
    [0x01, 'stun'], // Binding success 0x0101
    [0x03, 'stun'],
    [0x04, 'unknown'],
    [0x0f, 'unknown'],
    [0x10, 'zrtp'],
    [0x13, 'zrtp'],
    [0x14, 'dtls'], // change_cipher_spec
    [0x15, 'dtls'], // alert
    [0x16, 'dtls'], // handshake
    [0x17, 'dtls'], // application_data
    [0x2f, 'dtls'], // DTLS 1.3 unified header 001xxxxx (RFC 9147 §4)
    [0x3f, 'dtls'],
    [0x40, 'turn-channel'], // channel 0x4000
    [0x4f, 'turn-channel'],
    [0x50, 'unknown'],
    [0x7f, 'unknown'],
    [0x80, 'rtp'], // RTP version 2, no padding/extension/CSRC
    [0x90, 'rtp'], // with header extension (Chromium's audio)
    [0xbf, 'rtp'],
    [0xc0, 'unknown'],
    [0xff, 'unknown'],
  ];
  for (const [b, kind] of table)
    assert.equal(classifyDatagram(Buffer.from([b])), kind, `0x${b.toString(16)}`);
});

test('an empty datagram is dropped', () => {
  assert.equal(classifyDatagram(Buffer.alloc(0)), 'unknown');
});

test('a subarray is classified by its own first byte', () => {
  const whole = Buffer.from([0x80, 0x16, 0x00]);
  assert.equal(classifyDatagram(whole.subarray(1)), 'dtls');
  assert.equal(classifyDatagram(whole.subarray(2)), 'stun');
});
