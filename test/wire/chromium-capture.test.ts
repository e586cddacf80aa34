import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { readCapture } from '../../src/trace/pcap.js';
import { decodeCertificate, encodeCertificate } from '../../src/wire/certificate.js';
import { decodeCertificateRequest, encodeCertificateRequest } from '../../src/wire/certificate-request.js';
import { decodeCertificateVerify, encodeCertificateVerify } from '../../src/wire/certificate-verify.js';
import {
  decodeClientHello,
  encodeClientHello,
  replaceClientHelloCookie,
} from '../../src/wire/client-hello.js';
import {
  decodeEcdheClientKeyExchange,
  encodeEcdheClientKeyExchange,
} from '../../src/wire/client-key-exchange.js';
import { ContentType, ExtensionType, HandshakeType } from '../../src/wire/constants.js';
import {
  decodeEcPointFormats,
  decodeRenegotiationInfo,
  decodeSignatureAlgorithms,
  decodeSupportedGroups,
  decodeSupportedVersionsClient,
  decodeUseSrtp,
  findExtension,
} from '../../src/wire/extensions.js';
import {
  encodeHandshakeFragment,
  type HandshakeFragment,
  parseHandshakeFragments,
} from '../../src/wire/handshake-header.js';
import { decodeHelloVerifyRequest, encodeHelloVerifyRequest } from '../../src/wire/hello-verify-request.js';
import { encodeRecord, parseDatagram, type RawRecord } from '../../src/wire/record.js';
import { decodeServerHello, encodeServerHello } from '../../src/wire/server-hello.js';
import { decodeServerHelloDone } from '../../src/wire/server-hello-done.js';
import {
  decodeEcdheServerKeyExchange,
  encodeEcdheServerKeyExchange,
} from '../../src/wire/server-key-exchange.js';
import { checkPrefixes, fuzzDecoder } from './decode-robustness.js';

// Real output of Chromium 156 (client) and its WebRTC peer (server); see /work/shared/fixtures/README.md.
// Tests run from the repository root (/work/main); the shared fixtures sit next to it.
const FIXTURE = path.resolve(process.cwd(), '../shared/fixtures/chromium156-client-handshake.pcapng');
const CLIENT_PORT = 60095;

function loadFixture(): Buffer {
  if (!existsSync(FIXTURE)) {
    throw new Error(`fixture missing: ${FIXTURE} (tests must run from the repository root, /work/main)`);
  }
  return readFileSync(FIXTURE);
}

interface Seen {
  fromClient: boolean;
  record: RawRecord;
  fragment: HandshakeFragment;
}

function handshakeFragments(): { fragments: Seen[]; records: { fromClient: boolean; record: RawRecord }[] } {
  const packets = readCapture(loadFixture());
  const fragments: Seen[] = [];
  const records: { fromClient: boolean; record: RawRecord }[] = [];
  for (const p of packets) {
    // RFC 7983 §7: first byte 20..63 is DTLS; 0..3 is STUN. 20..26 covers the DTLS 1.2 content types.
    if (p.payload[0]! < 20 || p.payload[0]! > 26) continue;
    const fromClient = p.srcPort === CLIENT_PORT;
    const parsed = parseDatagram(p.payload);
    assert.equal(parsed.malformed, 0);
    for (const record of parsed.records) {
      records.push({ fromClient, record });
      // Epoch 1 handshake records are encrypted Finished messages: nothing to parse without keys.
      if (record.type !== ContentType.handshake || record.epoch !== 0) continue;
      for (const fragment of parseHandshakeFragments(record.fragment))
        fragments.push({ fromClient, record, fragment });
    }
  }
  return { fragments, records };
}

/** Reassemble by offset (the real reassembler lives elsewhere; this is just for the test). */
function reassemble(parts: HandshakeFragment[]): Buffer {
  const length = parts[0]!.length;
  const body = Buffer.alloc(length);
  const covered = new Uint8Array(length);
  for (const f of parts) {
    assert.equal(f.length, length);
    f.body.copy(body, f.fragmentOffset);
    covered.fill(1, f.fragmentOffset, f.fragmentOffset + f.fragmentLength);
  }
  assert.ok(
    covered.every((c) => c === 1),
    'fragments cover the whole message',
  );
  return body;
}

