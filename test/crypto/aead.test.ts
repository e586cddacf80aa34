import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { createRecordCipher } from '../../src/crypto/aead.js';
import { CIPHER_SUITES, type CipherSuite, suiteById } from '../../src/crypto/suites.js';
import { ContentType, ProtocolVersion } from '../../src/wire/constants.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const DTLS12 = ProtocolVersion.DTLS1_2;
const APP = ContentType.application_data;

/** The 13-byte additional data of RFC 6347 §4.1.2.1, built by hand. */
function aadFor(epoch: number, seq: number, type: number, version: number, length: number): Buffer {
  const aad = Buffer.alloc(13);
  aad.writeUInt16BE(epoch, 0);
  aad.writeUIntBE(seq, 2, 6);
  aad[8] = type;
  aad.writeUInt16BE(version, 9);
  aad.writeUInt16BE(length, 11);
  return aad;
}

function keysFor(suite: CipherSuite) {
  return { key: randomBytes(suite.keyLength), iv: randomBytes(suite.fixedIvLength) };
}

// RFC 3610 §8 packet vectors: AES-128 key C0..CF, 13-byte nonce, 8-byte header as AAD, M = 8 (the
// CCM_8 tag length). Driven through node:crypto exactly as aead.ts drives CCM.
const RFC3610 = [
  {
    name: 'Packet Vector #1',
    nonce: '00000003020100a0a1a2a3a4a5',
    packet: '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e',
    output: '0001020304050607 588c979a61c663d2f066d0c2c0f989806d5f6b61dac384 17e8d12cfdf926e0',
  },
  {
    name: 'Packet Vector #2',
    nonce: '00000004030201a0a1a2a3a4a5',
    packet: '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f',
    output: '0001020304050607 72c91a36e135f8cf291ca894085c87e3cc15c439c9e43a3b a091d56e10400916',
  },
];

for (const v of RFC3610) {
  test(`AES-128-CCM (M=8) RFC 3610 ${v.name} through the node:crypto CCM call path`, () => {
    const key = hex('c0c1c2c3c4c5c6c7c8c9cacbcccdcecf');
    const packet = hex(v.packet);
    const aad = packet.subarray(0, 8);
    const plaintext = packet.subarray(8);
    const expected = hex(v.output);
    const cipher = createCipheriv('aes-128-ccm', key, hex(v.nonce), { authTagLength: 8 });
    cipher.setAAD(aad, { plaintextLength: plaintext.length });
    const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    assert.deepEqual(Buffer.concat([aad, ct, cipher.getAuthTag()]), expected);

    const decipher = createDecipheriv('aes-128-ccm', key, hex(v.nonce), { authTagLength: 8 });
    decipher.setAuthTag(expected.subarray(expected.length - 8));
    decipher.setAAD(aad, { plaintextLength: plaintext.length });
    assert.deepEqual(decipher.update(ct), plaintext);
  });
}

test('AES-128-GCM McGrew-Viega test case 4 through the node:crypto GCM call path', () => {
  const cipher = createCipheriv(
    'aes-128-gcm',
    hex('feffe9928665731c6d6a8f9467308308'),
    hex('cafebabefacedbaddecaf888'),
    {
      authTagLength: 16,
    },
  );
  cipher.setAAD(hex('feedfacedeadbeeffeedfacedeadbeefabaddad2'), { plaintextLength: 60 });
  const ct = Buffer.concat([
    cipher.update(
      hex(
        'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72' +
          '1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39',
      ),
    ),
    cipher.final(),
  ]);
  assert.equal(
    ct.toString('hex'),
    '42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e' +
      '21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091',
  );
  assert.equal(cipher.getAuthTag().toString('hex'), '5bc94fbc3221a5db94fae95ae7121a47');
});

test('ChaCha20-Poly1305 RFC 8439 §2.8.2 AEAD vector through the node:crypto call path', () => {
  const key = hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f');
  const plaintext = Buffer.from(
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
  );
  const cipher = createCipheriv('chacha20-poly1305', key, hex('070000004041424344454647'), {
    authTagLength: 16,
  });
  cipher.setAAD(hex('50515253c0c1c2c3c4c5c6c7'), { plaintextLength: plaintext.length });
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  assert.equal(
    ct.toString('hex'),
    'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b' +
      '1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc' +
      '3ff4def08e4b7a9de576d26586cec64b6116',
  );
  assert.equal(cipher.getAuthTag().toString('hex'), '1ae10b594f09e26a7e902ecbd0600691');
});

