/**
 * LL-HLS benchmark, one run: (1) glass-to-glass latency of hls.js (lowLatencyMode, in Debian's
 * chromium through playwright-core) playing a live RTMP publication from our server, medians of
 * samples; (2) the server's CPU while N load viewers play it over LL-HLS as hls.js does (blocking
 * playlist reload for the next part, then the new parts), beside (3) the same N players on our
 * HTTP-FLV path (`name.flv`), the progressive stream every other HTTP player of this server uses.
 * MediaMTX (the LL-HLS server one would compare with) is a Go binary that neither npm nor Debian
 * packages, so it cannot be installed here.
 *
 * Usage: npx tsc -p . && node dist/bench/hls.js [--viewers=200] [--window=10] [--warmup=6] [--samples=30]
 * Latency method (also in test/protocols/hls/hlsjs.ts): EXT-X-PROGRAM-DATE-TIME is the server's clock when a
 * segment's first frame arrived, so Date.now() - hls.playingDate is ingest → playback; ffmpeg
 * publishes in real time (-re) from T0, so (now - T0) - newest publication time is publisher →
 * ingest (an upper bound: it includes ffmpeg's start-up). Their sum is glass to glass.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { cpuSeconds, freePort, rssMB } from './rtmp-fanout-servers';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const VIEWERS = Number(args.viewers ?? 200);
const WINDOW = Number(args.window ?? 10);
const WARMUP = Number(args.warmup ?? 6);
const SAMPLES = Number(args.samples ?? 30);

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--autoplay-policy=no-user-gesture-required',
];

const PAGE = `<!doctype html><video id="v" muted playsinline></video><script src="hls.min.js"></script><script>
window.start = (src) => { const v = document.getElementById('v'); const h = new Hls({ lowLatencyMode: true }); window.hls = h;
  h.loadSource(src); h.attachMedia(v); v.play(); };
window.sample = () => { const h = window.hls; const v = document.getElementById('v');
  return { now: Date.now(), playingDate: h.playingDate ? h.playingDate.getTime() : null, estimate: h.latency, t: v.currentTime }; };
</script>`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Server {
  pid: number;
  http: number;
  rtmp: number;
  admin: number;
  dir: string;
  stop(): void;
}

async function startServer(): Promise<Server> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-hls-'));
  fs.mkdirSync(path.join(dir, 'www', 'live'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'www', 'live', 'player.html'), PAGE);
  fs.copyFileSync(path.join(require.resolve('hls.js'), '..', 'hls.min.js'), path.join(dir, 'www', 'live', 'hls.min.js'));
  const [httpPort, rtmp, admin] = [await freePort(), await freePort(), await freePort()];
  fs.writeFileSync(path.join(dir, 'MonaServer.ini'), [
    '[RTMFP]', 'port=0', '[RTMP]', `port=${rtmp}`, '[HTTP]', `port=${httpPort}`, '[RTSP]', 'port=0', '[admin]', `port=${admin}`,
    '[servers]', 'port=0', '[TCP]', 'maxConnectionsPerIP=0', '[logs]', 'directory=logs',
  ].join('\n'));
  const child = spawn(process.execPath, [path.join(__dirname, '..', 'src', 'cli.js'), `--config=${path.join(dir, 'MonaServer.ini')}`, '--log=4'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((r) => http.get(`http://127.0.0.1:${httpPort}/`, (res) => (res.resume(), r(true))).on('error', () => r(false)));
    if (ok) break;
    await sleep(100);
  }
  return { pid: child.pid!, http: httpPort, rtmp, admin, dir, stop: () => child.kill('SIGTERM') };
}

/** ffmpeg publishing 640x360 25 fps (1 key frame a second, ~1 Mbit/s) in real time. */
function publish(s: Server, seconds: number) {
  const t0 = Date.now();
  const child = spawn('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-re',
    '-f', 'lavfi', '-i', `testsrc=size=640x360:rate=25:duration=${seconds}`,
    '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=44100:duration=${seconds}`,
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '25', '-b:v', '1M', '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-b:a', '64k', '-f', 'flv', `rtmp://127.0.0.1:${s.rtmp}/live/cam`,
  ], { stdio: 'ignore' });
  return { t0, kill: () => child.kill('SIGKILL') };
}

