import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  buildIceLiteAnswer,
  dtlsRoleFromSetup,
  parseIceCredentials,
  parseMediaSections,
  parseSdpFingerprints,
  parseSdpSetup,
} from '../../src/webrtc/sdp.js';
import { CHROMIUM_AUDIO_OFFER, CHROMIUM_DATA_OFFER } from './chromium-offers.js';

const OUR_FP =
  'sha-256 AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99';

test('dtlsRoleFromSetup: a=setup:active is the DTLS client (RFC 5763 §5, RFC 8842 §5)', () => {
  assert.equal(dtlsRoleFromSetup('active', 'actpass'), 'client');
  assert.equal(dtlsRoleFromSetup('passive', 'actpass'), 'server');
  assert.equal(dtlsRoleFromSetup('active', 'passive'), 'client');
  assert.equal(dtlsRoleFromSetup('passive', 'active'), 'server');
  // The offerer (actpass) learns its role from the answer.
  assert.equal(dtlsRoleFromSetup('actpass', 'active'), 'server');
  assert.equal(dtlsRoleFromSetup('actpass', 'passive'), 'client');
  assert.throws(() => dtlsRoleFromSetup('actpass', 'actpass'), { code: 'invalid_argument' });
  assert.throws(() => dtlsRoleFromSetup('active', 'active'), { code: 'invalid_argument' });
  assert.throws(() => dtlsRoleFromSetup('passive', 'passive'), { code: 'invalid_argument' });
  assert.throws(() => dtlsRoleFromSetup('holdconn', 'active'), { code: 'invalid_argument' });
});

test("parsing Chromium 156's offers: fingerprint, ICE credentials, setup, m-sections", () => {
  assert.deepEqual(parseSdpFingerprints(CHROMIUM_DATA_OFFER), [
    'sha-256 07:6C:2D:44:BB:8C:A4:6D:D3:A8:D0:CE:17:3B:79:DF:D7:E7:4B:C1:0B:72:8B:69:8A:24:FA:17:D3:F1:18:89',
  ]);
  assert.deepEqual(parseIceCredentials(CHROMIUM_DATA_OFFER), {
    ufrag: 'ra3+',
    pwd: 'bJ5hbzoLN2d4QvlGXfb7/OwM',
  });
  assert.deepEqual(parseIceCredentials(CHROMIUM_AUDIO_OFFER), {
    ufrag: 'lbAy',
    pwd: 'jJlJURdW8FY+Am7vVSeUTp5q',
  });
  assert.equal(parseSdpSetup(CHROMIUM_AUDIO_OFFER), 'actpass');
  const [audio] = parseMediaSections(CHROMIUM_AUDIO_OFFER);
  assert.equal(audio?.kind, 'audio');
  assert.equal(audio?.proto, 'UDP/TLS/RTP/SAVPF');
  assert.deepEqual(audio?.formats, ['111', '63', '9', '0', '8', '13', '110', '126']);
  assert.equal(audio?.mid, '0');
});

test('fingerprints at session and media level, deduplicated and normalised; malformed ones throw', () => {
  const sdp = [
    'v=0',
    'a=fingerprint:SHA-256 aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99',
    'm=audio 9 UDP/TLS/RTP/SAVPF 0',
    `a=fingerprint:${OUR_FP}`,
    'm=video 9 UDP/TLS/RTP/SAVPF 96',
    'a=fingerprint:sha-1 00:11:22:33:44:55:66:77:88:99:00:11:22:33:44:55:66:77:88:99',
    '',
  ].join('\n');
  assert.deepEqual(parseSdpFingerprints(sdp), [
    OUR_FP,
    'sha-1 00:11:22:33:44:55:66:77:88:99:00:11:22:33:44:55:66:77:88:99',
  ]);
  assert.deepEqual(parseSdpFingerprints('v=0\r\n'), []);
  assert.throws(() => parseSdpFingerprints('a=fingerprint:sha-256 12:34\r\n'), { code: 'invalid_argument' });
  assert.equal(parseIceCredentials('v=0\r\na=ice-ufrag:abcd\r\n'), undefined);
});

function lines(sdp: string): string[] {
  assert.ok(sdp.endsWith('\r\n'), 'SDP lines end with CRLF (RFC 8866 §5)');
  return sdp.split('\r\n').slice(0, -1);
}

