import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { test } from 'node:test';
import {
  computeExtendedMasterSecret,
  computeMasterSecret,
  computeVerifyData,
  expandKeys,
  exportKeyingMaterial,
  prf,
  pskPremasterSecret,
  transcriptHash,
} from '../../src/crypto/prf.js';
import { suiteById } from '../../src/crypto/suites.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// The TLS 1.2 PRF test vectors posted to the IETF TLS list (msg03416), as used by BearSSL's test_crypto.c,
// the Go and Java tests and many others.
test('PRF SHA-256 matches the IETF TLS list test vector', () => {
  const out = prf(
    'sha256',
    hex('9bbe436ba940f017b17652849a71db35'),
    'test label',
    hex('a0ba9f936cda311827a6f796ffd5198c'),
    100,
  );
  assert.equal(
    out.toString('hex'),
    'e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a' +
      '6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab' +
      '4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff701' +
      '87347b66',
  );
});

test('PRF SHA-384 matches the IETF TLS list test vector', () => {
  const out = prf(
    'sha384',
    hex('b80b733d6ceefcdc71566ea48e5567df'),
    'test label',
    hex('cd665cf6a8447dd6ff8b27555edb7465'),
    148,
  );
  assert.equal(
    out.toString('hex'),
    '7b0c18e9ced410ed1804f2cfa34a336a1c14dffb4900bb5fd7942107e81c83cd' +
      'e9ca0faa60be9fe34f82b1233c9146a0e534cb400fed2700884f9dc236f80edd' +
      '8bfa961144c9e8d792eca722a7b32fc3d416d473ebc2c5fd4abfdad05d918425' +
      '9b5bf8cd4d90fa0d31e2dec479e4f1a26066f2eea9a69236a3e52655c9e9aee6' +
      '91c8f3a26854308d5eaa3be85e0990703d73e56f',
  );
});

test('PRF output is a prefix-consistent stream and honours any length', () => {
  const secret = hex('0102');
  const long = prf('sha256', secret, 'x', hex('03'), 70);
  for (const n of [0, 1, 31, 32, 33, 64, 65])
    assert.deepEqual(prf('sha256', secret, 'x', hex('03'), n), long.subarray(0, n));
  // First block by hand from RFC 5246 §5: HMAC(secret, A(1) || label || seed), A(1) = HMAC(secret, label || seed).
  const labelSeed = Buffer.concat([Buffer.from('x'), hex('03')]);
  const a1 = createHmac('sha256', secret).update(labelSeed).digest();
  assert.deepEqual(long.subarray(0, 32), createHmac('sha256', secret).update(a1).update(labelSeed).digest());
});

// The worked TLS 1.2 connection of https://tls12.xargs.org ("The Illustrated TLS 1.2 Connection"):
// X25519 premaster secret, client random 00..1f, server random 70..8f, SHA-256 PRF.
const XARGS = {
  preMaster: hex('df4a291baa1eb7cfa6934b29b474baad2697e29f1f920dcc77c8a0a088447624'),
  clientRandom: hex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'),
  serverRandom: hex('707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f'),
  masterSecret: hex(
    '916abf9da55973e13614ae0a3f5d3f37b023ba129aee02cc9134338127cd7049781c8e19fc1eb2a7387ac06ae237344c',
  ),
  // key_block in order: client MAC key (20), server MAC key (20), client key (16), server key (16), client IV
  // (16), server IV (16) for TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA; i.e. the first 104 bytes of
  // PRF(master_secret, "key expansion", server_random + client_random).
  keyBlock: hex(
    '1b7d117c7d5f690bc263cae8ef60af0f1878acc2 2ad8bdd8c601a617126f63540eb20906f781fad2' +
      'f656d037b173ef3e11169f27231a84b6 752a18e7a9fcb7cbcdd8f98dd8f769eb' +
      'a0d2550c9238eebfef5c32251abb67d6 434528db4937d540d393135e06a11bb8',
  ),
  // SHA-256 of ClientHello..ClientKeyExchange, and the client's verify_data.
  handshakeHash: hex('061dda04b3c2217ff73bd79b9cf88a2bb6ec505404aac8722db03ef417b54cb4'),
  clientVerifyData: hex('cf919626f1360c536aaad73a'),
};

test('master secret matches the tls12.xargs.org connection', () => {
  const ms = computeMasterSecret('sha256', XARGS.preMaster, XARGS.clientRandom, XARGS.serverRandom);
  assert.equal(ms.length, 48);
  assert.deepEqual(ms, XARGS.masterSecret);
});

test('key expansion: AEAD suites take keys then IVs from the start of the published key block', () => {
  const kb = XARGS.keyBlock;
  // AES-128-GCM: no MAC keys (RFC 5246 §6.2.3.3), 16-byte keys, 4-byte salts (RFC 5288 §3).
  const gcm = expandKeys(suiteById(0xc02f)!, XARGS.masterSecret, XARGS.clientRandom, XARGS.serverRandom);
  assert.deepEqual(gcm.clientWriteKey, kb.subarray(0, 16));
  assert.deepEqual(gcm.serverWriteKey, kb.subarray(16, 32));
  assert.deepEqual(gcm.clientWriteIv, kb.subarray(32, 36));
  assert.deepEqual(gcm.serverWriteIv, kb.subarray(36, 40));
  // AES-128-CCM_8 has the same layout (RFC 6655 §3).
  assert.deepEqual(
    expandKeys(suiteById(0xc0a8)!, XARGS.masterSecret, XARGS.clientRandom, XARGS.serverRandom),
    gcm,
  );
  // ChaCha20-Poly1305: 32-byte keys, 12-byte IVs (RFC 7905 §2).
  const chacha = expandKeys(suiteById(0xcca8)!, XARGS.masterSecret, XARGS.clientRandom, XARGS.serverRandom);
  assert.deepEqual(chacha.clientWriteKey, kb.subarray(0, 32));
  assert.deepEqual(chacha.serverWriteKey, kb.subarray(32, 64));
  assert.deepEqual(chacha.clientWriteIv, kb.subarray(64, 76));
  assert.deepEqual(chacha.serverWriteIv, kb.subarray(76, 88));
});