test('the capture holds STUN and DTLS datagrams between the two loopback ports', () => {
  const packets = readCapture(loadFixture());
  assert.equal(packets.length, 23);
  const dtls = packets.filter((p) => p.payload[0]! >= 20 && p.payload[0]! <= 26);
  const stun = packets.filter((p) => p.payload[0]! <= 3);
  assert.equal(dtls.length + stun.length, packets.length);
  assert.ok(stun.length > 0 && dtls.length > 0);
  for (const p of packets) {
    assert.equal(p.src, '127.0.0.1');
    assert.equal(p.dst, '127.0.0.1');
    assert.ok([p.srcPort, p.dstPort].includes(CLIENT_PORT));
  }
});

test('every record re-encodes to its exact bytes, and so does every handshake record body', () => {
  const { fragments, records } = handshakeFragments();
  assert.ok(records.length > 20);
  for (const { record } of records) {
    assert.equal(encodeRecord(record, record.fragment).toString('hex'), record.raw.toString('hex'));
  }
  const byRecord = new Map<RawRecord, HandshakeFragment[]>();
  for (const s of fragments) byRecord.set(s.record, [...(byRecord.get(s.record) ?? []), s.fragment]);
  for (const [record, frags] of byRecord) {
    assert.equal(
      Buffer.concat(frags.map(encodeHandshakeFragment)).toString('hex'),
      record.fragment.toString('hex'),
    );
  }
});

