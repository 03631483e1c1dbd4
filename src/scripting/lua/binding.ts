/**
 * The Lua binding: the runtime's engine contract (runtime/engine.ts) implemented once against
 * LuaAPI, so it runs on LuaJIT (native addon) and on fengari alike. One Lua state holds every Lua
 * app: each app is an environment table (apps-lua.ts), API objects are tables with one shared
 * metatable per ObjectClass, `data` is a proxy per view (data-lua.ts).
 *
 * Object identity: each JS object scripts see has one Lua table, kept in the registry while the
 * object lives and tagged (LuaAPI.settag) with that registry reference, so a method call finds its
 * JS object from `self` with one tag read and one Map lookup.
 *
 * Property and method lookups stay inside Lua: a class's __index is a Lua closure over its methods
 * table and its getters table (JS functions), so a known key costs no JS round trip to be found.
 */
import type { Value } from '../../serialization/value';
import type { App } from '../runtime/app';
import { APP_FUNCTION, NO_RESULTS, ScriptError, type AppInstance, type ArgKind, type Args, type ArgWriter, type CallResult, type Out, type ScriptEngine } from '../runtime/engine';
import type { ObjectClass } from '../runtime/model';
import type { Runtime } from '../runtime/runtime';
import { LUA_MULTRET, LuaStatus, LuaType, type LuaAPI, type LuaJSFunction } from './api';
import { APPS_LUA } from './apps-lua';
import { COMPAT_LUA } from './compat';
import { LuaData } from './data-lua';
import { formatLuaNumber } from './number-format';
import { bytesOf, LuaValues } from './values';

/* eslint-disable @typescript-eslint/no-explicit-any */
/** Any class of the object model (entries keep their class to check `self`). */
type AnyClass = ObjectClass<any>;

/** One JS object seen by scripts: its class (methods check it) and its registry reference (= its tag). */
interface Entry {
  readonly obj: object;
  readonly cls: AnyClass;
  readonly ref: number;
}

/** A class's __index/__newindex, in Lua so that known keys are found without leaving the VM. */
const CLASS_LUA = `
local methods, getters, fallback, setters, index = ...
local rawset, type = rawset, type
local meta = {}
meta.__index = function(t, k)
  local m = methods[k]
  if m ~= nil then return m end
  local g = getters[k]
  if g ~= nil then return g(t) end
  if type(k) == 'string' then
    if fallback ~= nil then return fallback(t, k) end
  elseif index ~= nil then
    return index(t, k)
  end
  return nil
end
-- ipairs walks t[1], t[2]... through __index (mona.servers[i]); LuaJIT asks __ipairs for it
local function inext(t, i)
  i = i + 1
  local v = t[i]
  if v ~= nil then return i, v end
end
meta.__ipairs = function(t) return inext, t, 0 end
if setters ~= nil then
  meta.__newindex = function(t, k, v)
    local s = setters[k]
    if s ~= nil then s(t, v) else rawset(t, k, v) end
  end
end
return meta
`;

const KIND: Record<number, ArgKind> = {
  [LuaType.NONE]: 'none',
  [LuaType.NIL]: 'nil',
  [LuaType.BOOLEAN]: 'boolean',
  [LuaType.NUMBER]: 'number',
  [LuaType.STRING]: 'string',
  [LuaType.TABLE]: 'table',
  [LuaType.FUNCTION]: 'function',
};

const lenient = new TextDecoder('utf-8');

/** Arguments read from the stack of the running JS function; `offset` skips `self`. */
class LuaArgs implements Args {
  constructor(
    private readonly engine: LuaEngine,
    private readonly api: LuaAPI,
    private readonly offset: number,
  ) {}

