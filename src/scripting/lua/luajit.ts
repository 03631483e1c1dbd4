/**
 * LuaAPI on LuaJIT, the VM MonaServer embeds, through our native addon (native/luajit). The
 * addon holds the state; this class forwards each operation and runs the JS functions Lua calls.
 *
 * JS functions pushed with pushfunction live in `fns`; the Lua closure keeps only their index.
 * When Lua collects a closure the addon reports its index (takefreed) and the slot is reused.
 * Lua calls them through `dispatch`, which answers the addon's trampoline with the result count
 * or a negative code: RAISE_TOP (raise the value on the top: error(), errorMessage() or a JS
 * exception's message) or RAISE_PENDING (an operation of the function failed with a Lua error and
 * the function let it through: the addon re-raises that very error, status included).
 *
 * What LuaJIT's 5.2 switch would add (table.pack/unpack, __pairs/__ipairs/__len) and the call
 * budget are the addon's: see native/luajit/src and docs/scripting.md.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LuaAPI, LuaJSFunction, LuaText } from './api';

interface NativeState {
  gettop(): number;
  settop(index: number): void;
  pushvalue(index: number): void;
  remove(index: number): void;
  insert(index: number): void;
  absindex(index: number): number;
  checkstack(n: number): boolean;
  type(index: number): number;
  typename(type: number): string;
  pushnil(): void;
  pushnumber(n: number): void;
  pushboolean(b: boolean): void;
  pushstring(s: LuaText): void;
  /** returns how many collected closures wait to be reported by takefreed() */
  pushfunction(index: number): number;
  takefreed(): number[];
  createtable(narr: number, nrec: number): void;
  tonumber(index: number): number;
  toboolean(index: number): boolean;
  tolstring(index: number): Buffer | null;
  rawlen(index: number): number;
  topointer(index: number): number | null;
  tostring(index: number): string;
  getfield(index: number, key: LuaText): void;
  setfield(index: number, key: LuaText): void;
  getglobal(name: LuaText): void;
  setglobal(name: LuaText): void;
  rawget(index: number): void;
  rawset(index: number): void;
  rawgeti(index: number, n: number): void;
  rawseti(index: number, n: number): void;
  next(index: number): boolean;
  setmetatable(index: number): void;
  getmetatable(index: number): boolean;
  settag(index: number, id: number): void;
  gettag(index: number): number;
  ref(): number;
  pushref(ref: number): void;
  unref(ref: number): void;
  pcall(nargs: number, nresults: number): number;
  load(code: LuaText, chunkName: string): number;
  where(level: number): string;
  /** pushes `message` prefixed with the calling script's "file:line: " */
  errormessage(message: string): void;
  gc(): number;
  memused(): number;
  setlimit(bytes: number): void;
  setbudget(ms: number): void;
  info(): { jit: boolean; interruptible: boolean; depth: number };
  close(): void;
}

interface NativeModule {
  version: string;
  open(dispatch: (index: number) => number, jit: boolean): NativeState;
  /** the `#` rewrite applied to chunks as they load (null: the chunk needs none); for tests */
  rewriteLength(chunk: Buffer): Buffer | null;
}

const ADDON = path.join('native', 'luajit', 'build', 'Release', 'monats_luajit.node');

let addon: NativeModule | string | undefined;

/** The addon, or the reason it cannot be used (one sentence saying what to install). */
export function loadLuaJITAddon(): NativeModule | string {
  if (addon !== undefined) return addon;
  // dist/src/scripting/lua or src/scripting/lua: the repository root is a few folders up;
  // MONATS_LUAJIT_ADDON names another build (scripts/sanitize-luajit.sh runs the tests on one)
  let dir = __dirname;
  let file: string | null = process.env.MONATS_LUAJIT_ADDON || null;
  if (file && !fs.existsSync(file)) {
    addon = `MONATS_LUAJIT_ADDON names no file (${file})`;
    return addon;
  }
  for (let i = 0; i < 6 && !file; i++) {
    const candidate = path.join(dir, ADDON);
    if (fs.existsSync(candidate)) file = candidate;
    dir = path.dirname(dir);
  }
  if (!file) {
    addon = 'the LuaJIT addon is not built: install g++, make, python3 and libluajit-5.1-dev, then run `npm run build:luajit`';
    return addon;
  }
  try {
    addon = require(file) as NativeModule;
  } catch (e) {
    addon = `the LuaJIT addon does not load (${e instanceof Error ? e.message.split('\n')[0] : String(e)}): run \`npm run build:luajit\` (libluajit-5.1-2 must be installed)`;
  }
  return addon;
}

