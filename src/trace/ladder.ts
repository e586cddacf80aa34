/**
 * The terminal view of `tsdtls trace`: each DTLS flow as a ladder (sequence) diagram, client on the left,
 * server on the right, one row per record, grouped into flights (RFC 6347 §4.2.4: a flight is the unit
 * of retransmission, seen on the wire as consecutive datagrams from one side). Under each row, the fields
 * of the handshake message the record completed.
 */

import type {
  CaptureTrace,
  FieldValue,
  TraceDatagram,
  TraceFlow,
  TraceHandshake,
  TraceRecord,
} from './decode-flow.js';

export interface LadderOptions {
  /** ANSI colours (only for a terminal). */
  color?: boolean;
  /** Width of the arrow between the two lifelines, in characters (default 58). */
  arrowWidth?: number;
}

export type Style =
  | 'client'
  | 'server'
  | 'retransmit'
  | 'alert'
  | 'plain'
  | 'dim'
  | 'bold'
  | 'decrypted'
  | 'cookie';

const ANSI: Record<Style, string> = {
  client: '36',
  server: '35',
  retransmit: '33',
  alert: '31',
  plain: '0',
  dim: '2',
  bold: '1',
  decrypted: '32',
  cookie: '34',
};

/** Endpoint as `address:port` (IPv6 in brackets). */
export function endpointLabel(e: { address: string; port: number }): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

/** `ClientHello seq=0 frag 0+1175/1413 (retransmitted)`: the one-line name of a fragment. */
export function handshakeLabel(h: TraceHandshake): string {
  let s = `${h.name} seq=${h.messageSeq}`;
  if (h.fragmented) s += ` frag ${h.fragmentOffset}+${h.fragmentLength}/${h.length}`;
  if (h.retransmission) s += ' (retransmitted)';
  return s;
}

/** The one-line name of a record: its messages, CCS, alert or application data. */
export function recordLabel(r: TraceRecord): string {
  if (r.handshake.length > 0) return r.handshake.map(handshakeLabel).join(', ');
  if (r.changeCipherSpec) return `ChangeCipherSpec${r.note === 'retransmission' ? ' (retransmitted)' : ''}`;
  if (r.alert) return `Alert ${r.alert.level} ${r.alert.name}${r.encrypted ? ' (decrypted)' : ''}`;
  if (r.applicationData) {
    const a = r.applicationData;
    if (a.text !== undefined) return `ApplicationData ${JSON.stringify(a.text)}`;
    if (a.hex !== undefined) return `ApplicationData ${a.length} B (decrypted)`;
    return `ApplicationData ${r.length} B (encrypted)`;
  }
  if (r.encrypted && !r.decrypted) {
    // In a DTLS 1.2 handshake the only epoch-1 handshake message is Finished (RFC 5246 §7.4.9).
    if (r.contentType === 22) return 'Encrypted handshake (Finished)';
    if (r.contentType === 21) return 'Alert (encrypted)';
  }
  return r.contentTypeName;
}

/** The colour of a record's row: alerts red, resent fragments yellow, decrypted records green. */
export function recordStyle(r: TraceRecord, from: 'client' | 'server'): Style {
  if (r.alert || r.contentType === 21) return 'alert';
  if (r.handshake.some((h) => h.retransmission) || r.note === 'retransmission') return 'retransmit';
  if (r.decrypted) return 'decrypted';
  return from;
}

function fieldLines(name: string, value: FieldValue): string[] {
  if (Array.isArray(value)) {
    if (value.length === 0) return [`${name}: (none)`];
    if (value.length === 1) return [`${name}: ${value[0]}`];
    return [`${name}:`, ...value.map((v) => `  ${v}`)];
  }
  return [`${name}: ${value}`];
}

/** What the detail lines of earlier rows tell later ones. */
export interface DetailContext {
  /** A HelloVerifyRequest was seen, so a ClientHello cookie is the echoed one. */
  cookieSeen: boolean;
  /** Fields of the first ClientHello, so the second one can show only what changed. */
  firstClientHello?: Record<string, FieldValue>;
}

function sameValue(a: FieldValue | undefined, b: FieldValue): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Detail lines shown under a record's row; updates `ctx` for the rows after it. */
export function recordDetails(r: TraceRecord, d: TraceDatagram, ctx: DetailContext): string[] {
  const lines: string[] = [];
  for (const h of r.handshake) {
    if (h.decodeError) lines.push(`${h.name}: cannot decode: ${h.decodeError}`);
    if (!h.fields) continue;
    const first = h.type === 1 ? ctx.firstClientHello : undefined;
    let unchanged = 0;
    for (const [k, v] of Object.entries(h.fields)) {
      // RFC 6347 §4.2.1: the second ClientHello repeats the first, adding the cookie.
      if (first && k !== 'cookie' && sameValue(first[k], v)) {
        unchanged++;
        continue;
      }
      const ls = fieldLines(k, v);
      if (h.type === 1 && k === 'cookie' && v !== '(empty)' && ctx.cookieSeen) {
        ls[0] = `${ls[0]}  ← cookie from HelloVerifyRequest`;
      }
      lines.push(...ls);
    }
    if (unchanged > 0) lines.push(`(${unchanged} other fields as in the first ClientHello)`);
    if (h.type === 1 && !ctx.firstClientHello) ctx.firstClientHello = h.fields;
    if (h.type === 3) ctx.cookieSeen = true;
  }
  if (r.applicationData?.hex !== undefined) lines.push(`plaintext (hex): ${r.applicationData.hex}`);
  if (r.note && r.note !== 'retransmission') lines.push(r.note);
  if (d.malformed && r === d.records[d.records.length - 1]) lines.push(d.malformed);
  return lines;
}

