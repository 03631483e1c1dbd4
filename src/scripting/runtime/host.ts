/**
 * The script runtime, engine-neutral: implements core's AppHost (and the HTTP and
 * RTMFP hooks) over an app tree whose apps may run in different engines (one per language, each a
 * binding behind engine.ts). It owns the tree (apps by path, parents and children, first-use loading,
 * hot reload, unload), dispatches events with fallback to the parent app (across engines: an app's
 * own handler first, then its parent's, whatever their languages), turns script errors into the
 * documented refusals, and routes publications' media to scripts.
 *
 * Script errors are caught here, logged with file:line and turned into refusals only where the API
 * says so (onConnection, RPC, onPublish, onSubscribe, onRead); they never reach the protocol loop.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FolderHost, type AppHost, type ReadDecision, type ResolvedPath } from '../../core/app-host';
import {
  GROUP_EVENTS,
  HTTP_READ,
  RECORDING,
  RTMFP_RENDEZVOUS,
  SCRIPT_HANDLERS,
  type GroupHooks,
  type HookKey,
  type HookProvider,
  type HTTPReadHook,
  type RecordingHooks,
  type RTMFPRendezvousHooks,
  type ScriptHandlerHooks,
} from '../../core/app-hooks';
import type { Client } from '../../core/client';
import type { ServerContext } from '../../core/context';
import { CallFailed, ConnectionRejected, InvalidApp, MethodNotFound, StreamRefused } from '../../core/errors';
import type { Listener } from '../../core/listener';
import type { MediaFrame } from '../../core/media';
import type { Publication, PublicationObserver } from '../../core/publication';
import type { Writer } from '../../core/writer';
import { Table, type Value } from '../../serialization/value';
import { App, fileStamp } from './app';
import { DataBinding } from './data';
import { APP_FUNCTION, ScriptError, type ArgWriter, type CallResult, type EngineEntry, type PendingResult, type ScriptEngine } from './engine';
import type { GlobalFunction, ObjectClass } from './model';
import { createMona, logFunctions, type MonaObject } from './mona';
import { ApiObjects, type ObjectsHost } from './objects';
import type { Runtime, ScriptFile } from './runtime';
import { ScriptSockets, type SocketsHost } from '../sockets/sockets';
import { ServerObjects } from './servers';
import { GroupObjects } from './groups';
import type { Group } from '../../core/groups';
import { ServerRejected, type PeerServer, type Redirection, type ServerEvents } from '../../core/servers';

/** How often main files are looked at when apps are used (hot reload), in ms. */
const RELOAD_CHECK_MS = 1000;
/** onManage period (every 2 s) */
const MANAGE_MS = 2000;
/** default longest time one call into scripts may run */
/** defaults when the configuration has no [scripts] section (script hosts made by tests) */
const CALL_BUDGET_MS = 500;
const START_BUDGET_MS = 10_000;

// argument writers: static functions taking their context, so that no closure is made per call
const writeText: ArgWriter<string> = (out, s) => out.text(s);
const writeValues: ArgWriter<readonly Value[]> = (out, values) => {
  out.reserve(values.length);
  for (const v of values) out.value(v);
};
const writeMedia: ArgWriter<MediaFrame> = (out, frame) => {
  out.number(frame.time);
  out.sharedBytes(frame.payload);
};
const writeData: ArgWriter<MediaFrame> = (out, frame) => {
  out.sharedBytes(frame.payload);
  out.text(frame.dataType);
};

