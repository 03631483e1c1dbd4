/**
 * HTTPS throughput and TLS handshake cost, ours against nginx in the same run, with wrk:
 * - requests/s for a 1 KB static file over kept-alive connections (2 threads, 50 connections),
 *   over HTTPS and, as the reference of what TLS costs, plain HTTP;
 * - new connections per second, each with one request: plain HTTP (the cost of a connection
 *   without TLS), then TLS with an ECDSA P-256 and an RSA 2048 certificate: full handshakes
 *   (4 `openssl s_time -new` in parallel, each connecting again as soon as a handshake is done,
 *   never resuming) and resumed ones (wrk with `Connection: close`: wrk keeps the session of a
 *   connection for the next one, as browsers do), with the server's CPU per connection (user +
 *   system time of its processes from /proc, divided by the connections made): what a handshake
 *   costs us, hence what a handshake flood can take.
 * Servers: ours (one event loop, a child process), nginx with one worker and with one per core,
 * all with the same certificate and file. Each measure runs `rounds` times, servers interleaved;
 * the tables give medians. The machine is shared: compare the columns of one run.
 *   npx tsc -p . && node dist/bench/https.js [seconds=10] [rounds=3]
 */
import { fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

const SECONDS = Number(process.argv[2] ?? 10);
const ROUNDS = Number(process.argv[3] ?? 3);
const CLK_TCK = 100; // Linux USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s

const children: ChildProcess[] = [];
function cleanup(): void {
  for (const c of children) if (c.pid && c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
}
process.on('exit', cleanup);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function waitPort(port: number, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve();
      });
      s.once('error', () => (Date.now() > until ? reject(new Error(`nothing listens on ${port}`)) : setTimeout(attempt, 100)));
    };
    attempt();
  });
}

/** CPU seconds (user + system) used so far by `pid` and its children processes (nginx workers). */
function cpuSeconds(pid: number): number {
  const pids = [pid];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  let ticks = 0;
  for (const p of pids) {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
    } catch {
      // gone meanwhile
    }
  }
  return ticks / CLK_TCK;
}

interface WrkResult {
  rps: number;
  requests: number;
  errors: number;
}

function wrk(url: string, close: boolean): WrkResult {
  const args = ['-t2', '-c50', `-d${SECONDS}s`, ...(close ? ['-H', 'Connection: close'] : []), url];
  const r = spawnSync('wrk', args, { encoding: 'utf8' });
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
  const requests = /(\d+) requests in/.exec(r.stdout);
  if (!rps || !requests) throw new Error(`wrk failed: ${r.stdout}${r.stderr}`);
  if (/Non-2xx/.test(r.stdout)) throw new Error(`wrk saw errors: ${r.stdout}`);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(r.stdout);
  const errors = socketErrors ? Number(socketErrors[1]) + Number(socketErrors[3]) + Number(socketErrors[4]) : 0;
  return { rps: Number(rps[1]), requests: Number(requests[1]), errors };
}