  count(): number {
    return Math.max(0, this.api.gettop() - this.offset);
  }
  kind(i: number): ArgKind {
    const idx = i + this.offset;
    if (idx > this.api.gettop()) return 'none';
    const t = this.api.type(idx);
    if (t === LuaType.TABLE && this.api.gettag(idx) !== 0) return 'object';
    return KIND[t] ?? 'other';
  }
  number(i: number): number | undefined {
    const idx = i + this.offset;
    return idx <= this.api.gettop() && this.api.type(idx) === LuaType.NUMBER ? this.api.tonumber(idx) : undefined;
  }
  boolean(i: number): boolean {
    const idx = i + this.offset;
    return idx <= this.api.gettop() && this.api.toboolean(idx);
  }
  text(i: number): string | null {
    const b = this.raw(i);
    return b === null ? null : lenient.decode(b);
  }
  bytes(i: number): Buffer | null {
    const b = this.raw(i);
    return b === null ? null : bytesOf(b);
  }
  private raw(i: number): Uint8Array | null {
    const idx = i + this.offset;
    if (idx > this.api.gettop()) return null;
    const t = this.api.type(idx);
    return t === LuaType.STRING || t === LuaType.NUMBER ? this.api.tolstring(idx) : null;
  }
  value(i: number): Value {
    const idx = i + this.offset;
    return idx <= this.api.gettop() ? this.engine.values.toValue(idx) : null;
  }
  values(from: number): Value[] {
    const top = this.api.gettop();
    const first = from + this.offset;
    if (first > top) return [];
    this.api.checkstack(8);
    return this.engine.values.slice(first, top);
  }
  object<T extends object>(i: number, cls: ObjectClass<T>): T | undefined {
    const idx = i + this.offset;
    if (idx > this.api.gettop()) return undefined;
    const e = this.engine.entryAt(idx);
    return e && e.cls === cls ? (e.obj as T) : undefined;
  }
  display(i: number): string {
    const idx = i + this.offset;
    return idx <= this.api.gettop() ? this.api.tostring(idx) : 'nil';
  }
  callback(i: number, message: string): void {
    const api = this.api;
    api.checkstack(2);
    api.pushvalue(i + this.offset);
    api.pushstring(message);
    // an error the callback raises (`error` given as the callback) goes on to the script
    if (api.pcall(1, 0) !== LuaStatus.OK) api.error();
  }
  where(): string {
    return this.api.where(1);
  }
  error(message: string): never {
    return this.api.errorMessage(message);
  }
}

/** Writes values onto the stack. */
class LuaOut implements Out {
  constructor(
    private readonly engine: LuaEngine,
    private readonly api: LuaAPI,
  ) {}

  reserve(n: number): void {
    if (this.api.checkstack(n)) return;
    const message = `too many values for one call (${n})`;
    // writing a call's arguments from JS: no Lua function runs to raise an error in
    if (this.engine.writingArgs > 0) throw new ScriptError(message);
    this.api.errorMessage(message);
  }
  nil(): void {
    this.api.pushnil();
  }
  boolean(b: boolean): void {
    this.api.pushboolean(b);
  }
  number(n: number): void {
    this.api.pushnumber(n);
  }
  text(s: string): void {
    this.api.pushstring(s);
  }
  bytes(b: Uint8Array): void {
    this.api.pushstring(b);
  }
  sharedBytes(b: Buffer): void {
    this.api.pushsharedstring(b);
  }
  value(v: Value): void {
    this.engine.values.pushValue(v);
  }
  object<T extends object>(cls: ObjectClass<T>, obj: T): void {
    this.engine.pushObject(cls, obj);
  }
}

/** Writes key, value, key, value... into the table at `table` (a pairs snapshot); nil keys are skipped. */
class LuaPairsOut implements Out {
  table = 0;
  private odd = false;

  constructor(
    private readonly out: LuaOut,
    private readonly api: LuaAPI,
  ) {}

