/**
 * fMP4 muxing checked with ffprobe and with our parser: track timescales (90 kHz video, sample
 * rate audio), exact AAC durations, key-frame flags, composition offsets (signed ones in a
 * version 1 trun), sample entries from the FLV sequence headers; and the bounded file writer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FileWriter } from '../../src/media/files/writer';
import { Ingest, type Sample } from '../../src/media/ingest';
import { fragment, initSegment, type TrackRun } from '../../src/media/mp4/fmp4';
import { parseMP4 } from '../../src/media/mp4/parse';
import type { TrackInfo } from '../../src/media/tracks';
import { requireTool } from '../helpers/http-server';
import { decodeErrors, fixture, flvFrames, probe, streamOf, tmpDir } from './helpers';

/** Frames of an FLV fixture as samples, with the tracks. */
function samplesOf(name: string): { tracks: TrackInfo[]; samples: Sample[] } {
  const samples: Sample[] = [];
  let tracks: TrackInfo[] = [];
  const ingest = new Ingest({ tracks: (v, a) => (tracks = [v, a].filter((t): t is TrackInfo => t !== null)), sample: (s) => samples.push(s), discontinuity: () => undefined });
  for (const f of flvFrames(fixture(name))) ingest.push(f.type, f.time, f.payload);
  ingest.finish();
  return { tracks, samples };
}

/** One fragment per second of the primary track, durations from the next sample. */
function mux(tracks: TrackInfo[], samples: Sample[], cto = (s: Sample) => s.cto): Buffer {
  const out = [initSegment(tracks).data];
  const perTrack = tracks.map((t) => samples.filter((s) => s.track.kind === t.kind));
  const seconds = Math.ceil(Math.max(...samples.map((s) => s.dts / s.track.timescale)));
  for (let sec = 0; sec <= seconds; sec++) {
    const runs: TrackRun[] = tracks.map((t, i) => {
      const list = perTrack[i].filter((s) => s.dts / t.timescale >= sec && s.dts / t.timescale < sec + 1);
      const all = perTrack[i];
      return {
        trackId: i + 1, baseDts: list[0]?.dts ?? 0, allSync: t.kind === 'audio',
        samples: list.map((s) => {
          const next = all[all.indexOf(s) + 1];
          return { duration: next ? next.dts - s.dts : t.kind === 'audio' ? t.frameSamples : 3600, cto: cto(s), key: s.key, data: s.data };
        }),
      };
    });
    if (runs.some((r) => r.samples.length)) out.push(fragment(sec + 1, runs));
  }
  return Buffer.concat(out);
}

test('fMP4: timescales, AAC durations, key flags and composition offsets as ffprobe reads them', async (t) => {
  if (!requireTool(t, 'ffprobe')) return;
  const dir = tmpDir('fmp4');
  const { tracks, samples } = samplesOf('av-bframes');
  const file = path.join(dir, 'out.mp4');
  fs.writeFileSync(file, mux(tracks, samples));
  assert.equal(decodeErrors(file), '');
  const p = probe(file);
  assert.equal(streamOf(p, 'video')?.timeBase, '1/90000');
  assert.equal(streamOf(p, 'audio')?.timeBase, '1/44100');
  assert.equal(streamOf(p, 'video')?.width, 320);
  const video = p.packets.filter((x) => x.type === 'video');
  const audio = p.packets.filter((x) => x.type === 'audio');
  const vs = samples.filter((s) => s.track.kind === 'video');
  assert.equal(video.length, vs.length);
  assert.deepEqual(video.map((x) => x.key), vs.map((s) => s.key));
  assert.deepEqual(video.map((x) => Math.round((x.pts - x.dts) * 90000)), vs.map((s) => s.cto));
  assert.ok(vs.some((s) => s.cto > 0), 'the fixture has B-frames');
  // AAC frames are exactly 1024 samples: the ingest keeps the cadence despite millisecond times
  // (ffprobe reports no duration for the first AAC packet of an MP4: its priming handling)
  const durations = audio.slice(1, -1).map((x) => Math.round(x.duration * 44100));
  assert.deepEqual([...new Set(durations)], [1024], `audio packets not of 1024 samples: ${durations.map((d, i) => (d === 1024 ? -1 : i)).filter((i) => i >= 0)} of ${durations.length}`);
  // our parser reads back what we wrote
  const fh = await fsp.open(file, 'r');
  const parsed = await parseMP4(fh, fs.statSync(file).size);
  await fh.close();
  assert.ok(parsed.fragmented);
  const pv = parsed.tracks[0].samples;
  assert.equal(pv.count, vs.length);
  for (let i = 0; i < pv.count; i++) {
    assert.equal(pv.dts[i], vs[i].dts);
    assert.equal(pv.cto[i], vs[i].cto);
    assert.equal(pv.key[i] === 1, vs[i].key);
    assert.equal(pv.size[i], vs[i].data.length);
  }
});

