/**
 * Live HLS over real HTTP, fed by ffmpeg publishing over RTMP: ffmpeg reads `name.m3u8` (fMP4 and
 * MPEG-TS variants) and the copy has every frame with audio and video starting together; every
 * playlist served, reload after reload, passes the RFC 8216bis checker; blocking playlist reloads
 * and preload-hint requests are answered when the part exists (not before, not much after); the
 * caching and CORS headers; 404/400 answers; the stream's state is made on the first request and
 * dropped once nobody asks (the publication's observers back to none); app rules (onRead,
 * onConnection) refuse HLS requests as they refuse files, and a token given on the first URL is
 * carried onto every URL the playlists name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { hlsService } from '../../../src/protocols/hls/service';
import { HLS_TIMING } from '../../../src/protocols/hls/stream';
import { requireTool, run as runTool } from '../../helpers/http-server';
import { parsePlaylist, ReloadChecker, validatePlaylist } from '../../media/hls-validator';
import { sleep, waitFor } from '../rtmp/helpers';
import { get, hlsServer, publishTestSource } from './helpers';

/** `<epoch>/<msn>.<part>.m4s?…` → [msn, part] */
const partId = (uri: string): [number, number] | null => {
  const m = /\/(\d+)\.(\d+)\.m4s/.exec(uri);
  return m ? [Number(m[1]), Number(m[2])] : null;
};

function streamStarts(file: string): { video: number; audio: number; frames: number; duration: number } {
  const r = spawnSync('ffprobe', ['-v', 'error', '-count_frames', '-show_entries', 'stream=codec_type,start_time,nb_read_frames:format=duration', '-of', 'json', file]);
  assert.equal(r.status, 0, r.stderr.toString());
  const j = JSON.parse(r.stdout.toString()) as { streams: Array<{ codec_type: string; start_time: string; nb_read_frames?: string }>; format: { duration: string } };
  const v = j.streams.find((s) => s.codec_type === 'video')!;
  const a = j.streams.find((s) => s.codec_type === 'audio')!;
  assert.ok(v && a, 'an audio and a video stream');
  return { video: Number(v.start_time), audio: Number(a.start_time), frames: Number(v.nb_read_frames), duration: Number(j.format.duration) };
}

test('ffmpeg reads the live .m3u8 of an RTMP publication (fMP4 and MPEG-TS): every frame, audio and video together', { timeout: 120_000 }, async (t) => {
  for (const tool of ['ffmpeg', 'ffprobe']) if (!requireTool(t, tool)) return;
  const s = await hlsServer(t);
  await publishTestSource(t, s, 'cam');
  for (const [label, url] of [['fMP4', 'live/cam.m3u8'], ['MPEG-TS', 'live/cam.m3u8?format=ts']]) {
    const out = path.join(s.dir, `copy-${label}.mkv`);
    const r = await runTool('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', s.url(url), '-t', '5', '-c', 'copy', out], 60_000);
    assert.equal(r.code, 0, `${label}: ${r.stderr}`);
    const p = streamStarts(out);
    // 5 s at 25 fps, every one decodable
    assert.ok(p.frames >= 120, `${label}: ${p.frames} video frames decoded`);
    assert.ok(Math.abs(p.video - p.audio) < 0.1, `${label}: video starts at ${p.video}, audio at ${p.audio}`);
  }
});

