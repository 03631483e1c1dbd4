/**
 * VOD readers: FLV and MP4 (progressive with B-frames and edit lists, fragmented, H.265) files made
 * by ffmpeg, read back as publication frames and compared with what ffprobe sees in the same file
 * (packet counts, key frames, composition offsets, A/V offset); seeking; truncated and hostile
 * files; and VOD HLS playlists of files decoded by ffmpeg.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MediaType } from '../../src/core/media';
import { decodeAMF0 } from '../../src/serialization/amf0';
import { Table } from '../../src/serialization/value';
import { MediaFormatError } from '../../src/media/codecs/bits';
import { readAudioTag, readVideoTag } from '../../src/media/codecs/flv-body';
import { FLVFileReader } from '../../src/media/files/flv-reader';
import { MP4FileReader } from '../../src/media/files/mp4-reader';
import { openMediaFile } from '../../src/media/files/open';
import type { FileFrame, MediaFileReader } from '../../src/media/files/reader';
import { VodHLS } from '../../src/media/hls/vod';
import { mutate, prng, randomBuffer } from '../helpers/prng';
import { requireTool } from '../helpers/http-server';
import { assertKeyStarts, decodeErrors, fixture, flvTags, probe, streamOf, tmpDir } from './helpers';
import { parsePlaylist, validatePlaylist } from './hls-validator';

async function all(r: MediaFileReader, from?: number, to?: number): Promise<FileFrame[]> {
  const out: FileFrame[] = [];
  for await (const f of r.frames(from, to)) out.push(f);
  return out;
}

test('FLV reader: the same frames as the file, key-frame index, seeking, truncated files', async () => {
  const file = fixture('av');
  const tags = flvTags(file);
  const r = await FLVFileReader.open(file);
  assert.equal(r.format, 'flv');
  assert.equal(r.video?.codec, 'avc');
  assert.equal(r.audio?.sampleRate, 44100);
  assert.ok(Math.abs(r.durationMs - 6000) < 50, `${r.durationMs}`);
  const [name, meta] = decodeAMF0(r.metadata!) as [string, Table];
  assert.equal(name, 'onMetaData');
  assert.equal(meta.get('width'), 320);
  // every tag but the first metadata and the sequence headers (given apart), in order
  const expected = tags.filter((t) => !(t.type === 18 && t === tags.find((x) => x.type === 18)) && !(t.type === 9 && t.body[1] === 0) && !(t.type === 8 && t.body[1] === 0));
  const frames = await all(r);
  assert.equal(frames.length, expected.length);
  frames.forEach((f, i) => {
    assert.equal(f.type, expected[i].type);
    assert.equal(f.time, expected[i].time);
    assert.ok(f.payload.equals(expected[i].body));
  });
  assert.ok(r.videoConfig!.equals(tags.find((t) => t.type === 9)!.body));
  const keys = tags.filter((t) => t.type === 9 && t.body[0] >> 4 === 1 && t.body[1] === 1).map((t) => t.time);
  assert.deepEqual([...r.seekPoints], keys);
  // seeking: from the key frame at or before the time, up to the next range's start
  const from = await all(r, 3100, 4000 + keys[0]);
  assert.equal(from[0].time, keys[3]);
  assert.ok(readVideoTag(from.find((f) => f.type === MediaType.Video)!.payload)!.key);
  assert.equal(from.filter((f) => f.type === MediaType.Video).length, 25);
  const next = await all(r, keys[4]);
  assert.equal(next[0].time, keys[4]);
  assert.equal(r.bytesBetween(0, Infinity), fs.statSync(file).size - r.scan.firstTag);
  await r.close();

  // a file cut in the middle of a tag ends with the last complete one
  const dir = tmpDir('flv-cut');
  const cut = path.join(dir, 'cut.flv');
  const bytes = fs.readFileSync(file);
  fs.writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6) + 3));
  const c = await FLVFileReader.open(cut);
  const cf = await all(c);
  assert.ok(cf.length > 0.5 * frames.length && cf.length < 0.7 * frames.length);
  cf.forEach((f, i) => assert.ok(f.payload.equals(frames[i].payload)));
  await c.close();
  fs.writeFileSync(path.join(dir, 'not.flv'), Buffer.from('FLX not an flv file at all'));
  await assert.rejects(FLVFileReader.open(path.join(dir, 'not.flv')), MediaFormatError);
  await assert.rejects(openMediaFile(path.join(dir, 'not.flv')), MediaFormatError);
});

/** Video and audio packets of a file as ffprobe reads them. */
function probed(file: string) {
  const p = probe(file, { count: false });
  return { video: p.packets.filter((x) => x.type === 'video'), audio: p.packets.filter((x) => x.type === 'audio') };
}

