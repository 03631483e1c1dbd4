/**
 * RTMP against real clients: ffmpeg publishes an H.264+AAC FLV; ffmpeg and rtmpdump
 * play it back (rtmpdump also over rtmpe://), checked with ffprobe: frames decode, timestamps
 * never go backwards, the first video frame is a key frame. A late joiner (our client) gets the
 * metadata, then the codec configs, then a key frame.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RTMPClient } from '../../../src/protocols/rtmp/client';
import { MessageType } from '../../../src/protocols/rtmp/constants';
import { Table } from '../../../src/serialization/value';
import { decodedVideoFrames, needTool, probe, run, sleep, startRTMP, testFLV, waitFor, type ToolRun } from './helpers';

function monotonic(times: number[]): boolean {
  for (let i = 1; i < times.length; i++) if (times[i] < times[i - 1]) return false;
  return true;
}

function checkRecording(file: string, minVideoFrames: number): void {
  const p = probe(file);
  assert.ok(p.codecs.includes('h264') && p.codecs.includes('aac'), `${path.basename(file)} codecs: ${p.codecs}`);
  assert.ok(p.keyFirst, `${path.basename(file)} starts on a key frame`);
  assert.ok(monotonic(p.video), `${path.basename(file)} video timestamps never go backwards`);
  assert.ok(monotonic(p.audio), `${path.basename(file)} audio timestamps never go backwards`);
  assert.ok(p.video[0] < 1 && p.audio[0] < 1, `${path.basename(file)} starts near 0 (video ${p.video[0]}, audio ${p.audio[0]})`);
  const decoded = decodedVideoFrames(file);
  assert.ok(decoded >= minVideoFrames, `${path.basename(file)}: ${decoded} video frames decoded, want >= ${minVideoFrames}`);
}

async function publishWithFFmpeg(url: string): Promise<ToolRun> {
  return run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-i', testFLV(6), '-c', 'copy', '-f', 'flv', url], 40_000);
}

test('ffmpeg publishes H.264+AAC, ffmpeg and rtmpdump play it back with valid timestamps', async (t) => {
  if (!needTool(t, 'ffmpeg') || !needTool(t, 'ffprobe') || !needTool(t, 'rtmpdump')) return;
  const s = await startRTMP();
  const runs: ToolRun[] = [];
  try {
    const pub = await publishWithFFmpeg(s.url('live/s1'));
    runs.push(pub);
    await waitFor(() => s.context.publications.get('s1')?.running === true, 15_000, 'publication s1');
    await sleep(500);
    const out1 = path.join(s.dir, 'ffmpeg.flv');
    const out2 = path.join(s.dir, 'rtmpdump.flv');
    const ff = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', s.url('live/s1'), '-c', 'copy', '-f', 'flv', out1], 40_000);
    const dump = run('rtmpdump', ['-q', '-v', '-r', s.url('live/s1'), '-o', out2], 40_000);
    runs.push(ff, dump);
    const [p, a, b] = await Promise.all([pub.done, ff.done, dump.done]);
    assert.equal(p.code, 0, `ffmpeg publisher: ${p.stderr}`);
    assert.equal(a.code, 0, `ffmpeg player: ${a.stderr}`);
    assert.equal(b.code, 0, `rtmpdump: ${b.stderr}`);
    // players joined about a second in: several seconds of 25 fps are left
    checkRecording(out1, 50);
    checkRecording(out2, 50);
    assert.equal(s.context.publications.get('s1'), undefined, 'the publication is gone once everyone left');
  } finally {
    for (const r of runs) r.kill();
    await s.stop();
  }
});

test('rtmpe:// play works with rtmpdump (DH key exchange + RC4)', async (t) => {
  if (!needTool(t, 'ffmpeg') || !needTool(t, 'ffprobe') || !needTool(t, 'rtmpdump')) return;
  const s = await startRTMP();
  const runs: ToolRun[] = [];
  try {
    const pub = await publishWithFFmpeg(s.url('live/enc'));
    runs.push(pub);
    await waitFor(() => s.context.publications.get('enc')?.running === true, 15_000, 'publication enc');
    const out = path.join(s.dir, 'rtmpe.flv');
    const dump = run('rtmpdump', ['-q', '-v', '-r', s.url('live/enc', 'rtmpe'), '-o', out], 40_000);
    runs.push(dump);
    await waitFor(() => [...s.server.sessions].some((x) => x.protocol === 'RTMPE'), 10_000, 'an RTMPE session');
    const [p, d] = await Promise.all([pub.done, dump.done]);
    assert.equal(p.code, 0, p.stderr);
    assert.equal(d.code, 0, `rtmpdump rtmpe: ${d.stderr}`);
    checkRecording(out, 50);
  } finally {
    for (const r of runs) r.kill();
    await s.stop();
  }
});

test('a late joiner gets metadata, then codec configs, then starts on a key frame', async (t) => {
  if (!needTool(t, 'ffmpeg')) return;
  const s = await startRTMP();
  const runs: ToolRun[] = [];
  const c = new RTMPClient({ port: s.port });
  try {
    const pub = await publishWithFFmpeg(s.url('live/late'));
    runs.push(pub);
    await waitFor(() => (s.context.publications.get('late')?.lastTime ?? 0) > 1500, 15_000, 'publication running 1.5 s');
    const r = await c.connect('live');
    assert.equal(r.name, '_result');
    const id = await c.createStream();
    c.command('play', ['late'], id);
    await c.status(id, 'NetStream.Play.Start');
    await c.until(() => c.media(id).filter((m) => m.type === MessageType.Video).length >= 3, 10_000, 'video frames');
    // |RtmpSampleAccess (sent with Play.Start) is not stream content
    const media = c.media(id).filter((m) => m.type !== MessageType.DataAMF0 || c.dataValues(m)[0] !== '|RtmpSampleAccess');
    // order: metadata, configs (audio and video in either order), then the first key frame
    const first = c.dataValues(media[0]);
    assert.equal(first[0], 'onMetaData');
    assert.ok(first[1] instanceof Table && typeof first[1].get('width') === 'number', 'metadata carries the width');
    const kinds = media.slice(1, 3).map((m) => (m.type === MessageType.Video ? `v${m.payload[1]}` : `a${m.payload[1]}`)).sort();
    assert.deepEqual(kinds, ['a0', 'v0'], 'AAC config and AVC sequence header come next');
    const firstVideo = media.slice(3).find((m) => m.type === MessageType.Video);
    assert.ok(firstVideo && firstVideo.payload[0] >> 4 === 1, 'the first video frame after the configs is a key frame');
    const firstMedia = media.slice(3).find((m) => m.type === MessageType.Video || m.type === MessageType.Audio);
    assert.ok(firstMedia && firstMedia.timestamp < 200, `timestamps restart near 0 (got ${firstMedia?.timestamp})`);
    const times = media.filter((m) => m.type === MessageType.Video).map((m) => m.timestamp);
    assert.ok(monotonic(times));
  } finally {
    await c.close();
    for (const r of runs) r.kill();
    await s.stop();
  }
});

test('test FLV is a real H.264+AAC file', (t) => {
  if (!needTool(t, 'ffmpeg') || !needTool(t, 'ffprobe')) return;
  const p = probe(testFLV(6));
  assert.ok(fs.statSync(testFLV(6)).size > 10_000);
  assert.ok(p.video.length >= 140, `video packets ${p.video.length}`);
});
