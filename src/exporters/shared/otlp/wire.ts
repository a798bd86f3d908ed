// Protobuf wire primitives for the OTLP encoder: a growing byte buffer that writes varints,
// little-endian fixed64 values and UTF-8 strings at a cursor, with no object per value.
//
// Wire format (protobuf encoding guide): a field is `tag = field_number << 3 | wire_type` as a
// varint, then its value: wire type 0 a varint, 1 eight little-endian bytes, 2 a varint length
// and that many bytes.

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;

/** The tag byte of a field (every field number podflow writes is below 16: one byte). */
export function tag(field: number, wireType: number): number {
  return (field << 3) | wireType;
}

/** Bytes of `n` (0 ≤ n < 2^32) as a varint. */
export function varintSize(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
}

const TWO_32 = 4_294_967_296;
/** Views are kept for blocks shorter than this (attribute blocks); longer ones get a fresh view. */
const MAX_KEPT_VIEW = 4096;

/** A byte buffer that grows by doubling; `pos` is the length written. */
export class ByteSink {
  buf: Buffer;
  pos = 0;

  constructor(initialBytes = 1 << 16) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  /** Room for `n` more bytes. */
  ensure(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  byte(b: number): void {
    this.buf[this.pos++] = b;
  }

  /** A varint of 0 ≤ n < 2^32 (the caller ensured room for 5 bytes). */
  varint(n: number): void {
    const b = this.buf;
    let p = this.pos;
    while (n >= 0x80) {
      b[p++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    b[p++] = n;
    this.pos = p;
  }

  /** An int64 varint of any safe integer (negative ones take ten bytes, two's complement). */
  int64(n: number): void {
    if (n >= 0 && n < TWO_32) return this.varint(n);
    let v = BigInt.asUintN(64, BigInt(n));
    while (v >= 0x80n) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }

  /** Eight little-endian bytes of a 64-bit value given as its low and high 32 bits (room ensured). */
  fixed64(lo: number, hi: number): void {
    const b = this.buf;
    const p = this.pos;
    b[p] = lo;
    b[p + 1] = lo >>> 8;
    b[p + 2] = lo >>> 16;
    b[p + 3] = lo >>> 24;
    b[p + 4] = hi;
    b[p + 5] = hi >>> 8;
    b[p + 6] = hi >>> 16;
    b[p + 7] = hi >>> 24;
    this.pos = p + 8;
  }

  double(x: number): void {
    this.buf.writeDoubleLE(x, this.pos);
    this.pos += 8;
  }

  /** All bytes of another array (room ensured); a whole array is copied without a view object. */
  bytes(src: Uint8Array): void {
    this.buf.set(src, this.pos);
    this.pos += src.length;
  }

  /**
   * What was written so far as an array of its own length, for copying elsewhere: one view per
   * length, kept until the buffer grows, so copying a block costs no allocation.
   */
  view(): Uint8Array {
    if (this.pos >= MAX_KEPT_VIEW) return this.buf.subarray(0, this.pos);
    let views = this.#views;
    if (views === undefined || views.buffer !== this.buf) views = this.#views = { buffer: this.buf, byLength: [] };
    let v = views.byLength[this.pos];
    if (v === undefined) v = views.byLength[this.pos] = new Uint8Array(this.buf.buffer, this.buf.byteOffset, this.pos);
    return v;
  }

  #views: { buffer: Buffer; byLength: Uint8Array[] } | undefined;

  /** A copy of what was written. */
  take(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}

/** The low and high 32 bits of a non-negative integer below 2^53 (a counter, a timestamp in ms). */
export function split64(n: number): [lo: number, hi: number] {
  const lo = n % TWO_32;
  return [lo, (n - lo) / TWO_32];
}

/** UTF-8 length of a string; ASCII strings (the common case) are measured without a call. */
export function utf8Length(s: string): number {
  const n = s.length;
  for (let i = 0; i < n; i++) if (s.charCodeAt(i) >= 0x80) return Buffer.byteLength(s, 'utf8');
  return n;
}

/** Writes a string of known UTF-8 length (from utf8Length) at the sink's cursor. */
export function writeUtf8(sink: ByteSink, s: string, byteLength: number): void {
  const b = sink.buf;
  let p = sink.pos;
  if (byteLength === s.length) {
    for (let i = 0; i < byteLength; i++) b[p++] = s.charCodeAt(i);
    sink.pos = p;
    return;
  }
  sink.pos += b.write(s, p, byteLength, 'utf8');
}