test('MP4 reader: progressive (B-frames, edit lists), fragmented and H.265 files match ffprobe', async (t) => {
  if (!requireTool(t, 'ffprobe')) return;
  for (const name of ['av-mp4', 'av-frag', 'hevc-mp4']) {
    const file = fixture(name);
    const r = await openMediaFile(file);
    assert.equal(r.format, 'mp4');
    const frames = await all(r);
    const video = frames.filter((f) => f.type === MediaType.Video);
    const audio = frames.filter((f) => f.type === MediaType.Audio);
    const src = probed(file);
    assert.equal(video.length, src.video.length, name);
    assert.equal(audio.length, src.audio.length, name);
    // key frames and composition offsets frame by frame (in decode order, as both list them)
    const tags = video.map((f) => readVideoTag(f.payload)!);
    assert.deepEqual(tags.map((x) => x.key), src.video.map((x) => x.key), name);
    assert.deepEqual(tags.map((x) => x.cts), src.video.map((x) => Math.round((x.pts - x.dts) * 1000)), name);
    assert.ok(tags.every((x) => x.codec === (name === 'hevc-mp4' ? 'hevc' : 'avc') && x.kind === 'frame'));
    assert.ok(audio.every((f) => readAudioTag(f.payload)?.kind === 'frame'));
    // A/V: the first audio frame's start relative to the first video frame's presentation, as ffprobe has it
    const ours = audio[0].time - (video[0].time + tags[0].cts);
    const theirs = (src.audio[0].pts - src.video[0].pts) * 1000;
    assert.ok(Math.abs(ours - theirs) <= 2, `${name}: A/V ${ours} ms vs ${theirs} ms`);
    // frames never start before 0, times go up per track
    assert.ok(frames.every((f) => f.time >= 0));
    for (const list of [video, audio]) for (let i = 1; i < list.length; i++) assert.ok(list[i].time >= list[i - 1].time);
    assert.ok(Math.abs(r.durationMs - 6000) < 150, `${name} ${r.durationMs}`);
    assert.equal(r.seekPoints.length, 6);
    assert.deepEqual(decodeAMF0(r.metadata!)[0], 'onMetaData');
    // seeking lands on a key frame
    const seeked = await all(r, 2500);
    const firstVideo = seeked.find((f) => f.type === MediaType.Video)!;
    assert.ok(readVideoTag(firstVideo.payload)!.key && firstVideo.time === r.seekPoints[2], name);
    await r.close();
  }
});

test('MP4 reader: a truncated file keeps its complete samples', async () => {
  const dir = tmpDir('mp4-cut');
  for (const name of ['av-frag', 'av-mp4']) {
    const bytes = fs.readFileSync(fixture(name));
    const whole = await MP4FileReader.open(fixture(name));
    const count = (await all(whole)).length;
    await whole.close();
    const cut = path.join(dir, `${name}.mp4`);
    if (name === 'av-frag') {
      fs.writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.55)));
      const r = await MP4FileReader.open(cut);
      const n = (await all(r)).length;
      assert.ok(n > 0.3 * count && n < 0.6 * count, `${name}: ${n} of ${count}`);
      await r.close();
    } else {
      // progressive with moov at the end (ffmpeg's default): no moov, a clear error
      fs.writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.55)));
      await assert.rejects(MP4FileReader.open(cut), /without moov|not an MP4/);
    }
  }
});

