/**
 * AMF3 reader and writer (Adobe "AMF 3 Specification", 2013 revision), mapped onto the script value
 * model the way MonaServer maps AMF to Lua (see value.ts and the table rules in amf.ts).
 *
 * Choices, and why:
 *  - undefined (0x00) and null (0x01) both decode to `null` (Lua has only nil); we write null.
 *  - int vs double: integers in the U29 signed range [-2^28, 2^28-1] are written with the integer
 *    marker, anything else (fractions, larger magnitudes, -0, NaN, ±Infinity) as a double. Both
 *    decode to a JS number, so a double like 5.0 comes back as the integer 5 when re-encoded.
 *  - Strings are UTF-8; bytes that are not valid UTF-8 decode to a Buffer (a Lua byte string) so
 *    nothing is lost, and a Buffer is written as an AMF string. "" is never put in the string table.
 *  - XMLDocument (0x07) and XML (0x0B) decode to their text (a string); they take an object
 *    reference slot as the spec says. We never write XML: a string is always written as a string.
 *  - Date → Table `{__time = ms}`; ByteArray → Table `{__raw = Buffer}` (a copy, not a view).
 *  - Array: dense part → items; associative keys that are canonical indexes ("0", "7") become Lua
 *    indexes (1, 8), other keys stay strings. Writing does the inverse (Lua index k → "k-1").
 *  - Object: class name → `__type`; sealed and dynamic members both become fields. Anonymous
 *    objects are written dynamic with one shared trait (referenced after the first use, as Flash
 *    does); typed objects are written sealed (member list = their fields), which is what a Flash
 *    class registered with registerClassAlias expects; identical traits are written by reference.
 *  - IExternalizable: only classes whose externalized form is one AMF3 value are readable
 *    (flex.messaging.io.ArrayCollection, ArrayList, ObjectProxy): they decode to the payload's
 *    table plus `__type`. MonaServer returns the bare payload; we keep `__type` so a round trip
 *    writes the same class back. Any other externalizable class is a DecodeError (its payload
 *    format is private to that class, so the rest of the message cannot be parsed). When the
 *    payload is a reference to a table read earlier, the collection decodes to that very table
 *    (without `__type`) instead of a copy, so references cannot multiply allocations.
 *  - Vector.<int|uint|Number|Object> (MonaServer does not support them) → Table of items with
 *    `__vector` = 'int' | 'uint' | 'double' | 'object', `__vectorType` = object vector class name
 *    (absent when empty) and `__fixed = true` for fixed vectors, so they can be written back.
 *  - Dictionary → Table with `__size` (declared count), `__weakKeys = true` when weak, entries set
 *    with their decoded keys (any value; Lua cannot key by nil or NaN so such entries are dropped).
 *  - References: one string, one object and one trait table per reader/writer until reset(); an
 *    AMF0 message that switches to AMF3 several times shares one AMF3 context (as MonaServer does).
 *    Cyclic references decode to the same Table; the writer emits references for any Table it has
 *    written before (by identity), so cyclic tables terminate.
 */
import { DECODE_LIMITS, Key, Table, Value } from './value';
import {
  AMFEncodeError,
  AMFReader,
  ByteReader,
  ByteWriter,
  DICTIONARY_META,
  describeValue,
  EXTERNALIZABLE,
  MAX_WRITE_DEPTH,
  TableKind,
  arrayKeyString,
  isAMF3Int,
  luaIndexOf,
  objectKeyString,
  rawBytes,
  tableKind,
  textKey,
} from './amf';
import { isUtf8 } from 'node:buffer';

export const AMF3Marker = {
  Undefined: 0x00,
  Null: 0x01,
  False: 0x02,
  True: 0x03,
  Integer: 0x04,
  Double: 0x05,
  String: 0x06,
  XMLDoc: 0x07,
  Date: 0x08,
  Array: 0x09,
  Object: 0x0a,
  XML: 0x0b,
  ByteArray: 0x0c,
  VectorInt: 0x0d,
  VectorUint: 0x0e,
  VectorDouble: 0x0f,
  VectorObject: 0x10,
  Dictionary: 0x11,
} as const;

/** Largest length/count a U29 header can carry (28 bits after the inline flag). */
const MAX_U28 = 0x0fffffff;

interface Traits {
  className: string;
  externalizable: boolean;
  dynamic: boolean;
  sealed: string[];
}

