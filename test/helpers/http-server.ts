/**
 * Test helpers for HTTP/WebSocket: an in-process server (startTestServer with HTTP + WebSocket,
 * RTMP too when asked) on ephemeral 127.0.0.1 ports over a temp application dir, a raw TCP client
 * for byte-exact requests, and external tools run by PID with a deadline.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import type { AppHost } from '../../src/core/app-host';
import type { ServerContext } from '../../src/core/context';
import type { Level } from '../../src/logs/levels';
import type { HTTPServer } from '../../src/protocols/http/server';
import { startTestServer, type TestServer } from './server';
import { tempDir } from './temp';

export interface HTTPTestServer {
  context: ServerContext;
  http: HTTPServer;
  port: number;
  /** RTMP port when started with rtmp: true */
  rtmpPort: number;
  dir: string;
  www: string;
  /** the whole test server (log lines, the Server object) */
  test: TestServer;
  url(p: string): string;
  stop(): Promise<void>;
}

/** A temp application dir (removed when the test file ends); `files` maps paths under www/ to contents (null = folder). */
export function tempWWW(files: Record<string, string | Buffer | null> = {}): string {
  const dir = tempDir('http-test-');
  fs.mkdirSync(path.join(dir, 'www'), { recursive: true });
  for (const [p, content] of Object.entries(files)) {
    const full = path.join(dir, 'www', p);
    if (content === null) fs.mkdirSync(full, { recursive: true });
    else {
      fs.mkdirSync(path.dirname(full), { recursive: true });
      fs.writeFileSync(full, content);
    }
  }
  return dir;
}

export async function startHTTP(
  options: {
    dir?: string;
    /** the app host instead of the script runtime */
    host?: (ctx: ServerContext) => AppHost;
    /** ini keys ("section.key" → value) */
    overrides?: Record<string, string>;
    rtmp?: boolean;
    level?: Level;
  } = {},
): Promise<HTTPTestServer> {
  const test = await startTestServer({
    dir: options.dir ?? tempWWW(),
    off: options.rtmp ? ['RTMFP'] : ['RTMFP', 'RTMP'],
    appHost: options.host,
    overrides: options.overrides,
    level: options.level,
  });
  const http = test.protocol<HTTPServer>('HTTP');
  return {
    context: test.context,
    http,
    port: http.port,
    rtmpPort: test.ports.rtmp,
    dir: test.dir,
    www: test.www,
    test,
    url: (p) => `http://127.0.0.1:${http.port}/${p.replace(/^\//, '')}`,
    stop: () => test.stop(),
  };
}

/** Sends raw bytes, collects everything until the server closes or `idleMs` passes without data. */
export function rawExchange(port: number, data: Buffer | string | Array<Buffer | string>, idleMs = 300): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | null = null;
    const done = () => {
      if (timer) clearTimeout(timer);
      s.destroy();
      resolve(Buffer.concat(chunks));
    };
    const arm = () => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(done, idleMs);
    };
    s.on('data', (d) => {
      chunks.push(d);
      arm();
    });
    s.on('end', done);
    s.on('close', done);
    s.on('error', (e) => (chunks.length ? done() : reject(e)));
    s.on('connect', () => {
      for (const d of Array.isArray(data) ? data : [data]) s.write(d);
      arm();
    });
  });
}

/** Is an external tool installed? Missing: skip locally, fail in CI (team rule). */
export function requireTool(t: TestContext, tool: string): boolean {
  const found = spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
  if (found) return true;
  if (process.env.CI) throw new Error(`${tool} is required in CI but not installed`);
  t.skip(`${tool} not installed`);
  return false;
}

export interface RunResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs a tool, kills it by PID at the deadline; resolves with its output either way. */
export function run(cmd: string, args: string[], timeoutMs = 20_000, input?: Buffer | string): Promise<RunResult> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (d) => out.push(d));
    p.stderr.on('data', (d) => (err += d.toString()));
    const timer = setTimeout(() => {
      if (p.pid) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
    }, timeoutMs);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr: err });
    });
    p.on('error', () => {
      clearTimeout(timer);
      resolve({ code: -1, stdout: Buffer.concat(out), stderr: err });
    });
    if (input !== undefined) p.stdin.end(input);
    else p.stdin.end();
  });
}

/** curl with headers captured; `status` is the last response's status. */
export async function curl(args: string[], input?: Buffer | string): Promise<{ status: number; headers: string; body: Buffer }> {
  // headers to a file: curl crashes writing them to /dev/stderr when that is a pipe
  const file = path.join(os.tmpdir(), `curl-headers-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const r = await run('curl', ['-s', '-S', '-D', file, '--max-time', '10', ...args], 20_000, input);
  let headers = '';
  try {
    headers = fs.readFileSync(file, 'latin1');
    fs.unlinkSync(file);
  } catch {
    /* no response at all */
  }
  const m = /HTTP\/1\.[01] (\d{3})/g;
  let status = 0;
  for (let x = m.exec(headers); x; x = m.exec(headers)) status = Number(x[1]);
  return { status, headers, body: r.stdout };
}