test('served playlists pass the RFC 8216bis checker reload after reload; blocking reload and preload hints answer when the part exists', { timeout: 120_000 }, async (t) => {
  if (!requireTool(t, 'ffmpeg')) return;
  const s = await hlsServer(t);
  // before anyone asks, HLS costs a publication nothing: no observer of its own (the script
  // runtime's, for publication:onVideo and the like, is there from the publish)
  await publishTestSource(t, s, 'cam');
  const scripts = s.context.publications.get('cam')!.observerCount;
  assert.ok(!s.context.publications.get('cam')!.peekDerived(hlsService(s.context).key));

  // the multivariant playlist: codecs and the variant's URL with a session
  const mv = await get(s.url('live/cam.m3u8'), { Origin: 'http://page.example' });
  assert.equal(mv.status, 200);
  assert.equal(mv.headers.get('content-type'), 'application/vnd.apple.mpegurl');
  assert.equal(mv.headers.get('cache-control'), 'no-cache');
  assert.equal(mv.headers.get('access-control-allow-origin'), 'http://page.example');
  assert.match(mv.text, /CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2",RESOLUTION=320x240,FRAME-RATE=25\.000/);
  const variant = mv.text.split('\n').find((l) => l && !l.startsWith('#'))!;
  assert.match(variant, /^cam\.m3u8\/fmp4\.m3u8\?hls_session=[0-9a-f]{16}$/);
  assert.equal(s.context.publications.get('cam')!.observerCount, scripts + 1);

  const media = s.url(`live/${variant}`);
  const checkers = { fmp4: new ReloadChecker(), ts: new ReloadChecker() };
  const end = Date.now() + 7000;
  let last = '';
  while (Date.now() < end) {
    for (const [format, url] of [['fmp4', media], ['ts', s.url('live/cam.m3u8/ts.m3u8')]] as const) {
      const r = await get(url);
      assert.equal(r.status, 200);
      assert.deepEqual(validatePlaylist(r.text, format === 'fmp4' ? partId : undefined), [], r.text);
      checkers[format].add(r.text);
      if (format === 'fmp4') last = r.text;
    }
    await sleep(300);
  }
  assert.deepEqual(checkers.fmp4.errors, []);
  assert.deepEqual(checkers.ts.errors, []);
  // every URI carries the session
  for (const line of last.split('\n')) {
    const uris = line.startsWith('#') ? [...line.matchAll(/URI="([^"]*)"/g)].map((m) => m[1]) : line ? [line] : [];
    for (const u of uris) assert.match(u, /\?hls_session=[0-9a-f]{16}$/, line);
  }

  // blocking reload: ask for the part after the preload hint; answered once it exists
  const p = parsePlaylist(last);
  const hint = partId(p.preloadHint!)!;
  const want = [hint[0], hint[1] + 1];
  const blocked = await get(`${media}&_HLS_msn=${want[0]}&_HLS_part=${want[1]}`);
  assert.equal(blocked.status, 200);
  const bp = parsePlaylist(blocked.text);
  const listed = [...bp.segments.flatMap((x) => x.parts), ...bp.openParts].map((x) => partId(x.uri)!);
  const has = (id: number[]) => listed.some(([m, n]) => m > id[0] || (m === id[0] && n >= id[1]));
  assert.ok(has(want), `the answer lists part ${want.join('.')}:\n${blocked.text}`);
  // it waited for about two parts (the hint's and ours), well under the hold time
  assert.ok(blocked.ms > 150 && blocked.ms < 3000, `blocked ${blocked.ms.toFixed(0)} ms`);
  assert.match(blocked.headers.get('cache-control')!, /^public, max-age=\d+$/);
  // the part named by the new preload hint, asked before it exists, comes when made
  const hint2 = bp.preloadHint!;
  const part = await get(s.url(`live/cam.m3u8/${hint2}`));
  assert.equal(part.status, 200);
  assert.equal(part.headers.get('content-type'), 'video/mp4');
  assert.equal(part.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.equal(part.body.toString('latin1', 4, 8), 'moof');
  assert.ok(part.ms < 3000, `preload hint answered after ${part.ms.toFixed(0)} ms`);
  // the init segment and a whole segment
  const seg = p.segments[p.segments.length - 1];
  const init = await get(s.url(`live/cam.m3u8/${seg.map!}`));
  assert.equal(init.body.toString('latin1', 4, 8), 'ftyp');
  const whole = await get(s.url(`live/cam.m3u8/${seg.uri}`));
  assert.equal(whole.status, 200);
  assert.equal(whole.body.toString('latin1', 4, 8), 'moof');

  // what is refused: too far ahead, unknown names, stale epochs
  assert.equal((await get(`${media}&_HLS_msn=${want[0] + 10}`)).status, 400);
  assert.equal((await get(`${media}&_HLS_part=1`)).status, 400);
  assert.equal((await get(s.url('live/nobody.m3u8'))).status, 404);
  assert.equal((await get(s.url('live/nobody.m3u8/fmp4.m3u8'))).status, 404);
  assert.equal((await get(s.url('live/cam.m3u8/old/0.m4s'))).status, 404);
  assert.equal((await get(s.url('nope/cam.m3u8/fmp4.m3u8'))).status, 404);
});

test('the HLS state is made on the first request and dropped when nobody asks; the stream ends after its publisher left', { timeout: 120_000 }, async (t) => {
  if (!requireTool(t, 'ffmpeg')) return;
  const saved = { ...HLS_TIMING };
  Object.assign(HLS_TIMING, { idleMs: 1000, sessionIdleMs: 1000, endAfterMs: 500, sweepMs: 200 });
  t.after(() => Object.assign(HLS_TIMING, saved));
  const s = await hlsServer(t, { overrides: { 'publication.duration': '1000' } });
  const pub = await publishTestSource(t, s, 'cam');
  const publication = s.context.publications.get('cam')!;
  const service = hlsService(s.context);
  // the script runtime's observer, there from the publish
  const scripts = publication.observerCount;
  assert.equal((await get(s.url('live/cam.m3u8'))).status, 200);
  assert.ok(publication.peekDerived(service.key));
  assert.equal(publication.observerCount, scripts + 1);
  assert.equal((publication.derivedViews().hls as { viewers: number }).viewers, 1);
  // nobody asks for six target durations (6 s): the segmenter and its observer are gone
  await waitFor(() => publication.peekDerived(service.key) === undefined, 15_000, 'the HLS state to be dropped');
  assert.equal(publication.observerCount, scripts);

  // a player is watching when the publisher leaves: the publication stays (held), the playlist ends
  const mv = await get(s.url('live/cam.m3u8'));
  const variant = mv.text.split('\n').find((l) => l && !l.startsWith('#'))!;
  pub.kill();
  await waitFor(() => !publication.running, 10_000, 'the publisher to leave');
  assert.equal(s.context.publications.get('cam'), publication, 'held while its HLS stream lives');
  let ended = '';
  for (const until = Date.now() + 15_000; Date.now() < until && !ended.includes('#EXT-X-ENDLIST'); await sleep(200)) {
    ended = (await get(s.url(`live/${variant}`))).text;
  }
  assert.ok(ended.includes('#EXT-X-ENDLIST'), ended);
  assert.deepEqual(validatePlaylist(ended, partId), []);
  // then nobody asks: the state goes, and the publication with it
  await waitFor(() => s.context.publications.get('cam') === undefined, 20_000, 'the publication to leave the registry');
});

test('app rules apply to HLS requests: onRead refuses or redirects, onConnection refuses, a token is carried onto every URL', { timeout: 120_000 }, async (t) => {
  if (!requireTool(t, 'ffmpeg')) return;
  const main = `
function onConnection(client)
  if client.properties.banned then error("banned") end
  function client:onRead(file, params)
    if file == "secret.m3u8" then error("no secret") end
    if file == "cam.m3u8" and params.token ~= "t0k" then error("bad token") end
    if file == "alias.m3u8" then return "cam.m3u8" end
    return file
  end
end
`;
  const s = await hlsServer(t, { files: { 'live/main.lua': main } });
  await publishTestSource(t, s, 'cam');
  await publishTestSource(t, s, 'secret');
  assert.equal((await get(s.url('live/secret.m3u8'))).status, 403);
  assert.equal((await get(s.url('live/secret.m3u8/fmp4.m3u8'))).status, 403);
  assert.equal((await get(s.url('live/cam.m3u8'))).status, 403);
  assert.equal((await get(s.url('live/cam.m3u8/fmp4.m3u8?token=wrong'))).status, 403);
  assert.equal((await get(s.url('live/cam.m3u8?token=t0k&banned=1'))).status, 403);
  // with the token: every URL of the playlists carries it, and each of them is served
  const mv = await get(s.url('live/cam.m3u8?token=t0k'));
  assert.equal(mv.status, 200, mv.text);
  const variant = mv.text.split('\n').find((l) => l && !l.startsWith('#'))!;
  assert.match(variant, /^cam\.m3u8\/fmp4\.m3u8\?token=t0k&hls_session=/);
  const media = await get(s.url(`live/${variant}`));
  assert.equal(media.status, 200);
  const uri = media.text.split('\n').find((l) => l && !l.startsWith('#'))!;
  assert.match(uri, /\?token=t0k&hls_session=/);
  assert.equal((await get(s.url(`live/cam.m3u8/${uri}`))).status, 200);
  // onRead's redirection: alias.m3u8 is cam's stream
  const alias = await get(s.url('live/alias.m3u8/fmp4.m3u8'));
  assert.equal(alias.status, 200);
  assert.match(alias.text, /#EXTINF/);
});
