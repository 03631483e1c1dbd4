/**
 * `threads = 2` with the rest of the server: a script's own publication (mona:publish, in the
 * primary) played from a worker, a script watching a worker's publication (publication:onVideo in
 * the primary), RTMFP (worker 1) publishing to RTMP players of any worker and handshake
 * redirections decided by the primary's scripts, relays between a threaded server and another one
 * both ways, and a worker that dies (its clients leave the scripts' view, it is started again).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { RTMPClient } from '../../src/protocols/rtmp/client';
import { MessageType } from '../../src/protocols/rtmp/constants';
import { option } from '../../src/protocols/rtmfp/binary';
import { DEFAULT_KEY, decryptPacket, encryptPacket } from '../../src/protocols/rtmfp/crypto';
import { EPD_URL, buildIHello } from '../../src/protocols/rtmfp/handshake-chunks';
import { CHUNK, PacketBuilder, nowTimestamp, parsePacket } from '../../src/protocols/rtmfp/packet';
import { freePort, startClusterNode, until } from '../helpers/relay-cluster';
import { RtmfpTestClient, makeFrames } from '../helpers/rtmfp-client';
import { startThreads, workerOf } from '../helpers/threads';

const AVC_CONFIG = Buffer.from([0x17, 0, 0, 0, 0, 1, 0x42, 0, 0x1e, 0xff, 0xe1, 0, 4, 0x67, 0x42, 0, 0x1e, 1, 0, 4, 0x68, 0xce, 0x3c, 0x80]);

const LIVE = `
frames = 0
function onConnection(client)
  function client:onPublish(p)
    if p.name == "watched" then
      function p:onVideo(time, packet) frames = frames + 1 end
    end
  end
  function client:frames() return frames end
  function client:generate(n)
    gen = gen or mona:publish("gen")
    gen:pushVideo(0, string.char(0x17, 0, 0, 0, 0, 1, 0x42, 0, 0x1e, 0xff, 0xe1, 0, 4, 0x67, 0x42, 0, 0x1e, 1, 0, 4, 0x68, 0xce, 0x3c, 0x80))
    for i = 1, n do
      local key = (i % 10 == 1) and 0x17 or 0x27
      gen:pushVideo(i * 40, string.char(key, 1, 0, 0, 0) .. string.rep("g", 300))
    end
    gen:flush()
    return n
  end
end
`;

/** the root app decides handshakes of URLs that name no app */
const ROOT = `
function onHandshake(address, path, properties, attempts)
  if path == "/away" then return "10.9.8.7:1935" end
end
`;

const CHAT = `
members = {}
function onConnection(client)
  members[client.id] = client
  function client:count()
    local n = 0
    for _ in pairs(members) do n = n + 1 end
    return n
  end
end
function onDisconnection(client) members[client.id] = nil end
`;

async function rtmpPlay(port: number, name: string) {
  const c = new RTMPClient({ port });
  await c.connect('live');
  const id = await c.createStream();
  c.command('play', [name], id);
  return { c, id, video: () => c.media(id).filter((m) => m.type === MessageType.Video) };
}

async function rtmpPublish(port: number, name: string) {
  const c = new RTMPClient({ port });
  await c.connect('live');
  const id = await c.createStream();
  c.command('publish', [name, 'live'], id);
  await c.status(id, 'NetStream.Publish.Start');
  c.sendVideo(id, 0, AVC_CONFIG);
  let t = 0;
  return {
    c,
    push(n: number) {
      for (let i = 0; i < n; i++, t += 40) c.sendVideo(id, t, Buffer.concat([Buffer.from([i % 10 === 0 ? 0x17 : 0x27, 1, 0, 0, 0]), Buffer.alloc(200, i)]));
    },
  };
}

