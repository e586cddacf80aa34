/**
 * The anti-replay window of RFC 6347 §4.1.2.6: a record is fresh when its sequence number is above the
 * highest seen, or within the 64 below it and not yet received; anything older than the window is
 * rejected. check() is pure; accept() marks a record only after it authenticated.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { REPLAY_WINDOW_SIZE, ReplayWindow } from '../../src/record/replay-window.js';
import { mulberry32 } from '../sim/network.js';

/** check-then-accept, as the record layer does for an authentic record. */
function receive(w: ReplayWindow, seq: number): boolean {
  if (!w.check(seq)) return false;
  w.accept(seq);
  return true;
}

/** The obvious model: a set of everything received and the highest number. */
class ReferenceWindow {
  private seen = new Set<number>();
  private top = -1;
  check(seq: number): boolean {
    if (seq > this.top) return true;
    if (this.top - seq >= REPLAY_WINDOW_SIZE) return false;
    return !this.seen.has(seq);
  }
  accept(seq: number): void {
    this.seen.add(seq);
    if (seq > this.top) this.top = seq;
  }
}

test('the window is 64 records wide', () => {
  assert.equal(REPLAY_WINDOW_SIZE, 64);
});

test('fresh records pass, duplicates do not', () => {
  const w = new ReplayWindow();
  assert.ok(w.check(0));
  assert.ok(receive(w, 0));
  assert.equal(w.check(0), false);
  assert.ok(receive(w, 1));
  assert.ok(receive(w, 5));
  assert.equal(receive(w, 5), false);
  // Gaps below the top are still fresh, once.
  assert.ok(receive(w, 3));
  assert.equal(receive(w, 3), false);
  assert.ok(receive(w, 2));
  assert.ok(receive(w, 4));
  for (const s of [0, 1, 2, 3, 4, 5]) assert.equal(w.check(s), false, `seq ${s}`);
  assert.ok(w.check(6));
});

test('check() alone never moves the window (a forged record must not)', () => {
  const w = new ReplayWindow();
  receive(w, 10);
  for (let i = 0; i < 5; i++) assert.ok(w.check(1_000_000));
  // Had the forged 1,000,000 moved the window, 9 would now be too old.
  assert.ok(w.check(9));
  assert.ok(receive(w, 9));
});

test('the first record may have any sequence number; older ones in reach are still fresh', () => {
  const w = new ReplayWindow();
  assert.ok(receive(w, 1000));
  assert.ok(w.check(1000 - 63));
  assert.equal(w.check(1000 - 64), false);
  assert.ok(receive(w, 999));
});

test('exactly at the window edges', () => {
  const w = new ReplayWindow();
  receive(w, 100);
  // top - 63 is the oldest number still inside the window; top - 64 is outside.
  assert.ok(w.check(37));
  assert.equal(w.check(36), false);
  assert.ok(receive(w, 37));
  assert.equal(w.check(37), false);
  // One step up pushes 37 out of the window: still rejected, now as too old.
  assert.ok(receive(w, 101));
  assert.equal(w.check(37), false);
  assert.ok(w.check(38));
  assert.equal(w.check(36), false);
});

test('old records beyond 64 are rejected even if never seen', () => {
  const w = new ReplayWindow();
  receive(w, 500);
  for (const s of [436, 400, 100, 1, 0]) assert.equal(w.check(s), false, `seq ${s}`);
  for (let s = 437; s < 500; s++) assert.ok(w.check(s), `seq ${s}`);
});

test('a far jump ahead clears the window', () => {
  const w = new ReplayWindow();
  for (let s = 0; s < 64; s++) receive(w, s);
  assert.ok(receive(w, 1_000_000));
  assert.equal(w.check(1_000_000), false);
  for (let s = 1_000_000 - 63; s < 1_000_000; s++) assert.ok(w.check(s), `seq ${s}`);
  assert.equal(w.check(1_000_000 - 64), false);
  // Sequence numbers are 48 bits (RFC 6347 §4.1): the window works up there too.
  const big = 2 ** 48 - 1;
  assert.ok(receive(w, big - 100));
  assert.ok(receive(w, big));
  assert.equal(w.check(big), false);
  assert.equal(w.check(big - 100), false);
  assert.ok(w.check(big - 63));
  assert.equal(w.check(big - 64), false);
});

