/**
 * The Lua `data` global (SPEC S11) bound to DataStore: every app's `data` is a proxy table for its
 * place in the one server-wide tree (root app: the top, app /live: ["live"]), so `super.data` and
 * `data.childApp` reach the parent's and children's stores. Reads come typed from the store,
 * assignments write through (a table is copied key by key into a sub-table, nil deletes), `pairs`
 * and `#` answer from the store. Rule violations (replacing a table by a value...) raise Lua errors
 * in the assigning script.
 */
import type { LuaHost } from './lua-host';
import { DataStore, DataTableRef, type DataValue } from './data-store';
import { lua } from './lua/fengari';
import { formatLuaNumber } from './lua/number-format';
import { bytesOf, luaName, type LuaState } from './lua/vm';

export class DataBinding {
  readonly store: DataStore;
  private metaRef = -1;
  /** Lua proxy table → its path in the store */
  private readonly pathOf = new WeakMap<object, readonly string[]>();

  constructor(private readonly host: LuaHost) {
    this.store = new DataStore(host.ctx.dataDir, host.ctx.logger);
  }

  load(): void {
    try {
      this.store.load();
    } catch (e) {
      this.host.ctx.logger.error('DataStore', `data not loaded: ${(e as Error).message}`);
    }
  }

  flush(): Promise<void> {
    return this.store.flush();
  }

  /** Pushes the `data` proxy of an app ("" root, "/live"...). */
  push(appPath: string): void {
    this.pushProxy(appPath.split('/').filter((s) => s !== ''));
  }

  private pushProxy(p: readonly string[]): void {
    const vm = this.host.vm;
    const L = vm.L;
    lua.lua_createtable(L, 0, 0);
    vm.pushRef(this.meta());
    lua.lua_setmetatable(L, -2);
    this.pathOf.set(lua.lua_topointer(L, -1), p);
  }

  /** A key as the store names it: strings as is, numbers as Lua prints them (MonaServer's text keys). */
  private keyAt(L: LuaState, idx: number): string | null {
    const t = lua.lua_type(L, idx);
    if (t === lua.LUA_TSTRING) return bytesOf(lua.lua_tolstring(L, idx)).toString('utf8');
    if (t === lua.LUA_TNUMBER) return formatLuaNumber(lua.lua_tonumber(L, idx));
    if (t === lua.LUA_TBOOLEAN) return lua.lua_toboolean(L, idx) ? 'true' : 'false';
    return null;
  }

  private pushStored(v: DataValue | DataTableRef | null): void {
    const vm = this.host.vm;
    if (v instanceof DataTableRef) this.pushProxy(v.path);
    else if (v === null) lua.lua_pushnil(vm.L);
    else if (typeof v === 'number') lua.lua_pushnumber(vm.L, v);
    else if (typeof v === 'boolean') lua.lua_pushboolean(vm.L, v);
    else if (typeof v === 'string') vm.pushString(v);
    else vm.pushBytes(v);
  }

  /** Creates the missing tables down to `p` (an app's own place appears on its first write). */
  private ensureTable(p: readonly string[]): void {
    for (let i = 1; i <= p.length; i++) {
      const sub = p.slice(0, i);
      if (this.store.kind(sub) !== 'table') this.store.setTable(sub);
    }
  }

  /** Writes the Lua value at `idx` to `p` (tables recursively). */
  private assign(p: readonly string[], idx: number, depth: number): void {
    const vm = this.host.vm;
    const L = vm.L;
    const t = lua.lua_type(L, idx);
    if (t === lua.LUA_TNIL) this.store.delete(p);
    else if (t === lua.LUA_TBOOLEAN) this.store.set(p, lua.lua_toboolean(L, idx));
    else if (t === lua.LUA_TNUMBER) this.store.set(p, lua.lua_tonumber(L, idx));
    else if (t === lua.LUA_TSTRING) {
      const b = bytesOf(lua.lua_tolstring(L, idx));
      this.store.set(p, Buffer.from(b));
    } else if (t === lua.LUA_TTABLE) {
      if (depth > 64) throw new Error('data: table nested too deep');
      const source = this.pathOf.get(lua.lua_topointer(L, idx));
      if (source && source.join('/') === p.join('/')) return; // data.x = data.x
      if (this.store.kind(p) === 'table') this.store.delete(p);
      this.store.setTable(p);
      const abs = lua.lua_absindex(L, idx);
      lua.lua_pushnil(L);
      while (lua.lua_next(L, abs) !== 0) {
        const k = this.keyAt(L, -2);
        if (k !== null) this.assign([...p, k], lua.lua_absindex(L, -1), depth + 1);
        lua.lua_pop(L, 1);
      }
    } else throw new Error(`data: a ${lua.lua_typename(L, t) ? bytesOf(lua.lua_typename(L, t)).toString() : 'value'} cannot be stored`);
  }

  private meta(): number {
    if (this.metaRef >= 0) return this.metaRef;
    const vm = this.host.vm;
    const L = vm.L;
    const self = (L2: LuaState): readonly string[] | undefined => this.pathOf.get(lua.lua_topointer(L2, 1));
    lua.lua_createtable(L, 0, 4);
    vm.pushFunction((L2) => {
      const p = self(L2);
      const k = this.keyAt(L2, 2);
      if (!p || k === null) return 0;
      this.pushStored(this.store.get([...p, k]));
      return 1;
    });
    lua.lua_setfield(L, -2, luaName('__index'));
    vm.pushFunction((L2) => {
      const p = self(L2);
      const k = this.keyAt(L2, 2);
      if (!p) return 0;
      if (k === null) return vm.error('data keys are strings or numbers');
      try {
        if (lua.lua_type(L2, 3) !== lua.LUA_TNIL) this.ensureTable(p);
        else if (this.store.kind(p) !== 'table') return 0;
        this.assign([...p, k], 3, 0);
      } catch (e) {
        return vm.error((e as Error).message);
      }
      return 0;
    });
    lua.lua_setfield(L, -2, luaName('__newindex'));
    vm.pushFunction((L2) => {
      const p = self(L2);
      lua.lua_pushnumber(L2, p ? this.store.count(p) : 0);
      return 1;
    });
    lua.lua_setfield(L, -2, luaName('__len'));
    vm.pushFunction((L2) => {
      const p = self(L2) ?? [];
      return vm.pushPairs(() => {
        const keys = this.store.keys(p);
        lua.lua_createtable(L2, 0, keys.length);
        for (const k of keys) {
          vm.pushString(k);
          this.pushStored(this.store.get([...p, k]));
          lua.lua_rawset(L2, -3);
        }
      });
    });
    lua.lua_setfield(L, -2, luaName('__pairs'));
    vm.pushFunction((L2) => {
      const p = self(L2) ?? [];
      vm.pushString(`data${p.length ? '.' + p.join('.') : ''}`);
      return 1;
    });
    lua.lua_setfield(L, -2, luaName('__tostring'));
    this.metaRef = vm.ref();
    return this.metaRef;
  }
}
