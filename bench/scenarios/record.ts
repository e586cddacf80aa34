/**
 * The record layer alone: seal and open of 1,200-byte application_data records through RecordLayer
 * (header, sequence numbers, replay window, AES-128-GCM), through the bare RecordCipher, and node:crypto's
 * AES-128-GCM createCipheriv/createDecipheriv on the same data with the same nonce and AAD sizes.
 * RecordLayer seals twice over: as one buffer (seal, what pollTransmit gives) and as the record's parts
 * (sealGathered, what the Node adapter hands to dgram, which gathers them into one datagram).
 * The seven measurements are interleaved in slices of a few tenths of the window, in rotating order, so
 * that drift (CPU frequency, a neighbour) and position effects hit them alike; each slice ends by
 * collecting its own young garbage (timeSlice); records to open are sealed beforehand and reused, so
 * memory stays flat.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { createRecordCipher } from '../../src/crypto/aead.js';
import { suiteByName } from '../../src/crypto/suites.js';
import { RecordLayer } from '../../src/record/record-layer.js';
import { ContentType, ProtocolVersion } from '../../src/wire/constants.js';
import { type Figures, timeSlice as slice } from '../lib/common.js';

const SIZE = 1200;
/** Distinct records sealed up front for the open measurements. */
const POOL = 4096;

type Op = (i: number) => void;

