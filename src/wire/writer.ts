/**
 * A growable byte writer for encoding protocol structures. Length-prefixed vectors are written by
 * reserving the prefix and patching it when the body is done, so nested structures need no copies.
 */
export class Writer {
  private buf: Buffer;
  private pos = 0;

  constructor(initial = 256) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  get length(): number {
    return this.pos;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): this {
    this.ensure(1);
    this.buf[this.pos++] = v & 0xff;
    return this;
  }

  u16(v: number): this {
    this.ensure(2);
    this.buf.writeUInt16BE(v & 0xffff, this.pos);
    this.pos += 2;
    return this;
  }

  u24(v: number): this {
    this.ensure(3);
    this.buf.writeUIntBE(v & 0xffffff, this.pos, 3);
    this.pos += 3;
    return this;
  }

  u32(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
    return this;
  }

  u48(v: number): this {
    this.ensure(6);
    this.buf.writeUIntBE(v, this.pos, 6);
    this.pos += 6;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  vec8(b: Uint8Array): this {
    if (b.length > 0xff) throw new RangeError(`vector<1> too long: ${b.length}`);
    return this.u8(b.length).bytes(b);
  }

  vec16(b: Uint8Array): this {
    if (b.length > 0xffff) throw new RangeError(`vector<2> too long: ${b.length}`);
    return this.u16(b.length).bytes(b);
  }

  vec24(b: Uint8Array): this {
    if (b.length > 0xffffff) throw new RangeError(`vector<3> too long: ${b.length}`);
    return this.u24(b.length).bytes(b);
  }

  /** Write a body with a `prefixBytes`-byte length prefix filled in afterwards. */
  withLength(prefixBytes: 1 | 2 | 3, body: (w: this) => void): this {
    this.ensure(prefixBytes);
    const at = this.pos;
    this.pos += prefixBytes;
    body(this);
    const len = this.pos - at - prefixBytes;
    if (len >= 2 ** (8 * prefixBytes)) throw new RangeError(`vector<${prefixBytes}> too long: ${len}`);
    this.buf.writeUIntBE(len, at, prefixBytes);
    return this;
  }

  /**
   * A copy of what has been written. It comes from node's shared buffer pool (a slice of an 8 KB slab):
   * allocating is ~10× cheaper than a buffer of its own, and almost every encoding is short-lived
   * (copied into a flight, hashed, sent). Anything kept for the life of a connection must use
   * finishOwned() instead, or one small slice would keep a whole slab alive per session.
   */
  finish(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    return out;
  }

  /** A copy in memory of its own, for encodings that live as long as a connection (a final flight kept). */
  finishOwned(): Buffer {
    return ownedCopy(this.buf.subarray(0, this.pos));
  }
}

/**
 * A copy of `b` in memory of its own. `Buffer.from(b)` would take a slice of node's shared 8 KB pool,
 * and a small slice kept for a session's lifetime (a session ID, a ticket, a certificate) keeps the
 * whole slab alive with it.
 */
export function ownedCopy(b: Uint8Array): Buffer {
  const out = Buffer.allocUnsafeSlow(b.length);
  out.set(b);
  return out;
}
