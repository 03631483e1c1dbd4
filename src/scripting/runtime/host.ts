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
  HTTP_READ,
  RTMFP_RENDEZVOUS,
  SCRIPT_HANDLERS,
  type HookKey,
  type HookProvider,
  type HTTPReadHook,
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
import { ScriptError, type ArgWriter, type CallResult, type EngineEntry, type ScriptEngine } from './engine';
import type { GlobalFunction, ObjectClass } from './model';
import { createMona, logFunctions, type MonaObject } from './mona';
import { ApiObjects, type ObjectsHost } from './objects';
import type { Runtime, ScriptFile } from './runtime';

/** How often main files are looked at when apps are used (hot reload), in ms. */
const RELOAD_CHECK_MS = 1000;
/** onManage period (every 2 s) */
const MANAGE_MS = 2000;
/** default longest time one call into scripts may run */
const CALL_BUDGET_MS = 10_000;

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

export class ScriptHost implements AppHost, HookProvider, HTTPReadHook, RTMFPRendezvousHooks, ScriptHandlerHooks, Runtime, ObjectsHost {
  readonly objects: ApiObjects;
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
  private budgetMs = CALL_BUDGET_MS;
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
    this.mona = createMona(ctx, this.objects);
    this.globals = logFunctions(ctx);
    this.data = new DataBinding(ctx.dataDir, ctx.logger);
  }

  get wwwDir(): string {
    return this.ctx.wwwDir;
  }

  /** ms one call from the server into scripts may run before it is interrupted (every engine) */
  get callBudgetMs(): number {
    return this.budgetMs;
  }

  set callBudgetMs(ms: number) {
    this.budgetMs = ms;
    for (const e of this.engineList) e.callBudgetMs = ms;
  }

  private engineFor(entry: EngineEntry): ScriptEngine {
    let engine = this.engines.get(entry);
    if (!engine) {
      engine = entry.create(this);
      engine.callBudgetMs = this.budgetMs;
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
    if (this.manageTimer) clearInterval(this.manageTimer);
    this.manageTimer = null;
    // children first, root last: as MonaServer unloads
    const all = [...this.apps.values()].sort((a, b) => b.path.length - a.path.length);
    for (const app of all) this.stopApp(app);
    for (const app of all) app.alive = false;
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
    const entry = this.entryOf.get(app) as EngineEntry;
    const main = app.findMain(this.entries) === entry ? path.join(app.dir, entry.mainFile) : null;
    app.stamp = main ? fileStamp(main) : null;
    app.mainName = main ? entry.mainFile : null;
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
        try {
          app.instance.run(code, this.chunkName(main));
        } catch (e) {
          this.logError(e);
        }
      }
    }
    this.ctx.logger.debug('Scripts', `application ${app.path || '/'} started`);
    this.event(app, 'onStart', writeText, app.path);
  }

  private stopApp(app: App): void {
    if (!app.alive) return;
    this.event(app, 'onStop', writeText, app.path);
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
    const main = app.findMain(this.entries) === entry ? entry.mainFile : null;
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
    for (let a: App | null = app; a; a = a.parent) {
      const instance = a.instance;
      if (!instance) continue;
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
  }

  /**
   * Calls `obj:name(...)` where `name` is a function scripts stored on obj's script object (in any
   * engine that knows obj): null when none has one. Errors as for event().
   */
  method<T extends object, C>(cls: ObjectClass<T>, obj: T, name: string, write: ArgWriter<C> | null, ctx: C, rethrow = false, results = true): CallResult {
    const engines = this.engineList;
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
    return this.method(this.objects.client, client, name, write, ctx, rethrow);
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

  call(client: Client, method: string, args: Value[]): Value[] {
    let r: CallResult;
    try {
      r = this.method(this.objects.client, client, method, writeValues, args, true);
    } catch (e) {
      this.logError(e); // the operator sees it too, not only the caller
      throw new CallFailed(e instanceof Error ? e.message : String(e));
    }
    if (r === null) throw new MethodNotFound(method);
    return r;
  }

  /**
   * Data without a method name → `client:onMessage(...)`. No handler: ignored ([]), as MonaServer.
   * A script error is logged and thrown as CallFailed (HTTP/WebSocket answer it to the peer).
   */
  onMessage(client: Client, args: Value[]): Value[] {
    let r: CallResult;
    try {
      r = this.method(this.objects.client, client, 'onMessage', writeValues, args, true);
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
    return k === HTTP_READ || k === RTMFP_RENDEZVOUS || k === SCRIPT_HANDLERS ? (this as unknown as T) : undefined;
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
    const name = r[0];
    const template = r[1] instanceof Table ? r[1] : null;
    if (name === null || name === false) return { file: null, template: null };
    return { file: typeof name === 'string' ? name : Buffer.isBuffer(name) ? name.toString('utf8') : String(name), template };
  }

  onHandshake(address: string, urlPath: string, properties: Table, attempts: number): string[] {
    const app = this.app(this.resolve(urlPath).app) ?? this.root;
    if (!app) return [];
    return addressesOf(this.event(app, 'onHandshake', writeValues, [address, urlPath, properties, attempts]));
  }

  onRendezVousUnknown(protocol: string, peerId: string): string[] {
    if (!this.root) return [];
    return addressesOf(this.event(this.root, 'onRendezVousUnknown', writeValues, [protocol, peerId]));
  }
}

/** The text of a script refusal without its "file:line: " prefix (shown to the peer). */
function refusalText(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  if (message === 'nil') return '';
  return message.replace(/^[^\n]*?:\d+: /, '');
}

/** Redirection results: strings, arrays of strings (nested once), "again". */
function addressesOf(r: CallResult): string[] {
  const out: string[] = [];
  const add = (v: Value): void => {
    if (typeof v === 'string') out.push(v);
    else if (Buffer.isBuffer(v)) out.push(v.toString('utf8'));
    else if (v instanceof Table) for (const x of v.items) if (typeof x === 'string') out.push(x);
  };
  for (const v of r ?? []) add(v);
  return out;
}
