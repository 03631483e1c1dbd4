/**
 * Wire Values ⇄ plain JavaScript, for JavaScript and TypeScript apps:
 *
 * | Value (Lua's view)                            | JavaScript                                          |
 * |-----------------------------------------------|-----------------------------------------------------|
 * | nil                                           | null (undefined when written back)                  |
 * | boolean, number, text string                  | boolean, number, string                             |
 * | byte string (not UTF-8: media, AMF blobs)     | Buffer (a JS Buffer or Uint8Array goes back as one) |
 * | table with items only                         | Array (Lua's t[1] is a[0])                          |
 * | table with string keys only                   | object                                              |
 * | table with items and string keys (XML, ECMA)  | Array with those keys as properties                 |
 * | table with other keys (AMF Dictionary...)     | Map, keys as they are (items as 1..n)               |
 * | Date (`__time`)                               | Date                                                |
 * | IPAddress, SocketAddress, File records        | object whose toString() is its `value`              |
 * | fromXML elements                              | Arrays answering `el.childName` and `el.__value`    |
 *
 * A table met several times in a Value (AMF references: shared or cyclic tables) becomes one JS
 * object met as many times, and the reverse: a JS object met again reads as the same Table (a
 * graph is never expanded as a tree: an AMF message whose tables reference themselves would never
 * end). Functions and symbols read as null; the API's script objects read as their class's
 * `asValue` (a server: a record naming it), else null; anything deeper than
 * DECODE_LIMITS.maxDepth reads as null.
 */
import { DECODE_LIMITS, Table, type Key, type Value } from '../../serialization/value';
import { dateTime, RecordTable } from '../runtime/values';

/** Objects that never become Values (script objects of the API, app objects): registered by the binding. */
export const opaque = new WeakSet<object>();

/**
 * What an API script object reads as (its class's asValue), undefined for any other object: set
 * by the object model (objects.ts), which knows the script objects.
 */
export const scriptObjects: { valueOf: (x: object) => Value | undefined } = { valueOf: () => undefined };

/** Tables already converted in this conversion, by identity. */
type Seen = Map<Table, unknown>;

/** A Value as JavaScript sees it. */
export function toScript(v: Value, depth = 0, seen?: Seen): unknown {
  if (v === null || typeof v !== 'object' || Buffer.isBuffer(v)) return v;
  return tableToScript(v, depth, seen ?? new Map());
}

function tableToScript(t: Table, depth: number, seen: Seen): unknown {
  const known = seen.get(t);
  if (known !== undefined) return known;
  if (depth >= DECODE_LIMITS.maxDepth) return null;
  if (t instanceof RecordTable) {
    if (t.recordClass.behaviour === 'xml') return xmlElement(t, depth, seen);
    const o: Record<string, unknown> = {};
    Object.defineProperty(o, 'toString', { value: printedValue, enumerable: false });
    seen.set(t, o);
    return fillFields(o, t, depth, seen);
  }
  const time = dateTime(t);
  if (time !== undefined && t.items.length === 0) {
    const d = new Date(time);
    seen.set(t, d);
    return d;
  }
  let stringKeys = true;
  for (const k of t.fields.keys()) {
    if (typeof k !== 'string' || isIndex(k)) {
      stringKeys = false;
      break;
    }
  }
  // each container is known before its content is converted: a table inside itself finds it
  if (!stringKeys) {
    const m = new Map<unknown, unknown>();
    seen.set(t, m);
    for (let i = 0; i < t.items.length; i++) m.set(i + 1, toScript(t.items[i], depth + 1, seen));
    for (const [k, x] of t.fields) m.set(k instanceof Table ? tableToScript(k, depth + 1, seen) : k, toScript(x, depth + 1, seen));
    return m;
  }
  if (t.items.length === 0) {
    const o: Record<string, unknown> = {};
    seen.set(t, o);
    return fillFields(o, t, depth, seen);
  }
  const a: unknown[] = new Array(t.items.length);
  seen.set(t, a);
  for (let i = 0; i < t.items.length; i++) a[i] = toScript(t.items[i], depth + 1, seen);
  for (const [k, x] of t.fields) define(a, k as string, toScript(x, depth + 1, seen));
  return a;
}

function printedValue(this: { value?: unknown }): string {
  return String(this.value);
}

/** "12": a key that, on an Array, would be an index. */
function isIndex(k: string): boolean {
  return k.length > 0 && k.length < 10 && /^(0|[1-9]\d*)$/.test(k);
}

