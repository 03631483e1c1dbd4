/**
 * Pieces shared by the AMF0 and AMF3 codecs (amf0.ts, amf3.ts): a growable output buffer, the
 * bounded input cursor, the rules that decide which AMF type a Table becomes, and the key rules
 * for array-like containers.
 *
 * Table → AMF type, in MonaServer's priority order (its ScriptReader checks `__raw`, then `__time`,
 * then `__size`, then `__type`, then the table's shape):
 *   `__raw` (Buffer or string)         → ByteArray
 *   `__time` (number, ms since epoch)  → Date
 *   `__size` (number)                  → Dictionary (`__weakKeys: true` → weak keys)
 *   `__vector` ('int'|'uint'|'double'|'object') → AMF3 Vector (our addition, MonaServer has none;
 *        `__vectorType` holds the object vector's element class name, `__fixed: true` the fixed flag)
 *   `__type` (string)                  → typed object; IExternalizable for the classes in
 *                                        EXTERNALIZABLE (their payload is the table minus `__type`)
 *   items only                         → strict / dense array
 *   fields only                        → anonymous object
 *   items and fields                   → ECMA (AMF0) / associative (AMF3) array
 *   empty                              → empty array (what MonaServer writes for `{}`)
 */
import { DECODE_LIMITS, DecodeError, Key, Table, type Value } from './value';
import { isUtf8 } from 'node:buffer';

/** Thrown by writers on values AMF cannot carry (too deep, key too long). Not a decode problem. */
export class AMFEncodeError extends Error {
  constructor(message: string) {
    super(`AMF encode: ${message}`);
    this.name = 'AMFEncodeError';
  }
}

/** Deepest container nesting a writer produces: the same bound our readers accept. */
export const MAX_WRITE_DEPTH = DECODE_LIMITS.maxDepth;

/** IExternalizable classes whose externalized form is exactly one AMF3 value (Flex messaging). */
export const EXTERNALIZABLE: ReadonlySet<string> = new Set([
  'flex.messaging.io.ArrayCollection',
  'flex.messaging.io.ArrayList',
  'flex.messaging.io.ObjectProxy',
]);

/**
 * One output buffer that doubles when full. Writers append into it and copy once in toBuffer(),
 * so an RTMP message costs one allocation in steady state instead of a chain of concats.
 */
export class ByteWriter {
  buf: Buffer;
  pos = 0;

  constructor(initialSize = 256) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  ensure(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): void {
    if (this.pos >= this.buf.length) this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
  }

  i32(v: number): void {
    this.ensure(4);
    this.buf.writeInt32BE(v | 0, this.pos);
    this.pos += 4;
  }

  double(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
  }

  bytes(b: Buffer): void {
    this.ensure(b.length);
    b.copy(this.buf, this.pos);
    this.pos += b.length;
  }

  /** Writes UTF-8 whose byte length the caller already knows (it wrote the length prefix). */
  utf8(s: string, byteLength: number): void {
    this.ensure(byteLength);
    this.pos += this.buf.write(s, this.pos, byteLength, 'utf8');
  }

