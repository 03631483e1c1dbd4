/**
 * AMF0 reader and writer (Adobe "Action Message Format -- AMF 0", 2007), mapped onto the script
 * value model the way MonaServer maps AMF to Lua (see value.ts and the table rules in amf.ts).
 *
 * Choices, and why:
 *  - Table → AMF0 type: items only → strict array (0x0A); fields only → anonymous object (0x03);
 *    items and fields → ECMA array (0x08) whose count is the item count, items written first as
 *    "0", "1", … then the fields (MonaServer switches mixed tables to AMF3 instead; an ECMA array
 *    is what Flash AS2 and ffmpeg use and every AMF0 peer can read it); `__type` → typed object
 *    (0x10); `__time` → Date (0x0B, timezone written 0 and ignored on read as the spec says);
 *    an empty table → empty strict array (as MonaServer writes `{}`).
 *  - Types AMF0 cannot express (ByteArray `__raw`, Dictionary `__size`, vectors, externalizable
 *    collections) are written through the 0x11 switch as one AMF3 value, as MonaServer does.
 *  - Option `amf3: true` (or writeAMF3) writes every value through the 0x11 switch, which is what
 *    an AMF3 NetConnection (objectEncoding 3) expects in RTMP messages 0x0F/0x11. writeString /
 *    writeNumber / writeBoolean / writeNull / writeObject always write plain AMF0.
 *  - Reading: undefined (0x06) and unsupported (0x0D) decode to null (Lua nil); XML document (0x0F)
 *    decodes to its text; movieclip (0x04) and recordset (0x0E) are reserved → DecodeError; an
 *    object-end marker outside an object → DecodeError. ECMA array keys that are canonical indexes
 *    ("0", "12") become Lua indexes (1, 13), other keys stay strings; the ECMA count is a hint
 *    and is ignored (ffmpeg writes the field count, Flash the array length). Object property names
 *    always stay strings. An empty property name not followed by 0x09 is read as a property "".
 *  - Strings that are not valid UTF-8 decode to a Buffer (Lua strings are bytes); Buffers are
 *    written as strings. Strings over 65535 bytes are written as long strings (0x0C).
 *  - References: objects, typed objects, ECMA arrays and strict arrays enter the AMF0 reference
 *    table in the order they start (the spec's rule), on read and on write; a Table written twice
 *    is written as a reference (0x07), so cyclic tables terminate. A table met again whose index
 *    is past 65535 (u16) is written through the AMF3 switch, where it is referenced from then on.
 *    AMF3-switched values share one AMF3 context per reader/writer until reset().
 */
import { DECODE_LIMITS, Key, Table, Value } from './value';
import {
  AMFEncodeError,
  AMFReader,
  ByteReader,
  ByteWriter,
  MAX_WRITE_DEPTH,
  TableKind,
  arrayKeyString,
  luaIndexOf,
  objectKeyString,
  tableKind,
} from './amf';
import { AMF3Reader, AMF3Writer } from './amf3';

export const AMF0Marker = {
  Number: 0x00,
  Boolean: 0x01,
  String: 0x02,
  Object: 0x03,
  MovieClip: 0x04,
  Null: 0x05,
  Undefined: 0x06,
  Reference: 0x07,
  ECMAArray: 0x08,
  ObjectEnd: 0x09,
  StrictArray: 0x0a,
  Date: 0x0b,
  LongString: 0x0c,
  Unsupported: 0x0d,
  RecordSet: 0x0e,
  XMLDocument: 0x0f,
  TypedObject: 0x10,
  AVMPlus: 0x11,
} as const;

export class AMF0Reader extends AMFReader {
  private refs: Table[] = [];
  private amf3?: AMF3Reader;

  constructor(buf: Buffer, offset = 0, end = buf.length) {
    super(new ByteReader(buf, offset, end, 'AMF0'));
  }

  /** Forgets the reference tables (AMF0 and switched AMF3). */
  reset(): void {
    this.refs = [];
    this.amf3?.reset();
  }

