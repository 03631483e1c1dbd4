/**
 * LuaAPI on fengari (Lua 5.3 in JavaScript): the fallback engine where the LuaJIT addon cannot be
 * loaded. Everything fengari-specific lives here and in fengari.ts (the module patches towards
 * LuaJIT's number printing, doubles-only arithmetic, `pairs` order and `#` of table.pack):
 *  - strings shared without a copy (`pushsharedstring`: a Lua string over the caller's bytes);
 *  - JS exceptions in pushed functions becoming Lua errors (lua_atnativeerror);
 *  - the call budget, checked by a count hook every 100,000 instructions;
 *  - what LuaJIT has natively and fengari lacks: the `bit` library, collectgarbage's options (fengari
 *    has no collector of its own: "count" reports the JS heap, the others keep LuaJIT's answers),
 *    a table.pack whose `#` is LuaJIT's, and io's files (io.open, io.lines: fengari-io.ts).
 * Not available on fengari: `memoryLimit` (a JS VM gives no allocator hook; the JS heap limit
 * applies), and `memoryUsed()` is the process's JS heap, not the state's own.
 */
/* eslint-disable @typescript-eslint/no-explicit-any */
import { lauxlib, lua, lualib, setLengthHint, toLuaString } from './fengari';
import { LuaStatus, LuaType, type LuaAPI, type LuaJSFunction, type LuaText } from './api';
import { openFiles } from './fengari-io';

// fengari internals for pushsharedstring (a Lua string over existing bytes)
const { luaS_bless } = require('fengari/src/lstring.js');
const { pushsvalue2s } = require('fengari/src/lobject.js');
const EMPTY = new Uint8Array(0);
const version: string = require('fengari/package.json').version;

/** Lua-level fixes of fengari towards LuaJIT, run when the state opens. */
const FENGARI_LUA = `
-- LuaJIT has only doubles: "%d" of a whole number beyond 32 bits must work (fengari's integers are 32-bit)
do
  local format, floor = string.format, math.floor
  string.format = function(f, ...)
    local ok, r = pcall(format, f, ...)
    if ok then return r end
    if type(r) ~= 'string' or not r:find('integer representation', 1, true) then error(r, 2) end
    local args, n, i = { ... }, select('#', ...), 0
    local f2 = f:gsub('%%([-+ #0]*%d*%.?%d*)(%a?)', function(flags, conv)
      if conv == '' then return nil end
      i = i + 1
      local v = args[i]
      if (conv == 'd' or conv == 'i') and type(v) == 'number' and v == floor(v) then
        return '%' .. flags:gsub('%.%d*', '') .. '.0f'
      end
    end)
    return format(f2, table.unpack(args, 1, n))
  end
end
`;

/** Instructions between two looks at the call budget. */
const HOOK_COUNT = 100_000;
/** Slots of the main thread's stack at start (fengari's own start is 40; see repackStack). */
const INITIAL_STACK = 1024;
/** fengari's lstate.EXTRA_STACK: slots kept above stack_last */
const EXTRA_STACK: number = require('fengari/src/lstate.js').EXTRA_STACK;

const names = new Map<string, Uint8Array>();
/** Text as fengari takes it; short names (fields, globals) are encoded once. */
function luaText(s: LuaText): Uint8Array {
  if (typeof s !== 'string') return s;
  if (s.length > 64) return Buffer.from(s, 'utf8');
  let n = names.get(s);
  if (n === undefined) {
    n = toLuaString(s);
    // bounded: when full it starts again (names in use come back at once)
    if (names.size >= 4096) names.clear();
    names.set(s, n);
  }
  return n;
}

const utf8 = new TextDecoder('utf-8');

export class FengariAPI implements LuaAPI {
  readonly engine = 'fengari';
  readonly version = `fengari ${version} (Lua 5.3)`;
  callBudgetMs = 10_000;
  memoryLimit = 0;
  onNativeError: (e: unknown) => void = () => {};
  /** the running thread: the main state, or the coroutine a pushed function was called from */
  private L: any;
  private readonly main: any;
  private depth = 0;
  private callStart = 0;
  /** the interruption being raised: once a call is past its budget, every instruction raises it
   * again until the outermost pcall returns, so a pcall inside the script cannot swallow it */
  private interrupted: Uint8Array | null = null;
  private readonly hook = (L2: any): void => {
    if (this.interrupted === null) {
      if (!(this.depth > 0 && this.callBudgetMs > 0 && Date.now() - this.callStart > this.callBudgetMs)) return;
      // the interrupted function is at level 0 while a hook runs: name its line ourselves
      const caller = this.L;
      this.L = L2;
      const at = this.where(0) || this.where(1);
      this.L = caller;
      this.interrupted = toLuaString(`${at ? at + ': ' : ''}script interrupted: still running after ${this.callBudgetMs} ms`);
      lua.lua_sethook(L2, this.hook, lua.LUA_MASKCOUNT, 1);
    }
    lua.lua_pushstring(L2, this.interrupted);
    lua.lua_error(L2);
  };
  private readonly tags = new WeakMap<object, number>();

