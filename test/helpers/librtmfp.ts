/**
 * Running librtmfp's TestClient (built outside the repo, see docs/rtmfp.md) from tests: where it
 * is, processes with their output collected, waiting for a line, stopping by pid, counting the
 * frames of an FLV it wrote (ffprobe), the peer id it logs.
 */
import type { TestContext } from 'node:test';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Netns } from './netns';

/** $LIBRTMFP_TESTCLIENT, else ext/librtmfp/TestClient/TestClient beside the repo or beside one of its parents */
function findTestClient(): string {
  if (process.env.LIBRTMFP_TESTCLIENT) return process.env.LIBRTMFP_TESTCLIENT;
  const repo = path.join(__dirname, '..', '..', '..');
  const first = path.join(repo, '..', 'ext', 'librtmfp', 'TestClient', 'TestClient');
  for (let dir = path.dirname(repo); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'ext', 'librtmfp', 'TestClient', 'TestClient');
    if (fs.existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) return first;
  }
}

export const TESTCLIENT = findTestClient();

export function haveTestClient(t: TestContext): boolean {
  if (fs.existsSync(TESTCLIENT)) return true;
  t.skip(`librtmfp TestClient not built (${TESTCLIENT}): see docs/rtmfp.md to build it`);
  return false;
}

export interface Proc {
  p: ChildProcess;
  out: string;
  done: Promise<number | null>;
}

/** Starts `cmd` (TestClient finds librtmfp.so beside it), inside `ns` when given. */
export function startProc(cmd: string, args: string[], cwd?: string, ns?: Netns): Proc {
  // TestClient finds librtmfp.so through an rpath relative to its own folder's ../lib
  const lib = path.join(path.dirname(TESTCLIENT), '..', 'lib');
  const env = { ...process.env, LD_LIBRARY_PATH: [lib, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') };
  // stdout is a pipe: without stdbuf TestClient's printf output would wait for its exit
  const argv = ['-oL', '-eL', cmd, ...args];
  const options = { stdio: ['ignore', 'pipe', 'pipe'] as ('ignore' | 'pipe')[], cwd, env };
  const p = ns ? ns.spawn('stdbuf', argv, options) : spawn('stdbuf', argv, options);
  const proc: Proc = { p, out: '', done: Promise.resolve(null) };
  p.stdout!.on('data', (d) => (proc.out += d.toString('latin1')));
  p.stderr!.on('data', (d) => (proc.out += d.toString('latin1')));
  proc.done = new Promise((r) => p.on('close', (code) => r(code)));
  return proc;
}

/** Signals the process by its pid (SIGKILL after 5 s) and resolves with its exit code. */
export function stopProc(proc: Proc, signal: NodeJS.Signals = 'SIGINT'): Promise<number | null> {
  if (proc.p.exitCode === null && proc.p.signalCode === null && proc.p.pid) {
    try {
      process.kill(proc.p.pid, signal);
    } catch {
      /* gone */
    }
  }
  const hard = setTimeout(() => {
    if (proc.p.pid && proc.p.exitCode === null && proc.p.signalCode === null) process.kill(proc.p.pid, 'SIGKILL');
  }, 5000);
  return proc.done.finally(() => clearTimeout(hard));
}

export async function waitFor(proc: Proc, re: RegExp, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  while (!re.test(proc.out)) {
    if (Date.now() > until || proc.p.exitCode !== null) throw new Error(`no ${re} in:\n${proc.out.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** frames per stream type of an FLV, via ffprobe (also the video width, to tell streams apart) */
export function countFrames(file: string): Record<string, number> {
  const out: Record<string, number> = {};
  if (!fs.existsSync(file)) return out;
  const r = spawnSync('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'stream=codec_name,nb_read_frames,width', '-of', 'csv=p=0', file]);
  for (const line of r.stdout.toString().trim().split('\n')) {
    const [codec, a, b] = line.split(',');
    if (!codec) continue;
    if (b !== undefined) {
      out[codec] = Number(b);
      out.width = Number(a);
    } else out[codec] = Number(a);
  }
  return out;
}

/** The peer id TestClient logs once connected ("Peer ID : <hex>"). */
export function loggedPeerId(proc: Proc): string | null {
  return /Peer ID : \s*([0-9a-f]{64})/.exec(proc.out)?.[1] ?? null;
}

/**
 * A test FLV: H.264 + AAC, `seconds` long at 25 fps, `size` WxH. `realTime`: constant 130 kbit/s
 * video, about the 1.5 KB per 50 ms TestClient's publisher reads, so it publishes at the pace of
 * the timestamps (it reads by bytes, not by time: the default, smaller file goes out ~1.8x faster).
 */
export function makeFlv(file: string, seconds: number, size = '320x240', realTime = false): void {
  const rate = realTime ? ['-b:v', '130k', '-minrate', '130k', '-maxrate', '130k', '-bufsize', '130k', '-x264-params', 'nal-hrd=cbr'] : [];
  const ff = spawnSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc=size=${size}:rate=25`, '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100', '-t', String(seconds), '-c:v', 'libx264', '-preset', 'veryfast', '-g', '25', ...rate, '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-f', 'flv', file]);
  if (ff.status !== 0) throw new Error(`ffmpeg: ${ff.stderr.toString()}`);
}
