import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExtensionType } from '../../src/wire/constants.js';
import { DecodeError } from '../../src/wire/errors.js';
import {
  decodeAlpn,
  decodeEcPointFormats,
  decodeEmptyExtension,
  decodeExtensions,
  decodeRenegotiationInfo,
  decodeServerNameList,
  decodeSessionTicketExtension,
  decodeSignatureAlgorithms,
  decodeSupportedGroups,
  decodeSupportedVersionsClient,
  decodeSupportedVersionsServer,
  decodeUseSrtp,
  encodeAlpn,
  encodeEcPointFormats,
  encodeEmptyExtension,
  encodeExtensions,
  encodeRenegotiationInfo,
  encodeServerNameList,
  encodeSessionTicketExtension,
  encodeSignatureAlgorithms,
  encodeSupportedGroups,
  encodeSupportedVersionsClient,
  encodeSupportedVersionsServer,
  encodeUseSrtp,
  findExtension,
  hostNameOf,
} from '../../src/wire/extensions.js';
import { checkCodec, hex } from './decode-robustness.js';

// All vectors below are hand-built from the cited RFC structure definitions.

test('extension list: order and unknown extensions are kept raw (RFC 5246 §7.4.1.4)', () => {
  // extended_master_secret (empty), renegotiation_info (00), an unknown 0xfe00 with data abcd.
  const block = hex('000f 0017 0000 ff01 0001 00 fe00 0002 abcd');
  const exts = decodeExtensions(block);
  assert.deepEqual(
    exts.map((e) => [e.type, e.data.toString('hex')]),
    [
      [ExtensionType.extended_master_secret, ''],
      [ExtensionType.renegotiation_info, '00'],
      [0xfe00, 'abcd'],
    ],
  );
  assert.equal(findExtension(exts, 0xfe00)?.toString('hex'), 'abcd');
  assert.equal(findExtension(exts, ExtensionType.use_srtp), undefined);
  assert.equal(encodeExtensions(exts).toString('hex'), block.toString('hex'));
  assert.equal(encodeExtensions([]).toString('hex'), '0000');
  checkCodec({
    label: 'extensions',
    decode: decodeExtensions,
    encode: encodeExtensions,
    valid: [block],
    seed: 100,
  });
});

test('duplicate extensions are a decode error, and the encoder refuses them', () => {
  assert.throws(() => decodeExtensions(hex('0008 0017 0000 0017 0000')), DecodeError);
  assert.throws(() =>
    encodeExtensions([
      { type: 23, data: Buffer.alloc(0) },
      { type: 23, data: Buffer.alloc(0) },
    ]),
  );
  // declared data length runs past the list
  assert.throws(() => decodeExtensions(hex('0006 0017 0003 00')), DecodeError);
  // list length shorter than its content leaves trailing bytes
  assert.throws(() => decodeExtensions(hex('0004 0017 0000 ff01 0001 00')), DecodeError);
});

test('server_name (RFC 6066 §3)', () => {
  const v = hex('000e 00 000b 6578616d706c652e636f6d');
  const names = decodeServerNameList(v);
  assert.deepEqual(names, [{ nameType: 0, name: 'example.com' }]);
  assert.equal(hostNameOf(names), 'example.com');
  assert.equal(encodeServerNameList(names).toString('hex'), v.toString('hex'));
  assert.throws(() => decodeServerNameList(hex('0000')), DecodeError);
  assert.throws(() => decodeServerNameList(hex('0003 00 0000')), DecodeError, 'empty HostName');
  assert.throws(
    () => decodeServerNameList(Buffer.alloc(0)),
    DecodeError,
    'the ServerHello form is not a list',
  );
  assert.throws(() => encodeServerNameList([{ nameType: 0, name: 'caf\u20ac' }]), RangeError);
  checkCodec({
    label: 'server_name',
    decode: decodeServerNameList,
    encode: encodeServerNameList,
    valid: [v],
    seed: 101,
  });
});

test('supported_groups and signature_algorithms (u16 lists)', () => {
  const groups = hex('0008 11ec 001d 0017 0018');
  assert.deepEqual(decodeSupportedGroups(groups), [0x11ec, 29, 23, 24]);
  assert.equal(encodeSupportedGroups([0x11ec, 29, 23, 24]).toString('hex'), groups.toString('hex'));
  assert.throws(() => decodeSupportedGroups(hex('0003 001d 00')), DecodeError, 'odd length');
  assert.throws(() => decodeSupportedGroups(hex('0000')), DecodeError, 'empty list');
  checkCodec({
    label: 'groups',
    decode: decodeSupportedGroups,
    encode: encodeSupportedGroups,
    valid: [groups],
    seed: 102,
  });

  const sigs = hex('0006 0403 0804 0401');
  assert.deepEqual(decodeSignatureAlgorithms(sigs), [0x0403, 0x0804, 0x0401]);
  assert.throws(() => decodeSignatureAlgorithms(hex('0002 0403 00')), DecodeError, 'trailing byte');
  checkCodec({
    label: 'signature_algorithms',
    decode: decodeSignatureAlgorithms,
    encode: encodeSignatureAlgorithms,
    valid: [sigs],
    seed: 103,
  });
});

