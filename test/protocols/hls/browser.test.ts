/**
 * hls.js in Debian's chromium plays a live RTMP publication from our server with lowLatencyMode:
 * it picks the LL-HLS variant, plays without a fatal error, and the latency it plays at is
 * measured and printed (method in hlsjs.ts). The bound asserted is loose (the machine is shared):
 * the figure is the point, bench/hls.ts gives medians.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { requireTool } from '../../helpers/http-server';
import { sleep } from '../rtmp/helpers';
import { hlsServer, publishTestSource } from './helpers';
import { CHROMIUM_ARGS, hlsjsFile, median, PLAYER_PAGE, type LatencySample } from './hlsjs';

test('hls.js (lowLatencyMode) in chromium plays a live publication; its latency is measured', { timeout: 180_000 }, async (t) => {
  if (!requireTool(t, 'ffmpeg')) return;
  if (!fs.existsSync('/usr/bin/chromium')) {
    if (process.env.CI) throw new Error('chromium is required in CI');
    t.skip('chromium not installed');
    return;
  }
  const s = await hlsServer(t, { files: { 'live/player.html': PLAYER_PAGE, 'live/hls.min.js': hlsjsFile() } });
  const t0 = Date.now();
  await publishTestSource(t, s, 'cam');
  const publication = s.context.publications.get('cam')!;
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS, timeout: 30_000 });
  t.after(() => browser.close());
  const page = await browser.newPage();
  await page.goto(s.url('live/player.html'));
  await page.evaluate(() => (globalThis as unknown as { start(src: string): void }).start('cam.m3u8'));
  // let it settle, then sample the latency every half second
  let first: LatencySample | null = null;
  for (let i = 0; i < 60 && !(first && first.currentTime > 4); i++) {
    await sleep(500);
    first = (await page.evaluate(() => (globalThis as unknown as { sample(): unknown }).sample())) as LatencySample;
    assert.deepEqual(first.errors, []);
  }
  assert.ok(first && first.currentTime > 4, `hls.js plays (${JSON.stringify(first)})`);
  const ingest: number[] = [];
  const playback: number[] = [];
  const estimates: number[] = [];
  let last: LatencySample | null = null;
  for (let i = 0; i < 16; i++) {
    await sleep(500);
    last = (await page.evaluate(() => (globalThis as unknown as { sample(): unknown }).sample())) as LatencySample;
    // how far the server's newest frame is behind the publisher's clock (started at t0 or later)
    ingest.push(Date.now() - t0 - publication.lastTime);
    if (last.playingDate !== null) playback.push(last.now - last.playingDate);
    estimates.push(last.estimate);
  }
  assert.deepEqual(last!.errors, []);
  assert.equal(last!.paused, false);
  assert.equal(last!.width, 320);
  assert.ok(last!.frames > 100, `${last!.frames} frames shown`);
  const g2g = median(playback) + median(ingest);
  t.diagnostic(`hls.js LL-HLS latency: ingest→playback ${median(playback).toFixed(0)} ms (playingDate), publisher→ingest ≤ ${median(ingest).toFixed(0)} ms, glass to glass ≤ ${g2g.toFixed(0)} ms; hls.js's own estimate ${median(estimates).toFixed(2)} s`);
  console.log(`# hls.js LL-HLS glass-to-glass latency ≤ ${g2g.toFixed(0)} ms (ingest→playback ${median(playback).toFixed(0)} ms, hls.latency ${median(estimates).toFixed(2)} s)`);
  assert.ok(median(playback) > 0 && median(playback) < 8000, `playback latency ${median(playback)} ms`);
});
