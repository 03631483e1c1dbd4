/**
 * Test fixtures for the script runtime and its Lua binding: a temporary application folder (www/ +
 * data/), a fake client and writer that record what scripts send, and a test server (startTestServer,
 * the HTTP listener alone) whose apps the tests drive with those fake clients, its log lines kept;
 * on a given Lua engine (default the one the server would pick) or a given script host.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client } from '../../src/core/client';
import type { ServerContext } from '../../src/core/context';
import { Writer } from '../../src/core/writer';
import { Level } from '../../src/logs/levels';
import type { Value } from '../../src/serialization/value';
import type { Out } from '../../src/scripting/runtime/engine';
import type { ScriptHost } from '../../src/scripting/runtime/host';
import { LuaHost } from '../../src/scripting/lua-host';
import type { LuaAPI } from '../../src/scripting/lua/api';
import { luaEngineEntry } from '../../src/scripting/lua/open';
import { startTestServer, type LogLine, type TestServer } from '../helpers/server';
import { tempDir } from '../helpers/temp';

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

/** The log lines of a test server, as scripts tests read them. */
export interface LogLines {
  readonly lines: LogLine[];
  /** lines at `level` as "source: message" */
  at(level: Level): string[];
}

export interface LuaTestServer<H extends ScriptHost = LuaHost> {
  dir: string;
  ctx: ServerContext;
  host: H;
  logger: LogLines;
  /** the whole test server */
  test: TestServer;
  close(): Promise<void>;
}

/** Keys scripts read from mona.configs in the tests. */
const CONFIGS = { myKey: '42', 'myGroup.myConfig': 'hello', 'myGroup.flag': 'true' };

/**
 * A test server on `dir` (kept by close(): a test may start another on the same data/), every
 * line logged kept; `lua` opens the Lua state (default: the server's choice), `host` makes the
 * script host instead (other engines).
 */
export async function startLua<H extends ScriptHost = LuaHost>(
  dir: string,
  options: { lua?: () => LuaAPI; host?: (ctx: ServerContext) => H } = {},
): Promise<LuaTestServer<H>> {
  const open = options.lua;
  const test = await startTestServer({
    dir,
    // the apps are driven by fake clients: one listener, because a server runs with one at least
    off: ['RTMP', 'RTMFP'],
    level: Level.TRACE,
    appHost: options.host ?? (open ? (ctx) => new LuaHost(ctx, [luaEngineEntry(() => open())]) : undefined),
    overrides: CONFIGS,
  });
  return {
    dir,
    ctx: test.context,
    host: test.context.host as H,
    logger: {
      get lines() {
        return test.lines();
      },
      at: (level) => test.lines().filter((l) => l.level === level).map((l) => `${l.source}: ${l.message}`),
    },
    test,
    close: () => test.stop(),
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
