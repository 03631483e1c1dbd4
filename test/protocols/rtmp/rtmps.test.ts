/**
 * RTMPS (RTMP over TLS, `[RTMPS] port`) with real clients on the server as the CLI runs it: ffmpeg
 * (GnuTLS) publishes over rtmps://, ffmpeg plays it back over rtmp:// and rtmps:// and rtmpdump
 * (GnuTLS too) over rtmps://; the recordings decode. The Lua app sees "RTMPS" and the secure
 * channel's properties, "RTMP" and none of them on the plain port.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { decodedVideoFrames, needTool, probe, run, sleep, testFLV, waitFor, type ToolRun } from './helpers';
import { requireOpenSSL, startTLSServer, TestPKI } from '../../helpers/tls';

const LIVE_LUA = `
function onConnection(client)
  local p = client.properties
  NOTE("connected ", client.protocol, " secure=", tostring(p.secure), " version=", tostring(p.tlsVersion), " forged=", tostring(p.forged))
end
`;

test('ffmpeg publishes over rtmps://, ffmpeg plays over rtmp:// and rtmps://, rtmpdump over rtmps://', { timeout: 120_000 }, async (t) => {
  if (!requireOpenSSL(t) || !needTool(t, 'ffmpeg') || !needTool(t, 'ffprobe') || !needTool(t, 'rtmpdump')) return;
  const pki = new TestPKI();
  const cert = pki.issue({ serial: 0x2001, type: 'rsa' });
  const s = await startTLSServer(t, `[TLS]\ncertificat=${cert.fullchain}\nkey=${cert.key}\n`, { 'live/main.lua': LIVE_LUA });
  const runs: ToolRun[] = [];
  t.after(() => runs.forEach((r) => r.kill()));
  const { rtmp, rtmps } = s.ports;
  // the query cannot pass for the secure channel's facts
  const pub = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-i', testFLV(6), '-c', 'copy', '-f', 'flv', `rtmps://127.0.0.1:${rtmps}/live?secure=false&forged=yes/s1`], 40_000);
  runs.push(pub);
  await waitFor(() => s.server.context.publications.get('s1')?.running === true, 15_000, 'publication s1');
  await sleep(300);
  const plainOut = path.join(s.dir, 'plain.flv');
  const secureOut = path.join(s.dir, 'secure.flv');
  const dumpOut = path.join(s.dir, 'rtmpdump.flv');
  const plain = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', `rtmp://127.0.0.1:${rtmp}/live?secure=true&forged=plain/s1`, '-c', 'copy', '-f', 'flv', plainOut], 40_000);
  const secure = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', `rtmps://127.0.0.1:${rtmps}/live/s1`, '-c', 'copy', '-f', 'flv', secureOut], 40_000);
  const dump = run('rtmpdump', ['-q', '-r', `rtmps://127.0.0.1:${rtmps}/live/s1`, '-o', dumpOut], 40_000);
  runs.push(plain, secure, dump);
  const [p, a, b, d] = await Promise.all([pub.done, plain.done, secure.done, dump.done]);
  assert.equal(p.code, 0, `ffmpeg publisher: ${p.stderr}`);
  assert.equal(a.code, 0, `ffmpeg rtmp:// player: ${a.stderr}`);
  assert.equal(b.code, 0, `ffmpeg rtmps:// player: ${b.stderr}`);
  assert.equal(d.code, 0, `rtmpdump rtmps:// player: ${d.stderr}`);
  for (const file of [plainOut, secureOut, dumpOut]) {
    const probed = probe(file);
    assert.ok(probed.codecs.includes('h264') && probed.codecs.includes('aac'), `${path.basename(file)}: ${probed.codecs}`);
    assert.ok(probed.keyFirst, `${path.basename(file)} starts on a key frame`);
    const frames = decodedVideoFrames(file);
    assert.ok(frames >= 50, `${path.basename(file)}: ${frames} video frames decoded`);
  }
  const log = s.log();
  const secureLines = log.split('\n').filter((l) => /connected RTMPS secure=true version=TLSv1\.2 /.test(l));
  assert.equal(secureLines.length, 3, log); // the publisher, ffmpeg's and rtmpdump's players
  assert.ok(secureLines.some((l) => / forged=yes/.test(l)), 'the query reached the properties');
  assert.match(log, /connected RTMP secure=nil version=nil forged=plain/);
  assert.match(log, /RTMPS\s+127\.0\.0\.1:\d+ publishes s1/);
  assert.doesNotMatch(log, /ERROR/);
});

test('GStreamer rtmpsink (librtmp, GnuTLS) publishes over rtmps://, ffmpeg plays it over rtmps://', { timeout: 120_000 }, async (t) => {
  if (!requireOpenSSL(t) || !needTool(t, 'ffmpeg') || !needTool(t, 'ffprobe') || !needTool(t, 'gst-launch-1.0')) return;
  const pki = new TestPKI();
  const cert = pki.issue({ serial: 0x2002 });
  const s = await startTLSServer(t, `[TLS]\ncertificat=${cert.fullchain}\nkey=${cert.key}\n`, { 'live/main.lua': LIVE_LUA });
  const runs: ToolRun[] = [];
  t.after(() => runs.forEach((r) => r.kill()));
  const url = `rtmps://127.0.0.1:${s.ports.rtmps}/live/gst`;
  // librtmp gives up on TLS 1.3's post-handshake session tickets: this is why RTMPS offers TLS 1.2
  const pub = run('gst-launch-1.0', ['-q', 'filesrc', `location=${testFLV(6)}`, '!', 'flvdemux', 'name=d', 'd.video', '!', 'queue', '!', 'h264parse', '!', 'flvmux', 'streamable=true', '!', 'rtmpsink', `location=${url} live=1`], 40_000);
  runs.push(pub);
  await waitFor(() => s.server.context.publications.get('gst')?.running === true, 15_000, 'publication gst');
  const out = path.join(s.dir, 'gst.flv');
  const play = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', url, '-c', 'copy', '-f', 'flv', out], 40_000);
  runs.push(play);
  const [p, f] = await Promise.all([pub.done, play.done]);
  assert.equal(p.code, 0, `gst-launch: ${p.stderr}`);
  assert.equal(f.code, 0, `ffmpeg: ${f.stderr}`);
  const frames = decodedVideoFrames(out);
  assert.ok(frames >= 50, `${frames} video frames decoded`);
  assert.equal(s.log().split('\n').filter((l) => /connected RTMPS secure=true version=TLSv1\.2 /.test(l)).length, 2, s.log());
});