export function recordLayerBench(durationMs: number): Figures {
  const suite = suiteByName('TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256');
  if (!suite) throw new Error('suite missing');
  const key = randomBytes(16);
  const iv = randomBytes(4);
  const payload = randomBytes(SIZE);
  const version = ProtocolVersion.DTLS1_2;

  const newWriter = (): RecordLayer => {
    const w = new RecordLayer();
    w.addWriteEpoch(1, createRecordCipher(suite, key, iv));
    w.setWriteEpoch(1);
    return w;
  };
  const newReader = (): RecordLayer => {
    const r = new RecordLayer();
    r.setPendingReadCipher(1, createRecordCipher(suite, key, iv));
    r.activatePendingRead();
    return r;
  };

  // Inputs for the open measurements.
  const poolWriter = newWriter();
  const records = Array.from({ length: POOL }, () => poolWriter.seal(ContentType.application_data, payload));
  const cipher = createRecordCipher(suite, key, iv);
  const fragments = Array.from({ length: POOL }, (_, i) =>
    cipher.seal(1, i, ContentType.application_data, version, payload),
  );
  const nonce = Buffer.alloc(12);
  iv.copy(nonce);
  const aad = Buffer.alloc(13);
  const bare = Array.from({ length: POOL }, (_, i) => {
    nonce.writeUInt32BE(i, 8);
    aad.writeUInt32BE(i, 4);
    const c = createCipheriv('aes-128-gcm', key, nonce);
    c.setAAD(aad);
    const ct = Buffer.concat([c.update(payload), c.final()]);
    return { ct, tag: c.getAuthTag() };
  });

  let writer = newWriter();
  let gatheringWriter = newWriter();
  let reader = newReader();
  let bad = 0;
  const ops: Record<string, Op> = {
    'record.layer.seal': (i) => {
      // A fresh writer now and then keeps the sequence number far from 2^48 and costs nothing measurable.
      if (i % POOL === 0) writer = newWriter();
      writer.seal(ContentType.application_data, payload);
    },
    'record.gathered.seal': (i) => {
      if (i % POOL === 0) gatheringWriter = newWriter();
      gatheringWriter.sealGathered(ContentType.application_data, payload);
    },
    'record.layer.open': (i) => {
      // The replay window refuses a record seen before: a fresh reader for every pass over the pool.
      if (i % POOL === 0) reader = newReader();
      for (const raw of reader.splitDatagram(records[i % POOL]!)) if (!reader.openRecord(raw)) bad++;
    },
    'record.cipher.seal': (i) => {
      cipher.seal(1, i, ContentType.application_data, version, payload);
    },
    'record.cipher.open': (i) => {
      if (!cipher.open(1, i % POOL, ContentType.application_data, version, fragments[i % POOL]!)) bad++;
    },
    'record.bare.seal': (i) => {
      nonce.writeUInt32BE(i, 8);
      aad.writeUInt32BE(i, 4);
      const c = createCipheriv('aes-128-gcm', key, nonce);
      c.setAAD(aad);
      c.update(payload);
      c.final();
      c.getAuthTag();
    },
    'record.bare.open': (i) => {
      const j = i % POOL;
      nonce.writeUInt32BE(j, 8);
      aad.writeUInt32BE(j, 4);
      const d = createDecipheriv('aes-128-gcm', key, nonce);
      d.setAuthTag(bare[j]!.tag);
      d.setAAD(aad);
      d.update(bare[j]!.ct);
      d.final();
    },
  };
  const names = Object.keys(ops);
  /**
   * Rotations of the measurements. Slices must be long: against each measurement run alone for 2 s in a
   * process of its own (gathered seal 93–94k/s beside bare seal 93–96k/s, open 110–112k/s beside bare
   * open 107–118k/s on this machine), 7 rotations of 53 ms slices put the pair ratio near 0.76 and 4 of
   * 93 ms near 0.9: in short slices the cost of freeing what one measurement made (node:crypto's native
   * cipher contexts, the ArrayBuffers of its outputs) is paid in part inside its neighbours' slices.
   */
  const ROTATIONS = 4;
  // Each measurement gets 3/4 of the window in all: seven of them, and the whole benchmark has 3 minutes.
  const sliceMs = (0.75 * durationMs) / ROTATIONS;
  // Warm-up, not counted.
  for (const n of names) slice(50, ops[n]!, { ops: 0, ms: 0 });
  const acc = Object.fromEntries(names.map((n) => [n, { ops: 0, ms: 0 }]));
  /** Each measurement's rate in each rotation, for ratios taken rotation by rotation. */
  const perRotation = Object.fromEntries(names.map((n) => [n, [] as number[]]));
  // The order rotates from one rotation to the next, forwards and backwards in turn, so measurements
  // change position and neighbours.
  for (let s = 0; s < ROTATIONS; s++) {
    for (let k = 0; k < names.length; k++) {
      const j = s % 2 === 0 ? s + k : s - k + names.length;
      const n = names[j % names.length]!;
      const a = acc[n]!;
      const [ops0, ms0] = [a.ops, a.ms];
      slice(sliceMs, ops[n]!, a);
      perRotation[n]!.push(((a.ops - ops0) * 1000) / (a.ms - ms0));
    }
  }
  if (bad > 0) throw new Error(`${bad} records failed to open`);

  const out: Figures = {};
  for (const n of names) out[`${n}_per_s`] = (acc[n]!.ops * 1000) / acc[n]!.ms;
  // One record sealed and opened, the pair the target compares.
  for (const k of ['layer', 'cipher', 'bare']) {
    const s = out[`record.${k}.seal_per_s`] as number;
    const o = out[`record.${k}.open_per_s`] as number;
    out[`record.${k}.pair_per_s`] = 1 / (1 / s + 1 / o);
  }
  {
    // The gathered record is opened like any other: the receiver gets one contiguous datagram.
    const s = out['record.gathered.seal_per_s'] as number;
    const o = out['record.layer.open_per_s'] as number;
    out['record.gathered.open_per_s'] = o;
    out['record.gathered.pair_per_s'] = 1 / (1 / s + 1 / o);
  }
  // The target ratios, one per rotation (each side's seal and open measured within a few hundred ms of
  // the reference's), then their median: a garbage collection or a change of machine speed that lands in
  // one slice moves one ratio, not the figure.
  const pair = (seal: string, open: string, s: number) =>
    1 / (1 / perRotation[`record.${seal}.seal`]![s]! + 1 / perRotation[`record.${open}.open`]![s]!);
  const medianOver = (f: (s: number) => number): number => {
    const v = Array.from({ length: ROTATIONS }, (_, s) => f(s)).sort((x, y) => x - y);
    // Four values: the mean of the middle two.
    return (v[1]! + v[2]!) / 2;
  };
  out['record.gathered_vs_bare'] = medianOver((s) => pair('gathered', 'layer', s) / pair('bare', 'bare', s));
  out['record.layer_vs_bare'] = medianOver((s) => pair('layer', 'layer', s) / pair('bare', 'bare', s));
  return out;
}
