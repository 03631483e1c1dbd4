/**
 * The API's object model (runtime/model.ts) as JavaScript objects, built generically from each
 * ObjectClass: one prototype per class holding its properties as getters (and setters), its
 * methods, `toString()`, and for collections the Map-like side (`for…of` gives [key, value]
 * pairs, `size`, `get`, `has`, `keys`, `values`, `entries`, `forEach`). A class with a `fallback`
 * (client.key reading the connection's properties, mona.clients[id]) ends its prototype chain with
 * a proxy reached only by keys nothing else has; a class with `call` (mona.clients(id),
 * client.properties(key, value, options)) makes callable objects.
 *
 * Each core object has one script object for its life (what scripts store on it stays), marked with
 * a private field naming its entry; `release` clears the mark, so an object a script kept stops
 * answering (getters give undefined, methods throw).
 */
import * as util from 'node:util';
import type { Value } from '../../serialization/value';
import type { ArgKind, Args, Out } from '../runtime/engine';
import type { Method, ObjectClass } from '../runtime/model';
import { fromScript, opaque, scriptObjects, toScript } from './values';

/* eslint-disable @typescript-eslint/no-explicit-any */
export type AnyClass = ObjectClass<any>;

/** One core object seen by scripts. */
export interface Entry {
  readonly obj: object;
  readonly cls: AnyClass;
  readonly so: object;
}

/** A base whose constructor returns the object it is given, so that Mark can put its field on any object (functions too). */
class Returning {
  constructor(o: object) {
    return o;
  }
}

/** The private mark of script objects: which core object they mirror. */
class Mark extends Returning {
  #entry: Entry | undefined;
  constructor(o: object, e: Entry) {
    super(o);
    this.#entry = e;
  }
  static entry(o: unknown): Entry | undefined {
    return o !== null && (typeof o === 'object' || typeof o === 'function') && #entry in o ? (o as Mark).#entry : undefined;
  }
  static clear(o: object): void {
    if (#entry in o) (o as Mark).#entry = undefined;
  }
}

export const entryOf = Mark.entry;

// an API object where a plain value is read (an RPC result, onHandshake's redirections): its
// class's asValue (a server: a record naming it), else nil
scriptObjects.valueOf = (x: object): Value | undefined => {
  const e = Mark.entry(x);
  if (e === undefined) return undefined;
  return e.cls.asValue ? e.cls.asValue(e.obj) : null;
};

/** What the object model needs from the engine. */
export interface ObjectsHost {
  /** "file:line" of the innermost script frame, "" when none */
  where(): string;
  /** the text `INFO(x)` prints for a value */
  display(v: unknown): string;
  /** runs an API function called by a script (the engine may pause its watchdog around it) */
  api<R>(fn: () => R): R;
}

/** An error an API function raises in the script calling it. */
export class APIError extends Error {}

/** A call's arguments, from the script's argument list. */
export class JSArgs implements Args {
  constructor(
    private readonly host: ObjectsHost,
    readonly list: readonly unknown[],
  ) {}
  count(): number {
    return this.list.length;
  }
  kind(i: number): ArgKind {
    if (i > this.list.length || i < 1) return 'none';
    const v = this.list[i - 1];
    if (v === null || v === undefined) return 'nil';
    switch (typeof v) {
      case 'boolean':
        return 'boolean';
      case 'number':
        return 'number';
      case 'string':
        return 'string';
      case 'function':
        return entryOf(v) ? 'object' : 'function';
      case 'object':
        if (v instanceof Uint8Array) return 'string';
        return entryOf(v) ? 'object' : 'table';
      default:
        return 'other';
    }
  }
  number(i: number): number | undefined {
    const v = this.list[i - 1];
    return typeof v === 'number' ? v : undefined;
  }
  boolean(i: number): boolean {
    return Boolean(this.list[i - 1]);
  }
  text(i: number): string | null {
    const v = this.list[i - 1];
    if (typeof v === 'string') return v;
    if (typeof v === 'number') return String(v);
    if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8');
    return null;
  }
  bytes(i: number): Buffer | null {
    const v = this.list[i - 1];
    if (Buffer.isBuffer(v)) return v;
    if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    if (typeof v === 'string') return Buffer.from(v, 'utf8');
    if (typeof v === 'number') return Buffer.from(String(v), 'utf8');
    return null;
  }
  value(i: number): Value {
    return fromScript(this.list[i - 1]);
  }
  values(from: number): Value[] {
    const out: Value[] = [];
    for (let i = from; i <= this.list.length; i++) out.push(fromScript(this.list[i - 1]));
    return out;
  }
  object<T extends object>(i: number, cls: ObjectClass<T>): T | undefined {
    const e = entryOf(this.list[i - 1]);
    return e && e.cls === cls ? (e.obj as T) : undefined;
  }
  display(i: number): string {
    return this.host.display(this.list[i - 1]);
  }
  callback(i: number, message: string): void {
    const f = this.list[i - 1];
    if (typeof f === 'function') f(message);
  }
  where(): string {
    return this.host.where();
  }
  error(message: string): never {
    throw new APIError(message);
  }
}

/** Collects the values an API function writes, as JavaScript values. */
export class JSOut implements Out {
  readonly values: unknown[] = [];
  constructor(private readonly objects: ScriptObjects) {}
  reserve(): void {}
  nil(): void {
    this.values.push(null);
  }
  boolean(b: boolean): void {
    this.values.push(b);
  }
  number(n: number): void {
    this.values.push(n);
  }
  text(s: string): void {
    this.values.push(s);
  }
  bytes(b: Uint8Array): void {
    this.values.push(Buffer.from(b));
  }
  sharedBytes(b: Buffer): void {
    this.values.push(b);
  }
  value(v: Value): void {
    this.values.push(toScript(v));
  }
  object<T extends object>(cls: ObjectClass<T>, obj: T): void {
    this.values.push(this.objects.scriptObject(cls, obj));
  }
}

/**
 * A method's results as one JavaScript value: nothing → undefined, one value → it, several → an
 * array (always an array for the class's list methods). Lua's failure convention `nil, message`
 * becomes a thrown Error.
 */
function methodResult(values: unknown[], list: boolean): unknown {
  if (list) return values;
  if (values.length === 0) return undefined;
  if (values.length === 1) return values[0];
  if (values[0] === null && typeof values[1] === 'string') throw new APIError(values[1]);
  return values;
}

export class ScriptObjects {
  private readonly byObject = new Map<object, Entry>();
  private readonly protos = new Map<AnyClass, object>();

