/**
 * The cluster from Lua: two (three) of our servers linked in-process on loopback, each running its
 * www/ apps. onServerConnection/onServerDisconnection in the root app, `server:send(handler, ...)`
 * calling `function server:handler` on the other side, mona.servers (count, #, [i], [address],
 * (i), ipairs, initiators, targets, broadcast), server properties and configs, a refusal by
 * error(), apps loaded on both sides, and onRendezVousUnknown redirecting to a server object.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { ClusterServer } from '../../src/cluster/server';
import { PeerServer, redirectionAddresses } from '../../src/core/servers';
import type { ScriptHost } from '../../src/scripting/runtime/host';
import { toJS, type Value } from '../../src/serialization/value';
import type { Server } from '../../src/server';
import { startTestServer } from '../helpers/server';
import { tempDir } from '../helpers/temp';

interface Node {
  server: Server;
  host: ScriptHost;
  port: number;
  log: () => string;
}

async function startNode(files: Record<string, string>, options: { targets?: string; overrides?: Record<string, string> } = {}): Promise<Node> {
  const dir = tempDir('monats-servers-');
  for (const [rel, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), content);
  }
  // the link alone; the other protocols are off, announced when `overrides` gives them a port
  const s = await startTestServer({
    dir,
    off: ['RTMFP', 'RTMP', 'HTTP'],
    overrides: options.overrides,
    protocols: [
      {
        name: 'Servers',
        port: () => 0,
        enabled: () => true,
        create: (ctx) => new ClusterServer(ctx, { port: 0, targets: options.targets ?? '', retryMs: 200 }),
      },
    ],
  });
  return { server: s.server, host: s.context.host as ScriptHost, port: s.protocol<ClusterServer>('Servers').port, log: () => s.log() };
}

function evalRoot(n: Node, code: string): Value[] {
  const app = n.host.app('');
  if (!app?.instance) throw new Error('no root app');
  return app.instance.evaluate(code, '=test');
}

async function until(what: string, check: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const B_MAIN = `
log = {}
function onServerConnection(server)
  if server.name == "bad" then error("go away") end
  table.insert(log, "connection " .. server.address .. " isTarget=" .. tostring(server.isTarget) .. " name=" .. tostring(server.name))
  function server:hello(a, b)
    table.insert(log, "hello " .. tostring(a) .. " " .. tostring(b))
    self:send("reply", a + 1, { k = "v" })
  end
end
function onServerDisconnection(server, err)
  table.insert(log, "disconnection " .. tostring(err))
end
function onRendezVousUnknown(protocol, peerId)
  if peerId == "all" then return mona.servers end
  return mona.servers[1], "10.0.0.9:1935"
end
`;

const A_MAIN = `
disconnections = {}
function onServerConnection(server)
  function server:reply(n, t) replied = n replyTable = t end
  server:send("hello", 41, "x")
  children("game") -- an app starting is told to the other servers
end
function onServerDisconnection(server, err) table.insert(disconnections, err or "none") end
`;

test('two servers: events in the root apps, server:send both ways, mona.servers, redirection to a server, apps loaded on both sides, disconnection', async () => {
  const b = await startNode({ 'www/main.lua': B_MAIN, 'www/game/main.lua': 'loaded = true' });
  const a = await startNode({ 'www/main.lua': A_MAIN, 'www/game/main.lua': '' }, { targets: `127.0.0.1:${b.port}?name=master&arg=7`, overrides: { 'RTMFP.port': '19350' } });
  try {
    await until('the reply on A', () => evalRoot(a, 'return replied')[0] === 42);
    assert.deepEqual(toJS(evalRoot(a, 'return replyTable')[0]), { k: 'v' });
    const log = (): string[] => toJS(evalRoot(b, 'return log')[0]) as string[];
    assert.match(log()[0], /^connection 127\.0\.0\.1:\d+ isTarget=false name=master$/);
    assert.equal(log()[1], 'hello 41 x');

    // mona.servers on A: B is its one target
    const [count, len, address, same, called, port, host, isTarget, name, arg, configName] = evalRoot(
      a,
      `local s = mona.servers[1]
       return mona.servers.count, #mona.servers, s.address, mona.servers[s.address] == s, mona.servers(1) == s,
              s.port, s.host, s.isTarget, s.name, s.arg, s.configs.name`,
    );
    assert.deepEqual([count, len, address, same, called, port, host, isTarget, name, arg, configName], [1, 1, `127.0.0.1:${b.port}`, true, true, b.port, '127.0.0.1', true, 'master', 7, 'master']);
    assert.deepEqual(evalRoot(a, 'return mona.servers.targets.count, mona.servers.initiators.count, mona.servers.targets[1] == mona.servers[1], mona.servers[2]'), [1, 0, true, null]);
    assert.deepEqual(evalRoot(a, 'local n = 0 for i, s in ipairs(mona.servers) do n = n + i end for i, s in pairs(mona.servers) do n = n + 10 * i end return n'), [11]);
    assert.equal(evalRoot(a, 'return tostring(mona.servers[1])')[0], `Server 127.0.0.1:${b.port}`);

    // broadcast from B (to its initiators): A hears it
    evalRoot(a, 'local s = mona.servers[1] function s:news(x) news = x end');
    assert.deepEqual(evalRoot(b, 'return mona.servers.initiators:broadcast("news", "fresh"), mona.servers:broadcast(".")'), [1, 0]);
    await until('the broadcast on A', () => evalRoot(a, 'return news')[0] === 'fresh');
    assert.match(b.log(), /broadcast: a handler can't be empty or '\.'/);
    // a call nobody answers is a warning, the link goes on
    evalRoot(b, 'mona.servers[1]:send("nobody", 1)');
    await until('the warning on A', () => /calls nobody, which no server:nobody function answers/.test(a.log()));

    // the app A started (game) was loaded on B too
    await until('game loaded on B', () => b.host.loadedApps().includes('/game'));
    assert.deepEqual(b.host.app('/game')?.instance?.evaluate('return loaded', '=test'), [true]);

    // onRendezVousUnknown returning a server (and an address): core resolves the server to A's RTMFP
    // public address, the link's IP replacing its wildcard
    const warnings: string[] = [];
    const addresses = (protocol: string, peerId: string) => redirectionAddresses(b.host.onRendezVousUnknown(protocol, peerId), protocol, (w) => warnings.push(w));
    assert.ok(b.host.onRendezVousUnknown('RTMFP', 'someone')[0] instanceof PeerServer);
    assert.deepEqual(addresses('RTMFP', 'someone'), ['127.0.0.1:19350', '10.0.0.9:1935']);
    assert.deepEqual(addresses('RTMFP', 'all'), ['127.0.0.1:19350']);
    // A has no RTMP: the server is skipped with a warning
    assert.deepEqual(addresses('RTMP', 'someone'), ['10.0.0.9:1935']);
    assert.match(warnings.join('\n'), /it has RTMP disabled/);

    // A stops: B hears the disconnection, its list empties, the old server object stops answering
    evalRoot(b, 'old = mona.servers[1]');
    await a.server.stop();
    await until('the disconnection on B', () => log().some((l) => l.startsWith('disconnection')));
    assert.deepEqual(evalRoot(b, 'return mona.servers.count, old.address'), [0, null]);
  } finally {
    await a.server.stop();
    await b.server.stop();
  }
});

test('onServerConnection error() refuses the server: the other side hears the reason in its onServerDisconnection', async () => {
  const b = await startNode({ 'www/main.lua': B_MAIN });
  const a = await startNode({ 'www/main.lua': A_MAIN }, { targets: `127.0.0.1:${b.port}?name=bad` });
  try {
    await until('the refusal on A', () => (evalRoot(a, 'return #disconnections')[0] as number) > 0);
    assert.equal(evalRoot(a, 'return disconnections[1]')[0], 'go away');
    assert.equal(evalRoot(b, 'return mona.servers.count')[0], 0);
    assert.match(b.log(), /go away/);
  } finally {
    await a.server.stop();
    await b.server.stop();
  }
});

test('a JavaScript root app redirects to a server object too (the object reads as the server where a value is read)', async () => {
  const b = await startNode({
    'www/main.js': `export function onRendezVousUnknown(protocol, peerId) { return [mona.servers.get(1), '10.0.0.9:1935']; }
export function onServerConnection(server) { server.hello = (x) => { globalThis.heard = x; }; }`,
  });
  const a = await startNode({ 'www/main.lua': 'function onServerConnection(server) server:send("hello", 7) end' }, { targets: `127.0.0.1:${b.port}`, overrides: { 'RTMFP.port': '19352' } });
  try {
    await until('the server on B', () => b.server.context.servers.count === 1);
    await until('the call on B', () => (globalThis as { heard?: unknown }).heard === 7);
    assert.deepEqual(redirectionAddresses(b.host.onRendezVousUnknown('RTMFP', 'someone'), 'RTMFP', () => {}), ['127.0.0.1:19352', '10.0.0.9:1935']);
  } finally {
    delete (globalThis as { heard?: unknown }).heard;
    await a.server.stop();
    await b.server.stop();
  }
});
