/**
 * Publications relayed between our servers over the server link (origin/edge), whole servers
 * in-process on loopback: our RTMP client and real clients (ffmpeg, rtmpdump, curl) on each side.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RTMPClient } from '../../src/protocols/rtmp/client';
import { MessageType } from '../../src/protocols/rtmp/constants';
import type { RelayDomain } from '../../src/cluster/relay';
import { Table } from '../../src/serialization/value';
import { linked, startClusterNode, until, type ClusterNode } from '../helpers/relay-cluster';
import { RtmfpTestClient, makeFrames } from '../helpers/rtmfp-client';
import { decodedVideoFrames, needTool, probe, run, testFLV, type ToolRun } from '../protocols/rtmp/helpers';
import * as path from 'node:path';
import * as net from 'node:net';
import WebSocket from 'ws';

const relays = (n: ClusterNode): RelayDomain => n.cluster.relays!;

/** An AVC sequence header, a key frame and inter frames, AAC config and frames, as FLV tag bodies. */
const AVC_CONFIG = Buffer.from([0x17, 0, 0, 0, 0, 1, 0x42, 0, 0x1e, 0xff, 0xe1, 0, 4, 0x67, 0x42, 0, 0x1e, 1, 0, 4, 0x68, 0xce, 0x3c, 0x80]);
const AAC_CONFIG = Buffer.from([0xaf, 0, 0x12, 0x10]);
const keyFrame = (n: number) => Buffer.concat([Buffer.from([0x17, 1, 0, 0, 0]), Buffer.alloc(200, n & 0xff)]);
const interFrame = (n: number) => Buffer.concat([Buffer.from([0x27, 1, 0, 0, 0]), Buffer.alloc(100, n & 0xff)]);
const aacFrame = (n: number) => Buffer.concat([Buffer.from([0xaf, 1]), Buffer.alloc(20, n & 0xff)]);

/** A publisher made of our RTMP client: publishes `name` on `node`, then pushes frames on demand. */
async function rtmpPublisher(node: ClusterNode, name: string) {
  const c = new RTMPClient({ port: node.rtmp });
  await c.connect('live');
  const id = await c.createStream();
  c.command('publish', [name, 'live'], id);
  await c.status(id, 'NetStream.Publish.Start');
  c.sendData(id, ['@setDataFrame', 'onMetaData', new Table([], { width: 320, height: 240, relayed: 'yes' })]);
  c.sendVideo(id, 0, AVC_CONFIG);
  c.sendAudio(id, 0, AAC_CONFIG);
  let t = 0;
  let n = 0;
  return {
    client: c,
    id,
    /** `count` frames of 40 ms, a key frame every 10 */
    push(count: number) {
      for (let i = 0; i < count; i++, n++, t += 40) {
        c.sendVideo(id, t, n % 10 === 0 ? keyFrame(n) : interFrame(n));
        c.sendAudio(id, t, aacFrame(n));
      }
    },
    close: () => c.close(),
  };
}

async function rtmpPlayer(node: ClusterNode, name: string) {
  const c = new RTMPClient({ port: node.rtmp });
  await c.connect('live');
  const id = await c.createStream();
  c.command('play', [name], id);
  return { client: c, id, video: () => c.media(id).filter((m) => m.type === MessageType.Video), close: () => c.close() };
}

async function stopAll(...nodes: ClusterNode[]): Promise<void> {
  await Promise.all(nodes.map((n) => n.stop()));
}

