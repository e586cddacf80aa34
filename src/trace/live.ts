/**
 * The live view behind `tsdtls client --trace` and `tsdtls server --trace`: every datagram this process
 * sends or receives, as it passes, split into records and handshake messages with the fields DTLS is
 * learned by. It is the capture tool's decoder (FlowDecoder in decode-flow.ts, the same reassembly,
 * retransmission marks and field decoding) fed one datagram at a time, with the engine's own key log
 * standing in for an NSS key log file, so the Finished messages and application data are shown decrypted.
 *
 * Layout, one block per datagram:
 *
 *   +0.001234s  client ← server 127.0.0.1:4433  datagram 2 · 60 B · flight 2
 *                 Handshake         e0 #0         48 B  HelloVerifyRequest seq=0 [cookie]
 *                    version: DTLS 1.0 (0xfeff)
 *                    cookie: 5c1e…
 */

import type { RawRecord } from '../wire/record.js';
import {
  dtlsRecords,
  FlowDecoder,
  keylogEntry,
  type Side,
  type TraceDatagram,
  type TraceFlight,
} from './decode-flow.js';
import {
  type DetailContext,
  endpointLabel,
  Painter,
  recordDetails,
  recordLabel,
  recordStyle,
} from './ladder.js';

export type Direction = 'in' | 'out';

export interface PeerEndpoint {
  address: string;
  port: number;
}

export interface LiveTracerOptions {
  /** Which end of its associations this process is: decides who sent an 'out' datagram. */
  role: Side;
  /** Receives the finished text, whole lines only (the CLI passes stderr, keeping stdout for data). */
  write: (text: string) => void;
  /** ANSI colours (only for a terminal). */
  color?: boolean;
  /**
   * How long a datagram with epoch-1 records waits for the key log line that opens them, in ms (default
   * 250). The engine logs the master secret in the same turn as it sends or reads the first protected
   * flight, so the wait normally ends at once; this bounds it when no line comes (a resumed session).
   */
  keyWaitMs?: number;
  /** Milliseconds on a monotonic clock (default performance.now); the time column counts from each
   * association's first datagram. */
  now?: () => number;
  /** Most associations kept at once (default 256; the oldest is forgotten first). */
  maxAssociations?: number;
}

/** A datagram waiting for its key, with the time it passed. */
interface Pending {
  from: Side;
  direction: Direction;
  time: number;
  size: number;
  parsed: ReturnType<typeof dtlsRecords>;
}

interface Association {
  peer: PeerEndpoint;
  decoder: FlowDecoder;
  details: DetailContext;
  /** `now()` at the first datagram. */
  start: number;
  /** Datagrams not yet printed, oldest first: they wait for a key, or behind one that does. */
  pending: Pending[];
  timer: NodeJS.Timeout | undefined;
}

/** Most key log lines remembered (one per association; the oldest go first). */
const MAX_KEYLOG_LINES = 4096;

const LEGEND =
  'tsdtls trace: e = epoch, # = record sequence number (RFC 6347 §4.1); seq = handshake message_seq, ' +
  'frag = fragment offset+length/total (§4.2.2)\n';

export class LiveTracer {
  private readonly associations = new Map<string, Association>();
  /** Master secrets by client random (hex), as parseKeylog gives them; shared by every association. */
  private readonly keylogSecrets = new Map<string, Buffer>();
  private readonly painter: Painter;
  private readonly now: () => number;
  private readonly keyWaitMs: number;
  private readonly maxAssociations: number;
  private legendShown = false;
  private closed = false;

  constructor(private readonly options: LiveTracerOptions) {
    this.painter = new Painter(options.color ?? false);
    this.now = options.now ?? (() => performance.now());
    this.keyWaitMs = options.keyWaitMs ?? 250;
    this.maxAssociations = Math.max(1, options.maxAssociations ?? 256);
  }

  /**
   * One UDP datagram, sent ('out') or received ('in') by this process, to or from `peer`. `time` is
   * when it passed (`now()` by default).
   */
  datagram(direction: Direction, data: Buffer, peer: PeerEndpoint, time = this.now()): void {
    if (this.closed) return;
    const from: Side = (direction === 'out') === (this.options.role === 'client') ? 'client' : 'server';
    const parsed = dtlsRecords(data);
    const assoc = this.association(peer, parsed?.records ?? [], from, time);
    assoc.pending.push({ from, direction, time, size: data.length, parsed });
    this.drain(assoc, false);
    if (assoc.pending.length > 0 && assoc.timer === undefined) {
      assoc.timer = setTimeout(() => {
        assoc.timer = undefined;
        this.drain(assoc, true);
      }, this.keyWaitMs);
    }
  }

  /** A key log line from the engine (`CLIENT_RANDOM <random> <master secret>`); other lines are ignored. */
  keylog(line: Buffer | string): void {
    if (this.closed) return;
    const entry = keylogEntry(line.toString());
    if (entry === undefined) return;
    if (this.keylogSecrets.size >= MAX_KEYLOG_LINES) {
      const oldest = this.keylogSecrets.keys().next().value;
      if (oldest !== undefined) this.keylogSecrets.delete(oldest);
    }
    this.keylogSecrets.set(entry.clientRandom, entry.masterSecret);
    for (const assoc of this.associations.values()) {
      if (assoc.decoder.clientRandom?.toString('hex') !== entry.clientRandom) continue;
      // The secret itself stays out of the trace: the trace is for reading, the key log file for tools.
      this.emit([
        this.painter.paint(
          'dim',
          `${' '.repeat(13)}key log: master secret for client random ${entry.clientRandom.slice(0, 16)}… ` +
            `(${endpointLabel(assoc.peer)}): epoch 1 can be decrypted`,
        ),
      ]);
      this.drain(assoc, false);
    }
  }