export class ScriptHost implements AppHost, HookProvider, HTTPReadHook, RTMFPRendezvousHooks, GroupHooks, RecordingHooks, ScriptHandlerHooks, Runtime, ObjectsHost, SocketsHost {
  readonly objects: ApiObjects;
  /** the script sockets (mona:createTCPClient...), closed with the app that made them */
  readonly sockets: ScriptSockets;
  /** mona.servers and the server objects of the cluster link */
  readonly servers: ServerObjects;
  /** mona.groups, groups, members */
  readonly groups: GroupObjects;
  /** stops hearing the cluster registry */
  private unsubscribeServers: (() => void) | null = null;
  readonly mona: { readonly cls: ObjectClass<MonaObject>; readonly obj: MonaObject };
  readonly globals: Readonly<Record<string, GlobalFunction>>;
  readonly data: DataBinding;
  /** writers made by newWriter() that scripts hold: their onManage runs every 2 s */
  readonly managedWriters = new Set<Writer>();
  private readonly apps = new Map<string, App>();
  private root: App | null = null;
  /** engines made so far, by entry (an engine is made when the first app of its language loads) */
  private readonly engines = new Map<EngineEntry, ScriptEngine>();
  /** the same engines as a list: walked per media frame, without an iterator */
  private engineList: ScriptEngine[] = [];
  /** the entry an app runs in */
  private readonly entryOf = new WeakMap<App, EngineEntry>();
  /** publications whose media reach scripts: the function that stops it */
  private readonly observed = new Map<Publication, () => void>();
  private manageTimer: NodeJS.Timeout | null = null;
  private running = false;
  /** ms a call a client triggers may run ([scripts] budget) */
  private budgetMs: number;
  /** ms loading an app, onStart/onStop and onManage may run ([scripts] startBudget) */
  private readonly startBudgetMs: number;
  /** the budget the engines apply now: budgetMs, or startBudgetMs inside longCalls() */
  private currentBudget: number;
  /** the app whose script runs now: what a socket made now belongs to */
  private calling: App | null = null;
  /** www/ folder rules (which paths are apps), shared with core's script-less host */
  private readonly folders: FolderHost;

  // argument writers that need the object model
  private readonly writeClient: ArgWriter<Client> = (out, c) => out.object(this.objects.client, c);
  private readonly writeClientAndValues: ArgWriter<{ client: Client; args: readonly Value[] }> = (out, x) => {
    out.reserve(x.args.length + 1);
    out.object(this.objects.client, x.client);
    for (const v of x.args) out.value(v);
  };
  private readonly writePublication: ArgWriter<Publication> = (out, p) => this.objects.writePublication(out, p);
  private readonly writeListener: ArgWriter<Listener> = (out, l) => out.object(this.objects.listener, l);

  constructor(
    readonly ctx: ServerContext,
    /** the languages, in the order their main files are looked for in an app folder (the first is the default) */
    private readonly entries: readonly EngineEntry[],
  ) {
    if (entries.length === 0) throw new Error('ScriptHost needs at least one engine');
    this.folders = new FolderHost(ctx.wwwDir);
    this.objects = new ApiObjects(this);
    this.sockets = new ScriptSockets(this);
    this.servers = new ServerObjects(ctx);
    this.groups = new GroupObjects(ctx, this.sockets, (out, c) => out.object(this.objects.client, c));
    this.mona = createMona(ctx, this.objects, this.sockets, this.servers, this.groups);
    this.globals = logFunctions(ctx);
    this.data = new DataBinding(ctx.dataDir, ctx.logger);
    const limits = ctx.config.scripts ?? { budget: CALL_BUDGET_MS, startBudget: START_BUDGET_MS };
    this.budgetMs = this.currentBudget = limits.budget;
    this.startBudgetMs = limits.startBudget;
  }

  get wwwDir(): string {
    return this.ctx.wwwDir;
  }

  get logger(): ServerContext['logger'] {
    return this.ctx.logger;
  }

  /**
   * The app whose script runs now (the app of the event, of the client whose method runs, of the
   * socket whose event runs); the root app while none is known (code evaluated from outside).
   */
  currentApp(): App | null {
    return this.calling ?? this.root;
  }

  /** ms one call from the server into scripts may run before it is interrupted (every engine) */
  get callBudgetMs(): number {
    return this.budgetMs;
  }

  set callBudgetMs(ms: number) {
    this.budgetMs = ms;
    this.applyBudget(ms);
  }

  private applyBudget(ms: number): void {
    this.currentBudget = ms;
    for (const e of this.engineList) e.callBudgetMs = ms;
  }

  /**
   * Runs `fn` (loading an app, onStart/onStop, onManage: work of the server's own, not of one
   * client's request) under the longer start budget.
   */
  private longCalls<T>(fn: () => T): T {
    if (this.currentBudget === this.startBudgetMs) return fn();
    const saved = this.currentBudget;
    this.applyBudget(this.startBudgetMs);
    try {
      return fn();
    } finally {
      this.applyBudget(saved);
    }
  }

