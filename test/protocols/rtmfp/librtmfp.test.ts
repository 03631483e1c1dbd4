/**
 * Interoperability with a client nobody here wrote: librtmfp's TestClient, built from source outside
 * the repo (see README "RTMFP with librtmfp"), against the real server (startTestServer: Lua host, RTMP
 * and RTMFP on free ports), plus ffmpeg over RTMP for the relays. Checked with ffprobe:
 *  (a) connect: onConnection sees the URL query, its returned table is in Connect.Success;
 *  (b) RTMFP publish (ffmpeg-made FLV) → RTMFP play by a second TestClient;
 *  (c) RTMP publish by ffmpeg → RTMFP play;  (d) RTMFP publish → RTMP play by ffmpeg;
 *  (e) a `?query` after the published name is not part of the name;
 *  (f) a play the script refuses gets NetStream.Play.Failed and no Play.Reset/Play.Start.
 * TestClient is looked for at $LIBRTMFP_TESTCLIENT or ext/librtmfp/TestClient/TestClient beside the
 * repo or one of its parents (test/helpers/librtmfp.ts); the
 * test is skipped when it is absent (CI does not build librtmfp).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { requireTool } from '../../helpers/http-server';
import { startTestServer, type TestServer } from '../../helpers/server';
import { TESTCLIENT, countFrames, haveTestClient, makeFlv, startProc as start, stopProc as stop, waitFor, type Proc } from '../../helpers/librtmfp';

/** The bytes of TestClient's --dump lines ("\tXX XX ...  ascii"), concatenated. */
function dumpBytes(out: string): string {
  const hex: string[] = [];
  for (const line of out.split('\n')) {
    const m = /^\t((?:[0-9A-F]{2} )+)/.exec(line);
    if (m) hex.push(m[1].replace(/ /g, ''));
  }
  return Buffer.from(hex.join(''), 'hex').toString('latin1');
}

const MAIN_LUA = `
function onConnection(client, ...)
  function client:onSubscribe(listener)
    if listener.publication.name == "secret" then error("members only") end
  end
  return { greeting = "hello " .. tostring(client.properties.user), argsCount = select('#', ...) }
end
`;

async function setup(): Promise<{ server: TestServer; dir: string; rtmfp: number; rtmp: number; media: string }> {
  const server = await startTestServer({ apps: { live: MAIN_LUA }, off: ['HTTP'] });
  const media = path.join(server.dir, 'in.flv');
  makeFlv(media, 4);
  return { server, dir: server.dir, rtmfp: server.ports.rtmfp, rtmp: server.ports.rtmp, media };
}