test('jumps of exactly 31, 32, 33, 63, 64 and 65 keep the right bits', () => {
  for (const jump of [1, 31, 32, 33, 63, 64, 65]) {
    const w = new ReplayWindow();
    const base = 200;
    receive(w, base);
    receive(w, base - 5);
    receive(w, base + jump);
    // base sits `jump` below the new top, base-5 at `jump+5`.
    assert.equal(w.check(base), false, `jump ${jump}: base`);
    assert.equal(w.check(base - 5), false, `jump ${jump}: base-5`);
    // A never-seen number just above base is fresh while inside the window.
    const between = base + 1;
    const inside = base + jump - between < 64;
    assert.equal(w.check(between), jump > 1 && inside, `jump ${jump}: base+1`);
    // base-1 was never seen: fresh exactly while it is inside the window.
    assert.equal(w.check(base - 1), jump + 1 < 64, `jump ${jump}: base-1`);
  }
});

test('bit patterns across the 32-bit boundary', () => {
  // Mark every other number over the whole window, then check each position, including 31/32/33 below the top.
  const w = new ReplayWindow();
  const top = 1000;
  for (let d = 63; d >= 0; d--) if (d % 2 === 0) receive(w, top - d);
  for (let d = 0; d < 64; d++) assert.equal(w.check(top - d), d % 2 !== 0, `offset ${d}`);
  // Shift by 1: every bit moves one place, across the boundary between the two halves.
  receive(w, top + 1);
  for (let d = 1; d < 64; d++)
    assert.equal(w.check(top + 1 - d), (d - 1) % 2 !== 0, `after shift, offset ${d}`);
  // Fill the gaps at offsets 31, 32 and 33 and check nothing else changed.
  const w2 = new ReplayWindow();
  receive(w2, 64);
  for (const d of [31, 32, 33]) assert.ok(receive(w2, 64 - d), `offset ${d}`);
  for (let d = 0; d < 64; d++) assert.equal(w2.check(64 - d), ![0, 31, 32, 33].includes(d), `offset ${d}`);
  // Shift by 32 exactly: offset 31 → 63, 32 → 64 (out), 0 → 32.
  receive(w2, 96);
  assert.equal(w2.check(96 - 63), false, 'old offset 31 now at 63');
  assert.equal(w2.check(96 - 32), false, 'old top now at 32');
  assert.ok(w2.check(96 - 31));
  assert.ok(w2.check(96 - 33));
});

test('a long random sequence agrees with a set-based reference model', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const rnd = mulberry32(seed);
    const w = new ReplayWindow();
    const ref = new ReferenceWindow();
    let cursor = 0;
    for (let i = 0; i < 20_000; i++) {
      const r = rnd();
      let seq: number;
      if (r < 0.5)
        seq = cursor++; // in order
      else if (r < 0.8)
        seq = Math.max(0, cursor - 1 - Math.floor(rnd() * 80)); // late / duplicate / too old
      else if (r < 0.95)
        seq = cursor + Math.floor(rnd() * 70); // reordered ahead
      else seq = cursor += Math.floor(rnd() * 200); // a jump
      const want = ref.check(seq);
      assert.equal(w.check(seq), want, `seed ${seed} step ${i} seq ${seq}`);
      // Only authentic records are accepted; forged ones (10 %) are checked and dropped.
      if (want && rnd() >= 0.1) {
        w.accept(seq);
        ref.accept(seq);
        if (seq >= cursor) cursor = seq + 1;
      }
    }
  }
});