  constructor() {
    const L = (this.L = this.main = lauxlib.luaL_newstate());
    lualib.luaL_openlibs(L);
    // a JS exception inside a function called from Lua becomes a Lua error with its message
    lua.lua_atnativeerror(L, (L2: any) => {
      const e = lua.lua_touserdata(L2, -1);
      this.onNativeError(e);
      lua.lua_pushstring(L2, toLuaString(e instanceof Error ? e.message : String(e)));
      return 1;
    });
    lua.lua_sethook(L, this.hook, lua.LUA_MASKCOUNT, HOOK_COUNT);
    this.openLuaJITLibraries();
    this.repackStack(INITIAL_STACK);
  }

  /**
   * fengari grows a thread's stack by setting its array's `length`; V8 then reads that array at
   * about half speed for the rest of the state's life (every call, every push: measured 1.1 µs
   * against 0.55 µs per call into Lua once a 50-register function had run). A stack array copied
   * whole (`Array.from`) reads at full speed again. So the main thread starts with INITIAL_STACK
   * slots, and a stack that grew during a call (a deep recursion, thousands of arguments) is copied
   * once the outermost call returns, when no frame of this thread is running.
   */
  private repackStack(size = this.main.stack.length): void {
    const L = this.main;
    const stack: unknown[] = Array.from(L.stack as unknown[]);
    while (stack.length < size) stack.push(undefined);
    L.stack = stack;
    L.stack_last = stack.length - EXTRA_STACK;
    this.stackSize = stack.length;
  }

  /** the main thread's stack size when it was last repacked */
  private stackSize = 0;

  memoryUsed(): number {
    return process.memoryUsage().heapUsed;
  }

  // ---- stack ----
  gettop(): number {
    return lua.lua_gettop(this.L);
  }
  settop(index: number): void {
    lua.lua_settop(this.L, index);
  }
  pushvalue(index: number): void {
    lua.lua_pushvalue(this.L, index);
  }
  remove(index: number): void {
    lua.lua_remove(this.L, index);
  }
  insert(index: number): void {
    lua.lua_insert(this.L, index);
  }
  absindex(index: number): number {
    return lua.lua_absindex(this.L, index);
  }
  checkstack(n: number): boolean {
    return !!lua.lua_checkstack(this.L, n);
  }
  type(index: number): number {
    return lua.lua_type(this.L, index);
  }
  typename(type: number): string {
    return utf8.decode(lua.lua_typename(this.L, type));
  }