  begin(table: number): void {
    this.table = table;
    this.odd = false;
  }
  private wrote(): void {
    this.odd = !this.odd;
    if (this.odd) {
      this.api.checkstack(2);
      return;
    }
    if (this.api.type(-2) === LuaType.NIL) this.api.settop(-3);
    else this.api.rawset(this.table);
  }
  reserve(): void {
    // one entry at a time: rawset empties the stack after each pair
  }
  nil(): void {
    this.out.nil();
    this.wrote();
  }
  boolean(b: boolean): void {
    this.out.boolean(b);
    this.wrote();
  }
  number(n: number): void {
    this.out.number(n);
    this.wrote();
  }
  text(s: string): void {
    this.out.text(s);
    this.wrote();
  }
  bytes(b: Uint8Array): void {
    this.out.bytes(b);
    this.wrote();
  }
  sharedBytes(b: Buffer): void {
    this.out.sharedBytes(b);
    this.wrote();
  }
  value(v: Value): void {
    this.out.value(v);
    this.wrote();
  }
  object<T extends object>(cls: ObjectClass<T>, obj: T): void {
    this.out.object(cls, obj);
    this.wrote();
  }
}

/** One app's environment in the Lua state (its record made by apps-lua.ts). */
class LuaApp implements AppInstance {
  constructor(
    readonly engine: LuaEngine,
    readonly app: App,
    /** registry reference of the Lua app record */
    readonly recordRef: number,
    /** registry reference of its environment table */
    readonly envRef: number,
  ) {}

  run(code: Buffer, chunkName: string): void {
    this.engine.callApps('run', (api) => {
      api.pushref(this.recordRef);
      api.pushstring(code);
      api.pushstring(chunkName);
      return 3;
    });
  }

  callEvent<C>(name: string, write: ArgWriter<C> | null, ctx: C, results: boolean): CallResult {
    const api = this.engine.api;
    const base = api.gettop();
    api.checkstack(3);
    api.pushref(this.envRef);
    this.engine.pushName(name);
    api.rawget(-2);
    if (api.type(-1) !== LuaType.FUNCTION) {
      api.settop(base);
      return null;
    }
    api.remove(-2);
    return this.engine.invoke(base, write, ctx, results);
  }

  evaluate(code: string, chunkName: string): Value[] {
    const api = this.engine.api;
    const base = api.gettop();
    api.checkstack(4);
    this.engine.pushApps('eval');
    api.pushref(this.recordRef);
    api.pushstring(code);
    api.pushstring(chunkName);
    return this.engine.invoke(base, null, null, true) as Value[];
  }

  global(name: string): Value | typeof APP_FUNCTION | undefined {
    const api = this.engine.api;
    const base = api.gettop();
    api.checkstack(3);
    api.pushref(this.envRef);
    this.engine.pushName(name);
    api.rawget(-2);
    const t = api.type(-1);
    const r = t === LuaType.NIL ? undefined : t === LuaType.FUNCTION ? APP_FUNCTION : this.engine.values.toValue(-1);
    api.settop(base);
    return r;
  }

  unlink(): void {
    const engine = this.engine;
    try {
      engine.callApps('unlink', (api) => {
        api.pushref(this.recordRef);
        return 1;
      });
    } finally {
      engine.forgetApp(this);
    }
  }
}

export class LuaEngine implements ScriptEngine {
  readonly name = 'lua';
  readonly values: LuaValues;
  private readonly args0: LuaArgs;
  private readonly args1: LuaArgs;
  private readonly out: LuaOut;
  private readonly pairsOut: LuaPairsOut;
  private readonly data: LuaData;
  /** tag (= registry reference) → the JS object behind a script object */
  private readonly byTag = new Map<number, Entry>();
  private readonly byObject = new Map<object, Entry>();
  private readonly classes = new Map<AnyClass, number>();
  /** interned names (events, methods) as registry references: pushing one costs no encoding */
  private readonly names = new Map<string, number>();
  /** app path → its Lua instance */
  private readonly apps = new Map<string, LuaApp>();
  private readonly appsRef: number;
  private nextRef = -1;
  /** > 0 while a call's arguments are written from JS (an error then is a JS exception, not a Lua error) */
  writingArgs = 0;
  private closed = false;

