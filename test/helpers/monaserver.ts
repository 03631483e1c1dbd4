/**
 * MonaServer C++ (built outside the repo, never shipped with it) as a child process for
 * interoperability tests and for recording the cluster fixtures: each instance runs from its own
 * temp folder holding a copy of the executable (MonaServer reads the MonaServer.ini that sits beside
 * its executable), the ini and the www/ files given. Instances are stopped by their PID.
 *
 * The build is looked for at $MONASERVER_DIR (the source tree root, holding MonaBase/, MonaCore/
 * and MonaServer/, built), else in an `ext/MonaServer` folder beside any parent folder of this file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export interface MonaBuild {
  /** the MonaServer executable */
  binary: string;
  /** folders holding libMonaBase.so and libMonaCore.so */
  libs: string[];
}

export function findMonaServer(): MonaBuild | null {
  const roots: string[] = [];
  // an explicit place is the only place looked at (MONASERVER_DIR=none skips the tests that need it)
  if (process.env.MONASERVER_DIR) roots.push(process.env.MONASERVER_DIR);
  else for (let dir = __dirname; ; ) {
    roots.push(path.join(dir, 'ext', 'MonaServer'));
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  for (const root of roots) {
    const binary = path.join(root, 'MonaServer', 'MonaServer');
    const libs = [path.join(root, 'MonaBase', 'lib'), path.join(root, 'MonaCore', 'lib')];
    if (fs.existsSync(binary) && libs.every((l) => fs.existsSync(l))) return { binary, libs };
  }
  return null;
}

export async function freeTcpPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

export async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface MonaOptions {
  /** MonaServer.ini text */
  ini: string;
  /** www/ files: relative path → content */
  www: Record<string, string>;
  /** label in error messages */
  name?: string;
  /** reuse this folder (a restart keeps the same paths in its configuration) */
  dir?: string;
}

/** One running MonaServer. `log` accumulates its console output without colour codes. */
export class MonaProcess {
  log = '';
  private exited: Promise<number | null>;

  private constructor(
    readonly name: string,
    readonly dir: string,
    private readonly proc: ChildProcess,
  ) {
    const add = (d: Buffer) => (this.log += d.toString('utf8').replace(/\x1b\[[0-9;]*m/g, ''));
    proc.stdout!.on('data', add);
    proc.stderr!.on('data', add);
    this.exited = new Promise((r) => proc.on('close', (code) => r(code)));
  }

  static start(build: MonaBuild, options: MonaOptions): MonaProcess {
    const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'monaserver-'));
    fs.copyFileSync(build.binary, path.join(dir, 'MonaServer'));
    fs.chmodSync(path.join(dir, 'MonaServer'), 0o755);
    fs.writeFileSync(path.join(dir, 'MonaServer.ini'), options.ini);
    for (const [p, content] of Object.entries(options.www)) {
      const full = path.join(dir, 'www', p);
      fs.mkdirSync(path.dirname(full), { recursive: true });
      fs.writeFileSync(full, content);
    }
    fs.mkdirSync(path.join(dir, 'www'), { recursive: true });
    const env = { ...process.env, LD_LIBRARY_PATH: [...build.libs, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') };
    // stdout is a pipe: stdbuf keeps MonaServer's log lines from waiting in its buffer
    const proc = spawn('stdbuf', ['-oL', '-eL', './MonaServer'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    return new MonaProcess(options.name ?? 'MonaServer', dir, proc);
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Resolves with the first match of `re` in the log (searched from `from`), or rejects after `ms`. */
  async waitFor(re: RegExp, ms = 20_000, from = 0): Promise<RegExpMatchArray> {
    const until = Date.now() + ms;
    for (;;) {
      const m = this.log.slice(from).match(re);
      if (m) return m;
      if (Date.now() > until) throw new Error(`${this.name}: no ${re} within ${ms} ms in:\n${this.log.slice(-3000)}`);
      if (!this.running) throw new Error(`${this.name} exited before ${re}:\n${this.log.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** SIGINT (MonaServer's clean stop), SIGKILL after 5 s. */
  async stop(): Promise<void> {
    if (this.running && this.proc.pid) {
      try {
        process.kill(this.proc.pid, 'SIGINT');
      } catch {
        /* already gone */
      }
    }
    const hard = setTimeout(() => {
      if (this.running && this.proc.pid) process.kill(this.proc.pid, 'SIGKILL');
    }, 5000);
    await this.exited.finally(() => clearTimeout(hard));
  }

  /** Stops it and removes its folder. */
  async dispose(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A MonaServer.ini for loopback tests: protocols bound to 127.0.0.1 (MonaServer binds them to its
 * top-level `host`), RTMFP on a free UDP port, RTMP and HTTP on free TCP ports or off, RTSP off.
 */
export async function monaIni(o: { serversPort?: number; targets?: string; rtmp?: boolean; http?: boolean; extra?: string }): Promise<string> {
  const lines = ['host = 127.0.0.1', '[servers]'];
  if (o.serversPort) lines.push(`port = ${o.serversPort}`);
  if (o.targets) lines.push(`targets = ${o.targets}`);
  lines.push('[RTMFP]', `port = ${await freeUdpPort()}`);
  lines.push('[RTMP]', `port = ${o.rtmp === false ? 0 : await freeTcpPort()}`);
  lines.push('[HTTP]', `port = ${o.http ? await freeTcpPort() : 0}`);
  lines.push('[RTSP]', 'port = 0');
  return lines.join('\n') + '\n' + (o.extra ?? '');
}

/**
 * A Lua function, for the www/ apps of these tests, that prints any value deterministically
 * (table keys sorted, strings quoted), so that what MonaServer decoded can be compared with what
 * our decoder gives. `dumpArgs(...)` gives "count:v1|v2|...".
 */
export const LUA_DUMP = `
local function dump(v)
  local t = type(v)
  if t == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys+1] = k end
    table.sort(keys, function(a, b)
      if type(a) == type(b) and type(a) ~= "table" and type(a) ~= "boolean" then return a < b end
      return type(a) < type(b)
    end)
    local parts = {}
    for _, k in ipairs(keys) do
      local name = type(k) == "string" and k or ("[" .. tostring(k) .. "]")
      parts[#parts+1] = name .. "=" .. dump(v[k])
    end
    return "{" .. table.concat(parts, ",") .. "}"
  elseif t == "string" then
    return string.format("%q", v)
  end
  return tostring(v)
end
function dumpArgs(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do parts[i] = dump((select(i, ...))) end
  return n .. ":" .. table.concat(parts, "|")
end
`;