/** Full handshakes: `clients` openssl s_time -new for SECONDS; the connections they made. */
async function fullHandshakes(port: number, clients = 4): Promise<number> {
  const runs = Array.from({ length: clients }, () => {
    const p = spawn('openssl', ['s_time', '-connect', `127.0.0.1:${port}`, '-new', '-time', String(SECONDS)], { stdio: ['ignore', 'pipe', 'ignore'] });
    children.push(p);
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    return new Promise<number>((resolve) => p.on('close', () => {
      const m = /(\d+) connections in [\d.]+ real seconds/.exec(out);
      resolve(m ? Number(m[1]) : 0);
    }));
  });
  return (await Promise.all(runs)).reduce((a, b) => a + b, 0);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function certificate(dir: string, type: 'ec' | 'rsa'): { cert: string; key: string } {
  const cert = path.join(dir, `${type}.pem`);
  const key = path.join(dir, `${type}.key`);
  const newkey = type === 'ec' ? ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'] : ['-newkey', 'rsa:2048'];
  const r = spawnSync('openssl', ['req', '-x509', ...newkey, '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
  return { cert, key };
}

interface Peer {
  name: string;
  pid: number;
  http: number;
  https: number;
  stop(): void;
}

async function startNginx(dir: string, name: string, workers: string, cert: { cert: string; key: string }): Promise<Peer> {
  const ngx = path.join(dir, name);
  fs.mkdirSync(path.join(ngx, 'logs'), { recursive: true });
  const http = await freePort();
  const https = await freePort();
  fs.writeFileSync(
    path.join(ngx, 'nginx.conf'),
    `worker_processes ${workers};\ndaemon off;\npid ${ngx}/nginx.pid;\nerror_log ${ngx}/logs/error.log;\n` +
      `events { worker_connections 4096; }\nhttp {\n  access_log off;\n  keepalive_requests 1000000;\n` +
      `  ssl_protocols TLSv1.2 TLSv1.3;\n  ssl_session_cache shared:SSL:10m;\n  ssl_certificate ${cert.cert};\n  ssl_certificate_key ${cert.key};\n` +
      `  server { listen 127.0.0.1:${http}; listen 127.0.0.1:${https} ssl; root ${dir}/www; }\n}\n`,
  );
  const child = spawn('nginx', ['-c', path.join(ngx, 'nginx.conf'), '-p', ngx], { stdio: 'ignore' });
  children.push(child);
  await waitPort(https);
  return { name, pid: child.pid!, http, https, stop: () => child.kill('SIGTERM') };
}

async function startOurs(dir: string, cert: { cert: string; key: string }): Promise<Peer> {
  const http = await freePort();
  const https = await freePort();
  const child = fork(path.join(__dirname, 'https-server.js'), [dir, String(http), String(https), cert.cert, cert.key], { stdio: 'ignore' });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  return { name: 'monats', pid: child.pid!, http, https, stop: () => child.kill('SIGTERM') };
}

async function main(): Promise<void> {
  for (const tool of ['wrk', 'nginx', 'openssl']) if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`${tool} is needed`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-https-'));
  fs.chmodSync(dir, 0o755); // nginx workers run as an unprivileged user
  fs.mkdirSync(path.join(dir, 'www'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'www', 'file1k.txt'), 'x'.repeat(1023) + '\n');
  const certs = { ec: certificate(dir, 'ec'), rsa: certificate(dir, 'rsa') };
  for (const c of Object.values(certs)) fs.chmodSync(c.key, 0o644); // nginx reads it as root anyway; keep it simple

  console.log(`wrk -t2 -c50, ${SECONDS} s per run, ${ROUNDS} rounds, medians; ${os.cpus().length} cores, load average ${os.loadavg()[0].toFixed(1)} at start\n`);
  const keepAlive = new Map<string, number[]>();
  const handshakes = new Map<string, { full: number[]; fullCpuMs: number[]; resumed: number[]; resumedCpuMs: number[]; errors: number }>();
  /** plain HTTP, a new connection per request: what a connection costs without TLS */
  const plainClose = new Map<string, { rps: number[]; cpuMs: number[] }>();
  for (const type of ['ec', 'rsa'] as const) {
    const peers = [await startOurs(dir, certs[type]), await startNginx(dir, `nginx1-${type}`, '1', certs[type]), await startNginx(dir, `nginx-${type}`, 'auto', certs[type])];
    await new Promise((r) => setTimeout(r, 500));
    for (let round = 0; round < ROUNDS; round++) {
      for (const p of peers) {
        const label = p.name === 'monats' ? 'monats' : p.name.startsWith('nginx1') ? 'nginx (worker_processes 1)' : 'nginx (worker_processes auto)';
        if (type === 'ec') {
          // kept-alive requests: the certificate plays no part once connected
          const put = (k: string, v: number) => keepAlive.set(k, [...(keepAlive.get(k) ?? []), v]);
          put(`HTTPS|${label}`, wrk(`https://127.0.0.1:${p.https}/file1k.txt`, false).rps);
          put(`HTTP|${label}`, wrk(`http://127.0.0.1:${p.http}/file1k.txt`, false).rps);
          const before = cpuSeconds(p.pid);
          const r = wrk(`http://127.0.0.1:${p.http}/file1k.txt`, true);
          const c = plainClose.get(label) ?? { rps: [], cpuMs: [] };
          c.rps.push(r.rps);
          c.cpuMs.push(((cpuSeconds(p.pid) - before) * 1000) / r.requests);
          plainClose.set(label, c);
        }
        const key = `${type === 'ec' ? 'ECDSA P-256' : 'RSA 2048'}|${label}`;
        const h = handshakes.get(key) ?? { full: [], fullCpuMs: [], resumed: [], resumedCpuMs: [], errors: 0 };
        let before = cpuSeconds(p.pid);
        const full = await fullHandshakes(p.https);
        h.full.push(full / SECONDS);
        h.fullCpuMs.push(((cpuSeconds(p.pid) - before) * 1000) / full);
        before = cpuSeconds(p.pid);
        const r = wrk(`https://127.0.0.1:${p.https}/file1k.txt`, true);
        h.resumed.push(r.rps);
        h.resumedCpuMs.push(((cpuSeconds(p.pid) - before) * 1000) / r.requests);
        h.errors += r.errors;
        handshakes.set(key, h);
      }
    }
    for (const p of peers) p.stop();
    await new Promise((r) => setTimeout(r, 500));
  }

  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  console.log('| 1 KB static file, kept-alive | server | requests/s |\n|---|---|---:|');
  for (const [k, v] of keepAlive) {
    const [w, s] = k.split('|');
    console.log(`| ${w} | ${s} | ${fmt(median(v))} |`);
  }
  const ka = (w: string, s: string) => median(keepAlive.get(`${w}|${s}`) ?? [NaN]);
  const ours = ka('HTTPS', 'monats');
  console.log(
    `\nHTTPS: monats = ${((100 * ours) / ka('HTTPS', 'nginx (worker_processes 1)')).toFixed(0)}% of nginx with 1 worker, ` +
      `${((100 * ours) / ka('HTTPS', 'nginx (worker_processes auto)')).toFixed(0)}% of nginx with every core; ` +
      `TLS keeps ${((100 * ours) / ka('HTTP', 'monats')).toFixed(0)}% of our plain HTTP rate (nginx 1 worker: ${((100 * ka('HTTPS', 'nginx (worker_processes 1)')) / ka('HTTP', 'nginx (worker_processes 1)')).toFixed(0)}%)\n`,
  );
  console.log('| certificate | server | full handshakes/s | server CPU per full handshake | resumed connection + 1 request /s | server CPU per resumed connection + request |\n|---|---|---:|---:|---:|---:|');
  for (const [k, v] of handshakes) {
    const [c, s] = k.split('|');
    const errors = v.errors ? ` (${v.errors} socket errors)` : '';
    console.log(`| ${c} | ${s} | ${fmt(median(v.full))} | ${median(v.fullCpuMs).toFixed(2)} ms | ${fmt(median(v.resumed))}${errors} | ${median(v.resumedCpuMs).toFixed(2)} ms |`);
  }
  console.log('\n| plain HTTP, new connection + 1 request | connections/s | server CPU per connection |\n|---|---:|---:|');
  for (const [s, v] of plainClose) console.log(`| ${s} | ${fmt(median(v.rps))} | ${median(v.cpuMs).toFixed(2)} ms |`);
  console.log('\n(full handshakes: 4 openssl s_time clients, which bound the rate; the CPU per handshake is the figure that compares)');
  cleanup();
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  cleanup();
  process.exit(1);
});