export class AMF3Reader extends AMFReader {
  private strings: (string | Buffer)[] = [];
  private objects: Value[] = [];
  private traits: Traits[] = [];

  /** `cursor` is internal: AMF0Reader passes its own so switched values share its position. */
  constructor(buf: Buffer, offset = 0, end = buf.length, cursor?: ByteReader) {
    super(cursor ?? new ByteReader(buf, offset, end, 'AMF3'));
  }

  /** Forgets the reference tables (a new message). */
  reset(): void {
    this.strings = [];
    this.objects = [];
    this.traits = [];
  }

  /** Reads one value at nesting `depth` (AMF0Reader calls this after a 0x11 switch marker). */
  readValue(depth: number): Value {
    const r = this.r;
    const at = r.pos;
    const marker = r.u8();
    switch (marker) {
      case AMF3Marker.Undefined:
      case AMF3Marker.Null:
        return null;
      case AMF3Marker.False:
        return false;
      case AMF3Marker.True:
        return true;
      case AMF3Marker.Integer: {
        const v = r.u29();
        return v & 0x10000000 ? v - 0x20000000 : v;
      }
      case AMF3Marker.Double:
        return r.double();
      case AMF3Marker.String:
        return this.readText();
      case AMF3Marker.XMLDoc:
      case AMF3Marker.XML:
        return this.readXML();
      case AMF3Marker.Date:
        return this.readDate();
      case AMF3Marker.Array:
        return this.readArray(depth);
      case AMF3Marker.Object:
        return this.readObject(depth);
      case AMF3Marker.ByteArray:
        return this.readByteArray();
      case AMF3Marker.VectorInt:
      case AMF3Marker.VectorUint:
      case AMF3Marker.VectorDouble:
        return this.readNumberVector(marker);
      case AMF3Marker.VectorObject:
        return this.readObjectVector(depth);
      case AMF3Marker.Dictionary:
        return this.readDictionary(depth);
      default:
        return r.fail(`unknown marker 0x${marker.toString(16).padStart(2, '0')}`, at);
    }
  }

  private readText(): string | Buffer {
    const r = this.r;
    const at = r.pos;
    const h = r.u29();
    if (!(h & 1)) {
      const s = this.strings[h >>> 1];
      if (s === undefined) r.fail(`string reference ${h >>> 1} not found (${this.strings.length} known)`, at);
      return s;
    }
    const len = h >>> 1;
    if (len === 0) return '';
    const s = r.text(len, 'string');
    this.strings.push(s);
    return s;
  }

  private readKey(): string {
    return textKey(this.readText());
  }

  /** Reads a U29 object header; returns the inline length/flags, or the referenced value. */
  private header(): { ref: true; value: Value } | { ref: false; bits: number } {
    const r = this.r;
    const at = r.pos;
    const h = r.u29();
    if (h & 1) return { ref: false, bits: h >>> 1 };
    const value = this.objects[h >>> 1];
    if (value === undefined) r.fail(`object reference ${h >>> 1} not found (${this.objects.length} known)`, at);
    return { ref: true, value };
  }

  private enter(depth: number): void {
    if (depth >= DECODE_LIMITS.maxDepth) this.r.fail(`nesting deeper than ${DECODE_LIMITS.maxDepth}`);
  }

  private readXML(): Value {
    const h = this.header();
    if (h.ref) return h.value;
    const s = this.r.text(h.bits, 'XML');
    this.objects.push(s);
    return s;
  }

  private readDate(): Value {
    const h = this.header();
    if (h.ref) return h.value;
    const t = new Table([], new Map<Key, Value>([['__time', this.r.double()]]));
    this.objects.push(t);
    return t;
  }

  private readByteArray(): Value {
    const h = this.header();
    if (h.ref) return h.value;
    const t = new Table([], new Map<Key, Value>([['__raw', this.r.copy(h.bits, 'ByteArray')]]));
    this.objects.push(t);
    return t;
  }

  private readArray(depth: number): Value {
    const h = this.header();
    if (h.ref) return h.value;
    this.enter(depth);
    const t = new Table();
    this.objects.push(t);
    let assoc: [string, Value][] | undefined;
    for (;;) {
      const key = this.readKey();
      if (key === '') break;
      (assoc ??= []).push([key, this.readValue(depth + 1)]);
    }
    const count = h.bits;
    this.r.need(count, `dense array of ${count} items`); // every item takes at least one byte
    for (let i = 0; i < count; i++) t.items.push(this.readValue(depth + 1));
    if (assoc) {
      for (const [key, v] of assoc) {
        const index = luaIndexOf(key);
        t.set(index > 0 ? index : key, v);
      }
    }
    return t;
  }

