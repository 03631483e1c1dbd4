/**
 * The JavaScript side of `data`: each view of the store (an app's `data`, `data.sub`) is a Proxy
 * over the engine-neutral DataBinding, with MonaServer's rules: what is assigned reads back as its
 * string form (`data.n = 10` → `"10"`, as JavaScript prints the number), booleans typed; assigning
 * an object or array copies it into a sub-table (array items under the keys "0", "1"...);
 * `delete data.x` (or assigning null/undefined) deletes; `Object.keys`, `for…in`, `in` and
 * JSON.stringify see the stored keys. A rule violation throws a TypeError in the assigning line.
 */
import { DataTableRef, type DataValue } from '../data-store';
import { DataInputTable, type DataBinding, type DataInput } from '../runtime/data';
import { opaque } from './values';

/** How deep an assigned value may nest (as DataBinding checks). */
const MAX_DEPTH = 64;

export class JSData {
  /** view proxy → its path */
  private readonly paths = new WeakMap<object, readonly string[]>();
  private readonly handler: ProxyHandler<Record<string, unknown>>;

  constructor(private readonly binding: DataBinding) {
    const self = this;
    const pathOf = (t: object): readonly string[] => self.targets.get(t) as readonly string[];
    this.handler = {
      get(t, key) {
        if (typeof key !== 'string') return key === Symbol.toStringTag ? 'data' : undefined;
        return self.stored(binding.get(pathOf(t), key));
      },
      set(t, key, value) {
        if (typeof key !== 'string') throw new TypeError('data keys are strings or numbers');
        self.assign(pathOf(t), key, value);
        return true;
      },
      defineProperty(t, key, d) {
        if (typeof key !== 'string') throw new TypeError('data keys are strings or numbers');
        self.assign(pathOf(t), key, d.value);
        return true;
      },
      deleteProperty(t, key) {
        if (typeof key === 'string') self.assign(pathOf(t), key, null);
        return true;
      },
      has(t, key) {
        return typeof key === 'string' && binding.get(pathOf(t), key) !== null;
      },
      ownKeys(t) {
        return binding.entries(pathOf(t)).map(([k]) => k);
      },
      getOwnPropertyDescriptor(t, key) {
        if (typeof key !== 'string') return undefined;
        const v = binding.get(pathOf(t), key);
        if (v === null) return undefined;
        return { value: self.stored(v), writable: true, enumerable: true, configurable: true };
      },
      getPrototypeOf() {
        return null;
      },
      setPrototypeOf() {
        return false;
      },
    };
  }

  /** proxy targets → paths (the handler sees targets) */
  private readonly targets = new WeakMap<object, readonly string[]>();

  /** A view of `path`. */
  view(path: readonly string[]): Record<string, unknown> {
    const target = Object.create(null) as Record<string, unknown>;
    this.targets.set(target, path);
    const proxy = new Proxy(target, this.handler);
    this.paths.set(proxy, path);
    opaque.add(proxy);
    return proxy;
  }

  private stored(v: DataValue | DataTableRef | null): unknown {
    if (v === null) return undefined;
    if (v instanceof DataTableRef) return this.view(v.path);
    if (typeof v === 'number') return String(v);
    return v;
  }

  private assign(path: readonly string[], key: string, value: unknown): void {
    try {
      this.binding.set(path, key, this.input(value, 0));
    } catch (e) {
      throw new TypeError(`data.${[...path, key].join('.')}: ${(e as Error).message}`);
    }
  }

  /** A JavaScript value as DataBinding takes it; throws for what cannot be stored. */
  private input(v: unknown, depth: number): DataInput {
    switch (typeof v) {
      case 'undefined':
        return null;
      case 'boolean':
      case 'string':
        return v;
      case 'number':
      case 'bigint':
        // stored as its string form, as JavaScript prints it
        return String(v);
      case 'object':
        break;
      default:
        throw new TypeError(`a ${typeof v} cannot be stored`);
    }
    if (v === null) return null;
    if (Buffer.isBuffer(v)) return v;
    if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    if (v instanceof Date) return v.toISOString();
    const view = this.paths.get(v);
    if (view) return new DataInputTable([], view);
    if (depth > MAX_DEPTH) throw new TypeError('table nested too deep');
    const entries: Array<[string, DataInput]> = [];
    const iterable = v instanceof Map ? v.entries() : Array.isArray(v) ? v.entries() : Object.entries(v);
    for (const [k, x] of iterable as Iterable<[unknown, unknown]>) {
      if (x === undefined || x === null) continue;
      entries.push([String(k), this.input(x, depth + 1)]);
    }
    return new DataInputTable(entries);
  }
}
