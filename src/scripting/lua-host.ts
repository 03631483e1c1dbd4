/**
 * The Lua application layer (SPEC S2/S3): implements core's AppHost with one Lua state holding
 * every app of www/. Script errors are caught here, logged with file:line and turned into the
 * documented refusals only where the API says so (onConnection, RPC, onPublish, onSubscribe,
 * onRead); they never reach the protocol loop otherwise.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FolderHost, type AppHost, type ReadDecision, type ResolvedPath } from '../core/app-host';
import type { Client } from '../core/client';
import type { ServerContext } from '../core/context';
import { CallFailed, ConnectionRejected, InvalidApp, MethodNotFound, StreamRefused } from '../core/errors';
import type { Listener } from '../core/listener';
import type { Publication } from '../core/publication';
import type { Writer } from '../core/writer';
import { Table, type Value } from '../serialization/value';
import { Blacklist, installGlobals } from './api/globals';
import { ScriptObjects } from './api/objects';
import { App, fileStamp } from './app';
import { DataBinding } from './data-binding';
import { APPS_LUA } from './lua/apps-lua';
import { COMPAT_LUA } from './lua/compat';
import { lua } from './lua/fengari';
import { LuaError, LuaVM, luaName } from './lua/vm';

/** How often main.lua files are looked at when apps are used (hot reload), in ms. */
const RELOAD_CHECK_MS = 1000;
/** onManage period (SPEC S2/S3: every 2 s) */
const MANAGE_MS = 2000;

export class LuaHost implements AppHost {
  readonly vm = new LuaVM();
  readonly objects: ScriptObjects;
  readonly data: DataBinding;
  private readonly apps = new Map<string, App>();
  private root: App | null = null;
  private appsRef = -1;
  private manageTimer: NodeJS.Timeout | null = null;
  /** writers made by newWriter() that scripts hold: their onManage runs every 2 s */
  readonly managedWriters = new Set<Writer>();
  /** mona:addToBlacklist / removeFromBlacklist fill it; protocols ask isBlacklisted() */
  readonly blacklist = new Blacklist();
  private started = false;
  /** www/ folder rules (which paths are apps), shared with core's script-less host */
  private readonly folders: FolderHost;

  constructor(readonly ctx: ServerContext) {
    this.folders = new FolderHost(ctx.wwwDir);
    this.vm.onNativeError = (e) => this.ctx.logger.debug('Lua', `JS error in a script call: ${e instanceof Error ? e.stack : String(e)}`);
    this.objects = new ScriptObjects(this);
    this.data = new DataBinding(this);
    this.vm.run(COMPAT_LUA, '=compat');
    installGlobals(this);
    this.installApps();
  }

  get wwwDir(): string {
    return this.ctx.wwwDir;
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
    if (this.started) return;
    this.started = true;
    fs.mkdirSync(this.wwwDir, { recursive: true });
    this.data.load();
    this.app('');
    this.manageTimer = setInterval(() => this.manage(), MANAGE_MS);
    this.manageTimer.unref();
    process.on('exit', this.exitFlush);
  }

  /** A process ending without stop() (uncaught error, process.exit) still writes queued data. */
  private readonly exitFlush = (): void => this.data.store.flushSync();

  async stop(): Promise<void> {
    process.removeListener('exit', this.exitFlush);
    if (this.manageTimer) clearInterval(this.manageTimer);
    this.manageTimer = null;
    // children first, root last: as MonaServer unloads
    const all = [...this.apps.values()].sort((a, b) => b.path.length - a.path.length);
    for (const app of all) this.stopApp(app);
    for (const app of all) app.alive = false;
    this.apps.clear();
    this.root = null;
    this.started = false;
    await this.data.flush();
  }