  private engineFor(entry: EngineEntry): ScriptEngine {
    let engine = this.engines.get(entry);
    if (!engine) {
      engine = entry.create(this);
      engine.callBudgetMs = this.currentBudget;
      this.engines.set(entry, engine);
      this.engineList = [...this.engines.values()];
      this.ctx.logger.info('Scripts', `${entry.name} apps run on ${engine.version}`);
    }
    return engine;
  }

  // ---- AppHost: tree ----

  /** Same tree rule as script-less hosting: an app is a safe path naming a folder under www/. */
  exists(appPath: string): boolean {
    return this.folders.exists(appPath);
  }

  resolve(urlPath: string): ResolvedPath {
    return this.folders.resolve(urlPath);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    fs.mkdirSync(this.wwwDir, { recursive: true });
    this.data.load();
    // before the server link runs (the server starts us first): no server connection is missed
    this.unsubscribeServers = this.ctx.servers.subscribe(this.serverEvents);
    this.ctx.servers.runningApps = () => this.loadedApps();
    this.app('');
    this.manageTimer = setInterval(() => this.manage(), MANAGE_MS);
    this.manageTimer.unref();
    process.on('exit', this.exitFlush);
  }

  /** A process ending without stop() (uncaught error, process.exit) still writes queued data. */
  private readonly exitFlush = (): void => this.data.flushSync();

  async stop(): Promise<void> {
    if (!this.running) return;
    process.removeListener('exit', this.exitFlush);
    this.unsubscribeServers?.();
    this.unsubscribeServers = null;
    if (this.manageTimer) clearInterval(this.manageTimer);
    this.manageTimer = null;
    // children first, root last: as MonaServer unloads
    const all = [...this.apps.values()].sort((a, b) => b.path.length - a.path.length);
    for (const app of all) this.stopApp(app);
    for (const app of all) app.alive = false;
    this.sockets.closeAll();
    this.apps.clear();
    this.root = null;
    this.running = false;
    for (const unobserve of this.observed.values()) unobserve();
    this.observed.clear();
    for (const engine of this.engineList) engine.close();
    this.engines.clear();
    this.engineList = [];
    await this.data.flush();
  }

  /** The loaded app for `appPath` (loading it and its parents on first use), or null if no such folder. */
  app(appPath: string): App | null {
    if (!this.running) return null;
    let app = this.apps.get(appPath);
    if (app) {
      // the app and the parents it inherits from: a parent's new main file counts too
      const chain: App[] = [];
      for (let a: App | null = app; a; a = a.parent) chain.unshift(a);
      for (const a of chain) if (a.alive) this.checkReload(a);
      return app.alive ? app : this.app(appPath);
    }
    if (!this.exists(appPath)) return null;
    const parentPath = appPath === '' ? null : appPath.slice(0, appPath.lastIndexOf('/'));
    const parent = parentPath === null ? null : this.app(parentPath);
    if (parentPath !== null && !parent) return null;
    app = new App(appPath, appPath === '' ? this.wwwDir : path.join(this.wwwDir, appPath), parent);
    this.apps.set(appPath, app);
    if (parent) parent.children.set(app.name, app);
    else this.root = app;
    this.createInstance(app);
    this.runMain(app);
    // servers of the cluster load the same app on their side (MonaServer's application list)
    if (app.alive && this.ctx.servers.count > 0) this.ctx.servers.announceApps([app.path]);
    return app;
  }

  /** Loaded apps, for tests and tools. */
  loadedApps(): string[] {
    return [...this.apps.keys()];
  }

  /** The language an app runs in: its main file's, else its parent's (an app without a main file behaves as its parent). */
  private entryFor(app: App): EngineEntry {
    const main = app.findMain(this.entries);
    if (main) return main;
    return (app.parent && this.entryOf.get(app.parent)) || this.entries[0];
  }

  private createInstance(app: App): void {
    const entry = this.entryFor(app);
    this.entryOf.set(app, entry);
    app.instance = this.engineFor(entry).createApp(app, app.parent?.instance ?? null);
  }

  // ---- Runtime services for the bindings ----

  descendant(app: App, rel: string): App | null {
    const segments = rel.split('/').filter((s) => s !== '');
    if (!segments.length || segments.some((s) => s === '.' || s === '..' || s.includes('\\'))) return null;
    return this.app(`${app.path}/${segments.join('/')}`);
  }

