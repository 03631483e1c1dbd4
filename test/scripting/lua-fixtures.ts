/**
 * Test fixtures for the script runtime and its Lua binding: a temporary application folder (www/ +
 * data/), a logger that records lines, a fake client and writer that record what scripts send, and
 * a started host on them (on a given Lua engine, default the one the server would pick).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Config } from '../../src/config/types';
import { Client } from '../../src/core/client';
import { ServerContext } from '../../src/core/context';
import { FolderHost } from '../../src/core/app-host';
import { Writer } from '../../src/core/writer';
import { Level, type Logger } from '../../src/logs/levels';
import type { Value } from '../../src/serialization/value';
import type { Out } from '../../src/scripting/runtime/engine';
import { LuaHost } from '../../src/scripting/lua-host';
import type { LuaAPI } from '../../src/scripting/lua/api';
import { luaEngineEntry } from '../../src/scripting/lua/open';
import { tempDir } from '../helpers/temp';
import { defaultConfig } from '../../src/registry';

export class MemoryLogger implements Logger {
  level = Level.TRACE;
  readonly lines: Array<{ level: Level; source: string; message: string }> = [];
  readonly dumping = false;
  log(level: Level, source: string, message: string): void {
    this.lines.push({ level, source, message });
  }
  fatal(s: string, m: string): void { this.log(Level.FATAL, s, m); }
  critic(s: string, m: string): void { this.log(Level.CRITIC, s, m); }
  error(s: string, m: string): void { this.log(Level.ERROR, s, m); }
  warn(s: string, m: string): void { this.log(Level.WARN, s, m); }
  note(s: string, m: string): void { this.log(Level.NOTE, s, m); }
  info(s: string, m: string): void { this.log(Level.INFO, s, m); }
  debug(s: string, m: string): void { this.log(Level.DEBUG, s, m); }
  trace(s: string, m: string): void { this.log(Level.TRACE, s, m); }
  enabled(level: Level): boolean {
    return level <= this.level;
  }
  dump(): void {}
  /** lines at `level` as "source: message" */
  at(level: Level): string[] {
    return this.lines.filter((l) => l.level === level).map((l) => `${l.source}: ${l.message}`);
  }
}

export type Sent =
  | { kind: 'invocation'; name: string; args: Value[] }
  | { kind: 'message'; args: Value[] }
  | { kind: 'raw'; data: Buffer }
  | { kind: 'status'; code: string; description?: string }
  | { kind: 'flush'; full?: boolean };

export class FakeWriter extends Writer {
  readonly sent: Sent[] = [];
  readonly created: FakeWriter[] = [];
  writeInvocation(name: string, args: Value[]): void {
    this.sent.push({ kind: 'invocation', name, args });
  }
  writeMessage(args: Value[]): void {
    this.sent.push({ kind: 'message', args });
  }
  writeRaw(data: Buffer): void {
    this.sent.push({ kind: 'raw', data: Buffer.from(data) });
  }
  writeStatusResponse(code: string, description?: string): void {
    this.sent.push({ kind: 'status', code, description });
  }
  flush(full?: boolean): void {
    this.sent.push({ kind: 'flush', full });
  }
  newWriter(): Writer {
    const w = new FakeWriter();
    this.created.push(w);
    return w;
  }
}

export class FakeClient extends Client {
  readonly protocol: string;
  readonly mainWriter = new FakeWriter();
  closedWith: string | undefined;
  constructor(appPath = '', protocol = 'RTMP', address = '127.0.0.1:50000') {
    super(address);
    this.path = appPath;
    this.protocol = protocol;
  }
  get writer(): Writer {
    return this.mainWriter;
  }
  close(reason?: string): void {
    this.closedWith = reason ?? '';
  }
}

/** The defaults of S1 with every port off and logs inside `dir`, plus keys scripts read from mona.configs. */
export function testConfig(dir: string): Config {
  const config = defaultConfig(dir);
  config.rtmfp.port = config.rtmp.port = config.http.port = config.rtsp.port = 0;
  config.logs = { directory: path.join(dir, 'logs'), name: 'log', rotation: 0 };
  config.raw = { myKey: '42', myGroup: { myConfig: 'hello', flag: 'true' } };
  return config;
}

/** A temporary application dir with the given files ("www/main.lua" → source). */
export function makeAppDir(files: Record<string, string>): string {
  const dir = tempDir('monats-lua-');
  for (const [rel, content] of Object.entries(files)) writeFile(dir, rel, content);
  return dir;
}

export function writeFile(dir: string, rel: string, content: string | Buffer): void {
  const full = path.join(dir, rel);
  fs.mkdirSync(path.dirname(full), { recursive: true });
  fs.writeFileSync(full, content);
}

/** Rewrites a file so that its mtime surely changes (hot reload looks at mtime and size). */
export function rewriteFile(dir: string, rel: string, content: string): void {
  const full = path.join(dir, rel);
  fs.writeFileSync(full, content);
  const later = new Date(Date.now() + 5000);
  fs.utimesSync(full, later, later);
}

export interface LuaTestServer {
  dir: string;
  ctx: ServerContext;
  host: LuaHost;
  logger: MemoryLogger;
  close(): Promise<void>;
}

/** A ServerContext whose host is a started script host on `dir`; `lua` opens the Lua state (default: the server's choice). */
export function startLua(dir: string, options: { lua?: () => LuaAPI } = {}): LuaTestServer {
  const logger = new MemoryLogger();
  const ctx = new ServerContext(testConfig(dir), logger, new FolderHost(path.join(dir, 'www')), 'test');
  const open = options.lua;
  const host = open ? new LuaHost(ctx, [luaEngineEntry(() => open())]) : new LuaHost(ctx);
  ctx.host = host;
  host.start();
  return {
    dir,
    ctx,
    host,
    logger,
    async close() {
      await host.stop();
    },
  };
}

/** Forces the next use of every app to look at its main file again (tests do not wait a second). */
export function expireReloadChecks(host: LuaHost): void {
  for (const p of host.loadedApps()) {
    const app = (host as unknown as { apps: Map<string, { lastCheck: number }> }).apps.get(p);
    if (app) app.lastCheck = 0;
  }
}

/** Runs Lua in the root app's environment and returns its results. */
export function evalRoot(s: LuaTestServer, code: string): Value[] {
  return evalIn(s, '', code);
}

export function evalIn(s: LuaTestServer, appPath: string, code: string): Value[] {
  const app = s.host.app(appPath);
  if (!app?.instance) throw new Error(`no app ${appPath}`);
  return app.instance.evaluate(code, '=test');
}

/** Writes each of `values` as an event or method argument (host.event/host.method). */
export const writeValues = (out: Out, values: readonly Value[]): void => {
  for (const v of values) out.value(v);
};