function fillFields(o: Record<string, unknown>, t: Table, depth: number, seen: Seen): Record<string, unknown> {
  for (const [k, x] of t.fields) define(o, k as string, toScript(x, depth + 1, seen));
  return o;
}

/** Sets o[k] as an own data property, even for "__proto__" (a peer's key never becomes a prototype). */
function define(o: object, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
  else (o as Record<string, unknown>)[k] = v;
}

/**
 * An XML element of mona.fromXML (or the document): an Array of its children with its attributes
 * and `__name` as properties, answering MonaServer's shortcuts: `el.__value` is item 0 (assignable),
 * `el.p` the first child element named "p".
 */
function xmlElement(t: Table, depth: number, seen: Seen): unknown {
  const a: unknown[] = new Array(t.items.length);
  const element = new Proxy(a, XML_HANDLER);
  seen.set(t, element);
  for (let i = 0; i < t.items.length; i++) a[i] = toScript(t.items[i], depth + 1, seen);
  for (const [k, x] of t.fields) if (typeof k === 'string') define(a, k, toScript(x, depth + 1, seen));
  return element;
}

const XML_HANDLER: ProxyHandler<unknown[]> = {
  get(target, key, receiver) {
    if (typeof key !== 'string' || key in target) return Reflect.get(target, key, receiver);
    if (key === '__value') return target[0];
    for (const child of target) {
      if (child !== null && typeof child === 'object' && (child as { __name?: unknown }).__name === key) return child;
    }
    return undefined;
  },
  set(target, key, value, receiver) {
    if (key === '__value') {
      target[0] = value;
      return true;
    }
    return Reflect.set(target, key, value, receiver);
  },
};

/** A JavaScript value as a wire Value (see the table above). */
export function fromScript(x: unknown, depth = 0, seen?: Map<object, Table>): Value {
  switch (typeof x) {
    case 'string':
    case 'boolean':
      return x;
    case 'number':
      return x;
    case 'bigint':
      return Number(x);
    case 'object':
      break;
    default:
      return null;
  }
  if (x === null) return null;
  if (Buffer.isBuffer(x)) return x;
  if (x instanceof Uint8Array) return Buffer.from(x.buffer, x.byteOffset, x.byteLength);
  if (x instanceof ArrayBuffer) return Buffer.from(x);
  if (x instanceof Date) return Table.of({ __time: x.getTime() });
  const asValue = scriptObjects.valueOf(x);
  if (asValue !== undefined) return asValue;
  if (opaque.has(x)) return null;
  // an object met again (shared, or inside itself) is the same Table, made before its content
  const known = seen?.get(x);
  if (known) return known;
  if (depth >= DECODE_LIMITS.maxDepth) return null;
  seen ??= new Map();
  if (Array.isArray(x)) {
    const items: Value[] = new Array(x.length);
    const t = new Table(items);
    seen.set(x, t);
    for (let i = 0; i < x.length; i++) items[i] = fromScript(x[i], depth + 1, seen);
    const keys = Object.keys(x);
    if (keys.length !== x.length) for (const k of keys) if (!isIndex(k)) putField(t, k, (x as unknown as Record<string, unknown>)[k], depth, seen);
    return t;
  }
  const t = new Table();
  seen.set(x, t);
  if (x instanceof Map) {
    for (const [k, v] of x) {
      const key = keyOf(k, depth, seen);
      if (key !== null) t.set(key, fromScript(v, depth + 1, seen));
    }
    return t;
  }
  if (x instanceof Set) {
    for (const v of x) t.items.push(fromScript(v, depth + 1, seen));
    return t;
  }
  for (const k of Object.keys(x)) putField(t, k, (x as Record<string, unknown>)[k], depth, seen);
  return t;
}

function putField(t: Table, k: string, v: unknown, depth: number, seen: Map<object, Table>): void {
  if (v === undefined || typeof v === 'function' || typeof v === 'symbol') return;
  t.fields.set(k, fromScript(v, depth + 1, seen));
}

function keyOf(k: unknown, depth: number, seen: Map<object, Table>): Key | null {
  if (typeof k === 'string' || typeof k === 'boolean') return k;
  if (typeof k === 'number') return Number.isNaN(k) ? null : k;
  const v = fromScript(k, depth + 1, seen);
  return v instanceof Table ? v : typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : null;
}