  readFile(app: App, file: string, requester: App): ScriptFile | null {
    const full = path.isAbsolute(file) ? file : path.join(app.dir, file);
    // stamp before the read: a write in between is seen as a change at the next check (one reload
    // too many, never a missed one)
    const stamp = fileStamp(full);
    let code: Buffer;
    try {
      code = fs.readFileSync(full);
    } catch {
      return null;
    }
    this.recordDep(requester, full, stamp);
    return { code, chunkName: this.chunkName(full) };
  }

  readApp(app: App, name: string): Value | typeof APP_FUNCTION | undefined {
    for (let a: App | null = app; a; a = a.parent) {
      const v = a.instance?.global(name);
      if (v !== undefined) return v;
    }
    return undefined;
  }

  callApp<C>(app: App, name: string, write: ArgWriter<C> | null, ctx: C): CallResult {
    return this.event(app, name, write, ctx, true);
  }

  nativeError(e: unknown): void {
    this.ctx.logger.debug('Scripts', `JS error in a script call: ${e instanceof Error ? e.stack : String(e)}`);
  }

  /** A file `app` loaded: watched for hot reload when it lies in the app tree (own or parent folders). */
  private recordDep(app: App, full: string, stamp: string | null): void {
    const rel = path.relative(this.wwwDir, full);
    if (rel.startsWith('..') || path.isAbsolute(rel)) return;
    // the first stamp stays: a later load of a changed file must still trigger the reload
    if (!app.deps.has(full)) app.deps.set(full, stamp);
  }

  /** "www/Games/main.lua": file names in script messages, relative to the application folder. */
  chunkName(file: string): string {
    const rel = path.relative(path.dirname(this.wwwDir), file);
    return rel.startsWith('..') ? file : rel.split(path.sep).join('/');
  }

  // ---- app life ----

  /** Runs the main file (if any) in a clean environment, then onStart(path). */
  private runMain(app: App): void {
    this.longCalls(() => this.runMainNow(app));
  }

  private runMainNow(app: App): void {
    const entry = this.entryOf.get(app) as EngineEntry;
    const hidden: string[] = [];
    const found = app.mainFile(this.entries, hidden);
    const main = found?.entry === entry ? path.join(app.dir, found.file) : null;
    if (found && hidden.length) {
      this.ctx.logger.warn('Scripts', `application ${app.path || '/'}: ${found.file} runs, ${hidden.join(', ')} ignored (one main file per app)`);
    }
    app.stamp = main ? fileStamp(main) : null;
    app.mainName = main ? (found as { file: string }).file : null;
    app.deps.clear();
    app.lastCheck = Date.now();
    if (main && app.stamp !== null && app.instance) {
      let code: Buffer | null = null;
      try {
        code = fs.readFileSync(main);
      } catch (e) {
        this.ctx.logger.error('Scripts', `cannot read ${main}: ${(e as Error).message}`);
      }
      if (code) {
        const previous = this.calling;
        this.calling = app;
        try {
          app.instance.run(code, this.chunkName(main));
        } catch (e) {
          this.logError(e);
        } finally {
          this.calling = previous;
        }
      }
    }
    this.ctx.logger.debug('Scripts', `application ${app.path || '/'} started`);
    this.event(app, 'onStart', writeText, app.path);
  }

  private stopApp(app: App): void {
    if (!app.alive) return;
    this.longCalls(() => this.event(app, 'onStop', writeText, app.path));
    this.ctx.logger.debug('Scripts', `application ${app.path || '/'} stopped`);
  }

