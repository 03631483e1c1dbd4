/**
 * HTTP/WebSocket throughput (issue 4): requests per second for a 1 KB static file and for a JSON RPC
 * over HTTP and over WebSocket, against our server and, in the same run, nginx serving the same
 * file as the near-limit reference. wrk (2 threads, 50 connections) drives HTTP; WebSocket RPC is
 * driven by bench/http-ws-load.ts (ws package, 50 connections, closed loop). Our server runs twice:
 * one process (threads = 1) and the executable with `threads = 2` (two workers sharing the port, the
 * scripts in the primary). Everything shares this machine, so figures are relative: compare the
 * columns of one run.
 *   npx tsc -p . && node dist/bench/http.js [seconds]
 */
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const SECONDS = Number(process.argv[2] ?? 10);
const OUR_PORT = 18480;
const NGINX_PORT = 18481;
const NGINX1_PORT = 18482;
const THREADS_PORT = 18483;

const children: ChildProcess[] = [];
function cleanup(): void {
  for (const c of children) if (c.pid && c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
}
process.on('exit', cleanup);

function wrk(url: string, script?: string): number {
  const args = ['-t2', '-c50', `-d${SECONDS}s`, ...(script ? ['-s', script] : []), url];
  const r = spawnSync('wrk', args, { encoding: 'utf8' });
  const m = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
  if (!m) throw new Error(`wrk failed: ${r.stdout}${r.stderr}`);
  if (/Non-2xx/.test(r.stdout)) throw new Error(`wrk saw errors: ${r.stdout}`);
  return Number(m[1]);
}

async function main(): Promise<void> {
  for (const tool of ['wrk', 'nginx']) if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`${tool} is needed`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-http-'));
  fs.chmodSync(dir, 0o755); // nginx workers run as an unprivileged user
  fs.mkdirSync(path.join(dir, 'www', 'app'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'www', 'file1k.txt'), 'x'.repeat(1023) + '\n');
  fs.writeFileSync(path.join(dir, 'www', 'app', 'main.lua'), 'function onConnection(client)\n  function client:add(a, b) return a + b end\nend\n');
  fs.writeFileSync(path.join(dir, 'post.lua'), 'wrk.method = "POST"\nwrk.body = "[1,2]"\nwrk.headers["Content-Type"] = "application/json"\n');

  // nginx twice: all cores (the near-limit reference) and one worker (what one event loop can do)
  for (const [name, workers, port] of [['nginx', 'auto', NGINX_PORT], ['nginx1', '1', NGINX1_PORT]] as const) {
    const ngx = path.join(dir, name);
    fs.mkdirSync(path.join(ngx, 'logs'), { recursive: true });
    fs.writeFileSync(
      path.join(ngx, 'nginx.conf'),
      `worker_processes ${workers};\ndaemon off;\npid ${ngx}/nginx.pid;\nerror_log ${ngx}/logs/error.log;\nevents { worker_connections 1024; }\nhttp {\n  access_log off;\n  server { listen 127.0.0.1:${port}; root ${dir}/www; }\n}\n`,
    );
    children.push(spawn('nginx', ['-c', path.join(ngx, 'nginx.conf'), '-p', ngx], { stdio: 'ignore' }));
  }

  const server = fork(path.join(__dirname, 'http-server.js'), [dir, String(OUR_PORT)], { stdio: 'ignore' });
  children.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once('message', () => resolve());
    server.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  await new Promise((r) => setTimeout(r, 500));

  // the executable with threads = 2, on the same www/
  const tdir = path.join(dir, 'threads');
  fs.mkdirSync(tdir);
  fs.symlinkSync(path.join(dir, 'www'), path.join(tdir, 'www'));
  fs.writeFileSync(
    path.join(tdir, 'MonaServer.ini'),
    `threads = 2\n[HTTP]\nport = ${THREADS_PORT}\n[RTMP]\nport = 0\n[RTMFP]\nport = 0\n[RTSP]\nport = 0\n[admin]\nport = 0\n`,
  );
  const threaded = spawn(process.execPath, [path.join(__dirname, '..', 'src', 'cli.js'), '--log=3'], { cwd: tdir, stdio: 'ignore' });
  children.push(threaded);
  for (let i = 0; i < 100 && spawnSync('sh', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${THREADS_PORT}`]).status !== 0; i++) await new Promise((r) => setTimeout(r, 100));

  const rows: Array<[string, string, number]> = [];
  rows.push(['1 KB static file', 'nginx (worker_processes auto)', wrk(`http://127.0.0.1:${NGINX_PORT}/file1k.txt`)]);
  rows.push(['1 KB static file', 'nginx (worker_processes 1)', wrk(`http://127.0.0.1:${NGINX1_PORT}/file1k.txt`)]);
  rows.push(['1 KB static file', 'monats', wrk(`http://127.0.0.1:${OUR_PORT}/file1k.txt`)]);
  rows.push(['JSON RPC over HTTP (POST /app/add [1,2])', 'monats', wrk(`http://127.0.0.1:${OUR_PORT}/app/add`, path.join(dir, 'post.lua'))]);
  const load = spawnSync(process.execPath, [path.join(__dirname, 'http-ws-load.js'), `ws://127.0.0.1:${OUR_PORT}/app`, '50', String(SECONDS)], { encoding: 'utf8' });
  const ws = JSON.parse(load.stdout) as { rps: number; errors: number };
  if (ws.errors) throw new Error(`${ws.errors} bad WebSocket replies`);
  rows.push(['JSON RPC over WebSocket (["add",1,2])', 'monats', ws.rps]);
  rows.push(['1 KB static file', 'monats, threads = 2', wrk(`http://127.0.0.1:${THREADS_PORT}/file1k.txt`)]);
  rows.push(['JSON RPC over HTTP (POST /app/add [1,2])', 'monats, threads = 2', wrk(`http://127.0.0.1:${THREADS_PORT}/app/add`, path.join(dir, 'post.lua'))]);
  const tload = spawnSync(process.execPath, [path.join(__dirname, 'http-ws-load.js'), `ws://127.0.0.1:${THREADS_PORT}/app`, '50', String(SECONDS)], { encoding: 'utf8' });
  const tws = JSON.parse(tload.stdout) as { rps: number; errors: number };
  if (tws.errors) throw new Error(`${tws.errors} bad WebSocket replies (threads = 2)`);
  rows.push(['JSON RPC over WebSocket (["add",1,2])', 'monats, threads = 2', tws.rps]);

  console.log(`| workload | server | requests/s |\n|---|---|---:|`);
  for (const [w, s, r] of rows) console.log(`| ${w} | ${s} | ${Math.round(r).toLocaleString('en-US')} |`);
  const ours = rows[2][2];
  console.log(
    `\nstatic file: monats = ${((100 * ours) / rows[0][2]).toFixed(0)}% of nginx (all cores), ${((100 * ours) / rows[1][2]).toFixed(0)}% of nginx (1 worker); ` +
      `${(ours / 7600).toFixed(1)}x MonaServer's reference 7,600 req/s (measured on a quieter run of this machine)`,
  );
  const threads = rows[5][2];
  console.log(`static file, threads = 2: ${((100 * threads) / rows[0][2]).toFixed(0)}% of nginx (all cores), ${((100 * threads) / ours).toFixed(0)}% of one process`);
  cleanup();
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  cleanup();
  process.exit(1);
});