/** One viewer that fetches as hls.js in lowLatencyMode does: blocking reload for the next part, then the new parts. */
class LoadViewer {
  bytes = 0;
  parts = 0;
  errors = 0;
  private stopped = false;
  private readonly seen = new Set<string>();

  constructor(private readonly agent: http.Agent, private readonly base: string) {}

  private get(url: string): Promise<{ status: number; body: Buffer }> {
    return new Promise((resolve) => {
      const req = http.get(url, { agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', () => resolve({ status: 0, body: Buffer.alloc(0) }));
      });
      req.on('error', () => resolve({ status: 0, body: Buffer.alloc(0) }));
    });
  }

  async run(): Promise<void> {
    const mv = await this.get(`${this.base}/live/cam.m3u8`);
    const variant = mv.body.toString().split('\n').find((l) => l && !l.startsWith('#'));
    if (!variant) {
      this.errors++;
      return;
    }
    const media = `${this.base}/live/${variant}`;
    let query = '';
    while (!this.stopped) {
      const r = await this.get(media + query);
      if (r.status !== 200) {
        this.errors++;
        await sleep(500);
        query = '';
        continue;
      }
      this.bytes += r.body.length;
      const text = r.body.toString();
      const uris = [...text.matchAll(/#EXT-X-PART:[^\n]*URI="([^"]+)"/g)].map((m) => m[1]);
      const fresh = uris.filter((u) => !this.seen.has(u));
      // the first time, hls.js starts a few parts back from the live edge
      for (const u of this.seen.size === 0 ? fresh.slice(-3) : fresh) {
        this.seen.add(u);
        const p = await this.get(`${this.base}/live/cam.m3u8/${u}`);
        if (p.status === 200) {
          this.bytes += p.body.length;
          this.parts++;
        } else this.errors++;
      }
      for (const u of uris) this.seen.add(u);
      if (this.seen.size > 200) for (const u of [...this.seen].slice(0, 100)) this.seen.delete(u);
      const hint = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="[^"]*\/(\d+)\.(\d+)\.m4s/.exec(text);
      query = hint ? `&_HLS_msn=${hint[1]}&_HLS_part=${hint[2]}` : '';
    }
  }

  stop(): void {
    this.stopped = true;
  }
}

/** One HTTP-FLV player: a progressive GET of cam.flv, bytes counted. */
function flvPlayer(base: string, agent: http.Agent): { bytes: () => number; stop: () => void } {
  let bytes = 0;
  const req = http.get(`${base}/live/cam.flv`, { agent }, (res) => res.on('data', (c: Buffer) => (bytes += c.length)));
  req.on('error', () => undefined);
  return { bytes: () => bytes, stop: () => req.destroy() };
}

async function cpuOver(pid: number, seconds: number): Promise<{ server: number; client: number }> {
  const s0 = cpuSeconds([pid]);
  const c0 = process.cpuUsage();
  await sleep(seconds * 1000);
  const c1 = process.cpuUsage(c0);
  return { server: ((cpuSeconds([pid]) - s0) / seconds) * 100, client: ((c1.user + c1.system) / 1e6 / seconds) * 100 };
}

async function latency(s: Server, t0: number): Promise<{ playback: number; ingest: number; estimate: number; n: number }> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${s.http}/live/player.html`);
    await page.evaluate('start("cam.m3u8")');
    for (let i = 0; i < 60; i++) {
      const x = (await page.evaluate('sample()')) as { t: number };
      if (x.t > 5) break;
      await sleep(500);
    }
    const playback: number[] = [];
    const ingest: number[] = [];
    const estimate: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      await sleep(500);
      const x = (await page.evaluate('sample()')) as { now: number; playingDate: number | null; estimate: number };
      if (x.playingDate !== null) playback.push(x.now - x.playingDate);
      estimate.push(x.estimate);
      const pub = await publicationTime(s);
      if (Number.isFinite(pub)) ingest.push(Date.now() - t0 - pub);
    }
    return { playback: median(playback), ingest: median(ingest), estimate: median(estimate), n: playback.length };
  } finally {
    await browser.close();
  }
}

/** The publication's newest media time (ms), from the admin API. */
async function publicationTime(s: Server): Promise<number> {
  try {
    const r = (await (await fetch(`http://127.0.0.1:${s.admin}/v1/publications`)).json()) as Array<{ name: string; lastTime?: number }>;
    const p = Array.isArray(r) ? r.find((x) => x.name === 'cam') : undefined;
    return p?.lastTime ?? NaN;
  } catch {
    return NaN;
  }
}