  /**
   * Writes `s` as UTF-8 at pos, with room for 3 bytes per UTF-16 unit already ensured; returns the
   * byte count without moving pos. Short ASCII (command names, keys) skips the native call.
   */
  private rawText(s: string): number {
    const b = this.buf;
    const n = s.length;
    if (n <= 32) {
      let p = this.pos;
      for (let i = 0; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c > 0x7f) return b.write(s, this.pos, 'utf8');
        b[p++] = c;
      }
      return n;
    }
    return b.write(s, this.pos, 'utf8');
  }

  /** u16 byte length + UTF-8 for strings short enough to fit whatever their content. */
  text16(s: string): void {
    this.ensure(2 + s.length * 3);
    const start = this.pos;
    this.pos += 2;
    const n = this.rawText(s);
    this.buf[start] = n >>> 8;
    this.buf[start + 1] = n & 0xff;
    this.pos += n;
  }

  /** AMF3 inline string header + UTF-8 for strings of at most 21 units (1-byte U29 whatever the content). */
  text29Short(s: string): void {
    this.ensure(1 + s.length * 3);
    const start = this.pos++;
    const n = this.rawText(s);
    this.buf[start] = (n << 1) | 1;
    this.pos += n;
  }

  /** AMF3 U29: 1 to 4 bytes, 7 bits per byte with a continuation bit, the 4th byte carries 8. */
  u29(v: number): void {
    this.ensure(4);
    const b = this.buf;
    if (v < 0x80) b[this.pos++] = v;
    else if (v < 0x4000) {
      b[this.pos++] = (v >>> 7) | 0x80;
      b[this.pos++] = v & 0x7f;
    } else if (v < 0x200000) {
      b[this.pos++] = (v >>> 14) | 0x80;
      b[this.pos++] = ((v >>> 7) & 0x7f) | 0x80;
      b[this.pos++] = v & 0x7f;
    } else {
      b[this.pos++] = ((v >>> 22) & 0x7f) | 0x80;
      b[this.pos++] = ((v >>> 15) & 0x7f) | 0x80;
      b[this.pos++] = ((v >>> 8) & 0x7f) | 0x80;
      b[this.pos++] = v & 0xff;
    }
  }

  toBuffer(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    this.buf.copy(out, 0, 0, this.pos);
    return out;
  }

  /** Zero-copy view, valid only until the next write or reset. */
  view(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

/**
 * Bounded input: every read checks the bytes left first and fails with a DecodeError carrying the
 * offset, so a Buffer RangeError can never escape and no length field is trusted beyond the input.
 */
export class ByteReader {
  pos: number;

  constructor(
    readonly buf: Buffer,
    offset: number,
    readonly end: number,
    readonly format: string,
  ) {
    if (!Number.isInteger(offset) || !Number.isInteger(end) || offset < 0 || end > buf.length || offset > end) {
      throw new RangeError(`${format}: bad range ${offset}..${end} for a ${buf.length}-byte buffer`);
    }
    this.pos = offset;
  }

  fail(message: string, at = this.pos): never {
    throw new DecodeError(this.format, message, at);
  }

  need(n: number, what: string): void {
    if (n > this.end - this.pos) {
      this.fail(`${what} needs ${n} bytes, ${this.end - this.pos} left`);
    }
  }

  u8(): number {
    if (this.pos >= this.end) this.fail('unexpected end of data');
    return this.buf[this.pos++];
  }

  u16(): number {
    this.need(2, 'u16');
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  i16(): number {
    this.need(2, 'i16');
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4, 'u32');
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  double(): number {
    this.need(8, 'double');
    const v = this.buf.readDoubleBE(this.pos);
    this.pos += 8;
    return v;
  }

  u29(): number {
    let v = 0;
    for (let i = 0; i < 3; i++) {
      const b = this.u8();
      v = (v << 7) | (b & 0x7f);
      if (!(b & 0x80)) return v;
    }
    return ((v << 8) | this.u8()) >>> 0;
  }

  /** Text of `n` bytes: a string when it is valid UTF-8, else the raw bytes (Lua strings are bytes). */
  text(n: number, what: string): string | Buffer {
    this.need(n, what);
    const start = this.pos;
    this.pos += n;
    return decodeText(this.buf, start, start + n);
  }

  /** Like text() but always a string (keys, class names): invalid UTF-8 is replaced, not kept. */
  key(n: number, what: string): string {
    this.need(n, what);
    const s = this.buf.toString('utf8', this.pos, this.pos + n);
    this.pos += n;
    return s;
  }

  copy(n: number, what: string): Buffer {
    this.need(n, what);
    const out = Buffer.allocUnsafe(n);
    this.buf.copy(out, 0, this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
}


/**
 * What AMF0Reader and AMF3Reader share: the cursor, and reads that only differ by the marker
 * grammar each one implements in readValue().
 */
export abstract class AMFReader {
  constructor(protected readonly r: ByteReader) {}

  get offset(): number {
    return this.r.pos;
  }

  get available(): number {
    return this.r.end - this.r.pos;
  }

  /** Reads one value at nesting `depth` (the depth bound is checked by each grammar). */
  abstract readValue(depth: number): Value;

  read(): Value {
    if (this.r.pos >= this.r.end) this.r.fail('no value left to read');
    return this.readValue(0);
  }

  readAll(): Value[] {
    const out: Value[] = [];
    while (this.r.pos < this.r.end) out.push(this.readValue(0));
    return out;
  }

  /** Reads one value that must be a string (RTMP command names); DecodeError otherwise. */
  readString(): string {
    const at = this.r.pos;
    const v = this.read();
    if (typeof v === 'string') return v;
    if (Buffer.isBuffer(v)) return v.toString('utf8');
    return this.r.fail(`expected a string, got ${describeValue(v)}`, at);
  }

  /** Reads one value that must be a number (RTMP transaction ids); DecodeError otherwise. */
  readNumber(): number {
    const at = this.r.pos;
    const v = this.read();
    if (typeof v === 'number') return v;
    return this.r.fail(`expected a number, got ${describeValue(v)}`, at);
  }
}

/** A value's kind for error messages. */
export function describeValue(v: Value): string {
  if (v === null) return 'null';
  if (v instanceof Table) return 'a table';
  if (Buffer.isBuffer(v)) return 'bytes';
  return typeof v;
}
export function decodeText(buf: Buffer, start: number, end: number): string | Buffer {
  if (end === start) return '';
  // ASCII fast path for the short names that fill RTMP commands
  if (end - start <= 32) {
    let ascii = true;
    for (let i = start; i < end; i++) {
      if (buf[i] > 0x7f) {
        ascii = false;
        break;
      }
    }
    if (ascii) return buf.toString('latin1', start, end);
  }
  const view = buf.subarray(start, end);
  if (isUtf8(view)) return buf.toString('utf8', start, end);
  return Buffer.from(view);
}

/** Converts a decoded text value to a key string. */
export function textKey(v: string | Buffer): string {
  return typeof v === 'string' ? v : v.toString('utf8');
}

/**
 * Array-like containers (ECMA arrays, AMF3 associative parts): "0", "1", … are AS indexes, which
 * are Lua indexes 1, 2, …. Returns the Lua index for a canonical decimal index string, else -1.
 */
export function luaIndexOf(key: string): number {
  const n = key.length;
  if (n === 0 || n > 10) return -1;
  const c0 = key.charCodeAt(0);
  if (c0 < 48 || c0 > 57 || (c0 === 48 && n > 1)) return -1;
  for (let i = 1; i < n; i++) {
    const c = key.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
  }
  const v = Number(key);
  return v < 0xffffffff ? v + 1 : -1; // AS array indexes stop at 2^32-2
}

/** Key of a Table field as written in an array-like container (inverse of luaIndexOf), or null. */
export function arrayKeyString(k: Key): string | null {
  if (typeof k === 'string') return k;
  if (typeof k === 'number') return Number.isInteger(k) && k >= 1 ? String(k - 1) : String(k);
  return null; // boolean and table keys have no AMF array/object spelling (MonaServer skips them)
}

/** Key of a Table field as written as an object property name (MonaServer prints numbers as is). */
export function objectKeyString(k: Key): string | null {
  if (typeof k === 'string') return k;
  if (typeof k === 'number') return String(k);
  return null;
}

export const enum TableKind {
  Bytes,
  Date,
  Dictionary,
  Vector,
  Externalizable,
  Typed,
  Array,
  Mixed,
  Object,
}

export function tableKind(t: Table): TableKind {
  const f = t.fields;
  if (f.size !== 0) {
    const raw = f.get('__raw');
    if (Buffer.isBuffer(raw) || typeof raw === 'string') return TableKind.Bytes;
    if (typeof f.get('__time') === 'number') return TableKind.Date;
    if (typeof f.get('__size') === 'number') return TableKind.Dictionary;
    const vec = f.get('__vector');
    if (vec === 'int' || vec === 'uint' || vec === 'double' || vec === 'object') return TableKind.Vector;
    const type = f.get('__type');
    if (typeof type === 'string') return EXTERNALIZABLE.has(type) ? TableKind.Externalizable : TableKind.Typed;
    return t.items.length ? TableKind.Mixed : TableKind.Object;
  }
  return TableKind.Array;
}

/** Field names a Dictionary / Vector / typed table uses for itself, never written as entries. */
export const DICTIONARY_META: ReadonlySet<Key> = new Set<Key>(['__size', '__weakKeys']);
export const VECTOR_META: ReadonlySet<Key> = new Set<Key>(['__vector', '__vectorType', '__fixed']);

/** The ByteArray bytes of a Bytes table (`__raw` may be a Lua-ish string too). */
export function rawBytes(t: Table): Buffer {
  const raw = t.fields.get('__raw');
  return Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw), 'utf8');
}

/** AMF3 integers are 29-bit signed: [-2^28, 2^28 - 1]. -0 stays a double to keep its sign. */
export function isAMF3Int(n: number): boolean {
  return Number.isInteger(n) && n >= -0x10000000 && n <= 0x0fffffff && !Object.is(n, -0);
}