  private readObject(depth: number): Value {
    const r = this.r;
    const at = r.pos;
    const h = this.header();
    if (h.ref) return h.value;
    this.enter(depth);
    const bits = h.bits;
    let traits: Traits;
    if (!(bits & 1)) {
      const found = this.traits[bits >>> 1];
      if (!found) r.fail(`trait reference ${bits >>> 1} not found (${this.traits.length} known)`, at);
      traits = found;
    } else {
      const count = bits >>> 3;
      const className = this.readKey();
      r.need(count, `${count} sealed member names`);
      const sealed: string[] = [];
      for (let i = 0; i < count; i++) sealed.push(this.readKey());
      traits = { className, externalizable: (bits & 2) !== 0, dynamic: (bits & 4) !== 0, sealed };
      this.traits.push(traits);
    }

    if (traits.externalizable) return this.readExternal(traits.className, depth, at);

    const t = new Table();
    if (traits.className) t.fields.set('__type', traits.className);
    this.objects.push(t);
    for (const name of traits.sealed) t.set(name, this.readValue(depth + 1));
    if (traits.dynamic) {
      for (;;) {
        const key = this.readKey();
        if (key === '') break;
        t.set(key, this.readValue(depth + 1));
      }
    }
    return t;
  }

  private readExternal(className: string, depth: number, at: number): Value {
    if (!EXTERNALIZABLE.has(className)) {
      this.r.fail(`IExternalizable class "${className}" is not supported`, at);
    }
    const t = new Table([], new Map<Key, Value>([['__type', className]]));
    const slot = this.objects.length;
    this.objects.push(t);
    const payload = this.readValue(depth + 1);
    if (payload === null) return t;
    if (!(payload instanceof Table)) {
      return this.r.fail(`${className} payload must be an array or object, got ${describeValue(payload)}`, at);
    }
    if (this.objects[slot + 1] !== payload) {
      // The payload is a reference to a table read earlier: copying it here would let a few bytes
      // per reference allocate a whole copy each time, so the collection *is* that table.
      this.objects[slot] = payload;
      return payload;
    }
    // A payload read inline right here: moving its entries costs what its bytes cost.
    for (let i = 0; i < payload.items.length; i++) t.items.push(payload.items[i]);
    for (const [k, v] of payload.fields) if (k !== '__type') t.fields.set(k, v);
    return t;
  }

  private readNumberVector(marker: number): Value {
    const h = this.header();
    if (h.ref) return h.value;
    const r = this.r;
    const count = h.bits;
    const fixed = r.u8();
    const size = marker === AMF3Marker.VectorDouble ? 8 : 4;
    r.need(count * size, `vector of ${count} numbers`);
    const kind = marker === AMF3Marker.VectorInt ? 'int' : marker === AMF3Marker.VectorUint ? 'uint' : 'double';
    const t = vectorTable(kind, fixed, '');
    this.objects.push(t);
    const buf = r.buf;
    let p = r.pos;
    for (let i = 0; i < count; i++, p += size) {
      t.items.push(size === 8 ? buf.readDoubleBE(p) : kind === 'int' ? buf.readInt32BE(p) : buf.readUInt32BE(p));
    }
    r.pos = p;
    return t;
  }

  private readObjectVector(depth: number): Value {
    const h = this.header();
    if (h.ref) return h.value;
    this.enter(depth);
    const count = h.bits;
    const fixed = this.r.u8();
    const typeName = this.readKey();
    this.r.need(count, `vector of ${count} objects`);
    const t = vectorTable('object', fixed, typeName);
    this.objects.push(t);
    for (let i = 0; i < count; i++) t.items.push(this.readValue(depth + 1));
    return t;
  }

  private readDictionary(depth: number): Value {
    const h = this.header();
    if (h.ref) return h.value;
    this.enter(depth);
    const count = h.bits;
    const weak = this.r.u8();
    this.r.need(count * 2, `dictionary of ${count} entries`);
    const t = new Table([], new Map<Key, Value>([['__size', count]]));
    if (weak & 1) t.fields.set('__weakKeys', true);
    this.objects.push(t);
    for (let i = 0; i < count; i++) {
      const key = this.readValue(depth + 1);
      const value = this.readValue(depth + 1);
      if (key === null || (typeof key === 'number' && Number.isNaN(key))) continue;
      t.set(Buffer.isBuffer(key) ? key.toString('utf8') : key, value);
    }
    return t;
  }
}

