/**
 * The JavaScript binding: the runtime's engine contract (runtime/engine.ts) for apps whose folder
 * holds main.ts or main.js. Every JavaScript app runs in the server's own realm (no vm context per
 * app: objects, Buffers, Dates and arrays cross between apps and the server as they are), each in
 * its own module scope with its own module cache (modules.ts). The API objects are built
 * generically from the object model (objects.ts), values converted by values.ts, `data` by
 * data-js.ts.
 *
 * An app's events are the functions its main module exports (`export function onConnection`);
 * what an app does not export goes to its parent through the runtime, whatever the parent's
 * language. An app sees its own app object as `app`, its parent as `app.super`; reading a key of
 * an app object gives that app's export, else its nearest parent's (exports of JavaScript parents
 * as they are, globals of Lua parents as values or callable functions).
 *
 * A call from the server into a script runs under the watchdog (watchdog.ts): a synchronous
 * handler still running after `callBudgetMs` is stopped.
 */
import * as util from 'node:util';

/** the shortest time bound of a JavaScript handler, whatever [scripts] budget says */
const JS_BUDGET_FLOOR_MS = 10_000;
import type { Value } from '../../serialization/value';
import type { App } from '../runtime/app';
import { APP_FUNCTION, NO_RESULTS, ScriptError, type AppInstance, type ArgWriter, type CallResult, type EngineEntry, type Out, type PendingResult, type ScriptEngine } from '../runtime/engine';
import type { ObjectClass } from '../runtime/model';
import type { Runtime } from '../runtime/runtime';
import { JSData } from './data-js';
import { AppModules, type ModuleRecord, type Scope } from './modules';
import { APIError, entryOf, JSArgs, JSOut, ScriptObjects, type ObjectsHost } from './objects';
import { fromScript, opaque, toScript } from './values';
import { RUNAWAY_EXIT_CODE, Watchdog, type StackFrame } from './watchdog';

const hasOwn = Object.prototype.hasOwnProperty;

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function';
}

/** A function's result as the runtime's results: undefined is none, anything else one Value. */
function resultValues(v: unknown): Value[] {
  return v === undefined ? [] : [fromScript(v)];
}

/** Values given back by another engine, as one JavaScript value (several: an array). */
function scriptResult(values: readonly Value[]): unknown {
  if (values.length === 0) return undefined;
  if (values.length === 1) return toScript(values[0]);
  return values.map((v) => toScript(v));
}

/** Writes JavaScript values as another engine's call arguments (API objects as themselves). */
const writeScriptArgs: ArgWriter<readonly unknown[]> = (out: Out, args) => {
  out.reserve(args.length);
  for (const a of args) {
    const e = entryOf(a);
    if (e) out.object(e.cls, e.obj);
    else out.value(fromScript(a));
  }
};

/** The engines of the process (tests run several servers in one): whose script left a Promise rejected. */
const LIVE_ENGINES = new Set<JSEngine>();

/** A Promise a script left rejected: logged by its engine; anything else as Node does without this listener. */
function onUnhandled(reason: unknown): void {
  if (reason instanceof Error) {
    for (const engine of LIVE_ENGINES) {
      if (engine.position(reason.stack) === null) continue;
      engine.runtime.logError(engine.scriptError(reason));
      return;
    }
  }
  // not a script's: an uncaught exception, as without this listener
  throw reason;
}

/** One JavaScript app: its module scope, main module and timers. */
export class JSApp implements AppInstance {
  readonly modules: AppModules;
  main: ModuleRecord | null = null;
  private readonly timers = new Set<NodeJS.Timeout | NodeJS.Immediate>();
  private scopeCache: Scope | null = null;
  private apiCache: Record<string, unknown> | null = null;

  constructor(
    readonly engine: JSEngine,
    readonly app: App,
  ) {
    const runtime = engine.runtime;
    this.modules = new AppModules({
      folders: () => {
        const dirs: string[] = [];
        for (let a: App | null = this.app; a; a = a.parent) dirs.push(a.dir);
        return dirs;
      },
      wwwDir: runtime.ctx.wwwDir,
      read: (file) => runtime.readFile(this.app, file, this.app),
      api: () => this.api(),
      scope: () => this.scope(),
      compiled: (chunkName) => engine.scriptFiles.add(chunkName),
      runTop: (fn) => engine.runTop(fn),
    });
  }

  /** What `require('monats')` gives this app. */
  api(): Record<string, unknown> {
    if (!this.apiCache) this.apiCache = Object.freeze({ ...this.scope() });
    return this.apiCache;
  }

