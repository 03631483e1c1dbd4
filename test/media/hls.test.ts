/**
 * Live HLS segmenter: ffmpeg-made streams are fed frame by frame as a publication would; the
 * playlists are checked against RFC 8216bis rules at every step, and the segments written to a
 * folder must decode completely with ffmpeg (every frame, key frames at segment starts, A/V in
 * sync). Blocking reloads, discontinuities and memory bounds are checked on the pure API.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MediaFrame, MediaType } from '../../src/core/media';
import { openMediaFile } from '../../src/media/files/open';
import { HLSSegmenter, parseHLSQuery, type WaitResult } from '../../src/media/hls/segmenter';
import { requireTool } from '../helpers/http-server';
import { assertKeyStarts, decodeErrors, fixture, flvFrames, packetCounts, playlistURIs, probe, streamOf, tmpDir, writeHLS, type Probe } from './helpers';
import { parsePlaylist, ReloadChecker, validatePlaylist } from './hls-validator';

const partId = (uri: string): [number, number] | null => {
  const m = /^(\d+)\.(\d+)\.m4s$/.exec(uri);
  return m ? [Number(m[1]), Number(m[2])] : null;
};

/** Feeds frames, validating every playlist the segmenter would serve after each one. */
function feed(seg: HLSSegmenter, frames: Array<{ type: MediaType; time: number; payload: Buffer }>, checker?: { fmp4: ReloadChecker; ts: ReloadChecker; errors: string[]; allowShort?: boolean }): void {
  for (const f of frames) {
    seg.push(f);
    if (!checker || !seg.ready) continue;
    for (const format of ['fmp4', 'ts'] as const) {
      for (const skip of [false, true]) {
        const text = seg.playlist(format, { skip });
        assert.ok(text);
        const errors = validatePlaylist(text, partId).filter((e) => !(checker.allowShort && e.includes('under 3 × TARGETDURATION')));
        if (errors.length) checker.errors.push(`${format}${skip ? ' skip' : ''} @${f.time}: ${errors.join('; ')}\n${text}`);
        if (!skip) checker[format].add(text);
      }
    }
  }
}

function newChecker() {
  return { fmp4: new ReloadChecker(), ts: new ReloadChecker(), errors: [] as string[] };
}

function assertChecker(c: ReturnType<typeof newChecker>): void {
  assert.deepEqual(c.errors.slice(0, 3), []);
  assert.deepEqual(c.fmp4.errors, []);
  assert.deepEqual(c.ts.errors, []);
}

/**
 * Audio frames an output keeps: those from the first video key frame on (outputs start with A/V
 * together; ffmpeg's FLV muxer puts the first key frame a few ms after the first audio frame).
 */
function audioFromKey(frames: MediaFrame[]): number {
  const key = frames.find((f) => f.type === MediaType.Video && f.key && !f.config);
  const start = key ? key.time : -Infinity;
  return frames.filter((f) => f.type === MediaType.Audio && !f.config && f.time >= start).length;
}

/** Start and end offsets between audio and video presentation (s). */
function avOffsets(p: Probe): [number, number] {
  const v = p.packets.filter((x) => x.type === 'video').map((x) => x.pts);
  const a = p.packets.filter((x) => x.type === 'audio').map((x) => x.pts);
  return [Math.min(...a) - Math.min(...v), Math.max(...a) - Math.max(...v)];
}

async function framesOf(file: string): Promise<MediaFrame[]> {
  if (file.endsWith('.flv')) return flvFrames(file);
  const r = await openMediaFile(file);
  const out: MediaFrame[] = [];
  if (r.videoConfig) out.push(new MediaFrame(MediaType.Video, 0, r.videoConfig));
  if (r.audioConfig) out.push(new MediaFrame(MediaType.Audio, 0, r.audioConfig));
  for await (const f of r.frames()) out.push(new MediaFrame(f.type, f.time, f.payload));
  await r.close();
  return out;
}