test('fMP4: negative composition offsets go in a version 1 trun', async (t) => {
  if (!requireTool(t, 'ffprobe')) return;
  const dir = tmpDir('fmp4-neg');
  const { tracks, samples } = samplesOf('av-bframes');
  const video = tracks.filter((x) => x.kind === 'video');
  const vs = samples.filter((s) => s.track.kind === 'video');
  // shift presentation back by two frames: the first frames get negative offsets
  const data = mux(video, vs, (s) => s.cto - 7200);
  const trun = data.indexOf(Buffer.from('trun'));
  assert.equal(data[trun + 4], 1, 'trun version 1');
  const file = path.join(dir, 'neg.mp4');
  fs.writeFileSync(file, data);
  const p = probe(file, { count: false });
  // ffmpeg's demuxer moves decode times back by the most negative offset so that pts >= dts:
  // the presentation order and spacing are what we wrote
  const got = p.packets.map((x) => Math.round(x.pts * 90000));
  const want = vs.map((s) => s.dts + s.cto - 7200);
  assert.deepEqual(got.map((x) => x - got[0]), want.map((x) => x - want[0]));
  assert.ok(want.some((x, i) => x < vs[i].dts));
});

test('file writer: coalesced appends, ordered patches, truncation, bounded queue, errors kept', async () => {
  const dir = tmpDir('writer');
  const file = path.join(dir, 'w.bin');
  const w = await FileWriter.open(file, { truncate: true, maxQueuedBytes: 1000 });
  assert.ok(w.append([Buffer.alloc(600, 1)]));
  assert.ok(!w.append([Buffer.alloc(600, 2)]), 'over the bound while the first is queued');
  assert.ok(w.append([Buffer.alloc(300, 3), Buffer.alloc(50, 4)]));
  w.patch(0, Buffer.from([9, 9]));
  w.truncate(900);
  assert.equal(w.position, 900);
  assert.ok(w.append([Buffer.alloc(10, 5)]));
  await w.drain();
  assert.equal(w.queuedBytes, 0);
  // a write larger than the bound goes through when nothing waits (a big key frame is not lost)
  assert.ok(w.append([Buffer.alloc(5000, 6)]));
  await w.close();
  const b = fs.readFileSync(file);
  assert.equal(b.length, 910 + 5000);
  assert.deepEqual([...b.subarray(0, 3)], [9, 9, 1]);
  assert.equal(b[600], 3);
  assert.equal(b[899], 3);
  assert.equal(b[900], 5);
  assert.equal(b[910], 6);
  assert.ok(!w.append([Buffer.alloc(1)]), 'closed');
  // an I/O error is kept and stops the writer
  const ro = path.join(dir, 'ro.bin');
  fs.writeFileSync(ro, 'x');
  const bad = await FileWriter.open(ro, { truncate: false });
  await (bad as unknown as { fh: fsp.FileHandle }).fh.close(); // the descriptor goes away under it
  bad.append([Buffer.alloc(10)]);
  await bad.drain();
  assert.ok(bad.error);
  assert.ok(!bad.append([Buffer.alloc(1)]));
});
