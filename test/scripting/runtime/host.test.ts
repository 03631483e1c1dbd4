/**
 * The script runtime with two languages in one app tree (Lua and the fake engine of fake-engine.ts):
 * events an app does not define reach its parent's whatever the parent's language, in both
 * directions; an app's own handler wins; a main file changing language reloads the app in the new
 * engine; the API object model works through another engine's Args/Out (declared once).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { Level } from '../../../src/logs/levels';
import { toJS } from '../../../src/serialization/value';
import { luaEngineEntry } from '../../../src/scripting/lua/open';
import { ScriptHost } from '../../../src/scripting/runtime/host';
import { FakeClient, FakeWriter, makeAppDir, rewriteFile, startLua, type LuaTestServer } from '../lua-fixtures';
import { FakeArgs, FakeEngine, fakeEntry, FakeObject, FakeOut } from './fake-engine';

/** A test server whose script host runs Lua and the fake engine. */
async function start(files: Record<string, string>): Promise<LuaTestServer<ScriptHost> & { fakes: FakeEngine[] }> {
  const fakes: FakeEngine[] = [];
  const s = await startLua(makeAppDir(files), { host: (ctx) => new ScriptHost(ctx, [luaEngineEntry(), fakeEntry(fakes)]) });
  return { ...s, fakes };
}

const ROOT_LUA = `
function onConnection(client, ...) return { from = "lua root", app = client.path, n = select('#', ...) } end
function onStart(p) started = (started or "") .. "[" .. p .. "]" end
`;

test('a fake-language app under a Lua parent falls back to the parent\'s events; its own win', async () => {
  const s = await start({
    'www/main.lua': ROOT_LUA,
    'www/fakeapp/main.fake': JSON.stringify({ events: { onDisconnection: [] } }),
    'www/own/main.fake': JSON.stringify({ events: { onConnection: [{ from: 'fake own' }] } }),
  });
  try {
    const c = new FakeClient('/fakeapp');
    const r = s.ctx.connect(c, ['x', 'y']);
    assert.deepEqual(toJS(r), { from: 'lua root', app: '/fakeapp', n: 2 });
    // onStart of the fake app: it has none, the Lua root's ran with the child's path
    assert.deepEqual(s.host.app('')!.instance!.evaluate('return started', '=t'), ['[][/fakeapp]']);
    s.ctx.disconnect(c);
    const fake = s.fakes[0];
    assert.equal(s.fakes.length, 1, 'one engine per language, made on first use');
    assert.deepEqual(
      fake.calls.map((x) => `${x.app}:${x.event}`),
      ['/fakeapp:onDisconnection'],
    );
    assert.ok(fake.calls[0].args[0] instanceof FakeObject && (fake.calls[0].args[0] as FakeObject).obj === c, 'the client crossed as an API object');
    // an app's own handler wins over its parent's
    assert.deepEqual(toJS(s.ctx.connect(new FakeClient('/own'), [])), { from: 'fake own' });
  } finally {
    await s.close();
  }
});

test('a Lua app under a fake-language parent reaches the parent\'s handlers', async () => {
  const s = await start({
    'www/main.lua': '',
    'www/fakeparent/main.fake': JSON.stringify({ events: { onConnection: [{ from: 'fake parent' }], onManage: [] }, values: { greeting: 'from fake' } }),
    'www/fakeparent/luachild/main.lua': 'function hello() return "lua child, globals of its own" end',
  });
  try {
    const c = new FakeClient('/fakeparent/luachild');
    assert.deepEqual(toJS(s.ctx.connect(c, [1])), { from: 'fake parent' });
    const calls = s.fakes[0].calls.filter((x) => x.event === 'onConnection');
    assert.equal(calls.length, 1);
    assert.equal(calls[0].app, '/fakeparent');
    assert.equal((calls[0].args[0] as FakeObject).obj, c);
    assert.equal(calls[0].args[1], 1);
    const app = s.host.app('/fakeparent/luachild')!;
    // the parent's globals reach the Lua child through the runtime: as `super.x` and as inherited globals
    assert.deepEqual(app.instance!.evaluate('return hello(), name, tostring(super), super.greeting, greeting', '=t'), [
      'lua child, globals of its own',
      'luachild',
      'application /fakeparent',
      'from fake',
      'from fake',
    ]);
  } finally {
    await s.close();
  }
});