test('key expansion of a SHA-384 suite uses the SHA-384 PRF with the RFC 5246 §6.3 seed order', () => {
  const suite = suiteById(0xc030)!; // AES-256-GCM, SHA-384
  const keys = expandKeys(suite, XARGS.masterSecret, XARGS.clientRandom, XARGS.serverRandom);
  const block = prf(
    'sha384',
    XARGS.masterSecret,
    'key expansion',
    Buffer.concat([XARGS.serverRandom, XARGS.clientRandom]),
    72,
  );
  assert.deepEqual(
    Buffer.concat([keys.clientWriteKey, keys.serverWriteKey, keys.clientWriteIv, keys.serverWriteIv]),
    block,
  );
  assert.equal(keys.clientWriteKey.length, 32);
  assert.equal(keys.serverWriteIv.length, 4);
});

test('client verify_data matches the tls12.xargs.org connection', () => {
  const vd = computeVerifyData('sha256', XARGS.masterSecret, 'client finished', XARGS.handshakeHash);
  assert.deepEqual(vd, XARGS.clientVerifyData);
  const server = computeVerifyData('sha256', XARGS.masterSecret, 'server finished', XARGS.handshakeHash);
  assert.equal(server.length, 12);
  assert.notDeepEqual(server, vd);
});

test('extended master secret (RFC 7627 §4) matches OpenSSL 3.0 TLS1-PRF', () => {
  // openssl kdf -keylen 48 -kdfopt digest:SHA256 -kdfopt hexsecret:<preMaster> \
  //   -kdfopt seed:"extended master secret" -kdfopt hexseed:<handshakeHash> TLS1-PRF
  const ems = computeExtendedMasterSecret('sha256', XARGS.preMaster, XARGS.handshakeHash);
  assert.equal(
    ems.toString('hex'),
    '960143e1bc0895e72b360f49c91132e440b1e3059e6df2dd894ffc6166d767c6329bf5b76d383a24955dbf038178e4b0',
  );
});

test('RFC 5705 exporter seed: client_random + server_random [+ uint16 length + context] (OpenSSL TLS1-PRF)', () => {
  const { masterSecret: ms, clientRandom: cr, serverRandom: sr } = XARGS;
  // openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt hexsecret:<ms> -kdfopt seed:<label>
  //   -kdfopt hexseed:<cr><sr> [-kdfopt hexseed:<uint16 length || context>] TLS1-PRF
  assert.equal(
    exportKeyingMaterial('sha256', ms, cr, sr, 'EXTRACTOR-dtls_srtp', undefined, 32).toString('hex'),
    '05ac5a731ad359d5186dee7f9b46fbd534f0af013b341b9f5c2dcad39186656e',
  );
  assert.equal(
    exportKeyingMaterial('sha256', ms, cr, sr, 'EXPERIMENTAL-tsdtls', Buffer.from('abc'), 32).toString('hex'),
    'b199d37da34776182a4bb285e5ad63e57ea7e0acc27349d92aa9445192960341',
  );
  // An empty context is not the same as no context (RFC 5705 §4).
  const empty = exportKeyingMaterial('sha256', ms, cr, sr, 'EXPERIMENTAL-tsdtls', new Uint8Array(0), 32);
  assert.equal(empty.toString('hex'), '8ac720f03b6c93873681b64dae99aa2327b0f6dde2a15f90fb8b963afa907763');
  const none = exportKeyingMaterial('sha256', ms, cr, sr, 'EXPERIMENTAL-tsdtls', undefined, 32);
  assert.notDeepEqual(empty, none);
  assert.equal(exportKeyingMaterial('sha256', ms, cr, sr, 'EXPERIMENTAL-tsdtls', undefined, 60).length, 60);
  assert.throws(
    () => exportKeyingMaterial('sha256', ms, cr, sr, 'EXPERIMENTAL-x', Buffer.alloc(0x10000), 16),
    (e: Error & { code?: string }) => e.code === 'invalid_argument',
  );
});

test('PSK premaster secret follows RFC 4279 §2 and RFC 5489 §2', () => {
  // Plain PSK: uint16 N, N zero bytes, uint16 N, psk.
  assert.deepEqual(pskPremasterSecret(hex('a1b2c3')), hex('0003 000000 0003 a1b2c3'));
  // ECDHE_PSK: the ECDH shared secret as other_secret.
  assert.deepEqual(pskPremasterSecret(hex('a1b2c3'), hex('0102030405')), hex('0005 0102030405 0003 a1b2c3'));
  assert.deepEqual(pskPremasterSecret(new Uint8Array(0)), hex('0000 0000'));
});

test('transcriptHash hashes the messages in order (FIPS 180-2 "abc")', () => {
  const parts = [Buffer.from('a'), Buffer.from(''), Buffer.from('bc')];
  assert.equal(
    transcriptHash('sha256', parts).toString('hex'),
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
  );
  assert.equal(
    transcriptHash('sha384', parts).toString('hex'),
    'cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7',
  );
  assert.deepEqual(transcriptHash('sha256', []), createHash('sha256').digest());
});