  constructor(
    readonly runtime: Runtime,
    readonly api: LuaAPI,
  ) {
    this.values = new LuaValues(api);
    this.values.objectValue = (tag) => {
      const e = this.byTag.get(tag);
      return e !== undefined && e.cls.asValue ? e.cls.asValue(e.obj) : null;
    };
    this.args0 = new LuaArgs(this, api, 0);
    this.args1 = new LuaArgs(this, api, 1);
    this.out = new LuaOut(this, api);
    this.pairsOut = new LuaPairsOut(this.out, api);
    this.data = new LuaData(this, runtime.data);
    api.onNativeError = (e) => runtime.nativeError(e);
    this.runChunk(COMPAT_LUA, '=compat', 0, 0);
    this.installGlobals();
    this.appsRef = this.installApps();
  }

  get version(): string {
    return this.api.version;
  }

  get callBudgetMs(): number {
    return this.api.callBudgetMs;
  }

  set callBudgetMs(ms: number) {
    this.api.callBudgetMs = ms;
  }

  // ---- apps ----

  createApp(app: App, parent: AppInstance | null): AppInstance {
    const api = this.api;
    const base = api.gettop();
    api.checkstack(8);
    this.pushApps('newApp');
    api.pushstring(app.name);
    api.pushstring(app.path);
    // the parent's environment is linked only when it lives in this state; an app under a parent of
    // another language starts from the standard globals (its events still fall back, in the runtime)
    const local = parent instanceof LuaApp && parent.engine === this;
    if (local) api.pushref(parent.recordRef);
    else api.pushnil();
    // a parent in another engine: its name (globals and `super` then read through the runtime)
    if (!local && parent && app.parent) {
      api.pushstring(app.parent.name);
      api.pushstring(app.parent.path || '/');
    } else {
      api.pushnil();
      api.pushnil();
    }
    this.protectedCall(5, 1, base);
    api.pushvalue(-1);
    const recordRef = api.ref();
    api.getfield(-1, 'env');
    const envRef = api.ref();
    api.settop(base);
    const instance = new LuaApp(this, app, recordRef, envRef);
    this.apps.set(app.path, instance);
    return instance;
  }

  forgetApp(instance: LuaApp): void {
    if (this.apps.get(instance.app.path) === instance) this.apps.delete(instance.app.path);
    this.api.unref(instance.recordRef);
    this.api.unref(instance.envRef);
  }

  /** Calls function `fn` of the apps module with the arguments `push` pushes (returns their count). */
  callApps(fn: string, push: (api: LuaAPI) => number): void {
    const api = this.api;
    const base = api.gettop();
    api.checkstack(8);
    this.pushApps(fn);
    this.protectedCall(push(api), 0, base);
    api.settop(base);
  }

  pushApps(fn: string): void {
    this.api.pushref(this.appsRef);
    this.api.getfield(-1, fn);
    this.api.remove(-2);
  }

  // ---- calls ----

  callMethod<T extends object, C>(cls: ObjectClass<T>, obj: T, name: string, write: ArgWriter<C> | null, ctx: C, results: boolean): CallResult {
    const entry = this.byObject.get(obj);
    if (entry === undefined || entry.cls !== cls) return null;
    const api = this.api;
    const base = api.gettop();
    api.checkstack(4);
    api.pushref(entry.ref);
    // a raw read: events and RPC methods are functions scripts stored on the object itself, and
    // skipping __index (properties) matters on per-packet events
    this.pushName(name);
    api.rawget(-2);
    if (api.type(-1) !== LuaType.FUNCTION) {
      api.settop(base);
      return null;
    }
    api.insert(-2); // function, self
    return this.invoke(base, write, ctx, results);
  }

  /** true when scripts stored a function `name` on obj's script object (what callMethod would call). */
  hasMethod<T extends object>(cls: ObjectClass<T>, obj: T, name: string): boolean {
    const entry = this.byObject.get(obj);
    if (entry === undefined || entry.cls !== cls) return false;
    const api = this.api;
    const base = api.gettop();
    api.checkstack(3);
    api.pushref(entry.ref);
    this.pushName(name);
    api.rawget(-2);
    const found = api.type(-1) === LuaType.FUNCTION;
    api.settop(base);
    return found;
  }