test('RTMP → RTMP: players of B get A\'s publication through one relay, metadata and codec headers first', async () => {
  const a = await startClusterNode('A');
  const b = await startClusterNode('B', { targets: `127.0.0.1:${a.link}` });
  const closers: Array<() => Promise<void>> = [];
  try {
    await linked(a, b);
    const pub = await rtmpPublisher(a, 's1');
    closers.push(pub.close);
    pub.push(20);
    const p1 = await rtmpPlayer(b, 's1');
    const p2 = await rtmpPlayer(b, 's1');
    closers.push(p1.close, p2.close);
    await p1.client.status(p1.id, 'NetStream.Play.Start');
    await until(() => a.context.publications.get('s1')?.listeners.size === 1, 'the relay listening on A');
    pub.push(40);
    await until(() => p1.video().length >= 20 && p2.video().length >= 20, 'video on both players of B');
    // one relay: A's publication has one listener (the relay), whatever the number of B's players
    const onA = a.context.publications.get('s1')!;
    assert.equal(onA.listeners.size, 1);
    assert.equal([...onA.listeners][0].client, null);
    assert.equal(b.context.publications.get('s1')!.listeners.size, 2);
    // what a player of B saw first: metadata, the codec headers, then a key frame
    const media = p1.client.media(p1.id).filter((m) => m.type !== MessageType.DataAMF0 || p1.client.dataValues(m)[0] !== '|RtmpSampleAccess');
    const first = p1.client.dataValues(media[0]);
    assert.equal(first[0], 'onMetaData');
    assert.equal((first[1] as Table).get('relayed'), 'yes');
    const kinds = media.slice(1, 3).map((m) => `${m.type}:${m.payload[1]}`).sort();
    assert.deepEqual(kinds, ['8:0', '9:0'], 'AAC config and AVC sequence header next');
    const firstVideo = media.slice(3).find((m) => m.type === MessageType.Video)!;
    assert.equal(firstVideo.payload[0] >> 4, 1, 'then a key frame');
    // B's scripts and registry see an ordinary publication, with A's metadata
    assert.equal(b.context.publications.get('s1')!.properties.get('relayed'), 'yes');
    assert.match(b.log, /relay from server 127\.0\.0\.1:\d+ publishes s1/);
    assert.match(a.log, /relay to server 127\.0\.0\.1:\d+ plays s1/);
  } finally {
    for (const c of closers) await c().catch(() => {});
    await stopAll(b, a);
  }
});

test('a publisher appearing later on A reaches B\'s waiting players; the relay goes when the last player leaves', async () => {
  const a = await startClusterNode('A');
  const b = await startClusterNode('B', { targets: `127.0.0.1:${a.link}` });
  const closers: Array<() => Promise<void>> = [];
  try {
    await linked(a, b);
    const p1 = await rtmpPlayer(b, 'late');
    closers.push(p1.close);
    await until(() => relays(a).interest('late') === 1, 'A hears that B wants "late"');
    assert.equal(a.context.publications.get('late')?.running ?? false, false);
    const pub = await rtmpPublisher(a, 'late');
    closers.push(pub.close);
    await p1.client.status(p1.id, 'NetStream.Play.PublishNotify');
    await until(() => a.context.publications.get('late')?.listeners.size === 1, 'the relay listening on A');
    pub.push(30);
    await until(() => p1.video().length >= 10, 'video on the waiting player');
    const onA = a.context.publications.get('late')!;
    assert.equal(onA.listeners.size, 1, 'the relay is a listener of A');
    // the publisher leaves and comes back: the player of B waits, then gets the new one
    await pub.close();
    await p1.client.status(p1.id, 'NetStream.Play.UnpublishNotify');
    const again = await rtmpPublisher(a, 'late');
    closers.push(again.close);
    const before = p1.video().length;
    await until(() => a.context.publications.get('late')?.listeners.size === 1, 'the relay listening on A again');
    again.push(30);
    await until(() => p1.video().length >= before + 10, 'video from the second publisher');
    // the last player of B leaves: A sees the relay leave, B drops its publication
    await p1.close();
    await until(() => a.context.publications.get('late')!.listeners.size === 0, 'the relay leaves A');
    await until(() => b.context.publications.get('late') === undefined, 'B drops the relayed publication');
    await until(() => relays(a).interest('late') === 0, 'B withdrew its want');
    assert.equal(relays(b).incoming('late'), undefined);
    assert.match(a.log, /relay to server \S+ stopped playing late/);
  } finally {
    for (const c of closers) await c().catch(() => {});
    await stopAll(b, a);
  }
});