  readValue(depth: number): Value {
    const r = this.r;
    const at = r.pos;
    const marker = r.u8();
    switch (marker) {
      case AMF0Marker.Number:
        return r.double();
      case AMF0Marker.Boolean:
        return r.u8() !== 0;
      case AMF0Marker.String:
        return r.text(r.u16(), 'string');
      case AMF0Marker.Object: {
        this.enter(depth);
        const t = new Table();
        this.refs.push(t);
        return this.readProperties(t, false, depth);
      }
      case AMF0Marker.Null:
      case AMF0Marker.Undefined:
      case AMF0Marker.Unsupported:
        return null;
      case AMF0Marker.Reference: {
        const index = r.u16();
        const t = this.refs[index];
        if (!t) r.fail(`reference ${index} not found (${this.refs.length} known)`, at);
        return t;
      }
      case AMF0Marker.ECMAArray: {
        this.enter(depth);
        r.u32(); // count: a hint only, see the file comment
        const t = new Table();
        this.refs.push(t);
        return this.readProperties(t, true, depth);
      }
      case AMF0Marker.ObjectEnd:
        return r.fail('object-end marker outside an object', at);
      case AMF0Marker.StrictArray: {
        this.enter(depth);
        const count = r.u32();
        r.need(count, `strict array of ${count} items`); // every item takes at least one byte
        const t = new Table();
        this.refs.push(t);
        for (let i = 0; i < count; i++) t.items.push(this.readValue(depth + 1));
        return t;
      }
      case AMF0Marker.Date: {
        const ms = r.double();
        r.i16(); // timezone: "should be 0x0000", ignored
        return new Table([], new Map<Key, Value>([['__time', ms]]));
      }
      case AMF0Marker.LongString:
        return r.text(r.u32(), 'long string');
      case AMF0Marker.XMLDocument:
        return r.text(r.u32(), 'XML document');
      case AMF0Marker.TypedObject: {
        this.enter(depth);
        const className = r.key(r.u16(), 'class name');
        const t = new Table([], new Map<Key, Value>([['__type', className]]));
        this.refs.push(t);
        return this.readProperties(t, false, depth);
      }
      case AMF0Marker.AVMPlus:
        this.amf3 ??= new AMF3Reader(r.buf, r.pos, r.end, r);
        return this.amf3.readValue(depth);
      case AMF0Marker.MovieClip:
      case AMF0Marker.RecordSet:
        return r.fail(`reserved marker 0x${marker.toString(16).padStart(2, '0')} is not supported`, at);
      default:
        return r.fail(`unknown marker 0x${marker.toString(16).padStart(2, '0')}`, at);
    }
  }

  private enter(depth: number): void {
    if (depth >= DECODE_LIMITS.maxDepth) this.r.fail(`nesting deeper than ${DECODE_LIMITS.maxDepth}`);
  }

  /** Name/value pairs up to the empty name + object-end marker (objects and ECMA arrays). */
  private readProperties(t: Table, arrayKeys: boolean, depth: number): Table {
    const r = this.r;
    for (;;) {
      const len = r.u16();
      if (len === 0) {
        if (r.u8() === AMF0Marker.ObjectEnd) return t;
        r.pos--; // a property named "" (lenient: the spec reserves "" for the end)
      }
      const key = r.key(len, 'property name');
      const v = this.readValue(depth + 1);
      if (arrayKeys) {
        const index = luaIndexOf(key);
        t.set(index > 0 ? index : key, v);
      } else t.set(key, v);
    }
  }
}

export interface AMF0WriterOptions {
  /** Write every value given to write() as an AMF3 value behind the 0x11 switch marker. */
  amf3?: boolean;
  /** Initial size of the output buffer (it grows by doubling). */
  initialSize?: number;
}

/** Appends AMF0 values to one growing buffer. After an AMFEncodeError, reset() before reusing it. */
export class AMF0Writer {
  private readonly w: ByteWriter;
  private readonly amf3Default: boolean;
  private refs = new Map<Table, number>();
  private refCount = 0;
  private amf3?: AMF3Writer;

