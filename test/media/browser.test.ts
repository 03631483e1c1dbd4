/**
 * Our fMP4 in a browser: Debian's chromium (playwright-core) checks the CODECS of the
 * multivariant playlist with MediaSource.isTypeSupported, then appends the init segment and the
 * LL-HLS parts (as a low-latency player does) to a MediaSource SourceBuffer and plays them. Chromium's
 * MSE is strict about CMAF structure (mvex, tfdt, data offsets, sample flags): what it accepts,
 * hls.js and Safari-style players accept. The files are served from a temp folder by node:http.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { HLSSegmenter } from '../../src/media/hls/segmenter';
import { fixture, flvFrames, tmpDir, writeHLS } from './helpers';
import { parsePlaylist } from './hls-validator';

const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--autoplay-policy=no-user-gesture-required',
];

const PAGE = `<!doctype html><video id="v" muted playsinline></video><script>
async function play(mime, uris) {
  const video = document.getElementById('v');
  if (!MediaSource.isTypeSupported(mime)) return { error: 'unsupported ' + mime };
  const ms = new MediaSource();
  video.src = URL.createObjectURL(ms);
  await new Promise((r) => ms.addEventListener('sourceopen', r, { once: true }));
  const sb = ms.addSourceBuffer(mime);
  const errors = [];
  video.addEventListener('error', () => errors.push('video error ' + (video.error && video.error.message)));
  sb.addEventListener('error', () => errors.push('sourcebuffer error'));
  for (const uri of uris) {
    const data = await (await fetch(uri)).arrayBuffer();
    sb.appendBuffer(data);
    await new Promise((r) => sb.addEventListener('updateend', r, { once: true }));
    if (errors.length) return { error: errors.join('; ') + ' at ' + uri };
  }
  ms.endOfStream();
  await video.play();
  await new Promise((resolve) => {
    const done = () => { if (video.ended || video.currentTime > video.duration - 0.3 || errors.length) resolve(); else setTimeout(done, 100); };
    done();
  });
  const q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : {};
  return { errors, duration: video.duration, currentTime: video.currentTime, width: video.videoWidth, height: video.videoHeight,
    frames: q.totalVideoFrames, dropped: q.droppedVideoFrames, buffered: video.buffered.length };
}
</script>`;

test('chromium plays our LL-HLS fMP4 parts through MSE with the CODECS we advertise', { timeout: 120_000 }, async (t: TestContext) => {
  if (!fs.existsSync('/usr/bin/chromium')) {
    if (process.env.CI) throw new Error('chromium is required in CI');
    t.skip('chromium not installed');
    return;
  }
  const dir = tmpDir('browser');
  const server = http.createServer((req, res) => {
    const name = decodeURIComponent((req.url ?? '/').split('?')[0].slice(1));
    if (!name) {
      res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
      return;
    }
    const file = path.join(dir, path.basename(name));
    if (!fs.existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': name.endsWith('.m3u8') ? 'application/vnd.apple.mpegurl' : 'video/mp4' }).end(fs.readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS, timeout: 30_000 });
  t.after(() => browser.close());
  const page = await browser.newPage();
  await page.goto(base);
  for (const name of ['av', 'av-bframes', 'audio']) {
    const seg = new HLSSegmenter({ segments: 10, fmp4: true, ts: false });
    for (const f of flvFrames(fixture(name))) seg.push(f);
    seg.end();
    for (const f of fs.readdirSync(dir)) fs.rmSync(path.join(dir, f));
    const playlist = seg.playlist('fmp4')!;
    const master = seg.multivariant([{ uri: 'index.m3u8', format: 'fmp4' }])!;
    writeHLS(dir, { 'index.m3u8': playlist }, seg);
    // every part of every segment, in order (the last segments list parts; earlier ones whole)
    const p = parsePlaylist(playlist);
    const uris = [p.segments[0].map!, ...p.segments.flatMap((s) => (s.parts.length ? s.parts.map((x) => x.uri) : [s.uri]))];
    for (const u of uris) assert.ok(fs.existsSync(path.join(dir, u)), u);
    const codecs = /CODECS="([^"]+)"/.exec(master)![1];
    const mime = `${name === 'audio' ? 'audio' : 'video'}/mp4; codecs="${codecs}"`;
    const r = (await page.evaluate(([m, u]) => (globalThis as unknown as { play: (m: string, u: string[]) => Promise<unknown> }).play(m, u), [mime, uris] as [string, string[]])) as Record<string, unknown>;
    assert.equal(r.error, undefined, `${name}: ${JSON.stringify(r)}`);
    assert.deepEqual(r.errors, [], name);
    assert.equal(r.buffered, 1, `${name}: one continuous buffered range (${JSON.stringify(r)})`);
    assert.ok(Math.abs((r.duration as number) - 6) < 0.2, `${name}: ${JSON.stringify(r)}`);
    assert.ok((r.currentTime as number) > 5.5, `${name}: played to ${r.currentTime}`);
    if (name !== 'audio') {
      assert.equal(r.width, 320);
      assert.ok((r.frames as number) >= 140, `${name}: ${JSON.stringify(r)}`);
    }
  }
});
