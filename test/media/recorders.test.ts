/**
 * FLV and MP4 recorders checked with ffprobe/ffmpeg: a recording of N seconds lasts N seconds and
 * decodes completely; durations and indexes are written when it ends; append mode continues a
 * file with timestamps continuing; a recording process killed with SIGKILL leaves a playable file
 * (and one that can be appended to); the disk queue is bounded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MediaFrame, MediaType } from '../../src/core/media';
import { decodeAMF0 } from '../../src/serialization/amf0';
import { Table } from '../../src/serialization/value';
import { readVideoTag, videoTagBody } from '../../src/media/codecs/flv-body';
import { FLVFileReader } from '../../src/media/files/flv-reader';
import { FLVRecorder } from '../../src/media/files/flv-recorder';
import { MP4FileReader } from '../../src/media/files/mp4-reader';
import { MP4Recorder } from '../../src/media/files/mp4-recorder';
import { openMediaFile } from '../../src/media/files/open';
import { requireTool } from '../helpers/http-server';
import { decodeErrors, fixture, flvFrames, flvTags, probe, streamOf, tmpDir } from './helpers';

type Recorder = FLVRecorder | MP4Recorder;

async function record(format: 'flv' | 'mp4', file: string, frames: MediaFrame[], opts: Parameters<typeof FLVRecorder.open>[1] = {}): Promise<Recorder> {
  const rec = format === 'flv' ? await FLVRecorder.open(file, opts) : await MP4Recorder.open(file, opts);
  for (const f of frames) rec.write(f);
  await rec.close();
  return rec;
}

async function fileFrames(file: string): Promise<MediaFrame[]> {
  const r = await openMediaFile(file);
  const out: MediaFrame[] = [];
  if (r.videoConfig) out.push(new MediaFrame(MediaType.Video, 0, r.videoConfig));
  if (r.audioConfig) out.push(new MediaFrame(MediaType.Audio, 0, r.audioConfig));
  for await (const f of r.frames()) out.push(new MediaFrame(f.type, f.time, f.payload));
  await r.close();
  return out;
}

/** Coded frames (not sequence headers nor AVC end-of-sequence markers). */
function count(frames: MediaFrame[], type: MediaType): number {
  return frames.filter((f) => f.type === type && (type === MediaType.Audio ? !f.config : readVideoTag(f.payload)?.kind === 'frame')).length;
}

/** Audio frames from the first video key frame on (recordings start with A/V together). */
function audioFromKey(frames: MediaFrame[]): number {
  const key = frames.find((f) => f.type === MediaType.Video && f.key && !f.config);
  return frames.filter((f) => f.type === MediaType.Audio && !f.config && f.time >= (key ? key.time : -Infinity)).length;
}

/** Decode times go up without a gap over `maxGap` seconds, per stream. */
function assertContinuous(file: string, maxGap = 0.1): void {
  const p = probe(file, { count: false });
  for (const type of ['video', 'audio'] as const) {
    const dts = p.packets.filter((x) => x.type === type).map((x) => x.dts);
    for (let i = 1; i < dts.length; i++) {
      assert.ok(dts[i] > dts[i - 1] - 1e-9, `${file} ${type}: dts goes back at ${dts[i - 1]}`);
      assert.ok(dts[i] - dts[i - 1] <= maxGap, `${file} ${type}: gap of ${(dts[i] - dts[i - 1]).toFixed(3)} s at ${dts[i - 1]}`);
    }
  }
}