  /** Hot reload: the main file or a file it loaded changed → onStop, rerun, onStart; folder gone → unload. */
  private checkReload(app: App, force = false): void {
    const now = Date.now();
    if (!force && now - app.lastCheck < RELOAD_CHECK_MS) return;
    app.lastCheck = now;
    if (app.path !== '' && !app.folderExists()) {
      this.unload(app, 'folder deleted');
      return;
    }
    const entry = this.entryFor(app);
    const found = app.mainFile(this.entries);
    const main = found?.entry === entry ? found.file : null;
    const stamp = main ? fileStamp(path.join(app.dir, main)) : null;
    let why: string;
    if (main !== app.mainName || stamp !== app.stamp) {
      const name = main ?? app.mainName ?? 'main file';
      why = `${name} ${main === null ? 'removed' : app.mainName === null || main === app.mainName ? 'changed' : 'added'}`;
    } else {
      // a file it loaded with require/dofile/loadfile
      const dep = app.changedDep();
      if (dep === null) return;
      why = `${this.chunkName(dep)} changed`;
    }
    this.ctx.logger.info('Scripts', `application ${app.path || '/'} reloaded (${why})`);
    this.stopApp(app);
    this.sockets.closeApp(app);
    if (entry !== this.entryOf.get(app)) {
      // another language now: a new instance, and the loaded children (linked to the old one) load again on use
      for (const child of [...app.children.values()]) this.unload(child, `its parent ${app.path || '/'} changed language`);
      app.instance?.unlink();
      this.createInstance(app);
    }
    this.runMain(app);
  }

  private unload(app: App, reason: string): void {
    for (const child of [...app.children.values()]) this.unload(child, reason);
    this.stopApp(app);
    this.sockets.closeApp(app);
    app.alive = false;
    this.apps.delete(app.path);
    app.parent?.children.delete(app.name);
    try {
      app.instance?.unlink();
    } catch (e) {
      this.logError(e);
    }
    app.instance = null;
    this.ctx.logger.info('Scripts', `application ${app.path} unloaded (${reason})`);
  }

  private manage(): void {
    this.longCalls(() => this.manageNow());
  }

  private manageNow(): void {
    for (const app of [...this.apps.values()]) if (app.alive) this.checkReload(app, true);
    if (this.root) this.event(this.root, 'onManage', null, null);
    for (const w of [...this.managedWriters]) {
      if (w.closed) {
        this.managedWriters.delete(w);
        continue;
      }
      this.method(this.objects.writer, w, 'onManage', null, null);
    }
  }

  // ---- calling scripts ----

  /**
   * Calls the app's event `name`, defined by the app or else by its nearest parent defining it (in
   * whatever engine that parent runs). Returns its results, or null when no app of the chain
   * defines it. Errors are logged ([] returned), or rethrown as ScriptError when `rethrow`.
   */
  event<C>(app: App, name: string, write: ArgWriter<C> | null, ctx: C, rethrow = false, results = true): CallResult {
    const previous = this.calling;
    try {
      for (let a: App | null = app; a; a = a.parent) {
        const instance = a.instance;
        if (!instance) continue;
        // a parent's handler serving a child's event runs for the child (its sockets are the child's)
        this.calling = app;
        try {
          const r = instance.callEvent(name, write, ctx, results);
          if (r !== null) return r;
        } catch (e) {
          if (rethrow) throw e;
          this.logError(e);
          return [];
        }
      }
      return null;
    } finally {
      this.calling = previous;
    }
  }

  /**
   * Calls `obj:name(...)` where `name` is a function scripts stored on obj's script object (in any
   * engine that knows obj): null when none has one. Errors as for event().
   */
  method<T extends object, C>(cls: ObjectClass<T>, obj: T, name: string, write: ArgWriter<C> | null, ctx: C, rethrow = false, results = true, app: App | null = null): CallResult {
    const r = this.methodOrPending(cls, obj, name, write, ctx, rethrow, results, app);
    return r instanceof Promise ? this.unawaited(r, name) : r;
  }

  /**
   * A Promise a script's function returned where the API waits for nothing (every event but RPC):
   * the call counts as answered with no results; a rejection is logged as the script error it is.
   */
  private unawaited(p: PendingResult, name: string): Value[] {
    p.then(undefined, (e: unknown) => {
      this.logError(e);
      this.ctx.logger.debug('Scripts', `${name}: a Promise returned by a script settles after the event: its result is not used`);
    });
    return [];
  }