  constructor(options: AMF0WriterOptions = {}) {
    this.w = new ByteWriter(options.initialSize ?? 256);
    this.amf3Default = options.amf3 === true;
  }

  write(v: Value): this {
    if (this.amf3Default) return this.writeAMF3(v);
    this.writeValue(v, 0);
    return this;
  }

  /** Writes 0x11 then `v` in AMF3 (one AMF3 context for the whole message until reset()). */
  writeAMF3(v: Value): this {
    this.w.u8(AMF0Marker.AVMPlus);
    this.amf3Writer().writeValue(v, 0);
    return this;
  }

  writeString(s: string): this {
    if (s.length <= 21845) {
      // at most 3 UTF-8 bytes per UTF-16 unit: always fits a u16 length
      this.w.u8(AMF0Marker.String);
      this.w.text16(s);
      return this;
    }
    const len = Buffer.byteLength(s, 'utf8');
    if (len <= 0xffff) {
      this.w.u8(AMF0Marker.String);
      this.w.u16(len);
    } else {
      if (len > 0xffffffff) throw new AMFEncodeError(`string of ${len} bytes is too long for AMF0`);
      this.w.u8(AMF0Marker.LongString);
      this.w.u32(len);
    }
    this.w.utf8(s, len);
    return this;
  }

  writeNumber(n: number): this {
    this.w.u8(AMF0Marker.Number);
    this.w.double(n);
    return this;
  }

  writeBoolean(b: boolean): this {
    this.w.u8(AMF0Marker.Boolean);
    this.w.u8(b ? 1 : 0);
    return this;
  }

  writeNull(): this {
    this.w.u8(AMF0Marker.Null);
    return this;
  }

  writeUndefined(): this {
    this.w.u8(AMF0Marker.Undefined);
    return this;
  }

  /**
   * An object (0x03, or 0x10 when a Table has a string `__type`) from name/value pairs or from a
   * table's fields and items, whatever the table's shape.
   */
  writeObject(fields: Iterable<[string, Value]> | Table): this {
    if (fields instanceof Table) {
      const type = fields.fields.get('__type');
      this.writeObjectTable(fields, typeof type === 'string' ? type : '', 0);
      return this;
    }
    this.refCount++; // the reader gives this object a reference slot too
    this.w.u8(AMF0Marker.Object);
    for (const [k, v] of fields) {
      this.writeKey(k);
      this.writeValue(v, 1);
    }
    this.writeObjectEnd();
    return this;
  }

  toBuffer(): Buffer {
    return this.w.toBuffer();
  }

  /** Zero-copy view of what was written, valid until the next write or reset. */
  view(): Buffer {
    return this.w.view();
  }

  get length(): number {
    return this.w.pos;
  }

  /** Empties the output and forgets the reference tables (a new message). */
  reset(): void {
    this.w.pos = 0;
    this.refs.clear();
    this.refCount = 0;
    this.amf3?.resetTables();
  }

  private amf3Writer(): AMF3Writer {
    return (this.amf3 ??= new AMF3Writer(this.w));
  }

  private writeValue(v: Value, depth: number): void {
    const w = this.w;
    if (v === null) w.u8(AMF0Marker.Null);
    else if (typeof v === 'number') {
      w.u8(AMF0Marker.Number);
      w.double(v);
    } else if (typeof v === 'string') this.writeString(v);
    else if (typeof v === 'boolean') {
      w.u8(AMF0Marker.Boolean);
      w.u8(v ? 1 : 0);
    } else if (Buffer.isBuffer(v)) {
      if (v.length <= 0xffff) {
        w.u8(AMF0Marker.String);
        w.u16(v.length);
      } else {
        w.u8(AMF0Marker.LongString);
        w.u32(v.length);
      }
      w.bytes(v);
    } else this.writeTable(v, depth);
  }

