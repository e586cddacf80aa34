import { DecodeError } from './errors.js';

/**
 * A bounds-checked cursor over received bytes. Every read checks the remaining length first, so a
 * declared length larger than what arrived becomes a DecodeError, never an allocation or a RangeError.
 */
export class Reader {
  private pos: number;

  constructor(
    readonly buf: Uint8Array,
    start = 0,
    private readonly end = buf.length,
  ) {
    this.pos = start;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  atEnd(): boolean {
    return this.pos >= this.end;
  }

  private need(n: number, what: string): void {
    if (n > this.end - this.pos) {
      throw new DecodeError(`${what}: need ${n} bytes, ${this.end - this.pos} left`);
    }
  }

  u8(what = 'uint8'): number {
    this.need(1, what);
    return this.buf[this.pos++]!;
  }

  u16(what = 'uint16'): number {
    this.need(2, what);
    const v = (this.buf[this.pos]! << 8) | this.buf[this.pos + 1]!;
    this.pos += 2;
    return v;
  }

  u24(what = 'uint24'): number {
    this.need(3, what);
    const v = (this.buf[this.pos]! << 16) | (this.buf[this.pos + 1]! << 8) | this.buf[this.pos + 2]!;
    this.pos += 3;
    return v;
  }

  u32(what = 'uint32'): number {
    this.need(4, what);
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return ((b[p]! << 24) >>> 0) + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
  }

  /** A 48-bit big-endian integer (DTLS record sequence numbers); exact in a JS number. */
  u48(what = 'uint48'): number {
    this.need(6, what);
    const hi = this.u16(what);
    const lo = this.u32(what);
    return hi * 0x1_0000_0000 + lo;
  }

  /** A view (not a copy) of the next n bytes. */
  bytes(n: number, what = 'bytes'): Buffer {
    this.need(n, what);
    const out = Buffer.from(this.buf.buffer, this.buf.byteOffset + this.pos, n);
    this.pos += n;
    return out;
  }

  /** opaque x<a..b> with a 1-byte length prefix. */
  vec8(what = 'vector<1>', min = 0, max = 0xff): Buffer {
    const n = this.u8(what);
    if (n < min || n > max) throw new DecodeError(`${what}: length ${n} outside ${min}..${max}`);
    return this.bytes(n, what);
  }

  vec16(what = 'vector<2>', min = 0, max = 0xffff): Buffer {
    const n = this.u16(what);
    if (n < min || n > max) throw new DecodeError(`${what}: length ${n} outside ${min}..${max}`);
    return this.bytes(n, what);
  }

  vec24(what = 'vector<3>', min = 0, max = 0xffffff): Buffer {
    const n = this.u24(what);
    if (n < min || n > max) throw new DecodeError(`${what}: length ${n} outside ${min}..${max}`);
    return this.bytes(n, what);
  }

  /** A sub-reader over the next n bytes (for nested length-prefixed structures). */
  sub(n: number, what = 'struct'): Reader {
    this.need(n, what);
    const r = new Reader(this.buf, this.pos, this.pos + n);
    this.pos += n;
    return r;
  }

  rest(): Buffer {
    return this.bytes(this.remaining, 'rest');
  }

  expectEnd(what: string): void {
    if (!this.atEnd()) throw new DecodeError(`${what}: ${this.remaining} trailing bytes`);
  }
}
