/**
 * Test helpers for RTMP: an in-process server (startTestServer with RTMP alone) on an ephemeral
 * 127.0.0.1 port over a temp application dir (www/ with a live/ app), external tools (ffmpeg,
 * ffprobe, rtmpdump) run by PID with a deadline, and a test FLV made by ffmpeg once per process.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import type { AppHost } from '../../../src/core/app-host';
import type { ServerContext } from '../../../src/core/context';
import type { Level } from '../../../src/logs/levels';
import type { RTMPServer } from '../../../src/protocols/rtmp/server';
import { startTestServer, type TestServer } from '../../helpers/server';
import { tempDir } from '../../helpers/temp';

export interface RTMPTestServer {
  server: RTMPServer;
  context: ServerContext;
  port: number;
  dir: string;
  /** the whole test server (log lines, the Server object) */
  test: TestServer;
  url(pathAndStream: string, scheme?: string): string;
  stop(): Promise<void>;
}

/** A temp application dir (removed when the test file ends): app path → its main.lua, or null for a folder. */
export function tempAppDir(apps: Record<string, string | null> = { live: null }): string {
  const dir = tempDir('rtmp-test-');
  fs.mkdirSync(path.join(dir, 'www'), { recursive: true });
  for (const [app, mainLua] of Object.entries(apps)) {
    const appDir = path.join(dir, 'www', app);
    fs.mkdirSync(appDir, { recursive: true });
    if (mainLua !== null) fs.writeFileSync(path.join(appDir, 'main.lua'), mainLua);
  }
  return dir;
}

export async function startRTMP(
  options: {
    dir?: string;
    /** the app host instead of the script runtime */
    host?: (ctx: ServerContext) => AppHost;
    level?: Level;
    /** ini keys ("section.key" → value) */
    overrides?: Record<string, string>;
  } = {},
): Promise<RTMPTestServer> {
  const test = await startTestServer({
    dir: options.dir ?? tempAppDir(),
    off: ['RTMFP', 'HTTP'],
    appHost: options.host,
    level: options.level,
    overrides: options.overrides,
  });
  const server = test.protocol<RTMPServer>('RTMP');
  const port = server.port;
  return {
    server,
    context: test.context,
    port,
    dir: test.dir,
    test,
    url: (p, scheme = 'rtmp') => `${scheme}://127.0.0.1:${port}/${p.replace(/^\//, '')}`,
    stop: () => test.stop(),
  };
}

/** Skips the test when a tool is missing, fails when CI is set (team rule). */
export function needTool(t: TestContext, tool: string): boolean {
  const r = spawnSync('sh', ['-c', `command -v ${tool}`]);
  if (r.status === 0) return true;
  if (process.env.CI) throw new Error(`${tool} is required in CI`);
  t.skip(`${tool} not installed`);
  return false;
}

export interface ToolRun {
  child: ChildProcess;
  done: Promise<{ code: number | null; stdout: Buffer; stderr: string }>;
  kill(): void;
}

/** Runs a tool; killed (by PID) after `timeoutMs`. */
export function run(cmd: string, args: string[], timeoutMs = 30_000): ToolRun {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  let err = '';
  child.stdout?.on('data', (d: Buffer) => out.push(d));
  child.stderr?.on('data', (d: Buffer) => {
    if (err.length < 200_000) err += d.toString();
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<{ code: number | null; stdout: Buffer; stderr: string }>((resolve) => {
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr: err });
    });
  });
  return {
    child,
    done,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

let flvCache: string | null = null;
/** An H.264 + AAC FLV (25 fps, key frame every second) made once per test process. */
export function testFLV(seconds = 6): string {
  if (flvCache && fs.existsSync(flvCache)) return flvCache;
  const file = path.join(os.tmpdir(), `rtmp-test-${process.pid}-${seconds}s.flv`);
  const r = spawnSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc=size=320x240:rate=25:duration=${seconds}`,
    '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=44100:duration=${seconds}`,
    '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-b:a', '64k', '-f', 'flv', file,
  ]);
  if (r.status !== 0) throw new Error(`ffmpeg could not make the test FLV: ${r.stderr}`);
  flvCache = file;
  process.on('exit', () => fs.rmSync(file, { force: true }));
  return file;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resolves when `predicate` holds, polling; rejects after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

export interface ProbedFrames {
  video: number[];
  audio: number[];
  keyFirst: boolean;
  codecs: string[];
}

/** ffprobe of a recorded file: packet times per stream, whether the first video frame is a key frame. */
export function probe(file: string): ProbedFrames {
  const r = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name:packet=stream_index,codec_type,pts_time,flags', '-of', 'json', file], { maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`ffprobe failed: ${r.stderr}`);
  const j = JSON.parse(r.stdout.toString()) as {
    packets?: Array<{ codec_type: string; pts_time?: string; flags?: string }>;
    streams?: Array<{ codec_name: string }>;
  };
  const video: number[] = [];
  const audio: number[] = [];
  let keyFirst = false;
  let sawVideo = false;
  for (const p of j.packets ?? []) {
    const t = Number(p.pts_time);
    if (p.codec_type === 'video') {
      if (!sawVideo) keyFirst = (p.flags ?? '').includes('K');
      sawVideo = true;
      video.push(t);
    } else if (p.codec_type === 'audio') audio.push(t);
  }
  return { video, audio, keyFirst, codecs: (j.streams ?? []).map((s) => s.codec_name) };
}

/** Number of video frames ffprobe decodes (proves the bytes are a valid stream, not just packets). */
export function decodedVideoFrames(file: string): number {
  const r = spawnSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', file]);
  if (r.status !== 0) throw new Error(`ffprobe failed: ${r.stderr}`);
  return parseInt(r.stdout.toString().trim(), 10) || 0;
}