test('readers refuse hostile files with MediaFormatError and never hang', async () => {
  const dir = tmpDir('hostile');
  const rand = prng(0x5eed);
  const seeds = [fs.readFileSync(fixture('av-frag')).subarray(0, 20_000), fs.readFileSync(fixture('av')).subarray(0, 20_000)];
  let opened = 0;
  for (let i = 0; i < 120; i++) {
    const base = seeds[i % 2];
    const data = i % 10 === 0 ? randomBuffer(rand, 2000) : mutate(rand, base, 4);
    const file = path.join(dir, `h${i}`);
    fs.writeFileSync(file, data);
    try {
      const r = await openMediaFile(file);
      opened++;
      let n = 0;
      for await (const f of r.frames()) {
        assert.ok(f.payload.length >= 0);
        if (++n > 100_000) assert.fail('endless frames');
      }
      await r.close();
    } catch (e) {
      assert.ok(e instanceof MediaFormatError, `case ${i}: ${(e as Error).stack}`);
    }
  }
  assert.ok(opened > 10, `only ${opened} of the mutated files opened`);
});

test('VOD HLS of FLV and MP4 files: segments on key frames, decoded completely by ffmpeg', async (t) => {
  if (!requireTool(t, 'ffmpeg') || !requireTool(t, 'ffprobe')) return;
  for (const name of ['av', 'av-mp4', 'hevc-mp4', 'audio', 'video']) {
    const file = fixture(name, 12);
    const r = await openMediaFile(file);
    const vod = new VodHLS(r, { durationMs: 4000 });
    const dir = tmpDir(`vod-${name}`);
    for (const format of ['fmp4', 'ts'] as const) {
      const text = vod.playlist(format);
      assert.deepEqual(validatePlaylist(text), [], `${name} ${format}`);
      const p = parsePlaylist(text);
      assert.ok(p.vod && p.ended);
      const total = p.segments.reduce((n, s) => n + s.duration, 0);
      assert.ok(Math.abs(total * 1000 - r.durationMs) < 100, `${name}: ${total} s listed, ${r.durationMs} ms in the file`);
      assert.ok(p.segments.length >= 2 && p.segments.slice(0, -1).every((s) => s.duration >= 3.9 && s.duration <= 4.6), `${name}: ${p.segments.map((s) => s.duration)}`);
      const playlist = `${format}.m3u8`;
      fs.writeFileSync(path.join(dir, playlist), text);
      for (const s of p.segments) {
        for (const uri of [s.uri, s.map].filter((u): u is string => !!u)) {
          const res = await vod.resource(uri);
          assert.ok(res, uri);
          fs.writeFileSync(path.join(dir, uri), Buffer.concat(res.chunks));
        }
      }
      assert.equal(decodeErrors(path.join(dir, playlist)), '', `${name} ${playlist}`);
      const out = probe(path.join(dir, playlist));
      const src = probe(file);
      // every frame of the file (the MP4 AAC priming frame, hidden by ffprobe's edit list, included)
      if (r.video) assert.equal(streamOf(out, 'video')?.frames, streamOf(src, 'video')?.frames, `${name} ${format} video`);
      if (r.audio) {
        // HLS starts with the first video key frame: audio before it (a frame or so) is not in it
        const before = r.video ? (await all(r, 0, r.seekPoints[0])).filter((f) => f.type === MediaType.Audio).length : 0;
        const got = streamOf(out, 'audio')!.frames;
        const want = streamOf(src, 'audio')!.frames - before + (file.endsWith('.mp4') ? 1 : 0);
        assert.equal(got, want, `${name} ${format}: ${got} audio frames, ${want} expected`);
      }
      if (r.video) assertKeyStarts(dir, playlist);
    }
    const master = vod.multivariant([{ uri: 'fmp4.m3u8', format: 'fmp4' }]);
    assert.match(master, /BANDWIDTH=\d+/);
    for (const track of [r.video, r.audio]) if (track) assert.ok(master.includes(track.codecString), master);
    assert.equal(await vod.resource('99.m4s'), null);
    assert.equal(await vod.resource('x'), null);
    await r.close();
  }
});