  /** Print every datagram still waiting for a key (as encrypted, if its key never came). */
  flush(): void {
    for (const assoc of this.associations.values()) this.drain(assoc, true);
  }

  /** Flush, stop every timer, and ignore anything fed later. */
  close(): void {
    if (this.closed) return;
    this.flush();
    this.closed = true;
  }

  private association(peer: PeerEndpoint, records: RawRecord[], from: Side, time: number): Association {
    const key = endpointLabel(peer);
    let assoc = this.associations.get(key);
    // A fresh ClientHello (message_seq 0) after a ServerHello is a new association from the same port.
    if (assoc && from === 'client' && assoc.decoder.serverRandom && records.some(isInitialClientHello)) {
      this.drain(assoc, true);
      this.associations.delete(key);
      assoc = undefined;
    }
    if (assoc) return assoc;
    if (this.associations.size >= this.maxAssociations) {
      const [oldestKey, oldest] = this.associations.entries().next().value as [string, Association];
      this.drain(oldest, true);
      this.associations.delete(oldestKey);
    }
    assoc = {
      peer: { address: peer.address, port: peer.port },
      decoder: new FlowDecoder(this.keylogSecrets),
      details: { cookieSeen: false },
      start: time,
      pending: [],
      timer: undefined,
    };
    this.associations.set(key, assoc);
    const other = this.options.role === 'client' ? 'server' : 'client';
    const lines = [
      this.painter.paint(
        'bold',
        `── DTLS association with ${other} ${key} · ${new Date().toISOString()} `.padEnd(100, '─'),
      ),
    ];
    if (!this.legendShown) {
      this.legendShown = true;
      lines.unshift(this.painter.paint('dim', LEGEND.trimEnd()));
    }
    this.emit(lines);
    return assoc;
  }

  /** Print the association's waiting datagrams in order, up to the first that still waits for its key. */
  private drain(assoc: Association, force: boolean): void {
    while (assoc.pending.length > 0) {
      const next = assoc.pending[0]!;
      if (!force && this.needsKey(assoc, next)) return;
      assoc.pending.shift();
      this.print(assoc, next);
    }
    if (assoc.timer) clearTimeout(assoc.timer);
    assoc.timer = undefined;
  }

  /** Epoch-1 records that cannot be opened yet, though the key log line may still come. */
  private needsKey(assoc: Association, p: Pending): boolean {
    if (!p.parsed?.records.some((r) => r.epoch === 1)) return false;
    const random = assoc.decoder.clientRandom?.toString('hex');
    if (random !== undefined && this.keylogSecrets.has(random)) return false;
    return !assoc.decoder.hasKeys();
  }

  private print(assoc: Association, p: Pending): void {
    const time = `+${((p.time - assoc.start) / 1000).toFixed(6)}s`.padStart(11);
    const local = this.options.role;
    const other = local === 'client' ? 'server' : 'client';
    const arrow = p.direction === 'out' ? '→' : '←';
    const who = `${local} ${arrow} ${other} ${endpointLabel(assoc.peer)}`;
    if (p.parsed === undefined) {
      this.emit([`${time}  ${this.painter.paint(p.from, who)}  ${p.size} B, not a DTLS record`]);
      return;
    }
    const { datagram, flight } = assoc.decoder.decodeDatagram(
      p.parsed.records,
      p.from,
      (p.time - assoc.start) / 1000,
      p.size,
      p.parsed.malformed,
    );
    const lines = [this.datagramLine(time, who, datagram, flight)];
    for (const r of datagram.records) {
      let label = recordLabel(r);
      if (r.handshake.some((h) => h.type === 3)) label += ' [cookie]';
      if (r.decrypted && !label.includes('(decrypted)')) label += ' (decrypted)';
      const header = `e${r.epoch} #${r.sequenceNumber}`.padEnd(10);
      const size = `${r.length} B`.padStart(8);
      lines.push(
        `${' '.repeat(13)}${r.contentTypeName.padEnd(17)} ${this.painter.paint('dim', `${header} ${size}`)}  ` +
          this.painter.paint(recordStyle(r, p.from), label),
      );
      for (const line of recordDetails(r, datagram, assoc.details)) {
        lines.push(
          this.painter.paint(line.includes('← cookie') ? 'cookie' : 'dim', `${' '.repeat(16)}${line}`),
        );
      }
    }
    this.emit(lines);
  }

  private datagramLine(time: string, who: string, d: TraceDatagram, flight: TraceFlight): string {
    const facts = `datagram ${d.index} · ${d.size} B · flight ${flight.number}`;
    const resent = d.records.length > 0 && d.records.every(isResent);
    const head = `${this.painter.paint(d.from, who)}  ${facts}`;
    return `${time}  ${resent ? `${head}${this.painter.paint('retransmit', ' · retransmission')}` : head}`;
  }

  private emit(lines: string[]): void {
    if (lines.length > 0) this.options.write(`${lines.join('\n')}\n`);
  }
}

/** A record already seen: every handshake fragment in it resent, or a CCS resent with its flight. */
function isResent(r: TraceDatagram['records'][number]): boolean {
  if (r.handshake.length > 0) return r.handshake.every((h) => h.retransmission);
  return r.note === 'retransmission';
}

/** An epoch-0 record starting a ClientHello with message_seq 0 (RFC 6347 §4.2.2 header: type, length
 * u24, message_seq u16, ...), the first message of a new association. */
function isInitialClientHello(r: RawRecord): boolean {
  const f = r.fragment;
  return r.type === 22 && r.epoch === 0 && f.length >= 12 && f[0] === 1 && f[4] === 0 && f[5] === 0;
}