test('a main file of another language reloads the app in that engine; its loaded children load again', async () => {
  const s = await start({
    'www/main.lua': ROOT_LUA,
    'www/app/main.fake': JSON.stringify({ events: { onConnection: [{ v: 'fake' }] } }),
    'www/app/child/main.lua': 'x = 1',
  });
  try {
    assert.deepEqual(toJS(s.ctx.connect(new FakeClient('/app/child'), [])), { v: 'fake' });
    fs.rmSync(path.join(s.dir, 'www/app/main.fake'));
    rewriteFile(s.dir, 'www/app/main.lua', 'function onConnection() return { v = "lua now" } end');
    for (const p of s.host.loadedApps()) (s.host as unknown as { apps: Map<string, { lastCheck: number }> }).apps.get(p)!.lastCheck = 0;
    assert.deepEqual(toJS(s.ctx.connect(new FakeClient('/app'), [])), { v: 'lua now' });
    assert.deepEqual(s.fakes[0].unlinked, ['/app']);
    assert.ok(!s.host.loadedApps().includes('/app/child'), 'the child linked to the old instance was unloaded');
    assert.deepEqual(toJS(s.ctx.connect(new FakeClient('/app/child'), [])), { v: 'lua now' });
    assert.ok(s.logger.at(Level.INFO).some((l) => l.includes('application /app reloaded (main.lua added)')), s.logger.lines.map((l) => l.message).join('\n'));
  } finally {
    await s.close();
  }
  assert.ok(s.fakes[0].closed, 'engines close with the host');
});

test('the API object model is engine-neutral: mona, client and writer descriptors through another engine\'s Args/Out', async () => {
  const s = await start({
    'www/main.lua': '',
    'www/fake/main.fake': JSON.stringify({ events: { onStart: { mona: ['split', ' a, b ,,c', ',', 3] } } }),
  });
  try {
    s.host.app('/fake');
    assert.deepEqual(s.fakes[0].monaResults, [['a', 'b', 'c']]);
    const { objects, mona } = s.host;
    const c = new FakeClient('', 'WebSocket');
    s.ctx.connect(c, []);
    const read = (fn: (out: FakeOut) => void): unknown[] => {
      const out = new FakeOut();
      fn(out);
      return out.values;
    };
    assert.deepEqual(read((out) => objects.client.properties!.protocol(c, out)), ['WebSocket']);
    assert.deepEqual(read((out) => objects.client.properties!.id(c, out)), [c.id]);
    const [writer] = read((out) => objects.client.properties!.writer(c, out));
    assert.ok(writer instanceof FakeObject && writer.obj === c.writer && writer.cls === objects.writer);
    objects.writer.methods!.writeInvocation(c.writer, new FakeArgs(['onPush', 1, 'two']), new FakeOut());
    assert.deepEqual((c.writer as FakeWriter).sent[0], { kind: 'invocation', name: 'onPush', args: [1, 'two'] });
    objects.writer.setters!.reliable(c.writer, new FakeArgs([false]));
    assert.equal(c.writer.reliable, false);
    // methods read what they need without converting the rest: bytes stay bytes
    const md5 = read((out) => mona.cls.methods!.md5(mona.obj, new FakeArgs([Buffer.from([0xff, 0x00])]), out));
    assert.ok(Buffer.isBuffer(md5[0]) && md5[0].length === 16);
    // collections: len and pairs (key, value...)
    assert.equal(objects.clients.len!(s.ctx.clients), 1);
    const pairs = read((out) => objects.clients.pairs!(s.ctx.clients, out));
    assert.equal(pairs[0], c.id);
    assert.equal((pairs[1] as FakeObject).obj, c);
    // a refusal raised by a method is the engine's error
    assert.throws(() => objects.writer.methods!.writeStatusResponse(c.writer, new FakeArgs([]), new FakeOut()), /writeStatusResponse needs a code/);
  } finally {
    await s.close();
  }
});
