/**
 * HLS muxing cost per publication: CPU time to turn one second of a 2 Mbit/s 720p25 H.264 + AAC
 * publication into LL-HLS fMP4 parts and into MPEG-TS segments, against ffmpeg's own HLS muxer
 * (`-c copy -f hls`, TS and `-hls_segment_type fmp4`) on the same input in the same run.
 *
 * Run by hand: `npx tsc -p . && node dist/bench/hls-mux.js [--seconds=30] [--loops=4] [--runs=5]`.
 * The input is encoded once with libx264/aac into a temp folder (removed at exit) and played
 * `loops` times in a row (ffmpeg: -stream_loop; ours: the frames again, times continuing), so the
 * measured stretch is long enough for the 10 ms resolution of the child's CPU times. Ours: the
 * frames are read into memory first (a publication already has them), then the segmenter is fed
 * all of them; CPU = user + system time of this process over that loop (process.cpuUsage).
 * ffmpeg: user + system time of the child (bash `times`), writing its segments to /dev/shm when
 * there is one; a `-c copy -f null` run of the same input is measured too, so that its demuxing
 * and start-up can be told apart from the muxing. Runs alternate between the contenders and the
 * medians are reported.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { MediaFrame } from '../src/core/media';
import { FLVFileReader } from '../src/media/files/flv-reader';
import { HLSSegmenter, type HLSOptions } from '../src/media/hls/segmenter';

function arg(name: string, def: number): number {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? Number(a.split('=')[1]) : def;
}

const SECONDS = arg('seconds', 30);
const RUNS = arg('runs', 5);
const LOOPS = arg('loops', 4);
const MEDIA_SECONDS = SECONDS * LOOPS;

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function makeInput(dir: string): string {
  const file = path.join(dir, 'in.flv');
  const r = spawnSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=1280x720:rate=25:duration=${SECONDS}`,
    '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=44100:duration=${SECONDS}`,
    '-c:v', 'libx264', '-preset', 'veryfast', '-b:v', '2M', '-maxrate', '2M', '-bufsize', '4M', '-g', '50', '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-b:a', '128k', '-f', 'flv', file,
  ]);
  if (r.status !== 0) throw new Error(`ffmpeg: ${r.stderr}`);
  return file;
}

async function loadFrames(file: string): Promise<MediaFrame[]> {
  const r = await FLVFileReader.open(file);
  const frames: MediaFrame[] = [];
  if (r.metadata) frames.push(new MediaFrame(18, 0, r.metadata));
  if (r.videoConfig) frames.push(new MediaFrame(9, 0, r.videoConfig));
  if (r.audioConfig) frames.push(new MediaFrame(8, 0, r.audioConfig));
  for await (const f of r.frames()) frames.push(new MediaFrame(f.type, f.time, f.payload));
  await r.close();
  return frames;
}

/** CPU ms of our segmenter over all frames. */
function ours(frames: MediaFrame[], options: HLSOptions): { cpuMs: number; bytes: number; segments: number } {
  const start = process.cpuUsage();
  const seg = new HLSSegmenter({ segments: 1000, maxBytes: 1 << 30, ...options });
  for (let loop = 0; loop < LOOPS; loop++) {
    const shift = loop * SECONDS * 1000;
    for (const f of frames) seg.push(loop ? { type: f.type, time: f.time + shift, payload: f.payload } : f);
  }
  seg.end();
  // what a server does per segment/part too: render the playlist as each one completes
  const text = seg.playlist(options.fmp4 === false ? 'ts' : 'fmp4');
  const used = process.cpuUsage(start);
  const stats = seg.getStats();
  seg.close();
  if (!text) throw new Error('no playlist');
  return { cpuMs: (used.user + used.system) / 1000, bytes: stats.bytes, segments: stats.segments };
}

