/**
 * `threads = 2` through the real executable: two WebSocket clients served by different workers
 * see each other through one Lua table of their app (and one `data`), an RTMP publication fans out
 * to players of both workers (relayed between them), names stay unique across workers, and the
 * scripts' refusals reach clients of any worker.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import WebSocket from 'ws';
import { RTMPClient } from '../../src/protocols/rtmp/client';
import { MessageType } from '../../src/protocols/rtmp/constants';
import { until } from '../helpers/relay-cluster';
import { startThreads as start, workerOf } from '../helpers/threads';
import { needTool, run, testFLV, type ToolRun } from '../protocols/rtmp/helpers';


const CHAT = `
members = {}
said = 0
function onConnection(client, name)
  members[client.id] = client
  function client:say(text)
    said = said + 1
    local n = 0
    for id, m in pairs(members) do
      m.writer:writeInvocation("said", text, said)
      n = n + 1
    end
    return n
  end
  function client:remember(key, value)
    data[key] = value
    last = value
    return "kept"
  end
  function client:recall(key)
    return data[key], last
  end
end
function onDisconnection(client) members[client.id] = nil end
`;

const LIVE = `
function onConnection(client)
  function client:onPublish(publication)
    if publication.name == "forbidden" then error("not this one") end
  end
  function client:onSubscribe(listener)
    if listener.publication.name == "secret" then error("members only") end
  end
end
`;

interface Peer {
  ws: WebSocket;
  messages: unknown[];
  port: number;
}

async function wsClient(port: number, p: string): Promise<Peer> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${p}`);
  const peer: Peer = { ws, messages: [], port: 0 };
  ws.on('message', (d) => peer.messages.push(JSON.parse(d.toString())));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  peer.port = (ws as unknown as { _socket: { localPort: number } })._socket.localPort;
  return peer;
}

test('threads = 2: WebSocket clients of two workers see each other through one Lua table and one data', { timeout: 90_000 }, async () => {
  const s = await start(2, { chat: CHAT, live: LIVE });
  const peers: Peer[] = [];
  try {
    // the workers take connections in turn: open until two different workers serve one each
    let a: Peer | null = null;
    let b: Peer | null = null;
    for (let i = 0; i < 8 && !(a && b); i++) {
      const p = await wsClient(s.http, '/chat');
      peers.push(p);
      await until(() => workerOf(s.log(), 'WebSocket', p.port) !== null, 'the worker line of a client');
      const w = workerOf(s.log(), 'WebSocket', p.port);
      if (!a) a = p;
      else if (w !== workerOf(s.log(), 'WebSocket', a.port)) b = p;
    }
    assert.ok(a && b, 'two clients on two workers');
    assert.notEqual(workerOf(s.log(), 'WebSocket', a.port), workerOf(s.log(), 'WebSocket', b.port));
    // a says something: every member of the one table hears it, the count is the one global
    a.ws.send(JSON.stringify(['say', 'hello']));
    await until(() => peers.every((p) => p.messages.some((m) => JSON.stringify(m) === '["said","hello",1]')), 'every member hears a');
    await until(() => a!.messages.some((m) => JSON.stringify(m) === `[${peers.length}]`), "a's answer: the number of members");
    b.ws.send(JSON.stringify(['say', 'back']));
    await until(() => a!.messages.some((m) => JSON.stringify(m) === '["said","back",2]'), 'a hears b, said = 2');
    // data and a global written while serving a, read while serving b
    a.ws.send(JSON.stringify(['remember', 'color', 'blue']));
    await until(() => a!.messages.some((m) => JSON.stringify(m) === '["kept"]'), 'a wrote');
    b.ws.send(JSON.stringify(['recall', 'color']));
    await until(() => b!.messages.some((m) => JSON.stringify(m) === '["blue","blue"]'), 'b reads what a wrote');
    // a member that leaves is gone from the table for everyone
    peers.splice(peers.indexOf(b), 1);
    b.ws.close();
    await until(() => new RegExp(`127\\.0\\.0\\.1:${b!.port} left /chat`).test(s.log()), "b left");
    a.ws.send(JSON.stringify(['say', 'again']));
    await until(() => a!.messages.some((m) => JSON.stringify(m) === `[${peers.length}]`), 'the table lost b');
  } finally {
    for (const p of peers) p.ws.terminate();
    assert.equal(await s.stop(), 0, s.log().slice(-3000));
  }
});

test('threads = 2: RTMP fan-out across workers (ffmpeg publishes, players on both workers), unique names, script refusals', { timeout: 90_000 }, async (t) => {
  if (!needTool(t, 'ffmpeg') || !needTool(t, 'ffprobe')) return;
  const s = await start(2, { chat: CHAT, live: LIVE });
  const runs: ToolRun[] = [];
  const players: RTMPClient[] = [];
  try {
    const url = `rtmp://127.0.0.1:${s.rtmp}/live/cam`;
    runs.push(run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-i', testFLV(6), '-c', 'copy', '-f', 'flv', url], 40_000));
    await until(() => /publishes cam/.test(s.log()), 'ffmpeg publishing');
    const ids: number[] = [];
    for (let i = 0; i < 4; i++) {
      const c = new RTMPClient({ port: s.rtmp });
      players.push(c);
      await c.connect('live');
      const id = await c.createStream();
      c.command('play', ['cam'], id);
      ids.push(id);
    }
    const out = path.join(s.dir, 'ffmpeg-player.flv');
    const ff = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', url, '-t', '3', '-c', 'copy', '-f', 'flv', out], 40_000);
    runs.push(ff);
    await until(() => players.every((c, i) => c.media(ids[i]).filter((m) => m.type === MessageType.Video).length >= 25), 'video on every player', 30_000);
    const served = [...s.log().matchAll(/worker (\d+) serves RTMP/g)].map((m) => m[1]);
    assert.ok(new Set(served).size === 2, `clients on both workers: ${served.join(',')}`);
    assert.match(s.log(), /relay from worker \d publishes cam/, 'the players of the other worker got it through a relay');
    assert.equal((await ff.done).code, 0);
    assert.ok(
      Number(
        require('node:child_process')
          .spawnSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=nb_read_frames', '-of', 'csv=p=0', out])
          .stdout.toString()
          .trim(),
      ) >= 40,
      'ffmpeg played it',
    );
    // the name is taken whichever worker a second publisher lands on; the scripts refuse what they refuse
    for (let i = 0; i < 2; i++) {
      const c = new RTMPClient({ port: s.rtmp });
      players.push(c);
      await c.connect('live');
      const id = await c.createStream();
      c.command('publish', ['cam', 'live'], id);
      await c.status(id, 'NetStream.Publish.BadName');
    }
    const refusedPub = new RTMPClient({ port: s.rtmp });
    players.push(refusedPub);
    await refusedPub.connect('live');
    const rp = await refusedPub.createStream();
    refusedPub.command('publish', ['forbidden', 'live'], rp);
    const failed = await refusedPub.status(rp, 'NetStream.Publish.Failed');
    assert.match(String(failed.get('description')), /not this one/);
    const refusedPlay = new RTMPClient({ port: s.rtmp });
    players.push(refusedPlay);
    await refusedPlay.connect('live');
    const rq = await refusedPlay.createStream();
    refusedPlay.command('play', ['secret'], rq);
    const pf = await refusedPlay.status(rq, 'NetStream.Play.Failed');
    assert.match(String(pf.get('description')), /members only/);
  } finally {
    for (const c of players) await c.close().catch(() => {});
    for (const r of runs) r.kill();
    assert.equal(await s.stop(), 0, s.log().slice(-3000));
  }
});