  /**
   * As method(), but a script's Promise (an async function) is given back as it is. `app`: the app
   * the call runs for (what a script makes during it belongs to that app).
   */
  private methodOrPending<T extends object, C>(cls: ObjectClass<T>, obj: T, name: string, write: ArgWriter<C> | null, ctx: C, rethrow: boolean, results: boolean, app: App | null = null): CallResult | PendingResult {
    const engines = this.engineList;
    const previous = this.calling;
    if (app) this.calling = app;
    try {
      for (let i = 0; i < engines.length; i++) {
        try {
          const r = engines[i].callMethod(cls, obj, name, write, ctx, results);
          if (r !== null) return r;
        } catch (e) {
          if (rethrow) throw e;
          this.logError(e);
          return [];
        }
      }
      return null;
    } finally {
      this.calling = previous;
    }
  }

  /** Logs a script error with its file:line as source. */
  logError(e: unknown): void {
    const message = e instanceof Error ? e.message : String(e);
    if (!(e instanceof ScriptError)) {
      this.ctx.logger.error('Scripts', e instanceof Error && e.stack ? e.stack : message);
      return;
    }
    const m = /^(.+?:\d+): ([\s\S]*)$/.exec(message);
    if (m) this.ctx.logger.error(m[1], m[2]);
    else this.ctx.logger.error('Scripts', message);
  }

  // ---- objects ----

  /** obj ended: every engine drops its script object. */
  release(obj: object): void {
    for (const engine of this.engineList) engine.release(obj);
  }

  /** Routes a publication's media to its script objects (`publication:onVideo(time, packet)`...) once a script has seen it. */
  watchPublication(p: Publication): void {
    if (this.observed.has(p) || !this.running) return;
    const media = (name: string, write: ArgWriter<MediaFrame>) => (frame: MediaFrame) => this.method(this.objects.publication, p, name, write, frame, false, false);
    const observer: PublicationObserver = {
      onAudio: media('onAudio', writeMedia),
      onVideo: media('onVideo', writeMedia),
      onData: media('onData', writeData),
      onFlush: () => this.method(this.objects.publication, p, 'onFlush', null, null, false, false),
    };
    this.observed.set(p, p.observe(observer));
  }

  private forgetPublication(p: Publication): void {
    this.observed.get(p)?.();
    this.observed.delete(p);
    this.objects.forgetPublication(p);
  }

  private knows(obj: object): boolean {
    for (const engine of this.engineList) if (engine.knows(obj)) return true;
    return false;
  }

  private clientApp(client: Client): App {
    const app = this.app(client.path);
    if (!app) throw new InvalidApp(client.path);
    return app;
  }

  private clientMethod<C>(client: Client, name: string, write: ArgWriter<C> | null, ctx: C, rethrow = false): CallResult {
    if (!client.connected && !this.knows(client)) return null;
    return this.method(this.objects.client, client, name, write, ctx, rethrow, true, this.apps.get(client.path) ?? null);
  }

  // ---- AppHost: events ----

  onConnection(client: Client, args: Value[]): Table | null {
    const app = this.clientApp(client);
    let results: CallResult;
    try {
      results = this.event(app, 'onConnection', this.writeClientAndValues, { client, args }, true);
    } catch (e) {
      this.objects.forgetClient(client);
      throw new ConnectionRejected(refusalText(e) || 'client rejected');
    }
    const first = results?.[0];
    return first instanceof Table ? first : null;
  }

  onDisconnection(client: Client): void {
    const app = this.apps.get(client.path) ?? this.app(client.path);
    if (app) this.event(app, 'onDisconnection', this.writeClient, client);
    this.objects.forgetClient(client);
  }

  onAddressChanged(client: Client, oldAddress: string): void {
    this.clientMethod(client, 'onAddressChanged', writeText, oldAddress);
  }

  call(client: Client, method: string, args: Value[]): Value[] | Promise<Value[]> {
    let r: CallResult | PendingResult;
    try {
      r = this.methodOrPending(this.objects.client, client, method, writeValues, args, true, true, this.apps.get(client.path) ?? null);
    } catch (e) {
      this.logError(e); // the operator sees it too, not only the caller
      throw new CallFailed(e instanceof Error ? e.message : String(e));
    }
    if (r === null) throw new MethodNotFound(method);
    if (!(r instanceof Promise)) return r;
    // an async function: the protocol answers when it settles
    return r.then(undefined, (e: unknown) => {
      this.logError(e);
      throw new CallFailed(e instanceof Error ? e.message : String(e));
    });
  }