test('GCM and CCM records carry epoch || seq as explicit nonce; nonce = salt || explicit (RFC 5288, RFC 6655)', () => {
  for (const id of [0xc02b, 0xc02c, 0xc0ac, 0xc0ae, 0xc0a8, 0xc0a9]) {
    const suite = suiteById(id)!;
    const { key, iv } = keysFor(suite);
    const epoch = 0x0102;
    const seq = 0x030405060708;
    const plaintext = Buffer.from(`record for ${suite.name}`);
    const sealed = createRecordCipher(suite, key, iv).seal(epoch, seq, APP, DTLS12, plaintext);
    assert.equal(sealed.length, 8 + plaintext.length + suite.tagLength, suite.name);
    assert.deepEqual(sealed.subarray(0, 8), hex('0102 030405060708'), suite.name);

    const algorithm = suite.aead.startsWith('aes-128') ? 'aes-128-' : 'aes-256-';
    const mode = suite.aead.includes('ccm') ? 'ccm' : 'gcm';
    const nonce = Buffer.concat([iv, hex('0102030405060708')]);
    const decipher = createDecipheriv(`${algorithm}${mode}` as 'aes-128-ccm', key, nonce, {
      authTagLength: suite.tagLength,
    });
    decipher.setAuthTag(sealed.subarray(sealed.length - suite.tagLength));
    decipher.setAAD(aadFor(epoch, seq, APP, DTLS12, plaintext.length), { plaintextLength: plaintext.length });
    const opened = Buffer.concat([
      decipher.update(sealed.subarray(8, sealed.length - suite.tagLength)),
      decipher.final(),
    ]);
    assert.deepEqual(opened, plaintext, suite.name);
  }
});

test('ChaCha20-Poly1305 nonce is fixed IV XOR (0^32 || epoch || seq) and there is no explicit nonce (RFC 7905 §2)', () => {
  const suite = suiteById(0xcca9)!;
  const key = randomBytes(32);
  const iv = hex('a0a1a2a3 a4a5a6a7a8a9aaab');
  const sealed = createRecordCipher(suite, key, iv).seal(
    3,
    0x0000deadbeef,
    APP,
    DTLS12,
    Buffer.from('chacha'),
  );
  assert.equal(sealed.length, 6 + 16);
  // a4a5 ^ 0003 = a4a6; a6a7a8a9aaab ^ 0000deadbeef = a6a776041444.
  const nonce = hex('a0a1a2a3 a4a6 a6a776041444');
  const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  decipher.setAuthTag(sealed.subarray(6));
  decipher.setAAD(aadFor(3, 0x0000deadbeef, APP, DTLS12, 6), { plaintextLength: 6 });
  assert.equal(
    Buffer.concat([decipher.update(sealed.subarray(0, 6)), decipher.final()]).toString(),
    'chacha',
  );
});

test('every suite round-trips records of many sizes; overhead is explicit nonce + tag', () => {
  for (const suite of CIPHER_SUITES) {
    const { key, iv } = keysFor(suite);
    const sender = createRecordCipher(suite, key, iv);
    const receiver = createRecordCipher(suite, key, iv);
    assert.equal(sender.overhead, suite.recordIvLength + suite.tagLength, suite.name);
    for (const [i, size] of [0, 1, 15, 16, 17, 255, 1400, 16384].entries()) {
      const plaintext = randomBytes(size);
      const sealed = sender.seal(1, i, APP, DTLS12, plaintext);
      assert.equal(sealed.length, size + sender.overhead, suite.name);
      assert.deepEqual(receiver.open(1, i, APP, DTLS12, sealed), plaintext, `${suite.name} size ${size}`);
    }
    // The largest epoch and sequence number fit.
    const top = sender.seal(0xffff, 2 ** 48 - 1, APP, DTLS12, Buffer.from('top'));
    assert.equal(receiver.open(0xffff, 2 ** 48 - 1, APP, DTLS12, top)?.toString(), 'top', suite.name);
  }
});