function serve(seg: HLSSegmenter, dir: string): void {
  const fmp4 = seg.playlist('fmp4')!;
  const ts = seg.playlist('ts')!;
  writeHLS(dir, { 'index.m3u8': fmp4, 'ts.m3u8': ts, 'master.m3u8': seg.multivariant([{ uri: 'index.m3u8', format: 'fmp4' }])! }, seg);
}

test('live H.264/AAC: LL-HLS fMP4 and MPEG-TS variants decode completely, key frames at segment starts, A/V in sync', async (t) => {
  if (!requireTool(t, 'ffmpeg') || !requireTool(t, 'ffprobe')) return;
  for (const name of ['av', 'av-bframes']) {
    const src = fixture(name);
    const frames = flvFrames(src);
    const seg = new HLSSegmenter({ segments: 10 });
    const checker = newChecker();
    feed(seg, frames, checker);
    seg.end();
    assertChecker(checker);
    const dir = tmpDir(`hls-${name}`);
    serve(seg, dir);
    const source = probe(src);
    const want = { video: packetCounts(src).video, audio: audioFromKey(frames) };
    for (const playlist of ['index.m3u8', 'ts.m3u8', 'master.m3u8']) {
      const file = path.join(dir, playlist);
      assert.equal(decodeErrors(file), '', `${name} ${playlist}`);
      const p = probe(file);
      assert.equal(streamOf(p, 'video')?.codec, 'h264');
      assert.equal(streamOf(p, 'audio')?.codec, 'aac');
      assert.equal(streamOf(p, 'video')?.frames, want.video, `${name} ${playlist} video frames`);
      assert.equal(streamOf(p, 'audio')?.frames, want.audio, `${name} ${playlist} audio frames`);
      const [s0, e0] = avOffsets(source);
      const [s1, e1] = avOffsets(p);
      assert.ok(Math.abs(s1 - s0) < 0.1 && Math.abs(e1 - e0) < 0.1, `${name} ${playlist}: A/V offsets ${s1},${e1} vs source ${s0},${e0}`);
    }
    assertKeyStarts(dir, 'index.m3u8');
    assertKeyStarts(dir, 'ts.m3u8');
    // the whole stream is listed (6 s, 10 segments allowed) with parts for the last ones
    const pl = parsePlaylist(fs.readFileSync(path.join(dir, 'index.m3u8'), 'utf8'));
    assert.equal(pl.targetDuration, 2);
    assert.equal(pl.segments.length, 3);
    assert.ok(pl.segments.every((s) => Math.abs(s.duration - 2) < 0.05));
    assert.ok(pl.segments[2].parts.length >= 4 && pl.partTarget! < 0.6 && pl.partTarget! >= 0.5);
    const master = fs.readFileSync(path.join(dir, 'master.m3u8'), 'utf8');
    const h264 = streamOf(source, 'video')!;
    assert.match(master, /CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2"/);
    assert.match(master, new RegExp(`RESOLUTION=${h264.width}x${h264.height}`));
    assert.match(master, /FRAME-RATE=25\.000/);
  }
});

test('codec strings of the multivariant playlist match the streams', async (t) => {
  if (!requireTool(t, 'ffprobe')) return;
  const frames = flvFrames(fixture('av-bframes'));
  const seg = new HLSSegmenter();
  feed(seg, frames);
  seg.end();
  const master = seg.multivariant([{ uri: 'a.m3u8', format: 'fmp4' }, { uri: 'b.m3u8', format: 'ts' }])!;
  // avc1.PPCCLL from the avcC record: libx264 veryfast on 320x240 is High profile (0x64), level 1.3 (0x0d)
  const config = frames.find((f) => f.type === MediaType.Video && f.config)!.payload;
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  assert.ok(master.includes(`avc1.${hex(config[6])}${hex(config[7])}${hex(config[8])},mp4a.40.2`), master);
  assert.equal(config[6], 0x64);
  const bw = [...master.matchAll(/BANDWIDTH=(\d+)/g)].map((m) => Number(m[1]));
  assert.ok(bw.length === 4 && bw.every((b) => b > 100_000 && b < 5_000_000), master);
});

test('audio-only, video-only and H.265 publications', async (t) => {
  if (!requireTool(t, 'ffmpeg') || !requireTool(t, 'ffprobe')) return;
  const cases: Array<[string, string, string[]]> = [
    ['audio', fixture('audio'), ['mp4a.40.2']],
    ['video', fixture('video'), ['avc1.']],
    ['hevc', fixture('hevc-mp4'), ['hvc1.1.6.L', 'mp4a.40.2']],
  ];
  for (const [name, src, codecs] of cases) {
    const frames = await framesOf(src);
    const seg = new HLSSegmenter({ segments: 10 });
    const checker = newChecker();
    feed(seg, frames, checker);
    seg.end();
    assertChecker(checker);
    const dir = tmpDir(`hls-${name}`);
    serve(seg, dir);
    // MP4 sources: ffprobe hides the AAC priming frame behind the edit list, our stream keeps it
    const want = { video: packetCounts(src).video, audio: audioFromKey(frames) };
    for (const playlist of ['index.m3u8', 'ts.m3u8']) {
      const file = path.join(dir, playlist);
      assert.equal(decodeErrors(file), '', `${name} ${playlist}`);
      const p = probe(file);
      if (want.video) assert.equal(streamOf(p, 'video')?.frames, want.video, `${name} ${playlist}`);
      else assert.equal(streamOf(p, 'video'), undefined);
      assert.equal(streamOf(p, 'audio')?.frames ?? 0, want.audio, `${name} ${playlist} audio frames`);
    }
    if (want.video) assertKeyStarts(dir, 'index.m3u8');
    const master = fs.readFileSync(path.join(dir, 'master.m3u8'), 'utf8');
    for (const c of codecs) assert.ok(master.includes(c), `${name}: ${master}`);
    if (name === 'video') {
      // 30 fps with a key frame every 1.5 s: segments are 3 s (target 2 s), so TARGETDURATION is 3
      assert.equal(seg.targetDuration, 3);
      assert.match(master, /FRAME-RATE=30\.000/);
    }
    if (name === 'audio') assert.ok(parsePlaylist(seg.playlist('fmp4')!).segments.flatMap((s) => s.parts).every((p) => p.independent));
  }
});

test('segment and part targets: configurable, respected, segments listed and kept within bounds', () => {
  const frames = flvFrames(fixture('av', 12));
  const seg = new HLSSegmenter({ segments: 3, durationMs: 1000, partMs: 200 });
  const checker = newChecker();
  feed(seg, frames, checker);
  assertChecker(checker);
  const p = parsePlaylist(seg.playlist('fmp4')!);
  assert.equal(p.targetDuration, 1);
  assert.ok(Math.abs(p.partTarget! - 0.22) < 1e-9, `PART-TARGET ${p.partTarget}`);
  // three target durations at least are listed, at least `segments`
  assert.ok(p.segments.length >= 3);
  assert.ok(p.segments.reduce((n, s) => n + s.duration, 0) >= 3);
  const parts = p.segments.flatMap((s) => s.parts);
  assert.ok(parts.length > 0 && parts.every((x) => x.duration <= 0.22));
  // segments beyond the playlist are kept a while (as many again), older ones are gone
  const stats = seg.getStats();
  assert.ok(stats.segments <= 2 * p.segments.length, `${stats.segments} kept`);
  assert.ok(stats.droppedSegments > 0);
  assert.equal(seg.resource('0.m4s'), null);
  assert.equal(seg.resource('0.ts'), null);
  const listed = p.segments[0].msn;
  assert.ok(seg.resource(`${listed - 1}.m4s`), 'a segment just out of the playlist is still served');
  // MonaServer2's duration 0: one key-frame interval per segment (1 s here)
  const zero = new HLSSegmenter({ durationMs: 0 });
  feed(zero, frames.slice(0, 200));
  assert.equal(zero.targetDuration, 1);
});

test('delta updates: EXT-X-SKIP replaces the segments older than CAN-SKIP-UNTIL', () => {
  const frames = flvFrames(fixture('av', 30));
  const seg = new HLSSegmenter({ segments: 10 });
  const checker = newChecker();
  feed(seg, frames, checker);
  assertChecker(checker);
  const full = parsePlaylist(seg.playlist('fmp4')!);
  const delta = parsePlaylist(seg.playlist('fmp4', { skip: true })!);
  assert.equal(full.serverControl['CAN-SKIP-UNTIL'], '12.0');
  assert.ok(delta.skipped > 0);
  assert.equal(delta.skipped + delta.segments.length, full.segments.length);
  assert.deepEqual(delta.segments.map((s) => s.uri), full.segments.slice(delta.skipped).map((s) => s.uri));
  const end = full.segments.reduce((n, s) => n + s.duration, 0) + full.openParts.reduce((n, x) => n + x.duration, 0);
  const firstKept = full.segments.slice(0, delta.skipped).reduce((n, s) => n + s.duration, 0);
  assert.ok(end - firstKept <= 12 + 1e-9, 'the first segment listed in the delta starts within the skip boundary');
  // a short window offers no skip: the query is answered with the full playlist
  const short = new HLSSegmenter({ segments: 3 });
  feed(short, frames);
  assert.equal(parsePlaylist(short.playlist('fmp4')!).serverControl['CAN-SKIP-UNTIL'], undefined);
  assert.equal(parsePlaylist(short.playlist('fmp4', { skip: true })!).skipped, 0);
});

/** Resolution state of a promise, after pending callbacks ran. */
async function settled<T>(p: Promise<T>): Promise<{ done: boolean; value?: T }> {
  let state: { done: boolean; value?: T } = { done: false };
  void p.then((value) => (state = { done: true, value }));
  await new Promise((r) => setImmediate(r));
  return state;
}

test('blocking playlist reload: answers when the part exists, 400 too far ahead, timeouts and limits', async () => {
  const frames = flvFrames(fixture('av', 12));
  const seg = new HLSSegmenter({ holdMs: 60_000 });
  let i = 0;
  while (!seg.ready) seg.push(frames[i++]);
  // before anything else: part without msn, msn too far
  assert.deepEqual(seg.request({ part: 1 }).status, 400);
  const pl = () => parsePlaylist(seg.playlist('fmp4')!);
  const state = pl();
  const lastMsn = state.segments[state.segments.length - 1].msn;
  assert.equal(seg.request({ msn: lastMsn + 3 }).status, 400);
  assert.equal(seg.request({ msn: lastMsn }).status, 200);
  assert.ok(!('wait' in seg.request({ msn: lastMsn })));
  // the next part: held until the playlist lists it
  const hint = partId(state.preloadHint!)!;
  const d = seg.request({ msn: hint[0], part: hint[1] });
  assert.ok('wait' in d);
  const limit = Math.floor(3 / state.partTarget!);
  assert.equal(seg.request({ msn: hint[0], part: hint[1] + limit + 1 }).status, 400, 'beyond the advance part limit');
  const hintRes = seg.resource(state.preloadHint!);
  assert.ok(hintRes && 'wait' in hintRes, 'the preload hint part is held, not 404');
  const segWait = seg.request({ msn: lastMsn + 1 });
  assert.ok('wait' in segWait);
  let listedAt = -1;
  while (i < frames.length) {
    assert.equal((await settled((d as { wait: Promise<WaitResult> }).wait)).done, listedAt >= 0, `answered at frame ${i}, listed at ${listedAt}`);
    if (listedAt >= 0) break;
    seg.push(frames[i++]);
    if (seg.playlist('fmp4')!.includes(`#EXT-X-PART:DURATION=`) && new RegExp(`#EXT-X-PART:[^\n]*URI="${state.preloadHint}"`).test(seg.playlist('fmp4')!)) listedAt = i;
  }
  assert.equal((await settled((d as { wait: Promise<WaitResult> }).wait)).value, 'ready');
  assert.equal((await settled((hintRes as { wait: Promise<WaitResult> }).wait)).value, 'ready');
  const part = seg.resource(state.preloadHint!);
  assert.ok(part && 'chunks' in part && part.size > 0);
  assert.equal((await settled((segWait as { wait: Promise<WaitResult> }).wait)).done, false, 'a whole segment waits for its end');
  while (!seg.playlist('fmp4')!.includes(`\n${lastMsn + 1}.m4s`)) seg.push(frames[i++]);
  assert.equal((await settled((segWait as { wait: Promise<WaitResult> }).wait)).value, 'ready');
  // unknown resources, parts a complete segment never had
  assert.equal(seg.resource('nope.m4s'), null);
  assert.equal(seg.resource(`${lastMsn}.99.m4s`), null);
  assert.equal(seg.resource('init7.mp4'), null);

  // hold limits: timeout and the number of waiters
  const quick = new HLSSegmenter({ holdMs: 30, maxWaiters: 2 });
  feed(quick, frames.slice(0, 200));
  const next = partId(parsePlaylist(quick.playlist('fmp4')!).preloadHint!)!;
  const a = quick.request({ msn: next[0], part: next[1] });
  const b = quick.request({ msn: next[0], part: next[1] });
  assert.equal(quick.request({ msn: next[0], part: next[1] }).status, 503);
  assert.equal(await (a as { wait: Promise<WaitResult> }).wait, 'timeout');
  assert.equal(await (b as { wait: Promise<WaitResult> }).wait, 'timeout');
  // the stream ends: held requests are answered
  const c = quick.request({ msn: next[0] + 1 });
  quick.end();
  assert.ok(['ready', 'ended'].includes(await (c as { wait: Promise<WaitResult> }).wait));
  assert.ok(quick.playlist('fmp4')!.trimEnd().endsWith('#EXT-X-ENDLIST'));
  assert.ok(!quick.playlist('fmp4')!.includes('PRELOAD-HINT'));
  // a request before the first segment waits for it
  const early = new HLSSegmenter({ holdMs: 60_000 });
  const e = early.request({});
  assert.ok('wait' in e);
  feed(early, frames.slice(0, 200));
  assert.equal(await e.wait, 'ready');
});

test('query parsing of _HLS_msn, _HLS_part, _HLS_skip', () => {
  assert.deepEqual(parseHLSQuery(new URLSearchParams('_HLS_msn=12&_HLS_part=3')), { msn: 12, part: 3, skip: false });
  assert.deepEqual(parseHLSQuery(new URLSearchParams('_HLS_skip=YES')), { msn: undefined, part: undefined, skip: true });
  assert.ok('error' in parseHLSQuery(new URLSearchParams('_HLS_part=3')));
  assert.ok('error' in parseHLSQuery(new URLSearchParams('_HLS_msn=-1')));
  assert.ok('error' in parseHLSQuery(new URLSearchParams('_HLS_msn=1e3')));
});

test('discontinuities: publisher restart, clock jump and a new configuration', async (t) => {
  if (!requireTool(t, 'ffmpeg') || !requireTool(t, 'ffprobe')) return;
  const a = flvFrames(fixture('av'));
  const b = flvFrames(fixture('av-640'));
  const cases: Array<[string, (seg: HLSSegmenter) => void, number]> = [
    ['restart', (seg) => {
      seg.start(); // the first publisher: nothing to mark
      feed(seg, a);
      seg.stop();
      seg.start();
      feed(seg, a);
    }, 2 * 150],
    ['jump', (seg) => {
      feed(seg, a.slice(0, 300));
      feed(seg, a.slice(300).map((f) => new MediaFrame(f.type, f.time + 3_600_000, f.payload)));
    }, 150],
    ['back', (seg) => {
      feed(seg, a);
      feed(seg, a); // same publisher, times start over without an unpublish
    }, 2 * 150],
    ['config', (seg) => {
      feed(seg, a);
      feed(seg, b.map((f) => new MediaFrame(f.type, f.time + 6000, f.payload)));
    }, 2 * 150],
  ];
  for (const [name, run, videoFrames] of cases) {
    const seg = new HLSSegmenter({ segments: 20 });
    run(seg);
    seg.end();
    const checker = newChecker();
    assert.deepEqual(validatePlaylist(seg.playlist('fmp4')!, partId), [], name);
    assert.deepEqual(validatePlaylist(seg.playlist('ts')!), [], name);
    checker.fmp4.add(seg.playlist('fmp4')!);
    const p = parsePlaylist(seg.playlist('fmp4')!);
    assert.equal(p.segments.filter((s) => s.discontinuity).length, 1, `${name}: one discontinuity\n${seg.playlist('fmp4')}`);
    const maps = new Set(p.segments.map((s) => s.map));
    assert.equal(maps.size, name === 'config' ? 2 : 1, `${name}: init segments ${[...maps]}`);
    const dir = tmpDir(`hls-disc-${name}`);
    serve(seg, dir);
    // ffmpeg's HLS demuxer (5.1) keeps the first EXT-X-MAP for the whole playlist, so a new init
    // segment is checked with a playlist of its own run (hls.js and Safari switch at the tag)
    const runs = name === 'config' ? splitAtDiscontinuity(dir, 'index.m3u8') : ['index.m3u8'];
    for (const playlist of [...runs, 'ts.m3u8']) {
      assert.equal(decodeErrors(path.join(dir, playlist)), '', `${name} ${playlist}`);
    }
    for (const list of [runs, ['ts.m3u8']]) {
      let got = 0;
      const dts: number[] = [];
      for (const playlist of list) {
        const probed = probe(path.join(dir, playlist));
        got += streamOf(probed, 'video')!.frames;
        dts.push(...probed.packets.filter((x) => x.type === 'video').map((x) => x.dts));
      }
      // the jump loses the end of the GOP it cut (video resumes on a key frame); the others nothing
      if (name === 'jump') assert.ok(got >= videoFrames - 25 && got < videoFrames, `${name}: ${got}`);
      else assert.equal(got, videoFrames, `${name} ${list}`);
      // the output timeline continues across the discontinuity: no gap, no going back
      dts.sort((x, y) => x - y);
      for (let k = 1; k < dts.length; k++) assert.ok(dts[k] - dts[k - 1] < 0.1, `${name}: gap at ${dts[k - 1]}`);
    }
  }
});

/** Writes one playlist per discontinuity run of `playlist` (each with its own EXT-X-MAP). */
function splitAtDiscontinuity(dir: string, playlist: string): string[] {
  const text = fs.readFileSync(path.join(dir, playlist), 'utf8');
  const lines = text.split('\n');
  const head = lines.filter((l) => /^#EXT(M3U|-X-VERSION|-X-TARGETDURATION|-X-PART-INF)/.test(l));
  const runs: string[][] = [[]];
  for (const l of lines) {
    if (l === '#EXT-X-DISCONTINUITY') runs.push([]);
    else if (/^#EXT-X-(MAP|PART:|PROGRAM-DATE-TIME)|^#EXTINF|^#EXT-X-ENDLIST|^[^#]/.test(l)) runs[runs.length - 1].push(l);
  }
  return runs.map((run, i) => {
    const name = `run-${i}.m3u8`;
    fs.writeFileSync(path.join(dir, name), [...head, ...run.filter((l) => !l.startsWith('#EXT-X-ENDLIST')), '#EXT-X-ENDLIST', ''].join('\n'));
    return name;
  });
}

test('memory: bytes stay under maxBytes, oldest segments dropped first', () => {
  const frames = flvFrames(fixture('av', 12));
  const maxBytes = 400_000;
  const seg = new HLSSegmenter({ segments: 10, maxBytes });
  let peak = 0;
  for (const f of frames) {
    seg.push(f);
    peak = Math.max(peak, seg.getStats().bytes);
  }
  const stats = seg.getStats();
  assert.ok(stats.droppedSegments > 0, 'segments were dropped to stay under the cap');
  assert.ok(peak <= maxBytes * 1.5, `peak ${peak}`);
  assert.ok(stats.bytes <= maxBytes * 1.25, `bytes ${stats.bytes}`);
  const p = parsePlaylist(seg.playlist('fmp4')!);
  assert.ok(p.mediaSequence > 0);
  for (const uri of playlistURIs(seg.playlist('fmp4')!)) if (!uri.includes(`${p.segments.length + p.mediaSequence}.`)) assert.ok(seg.resource(uri), uri);
  // close() releases it all
  seg.close();
  assert.equal(seg.getStats().bytes, 0);
});

test('program date time: wall clock of the first segment, media time after; re-anchored at a discontinuity', () => {
  const frames = flvFrames(fixture('av'));
  let now = Date.UTC(2024, 0, 2, 3, 4, 5, 600);
  const seg = new HLSSegmenter({ segments: 10, now: () => now });
  feed(seg, frames);
  now += 3_600_000;
  seg.start();
  feed(seg, frames);
  const p = parsePlaylist(seg.playlist('fmp4')!);
  // written on the first segment and after each discontinuity; the others follow from EXTINF
  assert.equal(p.segments[0].pdt, Date.UTC(2024, 0, 2, 3, 4, 5, 600));
  assert.deepEqual(p.segments.filter((s) => s.pdt !== undefined).map((s) => s.msn), [0, 3]);
  const after = p.segments.find((s) => s.discontinuity)!;
  assert.equal(after.pdt, now);
  assert.deepEqual(validatePlaylist(seg.playlist('fmp4')!, partId), []);
});

test('garbage frames are dropped and counted, the stream goes on', () => {
  const frames = flvFrames(fixture('av'));
  const seg = new HLSSegmenter();
  const junk = [Buffer.from([0x17, 1, 0, 0, 0, 0xff]), Buffer.from([0x27]), Buffer.from([0xaf, 1]), Buffer.from([0x9f, 0x68, 0x76, 0x63, 0x31]), Buffer.from([0x2a, 1, 2, 3])];
  for (const [k, f] of frames.entries()) {
    seg.push(f);
    if (k % 20 === 0) for (const j of junk) seg.push({ type: j[0] >> 4 === 10 || j[0] === 0x2a ? MediaType.Audio : MediaType.Video, time: f.time, payload: j });
  }
  seg.end();
  assert.deepEqual(validatePlaylist(seg.playlist('fmp4')!, partId), []);
  assert.ok(seg.getStats().droppedFrames > 0);
  // a sequence header that is not one: the track is not announced, the other plays
  const bad = new HLSSegmenter();
  feed(bad, [new MediaFrame(MediaType.Video, 0, Buffer.from([0x17, 0, 0, 0, 0, 1, 2])), ...frames.filter((f) => f.type !== MediaType.Video)]);
  bad.end();
  assert.ok(bad.hasAudio && !bad.hasVideo);
});

test('options: TS only, fMP4 without parts', () => {
  const frames = flvFrames(fixture('av'));
  const ts = new HLSSegmenter({ fmp4: false });
  feed(ts, frames);
  assert.equal(ts.playlist('fmp4'), null);
  assert.equal(ts.resource('init0.mp4'), null);
  assert.ok(ts.playlist('ts'));
  const plain = new HLSSegmenter({ partMs: 0 });
  feed(plain, frames);
  const text = plain.playlist('fmp4')!;
  assert.ok(!text.includes('EXT-X-PART') && !text.includes('PRELOAD-HINT'));
  assert.match(text, /#EXT-X-VERSION:7/);
  assert.deepEqual(validatePlaylist(text), []);
  assert.throws(() => new HLSSegmenter({ fmp4: false, ts: false }));
});

test('the playlist checker itself rejects what RFC 8216bis forbids', () => {
  const good = [
    '#EXTM3U', '#EXT-X-VERSION:9', '#EXT-X-TARGETDURATION:2', '#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.500',
    '#EXT-X-PART-INF:PART-TARGET=0.500', '#EXT-X-MEDIA-SEQUENCE:4', '#EXT-X-MAP:URI="init0.mp4"',
    '#EXTINF:2.000,', '4.m4s', '#EXTINF:2.000,', '5.m4s',
    '#EXT-X-PART:DURATION=0.500,URI="6.0.m4s",INDEPENDENT=YES', '#EXT-X-PART:DURATION=0.500,URI="6.1.m4s"', '#EXT-X-PART:DURATION=0.500,URI="6.2.m4s"',
    '#EXT-X-PART:DURATION=0.500,URI="6.3.m4s"', '#EXTINF:2.000,', '6.m4s',
    '#EXT-X-PART:DURATION=0.480,URI="7.0.m4s",INDEPENDENT=YES', '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="7.1.m4s"', '',
  ].join('\n');
  assert.deepEqual(validatePlaylist(good, partId), []);
  const bad: Array<[string, string, RegExp]> = [
    ['EXTINF over the target', '#EXTINF:2.000,\n5.m4s', /rounds above/],
    ['part over PART-TARGET', 'DURATION=0.500,URI="6.1.m4s"', /> PART-TARGET/],
    ['short non-final part', 'DURATION=0.500,URI="6.2.m4s"', /85%/],
    ['hint not the next part', 'URI="7.1.m4s"', /preload hint/],
    ['PART-HOLD-BACK too short', 'PART-HOLD-BACK=1.500', /PART-HOLD-BACK/],
    ['MAP in version 3', '#EXT-X-VERSION:9', /version 6/],
    ['live window under 3 target durations', '#EXTINF:2.000,\n4.m4s\n', /under 3/],
  ];
  const edits: Record<string, string> = {
    'EXTINF over the target': '#EXTINF:2.600,\n5.m4s',
    'part over PART-TARGET': 'DURATION=0.600,URI="6.1.m4s"',
    'short non-final part': 'DURATION=0.300,URI="6.2.m4s"',
    'hint not the next part': 'URI="7.2.m4s"',
    'PART-HOLD-BACK too short': 'PART-HOLD-BACK=0.900',
    'MAP in version 3': '#EXT-X-VERSION:3',
    'live window under 3 target durations': '',
  };
  for (const [name, from, expect] of bad) {
    const text = good.replace(from, edits[name]);
    assert.notEqual(text, good, name);
    assert.match(validatePlaylist(text, partId).join('; '), expect, name);
  }
  const reloads = new ReloadChecker();
  reloads.add(good);
  reloads.add(good.replace('#EXT-X-MEDIA-SEQUENCE:4', '#EXT-X-MEDIA-SEQUENCE:3'));
  reloads.add(good.replace('#EXT-X-TARGETDURATION:2', '#EXT-X-TARGETDURATION:3'));
  const all = reloads.errors.join('; ');
  for (const e of [/media sequence went back/, /segment \d changed between reloads/, /TARGETDURATION changed/]) assert.match(all, e);
});