test('no loop: a relayed publication is never offered back; three servers each pull from the origin', async () => {
  const a = await startClusterNode('A', { noRTMFP: true });
  const b = await startClusterNode('B', { noRTMFP: true, targets: `127.0.0.1:${a.link}` });
  const c = await startClusterNode('C', { noRTMFP: true, targets: `127.0.0.1:${a.link};127.0.0.1:${b.link}` });
  const closers: Array<() => Promise<void>> = [];
  try {
    await linked(a, b, c);
    // players everywhere, nobody publishes: every server wants it, none offers it
    const pa = await rtmpPlayer(a, 'n');
    const pb = await rtmpPlayer(b, 'n');
    closers.push(pa.close, pb.close);
    await until(() => relays(a).interest('n') === 1 && relays(b).interest('n') === 1, 'A and B want n from each other');
    await new Promise((r) => setTimeout(r, 300));
    for (const n of [a, b, c]) assert.equal(n.context.publications.get('n')?.running ?? false, false, `${n.name}: nothing runs`);
    assert.equal(relays(a).incoming('n')!.source, null);
    assert.equal(relays(b).incoming('n')!.source, null);
    // A's player is satisfied by a publisher of A; B relays from A; C (a player joins) too, from A
    const pub = await rtmpPublisher(a, 'n');
    closers.push(pub.close);
    await until(() => relays(a).incoming('n') === undefined, 'A stops wanting n: it runs there');
    const pc = await rtmpPlayer(c, 'n');
    closers.push(pc.close);
    await until(() => a.context.publications.get('n')?.listeners.size === 3, "A's player and two relays listening on A");
    pub.push(30);
    await until(() => pb.video().length >= 10 && pc.video().length >= 10 && pa.video().length >= 10, 'video on A, B and C');
    const aOnB = b.context.servers.all().find((s) => s.address === `127.0.0.1:${a.link}`);
    const aOnC = c.context.servers.all().find((s) => s.address === `127.0.0.1:${a.link}`);
    assert.equal(relays(b).incoming('n')!.source, aOnB, 'B pulls from A');
    assert.equal(relays(c).incoming('n')!.source, aOnC, 'C pulls from A, not from B');
    assert.equal(a.context.publications.get('n')!.listeners.size, 3, "A: its player and two relays");
    assert.equal(b.context.publications.get('n')!.listeners.size, 1, 'B relays to nobody');
    // the publisher leaves: everyone waits, nobody relays from anybody
    await pub.close();
    await until(() => [a, b, c].every((n) => !n.context.publications.get('n')?.running), 'n stops everywhere');
    await new Promise((r) => setTimeout(r, 300));
    for (const n of [a, b, c]) assert.equal(n.context.publications.get('n')?.running ?? false, false, `${n.name}: nothing runs after the publisher left`);
    for (const n of [a, b, c]) assert.equal(relays(n).incoming('n')?.source ?? null, null, `${n.name} pulls from nobody`);
    for (const n of [a, b, c]) assert.equal(relays(n).outgoingCount, 0, `${n.name} feeds nobody`);
  } finally {
    for (const x of closers) await x().catch(() => {});
    await stopAll(c, b, a);
  }
});

function monotonic(times: number[]): boolean {
  for (let i = 1; i < times.length; i++) if (times[i] < times[i - 1]) return false;
  return true;
}

function checkRecording(file: string, minVideoFrames: number): void {
  const p = probe(file);
  assert.ok(p.codecs.includes('h264') && p.codecs.includes('aac'), `${path.basename(file)} codecs: ${p.codecs}`);
  assert.ok(p.keyFirst, `${path.basename(file)} starts on a key frame`);
  assert.ok(monotonic(p.video) && monotonic(p.audio), `${path.basename(file)}: timestamps never go backwards`);
  const decoded = decodedVideoFrames(file);
  assert.ok(decoded >= minVideoFrames, `${path.basename(file)}: ${decoded} video frames decoded, want >= ${minVideoFrames}`);
}

test('real clients: ffmpeg publishes to A; ffmpeg, rtmpdump (RTMP) and curl (HTTP-FLV) play from B', { timeout: 90_000 }, async (t) => {
  if (!needTool(t, 'ffmpeg') || !needTool(t, 'ffprobe') || !needTool(t, 'rtmpdump') || !needTool(t, 'curl')) return;
  const a = await startClusterNode('A');
  const b = await startClusterNode('B', { targets: `127.0.0.1:${a.link}` });
  const runs: ToolRun[] = [];
  try {
    await linked(a, b);
    const pub = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-i', testFLV(6), '-c', 'copy', '-f', 'flv', a.rtmpURL('live/cam')], 40_000);
    runs.push(pub);
    await until(() => a.context.publications.get('cam')?.running === true, 'ffmpeg publishing on A');
    const out1 = path.join(b.dir, 'ffmpeg.flv');
    const out2 = path.join(b.dir, 'rtmpdump.flv');
    const out3 = path.join(b.dir, 'curl.flv');
    const ff = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', b.rtmpURL('live/cam'), '-c', 'copy', '-f', 'flv', out1], 40_000);
    const dump = run('rtmpdump', ['-q', '-v', '-r', b.rtmpURL('live/cam'), '-o', out2], 40_000);
    const curl = run('curl', ['-s', '-N', '--max-time', '30', '-o', out3, `http://127.0.0.1:${b.http}/live/cam.flv`], 40_000);
    runs.push(ff, dump, curl);
    await until(() => (b.context.publications.get('cam')?.listeners.size ?? 0) === 3, "B's three players", 20_000);
    // three players on B, one relay on A
    assert.equal(a.context.publications.get('cam')!.listeners.size, 1);
    const [p, x, y, z] = await Promise.all([pub.done, ff.done, dump.done, curl.done]);
    assert.equal(p.code, 0, `ffmpeg publisher: ${p.stderr}`);
    assert.equal(x.code, 0, `ffmpeg player: ${x.stderr}`);
    assert.equal(y.code, 0, `rtmpdump: ${y.stderr}`);
    // curl ends when B ends the HTTP stream (the publication stopped) or at its --max-time
    assert.ok(z.code === 0 || z.code === 28 || z.code === 18, `curl: ${z.code} ${z.stderr}`);
    checkRecording(out1, 40);
    checkRecording(out2, 40);
    checkRecording(out3, 40);
    await until(() => b.context.publications.get('cam') === undefined && a.context.publications.get('cam') === undefined, 'both publications gone');
  } finally {
    for (const r of runs) r.kill();
    await stopAll(b, a);
  }
});