  /** Calls the function at base+1 with what is above it plus what `write` writes. */
  invoke<C>(base: number, write: ArgWriter<C> | null, ctx: C, results: boolean): CallResult {
    const api = this.api;
    if (write) {
      this.writingArgs++;
      try {
        write(this.out, ctx);
      } catch (e) {
        api.settop(base);
        throw e;
      } finally {
        this.writingArgs--;
      }
    }
    const nargs = api.gettop() - base - 1;
    this.protectedCall(nargs, results ? LUA_MULTRET : 0, base);
    if (!results) return NO_RESULTS;
    return this.values.popValues(api.gettop() - base);
  }

  /** pcall; on failure the stack is back to `base` and a ScriptError carries Lua's message. */
  private protectedCall(nargs: number, nresults: number, base: number): void {
    const api = this.api;
    const status = api.pcall(nargs, nresults);
    if (status !== LuaStatus.OK) {
      const message = this.errorText(-1);
      api.settop(base);
      throw new ScriptError(message);
    }
  }

  /** The text of an error value: strings as they are, others through tostring. */
  errorText(idx: number): string {
    const api = this.api;
    const t = api.type(idx);
    if (t === LuaType.STRING) return lenient.decode(api.tolstring(idx) as Uint8Array);
    if (t === LuaType.NIL || t === LuaType.NONE) return 'nil';
    return api.tostring(idx);
  }

  /** Runs a chunk of ours (library code): its errors are bugs, thrown as they are. */
  runChunk(code: string, name: string, nargs: number, nresults: number): void {
    const api = this.api;
    const base = api.gettop() - nargs;
    if (api.load(Buffer.from(code, 'utf8'), name) !== LuaStatus.OK) {
      const message = this.errorText(-1);
      api.settop(base);
      throw new Error(`${name}: ${message}`);
    }
    if (nargs) api.insert(base + 1);
    this.protectedCall(nargs, nresults, base);
  }

  pushName(name: string): void {
    let ref = this.names.get(name);
    if (ref === undefined) {
      this.api.pushstring(name);
      ref = this.api.ref();
      this.names.set(name, ref);
    }
    this.api.pushref(ref);
  }

  // ---- objects ----

  knows(obj: object): boolean {
    return this.byObject.has(obj);
  }

  /** The object entry behind stack slot `idx`, if it is an API object. */
  entryAt(idx: number): Entry | undefined {
    const tag = this.api.gettag(idx);
    return tag === 0 ? undefined : this.byTag.get(tag);
  }

  /** Pushes the Lua table mirroring `obj` (made on first use, the same one afterwards). */
  pushObject<T extends object>(cls: ObjectClass<T>, obj: T): void {
    const api = this.api;
    api.checkstack(3);
    const known = this.byObject.get(obj);
    if (known !== undefined) {
      api.pushref(known.ref);
      return;
    }
    api.createtable(0, 0);
    api.pushref(this.classMeta(cls));
    api.setmetatable(-2);
    api.pushvalue(-1);
    const ref = api.ref();
    api.settag(-1, ref);
    const entry: Entry = { obj, cls: cls, ref };
    this.byTag.set(ref, entry);
    this.byObject.set(obj, entry);
  }

  release(obj: object): void {
    const entry = this.byObject.get(obj);
    if (entry === undefined || this.closed) return;
    this.byObject.delete(obj);
    this.byTag.delete(entry.ref);
    // scripts may still hold the table: it stops answering for the object
    const api = this.api;
    api.checkstack(1);
    api.pushref(entry.ref);
    api.settag(-1, 0);
    api.settop(-2);
    api.unref(entry.ref);
  }

