/**
 * Accept a browser's DTLS-SRTP handshake from Node.
 *
 * tsdtls acts as an ICE-lite WebRTC peer (RFC 8445 §2.5) on 127.0.0.1: it serves a page on
 * http://localhost:PORT (a secure context, so the page may use the microphone), the page sends its
 * SDP offer, and Node answers with a=ice-lite, its certificate fingerprint, a host candidate and the
 * DTLS role you chose. The browser's ICE checks reach the STUN responder, then DTLS runs on the same
 * UDP port (demultiplexed by first byte, RFC 7983), and the SRTP keys come out of the exporter
 * (RFC 5764 §4.2). The browser's SRTP audio packets are counted (this example does not decrypt them).
 *
 * Run:
 *   npx tsc -p . && node dist/examples/browser-dtls-srtp.js [--role server|client] [--media audio|data] [--port 8080]
 * then open http://localhost:8080 in Chromium started with --allow-loopback-in-peer-connection (without
 * it, Chromium gathers no 127.0.0.1 candidate and cannot reach a loopback peer), e.g.
 *   chromium --allow-loopback-in-peer-connection http://localhost:8080
 *
 * --role server (default): we answer a=setup:passive and the browser is the DTLS client.
 * --role client: we answer a=setup:active and send the ClientHello after the first ICE check.
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import { generateCertificate } from '../src/cert/generate.js';
import type { ConnectionInfo } from '../src/engine/events.js';
import type { DtlsError } from '../src/errors.js';
import { type BindingRequestInfo, WebRtcDtlsEndpoint } from '../src/webrtc/ice-lite.js';
import { buildIceLiteAnswer, parseIceCredentials, parseSdpFingerprints } from '../src/webrtc/sdp.js';

const { values } = parseArgs({
  options: {
    role: { type: 'string', default: 'server' },
    media: { type: 'string', default: 'audio' },
    port: { type: 'string', default: '8080' },
  },
});
const role = values.role === 'client' ? 'client' : 'server';
const media = values.media === 'data' ? 'data' : 'audio';

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>tsdtls: browser DTLS-SRTP</title>
<h1>tsdtls ⇄ this browser</h1>
<pre id="log"></pre>
<script type="module">
const log = (s) => { document.getElementById('log').textContent += s + '\\n'; };
const pc = new RTCPeerConnection();
if (${JSON.stringify(media)} === 'data') pc.createDataChannel('tsdtls');
else {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  for (const t of stream.getTracks()) pc.addTrack(t, stream);
}
await pc.setLocalDescription(await pc.createOffer());
const res = await fetch('/offer', { method: 'POST', body: pc.localDescription.sdp });
await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
log('answer applied; waiting for DTLS…');
for (let i = 0; i < 100; i++) {
  const stats = await pc.getStats();
  let t;
  stats.forEach((r) => { if (r.type === 'transport') t = r; });
  if (t && (t.dtlsState === 'connected' || t.dtlsState === 'failed')) {
    log('dtlsState ' + t.dtlsState + ', tlsVersion ' + t.tlsVersion + ', ' + t.dtlsCipher + ', ' + t.srtpCipher);
    break;
  }
  await new Promise((r) => setTimeout(r, 200));
}
</script>`;

async function main(): Promise<void> {
  const cert = await generateCertificate({
    keyType: 'ecdsa-p256',
    validityDays: 30,
    commonName: 'tsdtls-webrtc',
  });
  let endpoint: WebRtcDtlsEndpoint | undefined;

  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === '/') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(PAGE);
      return;
    }
    if (req.method === 'POST' && req.url === '/offer') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        answer(Buffer.concat(chunks).toString('utf8'))
          .then((sdp) => {
            res.writeHead(200, { 'content-type': 'application/sdp' });
            res.end(sdp);
          })
          .catch((err: unknown) => {
            res.writeHead(400);
            res.end(String(err));
          });
      });
      return;
    }
    res.writeHead(404);
    res.end();
  });

  /** One browser at a time: a new offer replaces the previous peer. */
  async function answer(offer: string): Promise<string> {
    await endpoint?.close();
    const ice = parseIceCredentials(offer);
    const ep = new WebRtcDtlsEndpoint({
      role,
      identity: { certificateChain: [cert.der], privateKey: cert.privateKey },
      // The browser's certificate is authenticated by the fingerprint its offer announced (RFC 8122).
      fingerprints: parseSdpFingerprints(offer),
      remoteUfrag: ice?.ufrag,
      srtpProfiles: ['SRTP_AEAD_AES_128_GCM', 'SRTP_AES128_CM_HMAC_SHA1_80'],
    });
    endpoint = ep;
    let rtp = 0;
    let bindings = 0;
    ep.on('binding', (b: BindingRequestInfo) => {
      if (bindings++ === 0) console.log(`ICE check from ${b.from.address}:${b.from.port} (${b.username})`);
    });
    ep.on('connected', (info: ConnectionInfo) => {
      console.log(
        `DTLS connected: ${info.protocol} ${info.cipherSuite}, SRTP profile ${info.srtpProfile ?? 'none'}`,
      );
      console.log(`  browser certificate ${info.peerCertificate?.fingerprint256}`);
      if (info.srtpProfile) {
        const k = ep.getSrtpKeys();
        console.log(
          `  SRTP client key ${k.clientWriteKey.toString('hex')} salt ${k.clientWriteSalt.toString('hex')}`,
        );
        console.log(
          `  SRTP server key ${k.serverWriteKey.toString('hex')} salt ${k.serverWriteSalt.toString('hex')}`,
        );
      }
    });
    ep.on('rtp', () => {
      rtp++;
      if (rtp === 1 || rtp % 250 === 0) console.log(`SRTP/SRTCP packets received: ${rtp}`);
    });
    ep.on('error', (err: DtlsError) => console.log(`DTLS failed: ${err.code}: ${err.message}`));
    ep.on('close', () => console.log('DTLS closed'));
    const port = await ep.listen();
    const sdp = buildIceLiteAnswer(offer, {
      iceUfrag: ep.localUfrag,
      icePwd: ep.localPassword,
      fingerprint: ep.fingerprint,
      setup: role === 'server' ? 'passive' : 'active',
      port,
    });
    console.log(`--- answer (we are the DTLS ${role}, UDP 127.0.0.1:${port}) ---\n${sdp}---`);
    return sdp;
  }

  const httpPort = Number(values.port);
  await new Promise<void>((resolve) => server.listen(httpPort, '127.0.0.1', resolve));
  console.log(
    `Open http://localhost:${httpPort} in Chromium started with --allow-loopback-in-peer-connection`,
  );
  const stop = () => {
    void endpoint?.close();
    server.close();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