  private writeTable(t: Table, depth: number): void {
    const w = this.w;
    const kind = tableKind(t);
    switch (kind) {
      case TableKind.Date:
        w.u8(AMF0Marker.Date);
        w.double(t.fields.get('__time') as number);
        w.u16(0);
        return;
      case TableKind.Bytes:
      case TableKind.Dictionary:
      case TableKind.Vector:
      case TableKind.Externalizable:
        w.u8(AMF0Marker.AVMPlus);
        this.amf3Writer().writeValue(t, depth);
        return;
    }
    const ref = this.refs.get(t);
    if (ref !== undefined) {
      if (ref <= 0xffff) {
        w.u8(AMF0Marker.Reference);
        w.u16(ref);
      } else {
        // past what a u16 reference can index: AMF3 references have no such limit, so a table
        // met again goes through the switch (inline once, then by AMF3 reference) rather than
        // being copied inline each time, which a shared-subtree graph would blow up
        w.u8(AMF0Marker.AVMPlus);
        this.amf3Writer().writeValue(t, depth);
      }
      return;
    }
    if (depth >= MAX_WRITE_DEPTH) throw new AMFEncodeError(`tables nested deeper than ${MAX_WRITE_DEPTH}`);
    switch (kind) {
      case TableKind.Typed:
        return this.writeObjectTable(t, t.fields.get('__type') as string, depth);
      case TableKind.Object:
        return this.writeObjectTable(t, '', depth);
      case TableKind.Mixed:
        return this.writeECMAArray(t, depth);
      default:
        return this.writeStrictArray(t, depth);
    }
  }

  private register(t: Table): void {
    if (!this.refs.has(t)) this.refs.set(t, this.refCount);
    this.refCount++;
  }

  private writeStrictArray(t: Table, depth: number): void {
    this.register(t);
    const items = t.items;
    this.w.u8(AMF0Marker.StrictArray);
    this.w.u32(items.length);
    for (let i = 0; i < items.length; i++) this.writeValue(items[i], depth + 1);
  }

  private writeECMAArray(t: Table, depth: number): void {
    this.register(t);
    const items = t.items;
    this.w.u8(AMF0Marker.ECMAArray);
    this.w.u32(items.length);
    for (let i = 0; i < items.length; i++) {
      if (items[i] === null) continue; // a hole reads back as a hole anyway
      this.writeKey(String(i));
      this.writeValue(items[i], depth + 1);
    }
    for (const [k, v] of t.fields) {
      const key = arrayKeyString(k);
      if (key === null || key === '') continue; // no AMF0 spelling ("" would end the list)
      this.writeKey(key);
      this.writeValue(v, depth + 1);
    }
    this.writeObjectEnd();
  }

  private writeObjectTable(t: Table, className: string, depth: number): void {
    this.register(t);
    const w = this.w;
    if (className) {
      w.u8(AMF0Marker.TypedObject);
      this.writeKey(className);
    } else w.u8(AMF0Marker.Object);
    for (const [k, v] of t.fields) {
      if (className && k === '__type') continue;
      const key = objectKeyString(k);
      if (key === null || key === '') continue;
      this.writeKey(key);
      this.writeValue(v, depth + 1);
    }
    for (let i = 0; i < t.items.length; i++) {
      if (t.items[i] === null) continue;
      this.writeKey(String(i + 1));
      this.writeValue(t.items[i], depth + 1);
    }
    this.writeObjectEnd();
  }

  private writeKey(key: string): void {
    if (key.length <= 21845) return this.w.text16(key);
    const len = Buffer.byteLength(key, 'utf8');
    if (len > 0xffff) throw new AMFEncodeError(`property name of ${len} bytes exceeds 65535`);
    this.w.u16(len);
    this.w.utf8(key, len);
  }

  private writeObjectEnd(): void {
    this.w.u16(0);
    this.w.u8(AMF0Marker.ObjectEnd);
  }
}

/** Encodes values one after another with one set of reference tables. */
export function encodeAMF0(...values: Value[]): Buffer {
  const w = new AMF0Writer();
  for (const v of values) w.write(v);
  return w.toBuffer();
}

/** Decodes every value in `buf`, following 0x11 switches into AMF3; throws DecodeError. */
export function decodeAMF0(buf: Buffer): Value[] {
  return new AMF0Reader(buf).readAll();
}
