/**
 * `threads = 2` with what the server derives from publications and what scripts open: live HLS of
 * a worker's publication read with curl over several connections (both workers answer from the
 * primary's one segmenter: one epoch, one timeline, the same segment bytes) and by ffmpeg, VOD HLS
 * of a file answered by the worker itself;
 * recordings made once, by the publisher's worker, with client:onWrite, publication:onRecord and
 * onRecordStop in the primary's scripts; an async RPC (JavaScript) answered when it settles while
 * the worker serves a later call; a script's TCP server (the
 * primary's) reached with a plain socket; an RTMFP NetGroup member of worker 1 seen by mona.groups
 * and onJoinGroup in the primary.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { RTMPClient } from '../../src/protocols/rtmp/client';
import { requireTool } from '../helpers/http-server';
import { freePort, until } from '../helpers/relay-cluster';
import { RtmfpTestClient } from '../helpers/rtmfp-client';
import { startThreads, workerOf, type Running } from '../helpers/threads';
import { run } from '../protocols/rtmp/helpers';

const AVC_CONFIG = Buffer.from([0x17, 0, 0, 0, 0, 1, 0x42, 0, 0x1e, 0xff, 0xe1, 0, 4, 0x67, 0x42, 0, 0x1e, 1, 0, 4, 0x68, 0xce, 0x3c, 0x80]);

/** curl's answer to one GET on a connection of its own: status, body, and the worker that served it. */
async function curl(s: Running, urlPath: string): Promise<{ status: number; body: Buffer; worker: number | null }> {
  const out = await new Promise<Buffer>((resolve, reject) =>
    execFile('curl', ['-s', '-o', '-', '-w', '\n%{http_code} %{local_port}', `http://127.0.0.1:${s.http}${urlPath}`], { encoding: 'buffer', maxBuffer: 64 << 20 }, (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    ),
  );
  const nl = out.lastIndexOf(0x0a);
  const [status, port] = out.subarray(nl + 1).toString().split(' ').map(Number);
  let worker: number | null = null;
  for (let i = 0; i < 50 && worker === null; i++) {
    worker = workerOf(s.log(), 'HTTP', port);
    if (worker === null) await new Promise((r) => setTimeout(r, 20));
  }
  return { status, body: out.subarray(0, nl), worker };
}

test('threads = 2: live HLS of a worker\'s publication answered by both workers from one segmenter (curl), read by ffmpeg', { timeout: 120_000 }, async (t) => {
  if (!requireTool(t, 'ffmpeg') || !requireTool(t, 'curl')) return;
  const s = await startThreads(2, { live: '' }, { ini: '[publication]\nduration = 1000\npartDuration = 250\n' });
  const pub = run('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-re',
    '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25:duration=60',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100:duration=60',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '25', '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-b:a', '64k', '-f', 'flv', `rtmp://127.0.0.1:${s.rtmp}/live/cam`,
  ], 90_000);
  try {
    await until(() => /publishes cam/.test(s.log()), 'the publication', 20_000);
    // the multivariant playlist waits for the first segment (at the primary)
    const entry = await curl(s, '/live/cam.m3u8');
    assert.equal(entry.status, 200, entry.body.toString());
    const variant = /^(cam\.m3u8\/fmp4\.m3u8\?hls_session=[0-9a-f]{16})$/m.exec(entry.body.toString());
    assert.ok(variant, entry.body.toString());
    // media playlists over new connections until both workers answered: one epoch, one timeline
    const epochs = new Set<string>();
    const workers = new Set<number>();
    let lastSeq = -1;
    let playlist = '';
    for (let i = 0; i < 40 && (workers.size < 2 || i < 6); i++) {
      const r = await curl(s, `/live/${variant[1]}`);
      assert.equal(r.status, 200, r.body.toString());
      playlist = r.body.toString();
      const map = /#EXT-X-MAP:URI="([^/"]+)\/init/.exec(playlist);
      assert.ok(map, playlist);
      epochs.add(map[1]);
      const seq = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(playlist)![1]);
      assert.ok(seq >= lastSeq, `media sequence ${seq} after ${lastSeq}: one timeline whichever worker answers`);
      lastSeq = seq;
      if (r.worker !== null) workers.add(r.worker);
    }
    assert.equal(workers.size, 2, 'both workers answered');
    assert.equal(epochs.size, 1, `one stream: ${[...epochs].join(', ')}`);
    // a segment over several connections: the same bytes from both workers (the second from their caches)
    // the newest whole segment: it stays listed at the primary while the workers ask for it
    const segments = [...playlist.matchAll(/^([^#\s][^\s]*\.m4s[^\s]*)$/gm)].map((m) => m[1]);
    const segment = segments[segments.length - 1];
    const bodies: Buffer[] = [];
    const served = new Set<number>();
    for (let i = 0; i < 12 && (served.size < 2 || bodies.length < 4); i++) {
      const r = await curl(s, `/live/cam.m3u8/${segment}`);
      assert.equal(r.status, 200, r.body.toString());
      bodies.push(r.body);
      if (r.worker !== null) served.add(r.worker);
    }
    assert.ok(bodies[0].length > 1000, `a segment of ${bodies[0].length} bytes`);
    for (const b of bodies) assert.ok(b.equals(bodies[0]), 'every answer the same segment');
    // ffmpeg plays it (its connections land where they land)
    const play = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-i', `http://127.0.0.1:${s.http}/live/cam.m3u8`, '-t', '3', '-f', 'null', '-'], 60_000);
    const r = await play.done;
    assert.equal(r.code, 0, r.stderr);
    // a media file of the app (no publication of that name at the primary): VOD HLS by the worker itself
    const clip = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=25:duration=2', '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', path.join(s.dir, 'www', 'live', 'clip.mp4')]);
    assert.equal((await clip.done).code, 0);
    const vod = await curl(s, '/live/clip.mp4.m3u8/fmp4.m3u8');
    assert.equal(vod.status, 200, vod.body.toString());
    assert.match(vod.body.toString(), /#EXT-X-ENDLIST/);
    // the primary segments it, fed from the worker
    assert.match(s.log(), /cam: segmenting/);
    assert.match(s.log(), /cam: frames from worker \d \(relay/);
  } finally {
    pub.kill();
    assert.equal(await s.stop(), 0, s.log().slice(-3000));
  }
});

const ASYNC_JS = `export function onConnection(client) {
  client.later = async (x) => { await new Promise((r) => setTimeout(r, 300)); return x * 2; };
  client.quick = () => 'quick';
  client.fails = async () => { await new Promise((r) => setTimeout(r, 20)); throw new Error('late boom'); };
}
`;

const SERVICES = (socketPort: number) => `
events = {}
server = mona:createTCPServer()
function server:onConnection(client)
  function client:onData(data) self:send("echo:" .. data) return 0 end
end
listening = server:start("127.0.0.1", ${socketPort})
function onConnection(client)
  function client:onWrite(file, params) table.insert(events, "write " .. file .. " " .. params.type) return "copy.flv" end
  function client:onPublish(p)
    function p:onRecord(file) table.insert(events, "record " .. file) end
    function p:onRecordStop(file, info) table.insert(events, "stop " .. file .. " " .. info.frames) end
  end
  function client:onJoinGroup(group) table.insert(events, "join " .. group:size() .. " " .. mona.groups.count) end
  function client:events() return table.concat(events, ",") end
  function client:listening() return listening end
end
`;

test('threads = 2: a worker records once (onWrite, onRecord, onRecordStop in the primary), OUT lines once; the primary\'s script sockets; groups of worker 1 in mona.groups', { timeout: 120_000 }, async (t) => {
  const socketPort = await freePort('tcp');
  const s = await startThreads(2, { live: SERVICES(socketPort), 'js/main.js': ASYNC_JS }, { rtmfp: true, ini: '[cam=Publication]\nOUT cam.mp4\n' });
  const clients: Array<{ close(): Promise<void> }> = [];
  try {
    const caller = new RTMPClient({ port: s.rtmp });
    clients.push(caller);
    await caller.connect('live');
    const events = async () => String((await caller.call('events')).args[1]);
    assert.equal((await caller.call('listening')).args[1], true, 'the script server listens in the primary');

    // an async RPC (a JavaScript app's): the worker goes on meanwhile, the answer comes when it settles
    const js = new RTMPClient({ port: s.rtmp });
    clients.push(js);
    await js.connect('js');
    const slow = js.call('later', [21]);
    let settled = false;
    void slow.then(() => (settled = true));
    const quick = await js.call('quick', []);
    assert.equal(quick.args[1], 'quick');
    assert.equal(settled, false, 'the later call answered first: the worker did not wait for the async one');
    assert.equal((await slow).args[1], 42);
    const failed = await js.call('fails', []);
    assert.equal(failed.name, '_error');
    assert.match(String((failed.args[1] as { get(k: string): unknown }).get('description')), /late boom/);

    // the primary's script TCP server, reached with a plain socket
    const sock = net.connect(socketPort, '127.0.0.1');
    let echoed = '';
    sock.on('data', (d) => (echoed += d.toString()));
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write('ping');
    await until(() => echoed === 'echo:ping', 'the echo');
    sock.destroy();

    // publish(name, "record") from a worker's client: onWrite renames, the worker records, the primary's scripts hear it
    const c = new RTMPClient({ port: s.rtmp });
    clients.push(c);
    await c.connect('live');
    const id = await c.createStream();
    c.command('publish', ['rec', 'record'], id);
    await c.status(id, 'NetStream.Publish.Start');
    c.sendVideo(id, 0, AVC_CONFIG);
    for (let i = 0; i < 30; i++) c.sendVideo(id, 40 * (i + 1), Buffer.concat([Buffer.from([i % 10 === 0 ? 0x17 : 0x27, 1, 0, 0, 0]), Buffer.alloc(300, i)]));
    await c.status(id, 'NetStream.Record.Start');
    await until(() => /rec recorded to \S+copy\.flv/.test(s.log()), 'the recording');
    c.command('deleteStream', [id], 0);
    await until(() => /copy\.flv complete/.test(s.log()), 'the file finalised');
    const stops = async () => (await events()).includes('stop copy.flv');
    for (let i = 0; i < 50 && !(await stops()); i++) await new Promise((r) => setTimeout(r, 100));
    const seen = await events();
    assert.match(seen, /write rec\.flv record/);
    assert.match(seen, /record copy\.flv/);
    assert.match(seen, /stop copy\.flv \d+/);
    assert.equal((s.log().match(/rec recorded to/g) ?? []).length, 1, 'recorded once (the primary\'s image does not record)');
    assert.ok(fs.statSync(path.join(s.dir, 'www', 'live', 'copy.flv')).size > 30 * 300);

    // an OUT line: ffmpeg's publication recorded once, by its worker, as a valid MP4
    if (requireTool(t, 'ffmpeg') && requireTool(t, 'ffprobe')) {
      const pub = run('ffmpeg', [
        '-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=25:duration=3',
        '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25', '-pix_fmt', 'yuv420p', '-f', 'flv', `rtmp://127.0.0.1:${s.rtmp}/live/cam`,
      ], 60_000);
      assert.equal((await pub.done).code, 0);
      await until(() => /cam\.mp4 complete/.test(s.log()), 'the MP4 finalised', 20_000);
      assert.equal((s.log().match(/cam recorded to/g) ?? []).length, 1, 'recorded once');
      const probe = run('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', path.join(s.dir, 'www', 'live', 'cam.mp4')]);
      const p = await probe.done;
      assert.equal(p.code, 0, p.stderr);
      const duration = Number(p.stdout.toString().trim());
      assert.ok(duration > 2 && duration < 4, `a 3 s recording: ${duration}`);
    }

    // RTMFP NetGroup in worker 1: the member is in the primary's mona.groups, onJoinGroup ran there
    const fp = new RtmfpTestClient({ port: s.rtmfp });
    clients.push(fp);
    await fp.connect(`rtmfp://127.0.0.1:${s.rtmfp}/live`);
    fp.joinGroup(randomBytes(32));
    await until(() => /worker 1 serves RTMFP/.test(s.log()), 'worker 1 serving RTMFP');
    for (let i = 0; i < 50 && !/join 1 1/.test(await events()); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(await events(), /join 1 1/);
  } finally {
    for (const c of clients) await c.close().catch(() => {});
    assert.equal(await s.stop(), 0, s.log().slice(-3000));
  }
});