test("Chromium's first ClientHello: two fragments (1,175 + 238 of 1,413) that decode as one message", () => {
  const { fragments } = handshakeFragments();
  const hello = fragments.filter((s) => s.fromClient && s.fragment.msgType === HandshakeType.client_hello);
  const first = hello.slice(0, 2).map((s) => s.fragment);
  assert.deepEqual(
    first.map((f) => [f.messageSeq, f.length, f.fragmentOffset, f.fragmentLength, f.body.length]),
    [
      [0, 1413, 0, 1175, 1175],
      [0, 1413, 1175, 238, 238],
    ],
  );
  // The two fragments arrive in two different datagrams, as records 0 and 1 of epoch 0.
  assert.deepEqual(
    hello.slice(0, 2).map((s) => s.record.sequenceNumber),
    [0, 1],
  );
  const body = reassemble(first);
  const ch = decodeClientHello(body);
  assert.equal(ch.clientVersion, 0xfefd);
  assert.equal(ch.cookie.length, 0);
  assert.equal(ch.cipherSuites.length, 14);
  assert.ok(ch.cipherSuites.includes(0xc02b), 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256');
  assert.ok(ch.cipherSuites.includes(0x1301), 'TLS_AES_128_GCM_SHA256 (TLS 1.3)');
  assert.deepEqual(ch.compressionMethods, [0]);

  const versions = decodeSupportedVersionsClient(
    findExtension(ch.extensions, ExtensionType.supported_versions)!,
  );
  assert.ok(versions.includes(0xfefc) && versions.includes(0xfefd));
  const groups = decodeSupportedGroups(findExtension(ch.extensions, ExtensionType.supported_groups)!);
  assert.ok(groups.includes(0x11ec), 'X25519MLKEM768');
  assert.ok(groups.includes(29), 'x25519');
  assert.ok(groups.includes(23) && groups.includes(24));
  const srtp = decodeUseSrtp(findExtension(ch.extensions, ExtensionType.use_srtp)!);
  assert.ok(srtp.profiles.length > 0);
  assert.equal(findExtension(ch.extensions, ExtensionType.extended_master_secret)?.length, 0);
  assert.ok(
    decodeSignatureAlgorithms(findExtension(ch.extensions, ExtensionType.signature_algorithms)!).includes(
      0x0403,
    ),
  );
  assert.deepEqual(decodeEcPointFormats(findExtension(ch.extensions, ExtensionType.ec_point_formats)!), [0]);
  assert.equal(
    decodeRenegotiationInfo(findExtension(ch.extensions, ExtensionType.renegotiation_info)!).length,
    0,
  );
  // The 1,216-byte ML-KEM share sits inside key_share, kept raw: 1,258 bytes in all.
  assert.ok(findExtension(ch.extensions, ExtensionType.key_share)!.length > 1216);

  assert.equal(encodeClientHello(ch).toString('hex'), body.toString('hex'), 'canonical re-encoding');
});

test('the ClientHello after HelloVerifyRequest equals the first except for the cookie (RFC 6347 §4.2.1)', () => {
  const { fragments } = handshakeFragments();
  const hvr = fragments.find(
    (s) => !s.fromClient && s.fragment.msgType === HandshakeType.hello_verify_request,
  );
  assert.ok(hvr);
  const verify = decodeHelloVerifyRequest(hvr.fragment.body);
  assert.equal(verify.serverVersion, 0xfefd);
  assert.equal(verify.cookie.length, 20);
  assert.equal(encodeHelloVerifyRequest(verify).toString('hex'), hvr.fragment.body.toString('hex'));

  const hellos = fragments.filter((s) => s.fromClient && s.fragment.msgType === HandshakeType.client_hello);
  const first = reassemble(
    hellos
      .filter((s) => s.fragment.messageSeq === 0)
      .slice(0, 2)
      .map((s) => s.fragment),
  );
  const secondParts = hellos.filter((s) => s.fragment.messageSeq === 1).map((s) => s.fragment);
  assert.deepEqual(
    secondParts.map((f) => [f.length, f.fragmentOffset, f.fragmentLength]),
    [
      [1433, 0, 1175],
      [1433, 1175, 258],
    ],
  );
  const second = reassemble(secondParts);
  assert.equal(decodeClientHello(second).cookie.toString('hex'), verify.cookie.toString('hex'));
  assert.equal(replaceClientHelloCookie(first, verify.cookie).toString('hex'), second.toString('hex'));
  assert.equal(
    encodeClientHello({ ...decodeClientHello(first), cookie: verify.cookie }).toString('hex'),
    second.toString('hex'),
  );
});

test("the server's flight decodes and re-encodes byte for byte", () => {
  const { fragments } = handshakeFragments();
  const server = fragments.filter((s) => !s.fromClient).map((s) => s.fragment);
  const one = (type: number) => {
    const found = server.filter((f) => f.msgType === type);
    assert.ok(found.length >= 1, `server message ${type} present`);
    const f = found[0]!;
    assert.equal(f.fragmentOffset, 0);
    assert.equal(f.fragmentLength, f.length, 'unfragmented');
    return f.body;
  };

  const shBody = one(HandshakeType.server_hello);
  const sh = decodeServerHello(shBody);
  assert.equal(sh.serverVersion, 0xfefd);
  assert.equal(sh.cipherSuite, 0xc02b);
  assert.equal(sh.compressionMethod, 0);
  assert.deepEqual(
    sh.extensions?.map((e) => e.type),
    [ExtensionType.use_srtp, ExtensionType.extended_master_secret, ExtensionType.renegotiation_info],
  );
  assert.equal(decodeUseSrtp(findExtension(sh.extensions, ExtensionType.use_srtp)!).profiles.length, 1);
  assert.equal(encodeServerHello(sh).toString('hex'), shBody.toString('hex'));

  const certBody = one(HandshakeType.certificate);
  const cert = decodeCertificate(certBody);
  assert.equal(cert.certificateList.length, 1);
  assert.equal(cert.certificateList[0]![0], 0x30, 'DER SEQUENCE');
  assert.equal(encodeCertificate(cert).toString('hex'), certBody.toString('hex'));

  const skeBody = one(HandshakeType.server_key_exchange);
  const ske = decodeEcdheServerKeyExchange(skeBody);
  assert.equal(ske.params.namedCurve, 29);
  assert.equal(ske.params.publicKey.length, 32);
  assert.equal(ske.paramsBytes.toString('hex'), skeBody.subarray(0, 36).toString('hex'));
  assert.equal(ske.signed.signatureScheme, 0x0403);
  assert.equal(ske.signed.signature[0], 0x30, 'DER ECDSA signature');
  assert.equal(encodeEcdheServerKeyExchange(ske).toString('hex'), skeBody.toString('hex'));

  const crBody = one(HandshakeType.certificate_request);
  const cr = decodeCertificateRequest(crBody);
  assert.deepEqual(cr.certificateTypes, [1, 64]);
  assert.deepEqual(cr.signatureAlgorithms, [0x0401, 0x0403]);
  assert.deepEqual(cr.certificateAuthorities, []);
  assert.equal(encodeCertificateRequest(cr).toString('hex'), crBody.toString('hex'));

  assert.deepEqual(decodeServerHelloDone(one(HandshakeType.server_hello_done)), {});
});

test("the client's second flight decodes and re-encodes byte for byte", () => {
  const { fragments } = handshakeFragments();
  const client = fragments.filter((s) => s.fromClient && s.fragment.msgType !== HandshakeType.client_hello);
  assert.deepEqual(
    client.map((s) => s.fragment.msgType),
    [HandshakeType.certificate, HandshakeType.client_key_exchange, HandshakeType.certificate_verify],
  );
  const [certBody, ckeBody, cvBody] = client.map((s) => s.fragment.body) as [Buffer, Buffer, Buffer];
  const cert = decodeCertificate(certBody);
  assert.equal(cert.certificateList.length, 1);
  assert.equal(encodeCertificate(cert).toString('hex'), certBody.toString('hex'));
  const cke = decodeEcdheClientKeyExchange(ckeBody);
  assert.equal(cke.publicKey.length, 32, 'an x25519 share');
  assert.equal(encodeEcdheClientKeyExchange(cke).toString('hex'), ckeBody.toString('hex'));
  const cv = decodeCertificateVerify(cvBody);
  assert.equal(cv.signatureScheme, 0x0403);
  assert.equal(encodeCertificateVerify(cv).toString('hex'), cvBody.toString('hex'));
});

test('real message bodies: every prefix and 2,000 mutations raise only DecodeError', () => {
  const { fragments } = handshakeFragments();
  const hello = reassemble(
    fragments
      .filter(
        (s) =>
          s.fromClient && s.fragment.msgType === HandshakeType.client_hello && s.fragment.messageSeq === 0,
      )
      .slice(0, 2)
      .map((s) => s.fragment),
  );
  const body = (fromClient: boolean, type: number) =>
    fragments.find((s) => s.fromClient === fromClient && s.fragment.msgType === type)!.fragment.body;
  const codecs: [string, (b: Buffer) => unknown, (x: never) => Buffer, Buffer][] = [
    ['ClientHello', decodeClientHello, encodeClientHello, hello],
    ['ServerHello', decodeServerHello, encodeServerHello, body(false, HandshakeType.server_hello)],
    [
      'HelloVerifyRequest',
      decodeHelloVerifyRequest,
      encodeHelloVerifyRequest,
      body(false, HandshakeType.hello_verify_request),
    ],
    ['Certificate', decodeCertificate, encodeCertificate, body(false, HandshakeType.certificate)],
    [
      'ServerKeyExchange',
      decodeEcdheServerKeyExchange,
      encodeEcdheServerKeyExchange,
      body(false, HandshakeType.server_key_exchange),
    ],
    [
      'CertificateRequest',
      decodeCertificateRequest,
      encodeCertificateRequest,
      body(false, HandshakeType.certificate_request),
    ],
    [
      'ClientKeyExchange',
      decodeEcdheClientKeyExchange,
      encodeEcdheClientKeyExchange,
      body(true, HandshakeType.client_key_exchange),
    ],
    [
      'CertificateVerify',
      decodeCertificateVerify,
      encodeCertificateVerify,
      body(true, HandshakeType.certificate_verify),
    ],
  ];
  for (const [label, decode, encode, valid] of codecs) {
    checkPrefixes(decode, valid, label);
    fuzzDecoder({
      label,
      decode,
      encode: encode as (x: unknown) => Buffer,
      valid: [valid],
      seed: valid.length,
    });
  }
});