  /** The loaded app for `appPath` (loading it and its parents on first use), or null if no such folder. */
  app(appPath: string): App | null {
    let app = this.apps.get(appPath);
    if (app) {
      // the app and the parents it inherits from: a parent's new main.lua counts too
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
    this.createRecord(app);
    this.apps.set(appPath, app);
    if (parent) parent.children.set(app.name, app);
    else this.root = app;
    this.runMain(app);
    return app;
  }

  /** Loaded apps, for tests and mona tools. */
  loadedApps(): string[] {
    return [...this.apps.keys()];
  }

  private installApps(): void {
    const vm = this.vm;
    const L = vm.L;
    lua.lua_createtable(L, 0, 3);
    vm.pushFunction(() => {
      // readFile(appPath, file, requester) → code, chunkname  (file relative to that app's folder,
      // or absolute); requester is the app whose require/dofile/loadfile asked
      const appPath = vm.toText(1) ?? '';
      const file = vm.toText(2);
      if (!file) return 0;
      const app = this.apps.get(appPath);
      if (!app) return 0;
      const full = path.isAbsolute(file) ? file : path.join(app.dir, file);
      // stamp before the read: a write in between is seen as a change at the next check (one
      // reload too many, never a missed one)
      const stamp = fileStamp(full);
      let code: Buffer;
      try {
        code = fs.readFileSync(full);
      } catch {
        return 0;
      }
      this.recordDep(this.apps.get(vm.toText(3) ?? appPath) ?? app, full, stamp);
      vm.pushBytes(code);
      vm.pushString(this.chunkName(full));
      return 2;
    });
    lua.lua_setfield(L, -2, luaName('readFile'));
    vm.pushFunction(() => {
      // child(appPath, name) → proxy of the child app, loaded now; nil if no such folder
      const appPath = vm.toText(1) ?? '';
      const name = vm.toText(2);
      if (!name || name.includes('/')) return 0;
      const child = this.app(`${appPath}/${name}`);
      if (!child) return 0;
      vm.pushRef(child.recordRef);
      lua.lua_getfield(L, -1, luaName('proxy'));
      return 1;
    });
    lua.lua_setfield(L, -2, luaName('child'));
    vm.pushFunction(() => {
      // data(appPath) → the app's persistent data table
      this.data.push(vm.toText(1) ?? '');
      return 1;
    });
    lua.lua_setfield(L, -2, luaName('data'));
    vm.run(APPS_LUA, '=apps', 1);
    this.appsRef = vm.ref();
  }

  /** A Lua file `app` loaded: watched for hot reload when it lies in the app tree (own or parent folders). */
  private recordDep(app: App, full: string, stamp: string | null): void {
    const rel = path.relative(this.wwwDir, full);
    if (rel.startsWith('..') || path.isAbsolute(rel)) return;
    // the first stamp stays: a later load of a changed file must still trigger the reload
    if (!app.deps.has(full)) app.deps.set(full, stamp);
  }

  /** "www/Games/main.lua": file names in Lua messages, relative to the application folder. */
  chunkName(file: string): string {
    const rel = path.relative(path.dirname(this.wwwDir), file);
    return rel.startsWith('..') ? file : rel.split(path.sep).join('/');
  }

  private callApps(fn: string, nargs: number, pushArgs: () => void): void {
    const vm = this.vm;
    const base = vm.top();
    vm.pushRef(this.appsRef);
    lua.lua_getfield(vm.L, -1, luaName(fn));
    lua.lua_remove(vm.L, -2);
    pushArgs();
    try {
      vm.call(nargs, base);
    } finally {
      vm.setTop(base);
    }
  }

  private createRecord(app: App): void {
    const vm = this.vm;
    const base = vm.top();
    vm.pushRef(this.appsRef);
    lua.lua_getfield(vm.L, -1, luaName('newApp'));
    vm.pushString(app.name);
    vm.pushString(app.path);
    if (app.parent) vm.pushRef(app.parent.recordRef);
    else lua.lua_pushnil(vm.L);
    vm.pushString(app.dir);
    vm.call(4, base + 1);
    lua.lua_pushvalue(vm.L, -1);
    app.recordRef = vm.ref();
    lua.lua_getfield(vm.L, -1, luaName('env'));
    app.envRef = vm.ref();
    vm.setTop(base);
  }

  /** Runs main.lua (if any) in a clean environment, then onStart(path). */
  private runMain(app: App): void {
    app.stamp = app.readStamp();
    app.deps.clear();
    app.lastCheck = Date.now();
    if (app.stamp !== null) {
      let code: Buffer | null = null;
      try {
        code = fs.readFileSync(app.mainFile);
      } catch (e) {
        this.ctx.logger.error('Lua', `cannot read ${app.mainFile}: ${(e as Error).message}`);
      }
      if (code) {
        try {
          this.callApps('run', 3, () => {
            this.vm.pushRef(app.recordRef);
            this.vm.pushBytes(code as Buffer);
            this.vm.pushString(this.chunkName(app.mainFile));
          });
        } catch (e) {
          this.logError(e);
        }
      }
    }
    this.ctx.logger.debug('Lua', `application ${app.path || '/'} started`);
    this.event(app, 'onStart', () => {
      this.vm.pushString(app.path);
      return 1;
    });
  }

  private stopApp(app: App): void {
    if (!app.alive) return;
    this.event(app, 'onStop', () => {
      this.vm.pushString(app.path);
      return 1;
    });
    this.ctx.logger.debug('Lua', `application ${app.path || '/'} stopped`);
  }

  /** Hot reload (SPEC S2): main.lua or a Lua file it loaded changed → onStop, rerun, onStart; folder gone → unload. */
  private checkReload(app: App, force = false): void {
    const now = Date.now();
    if (!force && now - app.lastCheck < RELOAD_CHECK_MS) return;
    app.lastCheck = now;
    if (app.path !== '' && !app.folderExists()) {
      this.unload(app);
      return;
    }
    const stamp = app.readStamp();
    let why: string;
    if (stamp !== app.stamp) why = `main.lua ${stamp ? 'changed' : 'removed'}`;
    else {
      // a file it loaded with require/dofile/loadfile
      const dep = app.changedDep();
      if (dep === null) return;
      why = `${this.chunkName(dep)} changed`;
    }
    this.ctx.logger.info('Lua', `application ${app.path || '/'} reloaded (${why})`);
    this.stopApp(app);
    this.runMain(app);
  }

  private unload(app: App): void {
    for (const child of [...app.children.values()]) this.unload(child);
    this.stopApp(app);
    app.alive = false;
    this.apps.delete(app.path);
    app.parent?.children.delete(app.name);
    try {
      this.callApps('unlink', 1, () => this.vm.pushRef(app.recordRef));
    } catch (e) {
      this.logError(e);
    }
    this.vm.unref(app.recordRef);
    this.vm.unref(app.envRef);
    this.ctx.logger.info('Lua', `application ${app.path} unloaded (folder deleted)`);
  }

  private manage(): void {
    for (const app of [...this.apps.values()]) if (app.alive) this.checkReload(app, true);
    if (this.root) this.event(this.root, 'onManage', () => 0);
    for (const w of [...this.managedWriters]) {
      if (w.closed) {
        this.managedWriters.delete(w);
        continue;
      }
      this.objects.writerEvent(w, 'onManage');
    }
  }

  // ---- calling scripts ----

  /**
   * Calls the app's global function `name` (falling back to the parents'), arguments pushed by
   * `pushArgs`. Returns its results, or null if there is no such function. Errors are logged,
   * or rethrown as LuaError when `rethrow`.
   */
  event(app: App, name: string, pushArgs: () => number, rethrow = false): Value[] | null {
    const vm = this.vm;
    const base = vm.top();
    try {
      vm.pushRef(app.envRef);
      lua.lua_getfield(vm.L, -1, luaName(name));
      lua.lua_remove(vm.L, -2);
      if (lua.lua_type(vm.L, -1) !== lua.LUA_TFUNCTION) {
        vm.setTop(base);
        return null;
      }
      const n = vm.call(pushArgs(), base);
      return vm.popValues(n);
    } catch (e) {
      vm.setTop(base);
      if (rethrow) throw e;
      this.logError(e);
      return [];
    }
  }

  /**
   * Calls `obj:method(...)` where obj is a script object (client, publication, writer...):
   * null when the object has no such function. Errors as for event().
   */
  method(pushObject: () => void, name: string, pushArgs: () => number, rethrow = false): Value[] | null {
    const vm = this.vm;
    const base = vm.top();
    try {
      pushObject();
      // events and RPC methods are functions scripts stored on the object itself: a raw read
      // skips the object's __index (properties), which matters on per-packet events
      vm.pushName(name);
      lua.lua_rawget(vm.L, -2);
      if (lua.lua_type(vm.L, -1) !== lua.LUA_TFUNCTION) {
        vm.setTop(base);
        return null;
      }
      lua.lua_insert(vm.L, -2); // function, self
      const n = vm.call(1 + pushArgs(), base);
      return vm.popValues(n);
    } catch (e) {
      vm.setTop(base);
      if (rethrow) throw e;
      this.logError(e);
      return [];
    }
  }

  /** Logs a script error with its file:line as source (SPEC S2). */
  logError(e: unknown): void {
    const message = e instanceof Error ? e.message : String(e);
    if (!(e instanceof LuaError)) {
      this.ctx.logger.error('Lua', e instanceof Error && e.stack ? e.stack : message);
      return;
    }
    const m = /^(.+?:\d+): ([\s\S]*)$/.exec(message);
    if (m) this.ctx.logger.error(m[1], m[2]);
    else this.ctx.logger.error('Lua', message);
  }

  private clientApp(client: Client): App {
    const app = this.app(client.path);
    if (!app) throw new InvalidApp(client.path);
    return app;
  }

  // ---- AppHost: events ----

  onConnection(client: Client, args: Value[]): Table | null {
    const app = this.clientApp(client);
    let results: Value[] | null;
    try {
      results = this.event(app, 'onConnection', () => {
        this.objects.pushClient(client);
        for (const a of args) this.vm.pushValue(a);
        return 1 + args.length;
      }, true);
    } catch (e) {
      this.objects.forgetClient(client);
      throw new ConnectionRejected(refusalText(e) || 'client rejected');
    }
    const first = results?.[0];
    return first instanceof Table ? first : null;
  }

  onDisconnection(client: Client): void {
    const app = this.apps.get(client.path) ?? this.app(client.path);
    if (app) {
      this.event(app, 'onDisconnection', () => {
        this.objects.pushClient(client);
        return 1;
      });
    }
    this.objects.forgetClient(client);
  }

  onAddressChanged(client: Client, oldAddress: string): void {
    this.clientMethod(client, 'onAddressChanged', () => {
      this.vm.pushString(oldAddress);
      return 1;
    });
  }

  call(client: Client, method: string, args: Value[]): Value[] {
    const vm = this.vm;
    const base = vm.top();
    this.objects.pushClient(client);
    vm.pushString(method);
    lua.lua_rawget(vm.L, -2);
    const isFunction = lua.lua_type(vm.L, -1) === lua.LUA_TFUNCTION;
    vm.setTop(base);
    if (!isFunction) throw new MethodNotFound(method);
    try {
      return (
        this.method(() => this.objects.pushClient(client), method, () => {
          for (const a of args) vm.pushValue(a);
          return args.length;
        }, true) ?? []
      );
    } catch (e) {
      this.logError(e); // the operator sees it too, not only the caller
      throw new CallFailed(e instanceof Error ? e.message : String(e));
    }
  }

  /**
   * Data without a method name → `client:onMessage(...)`. No handler: ignored ([]), as MonaServer.
   * A script error is logged and thrown as CallFailed (HTTP/WebSocket answer it to the peer).
   */
  onMessage(client: Client, args: Value[]): Value[] {
    const vm = this.vm;
    try {
      const r = this.method(() => this.objects.pushClient(client), 'onMessage', () => {
        for (const a of args) vm.pushValue(a);
        return args.length;
      }, true);
      if (r === null) this.ctx.logger.debug('Lua', `${client.protocol} ${client.address}: data without onMessage handler ignored`);
      return r ?? [];
    } catch (e) {
      this.logError(e);
      throw new CallFailed(e instanceof Error ? e.message : String(e));
    }
  }

  private clientMethod(client: Client, name: string, pushArgs: () => number, rethrow = false): Value[] | null {
    if (!client.connected && !this.vm.hasObject(client)) return null;
    return this.method(() => this.objects.pushClient(client), name, pushArgs, rethrow);
  }

  onPublish(client: Client | null, publication: Publication): void {
    this.objects.watchPublication(publication);
    // not called for publications made by scripts (mona:publish), as MonaServer documents
    if (!client) return;
    let r: Value[] | null;
    try {
      r = this.clientMethod(client, 'onPublish', () => {
        this.objects.pushPublication(publication);
        return 1;
      }, true);
    } catch (e) {
      throw new StreamRefused('Publish.Failed', refusalText(e) || `Not allowed to publish ${publication.name}`);
    }
    if (r && r.length > 0 && r[0] === false) throw new StreamRefused('Publish.Failed', `Not allowed to publish ${publication.name}`);
  }

  onUnpublish(client: Client | null, publication: Publication): void {
    if (client) {
      this.clientMethod(client, 'onUnpublish', () => {
        this.objects.pushPublication(publication);
        return 1;
      });
    }
    if (!publication.running && publication.listeners.size === 0) this.objects.forgetPublication(publication);
  }

  onSubscribe(client: Client | null, listener: Listener): void {
    if (!client) return;
    let r: Value[] | null;
    try {
      r = this.clientMethod(client, 'onSubscribe', () => {
        this.objects.pushListener(listener);
        return 1;
      }, true);
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
    if (client) {
      this.clientMethod(client, 'onUnsubscribe', () => {
        this.objects.pushListener(listener);
        return 1;
      });
    }
    this.objects.forgetListener(listener);
    const pub = listener.publication;
    if (!pub.running && pub.listeners.size === 0) this.objects.forgetPublication(pub);
  }

  onRead(client: Client, file: string, params: Table): ReadDecision {
    let r: Value[] | null;
    try {
      r = this.clientMethod(client, 'onRead', () => {
        this.vm.pushString(file);
        this.vm.pushValue(params);
        return 2;
      }, true);
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
    const r = this.event(app, 'onHandshake', () => {
      this.vm.pushString(address);
      this.vm.pushString(urlPath);
      this.vm.pushValue(properties);
      lua.lua_pushnumber(this.vm.L, attempts);
      return 4;
    });
    return addressesOf(r);
  }

  onRendezVousUnknown(protocol: string, peerId: string): string[] {
    if (!this.root) return [];
    const r = this.event(this.root, 'onRendezVousUnknown', () => {
      this.vm.pushString(protocol);
      this.vm.pushString(peerId);
      return 2;
    });
    return addressesOf(r);
  }

  isBlacklisted(address: string): boolean {
    return this.blacklist.has(address);
  }
}

/** The text of a script refusal without Lua's "file:line: " prefix (shown to the peer). */
function refusalText(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  if (message === 'nil') return '';
  return message.replace(/^[^\n]*?:\d+: /, '');
}

/** Redirection results: strings, arrays of strings (nested once), "again". */
function addressesOf(r: Value[] | null): string[] {
  const out: string[] = [];
  const add = (v: Value): void => {
    if (typeof v === 'string') out.push(v);
    else if (Buffer.isBuffer(v)) out.push(v.toString('utf8'));
    else if (v instanceof Table) for (const x of v.items) if (typeof x === 'string') out.push(x);
  };
  for (const v of r ?? []) add(v);
  return out;
}
