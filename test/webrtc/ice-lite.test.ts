import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IceLiteResponder, isLoopbackAddress } from '../../src/webrtc/ice-lite.js';
import {
  crc32,
  crc32Portable,
  decodeStunMessage,
  decodeXorMappedAddress,
  encodeStunMessage,
  encodeXorMappedAddress,
  findStunAttribute,
  StunAttribute,
  StunMessageType,
  verifyFingerprint,
  verifyMessageIntegrity,
} from '../../src/webrtc/stun.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// RFC 5769 (Test Vectors for STUN, April 2010), §2.1-2.3, as printed there. The short-term password of
// all three is "VOkJxbRl1RmTxUk/WvJxBt"; SOFTWARE and USERNAME are padded with 0x20 on purpose.
const RFC5769_PASSWORD = 'VOkJxbRl1RmTxUk/WvJxBt';
const RFC5769_TXID = hex('b7 e7 a7 01 bc 34 d6 86 fa 87 df ae');
const RFC5769_REQUEST = hex(`
  00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74
  00 24 00 04 6e 00 01 ff
  80 29 00 08 93 2f f9 b1 51 26 3b 36
  00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20
  00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2
  80 28 00 04 e5 7a 3b cf`);
const RFC5769_IPV4_RESPONSE = hex(`
  01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
  00 20 00 08 00 01 a1 47 e1 12 a6 43
  00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
  80 28 00 04 c0 7d 4c 96`);
const RFC5769_IPV6_RESPONSE = hex(`
  01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
  80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
  00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
  00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41
  80 28 00 04 c8 fb 0b 4c`);

test('CRC-32: the standard check value of "123456789" is 0xCBF43926, native and table-driven', () => {
  const check = Buffer.from('123456789');
  assert.equal(crc32(check), 0xcbf43926);
  assert.equal(crc32Portable(check), 0xcbf43926);
  const random = Buffer.from(Array.from({ length: 300 }, (_, i) => (i * 37 + 11) & 0xff));
  assert.equal(crc32Portable(random), crc32(random));
});

test('RFC 5769 §2.1 sample request: MESSAGE-INTEGRITY and FINGERPRINT verify, tampering does not', () => {
  const msg = decodeStunMessage(RFC5769_REQUEST);
  assert.equal(msg.type, StunMessageType.bindingRequest);
  assert.deepEqual(msg.transactionId, RFC5769_TXID);
  assert.equal(findStunAttribute(msg, StunAttribute.USERNAME)?.value.toString(), 'evtj:h6vY');
  assert.equal(findStunAttribute(msg, StunAttribute.SOFTWARE)?.value.toString(), 'STUN test client');
  assert.equal(verifyMessageIntegrity(msg, RFC5769_PASSWORD), true);
  assert.equal(verifyFingerprint(msg), true);
  assert.equal(verifyMessageIntegrity(msg, 'VOkJxbRl1RmTxUk/WvJxBu'), false);

  const tampered = Buffer.from(RFC5769_REQUEST);
  tampered[30] ^= 1; // inside PRIORITY
  const t = decodeStunMessage(tampered);
  assert.equal(verifyMessageIntegrity(t, RFC5769_PASSWORD), false);
  assert.equal(verifyFingerprint(t), false);
});

test('RFC 5769 §2.1: our encoder rebuilds the sample request byte for byte', () => {
  const built = encodeStunMessage(
    StunMessageType.bindingRequest,
    RFC5769_TXID,
    [
      { type: StunAttribute.SOFTWARE, value: Buffer.from('STUN test client') },
      { type: StunAttribute.PRIORITY, value: hex('6e 00 01 ff') },
      { type: StunAttribute.ICE_CONTROLLED, value: hex('93 2f f9 b1 51 26 3b 36') },
      { type: StunAttribute.USERNAME, value: Buffer.from('evtj:h6vY') },
    ],
    { integrityKey: RFC5769_PASSWORD, fingerprint: true, paddingByte: 0x20 },
  );
  assert.equal(built.toString('hex'), RFC5769_REQUEST.toString('hex'));
});