async function main(): Promise<void> {
  const s = await startServer();
  const pub = publish(s, 600);
  try {
    await sleep(3000);
    console.log(`# LL-HLS benchmark: ffmpeg 640x360 25 fps 1 Mbit/s, 2 s segments, 500 ms parts; ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)}`);
    const lat = await latency(s, pub.t0);
    console.log(`hls.js lowLatencyMode, ${lat.n} samples: ingest → playback ${lat.playback.toFixed(0)} ms (median), publisher → ingest ≤ ${lat.ingest.toFixed(0)} ms, glass to glass ≤ ${(lat.playback + lat.ingest).toFixed(0)} ms; hls.latency ${lat.estimate.toFixed(2)} s`);

    const base = `http://127.0.0.1:${s.http}`;
    const idle = await cpuOver(s.pid, 3);
    // LL-HLS viewers
    const agent = new http.Agent({ keepAlive: true, maxSockets: VIEWERS * 2 });
    const viewers = Array.from({ length: VIEWERS }, () => new LoadViewer(agent, base));
    for (const v of viewers) {
      void v.run();
      await sleep(10);
    }
    await sleep(WARMUP * 1000);
    const b0 = viewers.reduce((n, v) => n + v.bytes, 0);
    const p0 = viewers.reduce((n, v) => n + v.parts, 0);
    const hls = await cpuOver(s.pid, WINDOW);
    const hlsBytes = viewers.reduce((n, v) => n + v.bytes, 0) - b0;
    const hlsParts = viewers.reduce((n, v) => n + v.parts, 0) - p0;
    const hlsErrors = viewers.reduce((n, v) => n + v.errors, 0);
    const hlsRss = rssMB([s.pid]);
    for (const v of viewers) v.stop();
    agent.destroy();
    await sleep(3000);
    // HTTP-FLV players
    const fagent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
    const players = Array.from({ length: VIEWERS }, () => flvPlayer(base, fagent));
    await sleep(WARMUP * 1000);
    const f0 = players.reduce((n, p) => n + p.bytes(), 0);
    const flv = await cpuOver(s.pid, WINDOW);
    const flvBytes = players.reduce((n, p) => n + p.bytes(), 0) - f0;
    const flvRss = rssMB([s.pid]);
    for (const p of players) p.stop();

    const mbps = (b: number) => ((b * 8) / WINDOW / 1e6).toFixed(0);
    console.log('');
    console.log(`| ${VIEWERS} players of one publication | server CPU (% of one core) | delivered Mbit/s | per viewer kbit/s | server RSS MB | load client CPU | notes |`);
    console.log('|---|---:|---:|---:|---:|---:|---|');
    console.log(`| idle (publisher only) | ${idle.server.toFixed(1)} | | | | | |`);
    console.log(`| LL-HLS (blocking reload + parts) | ${hls.server.toFixed(1)} | ${mbps(hlsBytes)} | ${((hlsBytes * 8) / WINDOW / 1e3 / VIEWERS).toFixed(0)} | ${hlsRss.toFixed(0)} | ${hls.client.toFixed(0)}% | ${(hlsParts / WINDOW).toFixed(0)} parts/s, ${hlsErrors} errors |`);
    console.log(`| HTTP-FLV (progressive) | ${flv.server.toFixed(1)} | ${mbps(flvBytes)} | ${((flvBytes * 8) / WINDOW / 1e3 / VIEWERS).toFixed(0)} | ${flvRss.toFixed(0)} | ${flv.client.toFixed(0)}% | |`);
    console.log(`ratio LL-HLS / HTTP-FLV server CPU: ${(hls.server / Math.max(0.1, flv.server)).toFixed(2)}`);
  } finally {
    pub.kill();
    s.stop();
    await sleep(500);
    fs.rmSync(s.dir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
