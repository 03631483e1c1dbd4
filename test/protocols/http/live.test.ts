/**
 * Live publications over HTTP and WebSocket fed by a real RTMP publisher (ffmpeg): ffmpeg/ffprobe read
 * `http://…/live/name.flv` and `name.ts`, the `ws` package plays the same publication as a data stream
 * (metadata from @setDataFrame) and as WebSocket-FLV.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import WebSocket from 'ws';
import { requireTool, run as runTool, startHTTP, tempWWW, type HTTPTestServer } from '../../helpers/http-server';
import { probe, run, testFLV, waitFor } from '../rtmp/helpers';

async function liveServer(t: TestContext): Promise<HTTPTestServer> {
  const s = await startHTTP({ dir: tempWWW({ 'live/readme.txt': 'live app' }), rtmp: true });
  t.after(() => s.stop());
  return s;
}

/** ffmpeg publishing the test FLV in real time, looped, to rtmp://…/live/<name>; killed at the end. */
async function publish(t: TestContext, s: HTTPTestServer, name: string) {
  const pub = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i', testFLV(), '-c', 'copy', '-f', 'flv', `rtmp://127.0.0.1:${s.rtmpPort}/live/${name}`], 60_000);
  t.after(() => pub.kill());
  await waitFor(() => s.context.publications.get(name)?.running === true && s.context.publications.get(name)!.hasVideo, 15_000, `publication ${name}`);
  return pub;
}

test('ffmpeg and ffprobe read a live RTMP publication as http://…/name.flv and name.ts', async (t) => {
  for (const tool of ['ffmpeg', 'ffprobe']) if (!requireTool(t, tool)) return;
  const s = await liveServer(t);
  await publish(t, s, 'cam');
  for (const ext of ['flv', 'ts']) {
    const out = path.join(s.dir, `copy.${ext}`);
    const r = await runTool('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', s.url(`live/cam.${ext}`), '-t', '2', '-c', 'copy', out], 30_000);
    assert.equal(r.code, 0, `${ext}: ${r.stderr}`);
    const p = probe(out);
    assert.deepEqual([...p.codecs].sort(), ['aac', 'h264'], ext);
    assert.ok(p.keyFirst, `${ext} starts on a key frame`);
    assert.ok(p.video.length >= 25, `${ext}: ${p.video.length} video frames`);
    const pr = await runTool('ffprobe', ['-v', 'error', '-show_entries', 'format=format_name', '-of', 'csv=p=0', s.url(`live/cam.${ext}`)], 30_000);
    assert.equal(pr.code, 0, pr.stderr);
    assert.match(pr.stdout.toString(), ext === 'flv' ? /flv/ : /mpegts/);
  }
  // the HTTP players left: their listeners are gone
  await waitFor(() => (s.context.publications.get('cam')?.listeners.size ?? 0) === 0, 5000, 'listeners to leave');
  // a real file named .flv is still served as a file
  fs.writeFileSync(path.join(s.www, 'live', 'file.flv'), 'not live');
  const r = await runTool('curl', ['-s', s.url('live/file.flv')]);
  assert.equal(r.stdout.toString(), 'not live');
});

test('the ws package plays an RTMP publication: metadata (@setDataFrame) as JSON data, and WebSocket-FLV', async (t) => {
  if (!requireTool(t, 'ffmpeg')) return;
  const s = await liveServer(t);
  await publish(t, s, 'feed');
  // data player
  const ws = new WebSocket(`ws://127.0.0.1:${s.port}/live`);
  t.after(() => ws.terminate());
  const messages: unknown[] = [];
  ws.on('message', (d) => messages.push(JSON.parse(d.toString())));
  await new Promise((r) => ws.once('open', r));
  ws.send('["__play", "feed"]');
  await waitFor(() => messages.length >= 2, 10_000, 'publishing notice and metadata');
  assert.deepEqual(messages[0], ['__publishing', 'feed']);
  const meta = messages[1] as unknown[];
  const i = meta.indexOf('onMetaData');
  assert.ok(i >= 0, JSON.stringify(meta));
  const props = meta[i + 1] as Record<string, unknown>;
  assert.equal(props.width, 320);
  assert.equal(props.height, 240);
  // an RTMP publisher's data message (pushed here as AMF0, as the RTMP layer does) reaches the player
  const { encodeAMF0 } = await import('../../../src/serialization/amf0');
  const { Table } = await import('../../../src/serialization/value');
  s.context.publications.get('feed')!.pushData(encodeAMF0('onCuePoint', Table.of({ name: 'cue1' })));
  await waitFor(() => messages.some((m) => Array.isArray(m) && m[0] === 'onCuePoint'), 5000, 'cue point');
  // WebSocket-FLV: binary frames that concatenate into a decodable FLV
  const flv = new WebSocket(`ws://127.0.0.1:${s.port}/live/feed.flv`);
  t.after(() => flv.terminate());
  const chunks: Buffer[] = [];
  flv.on('message', (d) => chunks.push(d as Buffer));
  await waitFor(() => chunks.reduce((n, c) => n + c.length, 0) > 200_000, 20_000, 'WebSocket-FLV bytes');
  flv.close();
  const file = path.join(s.dir, 'ws.flv');
  fs.writeFileSync(file, Buffer.concat(chunks));
  const p = probe(file);
  assert.deepEqual([...p.codecs].sort(), ['aac', 'h264']);
  assert.ok(p.keyFirst);
});