/** CPU ms of an ffmpeg run (user + system of the child, from bash `times`). */
function ffmpeg(args: string[]): number {
  const cmd = `ffmpeg -hide_banner -loglevel error -y ${args.map((a) => `'${a}'`).join(' ')} >/dev/null 2>&1; echo rc=$?; times`;
  const r = spawnSync('bash', ['-c', cmd]);
  const out = r.stdout.toString();
  if (!out.includes('rc=0')) throw new Error(`ffmpeg ${args.join(' ')} failed: ${r.stderr}`);
  const lines = out.trim().split('\n');
  const child = lines[lines.length - 1].split(/\s+/);
  const secs = (t: string) => {
    const m = /(\d+)m([\d.]+)s/.exec(t);
    return m ? Number(m[1]) * 60 + Number(m[2]) : NaN;
  };
  return (secs(child[0]) + secs(child[1])) * 1000;
}

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-hls-'));
  const shm = fs.existsSync('/dev/shm') ? fs.mkdtempSync('/dev/shm/bench-hls-') : dir;
  process.on('exit', () => {
    fs.rmSync(dir, { recursive: true, force: true });
    if (shm !== dir) fs.rmSync(shm, { recursive: true, force: true });
  });
  console.log(`input: ${SECONDS} s of 1280x720 25 fps H.264 at 2 Mbit/s + AAC 128 kbit/s (libx264 veryfast, GOP 2 s)`);
  const input = makeInput(dir);
  const bitrate = (fs.statSync(input).size * 8) / SECONDS / 1e6;
  const frames = (await loadFrames(input)).filter((f, i) => i < 3 || f.type !== 18);
  console.log(`${frames.length} frames, ${bitrate.toFixed(2)} Mbit/s, played ${LOOPS} times (${MEDIA_SECONDS} s), ${RUNS} runs each, medians; load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  // warm-up (JIT) before measuring
  ours(frames, {});

  const results: Record<string, number[]> = {};
  const add = (name: string, ms: number) => (results[name] ??= []).push(ms);
  const out = (name: string) => path.join(shm, name);
  const loop = ['-stream_loop', String(LOOPS - 1)];
  let lastOurs = { bytes: 0, segments: 0 };
  for (let run = 0; run < RUNS; run++) {
    const a = ours(frames, { ts: false, partMs: 500 });
    add('ours: LL-HLS fMP4 (2 s segments, 500 ms parts)', a.cpuMs);
    add('ours: fMP4 segments, no parts', ours(frames, { ts: false, partMs: 0 }).cpuMs);
    add('ours: MPEG-TS segments', ours(frames, { fmp4: false }).cpuMs);
    const both = ours(frames, {});
    add('ours: LL-HLS fMP4 + MPEG-TS (the default)', both.cpuMs);
    lastOurs = both;
    add('ffmpeg -c copy -f hls (TS)', ffmpeg([...loop, '-i', input, '-c', 'copy', '-f', 'hls', '-hls_time', '2', '-hls_list_size', '0', out(`ts-${run}.m3u8`)]));
    add('ffmpeg -c copy -f hls -hls_segment_type fmp4', ffmpeg([...loop, '-i', input, '-c', 'copy', '-f', 'hls', '-hls_time', '2', '-hls_list_size', '0', '-hls_segment_type', 'fmp4', '-hls_fmp4_init_filename', `init-${run}.mp4`, out(`f-${run}.m3u8`)]));
    add('ffmpeg -c copy -f null (demux + start-up only)', ffmpeg([...loop, '-i', input, '-c', 'copy', '-f', 'null', '-']));
  }
  const base = median(results['ffmpeg -c copy -f null (demux + start-up only)']);
  console.log(`\n| muxer | CPU ms for ${MEDIA_SECONDS} s | CPU ms per media second | % of one core |`);
  console.log('|---|---:|---:|---:|');
  for (const [name, list] of Object.entries(results)) {
    const m = median(list);
    console.log(`| ${name} | ${m.toFixed(1)} | ${(m / MEDIA_SECONDS).toFixed(2)} | ${((m / MEDIA_SECONDS / 1000) * 100).toFixed(2)}% |`);
  }
  const ffTs = median(results['ffmpeg -c copy -f hls (TS)']) - base;
  const ffMp4 = median(results['ffmpeg -c copy -f hls -hls_segment_type fmp4']) - base;
  const ourTs = median(results['ours: MPEG-TS segments']);
  const ourMp4 = median(results['ours: fMP4 segments, no parts']);
  console.log(`\nffmpeg muxing alone (minus its -f null run): TS ${ffTs.toFixed(1)} ms, fMP4 ${ffMp4.toFixed(1)} ms`);
  console.log(`ratio ours / ffmpeg muxing alone: TS ${(ourTs / ffTs).toFixed(2)}, fMP4 ${(ourMp4 / ffMp4).toFixed(2)}`);
  console.log(`bytes made for ${MEDIA_SECONDS} s (both variants, everything kept): ${(lastOurs.bytes / 1e6).toFixed(1)} MB in ${lastOurs.segments} segments`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