test('librtmfp TestClient: connect, publish/play over RTMFP, relays with RTMP (ffmpeg)', { timeout: 120_000 }, async (t) => {
  if (!haveTestClient(t) || !requireTool(t, 'ffmpeg') || !requireTool(t, 'ffprobe')) return;
  const { server, dir, rtmfp, rtmp, media } = await setup();
  const procs: Proc[] = [];
  const url = (name: string, query = '') => `--url=rtmfp://127.0.0.1:${rtmfp}/live${query}/${name}`;
  const run = (cmd: string, args: string[]) => {
    const p = start(cmd, args, dir);
    procs.push(p);
    return p;
  };
  try {
    await t.test('(a) connect: Lua onConnection sees the query, returned table in Connect.Success', async () => {
      const c = run(TESTCLIENT, [url('x', '?user=bob'), '--dump']);
      await waitFor(c, /NetConnection\.Connect\.Success/);
      await stop(c);
      // the decrypted packets as TestClient dumps them (hex columns), bytes put back together
      const dumped = dumpBytes(c.out);
      assert.match(dumped, /_result.*NetConnection\.Connect\.Success/s);
      // librtmfp connects with objectEncoding 3: the answer is a type-17 command whose info object is
      // AMF3 (string marker 6, length 9 << 1 | 1; integer marker 4), as Flash expects it
      assert.match(dumped, /\x11\x00\x00\x00\x00\x00\x02\x00\x07_result/);
      assert.match(dumped, /greeting\x06\x13hello bob/);
      assert.match(dumped, /argsCount\x04\x00/); // the number 0: librtmfp passes no extra args
    });

    await t.test('(b) RTMFP publish of an ffmpeg-made FLV → RTMFP play by a second TestClient', async () => {
      const out = path.join(dir, 'b.flv');
      const player = run(TESTCLIENT, [url('b'), `--mediaFile=${out}`]);
      await waitFor(player, /NetStream\.Play\.Start/);
      const pub = run(TESTCLIENT, [url('b'), '--write', `--mediaFile=${media}`]);
      await waitFor(pub, /NetStream\.Publish\.Start/);
      await pub.done;
      await waitFor(player, /UnpublishNotify/);
      await stop(player);
      const frames = countFrames(out);
      assert.ok(frames.h264 >= 95, `video frames ${JSON.stringify(frames)}`);
      assert.ok(frames.aac >= 150, `audio frames ${JSON.stringify(frames)}`);
    });

    await t.test('(c) RTMP publish by ffmpeg → RTMFP play', async () => {
      const out = path.join(dir, 'c.flv');
      const player = run(TESTCLIENT, [url('c'), `--mediaFile=${out}`]);
      await waitFor(player, /NetStream\.Play\.Start/);
      const ff = run('ffmpeg', ['-v', 'error', '-re', '-i', media, '-c', 'copy', '-f', 'flv', `rtmp://127.0.0.1:${rtmp}/live/c`]);
      assert.equal(await ff.done, 0, ff.out);
      await waitFor(player, /UnpublishNotify/);
      await stop(player);
      const frames = countFrames(out);
      assert.ok(frames.h264 >= 95, `video frames ${JSON.stringify(frames)}`);
      assert.ok(frames.aac >= 150, `audio frames ${JSON.stringify(frames)}`);
    });

    await t.test('(d) RTMFP publish → RTMP play by ffmpeg', async () => {
      const out = path.join(dir, 'd.flv');
      const ff = run('ffmpeg', ['-v', 'error', '-y', '-i', `rtmp://127.0.0.1:${rtmp}/live/d`, '-c', 'copy', '-f', 'flv', out]);
      await new Promise((r) => setTimeout(r, 700)); // ffmpeg subscribed and waiting
      const pub = run(TESTCLIENT, [url('d'), '--write', `--mediaFile=${media}`]);
      await waitFor(pub, /NetStream\.Publish\.Start/);
      await pub.done;
      await new Promise((r) => setTimeout(r, 1000));
      await stop(ff);
      const frames = countFrames(out);
      assert.ok(frames.h264 >= 95, `video frames ${JSON.stringify(frames)}`);
      assert.ok(frames.aac >= 150, `audio frames ${JSON.stringify(frames)}`);
    });

    await t.test('(e) RTMFP publish of name?token=… publishes name, which an RTMFP player plays', async () => {
      const out = path.join(dir, 'e.flv');
      const pub = run(TESTCLIENT, [url('e?token=abc'), '--write', `--mediaFile=${media}`]);
      await waitFor(pub, /NetStream\.Publish\.Start/);
      assert.equal(server.context.publications.get('e')?.running, true, 'published as "e"');
      assert.equal(server.context.publications.get('e?token=abc'), undefined);
      const player = run(TESTCLIENT, [url('e'), `--mediaFile=${out}`]);
      await waitFor(player, /NetStream\.Play\.Start/);
      await pub.done;
      await waitFor(player, /UnpublishNotify/);
      await stop(player);
      assert.ok(countFrames(out).h264 > 0, 'the player of the plain name got video');
    });

    await t.test('(f) a play the script refuses: NetStream.Play.Failed, never Play.Reset or Play.Start', async () => {
      const player = run(TESTCLIENT, [url('secret'), `--mediaFile=${path.join(dir, 'f.flv')}`]);
      await waitFor(player, /NetStream\.Play\.Failed/);
      await new Promise((r) => setTimeout(r, 300));
      await stop(player);
      assert.match(player.out, /members only/);
      assert.doesNotMatch(player.out, /NetStream\.Play\.(Reset|Start)/);
    });
  } finally {
    await Promise.all(procs.map((p) => stop(p, 'SIGKILL')));
    await server.stop();
  }
});