function vectorTable(kind: string, fixed: number, typeName: string): Table {
  const fields = new Map<Key, Value>([['__vector', kind]]);
  if (typeName) fields.set('__vectorType', typeName);
  if (fixed) fields.set('__fixed', true);
  return new Table([], fields);
}

/** Appends AMF3 values to one growing buffer. After an AMFEncodeError, reset() before reusing it. */
export class AMF3Writer {
  private readonly w: ByteWriter;
  private strings = new Map<string, number>();
  /** Byte strings that are not UTF-8, keyed by their latin1 spelling; same index space as strings. */
  private rawStrings = new Map<string, number>();
  private stringCount = 0;
  private objects = new Map<Table, number>();
  private objectCount = 0;
  private traits = new Map<string, number>();
  private traitCount = 0;

  private readonly negativeAsDouble: boolean;
  private readonly inlineTraits: boolean;

  /**
   * `out` is internal: AMF0Writer passes its buffer so switched values land in the same message.
   * Options for MonaServer 1 peers: `negativeIntegersAsDoubles` because MonaServer reads AMF3
   * integers as unsigned (-3 arrives as 4294967293); `inlineAnonymousTraits` writes every anonymous
   * object's traits in full, as MonaServer does, instead of referencing the first one (both forms
   * are valid AMF3; this one reproduces MonaServer's bytes).
   */
  constructor(out?: ByteWriter, options: { negativeIntegersAsDoubles?: boolean; inlineAnonymousTraits?: boolean } = {}) {
    this.w = out ?? new ByteWriter();
    this.negativeAsDouble = options.negativeIntegersAsDoubles === true;
    this.inlineTraits = options.inlineAnonymousTraits === true;
  }

  write(v: Value): this {
    this.writeValue(v, 0);
    return this;
  }

  writeString(s: string): this {
    this.w.u8(AMF3Marker.String);
    this.writeText(s);
    return this;
  }

  writeNumber(n: number): this {
    this.writeValue(n, 0);
    return this;
  }

  writeBoolean(b: boolean): this {
    this.w.u8(b ? AMF3Marker.True : AMF3Marker.False);
    return this;
  }

  writeNull(): this {
    this.w.u8(AMF3Marker.Null);
    return this;
  }

  /** An object from name/value pairs or from a table's fields (typed when it has `__type`). */
  writeObject(fields: Iterable<[string, Value]> | Table): this {
    const t = fields instanceof Table ? fields : new Table([], new Map<Key, Value>(fields));
    const type = t.fields.get('__type');
    this.writeObjectBody(t, typeof type === 'string' ? type : '', 0);
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
    this.resetTables();
  }

  resetTables(): void {
    this.strings.clear();
    this.rawStrings.clear();
    this.stringCount = 0;
    this.objects.clear();
    this.objectCount = 0;
    this.traits.clear();
    this.traitCount = 0;
  }

  /** Writes one value at nesting `depth` (AMF0Writer calls this after a 0x11 switch marker). */
  writeValue(v: Value, depth: number): void {
    const w = this.w;
    if (v === null) w.u8(AMF3Marker.Null);
    else if (typeof v === 'boolean') w.u8(v ? AMF3Marker.True : AMF3Marker.False);
    else if (typeof v === 'number') {
      if (isAMF3Int(v) && !(v < 0 && this.negativeAsDouble)) {
        w.u8(AMF3Marker.Integer);
        w.u29(v & 0x1fffffff);
      } else {
        w.u8(AMF3Marker.Double);
        w.double(v);
      }
    } else if (typeof v === 'string') {
      w.u8(AMF3Marker.String);
      this.writeText(v);
    } else if (Buffer.isBuffer(v)) {
      w.u8(AMF3Marker.String);
      this.writeBytesText(v);
    } else this.writeTable(v, depth);
  }

