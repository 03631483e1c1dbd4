/**
 * The Flash layer against real RTMP clients (ffmpeg publishing, rtmpdump playing), served by a Lua
 * app: a `?token` after ffmpeg's stream name is not part of the publication's name, the commands
 * ffmpeg and rtmpdump send around publish and play are answered without a warning or error line,
 * a play the script refuses reaches rtmpdump as Play.Failed only, and publication:close() in the
 * script stops ffmpeg's publishing with the server's error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { decodedVideoFrames, needTool, run, testFLV, waitFor, type ToolRun } from '../rtmp/helpers';
import { startFlash } from './helpers';

const APP = `
function onConnection(client)
  function client:onPublish(publication)
    publication.properties.type = "seen"
    local frames = 0
    function publication:onVideo(time, packet)
      frames = frames + 1
      -- closed once a player watches (and well before the file ends)
      if publication.name == "short" and frames >= 40 and publication.listeners.count > 0 then publication:close() end
    end
  end
  function client:onSubscribe(listener)
    if listener.publication.name == "secret" then error("members only") end
  end
end
`;

function publish(url: string): ToolRun {
  return run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-i', testFLV(6), '-c', 'copy', '-f', 'flv', url], 40_000);
}

test('ffmpeg publishes to name?token=…, rtmpdump plays the plain name; nothing logged at warn or error', async (t) => {
  if (!needTool(t, 'ffmpeg') || !needTool(t, 'ffprobe') || !needTool(t, 'rtmpdump')) return;
  const s = await startFlash({ apps: { live: APP } });
  const runs: ToolRun[] = [];
  try {
    const pub = publish(s.url('RTMP', 'live/q1?token=abc'));
    runs.push(pub);
    await waitFor(() => s.ctx.publications.get('q1')?.running === true, 15_000, 'publication q1');
    assert.equal(s.ctx.publications.get('q1?token=abc'), undefined);
    assert.equal(s.ctx.publications.get('q1')?.publishType, 'live');
    const out = path.join(s.dir, 'q1.flv');
    const dump = run('rtmpdump', ['-q', '-r', s.url('RTMP', 'live/q1'), '-o', out], 40_000);
    runs.push(dump);
    const [p, d] = await Promise.all([pub.done, dump.done]);
    assert.equal(p.code, 0, p.stderr);
    assert.equal(d.code, 0, d.stderr);
    assert.ok(decodedVideoFrames(out) >= 50, 'rtmpdump recorded a decodable stream');
    // (other sources may warn at start-up, e.g. which Lua engine runs: only the protocol's lines count)
    const rtmp = s.logs.filter((l) => /\sRTMP\s/.test(l));
    assert.deepEqual(rtmp, [], 'releaseStream/FCPublish/FCUnpublish/deleteStream/getStreamLength... answered quietly');
  } finally {
    for (const r of runs) r.kill();
    await s.stop();
  }
});

test('rtmpdump playing a stream the script refuses sees NetStream.Play.Failed and no Play.Start', async (t) => {
  if (!needTool(t, 'rtmpdump')) return;
  const s = await startFlash({ apps: { live: APP } });
  try {
    const dump = run('rtmpdump', ['-V', '-r', s.url('RTMP', 'live/secret'), '-o', path.join(s.dir, 'secret.flv'), '-m', '5'], 30_000);
    const d = await dump.done;
    assert.notEqual(d.code, 0, 'rtmpdump gives up');
    assert.match(d.stderr, /NetStream\.Play\.Failed/);
    assert.doesNotMatch(d.stderr, /NetStream\.Play\.(Start|Reset)/);
  } finally {
    await s.stop();
  }
});

test('publication:close() in the script stops ffmpeg with the server error; rtmpdump playing it gets UnpublishNotify', async (t) => {
  if (!needTool(t, 'ffmpeg') || !needTool(t, 'rtmpdump')) return;
  const s = await startFlash({ apps: { live: APP } });
  const runs: ToolRun[] = [];
  try {
    const pub = publish(s.url('RTMP', 'live/short'));
    runs.push(pub);
    await waitFor(() => s.ctx.publications.get('short')?.running === true, 15_000, 'publication short');
    const dump = run('rtmpdump', ['-V', '-r', s.url('RTMP', 'live/short'), '-o', path.join(s.dir, 'short.flv')], 40_000);
    runs.push(dump);
    const [p, d] = await Promise.all([pub.done, dump.done]);
    assert.notEqual(p.code, 0, 'ffmpeg stopped with an error');
    assert.match(p.stderr, /short is closed by the server/);
    assert.match(d.stderr, /NetStream\.Play\.UnpublishNotify/);
    assert.equal(s.ctx.publications.get('short')?.running ?? false, false);
  } finally {
    for (const r of runs) r.kill();
    await s.stop();
  }
});
