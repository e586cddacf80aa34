/**
 * The record layer alone: seal and open of 1,200-byte application_data records through RecordLayer
 * (header, sequence numbers, replay window, AES-128-GCM), through the bare RecordCipher, and node:crypto's
 * AES-128-GCM createCipheriv/createDecipheriv on the same data with the same nonce and AAD sizes.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { createRecordCipher } from '../../src/crypto/aead.js';
import { suiteByName } from '../../src/crypto/suites.js';
import { RecordLayer } from '../../src/record/record-layer.js';
import { ContentType } from '../../src/wire/constants.js';
import type { Figures } from '../lib/common.js';

const SIZE = 1200;

/** Calls `f(i)` for i = 0, 1, … until `durationMs` has passed (checked every 256 calls, at most `max` calls). */
function timed(durationMs: number, max: number, f: (i: number) => void): { ops: number; ms: number } {
  const start = performance.now();
  let i = 0;
  while (i < max) {
    for (const end = Math.min(max, i + 256); i < end; i++) f(i);
    if (performance.now() - start >= durationMs) break;
  }
  return { ops: i, ms: performance.now() - start };
}

const rate = (r: { ops: number; ms: number }): number => (r.ops * 1000) / r.ms;

export function recordLayerBench(durationMs: number): Figures {
  const suite = suiteByName('TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256');
  if (!suite) throw new Error('suite missing');
  const key = randomBytes(16);
  const iv = randomBytes(4);
  const payload = randomBytes(SIZE);
  // Enough records that opening never runs out before the time is up (~40 MB at most).
  const maxRecords = 32_768;
  const out: Figures = {};

  for (let pass = 0; pass < 2; pass++) {
    // Pass 0 warms up the JIT; only pass 1 is reported.
    const ms = pass === 0 ? 150 : durationMs;
    const writer = new RecordLayer();
    writer.addWriteEpoch(1, createRecordCipher(suite, key, iv));
    writer.setWriteEpoch(1);
    const reader = new RecordLayer();
    reader.setPendingReadCipher(1, createRecordCipher(suite, key, iv));
    reader.activatePendingRead();
    const records: Buffer[] = [];
    const seal = timed(ms, maxRecords, () => {
      records.push(writer.seal(ContentType.application_data, payload));
    });
    let bad = 0;
    const open = timed(ms, records.length, (i) => {
      for (const raw of reader.splitDatagram(records[i]!)) if (!reader.openRecord(raw)) bad++;
    });
    if (bad > 0) throw new Error(`record layer failed to open ${bad} records`);

    const cipher = createRecordCipher(suite, key, iv);
    const fragments: Buffer[] = [];
    const cSeal = timed(ms, maxRecords, (i) => {
      fragments.push(cipher.seal(1, i, ContentType.application_data, 0xfefd, payload));
    });
    const cOpen = timed(ms, fragments.length, (i) => {
      if (!cipher.open(1, i, ContentType.application_data, 0xfefd, fragments[i]!)) bad++;
    });
    if (bad > 0) throw new Error(`record cipher failed to open ${bad} fragments`);

    // Bare node:crypto: a 12-byte nonce and 13-byte AAD per record, as the record layer uses.
    const nonce = Buffer.alloc(12);
    iv.copy(nonce);
    const aad = Buffer.alloc(13);
    const sealed: { ct: Buffer; tag: Buffer }[] = [];
    const bSeal = timed(ms, maxRecords, (i) => {
      nonce.writeUInt32BE(i, 8);
      aad.writeUInt32BE(i, 4);
      const c = createCipheriv('aes-128-gcm', key, nonce);
      c.setAAD(aad);
      const ct = c.update(payload);
      c.final();
      sealed.push({ ct, tag: c.getAuthTag() });
    });
    const bOpen = timed(ms, sealed.length, (i) => {
      nonce.writeUInt32BE(i, 8);
      aad.writeUInt32BE(i, 4);
      const d = createDecipheriv('aes-128-gcm', key, nonce);
      d.setAuthTag(sealed[i]!.tag);
      d.setAAD(aad);
      d.update(sealed[i]!.ct);
      d.final();
    });
    if (pass === 1) {
      Object.assign(out, {
        'record.layer.seal_per_s': rate(seal),
        'record.layer.open_per_s': rate(open),
        'record.cipher.seal_per_s': rate(cSeal),
        'record.cipher.open_per_s': rate(cOpen),
        'record.bare.seal_per_s': rate(bSeal),
        'record.bare.open_per_s': rate(bOpen),
      });
    }
  }
  // seal+open pairs per second: one record sealed and opened, the figure the target compares.
  const pair = (s: number, o: number): number => 1 / (1 / s + 1 / o);
  out['record.layer.pair_per_s'] = pair(out['record.layer.seal_per_s'] as number, out['record.layer.open_per_s'] as number);
  out['record.cipher.pair_per_s'] = pair(out['record.cipher.seal_per_s'] as number, out['record.cipher.open_per_s'] as number);
  out['record.bare.pair_per_s'] = pair(out['record.bare.seal_per_s'] as number, out['record.bare.open_per_s'] as number);
  return out;
}