test('FLV and MP4 recordings of 6 s last 6 s, decode completely, carry their durations and index', async (t) => {
  if (!requireTool(t, 'ffmpeg') || !requireTool(t, 'ffprobe')) return;
  const dir = tmpDir('rec');
  const frames = flvFrames(fixture('av-bframes'));
  const metadata = frames.find((f) => f.type === MediaType.Data)!.payload;
  for (const format of ['flv', 'mp4'] as const) {
    const file = path.join(dir, `rec.${format}`);
    const rec = await record(format, file, frames, { metadata });
    assert.equal(rec.error, null);
    assert.equal(decodeErrors(file), '', format);
    const p = probe(file);
    assert.ok(Math.abs(p.duration - 6) < 0.1, `${format}: ${p.duration} s`);
    assert.equal(streamOf(p, 'video')?.frames, count(frames, MediaType.Video), format);
    assert.equal(streamOf(p, 'audio')?.frames, audioFromKey(frames), format);
    assert.ok(p.packets.find((x) => x.type === 'video')?.key);
    assertContinuous(file);
    const stats = rec.stats;
    assert.equal(stats.droppedFrames, 0);
    assert.equal(stats.bytes, fs.statSync(file).size);
    assert.ok(Math.abs(stats.durationMs - 6000) < 100);
    // the composition offsets (B-frames) survive: same pts - dts as the source
    const src = probe(fixture('av-bframes'), { count: false }).packets.filter((x) => x.type === 'video').map((x) => Math.round((x.pts - x.dts) * 1000));
    const got = p.packets.filter((x) => x.type === 'video').map((x) => Math.round((x.pts - x.dts) * 1000));
    assert.deepEqual(got.slice(0, 50), src.slice(0, 50), format);
  }
  // FLV: onMetaData has the publisher's fields plus the final duration and filesize
  const flv = path.join(dir, 'rec.flv');
  const tag = flvTags(flv).find((x) => x.type === 18)!;
  const [name, meta] = decodeAMF0(tag.body) as [string, Table];
  assert.equal(name, 'onMetaData');
  assert.ok(Math.abs((meta.get('duration') as number) - 6) < 0.1);
  assert.equal(meta.get('filesize'), fs.statSync(flv).size);
  assert.equal(meta.get('width'), 320);
  // MP4: ends with an mfra index (mfro last) and durations in the movie header; seeking works
  const mp4 = path.join(dir, 'rec.mp4');
  const buf = fs.readFileSync(mp4);
  assert.equal(buf.toString('latin1', buf.length - 12, buf.length - 8), 'mfro');
  const mfraSize = buf.readUInt32BE(buf.length - 4);
  assert.equal(buf.toString('latin1', buf.length - mfraSize + 4, buf.length - mfraSize + 8), 'mfra');
  const reader = await MP4FileReader.open(mp4);
  assert.ok(reader.parsed.fragmented && reader.seekPoints.length === 6);
  await reader.close();
  const r = spawnSync('ffprobe', ['-v', 'error', '-read_intervals', '3%+0.5', '-show_entries', 'packet=pts_time,flags', '-select_streams', 'v', '-of', 'csv=p=0', mp4]);
  const first = r.stdout.toString().trim().split('\n')[0].split(',');
  assert.ok(Number(first[0]) >= 2.9 && Number(first[0]) <= 3.1 && first[1].startsWith('K'), `seek to 3 s gave ${first}`);
});

test('H.265 recordings: MP4 decodes with ffmpeg; FLV (enhanced RTMP and legacy id 12) reads back identical', async (t) => {
  if (!requireTool(t, 'ffmpeg') || !requireTool(t, 'ffprobe')) return;
  const dir = tmpDir('rec-hevc');
  const frames = await fileFrames(fixture('hevc-mp4'));
  const mp4 = path.join(dir, 'hevc.mp4');
  await record('mp4', mp4, frames);
  assert.equal(decodeErrors(mp4), '');
  const p = probe(mp4);
  assert.equal(streamOf(p, 'video')?.codec, 'hevc');
  assert.equal(streamOf(p, 'video')?.frames, 150);
  assert.ok(Math.abs(p.duration - 6) < 0.15, `${p.duration}`);
  for (const legacy of [false, true]) {
    const converted = frames.map((f) => {
      if (f.type !== MediaType.Video) return f;
      const tag = readVideoTag(f.payload)!;
      return new MediaFrame(f.type, f.time, videoTagBody(tag.codec, tag.kind as 'config' | 'frame', tag.key, tag.cts, tag.data, legacy));
    });
    const flv = path.join(dir, `hevc-${legacy}.flv`);
    await record('flv', flv, converted);
    const back = await fileFrames(flv);
    const media = (list: MediaFrame[]) => list.filter((f) => f.type !== MediaType.Data).map((f) => `${f.type}:${f.time}:${f.payload.toString('base64')}`);
    assert.deepEqual(media(back), media(converted), `legacy=${legacy}`);
    // and the FLV plays on as MP4
    const again = path.join(dir, `hevc-${legacy}.mp4`);
    await record('mp4', again, back);
    assert.equal(decodeErrors(again), '');
    assert.equal(streamOf(probe(again), 'video')?.frames, 150);
  }
});