test('RTMFP → RTMP: our RTMFP client publishes to A, an RTMP player of B gets every frame in order', async () => {
  const a = await startClusterNode('A');
  const b = await startClusterNode('B', { targets: `127.0.0.1:${a.link}` });
  const rtmfp = new RtmfpTestClient({ port: a.rtmfp });
  const closers: Array<() => Promise<void>> = [() => rtmfp.close()];
  try {
    await linked(a, b);
    await rtmfp.connect(`rtmfp://127.0.0.1:${a.rtmfp}/live`);
    const stream = await rtmfp.publish('fp');
    const player = await rtmpPlayer(b, 'fp');
    closers.push(player.close);
    await until(() => a.context.publications.get('fp')?.listeners.size === 1, 'the relay listening on A');
    const frames = makeFrames(90, 30);
    for (const f of frames) rtmfp.sendMedia(stream, f.type, f.time, f.body);
    const sent = frames.filter((f) => f.type === 9);
    await until(() => player.video().length >= sent.length, `${sent.length} video frames on B`, 20_000);
    const got = player.video();
    // the frame numbers written in each body come through in order, bytes intact
    assert.deepEqual(got.map((m) => m.payload.readUInt32BE(2)), sent.map((f) => f.body.readUInt32BE(2)));
    assert.ok(got.every((m, i) => m.payload.equals(sent[i].body)));
    assert.ok(monotonic(got.map((m) => m.timestamp)));
  } finally {
    for (const c of closers) await c().catch(() => {});
    await stopAll(b, a);
  }
});

