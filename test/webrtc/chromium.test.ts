// The real browser: Debian's Chromium, driven by playwright-core, negotiates DTLS-SRTP with tsdtls acting
// as an ICE-lite peer on 127.0.0.1. Chromium is installed by .ci/run (apt-get install chromium); when it
// is missing this test FAILS, it never skips.
import assert from 'node:assert/strict';
import { createCipheriv, createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { fingerprint as certFingerprint } from '../../src/cert/fingerprint.js';
import { type GeneratedCertificate, generateCertificate } from '../../src/cert/generate.js';
import type { ConnectionInfo, DtlsEvent } from '../../src/engine/events.js';
import type { DtlsError } from '../../src/errors.js';
import type { SrtpKeys } from '../../src/handshake/srtp.js';
import { WebRtcDtlsEndpoint } from '../../src/webrtc/ice-lite.js';
import {
  buildIceLiteAnswer,
  parseIceCredentials,
  parseSdpFingerprints,
  parseSdpSetup,
} from '../../src/webrtc/sdp.js';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--allow-loopback-in-peer-connection',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
];
const WAIT_MS = 15_000;
const SRTP_PROFILES = ['SRTP_AEAD_AES_128_GCM', 'SRTP_AES128_CM_HMAC_SHA1_80'];
const PAGE = '<!doctype html><meta charset="utf-8"><title>tsdtls WebRTC test</title><p>tsdtls</p>';

let browser: Browser | undefined;
let server: http.Server | undefined;
let origin = '';
let ourCert: GeneratedCertificate;
let strangerCert: GeneratedCertificate;

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`);
  ourCert = await generateCertificate({
    keyType: 'ecdsa-p256',
    validityDays: 30,
    commonName: 'tsdtls-webrtc',
  });
  strangerCert = await generateCertificate({
    keyType: 'ecdsa-p256',
    validityDays: 30,
    commonName: 'stranger',
  });
  server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(PAGE);
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  // http://localhost is a secure context (W3C Secure Contexts §3.1), which getUserMedia needs.
  origin = `http://localhost:${(server.address() as AddressInfo).port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 20_000 });
});