test('audio-only and video-only recordings', async (t) => {
  if (!requireTool(t, 'ffmpeg') || !requireTool(t, 'ffprobe')) return;
  const dir = tmpDir('rec-single');
  for (const name of ['audio', 'video']) {
    const frames = flvFrames(fixture(name));
    for (const format of ['flv', 'mp4'] as const) {
      const file = path.join(dir, `${name}.${format}`);
      await record(format, file, frames);
      assert.equal(decodeErrors(file), '', `${name}.${format}`);
      const p = probe(file);
      assert.ok(Math.abs(p.duration - 6) < 0.1, `${name}.${format}: ${p.duration}`);
      assert.equal(p.streams.length, 1);
      assert.equal(p.streams[0].type, name);
      assert.equal(p.streams[0].frames, count(frames, name === 'audio' ? MediaType.Audio : MediaType.Video));
    }
  }
});

test('append mode continues a recording: timestamps continue, durations cover both parts', async (t) => {
  if (!requireTool(t, 'ffmpeg') || !requireTool(t, 'ffprobe')) return;
  const dir = tmpDir('rec-append');
  const frames = flvFrames(fixture('av'));
  const firstHalf = frames.filter((f) => f.time < 3000 || f.config || f.type === MediaType.Data);
  for (const format of ['flv', 'mp4'] as const) {
    const file = path.join(dir, `append.${format}`);
    await record(format, file, firstHalf);
    const before = probe(file).duration;
    assert.ok(Math.abs(before - 3) < 0.1, `${format} first part ${before}`);
    // a second publish: the publisher's times start over at 0
    const rec = await record(format, file, frames, { append: true });
    assert.equal(rec.error, null);
    assert.equal(decodeErrors(file), '', format);
    const p = probe(file);
    assert.ok(Math.abs(p.duration - 9) < 0.15, `${format} appended: ${p.duration}`);
    assert.equal(streamOf(p, 'video')?.frames, count(firstHalf, MediaType.Video) + count(frames, MediaType.Video));
    assertContinuous(file);
  }
  // an MP4 with other tracks is not appended to
  const mp4 = path.join(dir, 'append.mp4');
  const other = flvFrames(fixture('av-640'));
  const rec = await MP4Recorder.open(mp4, { append: true });
  for (const f of other.slice(0, 200)) rec.write(f);
  await rec.close();
  assert.match(String(rec.error?.message), /tracks of the file/);
  assert.equal(decodeErrors(mp4), '');
  // appending to a file that is not one: a clear error
  const junk = path.join(dir, 'junk.mp4');
  fs.writeFileSync(junk, Buffer.alloc(1000, 7));
  await assert.rejects(MP4Recorder.open(junk, { append: true }), /cannot append/);
  await assert.rejects(FLVRecorder.open(junk, { append: true }), /cannot append/);
  // appending to nothing creates the file
  const fresh = path.join(dir, 'fresh.flv');
  await record('flv', fresh, frames, { append: true });
  assert.ok(Math.abs(probe(fresh).duration - 6) < 0.1);
});