  private classMeta(cls: AnyClass): number {
    const known = this.classes.get(cls);
    if (known !== undefined) return known;
    const api = this.api;
    const base = api.gettop();
    api.checkstack(8);
    // methods
    api.createtable(0, Object.keys(cls.methods ?? {}).length);
    for (const [name, fn] of Object.entries(cls.methods ?? {})) {
      api.pushfunction((a) => {
        let args = this.args1;
        let obj: object;
        const e = this.entryAt(1);
        if (e !== undefined && e.cls === cls) obj = e.obj;
        else if (cls.singleton) {
          // `mona.time()` as well as `mona:time()`
          obj = cls.singleton;
          args = this.args0;
        } else return a.errorMessage(`${cls.name}.${name}: call it with ':' on a ${cls.name}`);
        const top = a.gettop();
        fn(obj, args, this.out);
        return a.gettop() - top;
      });
      api.setfield(-2, name);
    }
    // getters
    api.createtable(0, Object.keys(cls.properties ?? {}).length);
    for (const [name, getter] of Object.entries(cls.properties ?? {})) {
      api.pushfunction((a) => {
        const e = this.entryAt(1);
        if (e === undefined || e.cls !== cls) a.pushnil();
        else getter(e.obj, this.out);
        return 1;
      });
      api.setfield(-2, name);
    }
    // fallback
    if (cls.fallback) {
      const fallback = cls.fallback;
      api.pushfunction((a) => {
        const e = this.entryAt(1);
        const key = a.tolstring(2);
        if (e === undefined || e.cls !== cls || key === null || !fallback(e.obj, lenient.decode(key), this.out)) a.pushnil();
        return 1;
      });
    } else api.pushnil();
    // setters
    if (cls.setters) {
      api.createtable(0, Object.keys(cls.setters).length);
      for (const [name, setter] of Object.entries(cls.setters)) {
        api.pushfunction(() => {
          const e = this.entryAt(1);
          if (e !== undefined && e.cls === cls) setter(e.obj, this.args1);
          return 0;
        });
        api.setfield(-2, name);
      }
    } else api.pushnil();
    // index (keys that are not strings)
    if (cls.index) {
      const index = cls.index;
      api.pushfunction((a) => {
        const e = this.entryAt(1);
        // the key is argument 1 after self
        if (e === undefined || e.cls !== cls || !index(e.obj, this.args1, this.out)) a.pushnil();
        return 1;
      });
    } else api.pushnil();
    this.runChunk(CLASS_LUA, '=class', 5, 1);
    // metamethods answered in JS
    const meta = (key: string, fn: LuaJSFunction): void => {
      api.pushfunction(fn);
      api.setfield(-2, key);
    };
    const self = (): object | undefined => {
      const e = this.entryAt(1);
      return e !== undefined && e.cls === cls ? e.obj : undefined;
    };
    if (cls.call) {
      const call = cls.call;
      meta('__call', (a) => {
        const obj = self();
        if (obj === undefined) return 0;
        const top = a.gettop();
        call(obj, this.args1, this.out);
        return a.gettop() - top;
      });
    }
    if (cls.len) {
      const len = cls.len;
      meta('__len', (a) => {
        const obj = self();
        a.pushnumber(obj === undefined ? 0 : len(obj));
        return 1;
      });
    }
    if (cls.pairs) {
      const pairs = cls.pairs;
      meta('__pairs', (a) => {
        const obj = self();
        this.pushNext();
        a.createtable(0, 0);
        if (obj !== undefined) {
          this.pairsOut.begin(a.gettop());
          pairs(obj, this.pairsOut);
        }
        a.pushnil();
        return 3;
      });
    }
    meta('__tostring', (a) => {
      const obj = self();
      a.pushstring(obj !== undefined && cls.describe ? cls.describe(obj) : cls.name);
      return 1;
    });
    const ref = api.ref();
    api.settop(base);
    this.classes.set(cls, ref);
    return ref;
  }

  /** Pushes the standard `next` (for __pairs results). */
  pushNext(): void {
    if (this.nextRef < 0) {
      this.api.getglobal('next');
      this.nextRef = this.api.ref();
    }
    this.api.pushref(this.nextRef);
  }

  // ---- globals ----