test('ICE-lite answer to a data-channel offer', () => {
  const answer = buildIceLiteAnswer(CHROMIUM_DATA_OFFER, {
    iceUfrag: 'tsdU',
    icePwd: 'tsdtls-ice-password-0123',
    fingerprint: OUR_FP,
    setup: 'passive',
    port: 40123,
  });
  const l = lines(answer);
  assert.equal(l[0], 'v=0');
  assert.ok(l.includes('a=ice-lite'));
  assert.ok(l.includes('a=group:BUNDLE 0'));
  assert.ok(l.includes('m=application 40123 UDP/DTLS/SCTP webrtc-datachannel'));
  assert.ok(l.includes('c=IN IP4 127.0.0.1'));
  assert.ok(l.includes('a=mid:0'));
  assert.ok(l.includes('a=ice-ufrag:tsdU'));
  assert.ok(l.includes('a=ice-pwd:tsdtls-ice-password-0123'));
  assert.ok(l.includes(`a=fingerprint:${OUR_FP}`));
  assert.ok(l.includes('a=setup:passive'));
  assert.ok(l.includes('a=candidate:1 1 udp 2130706431 127.0.0.1 40123 typ host'));
  assert.ok(l.includes('a=sctp-port:5000'));
  // The answer's own helpers read it back.
  assert.deepEqual(parseSdpFingerprints(answer), [OUR_FP]);
  assert.equal(parseSdpSetup(answer), 'passive');
  assert.deepEqual(parseIceCredentials(answer), { ufrag: 'tsdU', pwd: 'tsdtls-ice-password-0123' });
  assert.equal(dtlsRoleFromSetup('actpass', parseSdpSetup(answer)!), 'client');
});

test('ICE-lite answer to an audio offer: first codec (opus), rtcp-mux, recvonly, active setup', () => {
  const answer = buildIceLiteAnswer(CHROMIUM_AUDIO_OFFER, {
    iceUfrag: 'tsdU',
    icePwd: 'tsdtls-ice-password-0123',
    fingerprint: OUR_FP,
    setup: 'active',
    port: 5004,
  });
  const l = lines(answer);
  assert.ok(l.includes('m=audio 5004 UDP/TLS/RTP/SAVPF 111'));
  assert.ok(l.includes('a=rtpmap:111 opus/48000/2'));
  assert.ok(l.includes('a=fmtp:111 minptime=10;useinbandfec=1'));
  assert.ok(l.includes('a=rtcp-mux'));
  assert.ok(l.includes('a=recvonly'));
  assert.ok(l.includes('a=setup:active'));
  assert.ok(!l.some((x) => x.startsWith('a=rtpmap:63')), 'only the first codec');
  const sendrecv = buildIceLiteAnswer(CHROMIUM_AUDIO_OFFER, {
    iceUfrag: 'tsdU',
    icePwd: 'tsdtls-ice-password-0123',
    fingerprint: OUR_FP,
    setup: 'active',
    port: 5004,
    audioDirection: 'sendrecv',
  });
  assert.ok(lines(sendrecv).includes('a=sendrecv'));
  const recvonlyOffer = CHROMIUM_AUDIO_OFFER.replace('a=sendrecv', 'a=recvonly');
  const inactive = buildIceLiteAnswer(recvonlyOffer, {
    iceUfrag: 'tsdU',
    icePwd: 'tsdtls-ice-password-0123',
    fingerprint: OUR_FP,
    setup: 'active',
    port: 5004,
  });
  assert.ok(lines(inactive).includes('a=inactive'), 'an offer that only receives, answered by a receiver');
});

test('video is rejected with port 0 and left out of BUNDLE; IPv6 address', () => {
  const offer = [
    'v=0',
    'o=- 1 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=group:BUNDLE 0 1',
    'm=audio 9 UDP/TLS/RTP/SAVPF 0',
    'a=mid:0',
    'a=rtpmap:0 PCMU/8000',
    'm=video 9 UDP/TLS/RTP/SAVPF 96',
    'a=mid:1',
    'a=rtpmap:96 VP8/90000',
    '',
  ].join('\r\n');
  const answer = buildIceLiteAnswer(offer, {
    iceUfrag: 'tsdU',
    icePwd: 'tsdtls-ice-password-0123',
    fingerprint: OUR_FP,
    setup: 'passive',
    port: 6000,
    address: '::1',
  });
  const l = lines(answer);
  assert.ok(l.includes('a=group:BUNDLE 0'));
  assert.ok(l.includes('m=audio 6000 UDP/TLS/RTP/SAVPF 0'));
  assert.ok(l.includes('m=video 0 UDP/TLS/RTP/SAVPF 96'));
  assert.ok(l.includes('c=IN IP6 ::1'));
  assert.ok(l.includes('a=candidate:1 1 udp 2130706431 ::1 6000 typ host'));
  assert.throws(
    () =>
      buildIceLiteAnswer('v=0\r\n', {
        iceUfrag: 'a',
        icePwd: 'b',
        fingerprint: OUR_FP,
        setup: 'active',
        port: 1,
      }),
    {
      code: 'invalid_argument',
    },
  );
});