  /** The names around every module of this app. */
  scope(): Scope {
    if (this.scopeCache) return this.scopeCache;
    const engine = this.engine;
    const timers = this.timers;
    const scope: Record<string, unknown> = {
      app: engine.appObject(this.app),
      mona: engine.mona(),
      data: engine.data.view(engine.runtime.data.appPath(this.app.path)),
      ...engine.logFunctions(),
      // the app's own timers: their callbacks run as calls from the server (errors logged, bounded
      // by the watchdog) and they are cleared when the app stops (reload, deletion, server stop)
      setTimeout: (fn: (...a: unknown[]) => unknown, ms?: number, ...args: unknown[]) => {
        const h = setTimeout(() => {
          timers.delete(h);
          engine.entry(fn, undefined, args, 'setTimeout');
        }, ms);
        timers.add(h);
        return h;
      },
      setInterval: (fn: (...a: unknown[]) => unknown, ms?: number, ...args: unknown[]) => {
        const h = setInterval(() => engine.entry(fn, undefined, args, 'setInterval'), ms);
        timers.add(h);
        return h;
      },
      setImmediate: (fn: (...a: unknown[]) => unknown, ...args: unknown[]) => {
        const h = setImmediate(() => {
          timers.delete(h);
          engine.entry(fn, undefined, args, 'setImmediate');
        });
        timers.add(h);
        return h;
      },
      clearTimeout: (h: NodeJS.Timeout) => {
        timers.delete(h);
        clearTimeout(h);
      },
      clearInterval: (h: NodeJS.Timeout) => {
        timers.delete(h);
        clearInterval(h);
      },
      clearImmediate: (h: NodeJS.Immediate) => {
        timers.delete(h);
        clearImmediate(h);
      },
    };
    this.scopeCache = scope as Scope;
    return this.scopeCache;
  }

  /** The app's exports (its "globals" for other apps and the runtime). */
  exports(): Record<string, unknown> | null {
    const e = this.main?.exports;
    return e !== null && (typeof e === 'object' || typeof e === 'function') ? (e as Record<string, unknown>) : null;
  }

  run(code: Buffer, chunkName: string): void {
    this.stopTimers();
    this.modules.reset();
    this.main = null;
    const file = `${this.app.dir}/${chunkName.slice(chunkName.lastIndexOf('/') + 1)}`;
    this.main = this.modules.run(code, file, chunkName);
  }

  callEvent<C>(name: string, write: ArgWriter<C> | null, ctx: C, results: boolean): CallResult {
    const exports = this.exports();
    if (!exports) return null;
    const fn = exports[name];
    if (typeof fn !== 'function') return null;
    const r = this.engine.call(fn, undefined, write, ctx, results, name);
    return r instanceof Promise ? this.engine.unawaited(r) : r;
  }

  /** Runs `code` as a function body in the app's scope (`exports` is the main module's); its return value. */
  evaluate(code: string, chunkName: string): Value[] {
    const source = Buffer.from(`module.exports = (function () {${code}\n}).call(this);`);
    const record = this.modules.run(source, `${this.app.dir}/${chunkName}`, chunkName, this.exports() ?? {});
    return resultValues(record.exports);
  }

  global(name: string): Value | typeof APP_FUNCTION | undefined {
    const exports = this.exports();
    if (!exports || !(name in exports)) return undefined;
    const v = exports[name];
    if (v === undefined) return undefined;
    return typeof v === 'function' ? APP_FUNCTION : fromScript(v);
  }

  unlink(): void {
    this.stopTimers();
    this.modules.reset();
    this.main = null;
    this.engine.forget(this);
  }

  stopTimers(): void {
    for (const h of this.timers) {
      clearTimeout(h as NodeJS.Timeout);
      clearImmediate(h as NodeJS.Immediate);
    }
    this.timers.clear();
  }
}

export class JSEngine implements ScriptEngine, ObjectsHost {
  readonly name = 'js';
  readonly version = `V8 ${process.versions.v8} (Node.js ${process.versions.node})`;
  readonly objects: ScriptObjects;
  readonly data: JSData;
  /** chunk names of compiled script files: stack frames in them are the scripts' */
  readonly scriptFiles = new Set<string>();
  private readonly apps = new Map<App, JSApp>();
  private readonly appObjects = new WeakMap<App, object>();
  private monaObject: unknown = null;
  private logs: Record<string, unknown> | null = null;
  private readonly watchdog: Watchdog;
  private closed = false;

  constructor(readonly runtime: Runtime) {
    this.objects = new ScriptObjects(this);
    this.data = new JSData(runtime.data);
    this.watchdog = new Watchdog(runtime.ctx.logger, (what, stack, inScript) => this.runaway(what, stack, inScript));
    if (LIVE_ENGINES.size === 0) process.on('unhandledRejection', onUnhandled);
    LIVE_ENGINES.add(this);
  }

  get callBudgetMs(): number {
    return this.watchdog.budgetMs;
  }

