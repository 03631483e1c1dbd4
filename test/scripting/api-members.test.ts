/**
 * Members of MonaServer's api.rst found missing or partial in the audit, through Lua: mona.<configKey>
 * and mona.arguments (also from the command line, through the server), client.<protocolName>,
 * publication.listeners(client) and listeners[client], writeInvocation without a name, QoS latency
 * from pings and lost frames, publication.droppedFrames, SocketAddress/IPAddress records compared
 * and concatenated. Every Lua engine.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseArgs } from '../../src/cli/options';
import type { MediaSink } from '../../src/core/listener';
import type { ScriptHost } from '../../src/scripting/runtime/host';
import { startTestServer } from '../helpers/server';
import { Table } from '../../src/serialization/value';
import { evalRoot, FakeClient, makeAppDir, startLua, writeValues } from './lua-fixtures';
import { LUA_ENGINES } from './lua/engines';

const sink = (): MediaSink => ({
  writeMedia() {},
  onPublicationStart() {},
  onPublicationStop() {},
  flush() {},
  queuedBytes: () => 0,
  close() {},
});

const key = (n: number) => Buffer.from([0x17, 0x01, 0, 0, 0, n]);
const inter = (n: number) => Buffer.from([0x27, 0x01, 0, 0, 0, n]);

for (const engine of LUA_ENGINES) {
  const lua = engine.open;
  const opts = { skip: engine.skip };

  test(`${engine.name}: mona.<configKey> reads mona.configs; mona.arguments is the command line (an empty table without one)`, opts, async () => {
    const s = await startLua(makeAppDir({ 'www/main.lua': '' }), { lua });
    try {
      assert.deepEqual(evalRoot(s, 'return mona.myKey, mona.myGroup.myConfig, mona.myGroup.flag, mona["myGroup.myConfig"], mona.nothing'), [42, 'hello', true, 'hello', null]);
      assert.deepEqual(evalRoot(s, 'return type(mona.arguments), next(mona.arguments)'), ['table', null]);
      // methods and properties come first
      assert.deepEqual(evalRoot(s, 'return type(mona.time), type(mona.clients)'), ['function', 'table']);
    } finally {
      await s.close();
    }
    const withArgs = makeAppDir({ 'www/main.lua': '' });
    const t = await startLua(withArgs, { lua });
    try {
      t.ctx.config.raw.arguments = { log: '8', daemon: '' }; // before mona.configs is first read
      assert.deepEqual(evalRoot(t, 'return mona.arguments.log, mona.arguments.daemon, mona.configs["arguments.log"]'), [8, '', 8]);
    } finally {
      await t.close();
    }
  });

  test(`${engine.name}: client.<protocolName> is client.parameters; the protocol's ini section typed`, opts, async () => {
    const s = await startLua(makeAppDir({ 'www/main.lua': 'function onConnection(c) last = c end' }), { lua });
    try {
      s.ctx.config.raw.RTMP = { port: '1936', chunkSize: 'auto' };
      const c = new FakeClient('', 'RTMP');
      c.properties.set('RTMFP', 'a property'); // another protocol's name stays a property
      s.ctx.connect(c, []);
      assert.deepEqual(evalRoot(s, 'return last.RTMP.port, last.parameters.chunkSize, last.RTMP == nil, last.RTMFP'), [1936, 'auto', false, 'a property']);
    } finally {
      await s.close();
    }
  });

  test(`${engine.name}: publication.listeners(client) and listeners[client]; writeInvocation without a name invokes onMessage`, opts, async () => {
    const s = await startLua(makeAppDir({ 'www/main.lua': '' }), { lua });
    try {
      const publisher = new FakeClient('', 'RTMP', '10.0.0.1:1');
      const player = new FakeClient('', 'RTMP', '10.0.0.2:2');
      const other = new FakeClient('', 'RTMP', '10.0.0.3:3');
      for (const c of [publisher, player, other]) s.ctx.connect(c, []);
      s.ctx.publications.publish(publisher, 'live');
      s.ctx.publications.subscribe(player, 'live', sink());
      const [found, same, clientOk, none, count] = evalRoot(
        s,
        `local p = mona.publications.live
         local player, other = mona.clients("${player.id}"), mona.clients("${other.id}")
         local l = p.listeners(player)
         return l ~= nil, p.listeners[player] == l, l.client == player, p.listeners(other) == nil and p.listeners[other] == nil, #p.listeners`,
      );
      assert.deepEqual([found, same, clientOk, none, count], [true, true, true, true, 1]);
      evalRoot(s, `mona.clients("${player.id}").writer:writeInvocation() mona.clients("${player.id}").writer:writeInvocation("named", 1)`);
      assert.deepEqual(
        player.mainWriter.sent.map((x) => (x.kind === 'invocation' ? [x.name, x.args] : null)),
        [
          ['onMessage', []],
          ['named', [1]],
        ],
      );
    } finally {
      await s.close();
    }
  });

  test(`${engine.name}: QoS from Lua: latency from the publisher's and the player's pings (or pushVideo's ping), publication.droppedFrames after a loss`, opts, async () => {
    const s = await startLua(makeAppDir({ 'www/main.lua': '' }), { lua });
    try {
      const publisher = new FakeClient('', 'RTMFP', '10.0.0.1:1');
      publisher.ping = 25;
      const player = new FakeClient('', 'RTMP', '10.0.0.2:2');
      player.ping = 70;
      for (const c of [publisher, player]) s.ctx.connect(c, []);
      const pub = s.ctx.publications.publish(publisher, 'q');
      s.ctx.publications.subscribe(player, 'q', sink());
      pub.pushVideo(0, key(1));
      pub.pushVideo(40, inter(2), undefined, 3); // three messages lost on the way: dropped until a key frame
      pub.pushVideo(80, inter(3));
      pub.pushVideo(120, key(4));
      const [pubLatency, playerLatency, dropped, lastTime] = evalRoot(
        s,
        `local p = mona.publications.q
         return p.videoQOS.latency, p.listeners(mona.clients("${player.id}")).videoQOS.latency, p.droppedFrames, p.lastTime`,
      );
      assert.deepEqual([pubLatency, playerLatency, dropped, lastTime], [25, 70, 2, 120]);
      // a script publication: pushVideo's ping is the sample
      assert.deepEqual(evalRoot(s, 'local p = mona:publish("scripted") p:pushVideo(0, "\\23\\1\\0\\0\\0\\1", 33) return p.videoQOS.latency, p.videoQOS.byteRate >= 0'), [33, true]);
    } finally {
      await s.close();
    }
  });

  test(`${engine.name}: shared and cyclic tables cross once each way (a message whose tables reference themselves used to hang the server)`, opts, async () => {
    const s = await startLua(makeAppDir({ 'www/main.lua': 'function f(t, chain) local n, c = 0, chain while c do n = n + 1 c = c.l end return t.a == t and t.b == t and t.c == t, chain.l == chain.r, n end' }), { lua });
    try {
      const t = new Table();
      t.set('a', t).set('b', t).set('c', t);
      // 60 levels, each referencing the next twice: 2^60 tables as a tree
      let chain = new Table();
      for (let i = 0; i < 59; i++) chain = new Table([], { l: chain, r: chain });
      const started = Date.now();
      const r = s.host.event(s.host.app('')!, 'f', writeValues, [t, chain]);
      assert.deepEqual(r, [true, true, 60]);
      assert.ok(Date.now() - started < 5000);
      // back from Lua: the same Table for the same Lua table (AMF writes references, then reads a cycle)
      const [back] = evalRoot(s, 'local x = {1} local t = {x, x} t.self = t return t');
      assert.ok(back instanceof Table && back.items[0] === back.items[1] && back.get('self') === back);
      assert.deepEqual(evalRoot(s, 'local t = {k = "v"} t.self = t local u = mona:fromAMF(mona:toAMF(t)) return u.self == u, u.k'), [true, 'v']);
    } finally {
      await s.close();
    }
  });

  test(`${engine.name}: SocketAddress and IPAddress records compare by value and concatenate`, opts, async () => {
    const s = await startLua(makeAppDir({ 'www/main.lua': '' }), { lua });
    try {
      assert.deepEqual(
        evalRoot(
          s,
          `local a, b = mona:createSocketAddress("127.0.0.1:80"), mona:createSocketAddress("127.0.0.1", 80)
           return a == b, a == mona:createSocketAddress("127.0.0.1:81"), "to " .. a, a.host .. "!", a.host == mona:createIPAddress("127.0.0.1")`,
        ),
        [true, false, 'to 127.0.0.1:80', '127.0.0.1!', true],
      );
    } finally {
      await s.close();
    }
  });
}

test('the command line reaches scripts as mona.arguments (parseArgs, then the server)', async () => {
  const options = parseArgs(['--log=8', '--dump', '--pidfile', 'x.pid']);
  assert.deepEqual(options.arguments, { log: '8', dump: '', pidfile: 'x.pid' });
  const server = await startTestServer({ apps: { '': 'seen = mona.arguments.log' }, arguments: options.arguments, off: ['RTMFP', 'RTMP'] });
  try {
    const root = (server.context.host as ScriptHost).app('');
    assert.deepEqual(root?.instance?.evaluate('return seen, mona.arguments.pidfile', '=test'), [8, 'x.pid']);
  } finally {
    await server.stop();
  }
});
