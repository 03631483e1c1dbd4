/**
 * Wire Values ⇄ Lua values over any LuaAPI: a Table becomes a table with its array
 * part then its fields, byte strings cross unchanged both ways. A Lua string that is valid UTF-8
 * comes out as a JS string, any other as a Buffer; JS strings go in as UTF-8 and Buffers as their
 * bytes, so media packets and AMF blobs cross unchanged.
 *
 * Records (values.ts of the runtime: IPAddress, SocketAddress, File, XML elements) get their class's
 * shared metatable; a Date table (`__time`) gains MonaServer's date fields.
 */
import { DECODE_LIMITS, Table, type Key, type Value } from '../../serialization/value';
import { dateFields, dateTime, RecordTable, type RecordClass } from '../runtime/values';
import { LuaStatus, LuaType, type LuaAPI } from './api';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A Lua byte string as a Buffer view (Lua strings are immutable: no copy needed while it lives). */
export function bytesOf(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** A Lua string as a JS value: text if it is valid UTF-8, bytes otherwise (a copy: callers keep it). */
export function textOrBytes(u: Uint8Array): string | Buffer {
  try {
    return utf8.decode(u);
  } catch {
    return Buffer.from(u);
  }
}

/** Behaviours of record classes, as Lua metatables (see RecordClass). */
const RECORD_META: Record<RecordClass['behaviour'], string> = {
  // printed as their value, equal when their values are (two SocketAddress of the same host:port),
  // and concatenated as their value ("to " .. address), as MonaServer scripts use them
  printed: `
local rawget, tostring, getmetatable = rawget, tostring, getmetatable
local meta = {}
local function text(v)
  if getmetatable(v) == meta then return tostring(rawget(v, 'value')) end
  return v
end
meta.__tostring = function(t) return tostring(rawget(t, 'value')) end
meta.__eq = function(a, b) return rawget(a, 'value') == rawget(b, 'value') end
meta.__concat = function(a, b) return text(a) .. text(b) end
return meta`,
  // raw accesses only: a lookup through __index would recurse; # is raw here (no __len in this metatable)
  xml: `
local rawget, rawset, type = rawget, rawset, type
return {
  __index = function(t, k)
    if k == '__value' then return rawget(t, 1) end
    for i = 1, #t do
      local v = rawget(t, i)
      if type(v) == 'table' and rawget(v, '__name') == k then return v end
    end
  end,
  __newindex = function(t, k, v)
    if k == '__value' then rawset(t, 1, v) else rawset(t, k, v) end
  end,
}`,
};

/** The tables met more than once in a Value (shared or cyclic), and their Lua tables once pushed. */
interface Graph {
  readonly shared: ReadonlySet<Table>;
  readonly refs: Map<Table, number>;
}

/** Tables reachable more than once from `root` (keys included), or null when it is a tree. One visit per table. */
export function sharedTables(root: Table): Set<Table> | null {
  const seen = new Set<Table>([root]);
  let shared: Set<Table> | null = null;
  const stack: Table[] = [root];
  const visit = (v: Value | Key): void => {
    if (!(v instanceof Table)) return;
    if (seen.has(v)) (shared ??= new Set()).add(v);
    else {
      seen.add(v);
      stack.push(v);
    }
  };
  while (stack.length) {
    const t = stack.pop() as Table;
    for (const item of t.items) visit(item);
    for (const [k, x] of t.fields) {
      visit(k);
      visit(x);
    }
  }
  return shared;
}

export class LuaValues {
  private readonly recordMeta = new Map<RecordClass['behaviour'], number>();
  /** what an API object (a tagged table, by its tag) reads as: its class's asValue, else nil */
  objectValue: (tag: number) => Value = () => null;

  constructor(private readonly api: LuaAPI) {}

  /**
   * Pushes a Value. A Table met several times in it (AMF references: shared or cyclic tables)
   * becomes one Lua table met as many times, as MonaServer gives them; deeper than
   * DECODE_LIMITS.maxDepth, a table is pushed as nil.
   */
  pushValue(v: Value): void {
    if (!(v instanceof Table)) return this.push(v, 0, null);
    // a graph with shared tables, pushed as a tree, would grow exponentially (a table referencing
    // itself twice, 64 levels deep): those tables are pushed once and referenced afterwards
    const shared = sharedTables(v);
    if (shared === null) return this.push(v, 0, null);
    const refs = new Map<Table, number>();
    try {
      this.push(v, 0, { shared, refs });
    } finally {
      for (const ref of refs.values()) this.api.unref(ref);
    }
  }

  private push(v: Value, depth: number, graph: Graph | null): void {
    const api = this.api;
    if (v === null || v === undefined) api.pushnil();
    else if (typeof v === 'boolean') api.pushboolean(v);
    else if (typeof v === 'number') api.pushnumber(v);
    else if (typeof v === 'string' || Buffer.isBuffer(v)) api.pushstring(v);
    else if (v instanceof Table) this.pushTable(v, depth, graph);
    else api.pushnil();
  }

  private pushTable(v: Table, depth: number, graph: Graph | null): void {
    const api = this.api;
    const known = graph?.refs.get(v);
    if (known !== undefined) {
      api.checkstack(1);
      api.pushref(known);
      return;
    }
    if (depth >= DECODE_LIMITS.maxDepth || !api.checkstack(4)) {
      api.pushnil();
      return;
    }
    const time = dateTime(v);
    const extra = time === undefined ? null : dateFields(time);
    api.createtable(v.items.length, v.fields.size + (extra ? extra.length : 0));
    if (graph?.shared.has(v)) {
      // referenced before its content is pushed: a table inside itself finds it
      api.pushvalue(-1);
      graph.refs.set(v, api.ref());
    }
    for (let i = 0; i < v.items.length; i++) {
      const item = v.items[i];
      if (item === null) continue;
      this.push(item, depth + 1, graph);
      api.rawseti(-2, i + 1);
    }
    for (const [k, x] of v.fields) {
      if (x === null) continue;
      this.push(k as Value, depth + 1, graph);
      if (api.type(-1) === LuaType.NIL) {
        api.settop(-2);
        continue;
      }
      this.push(x, depth + 1, graph);
      api.rawset(-3);
    }
    if (extra) {
      for (const [name, value] of extra) {
        if (typeof value === 'boolean') api.pushboolean(value);
        else api.pushnumber(value);
        api.setfield(-2, name);
      }
    }
    if (v instanceof RecordTable) {
      api.pushref(this.recordMetaRef(v.recordClass));
      api.setmetatable(-2);
    }
  }

  private recordMetaRef(cls: RecordClass): number {
    let ref = this.recordMeta.get(cls.behaviour);
    if (ref === undefined) {
      const code = Buffer.from(RECORD_META[cls.behaviour], 'utf8');
      if (this.api.load(code, `=${cls.behaviour}`) !== LuaStatus.OK || this.api.pcall(0, 1) !== LuaStatus.OK) {
        throw new Error(`record metatable ${cls.behaviour}: ${this.api.tostring(-1)}`);
      }
      ref = this.api.ref();
      this.recordMeta.set(cls.behaviour, ref);
    }
    return ref;
  }

  /**
   * Reads slot `idx` as a Value. Functions and userdata read as null, API objects (tagged tables) as
   * their objectValue;
   * a table met again inside itself (a cycle) reads as null there, as does anything deeper than
   * DECODE_LIMITS.maxDepth.
   */
  toValue(idx: number, depth = 0, seen?: Map<unknown, Table>): Value {
    const api = this.api;
    switch (api.type(idx)) {
      case LuaType.BOOLEAN:
        return api.toboolean(idx);
      case LuaType.NUMBER:
        return api.tonumber(idx);
      case LuaType.STRING:
        return textOrBytes(api.tolstring(idx) as Uint8Array);
      case LuaType.TABLE:
        return this.toTable(idx, depth, seen);
      default:
        return null;
    }
  }

  private toTable(idx: number, depth: number, seen?: Map<unknown, Table>): Value {
    const api = this.api;
    const tag = api.gettag(idx);
    if (tag !== 0) return this.objectValue(tag);
    const ptr = api.topointer(idx);
    // a table met again (shared, or inside itself) is the same Table: encoders with references
    // (AMF) keep the graph, the others meet a cycle as too deep; a shared table is read once
    const known = seen?.get(ptr);
    if (known) return known;
    if (depth >= DECODE_LIMITS.maxDepth || !api.checkstack(4)) return null;
    seen ??= new Map();
    const abs = api.absindex(idx);
    const n = api.rawlen(abs);
    const items: Value[] = [];
    const t = new Table(items);
    seen.set(ptr, t);
    for (let i = 1; i <= n; i++) {
      api.rawgeti(abs, i);
      items.push(this.toValue(-1, depth + 1, seen));
      api.settop(-2);
    }
    api.pushnil();
    while (api.next(abs)) {
      const kt = api.type(-2);
      if (kt === LuaType.NUMBER) {
        const k = api.tonumber(-2);
        if (!(Number.isInteger(k) && k >= 1 && k <= n)) t.fields.set(k, this.toValue(-1, depth + 1, seen));
      } else if (kt === LuaType.STRING) {
        // a copy of the key's bytes: tolstring on a key is safe (it is a string, nothing converts)
        const k = textOrBytes(api.tolstring(-2) as Uint8Array);
        t.fields.set(typeof k === 'string' ? k : k.toString('latin1'), this.toValue(-1, depth + 1, seen));
      } else if (kt === LuaType.BOOLEAN || kt === LuaType.TABLE) {
        const k = this.toValue(-2, depth + 1, seen);
        if (k !== null) t.fields.set(k as Key, this.toValue(-1, depth + 1, seen));
      }
      api.settop(-2);
    }
    return t;
  }

  /** The values at stack slots first..last as Values. */
  slice(first: number, last: number): Value[] {
    const out: Value[] = [];
    for (let i = first; i <= last; i++) out.push(this.toValue(i));
    return out;
  }

  /** Pops `n` values from the top as Values (bottom first). */
  popValues(n: number): Value[] {
    const top = this.api.gettop();
    const out = this.slice(top - n + 1, top);
    this.api.settop(top - n);
    return out;
  }
}
