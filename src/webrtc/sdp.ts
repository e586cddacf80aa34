import { parseFingerprint } from '../cert/fingerprint.js';
import { DtlsError } from '../errors.js';

export type SetupAttribute = 'active' | 'passive' | 'actpass' | 'holdconn';

/**
 * Our DTLS role from the a=setup attributes (RFC 4145 §4, RFC 5763 §5, RFC 8842 §5): the 'active' end
 * initiates, so it is the DTLS client; 'passive' waits for the ClientHello. An offer is 'actpass' and
 * the answer picks a side, so `actpass` on our side takes the opposite of the remote's choice.
 */
export function dtlsRoleFromSetup(
  localSetup: SetupAttribute,
  remoteSetup: SetupAttribute,
): 'client' | 'server' {
  if (localSetup === 'active') {
    if (remoteSetup === 'active') throw new DtlsError('invalid_argument', 'both ends are a=setup:active');
    return 'client';
  }
  if (localSetup === 'passive') {
    if (remoteSetup === 'passive') throw new DtlsError('invalid_argument', 'both ends are a=setup:passive');
    return 'server';
  }
  if (localSetup === 'actpass') {
    if (remoteSetup === 'active') return 'server';
    if (remoteSetup === 'passive') return 'client';
  }
  throw new DtlsError(
    'invalid_argument',
    `no DTLS role for a=setup:${localSetup} against a=setup:${remoteSetup}`,
  );
}

function sdpLines(sdp: string): string[] {
  return sdp
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
}

function attributeValues(sdp: string, name: string): string[] {
  const prefix = `a=${name}:`;
  return sdpLines(sdp)
    .filter((l) => l.startsWith(prefix))
    .map((l) => l.slice(prefix.length).trim());
}

/**
 * Every a=fingerprint (RFC 8122 §5) at session or media level, as 'hash AB:CD:…' strings the engine
 * accepts, without duplicates (a bundled offer repeats the same one in every m-section). Malformed
 * ones throw invalid_argument: a fingerprint we cannot read must not silently drop authentication.
 */
export function parseSdpFingerprints(sdp: string): string[] {
  const out: string[] = [];
  for (const v of attributeValues(sdp, 'fingerprint')) {
    const { hash, value } = parseFingerprint(v);
    const normal = `${hash} ${[...value].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':')}`;
    if (!out.includes(normal)) out.push(normal);
  }
  return out;
}

/** The first a=setup value (session or media level), if any. */
export function parseSdpSetup(sdp: string): SetupAttribute | undefined {
  const v = attributeValues(sdp, 'setup')[0];
  return v === 'active' || v === 'passive' || v === 'actpass' || v === 'holdconn' ? v : undefined;
}

/** ICE credentials (RFC 8839 §5.4): the first a=ice-ufrag and a=ice-pwd, session or media level. */
export function parseIceCredentials(sdp: string): { ufrag: string; pwd: string } | undefined {
  const ufrag = attributeValues(sdp, 'ice-ufrag')[0];
  const pwd = attributeValues(sdp, 'ice-pwd')[0];
  if (!ufrag || !pwd) return undefined;
  return { ufrag, pwd };
}

/** One m-section of an SDP (RFC 8866 §5.14), with the lines that follow it. */
export interface MediaSection {
  kind: string;
  port: number;
  proto: string;
  formats: string[];
  mid: string | undefined;
  lines: string[];
}

export function parseMediaSections(sdp: string): MediaSection[] {
  const sections: MediaSection[] = [];
  for (const line of sdpLines(sdp)) {
    if (line.startsWith('m=')) {
      const [kind = '', port = '0', proto = '', ...formats] = line.slice(2).split(/\s+/);
      sections.push({ kind, port: Number(port), proto, formats, mid: undefined, lines: [] });
      continue;
    }
    const cur = sections[sections.length - 1];
    if (!cur) continue;
    cur.lines.push(line);
    if (line.startsWith('a=mid:')) cur.mid = line.slice('a=mid:'.length);
  }
  return sections;
}

export interface IceLiteAnswerOptions {
  iceUfrag: string;
  icePwd: string;
  /** Our certificate fingerprint, 'sha-256 AB:CD:…'. */
  fingerprint: string;
  /** Our a=setup: 'passive' makes us the DTLS server, 'active' the DTLS client (RFC 8842 §5). */
  setup: 'active' | 'passive';
  /** Our UDP port, announced as a host candidate. */
  port: number;
  /** Our address (default 127.0.0.1). */
  address?: string;
  /** Direction for accepted audio: we only receive by default (we send no media). */
  audioDirection?: 'sendrecv' | 'recvonly';
  /** SCTP port for a data channel section (RFC 8841 §5). */
  sctpPort?: number;
}