  private writeText(s: string): void {
    const w = this.w;
    if (s.length === 0) {
      w.u8(0x01);
      return;
    }
    const ref = this.strings.get(s);
    if (ref !== undefined) {
      w.u29(ref << 1);
      return;
    }
    if (s.length <= 21) {
      if (this.stringCount <= MAX_U28) this.strings.set(s, this.stringCount++);
      w.text29Short(s);
      return;
    }
    const len = Buffer.byteLength(s, 'utf8');
    if (len > MAX_U28) throw new AMFEncodeError(`string of ${len} bytes exceeds the AMF3 limit`);
    if (this.stringCount <= MAX_U28) this.strings.set(s, this.stringCount++);
    w.u29((len << 1) | 1);
    w.utf8(s, len);
  }

  /** A byte string: shares the string table with text, since both read back the same way. */
  private writeBytesText(b: Buffer): void {
    if (b.length === 0 || isUtf8(b)) {
      this.writeText(b.toString('utf8'));
      return;
    }
    const key = b.toString('latin1');
    const ref = this.rawStrings.get(key);
    if (ref !== undefined) {
      this.w.u29(ref << 1);
      return;
    }
    if (b.length > MAX_U28) throw new AMFEncodeError(`string of ${b.length} bytes exceeds the AMF3 limit`);
    if (this.stringCount <= MAX_U28) this.rawStrings.set(key, this.stringCount++);
    this.w.u29((b.length << 1) | 1);
    this.w.bytes(b);
  }

  /** Registers `t` in the object table; returns false if it was there and a reference was written. */
  private inline(t: Table, marker: number): boolean {
    const ref = this.objects.get(t);
    this.w.u8(marker);
    if (ref !== undefined) {
      this.w.u29(ref << 1);
      return false;
    }
    if (this.objectCount <= MAX_U28) this.objects.set(t, this.objectCount);
    this.objectCount++;
    return true;
  }

  private count(n: number, what: string): number {
    if (n > MAX_U28) throw new AMFEncodeError(`${what} of ${n} entries exceeds the AMF3 limit`);
    return (n << 1) | 1;
  }

  private writeTable(t: Table, depth: number): void {
    const w = this.w;
    const kind = tableKind(t);
    switch (kind) {
      case TableKind.Bytes: {
        if (!this.inline(t, AMF3Marker.ByteArray)) return;
        const b = rawBytes(t);
        w.u29(this.count(b.length, 'ByteArray'));
        w.bytes(b);
        return;
      }
      case TableKind.Date:
        if (!this.inline(t, AMF3Marker.Date)) return;
        w.u29(1);
        w.double(t.fields.get('__time') as number);
        return;
    }
    if (depth >= MAX_WRITE_DEPTH) throw new AMFEncodeError(`tables nested deeper than ${MAX_WRITE_DEPTH}`);
    switch (kind) {
      case TableKind.Dictionary:
        return this.writeDictionary(t, depth);
      case TableKind.Vector:
        return this.writeVector(t, depth);
      case TableKind.Externalizable:
        return this.writeExternal(t, depth);
      case TableKind.Typed:
        return this.writeObjectBody(t, t.fields.get('__type') as string, depth);
      case TableKind.Object:
        return this.writeObjectBody(t, '', depth);
      default:
        return this.writeArray(t, depth);
    }
  }

  private writeArray(t: Table, depth: number): void {
    if (!this.inline(t, AMF3Marker.Array)) return;
    const w = this.w;
    const items = t.items;
    w.u29(this.count(items.length, 'array'));
    for (const [k, v] of t.fields) {
      const key = arrayKeyString(k);
      if (key === null || key === '') continue; // no AMF spelling ("" would end the list)
      this.writeText(key);
      this.writeValue(v, depth + 1);
    }
    w.u8(0x01);
    for (let i = 0; i < items.length; i++) this.writeValue(items[i], depth + 1);
  }

