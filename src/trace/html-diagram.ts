/**
 * `tsdtls trace --html OUT`: the same ladder as the terminal view, as one self-contained HTML page with an
 * inline SVG sequence diagram per flow (no scripts, no external resources), for opening in a browser.
 */

import type { CaptureTrace, TraceFlow } from './decode-flow.js';
import { type DetailContext, endpointLabel, recordDetails, recordLabel } from './ladder.js';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const LEFT = 190;
const RIGHT = 830;
const ROW = 34;
const DETAIL = 15;
const FLIGHT = 26;
const WIDTH = 1500;

function colourOf(label: string, from: 'client' | 'server', alert: boolean, decrypted: boolean): string {
  if (alert) return '#c62828';
  if (label.includes('retransmitted')) return '#b8860b';
  if (decrypted) return '#2e7d32';
  return from === 'client' ? '#1565c0' : '#8e24aa';
}

function flowSvg(flow: TraceFlow): string {
  const parts: string[] = [];
  let y = 60;
  const ctx: DetailContext = { cookieSeen: false };
  for (const flight of flow.flights) {
    parts.push(
      `<rect x="0" y="${y}" width="${WIDTH}" height="${FLIGHT - 6}" fill="${flight.retransmission ? '#fff3cd' : '#f0f0f0'}"/>`,
      `<text x="8" y="${y + 14}" class="flight">flight ${flight.number} · ${flight.from} · ${flight.datagrams.length} datagram(s)${flight.retransmission ? ' · retransmission' : ''}</text>`,
    );
    y += FLIGHT;
    for (const n of flight.datagrams) {
      const d = flow.datagrams[n - 1]!;
      for (const [ri, r] of d.records.entries()) {
        const label = recordLabel(r) + (r.handshake.some((h) => h.type === 3) ? ' [cookie]' : '');
        const details = recordDetails(r, d, ctx);
        const colour = colourOf(label, d.from, r.contentType === 21, r.decrypted);
        const [x1, x2] = d.from === 'client' ? [LEFT, RIGHT] : [RIGHT, LEFT];
        const lineY = y + 18;
        const tooltip = [label, ...details].join('\n');
        parts.push(`<g><title>${esc(tooltip)}</title>`);
        if (ri === 0) parts.push(`<text x="8" y="${lineY + 4}" class="time">${d.time.toFixed(6)} s</text>`);
        parts.push(
          `<line x1="${x1}" y1="${lineY}" x2="${x2}" y2="${lineY}" stroke="${colour}" stroke-width="2" marker-end="url(#head-${d.from})"/>`,
          `<text x="${(LEFT + RIGHT) / 2}" y="${lineY - 5}" text-anchor="middle" fill="${colour}" class="label">${esc(label)}</text>`,
          `<text x="${RIGHT + 12}" y="${lineY + 4}" class="meta">${ri === 0 ? `${d.size} B` : 'same datagram'} · epoch ${r.epoch} · seq ${r.sequenceNumber} · record ${r.length} B</text>`,
          '</g>',
        );
        y += ROW;
        for (const line of details) {
          parts.push(`<text x="${LEFT + 14}" y="${y}" class="detail">${esc(line)}</text>`);
          y += DETAIL;
        }
        if (details.length > 0) y += 6;
      }
    }
  }
  const height = y + 20;
  const header = [
    `<text x="${LEFT}" y="30" text-anchor="middle" class="who">client</text>`,
    `<text x="${LEFT}" y="46" text-anchor="middle" class="meta">${esc(endpointLabel(flow.client))}</text>`,
    `<text x="${RIGHT}" y="30" text-anchor="middle" class="who">server</text>`,
    `<text x="${RIGHT}" y="46" text-anchor="middle" class="meta">${esc(endpointLabel(flow.server))}</text>`,
    `<line x1="${LEFT}" y1="52" x2="${LEFT}" y2="${height}" stroke="#444" stroke-dasharray="4 3"/>`,
    `<line x1="${RIGHT}" y1="52" x2="${RIGHT}" y2="${height}" stroke="#444" stroke-dasharray="4 3"/>`,
  ];
  const defs =
    '<defs>' +
    ['client', 'server']
      .map(
        (side) =>
          `<marker id="head-${side}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#333"/></marker>`,
      )
      .join('') +
    '</defs>';
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="DTLS flow ${flow.id} sequence diagram">` +
    `${defs}${header.join('')}${parts.join('')}</svg>`
  );
}

function summaryList(flow: TraceFlow): string {
  const s = flow.summary;
  const items: [string, string | undefined][] = [
    ['version', s.version],
    ['cipher suite', s.cipherSuite],
    ['group', s.group],
    ['cookie exchange', s.cookieExchange ? `yes (cookie ${s.cookie ?? '?'})` : 'no'],
    ['client random', s.clientRandom],
    ['server random', s.serverRandom],
    ['server certificate', s.serverCertificate && `${s.serverCertificate} (sha-256 ${s.serverFingerprint})`],
    ['PSK identity', s.pskIdentity],
    ['PSK identity hint', s.pskIdentityHint],
    ['fragments / retransmitted fragments', `${s.fragments} / ${s.retransmissions}`],
    ['alerts', s.alerts.length > 0 ? s.alerts.join('; ') : undefined],
    ['decryption', s.decryption],
  ];
  return `<dl>${items
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `<dt>${esc(k)}</dt><dd>${esc(v!)}</dd>`)
    .join('')}</dl>`;
}

/** The whole page. */
export function renderHtml(trace: CaptureTrace, title = 'DTLS trace'): string {
  const flows = trace.flows
    .map(
      (f) =>
        `<section><h2>Flow ${f.id}: ${esc(endpointLabel(f.client))} ⇄ ${esc(endpointLabel(f.server))}</h2>` +
        `${summaryList(f)}<div class="diagram">${flowSvg(f)}</div></section>`,
    )
    .join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${esc(title)}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; font-size: 0.9em; }
dt { font-weight: 600; } dd { margin: 0; font-family: ui-monospace, monospace; word-break: break-all; }
.diagram { overflow-x: auto; border: 1px solid #ddd; }
svg text { font-family: ui-monospace, monospace; }
.label { font-size: 13px; font-weight: 600; } .detail { font-size: 11px; fill: #555; white-space: pre; }
.time, .meta { font-size: 11px; fill: #666; } .who { font-size: 15px; font-weight: 700; }
.flight { font-size: 12px; font-weight: 600; fill: #333; }
</style>
</head>
<body>
<h1>${esc(title)}</h1>
<p>${trace.format} capture: ${trace.udpDatagrams} UDP datagrams, ${trace.flows.length} DTLS flow(s), ${trace.otherDatagrams} other datagrams ignored. Hover an arrow for its details.</p>
${flows}
</body>
</html>
`;
}