  private installGlobals(): void {
    const api = this.api;
    for (const [name, fn] of Object.entries(this.runtime.globals)) {
      api.pushfunction((a) => {
        const top = a.gettop();
        fn(this.args0, this.out);
        return a.gettop() - top;
      });
      api.setglobal(name);
    }
    const mona = this.runtime.mona;
    this.pushObject(mona.cls, mona.obj);
    api.setglobal('mona');
  }

  /** The app tree's Lua side, given the host functions it calls; returns the registry reference of its module. */
  private installApps(): number {
    const api = this.api;
    const appAt = (a: LuaAPI, idx: number): LuaApp | undefined => {
      const p = a.tolstring(idx);
      return p === null ? undefined : this.apps.get(lenient.decode(p));
    };
    api.createtable(0, 3);
    api.pushfunction((a) => {
      // readFile(appPath, file, requester) → code, chunkname  (file relative to that app's folder,
      // or absolute); requester is the app whose require/dofile/loadfile asked
      const app = appAt(a, 1);
      const file = a.type(2) === LuaType.STRING ? lenient.decode(a.tolstring(2) as Uint8Array) : null;
      if (!app || !file) return 0;
      const found = this.runtime.readFile(app.app, file, appAt(a, 3)?.app ?? app.app);
      if (!found) return 0;
      a.pushstring(found.code);
      a.pushstring(found.chunkName);
      return 2;
    });
    api.setfield(-2, 'readFile');
    api.pushfunction((a) => {
      // child(appPath, rel) → proxy of the app rel ("name" or "a/b") below it, loaded now; nil if none
      const app = appAt(a, 1);
      const rel = a.type(2) === LuaType.STRING ? lenient.decode(a.tolstring(2) as Uint8Array) : null;
      if (!app || !rel) return 0;
      const child = this.runtime.descendant(app.app, rel);
      const instance = child?.instance;
      if (!(instance instanceof LuaApp) || instance.engine !== this) return 0;
      a.pushref(instance.recordRef);
      a.getfield(-1, 'proxy');
      return 1;
    });
    api.setfield(-2, 'child');
    api.pushfunction((a) => {
      // parentGet(appPath, key) → the global `key` of the app's parent in another engine (or of its
      // nearest parent having it): a value, or a function calling it there
      const app = appAt(a, 1);
      const key = a.type(2) === LuaType.STRING ? lenient.decode(a.tolstring(2) as Uint8Array) : null;
      const parent = app?.app.parent;
      if (!parent || key === null) return 0;
      const v = this.runtime.readApp(parent, key);
      if (v === undefined) return 0;
      if (v === APP_FUNCTION) {
        a.pushfunction((b) => {
          const n = b.gettop();
          let results;
          try {
            results = this.runtime.callApp(parent, key, this.writeStackArgs, n);
          } catch (e) {
            return b.errorMessage(e instanceof Error ? e.message : String(e));
          }
          if (!results) return b.errorMessage(`${key}: no such function in ${parent.path || "/"}`);
          b.checkstack(results.length + 1);
          for (const r of results) this.values.pushValue(r);
          return results.length;
        });
      } else this.values.pushValue(v);
      return 1;
    });
    api.setfield(-2, 'parentGet');
    api.pushfunction((a) => {
      // data(appPath) → the app's persistent data view
      const p = a.tolstring(1);
      this.data.push(this.runtime.data.appPath(p === null ? '' : lenient.decode(p)));
      return 1;
    });
    api.setfield(-2, 'data');
    this.runChunk(APPS_LUA, '=apps', 1, 1);
    return api.ref();
  }

  /** Writes the arguments 1..n of the running JS function (API objects as themselves) for another engine's call. */
  private readonly writeStackArgs: ArgWriter<number> = (out, n) => {
    out.reserve(n);
    for (let i = 1; i <= n; i++) {
      const e = this.entryAt(i);
      if (e !== undefined) out.object(e.cls, e.obj);
      else out.value(this.values.toValue(i));
    }
  };

  /** The text of a number as this language prints it (data keys and values). */
  numberText(n: number): string {
    return formatLuaNumber(n);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.byObject.clear();
    this.byTag.clear();
    this.apps.clear();
    this.api.close();
  }
}
