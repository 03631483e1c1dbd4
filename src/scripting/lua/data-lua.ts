/**
 * The Lua side of `data`: each view of the store (an app's `data`, `data.sub`) is an empty
 * proxy table whose own small metatable carries its path (`__path`, keys joined by "/", which no key
 * may contain) beside the shared metamethods. Keeping the path in the proxy's metatable rather than
 * in a side table lets the proxy be collected like any table on every engine. Reads, writes, `#`
 * and `pairs` go to the engine-neutral DataBinding; its rule violations become Lua errors in the
 * assigning line.
 */
import { DataTableRef, type DataValue } from '../data-store';
import { DataInputTable, type DataBinding, type DataInput } from '../runtime/data';
import { LuaType, type LuaJSFunction } from './api';
import type { LuaEngine } from './binding';
import { bytesOf } from './values';

const lenient = new TextDecoder('utf-8');
/** How deep an assigned table may nest (as DataBinding checks). */
const MAX_DEPTH = 64;

export class LuaData {
  /** registry references of the shared metamethods */
  private meta: Record<string, number> | null = null;

  constructor(
    private readonly engine: LuaEngine,
    private readonly binding: DataBinding,
  ) {}

  /** Pushes a view of `view` (a path in the store). */
  push(view: readonly string[]): void {
    const api = this.engine.api;
    api.checkstack(4);
    api.createtable(0, 0);
    api.createtable(0, 7);
    for (const [name, ref] of Object.entries(this.metamethods())) {
      api.pushref(ref);
      api.setfield(-2, name);
    }
    api.pushstring(view.join('/'));
    api.setfield(-2, '__path');
    // getmetatable(data) gives "data": scripts cannot take the view apart
    api.pushstring('data');
    api.setfield(-2, '__metatable');
    api.setmetatable(-2);
  }

  /** The path of the view at `idx`, or null when the value there is not a data view. */
  private viewAt(idx: number): readonly string[] | null {
    const api = this.engine.api;
    if (api.type(idx) !== LuaType.TABLE || !api.getmetatable(idx)) return null;
    api.getfield(-1, '__path');
    const p = api.type(-1) === LuaType.STRING ? lenient.decode(api.tolstring(-1) as Uint8Array) : null;
    api.settop(-3);
    if (p === null) return null;
    return p === '' ? [] : p.split('/');
  }

  /** A key as the store names it (numbers as Lua prints them), or null for keys data cannot have. */
  private keyAt(idx: number): string | null {
    const api = this.engine.api;
    switch (api.type(idx)) {
      case LuaType.STRING:
        return lenient.decode(api.tolstring(idx) as Uint8Array);
      case LuaType.NUMBER:
        return this.engine.numberText(api.tonumber(idx));
      case LuaType.BOOLEAN:
        return api.toboolean(idx) ? 'true' : 'false';
      default:
        return null;
    }
  }

  private pushStored(v: DataValue | DataTableRef | null): void {
    const api = this.engine.api;
    if (v instanceof DataTableRef) this.push(v.path);
    else if (v === null) api.pushnil();
    else if (typeof v === 'boolean') api.pushboolean(v);
    else if (typeof v === 'number') api.pushstring(this.engine.numberText(v));
    else api.pushstring(v);
  }

  /** The Lua value at `idx` as DataBinding takes it; throws for what cannot be stored. */
  private input(idx: number, depth: number): DataInput {
    const api = this.engine.api;
    const t = api.type(idx);
    switch (t) {
      case LuaType.NIL:
        return null;
      case LuaType.BOOLEAN:
        return api.toboolean(idx);
      case LuaType.NUMBER:
        // stored as its string form, as MonaServer stores what lua_tostring gives
        return this.engine.numberText(api.tonumber(idx));
      case LuaType.STRING:
        return bytesOf(api.tolstring(idx) as Uint8Array);
      case LuaType.TABLE: {
        const view = this.viewAt(idx);
        if (view) return new DataInputTable([], view);
        if (depth > MAX_DEPTH) throw new Error('data: table nested too deep');
        const abs = api.absindex(idx);
        const entries: Array<[string, DataInput]> = [];
        api.checkstack(4);
        api.pushnil();
        while (api.next(abs)) {
          // keyAt on a copy: converting a number key in place would break next()
          api.pushvalue(-2);
          const k = this.keyAt(-1);
          api.settop(-2);
          if (k !== null) entries.push([k, this.input(api.absindex(-1), depth + 1)]);
          api.settop(-2);
        }
        return new DataInputTable(entries);
      }
      default:
        throw new Error(`data: a ${api.typename(t)} cannot be stored`);
    }
  }

  private metamethods(): Record<string, number> {
    if (this.meta) return this.meta;
    const api = this.engine.api;
    const fns: Record<string, LuaJSFunction> = {
      __index: () => {
        const view = this.viewAt(1);
        const k = this.keyAt(2);
        if (!view || k === null) return 0;
        this.pushStored(this.binding.get(view, k));
        return 1;
      },
      __newindex: (a) => {
        const view = this.viewAt(1);
        if (!view) return 0;
        const k = this.keyAt(2);
        if (k === null) return a.errorMessage('data keys are strings or numbers');
        try {
          this.binding.set(view, k, this.input(3, 0));
        } catch (e) {
          return a.errorMessage((e as Error).message);
        }
        return 0;
      },
      __len: (a) => {
        const view = this.viewAt(1);
        a.pushnumber(view ? this.binding.count(view) : 0);
        return 1;
      },
      __pairs: (a) => {
        const view = this.viewAt(1) ?? [];
        this.engine.pushNext();
        const entries = this.binding.entries(view);
        a.createtable(0, entries.length);
        a.checkstack(4);
        for (const [k, v] of entries) {
          a.pushstring(k);
          this.pushStored(v);
          a.rawset(-3);
        }
        a.pushnil();
        return 3;
      },
      __tostring: (a) => {
        const view = this.viewAt(1) ?? [];
        a.pushstring(`data${view.length ? '.' + view.join('.') : ''}`);
        return 1;
      },
    };
    const refs: Record<string, number> = {};
    for (const [name, fn] of Object.entries(fns)) {
      api.pushfunction(fn);
      refs[name] = api.ref();
    }
    this.meta = refs;
    return refs;
  }
}