test("threads = 2: a script's publication (primary) plays on a worker; a script watching a worker's publication gets its frames; RTMFP in worker 1, redirections by the primary's scripts", { timeout: 90_000 }, async () => {
  const s = await startThreads(2, { live: LIVE, '.': ROOT }, { rtmfp: true });
  const clients: Array<{ close(): Promise<void> }> = [];
  try {
    // mona:publish in the primary, pushed by an RPC, reaches an RTMP player of a worker
    const player = await rtmpPlay(s.rtmp, 'gen');
    clients.push(player.c);
    const caller = new RTMPClient({ port: s.rtmp });
    clients.push(caller);
    await caller.connect('live');
    await until(() => /plays gen/.test(s.log()), 'the player waiting');
    await new Promise((r) => setTimeout(r, 300)); // its worker asked the others and the primary
    // the first call makes the publication; the player's worker then relays it from the primary
    await caller.call('generate', [1]);
    await until(() => /relay from the primary publishes gen/.test(s.log()), "the player's worker relaying from the primary");
    await new Promise((r) => setTimeout(r, 300));
    const r = await caller.call('generate', [30]);
    assert.equal(r.args[1], 30);
    await until(() => player.video().length >= 20, 'the script publication on the player', 15_000);

    // publication:onVideo in the primary: the worker's frames come to it while it watches
    const pub = await rtmpPublish(s.rtmp, 'watched');
    clients.push(pub.c);
    await new Promise((r) => setTimeout(r, 500));
    pub.push(30);
    await until(() => /frames from worker \d \(relay/.test(s.log()), 'the primary pulling the watched publication');
    let frames = 0;
    for (let i = 0; i < 50 && frames < 20; i++) {
      frames = Number((await caller.call('frames')).args[1]);
      if (frames < 20) {
        pub.push(10);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    assert.ok(frames >= 20, `onVideo ran ${frames} times in the primary`);

    // RTMFP: worker 1 has it; its publication plays on RTMP players of any worker
    const fp = new RtmfpTestClient({ port: s.rtmfp });
    clients.push(fp);
    await fp.connect(`rtmfp://127.0.0.1:${s.rtmfp}/live`);
    await until(() => /worker 1 serves RTMFP/.test(s.log()), 'worker 1 serving the RTMFP client');
    const stream = await fp.publish('fp');
    const players = [await rtmpPlay(s.rtmp, 'fp'), await rtmpPlay(s.rtmp, 'fp')];
    clients.push(...players.map((p) => p.c));
    await new Promise((r) => setTimeout(r, 500));
    for (const f of makeFrames(60, 20)) fp.sendMedia(stream, f.type, f.time, f.body);
    await until(() => players.every((p) => p.video().length >= 30), 'RTMFP media on both RTMP players', 15_000);

    // a handshake the primary's onHandshake redirects
    const sock = dgram.createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const got = new Promise<Buffer>((resolve, reject) => {
      setTimeout(() => reject(new Error('no redirection')), 5000);
      sock.on('message', (m) => {
        const plain = decryptPacket(m, DEFAULT_KEY);
        const c = plain && parsePacket(plain).chunks.find((x) => x.type === CHUNK.Redirect);
        if (c) resolve(Buffer.from(c.data));
      });
    });
    const b = new PacketBuilder(0x0b, false);
    b.addChunk(CHUNK.IHello, buildIHello(option(EPD_URL, Buffer.from(`rtmfp://127.0.0.1:${s.rtmfp}/away`)), randomBytes(16)));
    sock.send(encryptPacket(b.buf, b.finish(nowTimestamp(), 0), DEFAULT_KEY, 0), s.rtmfp, '127.0.0.1');
    const redirect = await got;
    sock.close();
    assert.deepEqual([...redirect.subarray(redirect.length - 6)], [10, 9, 8, 7, 1935 >> 8, 1935 & 0xff]);
  } finally {
    for (const c of clients) await c.close().catch(() => {});
    assert.equal(await s.stop(), 0, s.log().slice(-3000));
  }
});

test('threads = 2 in a cluster: a worker\'s publication relayed to another server, and the other way', { timeout: 90_000 }, async () => {
  const link = await freePort('tcp');
  const s = await startThreads(2, { live: '' }, { ini: `[servers]\nport = ${link}\n` });
  const b = await startClusterNode('B', { targets: `127.0.0.1:${link}`, noRTMFP: true });
  const clients: Array<{ close(): Promise<void> }> = [];
  try {
    await until(() => b.context.servers.count === 1, 'B linked to the threaded server');
    // publisher on a worker of A, player on B: worker → primary → B
    const pubA = await rtmpPublish(s.rtmp, 'fromA');
    clients.push(pubA.c);
    const onB = await rtmpPlay(b.rtmp, 'fromA');
    clients.push(onB.c);
    await until(() => b.context.publications.get('fromA')?.running === true, 'B relays it');
    await new Promise((r) => setTimeout(r, 500));
    pubA.push(40);
    await until(() => onB.video().length >= 20, "a worker's publication on B", 15_000);
    // publisher on B, players on both workers of A: B → primary → workers
    const pubB = await rtmpPublish(b.rtmp, 'fromB');
    clients.push(pubB.c);
    const onA = [await rtmpPlay(s.rtmp, 'fromB'), await rtmpPlay(s.rtmp, 'fromB')];
    clients.push(...onA.map((p) => p.c));
    await until(() => (b.context.publications.get('fromB')?.listeners.size ?? 0) === 1, 'one relay of B feeds A');
    await new Promise((r) => setTimeout(r, 500));
    pubB.push(40);
    await until(() => onA.every((p) => p.video().length >= 20), "B's publication on both workers of A", 15_000);
    assert.equal(b.context.publications.get('fromB')!.listeners.size, 1, 'one relay towards A whatever its workers');
  } finally {
    for (const c of clients) await c.close().catch(() => {});
    await b.stop();
    assert.equal(await s.stop(), 0, s.log().slice(-3000));
  }
});

test('threads = 2: a worker that dies: its clients leave the scripts\' tables, it is started again and serves', { timeout: 90_000 }, async () => {
  const s = await startThreads(2, { chat: CHAT });
  const sockets: WebSocket[] = [];
  const open = async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${s.http}/chat`);
    const messages: string[] = [];
    ws.on('message', (d) => messages.push(d.toString()));
    ws.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    sockets.push(ws);
    const port = (ws as unknown as { _socket: { localPort: number } })._socket.localPort;
    await until(() => workerOf(s.log(), 'WebSocket', port) !== null, 'its worker');
    const o = { ws, messages, worker: workerOf(s.log(), 'WebSocket', port)! };
    opened.push(o);
    return o;
  };
  const opened: Array<{ ws: WebSocket; messages: string[]; worker: number }> = [];
  try {
    const a = await open();
    let b = await open();
    while (b.worker === a.worker) b = await open();
    const ask = async (c: typeof a, expected: number) => {
      const before = c.messages.length;
      c.ws.send(JSON.stringify(['count']));
      await until(() => c.messages.length > before, 'an answer');
      return Number(JSON.parse(c.messages[c.messages.length - 1])[0]) === expected;
    };
    assert.ok(await ask(a, sockets.length), 'every client in the table');
    const left = opened.filter((o) => o.worker === b.worker).length;
    const pid = Number(new RegExp(`worker ${b.worker} started \\(pid (\\d+)\\)`).exec(s.log())![1]);
    process.kill(pid, 'SIGKILL');
    await until(() => new RegExp(`worker ${b.worker} exited \\(SIGKILL\\); starting it again`).test(s.log()), 'the primary saw it');
    for (let i = 0; i < 20 && !(await ask(a, sockets.length - left)); i++) await new Promise((r) => setTimeout(r, 200));
    assert.ok(await ask(a, sockets.length - left), `the dead worker's clients left the table: ${a.messages.slice(-3).join(' ')} (${sockets.length} - ${left})`);
    // started again: it takes connections
    await until(() => (s.log().match(new RegExp(`worker ${b.worker} started`, 'g')) ?? []).length >= 2, 'the worker back');
    let c = await open();
    for (let i = 0; i < 6 && c.worker !== b.worker; i++) c = await open();
    assert.equal(c.worker, b.worker, 'the new worker serves');
  } finally {
    for (const w of sockets) w.terminate();
    assert.equal(await s.stop(), 0, s.log().slice(-3000));
  }
});