  set callBudgetMs(ms: number) {
    // a JavaScript handler past its budget cannot be stopped alone: the server exits (see
    // watchdog.ts), so the short per-request budget of Lua calls would make a slow but finite
    // handler fatal; JavaScript keeps a floor of its own
    this.watchdog.budgetMs = ms === 0 ? 0 : Math.max(ms, JS_BUDGET_FLOOR_MS);
  }

  createApp(app: App): AppInstance {
    const instance = new JSApp(this, app);
    this.apps.set(app, instance);
    return instance;
  }

  forget(instance: JSApp): void {
    if (this.apps.get(instance.app) === instance) this.apps.delete(instance.app);
  }

  // ---- calls from the server ----

  callMethod<T extends object, C>(cls: ObjectClass<T>, obj: T, name: string, write: ArgWriter<C> | null, ctx: C, results: boolean): CallResult | PendingResult {
    const entry = this.objects.entry(obj);
    if (entry === undefined || entry.cls !== cls) return null;
    const so = entry.so as Record<string, unknown>;
    // functions scripts stored on the object itself: properties and methods of the API are never called
    if (!hasOwn.call(so, name)) return null;
    const fn = so[name];
    if (typeof fn !== 'function') return null;
    return this.call(fn, so, write, ctx, results, name);
  }

  /** Calls a script function from the server: its results, or a Promise of them when it returned one. */
  call<C>(fn: Function, self: unknown, write: ArgWriter<C> | null, ctx: C, results: boolean, what: string): Value[] | PendingResult {
    let args: unknown[] = [];
    if (write) {
      const out = new JSOut(this.objects);
      write(out, ctx);
      args = out.values;
    }
    let r: unknown;
    try {
      r = this.watchdog.run(what, () => fn.apply(self, args));
    } catch (e) {
      throw this.scriptError(e);
    }
    if (isThenable(r)) {
      return Promise.resolve(r).then(
        (v) => (results ? resultValues(v) : NO_RESULTS),
        (e: unknown) => {
          throw this.scriptError(e);
        },
      );
    }
    return results ? resultValues(r) : NO_RESULTS;
  }

  /** A Promise whose result nobody waits for: a rejection is logged. */
  unawaited(p: PendingResult): Value[] {
    p.then(undefined, (e: unknown) => this.runtime.logError(e));
    return [];
  }

  /** A script callback the server calls from the event loop (timers): errors logged, Promises watched. */
  entry(fn: (...a: unknown[]) => unknown, self: unknown, args: unknown[], what: string): void {
    if (this.closed || typeof fn !== 'function') return;
    let r: unknown;
    try {
      r = this.watchdog.run(what, () => fn.apply(self, args));
    } catch (e) {
      this.runtime.logError(this.scriptError(e));
      return;
    }
    if (isThenable(r)) Promise.resolve(r).then(undefined, (e: unknown) => this.runtime.logError(this.scriptError(e)));
  }

  /** A module's top-level code: bounded like a call. */
  runTop(fn: () => void): void {
    try {
      this.watchdog.run('module', fn);
    } catch (e) {
      throw this.scriptError(e);
    }
  }

  // ---- ObjectsHost ----

  api<R>(fn: () => R): R {
    return this.watchdog.outside(fn);
  }

  where(): string {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 64;
    const stack = new Error().stack;
    Error.stackTraceLimit = limit;
    return this.position(stack) ?? '';
  }

  display(v: unknown): string {
    if (typeof v === 'string') return v;
    if (Buffer.isBuffer(v)) return v.toString('latin1');
    if (v === null || v === undefined || typeof v !== 'object') return String(v);
    const e = entryOf(v);
    if (e) return String(v);
    return util.inspect(v, { depth: 4, breakLength: Infinity });
  }

  // ---- objects ----

  knows(obj: object): boolean {
    return this.objects.knows(obj);
  }

  release(obj: object): void {
    this.objects.release(obj);
  }

  mona(): unknown {
    this.monaObject ??= this.objects.scriptObject(this.runtime.mona.cls, this.runtime.mona.obj);
    return this.monaObject;
  }

  /** FATAL...TRACE: the runtime's log functions over a script's arguments. */
  logFunctions(): Record<string, unknown> {
    if (this.logs) return this.logs;
    const logs: Record<string, unknown> = {};
    for (const [name, fn] of Object.entries(this.runtime.globals)) {
      logs[name] = (...args: unknown[]) => {
        this.api(() => fn(new JSArgs(this, args), new JSOut(this.objects)));
      };
    }
    this.logs = logs;
    return logs;
  }

