/**
 * One Lua state and the bridge to it: Values in and out (SPEC S4 mapping, byte strings both ways),
 * protected calls that never throw into the server, and JS objects exposed as Lua objects.
 *
 * Lua strings are bytes. A Lua string that is valid UTF-8 comes out as a JS string, any other as a
 * Buffer; JS strings go in as UTF-8 and Buffers as their bytes, so media packets and AMF blobs
 * cross unchanged.
 */
/* eslint-disable @typescript-eslint/no-explicit-any */
import { DECODE_LIMITS, Table, type Key, type Value } from '../../serialization/value';
import { lauxlib, lua, lualib, toLuaString } from './fengari';

export type LuaState = any;
/** A JS function callable from Lua: reads its arguments from the stack, pushes results, returns their count. */
export type LuaFunction = (L: LuaState) => number;

// fengari internals for pushSharedBytes (a Lua string over existing bytes)
const { luaS_bless } = require('fengari/src/lstring.js');
const { pushsvalue2s } = require('fengari/src/lobject.js');
const EMPTY = new Uint8Array(0);

const utf8 = new TextDecoder('utf-8', { fatal: true });
const names = new Map<string, Uint8Array>();

/** Interned Lua names (field names are pushed on every event: encode them once). */
export function luaName(s: string): Uint8Array {
  let n = names.get(s);
  if (n === undefined) {
    n = toLuaString(s);
    names.set(s, n);
  }
  return n;
}