/** A TCP pipe from a local port to `target` that can stop passing A's bytes on (a slow link). */
async function stallingProxy(target: number) {
  let stalled = false;
  const sockets = new Set<net.Socket>();
  const upstreams: net.Socket[] = [];
  const server = net.createServer((down) => {
    const up = net.connect(target, '127.0.0.1');
    upstreams.push(up);
    sockets.add(down).add(up);
    down.pipe(up);
    up.pipe(down);
    if (stalled) up.pause();
    const end = () => {
      down.destroy();
      up.destroy();
    };
    down.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    /** stop reading what A sends (its link queue grows) */
    stall() {
      stalled = true;
      for (const u of upstreams) {
        u.unpipe();
        u.pause();
      }
    },
    resume() {
      stalled = false;
      for (const u of upstreams) {
        const down = [...sockets].find((s) => s !== u && !upstreams.includes(s));
        if (down) u.pipe(down);
        u.resume();
      }
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

test('a slow link is bounded: non-key video dropped, then the relay cut while the link lives; it comes back after', { timeout: 90_000 }, async () => {
  const limits = { dropBytes: 256 * 1024, closeBytes: 1024 * 1024, stallMs: 1000, retryMs: 300 };
  const a = await startClusterNode('A', { noRTMFP: true, relay: limits });
  const proxy = await stallingProxy(a.link);
  const b = await startClusterNode('B', { noRTMFP: true, relay: limits, targets: `127.0.0.1:${proxy.port}` });
  const closers: Array<() => Promise<void>> = [];
  try {
    await linked(a, b);
    const pub = await rtmpPublisher(a, 'big');
    closers.push(pub.close);
    const player = await rtmpPlayer(b, 'big');
    closers.push(player.close);
    await until(() => a.context.publications.get('big')?.listeners.size === 1, 'the relay listening on A');
    pub.push(20);
    await until(() => player.video().length >= 10, 'video before the stall');
    proxy.stall();
    const bOnA = a.context.servers.all()[0];
    const c = pub.client;
    let peak = 0;
    // big frames (a key frame every 10) for as long as the relay lives, up to 15 s
    const end = Date.now() + 15_000;
    for (let i = 0; Date.now() < end && a.context.publications.get('big')!.listeners.size > 0; i++) {
      const frame = Buffer.alloc(64 * 1024, i & 0xff);
      frame[0] = i % 10 === 0 ? 0x17 : 0x27;
      frame[1] = 1;
      c.sendVideo(pub.id, 10_000 + i * 40, frame);
      if (i % 10 === 9) {
        await new Promise((r) => setTimeout(r, 50));
        peak = Math.max(peak, bOnA.queuedBytes());
      }
    }
    assert.equal(a.context.publications.get('big')!.listeners.size, 0, 'A cut the relay');
    peak = Math.max(peak, bOnA.queuedBytes());
    assert.ok(peak <= limits.closeBytes + 256 * 1024, `A's queue towards B stayed bounded (peak ${peak})`);
    assert.ok(a.context.publications.get('big')!.listenerDroppedFrames > 0, 'frames were dropped before the cut');
    assert.match(a.log, /relay to server \S+ stopped playing big .*too slow/);
    assert.equal(a.context.servers.count, 1, 'the link itself lives on');
    // the link drains: B hears the end, asks again after retryMs, and the player gets video again
    proxy.resume();
    await until(() => a.context.publications.get('big')!.listeners.size === 1, 'the relay back on A', 20_000);
    const before = player.video().length;
    pub.push(40);
    await until(() => player.video().length >= before + 10, 'video after the stall', 20_000);
  } finally {
    for (const x of closers) await x().catch(() => {});
    await stopAll(b, a);
    await proxy.close();
  }
});

test("scripts: B's onSubscribe decides for B's players (a refusal pulls nothing), a relay is no subscriber of A's scripts; WebSocket-FLV on B", async () => {
  const a = await startClusterNode('A', {
    noRTMFP: true,
    www: { 'live/main.lua': `function onConnection(client) function client:onSubscribe(l) NOTE("@@A onSubscribe " .. l.publication.name) end end` },
  });
  const b = await startClusterNode('B', {
    noRTMFP: true,
    targets: `127.0.0.1:${a.link}`,
    www: {
      'live/main.lua': `
function onConnection(client)
  function client:onSubscribe(l)
    if l.publication.name == "secret" then error("members only") end
    NOTE("@@B onSubscribe " .. l.publication.name)
  end
end`,
    },
  });
  const closers: Array<() => Promise<void>> = [];
  let ws: WebSocket | null = null;
  try {
    await linked(a, b);
    const pub = await rtmpPublisher(a, 'wsf');
    const secret = await rtmpPublisher(a, 'secret');
    closers.push(pub.close, secret.close);
    // refused on B: no want, no relay
    const refused = await rtmpPlayer(b, 'secret');
    closers.push(refused.close);
    await refused.client.status(refused.id, 'NetStream.Play.Failed');
    // a WebSocket-FLV player of B
    const chunks: Buffer[] = [];
    ws = new WebSocket(`ws://127.0.0.1:${b.http}/live/wsf.flv`);
    ws.on('message', (d) => chunks.push(Buffer.from(d as Buffer)));
    await new Promise<void>((resolve, reject) => {
      ws!.once('open', () => resolve());
      ws!.once('error', reject);
    });
    await until(() => a.context.publications.get('wsf')?.listeners.size === 1, 'the relay listening on A');
    pub.push(30);
    // FLV header, then tags: count the video tags (type 9) in what came
    const videoTags = () => {
      const all = Buffer.concat(chunks);
      let n = 0;
      for (let pos = 13; pos + 11 <= all.length; ) {
        const size = all.readUIntBE(pos + 1, 3);
        if (all[pos] === 9) n++;
        pos += 11 + size + 4;
      }
      return n;
    };
    await until(() => videoTags() >= 10, 'video tags over WebSocket-FLV on B');
    assert.equal(Buffer.concat(chunks).subarray(0, 3).toString(), 'FLV');
    assert.equal(a.context.publications.get('secret')!.listeners.size, 0, 'nothing relays the refused name');
    assert.equal(relays(a).interest('secret'), 0, 'B never asked A for it');
    assert.match(b.log, /@@B onSubscribe wsf/);
    assert.doesNotMatch(a.log, /@@A onSubscribe/, "the relay is not one of A's scripts' subscribers");
  } finally {
    ws?.terminate();
    for (const c of closers) await c().catch(() => {});
    await stopAll(b, a);
  }
});
