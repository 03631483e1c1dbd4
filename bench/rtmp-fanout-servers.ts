/**
 * The three servers of the fan-out benchmark, each started as its own process on a free port:
 * ours, Node-Media-Server (npm) and nginx with Debian's libnginx-mod-rtmp. Also /proc readers
 * for their CPU time and RSS (nginx: master + workers).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export interface RunningServer {
  name: string;
  port: number;
  app: string;
  pids(): number[];
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address() as net.AddressInfo;
      s.close(() => resolve(a.port));
    });
    s.on('error', reject);
  });
}

async function waitPort(port: number, child: ChildProcess, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`);
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`port ${port} never opened`);
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill(signal);
  });
}

function tmp(name: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `fanout-${name}-`));
}

export async function startOurs(): Promise<RunningServer> {
  const port = await freePort();
  const dir = tmp('ours');
  fs.mkdirSync(path.join(dir, 'www', 'live'), { recursive: true });
  // RTMP_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles our server during a run
  const extra = (process.env.RTMP_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...extra, path.join(__dirname, 'rtmp-fanout-server.js'), String(port), dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitPort(port, child);
  return {
    name: 'ours (TS)',
    port,
    app: 'live',
    pids: () => [child.pid as number],
    stop: async () => {
      await stopChild(child);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Ours through the real executable with `threads = n` (RTMP only, no per-IP cap): with n > 1 a
 * primary runs the scripts and n workers share the RTMP port; CPU and RSS count them all.
 */
export async function startOursThreads(n: number): Promise<RunningServer> {
  const port = await freePort();
  const dir = tmp(`ours-threads${n}`);
  fs.mkdirSync(path.join(dir, 'www', 'live'), { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'MonaServer.ini'),
    `threads = ${n}\n[RTMP]\nport = ${port}\n[RTMFP]\nport = 0\n[HTTP]\nport = 0\n[RTSP]\nport = 0\n[admin]\nport = 0\n[TCP]\nmaxConnectionsPerIP = 0\n`,
  );
  const cli = path.join(__dirname, '..', 'src', 'cli.js');
  const child = spawn(process.execPath, [cli, '--log=4'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  await waitPort(port, child);
  return {
    name: `ours, threads = ${n}`,
    port,
    app: 'live',
    pids: () => [child.pid as number, ...childrenOf(child.pid as number)],
    stop: async () => {
      await stopChild(child);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function startNMS(): Promise<RunningServer> {
  const port = await freePort();
  const dir = tmp('nms');
  const conf = path.join(dir, 'config.json');
  fs.writeFileSync(conf, JSON.stringify({ bind: '127.0.0.1', rtmp: { port }, store: { path: path.join(dir, 'data') }, webadmin: { enable: false }, record: { auto: false, path: path.join(dir, 'rec') } }));
  const app = require.resolve('node-media-server/bin/app.js');
  const child = spawn(process.execPath, [app, '-c', conf, '--no-admin'], { cwd: dir, stdio: ['ignore', 'ignore', 'ignore'] });
  await waitPort(port, child);
  return {
    name: 'Node-Media-Server 4',
    port,
    app: 'live',
    pids: () => [child.pid as number],
    stop: async () => {
      await stopChild(child);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const NGINX_MODULE = '/usr/lib/nginx/modules/ngx_rtmp_module.so';

export async function startNginx(): Promise<RunningServer> {
  const port = await freePort();
  const dir = tmp('nginx');
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(
    conf,
    `load_module ${NGINX_MODULE};
worker_processes 1;
daemon off;
master_process on;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 8192; }
rtmp {
  server {
    listen 127.0.0.1:${port};
    chunk_size 4096;
    application live { live on; }
  }
}
`,
  );
  const child = spawn('nginx', ['-p', dir, '-c', conf], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitPort(port, child);
  return {
    name: 'nginx-rtmp',
    port,
    app: 'live',
    pids: () => [child.pid as number, ...childrenOf(child.pid as number)],
    stop: async () => {
      await stopChild(child, 'SIGQUIT');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(e));
    } catch {
      // process gone
    }
  }
  return out;
}

const TICK = 100; // USER_HZ on Linux

/** CPU seconds (user + system) used so far by these processes. */
export function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // gone
    }
  }
  return ticks / TICK;
}

/** Resident memory in MB of these processes together. */
export function rssMB(pids: number[]): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {
      // gone
    }
  }
  return kb / 1024;
}