test('RFC 5769 §2.2 and §2.3: the sample IPv4 and IPv6 responses, decoded and rebuilt exactly', () => {
  const cases: [Buffer, string][] = [
    [RFC5769_IPV4_RESPONSE, '192.0.2.1'],
    [RFC5769_IPV6_RESPONSE, '2001:db8:1234:5678:11:2233:4455:6677'],
  ];
  for (const [bytes, address] of cases) {
    const msg = decodeStunMessage(bytes);
    assert.equal(msg.type, StunMessageType.bindingSuccess);
    assert.equal(verifyMessageIntegrity(msg, RFC5769_PASSWORD), true);
    assert.equal(verifyFingerprint(msg), true);
    const xma = findStunAttribute(msg, StunAttribute.XOR_MAPPED_ADDRESS)!;
    assert.deepEqual(decodeXorMappedAddress(xma.value, msg.transactionId), { address, port: 32853 });
    const built = encodeStunMessage(
      StunMessageType.bindingSuccess,
      RFC5769_TXID,
      [
        { type: StunAttribute.SOFTWARE, value: Buffer.from('test vector') },
        {
          type: StunAttribute.XOR_MAPPED_ADDRESS,
          value: encodeXorMappedAddress({ address, port: 32853 }, RFC5769_TXID),
        },
      ],
      { integrityKey: RFC5769_PASSWORD, fingerprint: true, paddingByte: 0x20 },
    );
    assert.equal(built.toString('hex'), bytes.toString('hex'), address);
  }
});

test('the responder answers the RFC 5769 request with an authenticated XOR-MAPPED-ADDRESS', () => {
  const responder = new IceLiteResponder({
    localUfrag: 'evtj',
    localPassword: RFC5769_PASSWORD,
    remoteUfrag: 'h6vY',
  });
  const v = responder.handle(RFC5769_REQUEST, { address: '192.0.2.1', port: 32853 });
  assert.equal(v.kind, 'answered');
  if (v.kind !== 'answered') return;
  assert.equal(v.request.username, 'evtj:h6vY');
  assert.equal(v.request.priority, 0x6e0001ff);
  assert.equal(v.request.controlling, false);
  assert.equal(v.request.useCandidate, false);
  const res = decodeStunMessage(v.response);
  assert.equal(res.type, StunMessageType.bindingSuccess);
  assert.deepEqual(res.transactionId, RFC5769_TXID);
  assert.equal(verifyMessageIntegrity(res, RFC5769_PASSWORD), true);
  assert.equal(verifyFingerprint(res), true);
  // The same attributes as the RFC's sample response, without SOFTWARE: the XOR-MAPPED-ADDRESS bytes match.
  const xma = findStunAttribute(res, StunAttribute.XOR_MAPPED_ADDRESS)!;
  assert.equal(xma.value.toString('hex'), '0001a147e112a643');
  // MESSAGE-INTEGRITY then FINGERPRINT, in that order, at the end (RFC 8489 §14.5).
  assert.deepEqual(
    res.attributes.map((a) => a.type),
    [StunAttribute.XOR_MAPPED_ADDRESS, StunAttribute.MESSAGE_INTEGRITY, StunAttribute.FINGERPRINT],
  );
});

/** A Binding request as a browser's ICE agent sends it (RFC 8445 §7.2.2). */
function check(opts: {
  username: string;
  password: string;
  useCandidate?: boolean;
  fingerprint?: boolean;
  type?: number;
  txid?: Buffer;
}): Buffer {
  const attrs = [
    { type: StunAttribute.USERNAME, value: Buffer.from(opts.username) },
    { type: 0xc057, value: hex('00 01 00 0a') }, // GOOG-NETWORK-INFO: comprehension-optional, ignored
    { type: StunAttribute.ICE_CONTROLLING, value: hex('01 02 03 04 05 06 07 08') },
    { type: StunAttribute.PRIORITY, value: hex('6e 7f 1e ff') },
  ];
  if (opts.useCandidate) attrs.push({ type: StunAttribute.USE_CANDIDATE, value: Buffer.alloc(0) });
  return encodeStunMessage(
    opts.type ?? StunMessageType.bindingRequest,
    opts.txid ?? Buffer.alloc(12, 7),
    attrs,
    {
      integrityKey: opts.password,
      fingerprint: opts.fingerprint ?? true,
    },
  );
}