after(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

type Media = 'data' | 'audio';

// The page's own objects, typed just enough for the evaluate() callbacks (this project compiles without
// the DOM library).
interface StatsReport {
  id: string;
  type: string;
  [field: string]: string | undefined;
}
interface PeerConnection {
  connectionState: string;
  iceConnectionState: string;
  createDataChannel(label: string): unknown;
  addTrack(track: unknown, stream: unknown): unknown;
  createOffer(): Promise<{ type: string; sdp?: string }>;
  setLocalDescription(d: { type: string; sdp?: string }): Promise<void>;
  setRemoteDescription(d: { type: string; sdp: string }): Promise<void>;
  getStats(): Promise<{ forEach(f: (r: StatsReport) => void): void }>;
}
interface PageGlobals {
  pc: PeerConnection;
  RTCPeerConnection: new () => PeerConnection;
  navigator: { mediaDevices: { getUserMedia(c: { audio: boolean }): Promise<{ getTracks(): unknown[] }> } };
}

/** What Chromium's getStats() says about the DTLS transport and both certificates. */
interface BrowserView {
  connectionState: string;
  iceConnectionState: string;
  dtlsState?: string;
  tlsVersion?: string;
  dtlsCipher?: string;
  srtpCipher?: string;
  dtlsRole?: string;
  localFingerprint?: string;
  remoteFingerprint?: string;
}

async function openPage(media: Media): Promise<{ page: Page; offer: string; close: () => Promise<void> }> {
  const context = await browser!.newContext();
  if (media === 'audio') await context.grantPermissions(['microphone'], { origin });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  await page.goto(origin);
  const offer = await page.evaluate(async (kind) => {
    const g = globalThis as unknown as PageGlobals;
    const pc = new g.RTCPeerConnection();
    g.pc = pc;
    if (kind === 'data') pc.createDataChannel('tsdtls');
    else {
      const stream = await g.navigator.mediaDevices.getUserMedia({ audio: true });
      for (const track of stream.getTracks()) pc.addTrack(track, stream);
    }
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    return offer.sdp ?? '';
  }, media);
  return { page, offer, close: () => context.close() };
}

async function browserView(page: Page): Promise<BrowserView> {
  return page.evaluate(async () => {
    const pc = (globalThis as unknown as PageGlobals).pc;
    const stats = await pc.getStats();
    const view: Record<string, string | undefined> = {
      connectionState: pc.connectionState,
      iceConnectionState: pc.iceConnectionState,
    };
    const byId = new Map<string, StatsReport>();
    stats.forEach((r) => {
      byId.set(r.id, r);
    });
    stats.forEach((r) => {
      if (r.type !== 'transport') return;
      view.dtlsState = r.dtlsState;
      view.tlsVersion = r.tlsVersion;
      view.dtlsCipher = r.dtlsCipher;
      view.srtpCipher = r.srtpCipher;
      view.dtlsRole = r.dtlsRole;
      const fp = (id: string | undefined) => {
        const c = id ? byId.get(id) : undefined;
        return c ? `${c.fingerprintAlgorithm} ${c.fingerprint}` : undefined;
      };
      view.localFingerprint = fp(r.localCertificateId);
      view.remoteFingerprint = fp(r.remoteCertificateId);
    });
    return view as unknown as BrowserView;
  });
}

/** Poll getStats() until the DTLS transport is connected or failed, or the time runs out. */
async function waitForBrowserDtls(page: Page, until: (v: BrowserView) => boolean): Promise<BrowserView> {
  const deadline = Date.now() + WAIT_MS;
  let view = await browserView(page);
  while (!until(view) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    view = await browserView(page);
  }
  return view;
}

interface Outcome {
  tsdtls: {
    info?: ConnectionInfo;
    error?: DtlsError;
    events: DtlsEvent[];
    rtpPackets: number;
    firstRtp?: Buffer;
    srtpKeys?: SrtpKeys;
    dropped: string[];
  };
  browser: BrowserView;
  endpoint: WebRtcDtlsEndpoint;
  offer: string;
}

const WRONG_FINGERPRINT =
  'sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF';

/**
 * One negotiation: the browser offers (a=setup:actpass), tsdtls answers as an ICE-lite peer, taking the
 * DTLS role `role` (server = a=setup:passive, client = a=setup:active).
 */
async function negotiate(
  role: 'client' | 'server',
  media: Media,
  wrong?: 'tsdtls-pins-wrong' | 'browser-pins-wrong',
): Promise<Outcome> {
  const { page, offer, close } = await openPage(media);
  const events: DtlsEvent[] = [];
  const dropped: string[] = [];
  let rtpPackets = 0;
  let firstRtp: Buffer | undefined;
  let srtpKeys: SrtpKeys | undefined;
  let endpoint: WebRtcDtlsEndpoint | undefined;
  try {
    assert.equal(parseSdpSetup(offer), 'actpass');
    const browserFingerprints = parseSdpFingerprints(offer);
    assert.equal(browserFingerprints.length, 1);
    const ice = parseIceCredentials(offer);
    assert.ok(ice, 'the offer has ICE credentials');
    endpoint = new WebRtcDtlsEndpoint({
      role,
      identity: { certificateChain: [ourCert.der], privateKey: ourCert.privateKey },
      fingerprints: wrong === 'tsdtls-pins-wrong' ? [strangerCert.fingerprint] : browserFingerprints,
      remoteUfrag: ice.ufrag,
      // Audio prefers AES_CM_128_HMAC_SHA1_80 so the test can check the browser's SRTP tags with the
      // exported keys in both roles; the data channel cases negotiate the AEAD profile.
      srtpProfiles: media === 'audio' ? [...SRTP_PROFILES].reverse() : SRTP_PROFILES,
      handshakeTimeoutMs: WAIT_MS,
    });
    const ep = endpoint;
    const settled = new Promise<{ info?: ConnectionInfo; error?: DtlsError }>((resolve) => {
      const timer = setTimeout(() => resolve({}), WAIT_MS);
      ep.on('connected', (info: ConnectionInfo) => {
        clearTimeout(timer);
        resolve({ info });
      });
      ep.on('error', (error: DtlsError) => {
        clearTimeout(timer);
        resolve({ error });
      });
    });
    ep.on('engine-event', (e: DtlsEvent) => events.push(e));
    ep.on('rtp', (packet: Buffer) => {
      rtpPackets++;
      // RTCP shares the port (rtcp-mux): its packet types 192-223 (RFC 5761 §4) are skipped here.
      const pt = packet[1]! & 0x7f;
      if (!firstRtp && (pt < 64 || pt > 95)) firstRtp = Buffer.from(packet);
    });
    ep.on('connected', () => {
      srtpKeys = ep.getSrtpKeys();
    });
    ep.on('dropped', (why: string) => dropped.push(why));
    const port = await ep.listen();
    const answer = buildIceLiteAnswer(offer, {
      iceUfrag: ep.localUfrag,
      icePwd: ep.localPassword,
      fingerprint: wrong === 'browser-pins-wrong' ? WRONG_FINGERPRINT : ep.fingerprint,
      setup: role === 'server' ? 'passive' : 'active',
      port,
    });
    await page.evaluate(async (sdp) => {
      const pc = (globalThis as unknown as PageGlobals).pc;
      await pc.setRemoteDescription({ type: 'answer', sdp });
    }, answer);
    const result = await settled;
    const view = await waitForBrowserDtls(
      page,
      (v) => v.dtlsState === 'connected' || v.dtlsState === 'failed',
    );
    if (media === 'audio' && result.info) {
      // Let a few SRTP packets of the fake microphone arrive (Opus sends one every 20 ms).
      const deadline = Date.now() + 3000;
      while (rtpPackets < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    }
    return {
      tsdtls: { ...result, events, rtpPackets, firstRtp, srtpKeys, dropped },
      browser: view,
      endpoint: ep,
      offer,
    };
  } finally {
    await endpoint?.close();
    await close();
  }
}

/** One line for the test log: what each side ended with. */
function summary(o: Outcome): string {
  const hello = o.tsdtls.events.find(
    (e) => e.type === 'handshake' && e.trace.message === 'client_hello' && e.trace.direction === 'received',
  );
  const helloNote = hello?.type === 'handshake' ? ` client_hello ${hello.trace.length} B` : '';
  const ours = o.tsdtls.info
    ? `connected ${o.tsdtls.info.cipherSuite} ${o.tsdtls.info.srtpProfile}`
    : `${o.tsdtls.error?.code ?? 'no result'} (alert ${o.tsdtls.error?.alertSent ? 'sent' : o.tsdtls.error?.alertReceived ? 'received' : 'none'})`;
  return `tsdtls: ${ours}${helloNote}, rtp ${o.tsdtls.rtpPackets}; chromium: ${o.browser.dtlsState} ${o.browser.tlsVersion ?? ''} ${o.browser.dtlsCipher ?? ''} ${o.browser.srtpCipher ?? ''}`;
}

function describe(o: Outcome): string {
  const trace = o.tsdtls.events
    .filter((e) => e.type === 'handshake' || e.type === 'failed' || e.type === 'alert')
    .map((e) =>
      e.type === 'handshake'
        ? `${e.trace.direction} ${e.trace.message}${e.trace.retransmission ? ' (re)' : ''}`
        : e.type === 'failed'
          ? `failed ${e.error.code}: ${e.error.message}`
          : `alert ${e.description}`,
    );
  return JSON.stringify(
    { browser: o.browser, tsdtls: trace, dropped: o.tsdtls.dropped.slice(0, 10) },
    null,
    1,
  );
}

function assertConnected(o: Outcome, role: 'client' | 'server'): void {
  const info = o.tsdtls.info;
  assert.ok(info, `tsdtls did not connect: ${o.tsdtls.error?.code ?? 'timeout'}\n${describe(o)}`);
  assert.equal(o.browser.dtlsState, 'connected', describe(o));
  // RTCTransportStats.tlsVersion is the hex of the negotiated version: DTLS 1.2 is 0xFEFD.
  assert.equal(o.browser.tlsVersion, 'FEFD');
  assert.equal(o.browser.dtlsRole, role === 'server' ? 'client' : 'server');
  assert.equal(o.browser.dtlsCipher, info.cipherSuite);
  assert.ok(info.srtpProfile, 'a DTLS-SRTP profile was negotiated');
  // Chromium names the profile as RFC 5764 §4.1.2 does (BoringSSL's SRTP_PROTECTION_PROFILE name).
  assert.equal(o.browser.srtpCipher, info.srtpProfile);
  assert.ok(SRTP_PROFILES.includes(info.srtpProfile));
  // Fingerprints both ways: the browser saw our certificate, and we saw the one its SDP announced.
  assert.equal(o.browser.remoteFingerprint, o.endpoint.fingerprint);
  assert.ok(info.peerCertificate);
  const theirs = certFingerprint(info.peerCertificate, 'sha-256');
  assert.deepEqual([theirs], parseSdpFingerprints(o.offer));
  assert.equal(o.browser.localFingerprint, theirs);
}

/**
 * Check the browser's SRTP authentication tag with the keys tsdtls exported: AES_CM_128_HMAC_SHA1_80
 * (RFC 3711). The session authentication key comes from the AES-CM key derivation of §4.3 (label 0x01,
 * key derivation rate 0), and the tag is HMAC-SHA1 over the packet and its 32-bit rollover counter,
 * truncated to 80 bits (§4.2). A match proves both ends derived the same SRTP master key and salt.
 */
function srtpTagVerifies(packet: Buffer, masterKey: Buffer, masterSalt: Buffer): boolean {
  const iv = Buffer.concat([masterSalt, Buffer.alloc(2)]);
  iv[7]! ^= 0x01; // the label sits right after the first 7 salt bytes (key_id = label || r, 56 bits)
  const authKey = createCipheriv('aes-128-ctr', masterKey, iv).update(Buffer.alloc(20));
  const body = packet.subarray(0, packet.length - 10);
  const rolloverCounter = Buffer.alloc(4); // the first packets of a stream have ROC 0
  const tag = createHmac('sha1', authKey).update(body).update(rolloverCounter).digest().subarray(0, 10);
  return tag.equals(packet.subarray(packet.length - 10));
}

for (const role of ['server', 'client'] as const) {
  for (const media of ['data', 'audio'] as const) {
    test(`Chromium offer (${media}), tsdtls is the DTLS ${role}: connected with matching cipher, SRTP profile and fingerprints`, async (t) => {
      const o = await negotiate(role, media);
      t.diagnostic(summary(o));
      assertConnected(o, role);
      if (media === 'audio') {
        assert.ok(o.tsdtls.rtpPackets > 0, `SRTP from the fake microphone arrived\n${describe(o)}`);
        const keys = o.tsdtls.srtpKeys;
        assert.ok(keys && o.tsdtls.firstRtp);
        assert.equal(keys.profile, 'SRTP_AES128_CM_HMAC_SHA1_80');
        // The browser sends with its own write key: the client's when it is the DTLS client.
        const [key, salt] =
          role === 'server'
            ? [keys.clientWriteKey, keys.clientWriteSalt]
            : [keys.serverWriteKey, keys.serverWriteSalt];
        assert.ok(
          srtpTagVerifies(o.tsdtls.firstRtp, key, salt),
          'the SRTP tag verifies with the exported keys',
        );
        assert.ok(!srtpTagVerifies(o.tsdtls.firstRtp, key, Buffer.alloc(14)), 'and not with another salt');
      }
    });
  }
}

for (const role of ['server', 'client'] as const) {
  test(`tsdtls as DTLS ${role} with a wrong pin for the browser refuses it with bad_certificate`, async (t) => {
    const o = await negotiate(role, 'data', 'tsdtls-pins-wrong');
    t.diagnostic(summary(o));
    assert.equal(o.tsdtls.info, undefined, describe(o));
    assert.equal(o.tsdtls.error?.code, 'bad_certificate', describe(o));
    assert.equal(o.tsdtls.error?.alertSent, true);
    assert.notEqual(o.browser.dtlsState, 'connected', describe(o));
  });

  test(`tsdtls as DTLS ${role}: Chromium given a wrong fingerprint for us refuses to connect`, async (t) => {
    const o = await negotiate(role, 'data', 'browser-pins-wrong');
    t.diagnostic(summary(o));
    assert.notEqual(o.browser.dtlsState, 'connected', describe(o));
    assert.equal(o.tsdtls.info, undefined, describe(o));
    // Chromium ends the handshake with a fatal alert, which tsdtls reports as received.
    assert.ok(o.tsdtls.error, `tsdtls saw no failure\n${describe(o)}`);
    assert.equal(o.tsdtls.error.alertReceived, true, describe(o));
    assert.ok(['bad_certificate', 'certificate_unknown'].includes(o.tsdtls.error.code), describe(o));
  });
}