test('open() returns null for tampering, a wrong header field, or a short fragment', () => {
  for (const id of [0xc02b, 0xcca9, 0xc0ac, 0xc0ae]) {
    const suite = suiteById(id)!;
    const { key, iv } = keysFor(suite);
    const rc = createRecordCipher(suite, key, iv);
    const plaintext = Buffer.from('attack at dawn, bring snacks');
    const sealed = rc.seal(2, 77, APP, DTLS12, plaintext);
    assert.deepEqual(rc.open(2, 77, APP, DTLS12, sealed), plaintext);

    const flipped = (at: number) => {
      const copy = Buffer.from(sealed);
      copy[at]! ^= 0x01;
      return copy;
    };
    const ivLen = suite.recordIvLength;
    if (ivLen > 0)
      assert.equal(rc.open(2, 77, APP, DTLS12, flipped(3)), null, `${suite.name} explicit nonce`);
    assert.equal(rc.open(2, 77, APP, DTLS12, flipped(ivLen + 2)), null, `${suite.name} ciphertext`);
    assert.equal(rc.open(2, 77, APP, DTLS12, flipped(sealed.length - 1)), null, `${suite.name} tag`);
    assert.equal(rc.open(3, 77, APP, DTLS12, sealed), null, `${suite.name} epoch`);
    assert.equal(rc.open(2, 78, APP, DTLS12, sealed), null, `${suite.name} seq`);
    assert.equal(rc.open(2, 77, ContentType.handshake, DTLS12, sealed), null, `${suite.name} type`);
    assert.equal(rc.open(2, 77, APP, ProtocolVersion.DTLS1_0, sealed), null, `${suite.name} version`);
    assert.equal(
      rc.open(2, 77, APP, DTLS12, sealed.subarray(0, sealed.length - 1)),
      null,
      `${suite.name} truncated`,
    );
    assert.equal(
      rc.open(2, 77, APP, DTLS12, Buffer.concat([sealed, hex('00')])),
      null,
      `${suite.name} extended`,
    );
    assert.equal(
      rc.open(2, 77, APP, DTLS12, sealed.subarray(0, rc.overhead - 1)),
      null,
      `${suite.name} short`,
    );
    assert.equal(rc.open(2, 77, APP, DTLS12, new Uint8Array(0)), null, `${suite.name} empty`);
    // A fragment of exactly `overhead` bytes is a possibly valid empty record, but this one is garbage.
    assert.equal(rc.open(2, 77, APP, DTLS12, new Uint8Array(rc.overhead)), null, `${suite.name} zeros`);
    // A different key never opens the record.
    const other = createRecordCipher(suite, randomBytes(suite.keyLength), iv);
    assert.equal(other.open(2, 77, APP, DTLS12, sealed), null, `${suite.name} key`);
  }
});

test('a cipher can be used for many records (scratch buffers do not leak between records)', () => {
  const suite = suiteById(0xc0ae)!;
  const { key, iv } = keysFor(suite);
  const tx = createRecordCipher(suite, key, iv);
  const rx = createRecordCipher(suite, key, iv);
  const sealed = [0, 1, 2].map((seq) => tx.seal(1, seq, APP, DTLS12, Buffer.from(`msg ${seq}`)));
  // Opened out of order, interleaved with a failure.
  assert.equal(rx.open(1, 2, APP, DTLS12, sealed[2]!)?.toString(), 'msg 2');
  assert.equal(rx.open(1, 1, APP, DTLS12, sealed[0]!), null);
  assert.equal(rx.open(1, 0, APP, DTLS12, sealed[0]!)?.toString(), 'msg 0');
  assert.equal(rx.open(1, 1, APP, DTLS12, sealed[1]!)?.toString(), 'msg 1');
});

test('createRecordCipher rejects keys and IVs of the wrong length', () => {
  const suite = suiteById(0xc02b)!;
  const isInvalid = (e: Error & { code?: string }) => e.code === 'invalid_argument';
  assert.throws(() => createRecordCipher(suite, randomBytes(32), randomBytes(4)), isInvalid);
  assert.throws(() => createRecordCipher(suite, randomBytes(16), randomBytes(12)), isInvalid);
});

test('seal with headerRoom leaves the room free and writes the same fragment after it', () => {
  for (const suite of CIPHER_SUITES) {
    const key = Buffer.alloc(suite.keyLength, 7);
    const iv = Buffer.alloc(suite.fixedIvLength, 9);
    const plain = Buffer.from('the record layer writes its header in front');
    const plainSeal = createRecordCipher(suite, key, iv).seal(1, 42, 23, 0xfefd, plain);
    const roomy = createRecordCipher(suite, key, iv).seal(1, 42, 23, 0xfefd, plain, 13);
    assert.equal(roomy.length, plainSeal.length + 13, suite.name);
    assert.deepEqual(roomy.subarray(13), plainSeal, suite.name);
  }
});

test('sealGathered gives the same fragment as seal, in parts: room + explicit nonce, ciphertext, tag', () => {
  for (const suite of CIPHER_SUITES) {
    const key = Buffer.alloc(suite.keyLength, 3);
    const iv = Buffer.alloc(suite.fixedIvLength, 5);
    for (const size of [0, 1, 100, 1200, 16384]) {
      const plain = randomBytes(size);
      const whole = createRecordCipher(suite, key, iv).seal(2, 7 + size, APP, DTLS12, plain, 13);
      const cipher = createRecordCipher(suite, key, iv);
      const parts = cipher.sealGathered(2, 7 + size, APP, DTLS12, plain, 13);
      const what = `${suite.name} ${size} B`;
      assert.equal(parts[0]!.length, 13 + suite.recordIvLength, what);
      assert.equal(parts.at(-1)!.length, suite.tagLength, what);
      const joined = Buffer.concat(parts);
      // The room is the caller's to fill; everything after it is the sealed fragment, byte for byte.
      assert.deepEqual(joined.subarray(13), whole.subarray(13), what);
      assert.deepEqual(cipher.open(2, 7 + size, APP, DTLS12, joined.subarray(13)), plain, what);
    }
  }
});