test('hand-built checks: IPv4 and IPv6 sources, nomination, consent checks keep being answered', () => {
  const responder = new IceLiteResponder({ localUfrag: 'srvU', localPassword: 'server-password-0123456789' });
  const from6 = { address: '::1', port: 50000 };
  for (let i = 0; i < 3; i++) {
    const txid = Buffer.alloc(12, i + 1);
    const v = responder.handle(
      check({ username: 'srvU:brws', password: 'server-password-0123456789', useCandidate: i === 0, txid }),
      from6,
    );
    assert.equal(v.kind, 'answered', `check ${i}`);
    if (v.kind !== 'answered') return;
    assert.equal(v.request.useCandidate, i === 0);
    assert.equal(v.request.controlling, true);
    const res = decodeStunMessage(v.response);
    assert.deepEqual(res.transactionId, txid);
    const xma = findStunAttribute(res, StunAttribute.XOR_MAPPED_ADDRESS)!;
    assert.equal(xma.value.length, 20);
    assert.deepEqual(decodeXorMappedAddress(xma.value, txid), { address: '0:0:0:0:0:0:0:1', port: 50000 });
    assert.equal(verifyMessageIntegrity(res, 'server-password-0123456789'), true);
  }
  const v4 = responder.handle(check({ username: 'srvU:brws', password: 'server-password-0123456789' }), {
    address: '127.0.0.1',
    port: 40000,
  });
  assert.equal(v4.kind, 'answered');
});

test('everything but an authenticated Binding request for our ufrag is ignored', () => {
  const responder = new IceLiteResponder({
    localUfrag: 'srvU',
    localPassword: 'pw-pw-pw-pw-pw-pw-pw-pw',
    remoteUfrag: 'brws',
  });
  const from = { address: '127.0.0.1', port: 1 };
  const good = check({ username: 'srvU:brws', password: 'pw-pw-pw-pw-pw-pw-pw-pw' });
  assert.equal(responder.handle(good, from).kind, 'answered');
  const cases: [string, Buffer][] = [
    ['wrong password', check({ username: 'srvU:brws', password: 'not-the-password-at-all' })],
    ['another local ufrag', check({ username: 'othr:brws', password: 'pw-pw-pw-pw-pw-pw-pw-pw' })],
    ['another remote ufrag', check({ username: 'srvU:evil', password: 'pw-pw-pw-pw-pw-pw-pw-pw' })],
    [
      'no FINGERPRINT',
      check({ username: 'srvU:brws', password: 'pw-pw-pw-pw-pw-pw-pw-pw', fingerprint: false }),
    ],
    [
      'an indication',
      check({
        username: 'srvU:brws',
        password: 'pw-pw-pw-pw-pw-pw-pw-pw',
        type: StunMessageType.bindingIndication,
      }),
    ],
    ['a success response', RFC5769_IPV4_RESPONSE],
    ['truncated', good.subarray(0, good.length - 4)],
    ['DTLS bytes', hex('16 fe fd 00 00 00 00 00 00 00 00 00 01')],
    ['empty', Buffer.alloc(0)],
  ];
  for (const [name, bytes] of cases) assert.equal(responder.handle(bytes, from).kind, 'ignored', name);
  const corrupt = Buffer.from(good);
  corrupt[4] ^= 0xff; // magic cookie
  assert.equal(responder.handle(corrupt, from).kind, 'ignored');
});

test('decoder bounds: lengths that disagree with the datagram are DecodeErrors', () => {
  const bad = Buffer.from(RFC5769_REQUEST);
  bad.writeUInt16BE(0x5c, 2);
  assert.throws(() => decodeStunMessage(bad), { name: 'DecodeError' });
  const overrun = Buffer.from(RFC5769_REQUEST);
  overrun.writeUInt16BE(0x00ff, 22); // SOFTWARE length past the end
  assert.throws(() => decodeStunMessage(overrun), { name: 'DecodeError' });
});

test('loopback filter', () => {
  assert.equal(isLoopbackAddress('127.0.0.1'), true);
  assert.equal(isLoopbackAddress('127.5.6.7'), true);
  assert.equal(isLoopbackAddress('::1'), true);
  assert.equal(isLoopbackAddress('192.0.2.2'), false);
  assert.equal(isLoopbackAddress('fd00::2'), false);
});
