/**
 * The real executable with `threads = n` in a temp folder (ports free on loopback, apps from
 * `www`), its output collected, stopped by its pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort, until } from './relay-cluster';
import { tempDir } from './temp';

const CLI = path.join(__dirname, '..', '..', 'src', 'cli.js');

export interface ThreadsOptions {
  /** more ini lines (sections included) */
  ini?: string;
  /** RTMFP on a free port (off otherwise) */
  rtmfp?: boolean;
}

export interface Running {
  proc: ChildProcess;
  dir: string;
  http: number;
  rtmp: number;
  /** 0 when off */
  rtmfp: number;
  log(): string;
  stop(): Promise<number | null>;
}

export async function startThreads(threads: number, apps: Record<string, string>, options: ThreadsOptions = {}): Promise<Running> {
  const dir = tempDir('monats-threads-test-');
  const [http, rtmp] = [await freePort('tcp'), await freePort('tcp')];
  const rtmfp = options.rtmfp ? await freePort('udp') : 0;
  fs.writeFileSync(
    path.join(dir, 'MonaServer.ini'),
    `threads = ${threads}\n[RTMP]\nport = ${rtmp}\n[RTMFP]\nport = ${rtmfp}\n[HTTP]\nport = ${http}\n[RTSP]\nport = 0\n[admin]\nport = 0\n${options.ini ?? ''}`,
  );
  for (const [app, main] of Object.entries(apps)) {
    // an app name is its main.lua; a name with an extension is that file of www/ ("js/main.js")
    const file = /\.[a-z]+$/.test(app) ? path.join(dir, 'www', app) : path.join(dir, 'www', app, 'main.lua');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, main);
  }
  const proc = spawn(process.execPath, [CLI, '--log=7'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  const running: Running = {
    proc,
    dir,
    http,
    rtmp,
    rtmfp,
    log: () => out,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  try {
    await until(() => /worker processes serve the protocols/.test(out) || proc.exitCode !== null, 'the workers started', 30_000);
  } catch (e) {
    await running.stop();
    throw new Error(`${(e as Error).message}\n${out}`);
  }
  if (proc.exitCode !== null) throw new Error(`the server exited: ${out}`);
  return running;
}


/** Which worker serves the client whose local port is `port` (the workers' DEBUG line). */
export function workerOf(log: string, protocol: string, port: number): number | null {
  const m = new RegExp(`worker (\\d+) serves ${protocol} 127\\.0\\.0\\.1:${port} `).exec(log);
  return m ? Number(m[1]) : null;
}
