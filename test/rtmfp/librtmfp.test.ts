/**
 * Interoperability with a client nobody here wrote: librtmfp's TestClient, built from source outside
 * the repo (see README "RTMFP with librtmfp"), against the real server (startServer: Lua host, RTMP
 * and RTMFP on free ports), plus ffmpeg over RTMP for the relays. Checked with ffprobe:
 *  (a) connect: onConnection sees the URL query, its returned table is in Connect.Success;
 *  (b) RTMFP publish (ffmpeg-made FLV) → RTMFP play by a second TestClient;
 *  (c) RTMP publish by ffmpeg → RTMFP play;  (d) RTMFP publish → RTMP play by ffmpeg.
 * TestClient is looked for at $LIBRTMFP_TESTCLIENT or ../ext/librtmfp/TestClient/TestClient; the
 * test is skipped when it is absent (CI does not build librtmfp).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { startServer, type Server } from '../../src/server';
import { requireTool } from '../helpers/http-server';

const TESTCLIENT = process.env.LIBRTMFP_TESTCLIENT ?? path.join(__dirname, '..', '..', '..', '..', 'ext', 'librtmfp', 'TestClient', 'TestClient');

function haveTestClient(t: TestContext): boolean {
  if (fs.existsSync(TESTCLIENT)) return true;
  t.skip(`librtmfp TestClient not built (${TESTCLIENT})`);
  return false;
}

async function freePort(kind: 'udp' | 'tcp'): Promise<number> {
  if (kind === 'tcp') {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    const port = (s.address() as net.AddressInfo).port;
    await new Promise((r) => s.close(r));
    return port;
  }
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

interface Proc {
  p: ChildProcess;
  out: string;
  done: Promise<number | null>;
}

function start(cmd: string, args: string[], cwd?: string): Proc {
  // TestClient finds librtmfp.so through an rpath relative to its own folder's ../lib
  const lib = path.join(path.dirname(TESTCLIENT), '..', 'lib');
  const env = { ...process.env, LD_LIBRARY_PATH: [lib, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') };
  // stdout is a pipe: without stdbuf TestClient's printf output would wait for its exit
  const p = spawn('stdbuf', ['-oL', '-eL', cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd, env });
  const proc: Proc = { p, out: '', done: Promise.resolve(null) };
  p.stdout!.on('data', (d) => (proc.out += d.toString('latin1')));
  p.stderr!.on('data', (d) => (proc.out += d.toString('latin1')));
  proc.done = new Promise((r) => p.on('close', (code) => r(code)));
  return proc;
}

function stop(proc: Proc, signal: NodeJS.Signals = 'SIGINT'): Promise<number | null> {
  if (proc.p.exitCode === null && proc.p.pid) {
    try {
      process.kill(proc.p.pid, signal);
    } catch {
      /* gone */
    }
  }
  const hard = setTimeout(() => proc.p.pid && proc.p.exitCode === null && process.kill(proc.p.pid, 'SIGKILL'), 5000);
  return proc.done.finally(() => clearTimeout(hard));
}

