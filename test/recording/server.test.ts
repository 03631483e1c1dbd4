/**
 * Recording through the real server process (the CLI of this build): ffmpeg publishes over RTMP,
 * MonaServer2's `[name=Publication]` section with `OUT` lines records it, and ffprobe checks the
 * files — an MP4 of about the published length, one still valid after `kill -9` of the server
 * mid-recording and continued by an `append` publish after the restart, and a recording that fails
 * for lack of space (a file size limit: the same write error as a full disk) while the publication
 * goes on for its players.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { requireTool, run as runTool } from '../helpers/http-server';
import { freePorts, startCli, tempDir, writeIni, type RunningChild } from '../process/helpers';
import { run, sleep } from '../protocols/rtmp/helpers';

function ffprobeDuration(file: string): { duration: number; video: number; audio: number } {
  const r = spawnSync('ffprobe', ['-v', 'error', '-count_packets', '-show_entries', 'stream=codec_type,nb_read_packets:format=duration', '-of', 'json', file]);
  assert.equal(r.status, 0, `ffprobe ${file}: ${r.stderr}`);
  const j = JSON.parse(r.stdout.toString()) as { streams: Array<{ codec_type: string; nb_read_packets: string }>; format: { duration: string } };
  const count = (k: string) => Number(j.streams.find((s) => s.codec_type === k)?.nb_read_packets ?? 0);
  return { duration: Number(j.format.duration), video: count('video'), audio: count('audio') };
}

function decodeErrors(file: string): string {
  const r = spawnSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-']);
  return r.stderr.toString().trim();
}

/** ffmpeg publishing a generated source in real time for `seconds` to rtmp://…/live/<name>. */
function publish(port: number, name: string, seconds: number, bitrate = '300k') {
  return run('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-re',
    '-f', 'lavfi', '-i', `testsrc=size=320x240:rate=25:duration=${seconds}`,
    '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=44100:duration=${seconds}`,
    '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-b:v', bitrate, '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-b:a', '64k', '-f', 'flv', `rtmp://127.0.0.1:${port}/live/${name}`,
  ], (seconds + 30) * 1000);
}

async function server(dir: string, ini: string, shell?: string): Promise<RunningChild> {
  const child = startCli([`--config=${ini}`], dir, undefined, shell);
  await child.waitFor(/RTMP server started/);
  return child;
}

test('ffmpeg publishing 5 s with OUT cam.mp4 / OUT cam.flv lines gives files of about 5 s', { timeout: 120_000 }, async (t) => {
  for (const tool of ['ffmpeg', 'ffprobe']) if (!requireTool(t, tool)) return;
  const dir = tempDir('monats-record-');
  fs.mkdirSync(path.join(dir, 'www', 'live'), { recursive: true });
  const ports = await freePorts();
  const ini = writeIni(dir, ports, '[cam=Publication]\nOUT cam.mp4\nOUT records/cam.flv\n');
  const s = await server(dir, ini);
  t.after(() => s.kill());
  const pub = publish(ports.rtmp, 'cam', 5);
  const r = await pub.done;
  assert.equal(r.code, 0, r.stderr);
  await s.waitFor(/cam\.mp4 complete/);
  await s.waitFor(/cam\.flv complete/);
  for (const file of ['cam.mp4', 'records/cam.flv']) {
    const full = path.join(dir, 'www', 'live', file);
    const p = ffprobeDuration(full);
    assert.ok(Math.abs(p.duration - 5) < 0.5, `${file}: ${p.duration} s`);
    assert.ok(p.video >= 120 && p.audio >= 200, `${file}: ${p.video} video, ${p.audio} audio packets`);
    assert.equal(decodeErrors(full), '', file);
  }
  assert.match(s.output(), /cam recorded to .*cam\.mp4/);
});

test('kill -9 of the server mid-recording leaves a valid MP4; an append publish after the restart continues it', { timeout: 180_000 }, async (t) => {
  for (const tool of ['ffmpeg', 'ffprobe']) if (!requireTool(t, tool)) return;
  const dir = tempDir('monats-record-');
  fs.mkdirSync(path.join(dir, 'www', 'live'), { recursive: true });
  const ports = await freePorts();
  const ini = writeIni(dir, ports, '[publication]\nappend=true\n[cam=Publication]\nOUT cam.mp4\n');
  const file = path.join(dir, 'www', 'live', 'cam.mp4');
  let s = await server(dir, ini);
  t.after(() => s.kill());
  const pub = publish(ports.rtmp, 'cam', 60);
  t.after(() => pub.kill());
  await s.waitFor(/cam recorded to/);
  await sleep(5000);
  s.kill(); // SIGKILL, by pid
  await s.exited;
  pub.kill();
  const crashed = ffprobeDuration(file);
  assert.ok(crashed.duration > 2.5 && crashed.duration < 7, `after kill -9: ${crashed.duration} s`);
  assert.equal(decodeErrors(file), '');

  // restarted, [publication] append=true: the next publish continues the file
  s = await server(dir, ini);
  const again = publish(ports.rtmp, 'cam', 3);
  assert.equal((await again.done).code, 0);
  await s.waitFor(/cam\.mp4 complete/);
  const appended = ffprobeDuration(file);
  assert.ok(Math.abs(appended.duration - (crashed.duration + 3)) < 1, `appended: ${appended.duration} s after ${crashed.duration} s`);
  assert.equal(decodeErrors(file), '');
});

test('a recording that runs out of space is reported; the publication goes on for its players', { timeout: 120_000 }, async (t) => {
  for (const tool of ['ffmpeg', 'ffprobe', 'curl']) if (!requireTool(t, tool)) return;
  const dir = tempDir('monats-record-');
  fs.mkdirSync(path.join(dir, 'www', 'live'), { recursive: true });
  const ports = await freePorts();
  const ini = writeIni(dir, ports, '[cam=Publication]\nOUT cam.flv\n');
  // files may not grow past 300 KB: the recording's write fails as on a full disk
  const s = await server(dir, ini, 'ulimit -f 300');
  t.after(() => s.kill());
  const pub = publish(ports.rtmp, 'cam', 40, '800k');
  t.after(() => pub.kill());
  await s.waitFor(/recording to .*cam\.flv failed/, 30_000);
  // the publisher is still publishing and a player still gets the stream
  await sleep(500);
  assert.equal(pub.child.exitCode, null, 'ffmpeg still publishing');
  const r = await runTool('curl', ['-s', '--max-time', '2', '-o', '-', `http://127.0.0.1:${ports.http}/live/cam.flv`], 10_000);
  assert.ok(r.stdout.length > 50_000, `a player got ${r.stdout.length} bytes`);
  assert.equal(r.stdout.toString('latin1', 0, 3), 'FLV');
  assert.equal(s.child.exitCode, null, 'the server runs');
});