  // ---- push ----
  pushnil(): void {
    lua.lua_pushnil(this.L);
  }
  pushnumber(n: number): void {
    lua.lua_pushnumber(this.L, n);
  }
  pushboolean(b: boolean): void {
    lua.lua_pushboolean(this.L, b);
  }
  pushstring(s: LuaText): void {
    if (typeof s !== 'string') lua.lua_pushlstring(this.L, s, s.length);
    else if (s.length === 0) lua.lua_pushstring(this.L, EMPTY);
    else if (s.length <= 64) {
      // encoded once and shared: Lua strings are never modified, so no copy is needed
      pushsvalue2s(this.L, luaS_bless(this.L, luaText(s)));
    } else lua.lua_pushstring(this.L, luaText(s));
  }
  pushsharedstring(bytes: Uint8Array): void {
    if (bytes.length === 0) lua.lua_pushstring(this.L, EMPTY);
    else pushsvalue2s(this.L, luaS_bless(this.L, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length)));
  }
  pushfunction(fn: LuaJSFunction): void {
    lua.lua_pushcfunction(this.L, (L2: any) => {
      if (L2 === this.L) return fn(this);
      // the function works on the thread that called it (a coroutine's own stack included)
      const caller = this.L;
      this.L = L2;
      try {
        return fn(this);
      } finally {
        this.L = caller;
      }
    });
  }
  createtable(narr: number, nrec: number): void {
    lua.lua_createtable(this.L, narr, nrec);
  }

  // ---- read ----
  tonumber(index: number): number {
    return lua.lua_tonumber(this.L, index);
  }
  toboolean(index: number): boolean {
    return lua.lua_toboolean(this.L, index);
  }
  tolstring(index: number): Uint8Array | null {
    const t = lua.lua_type(this.L, index);
    if (t !== LuaType.STRING && t !== LuaType.NUMBER) return null;
    return lua.lua_tolstring(this.L, index);
  }
  rawlen(index: number): number {
    return lua.lua_rawlen(this.L, index);
  }
  topointer(index: number): unknown {
    return lua.lua_topointer(this.L, index);
  }
  tostring(index: number): string {
    const s = lauxlib.luaL_tolstring(this.L, index);
    lua.lua_pop(this.L, 1);
    return utf8.decode(s);
  }

  // ---- tables ----
  getfield(index: number, key: LuaText): void {
    lua.lua_getfield(this.L, index, luaText(key));
  }
  setfield(index: number, key: LuaText): void {
    lua.lua_setfield(this.L, index, luaText(key));
  }
  rawget(index: number): void {
    lua.lua_rawget(this.L, index);
  }
  rawset(index: number): void {
    lua.lua_rawset(this.L, index);
  }
  rawgeti(index: number, n: number): void {
    lua.lua_rawgeti(this.L, index, n);
  }
  rawseti(index: number, n: number): void {
    lua.lua_rawseti(this.L, index, n);
  }
  next(index: number): boolean {
    return !!lua.lua_next(this.L, index);
  }
  setmetatable(index: number): void {
    lua.lua_setmetatable(this.L, index);
  }
  getmetatable(index: number): boolean {
    return !!lua.lua_getmetatable(this.L, index);
  }
  getglobal(name: LuaText): void {
    lua.lua_getglobal(this.L, luaText(name));
  }
  setglobal(name: LuaText): void {
    lua.lua_setglobal(this.L, luaText(name));
  }

  // ---- tags ----
  settag(index: number, id: number): void {
    const t = lua.lua_topointer(this.L, index);
    if (lua.lua_type(this.L, index) !== LuaType.TABLE) return;
    if (id === 0) this.tags.delete(t);
    else this.tags.set(t, id);
  }
  gettag(index: number): number {
    // only tables are ever tagged: the identity of anything else is never found
    const p = lua.lua_topointer(this.L, index);
    return p === null ? 0 : this.tags.get(p) ?? 0;
  }

  // ---- registry ----
  ref(): number {
    return lauxlib.luaL_ref(this.L, lua.LUA_REGISTRYINDEX);
  }
  pushref(ref: number): void {
    lua.lua_rawgeti(this.L, lua.LUA_REGISTRYINDEX, ref);
  }
  unref(ref: number): void {
    lauxlib.luaL_unref(this.L, lua.LUA_REGISTRYINDEX, ref);
  }

  // ---- calls ----
  pcall(nargs: number, nresults: number): number {
    if (this.depth++ === 0) this.callStart = Date.now();
    try {
      return statusOf(lua.lua_pcall(this.L, nargs, nresults, 0));
    } finally {
      if (--this.depth === 0) {
        if (this.interrupted !== null) {
          this.interrupted = null;
          lua.lua_sethook(this.L, this.hook, lua.LUA_MASKCOUNT, HOOK_COUNT);
          if (this.L !== this.main) lua.lua_sethook(this.main, this.hook, lua.LUA_MASKCOUNT, HOOK_COUNT);
        }
        if (this.main.stack.length !== this.stackSize) this.repackStack();
      }
    }
  }
  load(code: Uint8Array, chunkName: string): number {
    return statusOf(lauxlib.luaL_loadbufferx(this.L, code, code.length, luaText(chunkName), null));
  }
  error(): never {
    return lua.lua_error(this.L) as never;
  }
  errorMessage(message: string): never {
    return lauxlib.luaL_error(this.L, toLuaString('%s'), toLuaString(message)) as never;
  }
  where(level: number): string {
    const ar = new lua.lua_Debug();
    if (!lua.lua_getstack(this.L, level, ar)) return '';
    lua.lua_getinfo(this.L, toLuaString('Sl'), ar);
    if (ar.currentline <= 0) return '';
    return `${utf8.decode(ar.short_src)}:${ar.currentline}`;
  }

  gc(): number {
    return this.memoryUsed();
  }
  close(): void {
    this.closeFiles();
    lua.lua_close(this.main);
  }

  /** What LuaJIT has natively and fengari lacks (the 5.1/5.2 Lua-level extras are the binding's compat chunk). */
  private openLuaJITLibraries(): void {
    const L = this.L;
    this.pushfunction(collectgarbage);
    lua.lua_setglobal(L, luaText('collectgarbage'));
    lua.lua_getglobal(L, luaText('table'));
    lua.lua_pushcfunction(L, (L2: any) => {
      // table.pack(...): { n = count, ... } with LuaJIT's `#`
      const n = lua.lua_gettop(L2);
      lua.lua_createtable(L2, n, 1);
      lua.lua_insert(L2, 1);
      for (let i = n; i >= 1; i--) lua.lua_rawseti(L2, 1, i);
      lua.lua_pushnumber(L2, n);
      lua.lua_setfield(L2, 1, luaText('n'));
      setLengthHint(lua.lua_topointer(L2, 1), n);
      return 1;
    });
    lua.lua_setfield(L, -2, luaText('pack'));
    lua.lua_pop(L, 1);
    openBit(this);
    lua.lua_setglobal(L, luaText('bit'));
    if (this.load(Buffer.from(FENGARI_LUA, 'utf8'), '=fengari') !== LuaStatus.OK || this.pcall(0, 0) !== LuaStatus.OK) {
      throw new Error(`fengari set-up: ${this.tostring(-1)}`);
    }
    this.closeFiles = openFiles(this);
  }

  /** closes the files scripts left open (set once io is opened) */
  private closeFiles: () => void = () => {};
}