  /**
   * Data without a method name → `client:onMessage(...)`. No handler: ignored ([]), as MonaServer.
   * A script error is logged and thrown as CallFailed (HTTP/WebSocket answer it to the peer).
   */
  onMessage(client: Client, args: Value[]): Value[] {
    let r: CallResult;
    try {
      r = this.method(this.objects.client, client, 'onMessage', writeValues, args, true, true, this.apps.get(client.path) ?? null);
    } catch (e) {
      this.logError(e);
      throw new CallFailed(e instanceof Error ? e.message : String(e));
    }
    if (r === null) this.ctx.logger.debug('Scripts', `${client.protocol} ${client.address}: data without onMessage handler ignored`);
    return r ?? [];
  }

  onPublish(client: Client | null, publication: Publication): void {
    this.watchPublication(publication);
    // not called for publications made by scripts (mona:publish), as MonaServer documents
    if (!client) return;
    let r: CallResult;
    try {
      r = this.clientMethod(client, 'onPublish', this.writePublication, publication, true);
    } catch (e) {
      throw new StreamRefused('Publish.Failed', refusalText(e) || `Not allowed to publish ${publication.name}`);
    }
    if (r && r.length > 0 && r[0] === false) throw new StreamRefused('Publish.Failed', `Not allowed to publish ${publication.name}`);
  }

  onUnpublish(client: Client | null, publication: Publication): void {
    if (client) this.clientMethod(client, 'onUnpublish', this.writePublication, publication);
    if (!publication.running && publication.listeners.size === 0) this.forgetPublication(publication);
  }

  onSubscribe(client: Client | null, listener: Listener): void {
    if (!client) return;
    let r: CallResult;
    try {
      r = this.clientMethod(client, 'onSubscribe', this.writeListener, listener, true);
    } catch (e) {
      this.objects.forgetListener(listener);
      throw new StreamRefused('Play.Failed', refusalText(e) || `Not authorized to play ${listener.publication.name}`);
    }
    if (r && r.length > 0 && r[0] === false) {
      this.objects.forgetListener(listener);
      throw new StreamRefused('Play.Failed', `Not authorized to play ${listener.publication.name}`);
    }
  }

  onUnsubscribe(client: Client | null, listener: Listener): void {
    if (client) this.clientMethod(client, 'onUnsubscribe', this.writeListener, listener);
    this.objects.forgetListener(listener);
    const pub = listener.publication;
    if (!pub.running && pub.listeners.size === 0) this.forgetPublication(pub);
  }

  // ---- protocol hooks ----

  hook<T extends object>(key: HookKey<T>): T | undefined {
    const k = key as HookKey<object>;
    return k === HTTP_READ || k === RTMFP_RENDEZVOUS || k === GROUP_EVENTS || k === RECORDING || k === SCRIPT_HANDLERS ? (this as unknown as T) : undefined;
  }

  // ---- groups (GROUP_EVENTS) ----

  private readonly writeGroup: ArgWriter<Group> = (out, g) => out.object(this.groups.group, g);

  onJoinGroup(client: Client, group: Group): void {
    this.clientMethod(client, 'onJoinGroup', this.writeGroup, group);
  }

  onUnjoinGroup(client: Client, group: Group): void {
    this.clientMethod(client, 'onUnjoinGroup', this.writeGroup, group);
    if (group.size() === 0) this.groups.forgetGroup(group);
  }

  /**
   * MonaServer2's `client:onWrite(file, params)`: true or nothing → `file`, a string → that name,
   * false/nil → refused (null), an error → refused with its message (CallFailed). No handler: allowed
   * (MonaServer2 refuses then; MonaServer 1 apps never had one, so recording works out of the box
   * and an app that must not let clients record says so in onWrite or onPublish).
   */
  onWrite(client: Client, file: string, params: Table): string | null {
    let r: CallResult;
    try {
      r = this.clientMethod(client, 'onWrite', writeValues, [file, params], true);
    } catch (e) {
      throw new CallFailed(refusalText(e) || `No authorization to write ${file}`);
    }
    if (r === null || r.length === 0 || r[0] === true) return file;
    const v = r[0];
    if (typeof v === 'string') return v;
    if (Buffer.isBuffer(v)) return v.toString('utf8');
    return null;
  }

  onRecord(publication: Publication, file: string): void {
    this.method(this.objects.publication, publication, 'onRecord', writeText, file);
  }