/** Wraps text in ANSI colour codes when enabled (a terminal), else leaves it alone. */
export class Painter {
  constructor(private readonly enabled: boolean) {}
  paint(style: Style, text: string): string {
    if (!this.enabled || style === 'plain' || text === '') return text;
    return `\u001b[${ANSI[style]}m${text}\u001b[0m`;
  }
}

function truncate(s: string, width: number): string {
  return s.length <= width ? s : `${s.slice(0, Math.max(0, width - 1))}…`;
}

function arrow(label: string, from: 'client' | 'server', width: number): string {
  const text = ` ${truncate(label, width - 5)} `;
  const fill = '─'.repeat(Math.max(1, width - text.length - 2));
  return from === 'client' ? `─${text}${fill}▶` : `◀${fill}${text}─`;
}

function formatTime(seconds: number): string {
  return `${seconds.toFixed(6)}s`;
}

function flowHeadline(flow: TraceFlow): string[] {
  const s = flow.summary;
  const records = flow.datagrams.reduce((n, d) => n + d.records.length, 0);
  const facts = [
    `${flow.datagrams.length} datagrams`,
    `${records} records`,
    `${flow.flights.length} flights`,
    `${flow.duration.toFixed(3)} s`,
  ];
  const lines = [
    `DTLS flow ${flow.id}: client ${endpointLabel(flow.client)} ⇄ server ${endpointLabel(flow.server)}` +
      (flow.clientIdentified ? '' : ' (no ClientHello seen: client = first sender)'),
    `  ${facts.join(', ')}`,
  ];
  const negotiated = [s.version, s.cipherSuite, s.group].filter((x) => x !== undefined);
  if (negotiated.length > 0) lines.push(`  negotiated: ${negotiated.join(', ')}`);
  const marks: string[] = [];
  if (s.cookieExchange) marks.push('cookie exchange (HelloVerifyRequest)');
  if (s.fragments > 0) marks.push(`${s.fragments} handshake fragments`);
  if (s.retransmissions > 0) marks.push(`${s.retransmissions} retransmitted fragments`);
  if (s.alerts.length > 0) marks.push(`alerts: ${s.alerts.join('; ')}`);
  if (marks.length > 0) lines.push(`  ${marks.join(', ')}`);
  if (s.serverCertificate)
    lines.push(`  server certificate: ${s.serverCertificate} (sha-256 ${s.serverFingerprint})`);
  if (s.pskIdentity || s.pskIdentityHint) {
    lines.push(`  psk identity: ${s.pskIdentity ?? '?'}, hint: ${s.pskIdentityHint ?? '(none)'}`);
  }
  lines.push(`  decryption: ${s.decryption}`);
  return lines;
}

/** Draw one flow. */
export function renderFlow(flow: TraceFlow, options: LadderOptions = {}): string {
  const width = options.arrowWidth ?? 58;
  const p = new Painter(options.color ?? false);
  const timeWidth = 12;
  const gutter = ' '.repeat(timeWidth);
  const out: string[] = [];
  const head = flowHeadline(flow);
  out.push(p.paint('bold', head[0]!), ...head.slice(1), '');
  const clientName = `client ${endpointLabel(flow.client)}`;
  const serverName = `server ${endpointLabel(flow.server)}`;
  out.push(
    `${'time'.padStart(timeWidth - 2)}  ${clientName}${' '.repeat(Math.max(1, width + 2 - clientName.length - serverName.length))}${serverName}`,
  );
  const ctx: DetailContext = { cookieSeen: false };
  for (const flight of flow.flights) {
    const n = flight.datagrams.length;
    const title = `── flight ${flight.number} · ${flight.from} · ${n} datagram${n === 1 ? '' : 's'}${flight.retransmission ? ' · retransmission' : ''} `;
    out.push(
      p.paint(flight.retransmission ? 'retransmit' : 'bold', title.padEnd(timeWidth + width + 2, '─')),
    );
    for (const dIndex of flight.datagrams) {
      const d = flow.datagrams[dIndex - 1]!;
      for (const [ri, r] of d.records.entries()) {
        const time =
          ri === 0
            ? formatTime(d.time)
                .padStart(timeWidth - 2)
                .padEnd(timeWidth)
            : gutter;
        // Datagram size on its first record only (a ditto mark after), then the record's own header.
        const size = ri === 0 ? `${d.size} B` : '    "';
        const meta = `${size} · rec e${r.epoch} #${r.sequenceNumber} ${r.length} B`;
        let label = recordLabel(r);
        if (r.handshake.some((h) => h.type === 3)) label += ' [cookie]';
        const style = recordStyle(r, d.from);
        out.push(`${time}│${p.paint(style, arrow(label, d.from, width))}│ ${p.paint('dim', meta)}`);
        const details = recordDetails(r, d, ctx);
        if (label.length > width - 5) details.unshift(label);
        for (const line of details) {
          const text = `   ${line}`;
          const padded = text.length < width ? `${text.padEnd(width)}│` : text;
          out.push(`${gutter}│${p.paint(line.includes('← cookie') ? 'cookie' : 'dim', padded)}`);
        }
      }
    }
  }
  return `${out.join('\n')}\n`;
}

/** Draw every flow of a capture, with a one-line capture summary first. */
export function renderLadder(trace: CaptureTrace, options: LadderOptions = {}): string {
  const head =
    `${trace.format} capture: ${trace.udpDatagrams} UDP datagrams, ${trace.flows.length} DTLS flow` +
    `${trace.flows.length === 1 ? '' : 's'}, ${trace.otherDatagrams} other datagrams (STUN, ...) ignored\n\n`;
  return head + trace.flows.map((f) => renderFlow(f, options)).join('\n');
}