async function waitFor(proc: Proc, re: RegExp, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  while (!re.test(proc.out)) {
    if (Date.now() > until || proc.p.exitCode !== null) throw new Error(`no ${re} in:\n${proc.out.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** frames per stream type of an FLV, via ffprobe */
function countFrames(file: string): Record<string, number> {
  const r = spawnSync('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'stream=codec_name,nb_read_frames', '-of', 'csv=p=0', file]);
  const out: Record<string, number> = {};
  for (const line of r.stdout.toString().trim().split('\n')) {
    const [codec, n] = line.split(',');
    if (codec) out[codec] = Number(n);
  }
  return out;
}

/** The bytes of TestClient's --dump lines ("\tXX XX ...  ascii"), concatenated. */
function dumpBytes(out: string): string {
  const hex: string[] = [];
  for (const line of out.split('\n')) {
    const m = /^\t((?:[0-9A-F]{2} )+)/.exec(line);
    if (m) hex.push(m[1].replace(/ /g, ''));
  }
  return Buffer.from(hex.join(''), 'hex').toString('latin1');
}

const MAIN_LUA = `
function onConnection(client, ...)
  return { greeting = "hello " .. tostring(client.properties.user), argsCount = select('#', ...) }
end
`;

async function setup(): Promise<{ server: Server; dir: string; rtmfp: number; rtmp: number; media: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'librtmfp-'));
  fs.mkdirSync(path.join(dir, 'www', 'live'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'www', 'live', 'main.lua'), MAIN_LUA);
  const rtmfp = await freePort('udp');
  const rtmp = await freePort('tcp');
  const server = await startServer({
    cwd: dir,
    console: null,
    overrides: { 'RTMFP.port': String(rtmfp), 'RTMP.port': String(rtmp), 'HTTP.port': '0', 'RTSP.port': '0', 'servers.port': '0', 'admin.port': '0' },
  });
  const media = path.join(dir, 'in.flv');
  const ff = spawnSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100', '-t', '4', '-c:v', 'libx264', '-preset', 'veryfast', '-g', '25', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-f', 'flv', media]);
  assert.equal(ff.status, 0, ff.stderr.toString());
  return { server, dir, rtmfp, rtmp, media };
}

test('librtmfp TestClient: connect, publish/play over RTMFP, relays with RTMP (ffmpeg)', { timeout: 120_000 }, async (t) => {
  if (!haveTestClient(t) || !requireTool(t, 'ffmpeg') || !requireTool(t, 'ffprobe')) return;
  const { server, dir, rtmfp, rtmp, media } = await setup();
  const procs: Proc[] = [];
  const url = (name: string, query = '') => `--url=rtmfp://127.0.0.1:${rtmfp}/live${query}/${name}`;
  const run = (cmd: string, args: string[]) => {
    const p = start(cmd, args, dir);
    procs.push(p);
    return p;
  };
  try {
    await t.test('(a) connect: Lua onConnection sees the query, returned table in Connect.Success', async () => {
      const c = run(TESTCLIENT, [url('x', '?user=bob'), '--dump']);
      await waitFor(c, /NetConnection\.Connect\.Success/);
      await stop(c);
      // the decrypted packets as TestClient dumps them (hex columns), bytes put back together
      const dumped = dumpBytes(c.out);
      assert.match(dumped, /_result.*NetConnection\.Connect\.Success/s);
      assert.match(dumped, /greeting\x02\x00\x09hello bob/);
      assert.match(dumped, /argsCount\x00\x00{8}/); // the number 0: librtmfp passes no extra args
    });

    await t.test('(b) RTMFP publish of an ffmpeg-made FLV → RTMFP play by a second TestClient', async () => {
      const out = path.join(dir, 'b.flv');
      const player = run(TESTCLIENT, [url('b'), `--mediaFile=${out}`]);
      await waitFor(player, /NetStream\.Play\.Start/);
      const pub = run(TESTCLIENT, [url('b'), '--write', `--mediaFile=${media}`]);
      await waitFor(pub, /NetStream\.Publish\.Start/);
      await pub.done;
      await waitFor(player, /UnpublishNotify/);
      await stop(player);
      const frames = countFrames(out);
      assert.ok(frames.h264 >= 95, `video frames ${JSON.stringify(frames)}`);
      assert.ok(frames.aac >= 150, `audio frames ${JSON.stringify(frames)}`);
    });

    await t.test('(c) RTMP publish by ffmpeg → RTMFP play', async () => {
      const out = path.join(dir, 'c.flv');
      const player = run(TESTCLIENT, [url('c'), `--mediaFile=${out}`]);
      await waitFor(player, /NetStream\.Play\.Start/);
      const ff = run('ffmpeg', ['-v', 'error', '-re', '-i', media, '-c', 'copy', '-f', 'flv', `rtmp://127.0.0.1:${rtmp}/live/c`]);
      assert.equal(await ff.done, 0, ff.out);
      await waitFor(player, /UnpublishNotify/);
      await stop(player);
      const frames = countFrames(out);
      assert.ok(frames.h264 >= 95, `video frames ${JSON.stringify(frames)}`);
      assert.ok(frames.aac >= 150, `audio frames ${JSON.stringify(frames)}`);
    });

    await t.test('(d) RTMFP publish → RTMP play by ffmpeg', async () => {
      const out = path.join(dir, 'd.flv');
      const ff = run('ffmpeg', ['-v', 'error', '-y', '-i', `rtmp://127.0.0.1:${rtmp}/live/d`, '-c', 'copy', '-f', 'flv', out]);
      await new Promise((r) => setTimeout(r, 700)); // ffmpeg subscribed and waiting
      const pub = run(TESTCLIENT, [url('d'), '--write', `--mediaFile=${media}`]);
      await waitFor(pub, /NetStream\.Publish\.Start/);
      await pub.done;
      await new Promise((r) => setTimeout(r, 1000));
      await stop(ff);
      const frames = countFrames(out);
      assert.ok(frames.h264 >= 95, `video frames ${JSON.stringify(frames)}`);
      assert.ok(frames.aac >= 150, `audio frames ${JSON.stringify(frames)}`);
    });
  } finally {
    await Promise.all(procs.map((p) => stop(p, 'SIGKILL')));
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