  onRecordStop(publication: Publication, file: string, info: Table): void {
    this.method(this.objects.publication, publication, 'onRecordStop', writeValues, [file, info]);
  }

  /** Whether some engine would run `obj:name()` (an engine that cannot tell counts as yes). */
  private hasMethod<T extends object>(cls: ObjectClass<T>, obj: T, name: string): boolean {
    for (const e of this.engineList) {
      if (!e.knows(obj)) continue;
      if (!e.hasMethod || e.hasMethod(cls, obj, name)) return true;
    }
    return false;
  }

  clientHandles(client: Client, name: string): boolean {
    return this.hasMethod(this.objects.client, client, name);
  }

  publicationHandlesMedia(p: Publication): boolean {
    const cls = this.objects.publication;
    return this.hasMethod(cls, p, 'onAudio') || this.hasMethod(cls, p, 'onVideo') || this.hasMethod(cls, p, 'onData') || this.hasMethod(cls, p, 'onFlush');
  }

  onRead(client: Client, file: string, params: Table): ReadDecision {
    let r: CallResult;
    try {
      r = this.clientMethod(client, 'onRead', writeValues, [file, params], true);
    } catch (e) {
      throw new CallFailed(refusalText(e) || `Access to ${file} refused`);
    }
    // no handler, or a handler that returned nothing: serve the file asked for
    if (r === null || r.length === 0) return { file, template: null };
    // a language with one result gives the name and the values as a list: [name, values]
    const pair = r.length === 1 && r[0] instanceof Table && r[0].fields.size === 0 && r[0].items.length === 2 && r[0].items[1] instanceof Table;
    if (pair) r = (r[0] as Table).items;
    const name = r[0];
    const template = r[1] instanceof Table ? r[1] : null;
    if (name === null || name === false) return { file: null, template: null };
    return { file: typeof name === 'string' ? name : Buffer.isBuffer(name) ? name.toString('utf8') : String(name), template };
  }

  onHandshake(address: string, urlPath: string, properties: Table, attempts: number): Redirection[] {
    const app = this.app(this.resolve(urlPath).app) ?? this.root;
    if (!app) return [];
    return this.servers.redirections(this.event(app, 'onHandshake', writeValues, [address, urlPath, properties, attempts]));
  }

  onRendezVousUnknown(protocol: string, peerId: string): Redirection[] {
    if (!this.root) return [];
    return this.servers.redirections(this.event(this.root, 'onRendezVousUnknown', writeValues, [protocol, peerId]));
  }

  // ---- the cluster (servers linked to this one) ----

  private readonly writeServer: ArgWriter<PeerServer> = (out, s) => out.object(this.servers.server, s);
  private readonly writeServerError: ArgWriter<{ server: PeerServer; error: string | null }> = (out, x) => {
    out.object(this.servers.server, x.server);
    if (x.error !== null) out.text(x.error);
  };

  /** The registry's events, as the root app's onServerConnection/onServerDisconnection and server:handler calls. */
  private readonly serverEvents: ServerEvents = {
    onServerConnection: (server) => {
      if (!this.root) return;
      try {
        this.event(this.root, 'onServerConnection', this.writeServer, server, true, false);
      } catch (e) {
        this.logError(e);
        throw new ServerRejected(refusalText(e) || 'server rejected');
      }
    },
    onServerMessage: (server, handler, args) => {
      const r = this.method(this.servers.server, server, handler, writeValues, args, false, false, this.root);
      if (r === null) this.ctx.logger.warn('Servers', `${server.address} calls ${handler}, which no server:${handler} function answers`);
    },
    onServerDisconnection: (server, error) => {
      if (this.root) this.event(this.root, 'onServerDisconnection', this.writeServerError, { server, error }, false, false);
      this.release(server);
    },
    // MonaServer loads the apps a server says it runs, so that their scripts can talk to each other
    onServerApps: (_server, paths) => {
      for (const p of paths) if (p === '' || this.exists(p)) this.app(p);
    },
  };
}

/** The text of a script refusal without its "file:line: " prefix (shown to the peer). */
function refusalText(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  if (message === 'nil') return '';
  return message.replace(/^[^\n]*?:\d+: /, '');
}