test('a recording process killed with SIGKILL leaves a playable file that can be appended to', async (t) => {
  if (!requireTool(t, 'ffmpeg') || !requireTool(t, 'ffprobe')) return;
  const dir = tmpDir('rec-kill');
  const input = fixture('av', 8);
  const child = path.join(__dirname, 'record-child.js');
  for (const format of ['flv', 'mp4'] as const) {
    const file = path.join(dir, `killed.${format}`);
    const proc = spawn(process.execPath, [child, format, input, file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (d) => (stderr += d));
    await new Promise<void>((resolve, reject) => {
      proc.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('half')) setTimeout(resolve, 120); // a little into the second half
      });
      proc.on('exit', (code) => reject(new Error(`child exited ${code}: ${stderr}`)));
    });
    proc.removeAllListeners('exit');
    const exited = new Promise((r) => proc.on('exit', r));
    proc.kill('SIGKILL');
    await exited;
    const p = probe(file);
    assert.ok(p.duration >= 3.5 && p.duration < 8, `${format}: ${p.duration} s after the kill`);
    const video = streamOf(p, 'video')!.frames;
    assert.ok(video >= 90, `${format}: ${video} frames`);
    // a torn last tag/fragment is the only damage: ffmpeg decodes the rest without a decoding error
    const errors = decodeErrors(file).split('\n').filter((l) => l && !/truncat|partial file|Packet mismatch|EOF/i.test(l));
    assert.deepEqual(errors, [], format);
    // the crashed file continues in append mode
    await record(format, file, flvFrames(fixture('av')), { append: true });
    assert.equal(decodeErrors(file), '', `${format} after append`);
    const after = probe(file);
    assert.ok(Math.abs(after.duration - (p.duration + 6)) < 0.6, `${format}: ${p.duration} + 6 → ${after.duration}`);
    assertContinuous(file, 0.15);
  }
});

test('the disk queue is bounded: frames are dropped (counted), the file stays valid', async (t) => {
  if (!requireTool(t, 'ffmpeg')) return;
  const dir = tmpDir('rec-bound');
  const frames = flvFrames(fixture('av', 12));
  for (const format of ['flv', 'mp4'] as const) {
    const file = path.join(dir, `bound.${format}`);
    // all frames at once: far faster than any disk, with a 256 KB queue
    const rec = format === 'flv' ? await FLVRecorder.open(file, { maxQueuedBytes: 256 << 10 }) : await MP4Recorder.open(file, { maxQueuedBytes: 256 << 10 });
    for (const f of frames) rec.write(f);
    const stats = await rec.close();
    assert.ok(stats.droppedFrames > 0, `${format}: nothing dropped`);
    assert.ok(stats.frames > 0);
    assert.equal(decodeErrors(file), '', format);
  }
});

test('an MP4 recording stops with an error when the codec configuration changes; FLV records it', async (t) => {
  if (!requireTool(t, 'ffmpeg') || !requireTool(t, 'ffprobe')) return;
  const dir = tmpDir('rec-change');
  const a = flvFrames(fixture('av'));
  const b = flvFrames(fixture('av-640')).map((f) => new MediaFrame(f.type, f.time + 6000, f.payload));
  const mp4 = path.join(dir, 'change.mp4');
  const rec = await record('mp4', mp4, [...a, ...b]);
  assert.match(String(rec.error?.message), /configuration changed/);
  assert.equal(decodeErrors(mp4), '');
  assert.ok(Math.abs(probe(mp4).duration - 6) < 0.1);
  const flv = path.join(dir, 'change.flv');
  const frec = await record('flv', flv, [...a, ...b]);
  assert.equal(frec.error, null);
  // (ffprobe 5.1 -count_frames crashes on a resolution change in FLV; ffmpeg decodes it)
  assert.equal(decodeErrors(flv), '');
  assert.equal(probe(flv, { count: false }).packets.filter((x) => x.type === 'video').length, 300);
  assertContinuous(flv);
  const reader = await FLVFileReader.open(flv);
  assert.equal(reader.seekPoints.length, 12);
  await reader.close();
});
