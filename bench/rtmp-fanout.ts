/**
 * RTMP fan-out benchmark (issue 6), run by hand: `npx tsc -p . && node dist/bench/rtmp-fanout.js`
 * Options: --n=100,500,1000,2000  --servers=ours,nms,nginx  --warmup=6 --window=10 --stall=200
 * (servers: `ours` is the Server in its own process; `threads1`, `threads2`… the executable with
 * that `threads` setting, so that one run compares one process with N workers)
 *
 * One ffmpeg publisher sends a ~2 Mbit/s H.264+AAC stream (made once with libx264) in real time;
 * N lightweight players (bench/rtmp-fanout-player.ts, all in this process) play it. For each
 * server and N, after a warm-up, a measurement window reports: what the publisher sent (counted
 * by a relay between ffmpeg and the server), delivered Mbit/s (all players), share of players
 * receiving at least 90% of what the publisher sent, server CPU (% of one core, from
 * /proc) and RSS, and this load client's own CPU (it shares the 2 cores with the server).
 * Players are added on top of the previous step (100 → 500 → …). Then, with --stall=S, S players
 * that stop reading after 1 s are added next to 100 healthy ones and the server's RSS is sampled
 * for 30 s (--stallfor=S for longer): stalled players must not make memory grow without bound.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { LightPlayer } from './rtmp-fanout-player';
import { cpuSeconds, rssMB, startNginx, startNMS, startOurs, startOursThreads, NGINX_MODULE, type RunningServer } from './rtmp-fanout-servers';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const STEPS = (args.n ?? '100,500,1000,2000').split(',').map(Number);
const SERVERS = (args.servers ?? 'ours,nms,nginx').split(',');
const WARMUP = Number(args.warmup ?? 6) * 1000;
const WINDOW = Number(args.window ?? 10) * 1000;
const STALL = Number(args.stall ?? 200);
const STALL_SECONDS = Math.max(30, Number(args.stallfor ?? 30));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Row {
  server: string;
  n: number;
  connected: number;
  /** what the publisher sent during the window */
  sourceMbps: number;
  mbps: number;
  healthy: number;
  serverCpu: number;
  rss: number;
  clientCpu: number;
}

function makeStream(): { file: string; mbps: number } {
  const file = path.join(os.tmpdir(), 'rtmp-fanout-2mbps.flv');
  if (!fs.existsSync(file)) {
    console.log('encoding the 2 Mbit/s test stream (once)…');
    const r = spawnSync('ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-y',
      '-f', 'lavfi', '-i', 'testsrc2=size=1280x720:rate=25:duration=30',
      '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100:duration=30',
      '-c:v', 'libx264', '-preset', 'veryfast', '-b:v', '1870k', '-maxrate', '1870k', '-bufsize', '935k',
      '-x264-params', 'nal-hrd=cbr', '-g', '50', '-pix_fmt', 'yuv420p',
      '-c:a', 'aac', '-b:a', '128k', '-f', 'flv', file,
    ]);
    if (r.status !== 0) throw new Error(`ffmpeg: ${r.stderr}`);
  }
  const p = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'packet=size', '-of', 'csv=p=0', file], { maxBuffer: 64 << 20 });
  const bytes = p.stdout.toString().split('\n').filter(Boolean).reduce((a, s) => a + Number(s), 0);
  const d = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file]);
  const seconds = Number(d.stdout.toString().trim());
  return { file, mbps: (bytes * 8) / seconds / 1e6 };
}

/**
 * The publisher: ffmpeg in real time, looping the file, through a counting TCP relay so that each
 * window knows how much the source really sent (a starved publisher must not count as a
 * server failing its players).
 */
interface Publisher {
  child: ChildProcess;
  relay: net.Server;
  /** bytes ffmpeg sent to the server so far */
  bytes: () => number;
}