const DIRECTIONS = ['sendrecv', 'sendonly', 'recvonly', 'inactive'] as const;

/**
 * The answer direction (RFC 3264 §6.1): we can only receive what the offerer sends and send what it
 * receives.
 */
function answerDirection(offerLines: string[], wanted: 'sendrecv' | 'recvonly'): string {
  const offered = DIRECTIONS.find((d) => offerLines.includes(`a=${d}`)) ?? 'sendrecv';
  const offerSends = offered === 'sendrecv' || offered === 'sendonly';
  const offerReceives = offered === 'sendrecv' || offered === 'recvonly';
  const weSend = wanted === 'sendrecv' && offerReceives;
  if (offerSends && weSend) return 'sendrecv';
  if (offerSends) return 'recvonly';
  if (weSend) return 'sendonly';
  return 'inactive';
}

/**
 * A minimal SDP answer (RFC 3264 §6, RFC 8829 §5.3) for an ICE-lite endpoint (RFC 8445 §2.5) to a
 * browser's offer: one host candidate, our fingerprint and setup, BUNDLE over the accepted sections.
 * Accepted: `m=application … webrtc-datachannel` (RFC 8841) and `m=audio` (the offer's first codec);
 * any other m-section is rejected with port 0 (RFC 3264 §6) and left out of the bundle group.
 */
export function buildIceLiteAnswer(offer: string, opts: IceLiteAnswerOptions): string {
  parseFingerprint(opts.fingerprint);
  const address = opts.address ?? '127.0.0.1';
  const ipVersion = address.includes(':') ? 'IP6' : 'IP4';
  const sections = parseMediaSections(offer);
  if (sections.length === 0) throw new DtlsError('invalid_argument', 'the offer has no m-section');
  const body: string[] = [];
  const bundled: string[] = [];
  const [hashName, hashValue] = opts.fingerprint.trim().split(/\s+/) as [string, string];
  for (const s of sections) {
    const accept =
      (s.kind === 'application' && s.formats.includes('webrtc-datachannel')) ||
      (s.kind === 'audio' && s.formats.length > 0 && s.port !== 0);
    if (!accept) {
      body.push(`m=${s.kind} 0 ${s.proto} ${s.formats.join(' ')}`, `c=IN ${ipVersion} ${address}`);
      if (s.mid !== undefined) body.push(`a=mid:${s.mid}`);
      continue;
    }
    if (s.mid !== undefined) bundled.push(s.mid);
    const transport = [
      `c=IN ${ipVersion} ${address}`,
      ...(s.mid !== undefined ? [`a=mid:${s.mid}`] : []),
      `a=ice-ufrag:${opts.iceUfrag}`,
      `a=ice-pwd:${opts.icePwd}`,
      `a=fingerprint:${hashName.toLowerCase()} ${hashValue.toUpperCase()}`,
      `a=setup:${opts.setup}`,
      // RFC 8839 §5.1 candidate: foundation, component 1, UDP, a host-type priority (RFC 8445 §5.1.2.1).
      `a=candidate:1 1 udp 2130706431 ${address} ${opts.port} typ host`,
      'a=end-of-candidates',
    ];
    if (s.kind === 'application') {
      body.push(`m=application ${opts.port} ${s.proto} webrtc-datachannel`, ...transport);
      body.push(`a=sctp-port:${opts.sctpPort ?? 5000}`, 'a=max-message-size:262144');
      continue;
    }
    const pt = s.formats[0]!;
    const rtpmap = s.lines.find((l) => l.startsWith(`a=rtpmap:${pt} `));
    const fmtp = s.lines.find((l) => l.startsWith(`a=fmtp:${pt} `));
    body.push(`m=audio ${opts.port} ${s.proto} ${pt}`, ...transport);
    // RFC 8843 §9.1 / RFC 8858: bundled WebRTC media multiplexes RTCP on the RTP port.
    body.push('a=rtcp-mux', `a=${answerDirection(s.lines, opts.audioDirection ?? 'recvonly')}`);
    if (rtpmap) body.push(rtpmap);
    if (fmtp) body.push(fmtp);
  }
  const session = [
    'v=0',
    `o=tsdtls ${Date.now()} 1 IN ${ipVersion} ${address}`,
    's=-',
    't=0 0',
    'a=ice-lite',
    ...(bundled.length > 0 ? [`a=group:BUNDLE ${bundled.join(' ')}`] : []),
  ];
  return `${[...session, ...body].join('\r\n')}\r\n`;
}
