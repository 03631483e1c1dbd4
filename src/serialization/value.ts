/**
 * The script value model: what every wire format (AMF0, AMF3, JSON, query, XML-RPC, XML) decodes
 * to and encodes from, and what the scripting layer maps 1:1 onto Lua values.
 *
 * It mirrors MonaServer's Lua mapping so the Lua bridge stays trivial:
 *  - `null`        Lua nil (AMF null/undefined, JSON null)
 *  - boolean, number
 *  - `string`      text (UTF-8 on the wire)
 *  - `Buffer`      a byte string that is not meant as text (media packets, raw blobs)
 *  - `Table`       a Lua table: `items` is its array part (Lua index 1 = items[0]), `fields` the rest.
 *
 * Special fields carry AMF types through tables, exactly as MonaServer scripts see them:
 *  `__type` typed object class name, `__time` Date in ms, `__raw` ByteArray bytes (Buffer),
 *  `__size` Dictionary (then `fields` may hold Table/boolean/number keys), `__weakKeys` on a
 *  Dictionary created with weak keys, `__name`/`__value` for generic XML.
 */
export type Value = null | boolean | number | string | Buffer | Table;
export type Key = string | number | boolean | Table;

export class Table {
  /** Array part: Lua t[1] is items[0]. Holes are `null`. */
  readonly items: Value[];
  /** Hash part. Insertion order is kept (writers preserve it, which keeps round trips byte-exact). */
  readonly fields: Map<Key, Value>;

  constructor(items: Value[] = [], fields?: Map<Key, Value> | Record<string, Value>) {
    this.items = items;
    if (fields instanceof Map) this.fields = fields;
    else {
      this.fields = new Map();
      if (fields) for (const k of Object.keys(fields)) this.fields.set(k, fields[k]);
    }
  }

  get(key: Key): Value {
    if (typeof key === 'number' && Number.isInteger(key) && key >= 1 && key <= this.items.length) {
      return this.items[key - 1];
    }
    const v = this.fields.get(key);
    return v === undefined ? null : v;
  }

  set(key: Key, value: Value): this {
    if (typeof key === 'number' && Number.isInteger(key) && key >= 1) {
      if (key <= this.items.length) {
        this.items[key - 1] = value;
        return this;
      }
      if (key === this.items.length + 1 && value !== null) {
        this.items.push(value);
        // absorb following integer keys that were stored in the hash part
        for (let next = this.items.length + 1; this.fields.has(next); next++) {
          this.items.push(this.fields.get(next) as Value);
          this.fields.delete(next);
        }
        return this;
      }
    }
    if (value === null) this.fields.delete(key);
    else this.fields.set(key, value);
    return this;
  }

  /** Field lookup by string name, `undefined` when absent (distinguishes absent from null). */
  field(name: string): Value | undefined {
    return this.fields.get(name);
  }

  static of(fields: Record<string, Value>): Table {
    return new Table([], fields);
  }

  static list(items: Value[]): Table {
    return new Table(items);
  }
}

/** A decoding failure for one message: protocols catch it, report it for that message/session only. */
export class DecodeError extends Error {
  constructor(
    readonly format: string,
    message: string,
    readonly offset = -1,
  ) {
    super(`${format}: ${message}${offset >= 0 ? ` at byte ${offset}` : ''}`);
    this.name = 'DecodeError';
  }
}

/** Limits every decoder honours so that hostile input cannot allocate or recurse without bound. */
export const DECODE_LIMITS = {
  /** nesting depth of containers */
  maxDepth: 64,
} as const;

/** Convenience for tests and scripts: plain JS value → Value. */
export function fromJS(v: unknown): Value {
  if (v === null || v === undefined) return null;
  if (typeof v === 'boolean' || typeof v === 'number' || typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v;
  if (v instanceof Table) return v;
  if (v instanceof Date) return Table.of({ __time: v.getTime() });
  if (Array.isArray(v)) return new Table(v.map(fromJS));
  if (typeof v === 'object') {
    const t = new Table();
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) t.fields.set(k, fromJS(x));
    return t;
  }
  return null;
}

/** Value → plain JS, for assertions and JSON-ish debugging (Dictionary keys become strings). */
export function toJS(v: Value): unknown {
  if (!(v instanceof Table)) return v;
  if (v.fields.size === 0) return v.items.map(toJS);
  const o: Record<string, unknown> = {};
  v.items.forEach((x, i) => (o[String(i + 1)] = toJS(x)));
  for (const [k, x] of v.fields) o[k instanceof Table ? '[table]' : String(k)] = toJS(x);
  return o;
}