/** Why LuaJIT cannot be used here, or null when it can. */
export function luajitUnavailable(): string | null {
  const a = loadLuaJITAddon();
  return typeof a === 'string' ? a : null;
}

/** Thrown by error()/errorMessage(): the Lua error value is already on the stack. */
class LuaRaise extends Error {
  constructor() {
    super('Lua error raised from a JavaScript function (only meaningful while Lua calls it)');
    this.name = 'LuaRaise';
  }
}
const RAISE = new LuaRaise();
const RAISE_TOP = -1;
const RAISE_PENDING = -2;

/** An error a LuaJIT operation ran into (memory, a metamethod's error...): `luaStatus` is its LuaStatus. */
function isOperationError(e: unknown): boolean {
  return e instanceof Error && typeof (e as { luaStatus?: unknown }).luaStatus === 'number';
}

export interface LuaJITOptions {
  /** the JIT compiler (default on; only one state per process gets it, the others interpret) */
  jit?: boolean;
  /** default 512 MiB */
  memoryLimit?: number;
  /** default 10 s */
  callBudgetMs?: number;
}

export const DEFAULT_MEMORY_LIMIT = 512 * 1024 * 1024;
export const DEFAULT_CALL_BUDGET_MS = 10_000;

export class LuaJIT implements LuaAPI {
  readonly engine = 'luajit' as const;
  readonly version: string;
  onNativeError: (e: unknown) => void = () => {};
  private readonly n: NativeState;
  private readonly fns: (LuaJSFunction | undefined)[] = [];
  private readonly freeSlots: number[] = [];
  private budget = 0;
  private limit = 0;

  constructor(options: LuaJITOptions = {}) {
    const a = loadLuaJITAddon();
    if (typeof a === 'string') throw new Error(a);
    this.version = a.version;
    this.n = a.open(this.dispatch, options.jit ?? true);
    this.callBudgetMs = options.callBudgetMs ?? DEFAULT_CALL_BUDGET_MS;
    this.memoryLimit = options.memoryLimit ?? DEFAULT_MEMORY_LIMIT;
  }

  /** whether this state runs the JIT compiler (false: interpreter only, see LuaJITOptions.jit) */
  get jit(): boolean {
    return this.n.info().jit;
  }

  /** whether the call budget can interrupt this state (a real-time signal was available) */
  get interruptible(): boolean {
    return this.n.info().interruptible;
  }

  get callBudgetMs(): number {
    return this.budget;
  }

  set callBudgetMs(ms: number) {
    const v = Math.max(0, Math.min(0xffffffff, Math.floor(Number(ms) || 0)));
    this.n.setbudget(v);
    this.budget = v;
  }

  get memoryLimit(): number {
    return this.limit;
  }

  set memoryLimit(bytes: number) {
    const v = Math.max(0, Math.min(Number.MAX_SAFE_INTEGER, Math.floor(Number(bytes) || 0)));
    this.n.setlimit(v);
    this.limit = v;
  }

  memoryUsed(): number {
    return this.n.memused();
  }

  private readonly dispatch = (index: number): number => {
    const fn = this.fns[index];
    try {
      if (fn === undefined) throw new Error('JavaScript function released');
      return fn(this);
    } catch (e) {
      if (e === RAISE) return RAISE_TOP;
      if (isOperationError(e)) return RAISE_PENDING;
      try {
        this.onNativeError(e);
      } catch {
        // a failing reporter must not change the Lua error
      }
      try {
        this.n.pushstring(e instanceof Error ? e.message : String(e));
      } catch {
        return RAISE_PENDING; // out of memory pushing the message: that error goes up instead
      }
      return RAISE_TOP;
    }
  };