  constructor(private readonly host: ObjectsHost) {}

  knows(obj: object): boolean {
    return this.byObject.has(obj);
  }

  entry(obj: object): Entry | undefined {
    return this.byObject.get(obj);
  }

  /** The script object mirroring `obj` (made on first use, the same one afterwards). */
  scriptObject<T extends object>(cls: ObjectClass<T>, obj: T): object {
    const known = this.byObject.get(obj);
    if (known !== undefined && known.cls === cls) return known.so;
    const proto = this.proto(cls);
    let so: object;
    if (cls.call) {
      const call = cls.call;
      // an arrow function: callable, and without a `prototype` property of its own
      const f = (...args: unknown[]): unknown => {
        const e = entryOf(f);
        if (!e) throw new APIError(`${cls.name}: this object has ended`);
        return this.run(call as Method<object>, e.obj, args, false);
      };
      delete (f as { name?: string }).name;
      delete (f as { length?: number }).length;
      Object.setPrototypeOf(f, proto);
      so = f;
    } else so = Object.create(proto) as object;
    const entry: Entry = { obj, cls, so };
    new Mark(so, entry);
    opaque.add(so);
    this.byObject.set(obj, entry);
    return so;
  }

  release(obj: object): void {
    const e = this.byObject.get(obj);
    if (!e) return;
    this.byObject.delete(obj);
    Mark.clear(e.so);
  }

  clear(): void {
    for (const e of this.byObject.values()) Mark.clear(e.so);
    this.byObject.clear();
  }

  /** Runs an API function over a core object with the script's arguments; its results as one value. */
  run(fn: Method<object>, obj: object, args: readonly unknown[], list: boolean): unknown {
    return this.host.api(() => {
      const out = new JSOut(this);
      fn(obj, new JSArgs(this.host, args), out);
      return methodResult(out.values, list);
    });
  }

  /** One value a getter or a fallback writes. */
  private read(write: (out: Out) => boolean | void): unknown {
    return this.host.api(() => {
      const out = new JSOut(this);
      if (write(out) === false) return undefined;
      return out.values.length ? out.values[0] : undefined;
    });
  }

  /** Pairs of a collection, as [key, value] arrays (a snapshot). */
  private pairsOf(cls: AnyClass, obj: object): Array<[unknown, unknown]> {
    const flat = this.host.api(() => {
      const out = new JSOut(this);
      cls.pairs?.(obj, out);
      return out.values;
    });
    const pairs: Array<[unknown, unknown]> = [];
    for (let i = 0; i + 1 < flat.length; i += 2) if (flat[i] !== null) pairs.push([flat[i], flat[i + 1]]);
    return pairs;
  }