  private writeObjectBody(t: Table, className: string, depth: number): void {
    if (!this.inline(t, AMF3Marker.Object)) return;
    const w = this.w;
    if (!className) {
      // anonymous: dynamic, no sealed members, one trait shared by every anonymous object
      const ref = this.traits.get('d:');
      if (ref !== undefined && !this.inlineTraits) w.u29((ref << 2) | 1);
      else {
        if (ref === undefined) this.traits.set('d:', this.traitCount);
        this.traitCount++;
        w.u29(0x0b);
        w.u8(0x01);
      }
      for (const [k, v] of t.fields) {
        const key = objectKeyString(k);
        if (key === null || key === '') continue;
        this.writeText(key);
        this.writeValue(v, depth + 1);
      }
      for (let i = 0; i < t.items.length; i++) {
        if (t.items[i] === null) continue;
        this.writeText(String(i + 1));
        this.writeValue(t.items[i], depth + 1);
      }
      w.u8(0x01);
      return;
    }
    // typed: sealed members in field order
    const names: string[] = [];
    const values: Value[] = [];
    for (const [k, v] of t.fields) {
      if (k === '__type') continue;
      const key = objectKeyString(k);
      if (key === null) continue;
      names.push(key);
      values.push(v);
    }
    for (let i = 0; i < t.items.length; i++) {
      names.push(String(i + 1));
      values.push(t.items[i]);
    }
    const traitKey = `s:${className}\u0000${names.join('\u0000')}`;
    const ref = this.traits.get(traitKey);
    if (ref !== undefined) w.u29((ref << 2) | 1);
    else {
      if (names.length > 0x1ffffff) throw new AMFEncodeError(`${names.length} sealed members exceed the AMF3 limit`);
      this.traits.set(traitKey, this.traitCount++);
      w.u29((names.length << 4) | 0x03);
      this.writeText(className);
      for (const n of names) this.writeText(n);
    }
    for (const v of values) this.writeValue(v, depth + 1);
  }

  private writeExternal(t: Table, depth: number): void {
    if (!this.inline(t, AMF3Marker.Object)) return;
    const className = t.fields.get('__type') as string;
    const w = this.w;
    const ref = this.traits.get(`e:${className}`);
    if (ref !== undefined) w.u29((ref << 2) | 1);
    else {
      this.traits.set(`e:${className}`, this.traitCount++);
      w.u29(0x07);
      this.writeText(className);
    }
    const fields = new Map(t.fields);
    fields.delete('__type');
    const payload = new Table(t.items, fields);
    if (className === 'flex.messaging.io.ObjectProxy') this.writeObjectBody(payload, '', depth + 1);
    else this.writeArray(payload, depth + 1);
  }

  private writeVector(t: Table, depth: number): void {
    const kind = t.fields.get('__vector');
    const marker =
      kind === 'int'
        ? AMF3Marker.VectorInt
        : kind === 'uint'
          ? AMF3Marker.VectorUint
          : kind === 'double'
            ? AMF3Marker.VectorDouble
            : AMF3Marker.VectorObject;
    if (!this.inline(t, marker)) return;
    const w = this.w;
    const items = t.items;
    w.u29(this.count(items.length, 'vector'));
    w.u8(t.fields.get('__fixed') === true ? 1 : 0);
    if (marker === AMF3Marker.VectorObject) {
      const type = t.fields.get('__vectorType');
      this.writeText(typeof type === 'string' ? type : '');
      for (let i = 0; i < items.length; i++) this.writeValue(items[i], depth + 1);
      return;
    }
    for (let i = 0; i < items.length; i++) {
      const v = items[i];
      const n = typeof v === 'number' ? v : 0;
      if (marker === AMF3Marker.VectorDouble) w.double(n);
      else if (marker === AMF3Marker.VectorInt) w.i32(n);
      else w.u32(n);
    }
  }

  private writeDictionary(t: Table, depth: number): void {
    if (!this.inline(t, AMF3Marker.Dictionary)) return;
    const w = this.w;
    let n = 0;
    for (const v of t.items) if (v !== null) n++;
    for (const k of t.fields.keys()) if (!DICTIONARY_META.has(k)) n++;
    w.u29(this.count(n, 'dictionary'));
    w.u8(t.fields.get('__weakKeys') === true ? 1 : 0);
    for (let i = 0; i < t.items.length; i++) {
      if (t.items[i] === null) continue;
      this.writeValue(i + 1, depth + 1);
      this.writeValue(t.items[i], depth + 1);
    }
    for (const [k, v] of t.fields) {
      if (DICTIONARY_META.has(k)) continue;
      this.writeValue(k, depth + 1);
      this.writeValue(v, depth + 1);
    }
  }
}

/** Encodes values one after another with one set of reference tables. */
export function encodeAMF3(...values: Value[]): Buffer {
  const w = new AMF3Writer();
  for (const v of values) w.write(v);
  return w.toBuffer();
}

/** Decodes every value in `buf`; throws DecodeError on malformed input. */
export function decodeAMF3(buf: Buffer): Value[] {
  return new AMF3Reader(buf).readAll();
}