  // ---- stack ----
  gettop(): number {
    return this.n.gettop();
  }
  settop(index: number): void {
    this.n.settop(index);
  }
  pushvalue(index: number): void {
    this.n.pushvalue(index);
  }
  remove(index: number): void {
    this.n.remove(index);
  }
  insert(index: number): void {
    this.n.insert(index);
  }
  absindex(index: number): number {
    return this.n.absindex(index);
  }
  checkstack(n: number): boolean {
    return this.n.checkstack(n);
  }
  type(index: number): number {
    return this.n.type(index);
  }
  typename(type: number): string {
    return this.n.typename(type);
  }

  // ---- push ----
  pushnil(): void {
    this.n.pushnil();
  }
  pushnumber(n: number): void {
    this.n.pushnumber(n);
  }
  pushboolean(b: boolean): void {
    this.n.pushboolean(b);
  }
  pushstring(s: LuaText): void {
    this.n.pushstring(s);
  }
  /** LuaJIT interns every string: the bytes are copied once, as by pushstring */
  pushsharedstring(bytes: Uint8Array): void {
    this.n.pushstring(bytes);
  }
  pushfunction(fn: LuaJSFunction): void {
    if (typeof fn !== 'function') throw new TypeError('pushfunction: a function is expected');
    const slot = this.freeSlots.pop() ?? this.fns.length;
    this.fns[slot] = fn;
    let waiting: number;
    try {
      waiting = this.n.pushfunction(slot);
    } catch (e) {
      this.fns[slot] = undefined;
      this.freeSlots.push(slot);
      throw e;
    }
    if (waiting > 0) {
      for (const i of this.n.takefreed()) {
        this.fns[i] = undefined;
        this.freeSlots.push(i);
      }
    }
  }
  createtable(narr: number, nrec: number): void {
    this.n.createtable(narr, nrec);
  }

  // ---- read ----
  tonumber(index: number): number {
    return this.n.tonumber(index);
  }
  toboolean(index: number): boolean {
    return this.n.toboolean(index);
  }
  tolstring(index: number): Buffer | null {
    return this.n.tolstring(index);
  }
  rawlen(index: number): number {
    return this.n.rawlen(index);
  }
  topointer(index: number): unknown {
    return this.n.topointer(index);
  }
  tostring(index: number): string {
    return this.n.tostring(index);
  }

  // ---- tables ----
  getfield(index: number, key: LuaText): void {
    this.n.getfield(index, key);
  }
  setfield(index: number, key: LuaText): void {
    this.n.setfield(index, key);
  }
  rawget(index: number): void {
    this.n.rawget(index);
  }
  rawset(index: number): void {
    this.n.rawset(index);
  }
  rawgeti(index: number, n: number): void {
    this.n.rawgeti(index, n);
  }
  rawseti(index: number, n: number): void {
    this.n.rawseti(index, n);
  }
  next(index: number): boolean {
    return this.n.next(index);
  }
  setmetatable(index: number): void {
    this.n.setmetatable(index);
  }
  getmetatable(index: number): boolean {
    return this.n.getmetatable(index);
  }
  getglobal(name: LuaText): void {
    this.n.getglobal(name);
  }
  setglobal(name: LuaText): void {
    this.n.setglobal(name);
  }

  // ---- tags, refs ----
  settag(index: number, id: number): void {
    this.n.settag(index, id);
  }
  gettag(index: number): number {
    return this.n.gettag(index);
  }
  ref(): number {
    return this.n.ref();
  }
  pushref(ref: number): void {
    this.n.pushref(ref);
  }
  unref(ref: number): void {
    this.n.unref(ref);
  }

  // ---- calls ----
  pcall(nargs: number, nresults: number): number {
    return this.n.pcall(nargs, nresults);
  }
  load(code: Uint8Array, chunkName: string): number {
    return this.n.load(code, chunkName);
  }
  error(): never {
    throw RAISE;
  }
  errorMessage(message: string): never {
    this.n.errormessage(message);
    throw RAISE;
  }
  where(level: number): string {
    return this.n.where(level);
  }

  gc(): number {
    return this.n.gc();
  }
  close(): void {
    this.n.close();
    this.fns.length = 0;
    this.freeSlots.length = 0;
  }
}

/** The `#` rewrite the addon applies to chunks it loads (null: nothing to rewrite). */
export function rewriteLengthForTests(chunk: Buffer): Buffer | null {
  const a = loadLuaJITAddon();
  if (typeof a === 'string') throw new Error(a);
  return a.rewriteLength(chunk);
}