  private proto(cls: AnyClass): object {
    const known = this.protos.get(cls);
    if (known) return known;
    const self = this;
    let base: object = cls.call ? Function.prototype : Object.prototype;
    if (cls.fallback) {
      const fallback = cls.fallback;
      // reached only by keys that neither the object nor its class has
      base = new Proxy(base, {
        get(target, key, receiver) {
          if (typeof key === 'string') {
            const e = entryOf(receiver);
            if (e && e.cls === cls) {
              const v = self.read((out) => fallback(e.obj, key, out));
              if (v !== undefined) return v;
            }
          }
          return Reflect.get(target, key, receiver);
        },
      });
    }
    const proto = Object.create(base) as Record<string | symbol, unknown>;
    const live = (o: unknown): object | undefined => {
      const e = entryOf(o);
      return e && e.cls === cls ? e.obj : undefined;
    };
    const define = (key: string | symbol, d: PropertyDescriptor): void => {
      Object.defineProperty(proto, key, { configurable: true, enumerable: false, ...d });
    };
    const taken = new Set<string>();
    for (const [name, getter] of Object.entries(cls.properties ?? {})) {
      taken.add(name);
      const setter = cls.setters?.[name];
      define(name, {
        get(this: unknown) {
          const obj = live(this);
          return obj === undefined ? undefined : self.read((out) => getter(obj, out));
        },
        set: setter
          ? function (this: unknown, v: unknown) {
              const obj = live(this);
              if (obj !== undefined) self.host.api(() => setter(obj, new JSArgs(self.host, [v])));
            }
          : undefined,
      });
    }
    for (const [name, setter] of Object.entries(cls.setters ?? {})) {
      if (taken.has(name)) continue;
      taken.add(name);
      define(name, {
        set(this: unknown, v: unknown) {
          const obj = live(this);
          if (obj !== undefined) self.host.api(() => setter(obj, new JSArgs(self.host, [v])));
        },
      });
    }
    const lists = new Set(cls.listMethods ?? []);
    for (const [name, fn] of Object.entries(cls.methods ?? {})) {
      taken.add(name);
      const list = lists.has(name);
      define(name, {
        writable: true,
        value: function (this: unknown, ...args: unknown[]) {
          let obj = live(this);
          if (obj === undefined) {
            if (!cls.singleton) throw new APIError(`${cls.name}.${name}: not called on a live ${cls.name}`);
            obj = cls.singleton as object;
          }
          return self.run(fn, obj, args, list);
        },
      });
    }
    if (cls.pairs || cls.len) this.collection(cls, define, taken, live);
    const describe = (o: unknown): string => {
      const obj = live(o);
      return obj !== undefined && cls.describe ? cls.describe(obj) : cls.name;
    };
    define('toString', {
      writable: true,
      value: function (this: unknown) {
        return describe(this);
      },
    });
    define(Symbol.toStringTag, { value: cls.name });
    define(util.inspect.custom, {
      value: function (this: unknown) {
        return `[${describe(this)}]`;
      },
    });
    this.protos.set(cls, proto);
    return proto;
  }

  /** The Map-like side of a collection class. */
  private collection(cls: AnyClass, define: (key: string | symbol, d: PropertyDescriptor) => void, taken: Set<string>, live: (o: unknown) => object | undefined): void {
    const self = this;
    const pairs = (o: unknown): Array<[unknown, unknown]> => {
      const obj = live(o);
      return obj === undefined ? [] : self.pairsOf(cls, obj);
    };
    const method = (name: string, value: (this: unknown, ...args: any[]) => unknown): void => {
      if (!taken.has(name)) define(name, { writable: true, value });
    };
    if (!taken.has('size')) {
      define('size', {
        get(this: unknown) {
          const obj = live(this);
          if (obj === undefined) return 0;
          return cls.len ? self.host.api(() => (cls.len as (o: object) => number)(obj)) : pairs(this).length;
        },
      });
    }
    const get = function (this: unknown, key: unknown): unknown {
      const obj = live(this);
      if (obj === undefined) return undefined;
      if (typeof key === 'string' && cls.fallback) {
        const fallback = cls.fallback;
        const v = self.read((out) => fallback(obj, key, out));
        if (v !== undefined) return v;
      }
      for (const [k, v] of self.pairsOf(cls, obj)) if (k === key) return v;
      return undefined;
    };
    method('get', get);
    method('has', function (this: unknown, key: unknown) {
      return get.call(this, key) !== undefined;
    });
    method('entries', function (this: unknown) {
      return pairs(this)[Symbol.iterator]();
    });
    method('keys', function (this: unknown) {
      return pairs(this).map((p) => p[0])[Symbol.iterator]();
    });
    method('values', function (this: unknown) {
      return pairs(this).map((p) => p[1])[Symbol.iterator]();
    });
    method('forEach', function (this: unknown, fn: (value: unknown, key: unknown, collection: unknown) => void) {
      for (const [k, v] of pairs(this)) fn(v, k, this);
    });
    define(Symbol.iterator, {
      writable: true,
      value: function (this: unknown) {
        return pairs(this)[Symbol.iterator]();
      },
    });
  }
}
