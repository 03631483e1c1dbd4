/**
 * Media files of an app folder played back: over RTMP by name (our client checks the status
 * sequence FMS sends, the pacing within the player's buffer length, seek, pause and the end;
 * rtmpdump with --start and ffmpeg as real players), over RTMFP with our client, and over HLS as a
 * VOD playlist read by ffmpeg. onRead rules apply to a file played by RTMP as to HTTP.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { MessageType, UserControl, decodeData } from '../../../src/protocols/flash/messages';
import { RTMPClient } from '../../../src/protocols/rtmp/client';
import { RTMFPServer } from '../../../src/protocols/rtmfp/server';
import { Table } from '../../../src/serialization/value';
import { requireTool, run as runTool, startHTTP, tempWWW, type HTTPTestServer } from '../../helpers/http-server';
import { RtmfpTestClient, type Media } from '../../helpers/rtmfp-client';
import { sleep, testFLV, waitFor } from '../rtmp/helpers';

const MAIN = `
function onConnection(client)
  function client:onRead(file)
    if file == "secret.flv" then error("not for you") end
    return file
  end
end
`;

async function server(t: TestContext): Promise<HTTPTestServer> {
  const flv = fs.readFileSync(testFLV());
  const s = await startHTTP({ dir: tempWWW({ 'live/main.lua': MAIN, 'live/clip.flv': flv, 'live/secret.flv': flv }), rtmp: true });
  t.after(() => s.stop());
  // the same clip as a progressive MP4
  const r = spawnSync('ffmpeg', ['-v', 'error', '-y', '-i', path.join(s.www, 'live', 'clip.flv'), '-c', 'copy', '-movflags', '+faststart', path.join(s.www, 'live', 'movie.mp4')]);
  assert.equal(r.status, 0, r.stderr.toString());
  return s;
}

function probe(file: string): { duration: number; start: number; frames: number } {
  const r = spawnSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames,start_time:format=duration', '-of', 'json', file]);
  assert.equal(r.status, 0, r.stderr.toString());
  const j = JSON.parse(r.stdout.toString()) as { streams: Array<{ nb_read_frames: string; start_time: string }>; format: { duration: string } };
  return { duration: Number(j.format.duration), start: Number(j.streams[0]?.start_time), frames: Number(j.streams[0]?.nb_read_frames) };
}

function userControls(c: RTMPClient, id: number): number[] {
  return c.messages.filter((m) => m.type === MessageType.UserControl && m.payload.length >= 6 && m.payload.readUInt32BE(2) === id).map((m) => m.payload.readUInt16BE(0));
}

const videoTimes = (c: RTMPClient, id: number, from = 0) => c.messages.slice(from).filter((m) => m.streamId === id && m.type === MessageType.Video).map((m) => m.timestamp);

test('RTMP plays a file by name: FMS statuses, paced within the buffer length, seek, pause, Play.Complete at the end', { timeout: 60_000 }, async (t) => {
  if (!requireTool(t, 'ffmpeg')) return;
  const s = await server(t);
  const c = new RTMPClient({ port: s.rtmpPort });
  t.after(() => c.close());
  await c.connect('live');
  const id = await c.createStream();
  // setBufferLength(id, 500 ms), as players send it
  const buffer = Buffer.alloc(10);
  buffer.writeUInt16BE(UserControl.SetBufferLength, 0);
  buffer.writeUInt32BE(id, 2);
  buffer.writeUInt32BE(500, 6);
  c.send(2, MessageType.UserControl, 0, 0, buffer);
  const t0 = Date.now();
  c.command('play', ['clip'], id);
  await c.status(id, 'NetStream.Play.Start');
  assert.deepEqual(c.statuses.filter((x) => x.streamId === id).map((x) => x.code), ['NetStream.Play.Reset', 'NetStream.Play.Start']);
  assert.deepEqual(userControls(c, id).slice(0, 2), [UserControl.StreamIsRecorded, UserControl.StreamBegin]);
  const data = () => c.messages.filter((m) => m.streamId === id && m.type === MessageType.DataAMF0).map((m) => decodeData(m.type, m.payload));
  await waitFor(() => data().some((d) => d[0] === 'onMetaData'), 5000, 'onMetaData');
  assert.equal(data()[0][0], '|RtmpSampleAccess');
  // paced: after a second of wall time about 1.5 s of media has come, not the 6 s of the file
  await sleep(1000);
  const wall = Date.now() - t0;
  const ahead = Math.max(...videoTimes(c, id));
  assert.ok(ahead >= 700 && ahead <= wall + 500 + 600, `after ${wall} ms of wall time, video up to ${ahead} ms`);

  // seek: Seek.Notify, Play.Start, then frames from the key frame at 4 s
  c.command('seek', [4000], id);
  await c.status(id, 'NetStream.Seek.Notify');
  // frames already on the way before the seek arrived come first: count from the status on
  let mark = c.messages.findIndex((m) => m.type === MessageType.CommandAMF0 && m.streamId === id && m.payload.includes('NetStream.Seek.Notify'));
  await c.until(() => videoTimes(c, id, mark).length > 0, 5000, 'video after the seek');
  const afterSeek = videoTimes(c, id, mark).filter((x) => x > 0);
  assert.ok(afterSeek[0] >= 3900 && afterSeek[0] <= 4100, `first frame after seek at ${afterSeek[0]}`);
  const codes = c.statuses.filter((x) => x.streamId === id).map((x) => x.code);
  assert.deepEqual(codes.slice(-2), ['NetStream.Seek.Notify', 'NetStream.Play.Start']);

  // pause: nothing comes; unpause: it goes on
  c.command('pause', [true, 4200], id);
  await c.status(id, 'NetStream.Pause.Notify');
  await sleep(300);
  mark = c.messages.length;
  await sleep(700);
  assert.equal(videoTimes(c, id, mark).length, 0, 'no video while paused');
  c.command('pause', [false, 4200], id);
  await c.status(id, 'NetStream.Unpause.Notify');
  // the end: onPlayStatus Play.Complete, Play.Stop, StreamEOF
  await c.status(id, 'NetStream.Play.Stop', 10_000);
  const complete = data().find((d) => d[0] === 'onPlayStatus');
  assert.ok(complete && complete[1] instanceof Table && complete[1].get('code') === 'NetStream.Play.Complete', 'onPlayStatus NetStream.Play.Complete');
  await c.until(() => userControls(c, id).includes(UserControl.StreamEOF), 5000, 'StreamEOF');
  assert.ok(Math.max(...videoTimes(c, id)) >= 5900, 'played to the end');

  // a file that does not exist, asked as recorded only; a file the app refuses
  const id2 = await c.createStream();
  c.command('play', ['nothing', 1000], id2);
  await c.status(id2, 'NetStream.Play.StreamNotFound');
  c.command('play', ['secret'], id2);
  const failed = await c.status(id2, 'NetStream.Play.Failed');
  assert.equal(failed.get('description'), 'not for you');
});

test('rtmpdump (--start) and ffmpeg play recorded files over RTMP', { timeout: 90_000 }, async (t) => {
  for (const tool of ['rtmpdump', 'ffmpeg', 'ffprobe']) if (!requireTool(t, tool)) return;
  const s = await server(t);
  // rtmpdump: mp4:movie.mp4 from 2 s (rtmpdump asks a 10-hour buffer: it gets it as fast as it reads)
  const dump = path.join(s.dir, 'dump.flv');
  const r = await runTool('rtmpdump', ['-q', '-r', `rtmp://127.0.0.1:${s.rtmpPort}/live`, '-y', 'mp4:movie.mp4', '-A', '2', '-o', dump], 30_000);
  // 2 = "download may be incomplete": rtmpdump compares the last timestamp with the duration
  assert.ok(r.code === 0 || r.code === 2, `rtmpdump exit ${r.code}: ${r.stderr}`);
  // (the FLV rtmpdump writes carries our onMetaData, whose duration is the file's: count frames)
  const p = probe(dump);
  // from the key frame at or before 2 s (one a second) to the end: 4 to 5 s of 25 fps (the times
  // in rtmpdump's file are ours plus the start it asked, as it writes them for nginx-rtmp too)
  assert.ok(p.frames >= 98 && p.frames <= 127, `from 2 s of 6 s at 25 fps: ${p.frames} frames`);
  // ffmpeg: the FLV by its bare name, in real time (ffmpeg's 3 s buffer: about 3 s of wall time)
  const out = path.join(s.dir, 'ffmpeg.flv');
  const t0 = Date.now();
  const f = await runTool('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', `rtmp://127.0.0.1:${s.rtmpPort}/live/clip`, '-c', 'copy', out], 30_000);
  const took = Date.now() - t0;
  assert.equal(f.code, 0, f.stderr);
  assert.ok(Math.abs(probe(out).duration - 6) < 0.3, `ffmpeg got ${probe(out).duration} s`);
  assert.ok(took > 2000, `paced: ${took} ms for 6 s of media`);
});

test('RTMFP plays a file by name (our client)', { timeout: 60_000 }, async (t) => {
  if (!requireTool(t, 'ffmpeg')) return;
  const s = await server(t);
  const rtmfp = new RTMFPServer(s.context, 0, '127.0.0.1');
  await rtmfp.start();
  t.after(() => rtmfp.stop());
  const c = new RtmfpTestClient({ port: rtmfp.boundPort });
  t.after(() => c.close());
  await c.connect(`rtmfp://127.0.0.1:${rtmfp.boundPort}/live`);
  const media: Media[] = [];
  c.on('media', (m: Media) => media.push(m));
  const id = await c.createStream();
  const started = c.streamCommand(id, 'play', ['mp4:movie.mp4'], /Play\.Start/);
  await started;
  await c.waitStatus(id, /Play\.Stop/, 20_000);
  const video = media.filter((m) => m.streamId === id && m.type === MessageType.Video);
  assert.ok(video.length >= 150, `${video.length} video messages`);
  assert.equal(video[0].body[0], 0x17, 'the AVC sequence header first');
  assert.ok(Math.max(...video.map((v) => v.time)) >= 5900);
});

test('ffmpeg reads a file as a VOD HLS playlist (file.mp4.m3u8, and name.m3u8 for name.flv)', { timeout: 60_000 }, async (t) => {
  for (const tool of ['ffmpeg', 'ffprobe']) if (!requireTool(t, tool)) return;
  const s = await server(t);
  for (const url of ['live/movie.mp4.m3u8', 'live/clip.m3u8', 'live/clip.m3u8?format=ts']) {
    const out = path.join(s.dir, 'vod.mkv');
    const r = await runTool('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', s.url(url), '-c', 'copy', out], 30_000);
    assert.equal(r.code, 0, `${url}: ${r.stderr}`);
    const p = probe(out);
    assert.ok(Math.abs(p.duration - 6) < 0.3, `${url}: ${p.duration} s`);
    assert.ok(p.frames >= 149, `${url}: ${p.frames} frames`);
  }
  const pl = await (await fetch(s.url('live/movie.mp4.m3u8/fmp4.m3u8'))).text();
  assert.match(pl, /#EXT-X-PLAYLIST-TYPE:VOD/);
  assert.match(pl, /#EXT-X-ENDLIST/);
  // onRead applies: secret.flv's playlist is refused
  assert.equal((await fetch(s.url('live/secret.flv.m3u8'))).status, 403);
});