  /**
   * The object scripts see for an app (`app`, `app.super`, `app.children`): `name`, `path`,
   * `super`, `children` (loaded ones, a Map by name), `child(rel)` (loads it), `data`; any other key
   * is the app's export, else its nearest parent's (whatever their languages).
   */
  appObject(app: App): object {
    const known = this.appObjects.get(app);
    if (known) return known;
    const target = Object.create(null) as Record<string, unknown>;
    const self = this;
    const o = new Proxy(target, {
      get(_t, key) {
        switch (key) {
          case 'name':
            return app.name;
          case 'path':
            return app.path;
          case 'super':
            return app.parent ? self.appObject(app.parent) : null;
          case 'children': {
            const m = new Map<string, object>();
            for (const [n, c] of app.children) if (c.alive) m.set(n, self.appObject(c));
            return m;
          }
          case 'child':
            return (rel: string) => {
              const c = self.api(() => self.runtime.descendant(app, String(rel)));
              return c ? self.appObject(c) : null;
            };
          case 'data':
            return self.data.view(self.runtime.data.appPath(app.path));
          case 'toString':
            return () => `application ${app.path || '/'}`;
          case Symbol.toStringTag:
            return 'App';
          case util.inspect.custom:
            return () => `[application ${app.path || '/'}]`;
        }
        return typeof key === 'string' ? self.lookup(app, key) : undefined;
      },
      set(_t, key) {
        throw new TypeError(`application ${app.path || '/'}: ${String(key)} is read-only (an app sets its own values by exporting them)`);
      },
      has(_t, key) {
        return typeof key === 'string' && self.lookup(app, key) !== undefined;
      },
    });
    opaque.add(o);
    this.appObjects.set(app, o);
    return o;
  }

  /** `key` of `app`, else of its nearest parent having it. */
  private lookup(app: App, key: string): unknown {
    for (let a: App | null = app; a; a = a.parent) {
      const instance = a.instance;
      if (!instance) continue;
      if (instance instanceof JSApp && instance.engine === this) {
        const exports = instance.exports();
        if (exports && key in exports) return exports[key];
        continue;
      }
      const v = this.api(() => instance.global(key));
      if (v === undefined) continue;
      if (v !== APP_FUNCTION) return toScript(v);
      const owner = a;
      // a function of an app in another engine: called there, in its own app
      return (...args: unknown[]) =>
        this.api(() => {
          let r: CallResult;
          try {
            r = this.runtime.callApp(owner, key, writeScriptArgs, args);
          } catch (e) {
            throw new APIError(e instanceof Error ? e.message : String(e));
          }
          return r ? scriptResult(r) : undefined;
        });
    }
    return undefined;
  }

  // ---- errors ----

  /** A script's exception as a ScriptError "file:line: message" (the innermost script frame). */
  scriptError(e: unknown): ScriptError {
    if (e instanceof ScriptError) return e;
    if (e instanceof Error) {
      const where = this.position(e.stack);
      const text = e.name && e.name !== 'Error' && !(e instanceof APIError) ? `${e.name}: ${e.message}` : e.message;
      return new ScriptError(where ? `${where}: ${text}` : text);
    }
    return new ScriptError(e === undefined || e === null ? 'nil' : String(e));
  }

  /** "file:line" of the first stack frame in a script file, or null. */
  position(stack: string | undefined): string | null {
    if (!stack) return null;
    for (const line of stack.split('\n')) {
      const m = /^\s+at (?:.*? \()?(.+?):(\d+):\d+\)?$/.exec(line);
      if (m && this.scriptFiles.has(m[1])) return `${m[1]}:${m[2]}`;
    }
    return null;
  }


  /** A handler ran past its budget: said at FATAL before the process exits (watchdog.ts says why). */
  private runaway(what: string, stack: StackFrame[], inScript: boolean): void {
    const script = stack.find((f) => this.scriptFiles.has(f.file));
    const where = script ? `${script.file}:${script.line}` : 'Scripts';
    const frames = stack
      .filter((f) => this.scriptFiles.has(f.file))
      .map((f) => `${f.fn || '(anonymous)'} ${f.file}:${f.line}`)
      .join(' < ');
    this.runtime.ctx.logger.fatal(
      where,
      `JavaScript ${what} still running after ${this.watchdog.budgetMs} ms${inScript ? '' : ' (stopped in the server code it called)'}: the server exits (${RUNAWAY_EXIT_CODE}) to be restarted; script stack: ${frames || 'none'}`,
    );
    this.runtime.data.flushSync();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const app of this.apps.values()) app.stopTimers();
    this.apps.clear();
    this.objects.clear();
    this.watchdog.close();
    LIVE_ENGINES.delete(this);
    if (LIVE_ENGINES.size === 0) process.removeListener('unhandledRejection', onUnhandled);
  }
}

/** JavaScript and TypeScript apps: a folder holding main.ts or main.js (main.ts first). */
export function jsEngineEntry(): EngineEntry {
  return {
    name: 'js',
    mainFile: 'main.ts',
    otherMainFiles: ['main.js'],
    create: (runtime) => new JSEngine(runtime),
  };
}
