/**
 * What `threads = 2` costs per script event against `threads = 1`, through the real executable:
 *  - an RPC answered by Lua (`client:add(a, b)` over WebSocket): latency with one call in flight,
 *    and calls/s with 50 clients in closed loops, with the server's CPU per call;
 *  - a media event (`publication:onVideo` in Lua) of a publication published by an RTMP client:
 *    the server's CPU per 4 KB frame delivered to the script (threads = 2: the worker relays the
 *    frames to the primary, whose VM runs the event).
 * Rounds alternate the two settings; the report gives medians and ratios.
 *   npx tsc -p . && node dist/bench/threads-cost.js [--rounds=3] [--calls=3000] [--frames=20000] [--seconds=5]
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import WebSocket from 'ws';
import { RTMPClient } from '../src/protocols/rtmp/client';
import { cpuSeconds } from './rtmp-fanout-servers';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=') as [string, string]));
const ROUNDS = Number(args.rounds ?? 3);
const CALLS = Number(args.calls ?? 3000);
const FRAMES = Number(args.frames ?? 20000);
const SECONDS = Number(args.seconds ?? 5);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const MAIN_LUA = `
bytes = 0
function onConnection(c)
  function c:add(a, b) return a + b end
  function c:onPublish(p)
    function p:onVideo(time, packet) bytes = bytes + #packet end
  end
  function c:bytes() return bytes end
end
`;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function descendants(pid: number): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(e));
    } catch {
      // gone
    }
  }
  return out;
}

interface Running {
  child: ChildProcess;
  http: number;
  rtmp: number;
  dir: string;
  pids(): number[];
}

async function start(threads: number): Promise<Running> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bench-threads${threads}-`));
  fs.mkdirSync(path.join(dir, 'www', 'app'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'www', 'app', 'main.lua'), MAIN_LUA);
  const [http, rtmp] = [await freePort(), await freePort()];
  fs.writeFileSync(path.join(dir, 'MonaServer.ini'), `threads = ${threads}\n[HTTP]\nport = ${http}\n[RTMP]\nport = ${rtmp}\n[RTMFP]\nport = 0\n[RTSP]\nport = 0\n[admin]\nport = 0\n`);
  const child = spawn(process.execPath, [path.join(__dirname, '..', 'src', 'cli.js'), '--log=3'], { cwd: dir, stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(http, '127.0.0.1', () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) break;
    await sleep(50);
  }
  await sleep(threads > 1 ? 800 : 200); // every worker listening
  return { child, http, rtmp, dir, pids: () => [child.pid!, ...descendants(child.pid!)] };
}

async function stop(r: Running): Promise<void> {
  await new Promise<void>((resolve) => {
    r.child.once('exit', () => resolve());
    r.child.kill('SIGTERM');
  });
  fs.rmSync(r.dir, { recursive: true, force: true });
}

async function rpcLatency(r: Running): Promise<number> {
  const ws = new WebSocket(`ws://127.0.0.1:${r.http}/app`);
  await new Promise<void>((res, rej) => {
    ws.once('open', () => res());
    ws.once('error', rej);
  });
  let n = 0;
  const t0 = process.hrtime.bigint();
  await new Promise<void>((done) => {
    ws.on('message', () => {
      if (++n === CALLS) return done();
      ws.send('["add",1,2]');
    });
    ws.send('["add",1,2]');
  });
  const us = Number(process.hrtime.bigint() - t0) / 1000 / CALLS;
  ws.terminate();
  return us;
}

function rpcThroughput(r: Running): { rps: number; cpuUsPerCall: number } {
  const pids = r.pids();
  const cpu0 = cpuSeconds(pids);
  const load = spawnSync(process.execPath, [path.join(__dirname, 'http-ws-load.js'), `ws://127.0.0.1:${r.http}/app`, '50', String(SECONDS)], { encoding: 'utf8' });
  const cpu = cpuSeconds(pids) - cpu0;
  const { rps } = JSON.parse(load.stdout) as { rps: number };
  return { rps, cpuUsPerCall: (cpu * 1e6) / (rps * SECONDS) };
}

async function mediaEvents(r: Running): Promise<number> {
  const pub = new RTMPClient({ port: r.rtmp });
  await pub.connect('app');
  const id = await pub.createStream();
  pub.command('publish', ['w', 'live'], id);
  await pub.status(id, 'NetStream.Publish.Start');
  const ask = new RTMPClient({ port: r.rtmp });
  await ask.connect('app');
  await sleep(500); // threads = 2: the primary starts pulling the watched publication
  const frame = Buffer.alloc(4096, 1);
  frame[0] = 0x17;
  frame[1] = 1;
  const pids = r.pids();
  const cpu0 = cpuSeconds(pids);
  for (let i = 0; i < FRAMES; i++) {
    pub.sendVideo(id, i * 40, frame);
    if (i % 200 === 199) await sleep(1); // a real publisher's pace in bursts, not one write of 80 MB
  }
  const want = FRAMES * frame.length;
  for (let i = 0; i < 600; i++) {
    const got = Number((await ask.call('bytes')).args[1]);
    if (got >= want) break;
    await sleep(50);
  }
  const cpu = cpuSeconds(pids) - cpu0;
  await pub.close();
  await ask.close();
  return (cpu * 1e6) / FRAMES;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const results: Record<number, { latency: number[]; rps: number[]; cpuCall: number[]; cpuFrame: number[] }> = {
    1: { latency: [], rps: [], cpuCall: [], cpuFrame: [] },
    2: { latency: [], rps: [], cpuCall: [], cpuFrame: [] },
  };
  for (let round = 0; round < ROUNDS; round++) {
    for (const threads of round % 2 ? [2, 1] : [1, 2]) {
      const r = await start(threads);
      try {
        const res = results[threads];
        res.latency.push(await rpcLatency(r));
        const t = rpcThroughput(r);
        res.rps.push(t.rps);
        res.cpuCall.push(t.cpuUsPerCall);
        res.cpuFrame.push(await mediaEvents(r));
        console.log(`round ${round + 1}, threads = ${threads}: ${res.latency.at(-1)!.toFixed(0)} µs/RPC alone, ${Math.round(t.rps)} RPC/s with 50 clients (${t.cpuUsPerCall.toFixed(1)} µs CPU each), ${res.cpuFrame.at(-1)!.toFixed(1)} µs CPU per onVideo`);
      } finally {
        await stop(r);
      }
    }
  }
  const one = results[1];
  const two = results[2];
  const row = (what: string, a: number, b: number, unit: string) =>
    console.log(`| ${what} | ${a.toFixed(1)} ${unit} | ${b.toFixed(1)} ${unit} | ${(b / a).toFixed(2)}x |`);
  console.log(`\nmedians of ${ROUNDS} rounds (${os.cpus().length} cores, load average ${os.loadavg()[0].toFixed(1)})\n`);
  console.log('| measure | threads = 1 | threads = 2 | ratio |\n|---|---:|---:|---:|');
  row('RPC latency, one call in flight (WebSocket, Lua add)', median(one.latency), median(two.latency), 'µs');
  row('RPC throughput, 50 clients', median(one.rps) / 1000, median(two.rps) / 1000, 'k/s');
  row('server CPU per RPC (all processes)', median(one.cpuCall), median(two.cpuCall), 'µs');
  row('server CPU per 4 KB frame to publication:onVideo', median(one.cpuFrame), median(two.cpuFrame), 'µs');
  process.exit(0);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