async function publish(file: string, server: RunningServer): Promise<Publisher> {
  let bytes = 0;
  const relay = net.createServer((inbound) => {
    const outbound = net.connect({ host: '127.0.0.1', port: server.port });
    inbound.on('data', (d: Buffer) => {
      bytes += d.length;
      outbound.write(d);
    });
    outbound.on('data', (d: Buffer) => inbound.write(d));
    const end = () => {
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on('close', end).on('error', end);
    outbound.on('close', end).on('error', end);
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', () => r()));
  const port = (relay.address() as net.AddressInfo).port;
  const child = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', file, '-c', 'copy', '-f', 'flv', `rtmp://127.0.0.1:${port}/${server.app}/bench`], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return { child, relay, bytes: () => bytes };
}

async function addPlayers(server: RunningServer, players: LightPlayer[], target: number, stall = false): Promise<void> {
  while (players.length < target) {
    const batch = Math.min(50, target - players.length);
    for (let i = 0; i < batch; i++) players.push(new LightPlayer(server.port, server.app, 'bench', stall));
    await sleep(100);
  }
}

/** media share of what the publisher sends (RTMP headers are about 1%) */
const MEDIA_SHARE = 0.99;

async function measure(server: RunningServer, players: LightPlayer[], pub: Publisher): Promise<Omit<Row, 'server' | 'n'>> {
  const pids = server.pids();
  const source0 = pub.bytes();
  const before = players.map((p) => p.mediaBytes);
  const cpu0 = cpuSeconds(pids);
  const own0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let rss = 0;
  const end = Date.now() + WINDOW;
  while (Date.now() < end) {
    rss = Math.max(rss, rssMB(pids));
    await sleep(500);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = cpuSeconds(pids) - cpu0;
  const own = process.cpuUsage(own0);
  const sourceMbps = ((pub.bytes() - source0) * 8 * MEDIA_SHARE) / seconds / 1e6;
  let total = 0;
  let healthy = 0;
  players.forEach((p, i) => {
    const bytes = p.mediaBytes - before[i];
    total += bytes;
    if ((bytes * 8) / seconds / 1e6 >= 0.9 * sourceMbps && !p.closed) healthy++;
  });
  return {
    sourceMbps,
    connected: players.filter((p) => p.playing && !p.closed).length,
    mbps: (total * 8) / seconds / 1e6,
    healthy: healthy / players.length,
    serverCpu: (cpu / seconds) * 100,
    rss,
    clientCpu: ((own.user + own.system) / 1e6 / seconds) * 100,
  };
}

async function stallRun(server: RunningServer): Promise<string> {
  const healthyPlayers: LightPlayer[] = [];
  const stalled: LightPlayer[] = [];
  await addPlayers(server, healthyPlayers, 100);
  await sleep(3000);
  const pids = server.pids();
  const rss0 = rssMB(pids);
  await addPlayers(server, stalled, STALL, true);
  const samples: number[] = [];
  const closedAt: number[] = [];
  for (let i = 0; i < STALL_SECONDS; i++) {
    await sleep(1000);
    samples.push(rssMB(pids));
    closedAt.push(stalled.filter((p) => p.closed).length);
  }
  const dropped = stalled.filter((p) => p.closed).length;
  const alive = healthyPlayers.filter((p) => !p.closed).length;
  for (const p of [...healthyPlayers, ...stalled]) p.close();
  const peak = Math.max(...samples);
  const at = [5, 15, 30, 60, 90, 120, 180].filter((t) => t <= STALL_SECONDS);
  const trace = at.map((t) => `${samples[t - 1].toFixed(0)} MB at ${t} s (${closedAt[t - 1]} closed)`).join(', ');
  return `RSS ${rss0.toFixed(0)} MB with 100 players; with ${STALL} stalled added: ${trace}, peak ${peak.toFixed(0)} MB; ${dropped}/${STALL} stalled players closed by the server; ${alive}/100 healthy players still connected`;
}

async function fanOut(name: string, stream: { file: string; mbps: number }, rows: Row[]): Promise<void> {
  const server = await startServer(name);
  const pub = await publish(stream.file, server);
  const players: LightPlayer[] = [];
  try {
    await sleep(2500);
    for (const n of STEPS) {
      await addPlayers(server, players, n);
      await sleep(WARMUP);
      const m = await measure(server, players, pub);
      const row = { server: server.name, n, ...m };
      rows.push(row);
      console.log(format(row));
      if (row.connected < n) {
        const closed = players.filter((p) => p.closed).length;
        const tcp = players.filter((p) => p.connected).length;
        const hs = players.filter((p) => p.handshaken).length;
        console.log(`  (${closed} closed, ${n - tcp} never connected, ${tcp - hs} without handshake, ${hs - players.filter((p) => p.playing).length} not playing after handshake)`);
      }
    }
  } finally {
    for (const p of players) p.close();
    pub.child.kill('SIGKILL');
    pub.relay.close();
    await server.stop();
  }
}

/** Stalled players run last: the kernel buffers they fill must not weigh on another server's run. */
async function stalling(name: string, stream: { file: string; mbps: number }, stalls: string[]): Promise<void> {
  const server = await startServer(name);
  const pub = await publish(stream.file, server);
  try {
    await sleep(2500);
    const s = await stallRun(server);
    stalls.push(`${server.name}: ${s}`);
    console.log(`stall test, ${server.name}: ${s}`);
  } finally {
    pub.child.kill('SIGKILL');
    pub.relay.close();
    await server.stop();
  }
}

function startServer(name: string): Promise<RunningServer> {
  const threads = /^threads(\d+)$/.exec(name);
  if (threads) return startOursThreads(Number(threads[1]));
  return name === 'ours' ? startOurs() : name === 'nms' ? startNMS() : startNginx();
}

function format(r: Row): string {
  // CPU per delivered Gbit/s: % of one core the server needs for each Gbit/s it delivers
  const perGbit = r.mbps > 0 ? (r.serverCpu / (r.mbps / 1000)).toFixed(1) : '-';
  return `| ${r.server.padEnd(20)} | ${String(r.n).padStart(5)} | ${String(r.connected).padStart(5)} | ${r.sourceMbps.toFixed(2).padStart(5)} | ${r.mbps.toFixed(0).padStart(7)} | ${(r.healthy * 100).toFixed(1).padStart(6)}% | ${r.serverCpu.toFixed(0).padStart(5)}% | ${perGbit.padStart(6)} | ${r.rss.toFixed(0).padStart(6)} | ${r.clientCpu.toFixed(0).padStart(5)}% |`;
}

async function main(): Promise<void> {
  if (SERVERS.includes('nginx') && !fs.existsSync(NGINX_MODULE)) throw new Error('libnginx-mod-rtmp is not installed');
  const stream = makeStream();
  console.log(`stream: ${stream.mbps.toFixed(2)} Mbit/s of media; ${os.cpus().length} cores; node ${process.version}`);
  console.log(`window ${WINDOW / 1000} s after ${WARMUP / 1000} s warm-up; healthy = at least 90% of what the publisher sent in the window\n`);
  console.log('| server               |     N | playing | source | Mbit/s | healthy | server CPU | CPU/Gbit/s | RSS MB | client CPU |');
  const rows: Row[] = [];
  const stalls: string[] = [];
  for (const s of SERVERS) {
    await fanOut(s, stream, rows);
    await sleep(5000); // let the kernel free the previous run's sockets
  }
  if (STALL > 0) for (const s of SERVERS) await stalling(s, stream, stalls);
  console.log('\n' + ['| server | N | playing | source Mbit/s | delivered Mbit/s | healthy | server CPU (% of a core) | CPU per delivered Gbit/s | server RSS MB | load client CPU |', '|---|---|---|---|---|---|---|---|---|---|', ...rows.map(format)].join('\n'));
  if (stalls.length) console.log('\nStalled players:\n' + stalls.map((s) => `- ${s}`).join('\n'));
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
