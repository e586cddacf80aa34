import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DecodeError } from '../../src/wire/errors.js';
import { decodeServerHello, encodeServerHello } from '../../src/wire/server-hello.js';
import { checkCodec, hex } from './decode-robustness.js';

// Hand-built from RFC 5246 §7.4.1.3: DTLS 1.2, random 20..3f, a 32-byte session id, suite 0xc02b,
// compression null, extensions extended_master_secret + renegotiation_info(00).
const RANDOM = Buffer.from(Array.from({ length: 32 }, (_, i) => 0x20 + i));
const SESSION = 'cd'.repeat(32);
const WITH_EXTENSIONS = hex(
  `fefd ${RANDOM.toString('hex')} 20 ${SESSION} c02b 00 0009 0017 0000 ff01 0001 00`,
);
const WITHOUT_EXTENSIONS = hex(`fefd ${RANDOM.toString('hex')} 00 c02f 00`);

test('decodes the hand-built ServerHello', () => {
  const sh = decodeServerHello(WITH_EXTENSIONS);
  assert.equal(sh.serverVersion, 0xfefd);
  assert.equal(sh.random.toString('hex'), RANDOM.toString('hex'));
  assert.equal(sh.sessionId.toString('hex'), SESSION);
  assert.equal(sh.cipherSuite, 0xc02b);
  assert.equal(sh.compressionMethod, 0);
  assert.deepEqual(
    sh.extensions?.map((e) => e.type),
    [0x17, 0xff01],
  );
  const bare = decodeServerHello(WITHOUT_EXTENSIONS);
  assert.equal(bare.extensions, undefined);
  assert.equal(bare.cipherSuite, 0xc02f);
});

test('violations are DecodeErrors; encoder checks lengths', () => {
  assert.throws(
    () => decodeServerHello(hex(`fefd ${RANDOM.toString('hex')} 21 ${'00'.repeat(33)} c02f 00`)),
    DecodeError,
  );
  assert.throws(() => decodeServerHello(hex(`fefd ${RANDOM.toString('hex')} 00 c02f 00 00`)), DecodeError);
  assert.throws(
    () => decodeServerHello(hex(`fefd ${RANDOM.toString('hex')} 00 c02f 00 0004 0017 0000 00`)),
    DecodeError,
  );
  const sh = decodeServerHello(WITHOUT_EXTENSIONS);
  assert.throws(() => encodeServerHello({ ...sh, random: Buffer.alloc(33) }), RangeError);
  assert.throws(() => encodeServerHello({ ...sh, sessionId: Buffer.alloc(33) }), RangeError);
});

test('round trip, prefixes and fuzz raise only DecodeError', () => {
  checkCodec({
    label: 'ServerHello',
    decode: decodeServerHello,
    encode: encodeServerHello,
    valid: [WITH_EXTENSIONS, WITHOUT_EXTENSIONS],
    seed: 300,
  });
});