test('ec_point_formats (RFC 8422 §5.1.2)', () => {
  const v = hex('01 00');
  assert.deepEqual(decodeEcPointFormats(v), [0]);
  assert.equal(encodeEcPointFormats([0]).toString('hex'), '0100');
  assert.throws(() => decodeEcPointFormats(hex('00')), DecodeError);
  checkCodec({
    label: 'ec_point_formats',
    decode: decodeEcPointFormats,
    encode: encodeEcPointFormats,
    valid: [v],
    seed: 104,
  });
});

test('use_srtp (RFC 5764 §4.1.1)', () => {
  // SRTP_AEAD_AES_128_GCM (0x0007), SRTP_AES128_CM_HMAC_SHA1_80 (0x0001), empty MKI.
  const v = hex('0004 0007 0001 00');
  assert.deepEqual((({ profiles, mki }) => ({ profiles, mki: mki.toString('hex') }))(decodeUseSrtp(v)), {
    profiles: [7, 1],
    mki: '',
  });
  const withMki = hex('0002 0001 03 aabbcc');
  assert.equal(decodeUseSrtp(withMki).mki.toString('hex'), 'aabbcc');
  assert.equal(encodeUseSrtp({ profiles: [1], mki: hex('aabbcc') }).toString('hex'), withMki.toString('hex'));
  assert.throws(() => decodeUseSrtp(hex('0003 000100 00')), DecodeError, 'odd profile list');
  assert.throws(() => decodeUseSrtp(hex('0002 0001')), DecodeError, 'missing MKI');
  checkCodec({
    label: 'use_srtp',
    decode: decodeUseSrtp,
    encode: encodeUseSrtp,
    valid: [v, withMki],
    seed: 105,
  });
});

test('application_layer_protocol_negotiation (RFC 7301 §3.1)', () => {
  const v = hex('000c 02 6832 08 687474702f312e31');
  assert.deepEqual(decodeAlpn(v), ['h2', 'http/1.1']);
  assert.equal(encodeAlpn(['h2', 'http/1.1']).toString('hex'), v.toString('hex'));
  assert.throws(() => decodeAlpn(hex('0001 00')), DecodeError, 'empty name, short list');
  assert.throws(() => decodeAlpn(hex('0003 00 0161')), DecodeError, 'empty ProtocolName');
  checkCodec({ label: 'alpn', decode: decodeAlpn, encode: encodeAlpn, valid: [v], seed: 106 });
});

test('extended_master_secret, renegotiation_info, session_ticket', () => {
  decodeEmptyExtension(Buffer.alloc(0));
  assert.equal(encodeEmptyExtension().length, 0);
  assert.throws(() => decodeEmptyExtension(hex('00'), 'extended_master_secret'), DecodeError);

  // RFC 5746 §3.4: the initial handshake sends an empty renegotiated_connection, i.e. the single byte 00.
  assert.equal(encodeRenegotiationInfo().toString('hex'), '00');
  assert.equal(decodeRenegotiationInfo(hex('00')).length, 0);
  const reneg = hex('0c 000102030405060708090a0b');
  assert.equal(decodeRenegotiationInfo(reneg).toString('hex'), '000102030405060708090a0b');
  assert.throws(() => decodeRenegotiationInfo(Buffer.alloc(0)), DecodeError);
  checkCodec({
    label: 'renegotiation_info',
    decode: decodeRenegotiationInfo,
    encode: encodeRenegotiationInfo,
    valid: [reneg, hex('00')],
    seed: 107,
  });

  assert.equal(decodeSessionTicketExtension(Buffer.alloc(0)).length, 0);
  assert.equal(encodeSessionTicketExtension(hex('cafe')).toString('hex'), 'cafe');
  assert.equal(decodeSessionTicketExtension(hex('cafe')).toString('hex'), 'cafe');
});

test('supported_versions (RFC 8446 §4.2.1), both forms', () => {
  const client = hex('04 fefc fefd');
  assert.deepEqual(decodeSupportedVersionsClient(client), [0xfefc, 0xfefd]);
  assert.equal(encodeSupportedVersionsClient([0xfefc, 0xfefd]).toString('hex'), client.toString('hex'));
  assert.throws(() => decodeSupportedVersionsClient(hex('03 fefc fe')), DecodeError);
  assert.throws(() => decodeSupportedVersionsClient(hex('00')), DecodeError);
  checkCodec({
    label: 'supported_versions',
    decode: decodeSupportedVersionsClient,
    encode: encodeSupportedVersionsClient,
    valid: [client],
    seed: 108,
  });
  assert.equal(decodeSupportedVersionsServer(hex('fefd')), 0xfefd);
  assert.equal(encodeSupportedVersionsServer(0xfefc).toString('hex'), 'fefc');
  assert.throws(() => decodeSupportedVersionsServer(hex('fefdfe')), DecodeError);
});
