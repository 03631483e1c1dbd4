/**
 * HTTP-FLV and WebSocket-FLV players that stop reading while ffmpeg publishes over RTMP: the
 * transport's stall timeout drops them (their queue stays above the output limit), a player that
 * reads goes on. The stream is a ~19 Mbit/s noise video so the kernel's socket buffers fill within
 * seconds. Then the campaign's attack (test/helpers/attacks.ts) against the real executable: 40
 * HTTP-FLV and 40 WebSocket-FLV players of an 8 Mbit/s stream stop reading while a healthy client
 * is timed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import WebSocket from 'ws';
import { requireTool, startHTTP, tempWWW } from '../../helpers/http-server';
import { run, sleep, waitFor } from '../rtmp/helpers';
import { flvStall } from '../../helpers/attacks';
import { attackTest } from '../../helpers/attack-test';

function noiseFLV(dir: string): string {
  const file = path.join(dir, 'noise.flv');
  const r = spawnSync('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25:duration=4,noise=alls=60:allf=t',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100:duration=4',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '0', '-g', '25', '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-b:a', '64k', '-f', 'flv', file,
  ]);
  if (r.status !== 0) throw new Error(`ffmpeg: ${r.stderr}`);
  return file;
}

test('HTTP-FLV and WebSocket-FLV players that stop reading are dropped on the stall timeout', async (t) => {
  if (!requireTool(t, 'ffmpeg')) return;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'live-stall-'));
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const s = await startHTTP({
    dir: tempWWW({ 'live/readme.txt': 'live app' }),
    rtmp: true,
    overrides: { 'TCP.stallTimeout': '2' },
  });
  t.after(() => s.stop());
  const pub = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', noiseFLV(tmp), '-c', 'copy', '-f', 'flv', `rtmp://127.0.0.1:${s.rtmpPort}/live/noise`], 90_000);
  t.after(() => pub.kill());
  await waitFor(() => s.context.publications.get('noise')?.running === true, 15_000, 'publication');
  const publication = s.context.publications.get('noise')!;

  // a reading HTTP-FLV player
  let healthyBytes = 0;
  const healthy = net.connect(s.port, '127.0.0.1');
  healthy.on('data', (d) => (healthyBytes += d.length));
  healthy.on('error', () => {});
  healthy.write('GET /live/noise.flv HTTP/1.1\r\nHost: t\r\n\r\n');
  t.after(() => healthy.destroy());

  // an HTTP-FLV player that reads the head, then never again
  const stalled = net.connect(s.port, '127.0.0.1');
  stalled.on('error', () => {});
  stalled.once('data', () => stalled.pause());
  stalled.write('GET /live/noise.flv HTTP/1.1\r\nHost: t\r\n\r\n');
  t.after(() => stalled.destroy());

  // a WebSocket-FLV player that stops reading once open
  const ws = new WebSocket(`ws://127.0.0.1:${s.port}/live/noise.flv`);
  ws.on('error', () => {});
  await new Promise((r) => ws.once('open', r));
  ws.pause();
  t.after(() => ws.terminate());

  await waitFor(() => publication.listeners.size === 3, 10_000, 'three players');
  const started = Date.now();
  // the kernel buffers fill in seconds at this rate, then 2 s above the output limit
  await waitFor(() => publication.listeners.size === 1, 40_000, 'the two stalled players to be dropped');
  const took = Date.now() - started;
  const before = healthyBytes;
  await sleep(1000);
  assert.ok(healthyBytes > before, 'the reading player still receives');
  assert.ok(!healthy.destroyed);
  t.diagnostic(`stalled players dropped after ${took} ms`);
});

attackTest(flvStall, (o) => assert.equal(o.dropped, o.players, 'every stalled player dropped'));
