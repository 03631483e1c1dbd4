/**
 * Lua apps driven through a real protocol (RTMP): connect → onConnection (result fields in
 * Connect.Success, error() → Connect.Rejected), RPC results and Call.Failed texts, inheritance
 * through the URL's app path, hot reload by rewriting main.lua while the server runs, and ffmpeg
 * publishing into a Lua-watched publication (onPublish, publication:onVideo per packet).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { RTMPClient } from '../../src/protocols/rtmp/client';
import { Table } from '../../src/serialization/value';
import { needTool, run, startRTMP, testFLV, waitFor, type ToolRun } from '../protocols/rtmp/helpers';
import { rewriteFile } from './lua-fixtures';

const ROOT = `
function onConnection(client, login)
  if login == "intruder" then error("you are not Tom!") end
  function client:hello(name) return "Hello " .. tostring(name) .. " from " .. path end
  function client:fail() error("boom") end
  function client:add(a, b) return a + b end
  return { message = "welcome", id = 1 }
end
`;

const GAMES = `
function onConnection(client, ...)
  local result = super.onConnection(client, ...)
  function client:game() return "game " .. name .. " v1" end
  result.app = path
  return result
end
`;

const LIVE = `
function onConnection(client)
  function client:onPublish(publication)
    published = publication.name
    videoPackets, videoBytes, keyFrames = 0, 0, 0
    function publication:onVideo(time, packet)
      videoPackets = videoPackets + 1
      videoBytes = videoBytes + #packet
      if packet:byte(1) == 0x17 then keyFrames = keyFrames + 1 end
    end
  end
  function client:onUnpublish(publication) unpublished = publication.name end
  function client:stats() return published, videoPackets, videoBytes, keyFrames, unpublished end
end
`;

function tempApps(): string {
  const dir = fs.mkdtempSync(path.join(require('node:os').tmpdir(), 'lua-rtmp-'));
  const files: Record<string, string> = {
    'www/main.lua': ROOT,
    'www/Games/main.lua': GAMES,
    'www/Games/chess/.keep': '',
    'www/live/main.lua': LIVE,
  };
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), content);
  }
  return dir;
}

async function connected(port: number, app: string, args: unknown[] = []): Promise<{ c: RTMPClient; info: Table; name: string }> {
  const c = new RTMPClient({ port });
  await c.handshake();
  const r = await c.connect(app, {}, args as never[], port);
  return { c, info: r.args[1] as Table, name: r.name };
}

test('RTMP: onConnection result, rejection, RPC results and Call.Failed from Lua', async () => {
  const s = await startRTMP({ dir: tempApps() });
  const clients: RTMPClient[] = [];
  try {
    const { c, info, name } = await connected(s.port, '', ['Tom']);
    clients.push(c);
    assert.equal(name, '_result');
    assert.equal(info.get('code'), 'NetConnection.Connect.Success');
    assert.equal(info.get('message'), 'welcome');
    assert.equal(info.get('id'), 1);
    const hello = await c.call('hello', ['Bob']);
    assert.equal(hello.name, '_result');
    assert.equal(hello.args[1], 'Hello Bob from ');
    assert.equal((await c.call('add', [40, 2])).args[1], 42);
    const failed = await c.call('fail', []);
    assert.equal(failed.name, '_error');
    assert.equal((failed.args[1] as Table).get('code'), 'NetConnection.Call.Failed');
    assert.equal((failed.args[1] as Table).get('description'), 'www/main.lua:5: boom');
    const unknown = await c.call('nothing', []);
    assert.equal((unknown.args[1] as Table).get('description'), "Method 'nothing' not found");

    const rejected = await connected(s.port, '', ['intruder']);
    clients.push(rejected.c);
    assert.equal(rejected.name, '_error');
    assert.equal(rejected.info.get('code'), 'NetConnection.Connect.Rejected');
    assert.equal(rejected.info.get('description'), 'you are not Tom!');

  } finally {
    for (const c of clients) c.socket.destroy();
    await s.stop();
  }
});

test('RTMP: a child app inherits, calls super, and hot-reloads when main.lua is rewritten', async () => {
  const dir = tempApps();
  const s = await startRTMP({ dir });
  const clients: RTMPClient[] = [];
  try {
    // /Games/chess has no main.lua: it behaves as /Games, which calls super.onConnection
    const chess = await connected(s.port, 'Games/chess', ['Tom']);
    clients.push(chess.c);
    assert.equal(chess.name, '_result');
    assert.equal(chess.info.get('message'), 'welcome');
    assert.equal(chess.info.get('app'), '/Games');
    assert.equal((await chess.c.call('game', [])).args[1], 'game Games v1');
    // root's client:hello runs in the root
    assert.equal((await chess.c.call('hello', ['Ann'])).args[1], 'Hello Ann from ');

    rewriteFile(dir, 'www/Games/main.lua', GAMES.replace('v1', 'v2'));
    await new Promise((r) => setTimeout(r, 1100)); // the next use after a second looks at main.lua
    const again = await connected(s.port, 'Games', ['Tom']);
    clients.push(again.c);
    assert.equal((await again.c.call('game', [])).args[1], 'game Games v2');
  } finally {
    for (const c of clients) c.socket.destroy();
    await s.stop();
  }
});

test('RTMP + ffmpeg: onPublish in Lua and publication:onVideo for every packet', async (t) => {
  if (!needTool(t, 'ffmpeg')) return;
  const s = await startRTMP({ dir: tempApps() });
  const runs: ToolRun[] = [];
  const clients: RTMPClient[] = [];
  try {
    const pub = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-i', testFLV(3), '-c', 'copy', '-f', 'flv', s.url('live/lua1')], 40_000);
    runs.push(pub);
    const done = await pub.done;
    assert.equal(done.code, 0, done.stderr);
    const { c } = await connected(s.port, 'live');
    clients.push(c);
    await waitFor(() => s.context.publications.get('lua1') === undefined, 10_000, 'publication ends');
    const stats = await c.call('stats', []);
    // the publisher's client object got the events; the watcher reads them through the app's globals
    const [published, packets, bytes, keys, unpublished] = stats.args.slice(1);
    assert.equal(published, 'lua1');
    assert.equal(unpublished, 'lua1');
    assert.ok(typeof packets === 'number' && packets >= 60, `video packets seen by Lua: ${packets}`);
    assert.ok(typeof bytes === 'number' && bytes > 10_000, `video bytes seen by Lua: ${bytes}`);
    assert.ok(typeof keys === 'number' && keys >= 1, `key frames seen by Lua: ${keys}`);
  } finally {
    for (const r of runs) r.kill();
    for (const c of clients) c.socket.destroy();
    await s.stop();
  }
});