/** fengari's 5.3 status codes are the ones LuaStatus names, except LUA_YIELD (1) which pcall never returns here. */
function statusOf(status: number): number {
  switch (status) {
    case lua.LUA_OK:
      return LuaStatus.OK;
    case lua.LUA_ERRSYNTAX:
      return LuaStatus.ERRSYNTAX;
    case lua.LUA_ERRMEM:
      return LuaStatus.ERRMEM;
    case lua.LUA_ERRERR:
      return LuaStatus.ERRERR;
    default:
      return LuaStatus.ERRRUN;
  }
}

/** LuaJIT's collectgarbage options and answers; fengari has no collector of its own (the JS GC runs it). */
const gcState = new WeakMap<LuaAPI, { running: boolean; pause: number; stepmul: number }>();
const GC_OPTIONS = ['collect', 'count', 'step', 'stop', 'restart', 'setpause', 'setstepmul', 'isrunning'];
function collectgarbage(api: LuaAPI): number {
  let state = gcState.get(api);
  if (!state) gcState.set(api, (state = { running: true, pause: 200, stepmul: 200 }));
  const t = api.type(1);
  const option = t === LuaType.NONE || t === LuaType.NIL ? 'collect' : Buffer.from(api.tolstring(1) ?? EMPTY).toString('utf8');
  if (!GC_OPTIONS.includes(option)) return api.errorMessage(`bad argument #1 to 'collectgarbage' (invalid option '${option}')`);
  const arg = api.type(2) === LuaType.NUMBER ? api.tonumber(2) : 0;
  switch (option) {
    case 'count':
      api.pushnumber(api.memoryUsed() / 1024);
      break;
    case 'step':
      // a step of a collector that has nothing of its own to collect always ends a cycle
      api.pushboolean(true);
      break;
    case 'isrunning':
      api.pushboolean(state.running);
      break;
    case 'setpause':
      api.pushnumber(state.pause);
      state.pause = arg;
      break;
    case 'setstepmul':
      api.pushnumber(state.stepmul);
      state.stepmul = arg;
      break;
    case 'stop':
    case 'restart':
      state.running = option === 'restart';
      api.pushnumber(0);
      break;
    default:
      api.pushnumber(0);
  }
  return 1;
}

/** LuaJIT's `bit` library: 32-bit operations with signed results (left on the stack as a table). */
function openBit(api: LuaAPI): void {
  const n = (i: number): number => api.tonumber(i) | 0;
  const fold = (op: (a: number, b: number) => number) => (a: LuaAPI): number => {
    let r = n(1);
    for (let i = 2, top = a.gettop(); i <= top; i++) r = op(r, n(i));
    a.pushnumber(r | 0);
    return 1;
  };
  const one = (f: (x: number, s: number) => number) => (a: LuaAPI): number => {
    a.pushnumber(f(n(1), n(2) & 31) | 0);
    return 1;
  };
  const fns: Record<string, LuaJSFunction> = {
    tobit: one((x) => x),
    bnot: one((x) => ~x),
    band: fold((a, b) => a & b),
    bor: fold((a, b) => a | b),
    bxor: fold((a, b) => a ^ b),
    lshift: one((x, s) => x << s),
    rshift: one((x, s) => x >>> s),
    arshift: one((x, s) => x >> s),
    rol: one((x, s) => (x << s) | (x >>> (32 - s))),
    ror: one((x, s) => (x >>> s) | (x << (32 - s))),
    bswap: one((x) => ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)),
    tohex: (a) => {
      let digits = a.type(2) === LuaType.NUMBER ? n(2) : 8;
      const upper = digits < 0;
      digits = Math.min(Math.abs(digits), 8);
      let s = (n(1) >>> 0).toString(16).padStart(8, '0').slice(8 - digits);
      if (upper) s = s.toUpperCase();
      a.pushstring(s);
      return 1;
    },
  };
  api.createtable(0, Object.keys(fns).length);
  for (const [name, fn] of Object.entries(fns)) {
    api.pushfunction(fn);
    api.setfield(-2, name);
  }
}