/** A Lua byte string as a Buffer view (Lua strings are immutable: no copy needed). */
export function bytesOf(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** A Lua string as a JS value: text if it is valid UTF-8, bytes otherwise. */
export function textOrBytes(u: Uint8Array): string | Buffer {
  try {
    return utf8.decode(u);
  } catch {
    return Buffer.from(u); // a copy: the caller may keep it beyond the Lua string's life
  }
}

/**
 * A class of JS objects seen from Lua as tables with a shared metatable: `get` answers reads of
 * unknown keys (properties, methods), writes go to the table itself (scripts add fields and
 * functions, e.g. `function client:test()`).
 */
export interface LuaClass<T extends object> {
  name: string;
  /** pushes the value of `key` for `obj` and returns true, or returns false (→ fallback/nil) */
  get(vm: LuaVM, obj: T, key: string): boolean;
  /** handles `obj.key = value` (value at stack index 3) and returns true, or false (→ rawset on the table) */
  set?(vm: LuaVM, obj: T, key: string): boolean;
  /** methods by name: `self` is resolved to the JS object before the call */
  methods?: Record<string, (vm: LuaVM, obj: T, L: LuaState) => number>;
  /** metamethods other than __index (e.g. __call, __len, __pairs), receiving the object first */
  meta?: Record<string, (vm: LuaVM, obj: T, L: LuaState) => number>;
  /** the one object of a singleton class (mona): its methods also work called with '.' */
  singleton?: T;
  /** text for tostring() */
  describe?(obj: T): string;
}

interface ClassEntry {
  metaRef: number;
}

export class LuaVM {
  readonly L: LuaState;
  /** Lua table (fengari Table object) → JS object it mirrors */
  private readonly objectOf = new WeakMap<object, object>();
  /** JS object → registry reference of its Lua table, while it is alive in Lua */
  private readonly refOf = new Map<object, number>();
  private readonly classes = new Map<LuaClass<any>, ClassEntry>();
  private nextRef = -1;
  /** set by the host: where errors thrown by JS functions are reported */
  onNativeError: (e: unknown) => void = () => {};
  /**
   * How long one call from the server into Lua may run (ms) before it is interrupted with a Lua
   * error: a script stuck in a loop must not freeze every client (0 = no limit).
   */
  callLimitMs = 10_000;
  private callDepth = 0;
  private callStart = 0;

  constructor() {
    this.L = lauxlib.luaL_newstate();
    lualib.luaL_openlibs(this.L);
    // a JS exception inside a function called from Lua becomes a Lua error with its message
    lua.lua_atnativeerror(this.L, (L: LuaState) => {
      const e = lua.lua_touserdata(L, -1);
      this.onNativeError(e);
      lua.lua_pushstring(L, toLuaString(e instanceof Error ? e.message : String(e)));
      return 1;
    });
    // every 100k instructions: is the current call over its time limit?
    lua.lua_sethook(
      this.L,
      (L: LuaState) => {
        if (this.callDepth > 0 && this.callLimitMs > 0 && Date.now() - this.callStart > this.callLimitMs) {
          // the interrupted function is at level 0 while a hook runs: name its line ourselves
          const at = this.where(0) || this.where(1);
          lua.lua_pushstring(L, toLuaString(`${at ? at + ': ' : ''}script interrupted: still running after ${this.callLimitMs} ms`));
          lua.lua_error(L);
        }
      },
      lua.LUA_MASKCOUNT,
      100_000,
    );
  }

  // ---- stack helpers ----

  top(): number {
    return lua.lua_gettop(this.L);
  }

  setTop(n: number): void {
    lua.lua_settop(this.L, n);
  }

  pop(n = 1): void {
    lua.lua_pop(this.L, n);
  }

  pushString(s: string): void {
    lua.lua_pushstring(this.L, toLuaString(s));
  }

  pushBytes(b: Uint8Array): void {
    lua.lua_pushlstring(this.L, b, b.length);
  }

  /** Pushes an interned name (event and method names: encoded once). */
  pushName(s: string): void {
    lua.lua_pushstring(this.L, luaName(s));
  }

  /**
   * Pushes bytes as a Lua string WITHOUT copying them: only for buffers nobody writes to
   * afterwards (media frame payloads, which are shared read-only by every listener anyway).
   */
  pushSharedBytes(b: Buffer): void {
    if (b.length === 0) lua.lua_pushstring(this.L, EMPTY);
    else pushsvalue2s(this.L, luaS_bless(this.L, new Uint8Array(b.buffer, b.byteOffset, b.length)));
  }

  pushFunction(fn: LuaFunction): void {
    lua.lua_pushcfunction(this.L, fn);
  }

  /** Reads argument/stack slot `idx` as text (numbers converted), or null if it is not a string or number. */
  toText(idx: number): string | null {
    const t = lua.lua_type(this.L, idx);
    if (t !== lua.LUA_TSTRING && t !== lua.LUA_TNUMBER) return null;
    const u = lua.lua_tolstring(this.L, idx);
    return Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString('utf8');
  }

  /** Reads slot `idx` as bytes (strings; numbers as their text), or null. */
  toBytes(idx: number): Buffer | null {
    const t = lua.lua_type(this.L, idx);
    if (t !== lua.LUA_TSTRING && t !== lua.LUA_TNUMBER) return null;
    return bytesOf(lua.lua_tolstring(this.L, idx));
  }

  /** Raises a Lua "bad argument" error (does not return in Lua terms; returns for TS). */
  argError(arg: number, message: string): number {
    return lauxlib.luaL_argerror(this.L, arg, toLuaString(message));
  }

  /** Raises a Lua error with position information of the calling script. */
  error(message: string): number {
    return lauxlib.luaL_error(this.L, toLuaString('%s'), toLuaString(message));
  }

  // ---- registry references ----

  /** Pops the top value into the registry and returns its reference. */
  ref(): number {
    return lauxlib.luaL_ref(this.L, lua.LUA_REGISTRYINDEX);
  }

  pushRef(ref: number): void {
    lua.lua_rawgeti(this.L, lua.LUA_REGISTRYINDEX, ref);
  }

  unref(ref: number): void {
    lauxlib.luaL_unref(this.L, lua.LUA_REGISTRYINDEX, ref);
  }

  // ---- values ----

  /** Pushes a script Value (SPEC S4: Table → table with array part then fields). */
  pushValue(v: Value, depth = 0): void {
    const L = this.L;
    if (v === null || v === undefined) lua.lua_pushnil(L);
    else if (typeof v === 'boolean') lua.lua_pushboolean(L, v);
    else if (typeof v === 'number') lua.lua_pushnumber(L, v);
    else if (typeof v === 'string') lua.lua_pushstring(L, toLuaString(v));
    else if (Buffer.isBuffer(v)) lua.lua_pushlstring(L, v, v.length);
    else if (v instanceof Table) {
      if (depth >= DECODE_LIMITS.maxDepth) {
        lua.lua_pushnil(L);
        return;
      }
      lua.lua_createtable(L, v.items.length, v.fields.size);
      for (let i = 0; i < v.items.length; i++) {
        const item = v.items[i];
        if (item === null) continue;
        this.pushValue(item, depth + 1);
        lua.lua_rawseti(L, -2, i + 1);
      }
      for (const [k, x] of v.fields) {
        if (x === null) continue;
        this.pushValue(k as Value, depth + 1);
        if (lua.lua_isnil(L, -1)) {
          lua.lua_pop(L, 1);
          continue;
        }
        this.pushValue(x, depth + 1);
        lua.lua_rawset(L, -3);
      }
    } else lua.lua_pushnil(L);
  }

  /**
   * Reads slot `idx` as a Value. Functions, userdata and JS-mirrored objects read as null; a
   * table met again inside itself (a cycle) reads as null there, as does anything deeper than
   * DECODE_LIMITS.maxDepth.
   */
  toValue(idx: number, depth = 0, seen?: Set<unknown>): Value {
    const L = this.L;
    switch (lua.lua_type(L, idx)) {
      case lua.LUA_TBOOLEAN:
        return lua.lua_toboolean(L, idx);
      case lua.LUA_TNUMBER:
        return lua.lua_tonumber(L, idx);
      case lua.LUA_TSTRING:
        return textOrBytes(lua.lua_tolstring(L, idx));
      case lua.LUA_TTABLE:
        return this.toTable(idx, depth, seen);
      default:
        return null;
    }
  }

  private toTable(idx: number, depth: number, seen?: Set<unknown>): Value {
    const L = this.L;
    const ptr = lua.lua_topointer(L, idx);
    if (this.objectOf.has(ptr) || depth >= DECODE_LIMITS.maxDepth) return null;
    seen ??= new Set();
    if (seen.has(ptr)) return null;
    seen.add(ptr);
    const abs = lua.lua_absindex(L, idx);
    const n = lua.lua_rawlen(L, abs);
    const items: Value[] = [];
    for (let i = 1; i <= n; i++) {
      lua.lua_rawgeti(L, abs, i);
      items.push(this.toValue(-1, depth + 1, seen));
      lua.lua_pop(L, 1);
    }
    const t = new Table(items);
    lua.lua_pushnil(L);
    while (lua.lua_next(L, abs) !== 0) {
      const kt = lua.lua_type(L, -2);
      if (kt === lua.LUA_TNUMBER) {
        const k = lua.lua_tonumber(L, -2);
        if (!(Number.isInteger(k) && k >= 1 && k <= n)) t.fields.set(k, this.toValue(-1, depth + 1, seen));
      } else if (kt === lua.LUA_TSTRING) {
        const k = textOrBytes(lua.lua_tolstring(L, -2));
        t.fields.set(typeof k === 'string' ? k : k.toString('latin1'), this.toValue(-1, depth + 1, seen));
      } else if (kt === lua.LUA_TBOOLEAN || kt === lua.LUA_TTABLE) {
        const k = this.toValue(-2, depth + 1, seen);
        if (k !== null) t.fields.set(k as Key, this.toValue(-1, depth + 1, seen));
      }
      lua.lua_pop(L, 1);
    }
    seen.delete(ptr);
    return t;
  }

  /** Pops `n` values from the top as Values (bottom first). */
  popValues(n: number): Value[] {
    const out: Value[] = [];
    const base = this.top() - n;
    for (let i = 1; i <= n; i++) out.push(this.toValue(base + i));
    this.setTop(base);
    return out;
  }

  // ---- calls ----

  /**
   * Protected call of the function under `nargs` arguments on the stack. On success leaves the
   * results (all of them) on the stack and returns their count; on failure pops everything and
   * throws a LuaError with Lua's message ("file:line: text").
   */
  call(nargs: number, base = this.top() - nargs - 1): number {
    if (this.callDepth++ === 0) this.callStart = Date.now();
    let status: number;
    try {
      status = lua.lua_pcall(this.L, nargs, lua.LUA_MULTRET, 0);
    } finally {
      this.callDepth--;
    }
    if (status !== lua.LUA_OK) {
      const message = this.errorText(-1);
      this.setTop(base);
      throw new LuaError(message);
    }
    return this.top() - base;
  }

  /** The text of an error value: strings as is, tables/others through tostring. */
  errorText(idx: number): string {
    const L = this.L;
    if (lua.lua_type(L, idx) === lua.LUA_TSTRING) return bytesOf(lua.lua_tolstring(L, idx)).toString('utf8');
    if (lua.lua_isnil(L, idx)) return 'nil';
    const s = lauxlib.luaL_tolstring(L, idx);
    lua.lua_pop(L, 1);
    return bytesOf(s).toString('utf8');
  }

  /** Loads a chunk; pushes the function. Throws LuaError on a syntax error. */
  load(code: Uint8Array, chunkName: string): void {
    const status = lauxlib.luaL_loadbufferx(this.L, code, code.length, toLuaString(chunkName), null);
    if (status !== lua.LUA_OK) {
      const message = this.errorText(-1);
      this.pop();
      throw new LuaError(message);
    }
  }

  /** Runs Lua source at load time (library code of ours): errors are bugs, thrown as is. */
  run(code: string, name: string, nargs = 0): number {
    const base = this.top() - nargs;
    this.load(toLuaString(code), name);
    if (nargs) lua.lua_rotate(this.L, base + 1, 1);
    return this.call(nargs, base);
  }

  /** "file:line" of the Lua function `level` levels up the call stack, or "" */
  where(level = 1): string {
    const ar = new lua.lua_Debug();
    if (!lua.lua_getstack(this.L, level, ar)) return '';
    lua.lua_getinfo(this.L, toLuaString('Sl'), ar);
    if (ar.currentline <= 0) return '';
    return `${bytesOf(ar.short_src).toString('utf8')}:${ar.currentline}`;
  }

  /**
   * For a __pairs metamethod: `fill` builds a snapshot table on the top of the stack; pushes
   * next, that table, nil (3 values to return).
   */
  pushPairs(fill: () => void): number {
    const L = this.L;
    if (this.nextRef < 0) {
      lua.lua_getglobal(L, luaName('next'));
      this.nextRef = this.ref();
    }
    this.pushRef(this.nextRef);
    fill();
    lua.lua_pushnil(L);
    return 3;
  }

  // ---- objects ----

  /** Pushes the Lua table mirroring `obj` (made on first use, the same one afterwards). */
  pushObject<T extends object>(cls: LuaClass<T>, obj: T): void {
    const ref = this.refOf.get(obj);
    if (ref !== undefined) {
      this.pushRef(ref);
      return;
    }
    const L = this.L;
    lua.lua_createtable(L, 0, 0);
    this.pushRef(this.classEntry(cls).metaRef);
    lua.lua_setmetatable(L, -2);
    this.objectOf.set(lua.lua_topointer(L, -1), obj);
    lua.lua_pushvalue(L, -1);
    this.refOf.set(obj, this.ref());
  }

  /** The JS object behind slot `idx`, if it mirrors one. */
  objectAt(idx: number): object | undefined {
    if (lua.lua_type(this.L, idx) !== lua.LUA_TTABLE) return undefined;
    return this.objectOf.get(lua.lua_topointer(this.L, idx));
  }

  /** Drops the link JS object → Lua table (the table lives on while scripts hold it). */
  release(obj: object): void {
    const ref = this.refOf.get(obj);
    if (ref === undefined) return;
    this.refOf.delete(obj);
    this.unref(ref);
  }

  hasObject(obj: object): boolean {
    return this.refOf.has(obj);
  }

  private classEntry<T extends object>(cls: LuaClass<T>): ClassEntry {
    let entry = this.classes.get(cls);
    if (entry) return entry;
    const L = this.L;
    lua.lua_createtable(L, 0, 4);
    const methods = new Map<string, number>();
    for (const [name, fn] of Object.entries(cls.methods ?? {})) {
      lua.lua_pushcfunction(L, (L2: LuaState) => {
        let obj = this.objectAt(1) as T | undefined;
        if (!obj && cls.singleton) {
          // `mona.time()` as well as `mona:time()`: a missing self is inserted
          obj = cls.singleton;
          lua.lua_pushnil(L2);
          lua.lua_insert(L2, 1);
        }
        if (!obj) return lauxlib.luaL_error(L2, toLuaString(`${cls.name}.${name}: call it with ':' on a ${cls.name}`));
        return fn(this, obj, L2);
      });
      methods.set(name, this.ref());
    }
    lua.lua_pushcfunction(L, (L2: LuaState) => {
      const obj = this.objectAt(1) as T | undefined;
      if (!obj || lua.lua_type(L2, 2) !== lua.LUA_TSTRING) {
        lua.lua_pushnil(L2);
        return 1;
      }
      const key = bytesOf(lua.lua_tolstring(L2, 2)).toString('utf8');
      const m = methods.get(key);
      if (m !== undefined) {
        this.pushRef(m);
        return 1;
      }
      if (!cls.get(this, obj, key)) lua.lua_pushnil(L2);
      return 1;
    });
    lua.lua_setfield(L, -2, luaName('__index'));
    if (cls.set) {
      const set = cls.set;
      lua.lua_pushcfunction(L, (L2: LuaState) => {
        const obj = this.objectAt(1) as T | undefined;
        if (!obj || lua.lua_type(L2, 2) !== lua.LUA_TSTRING || !set(this, obj, bytesOf(lua.lua_tolstring(L2, 2)).toString('utf8'))) {
          lua.lua_settop(L2, 3);
          lua.lua_rawset(L2, 1);
        }
        return 0;
      });
      lua.lua_setfield(L, -2, luaName('__newindex'));
    }
    for (const [name, fn] of Object.entries(cls.meta ?? {})) {
      lua.lua_pushcfunction(L, (L2: LuaState) => {
        const obj = this.objectAt(1) as T | undefined;
        if (!obj) return 0;
        return fn(this, obj, L2);
      });
      lua.lua_setfield(L, -2, luaName(name));
    }
    if (!cls.meta?.__tostring) {
      lua.lua_pushcfunction(L, (L2: LuaState) => {
        const obj = this.objectAt(1) as T | undefined;
        lua.lua_pushstring(L2, toLuaString(obj && cls.describe ? cls.describe(obj) : cls.name));
        return 1;
      });
      lua.lua_setfield(L, -2, luaName('__tostring'));
    }
    entry = { metaRef: this.ref() };
    this.classes.set(cls, entry);
    return entry;
  }

  close(): void {
    lua.lua_close(this.L);
  }
}

/** A Lua error surfaced to JS: the message carries Lua's "file:line:" prefix when it has one. */
export class LuaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LuaError';
  }
}
