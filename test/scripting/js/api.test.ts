/**
 * JavaScript and TypeScript apps through the script runtime (in process, fake clients): events as
 * exported functions and their refusals, RPC functions set on the client, the object model bound
 * generically (getters, methods, collections, callables, records), values both ways, `data`,
 * modules (require from the app tree, Node's modules, TypeScript, ES modules, JSON), hot reload,
 * timers, async functions, error positions, and mixed trees with Lua apps in both directions.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { Level } from '../../../src/logs/levels';
import { Table, toJS, type Value } from '../../../src/serialization/value';
import { evalIn, expireReloadChecks, FakeClient, makeAppDir, rewriteFile, startLua, type LuaTestServer } from '../lua-fixtures';

function start(files: Record<string, string>): Promise<LuaTestServer> {
  return startLua(makeAppDir(files));
}

async function stop(s: LuaTestServer): Promise<void> {
  await s.close();
  fs.rmSync(s.dir, { recursive: true, force: true });
}

function errors(s: LuaTestServer): string[] {
  return s.logger.lines.filter((l) => l.level <= Level.ERROR).map((l) => `${l.source}: ${l.message}`);
}

const ROOT_JS = `
export function onConnection(client, login) {
  if (login === 'intruder') throw new Error('you are not Tom!');
  if (login === 'silent') throw new Error();
  if (login === 'text') throw 'plain text';
  client.add = (a, b) => a + b;
  client.hello = function (name) { return 'Hello ' + name + ' from ' + this.path + '/' + app.path; };
  client.fail = () => { null.boom; };
  client.failMessage = () => { throw new Error('boom'); };
  client.echo = (...args) => args;
  client.types = (v) => [typeof v, Buffer.isBuffer(v), v instanceof Date, Array.isArray(v), v instanceof Map];
  client.later = async (x) => { await new Promise((r) => setTimeout(r, 5)); return x * 2; };
  client.laterFail = async () => { await null; throw new Error('async boom'); };
  client.push = () => { client.writer.writeInvocation('onPush', 1, 'two', { three: 3 }); client.writer.flush(); };
  client.props = () => ({ id: client.id, protocol: client.protocol, address: client.address, custom: client.custom, viaProperties: client.properties.custom, n: client.properties.size });
  return { message: 'welcome', login };
}
`;

test('JS events: onConnection results, refusals with the thrown message, RPC results and Call.Failed with file:line', async () => {
  const s = await start({ 'www/main.js': ROOT_JS });
  try {
    const c = new FakeClient('');
    assert.deepEqual(toJS(s.ctx.connect(c, ['Tom'])), { message: 'welcome', login: 'Tom' });
    for (const [login, message] of [
      ['intruder', 'you are not Tom!'],
      ['silent', 'client rejected'],
      ['text', 'plain text'],
    ]) {
      assert.throws(() => s.ctx.connect(new FakeClient(''), [login]), { name: 'ConnectionRejected', message });
    }
    assert.deepEqual(s.host.call(c, 'add', [40, 2]), [42]);
    assert.deepEqual(s.host.call(c, 'hello', ['Bob']), ['Hello Bob from /']);
    assert.throws(() => s.host.call(c, 'fail', []), { name: 'CallFailed', message: "www/main.js:8: TypeError: Cannot read properties of null (reading 'boom')" });
    assert.throws(() => s.host.call(c, 'failMessage', []), { name: 'CallFailed', message: 'www/main.js:9: boom' });
    assert.throws(() => s.host.call(c, 'nothing', []), { name: 'MethodNotFound' });
    // properties of the API are never called as RPC
    assert.throws(() => s.host.call(c, 'writer', []), { name: 'MethodNotFound' });
    assert.ok(errors(s).includes('www/main.js:9: boom'), 'the operator sees RPC errors with their position');
    // async functions answer when they settle
    assert.deepEqual(await s.host.call(c, 'later', [21]), [42]);
    await assert.rejects(async () => s.host.call(c, 'laterFail', []), { name: 'CallFailed', message: 'www/main.js:13: async boom' });
    s.host.call(c, 'push', []);
    assert.deepEqual(c.mainWriter.sent.slice(-2), [
      { kind: 'invocation', name: 'onPush', args: [1, 'two', Table.of({ three: 3 })] },
      { kind: 'flush', full: true },
    ]);
    c.properties.set('custom', 'yes');
    assert.deepEqual(toJS((s.host.call(c, 'props', []) as Value[])[0]), { id: c.id, protocol: 'RTMP', address: '127.0.0.1:50000', custom: 'yes', viaProperties: 'yes', n: 1 });
  } finally {
    await stop(s);
  }
});

test('values cross as plain JS: arrays, objects, Buffers for bytes, Dates, Maps for other keys, and back', async () => {
  const s = await start({ 'www/main.js': ROOT_JS });
  try {
    const c = new FakeClient('');
    s.ctx.connect(c, []);
    const blob = Buffer.from([0, 255, 1, 128]);
    const dict = new Table([], new Map<never, Value>([[1.5 as never, 'x'], [true as never, 'y']]));
    const mixed = new Table(['a', 'b'], new Map([['name', 'n']]));
    const date = Table.of({ __time: Date.UTC(2024, 0, 2) });
    const [echo] = s.host.call(c, 'echo', [Table.of({ a: Table.list([1, 2]), b: true }), blob, 'text', 1.5, null, mixed, dict, date]) as Value[];
    const items = (echo as Table).items;
    assert.deepEqual(toJS(items[0]), { a: [1, 2], b: true });
    assert.ok(Buffer.isBuffer(items[1]) && (items[1] as Buffer).equals(blob));
    assert.deepEqual(items.slice(2, 5), ['text', 1.5, null]);
    assert.deepEqual((items[5] as Table).items, ['a', 'b']);
    assert.equal((items[5] as Table).get('name'), 'n');
    assert.equal((items[6] as Table).get(1.5 as never), 'x');
    assert.equal((items[7] as Table).get('__time'), Date.UTC(2024, 0, 2));
    const types = (v: Value) => toJS((s.host.call(c, 'types', [v]) as Value[])[0]);
    assert.deepEqual(types(blob), ['object', true, false, false, false]);
    assert.deepEqual(types(date), ['object', false, true, false, false]);
    assert.deepEqual(types(mixed), ['object', false, false, true, false]);
    assert.deepEqual(types(dict), ['object', false, false, false, true]);
    assert.deepEqual(types(Table.of({ ['__proto__']: 1 })), ['object', false, false, false, false]);
  } finally {
    await stop(s);
  }
});

test('the object model in JS: getters, methods, Map-like collections, callables, list methods, records, errors as throws', async () => {
  const s = await start({
    'www/main.js': `
export function onConnection(client) {
  client.inspect = () => {
    const ids = [];
    for (const [id, c] of mona.clients) ids.push(id === c.id);
    const pub = mona.publish('js-pub');
    pub.writeProperties({ width: 640 });
    const pubs = [...mona.publications.keys()];
    const props = pub.properties;
    const listeners = pub.listeners.size;
    let invalid;
    try { mona.createIPAddress('not an ip'); } catch (e) { invalid = e.message; }
    const ip = mona.createIPAddress('192.168.1.2');
    let ended;
    try { pub.close(); pub.flush(); } catch (e) { ended = e.message; }
    return {
      ids, size: mona.clients.size, count: mona.clients.count,
      same: mona.clients(client.id) === client, byKey: mona.clients[client.id] === client, get: mona.clients.get(client.id) === client,
      has: mona.clients.has('nope'), pubs, props, listeners,
      split: mona.split('a', ','), split2: mona.split('a, b', ',', 2), md5: mona.md5('x')[0].toString('hex'),
      invalid, ip: String(ip), siteLocal: ip.isSiteLocal, text: String(client), tag: Object.prototype.toString.call(client),
      json: mona.fromJSON('[1, {"a": 2}]'), toJSON: mona.toJSON({ a: [1] }), time: typeof mona.time(), ended,
      endedName: pub.name, reliable: client.writer.reliable,
    };
  };
  client.setReliable = (v) => { client.writer.reliable = v; return client.writer.reliable; };
  client.assignGetter = () => { client.id = 'x'; };
}
`,
  });
  try {
    const c = new FakeClient('');
    s.ctx.connect(c, []);
    const r = toJS((s.host.call(c, 'inspect', []) as Value[])[0]) as Record<string, unknown>;
    assert.deepEqual(r.ids, [true]);
    assert.equal(r.size, 1);
    assert.equal(r.count, 1);
    assert.equal(r.same, true);
    assert.equal(r.byKey, true);
    assert.equal(r.get, true);
    assert.equal(r.has, false);
    assert.deepEqual(r.pubs, ['js-pub']);
    assert.deepEqual(r.props, { width: 640 });
    assert.equal(r.listeners, 0);
    assert.deepEqual(r.split, ['a'], 'a list method gives an array even of one');
    assert.deepEqual(r.split2, ['a', 'b']);
    assert.equal(r.md5, '9dd4e461268c8034f5c8564e155c67a6');
    assert.equal(r.invalid, 'not a valid IP address', "Lua's nil, message is a throw");
    assert.equal(r.ip, '192.168.1.2');
    assert.equal(r.siteLocal, true);
    assert.equal(r.text, `Client ${c.id}`);
    assert.equal(r.tag, '[object Client]');
    assert.deepEqual(r.json, [1, { a: 2 }]);
    assert.equal(r.toJSON, '[{"a":[1]}]', "MonaServer's toJSON: its arguments as one JSON array");
    assert.equal(r.time, 'number');
    assert.equal(r.ended, 'Publication.flush: not called on a live Publication', 'an object that ended stops answering');
    assert.equal(r.endedName, undefined);
    assert.equal(r.reliable, true);
    assert.deepEqual(s.host.call(c, 'setReliable', [false]), [false]);
    assert.throws(() => s.host.call(c, 'assignGetter', []), (e: Error) => /^www\/main\.js:\d+: TypeError: Cannot set property id/.test(e.message));
  } finally {
    await stop(s);
  }
});

test('publication events in JS: onPublish false or a throw refuses, onSubscribe too, onVideo gets every packet without a copy', async () => {
  const s = await start({
    'www/main.js': `
const seen = [];
export function onConnection(client) {
  client.onPublish = (p) => {
    if (p.name === 'forbidden') return false;
    if (p.name === 'thrown') throw new Error('not today');
    p.onVideo = (time, packet) => seen.push([time, packet.length, packet[0]]);
  };
  client.onSubscribe = (listener) => listener.publication.name !== 'private';
  client.seen = () => seen;
}
`,
  });
  try {
    const c = new FakeClient('');
    s.ctx.connect(c, []);
    assert.throws(() => s.ctx.publications.publish(c, 'forbidden'), { name: 'StreamRefused', message: 'Not allowed to publish forbidden' });
    assert.throws(() => s.ctx.publications.publish(c, 'thrown'), { name: 'StreamRefused', message: 'not today' });
    const p = s.ctx.publications.publish(c, 'cam');
    p.pushVideo(10, Buffer.from([0x17, 1, 2]));
    p.pushVideo(20, Buffer.from([0x27, 1]));
    assert.deepEqual(toJS((s.host.call(c, 'seen', []) as Value[])[0]), [
      [10, 3, 0x17],
      [20, 2, 0x27],
    ]);
    s.ctx.publications.publish(c, 'private');
    const sink = { writeAudio() {}, writeVideo() {}, writeData() {}, writeProperties() {}, onEnd() {}, flush() {} };
    assert.throws(() => s.ctx.publications.subscribe(c, 'private', sink as never), { name: 'StreamRefused', message: 'Not authorized to play private' });
  } finally {
    await stop(s);
  }
});

test('data in JS: text reads, typed booleans, copies of objects and arrays, delete, keys, errors in the assigning line; kept across a restart', async () => {
  const dir = makeAppDir({
    'www/main.js': `
export function onStart(path) {
  if (path !== '') return;
  data.starts = Number(data.starts ?? 0) + 1;
}
export function run() {
  data.n = 10;
  data.flag = true;
  data.off = false;
  data.obj = { a: 1, list: ['x', 'y'], sub: { deep: 'z' } };
  data.tmp = 'gone soon';
  delete data.tmp;
  data.removed = 'x';
  data.removed = undefined;
  data.copy = data.obj;
  let error;
  try { data.fn = () => 1; } catch (e) { error = e.message; }
  const keys = [];
  for (const k in data) keys.push(k);
  return {
    n: data.n, typeofN: typeof data.n, flag: data.flag, off: data.off, a: data.obj.a, list0: data.obj.list[0],
    deep: data.obj.sub.deep, copyDeep: data.copy.sub.deep, tmp: data.tmp === undefined ? 'none' : data.tmp, has: 'obj' in data, hasTmp: 'tmp' in data,
    keys: keys.sort(), objectKeys: Object.keys(data.obj).sort(), json: JSON.parse(JSON.stringify(data.obj.sub)), error,
  };
}
`,
    'www/child/.keep': '',
  });
  let s = await startLua(dir);
  try {
    const r = toJS(evalIn(s, '', 'return exports.run();')[0]) as Record<string, unknown>;
    assert.deepEqual(r, {
      n: '10',
      typeofN: 'string',
      flag: true,
      off: false,
      a: '1',
      list0: 'x',
      deep: 'z',
      copyDeep: 'z',
      tmp: 'none',
      has: true,
      hasTmp: false,
      keys: ['copy', 'flag', 'n', 'obj', 'off', 'starts'],
      objectKeys: ['a', 'list', 'sub'],
      json: { deep: 'z' },
      error: 'data.fn: a function cannot be stored',
    });
    // a child app's data is data.child of the root's
    assert.deepEqual(evalIn(s, '/child', "data.mine = 'hers'; return app.super.data.child.mine;"), ['hers']);
  } finally {
    await s.close();
  }
  s = await startLua(dir);
  try {
    assert.deepEqual(evalIn(s, '', 'return [data.starts, data.n, data.obj.list[1], data.flag];').map(toJS), [['2', '10', 'y', true]]);
  } finally {
    await stop(s);
  }
});

test('modules: require from the app folder then its parents, relative paths, JSON, Node modules, "monats", TypeScript and ES modules', async () => {
  const s = await start({
    'www/lib.js': `exports.where = 'www/lib.js'; exports.appPath = app.path;`,
    'www/shared/util.ts': `export const twice = (n: number): number => n * 2;`,
    'www/config.json': `{ "answer": 42 }`,
    'www/games/main.ts': `
import { twice } from './helpers';
import * as os from 'node:os';
import lib = require('lib');
import { mona as m, data as d } from 'monats';
const config = require('config.json');
const util = require('shared/util');
export function info() {
  return { twice: twice(21), lib: lib.where, libApp: lib.appPath, answer: config.answer, utilTwice: util.twice(2), os: typeof os.cpus, mona: m === mona, data: d.x === undefined };
}
`,
    'www/games/helpers.ts': `export function twice(n: number): number { return 2 * n; }`,
  });
  try {
    assert.deepEqual(toJS(evalIn(s, '/games', 'return exports.info();')[0]), {
      twice: 42,
      lib: 'www/lib.js',
      libApp: '/games',
      answer: 42,
      utilTwice: 4,
      os: 'function',
      mona: true,
      data: true,
    });
    assert.deepEqual(errors(s), []);
  } finally {
    await stop(s);
  }
});

test('TypeScript: a syntax error is reported with file:line, a runtime error points at the .ts line', async () => {
  const s = await start({
    'www/main.js': '',
    'www/broken/main.ts': `// line 1
const ok: number = 1;
const bad: number = ;
`,
    'www/thrower/main.ts': `// line 1
interface T { a: number }

export function onConnection(client: any): void {
  const t: T = { a: 1 };
  client.f = (): never => { throw new Error('from ts ' + t.a); };
}
`,
  });
  try {
    assert.equal(s.host.app('/broken') !== null, true);
    assert.ok(
      errors(s).some((l) => /^www\/broken\/main\.ts:3: Unexpected token/.test(l)),
      errors(s).join('\n'),
    );
    const c = new FakeClient('/thrower');
    s.ctx.connect(c, []);
    assert.throws(() => s.host.call(c, 'f', []), { name: 'CallFailed', message: 'www/thrower/main.ts:6: from ts 1' });
  } finally {
    await stop(s);
  }
});

test('hot reload: main.js rewritten, a required file rewritten; the app\'s timers stop when it reloads', async () => {
  const s = await start({
    'www/main.js': '',
    'www/app/main.js': `
import { version } from './version';
let ticks = 0;
setInterval(() => { ticks++; data.oldTicks = ticks; }, 5);
export function info() { return { version, main: 1, ticks }; }
`,
    'www/app/version.js': `export const version = 'v1';`,
  });
  try {
    const info = () => toJS(evalIn(s, '/app', 'return exports.info();')[0]) as { version: string; main: number; ticks: number };
    assert.deepEqual([info().version, info().main], ['v1', 1]);
    await new Promise((r) => setTimeout(r, 30));
    assert.ok(Number(evalIn(s, '/app', 'return data.oldTicks;')[0]) > 0, 'the interval runs while its app is loaded');
    rewriteFile(s.dir, 'www/app/version.js', `export const version = 'v2';`);
    expireReloadChecks(s.host);
    assert.deepEqual([info().version, info().main], ['v2', 1]);
    assert.ok(s.logger.at(Level.INFO).some((l) => /application \/app reloaded \(www\/app\/version\.js changed\)/.test(l)));
    rewriteFile(s.dir, 'www/app/main.js', `export function info() { return { version: 'none', main: 2, ticks: -1 }; }`);
    expireReloadChecks(s.host);
    assert.deepEqual(info(), { version: 'none', main: 2, ticks: -1 });
    // the old interval was cleared with its app: nothing of the old code runs any more
    const ticks = () => evalIn(s, '/app', 'return data.oldTicks;')[0];
    const before = ticks();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(ticks(), before);
  } finally {
    await stop(s);
  }
});

test('errors outside calls: a timer callback that throws, an async event that rejects: logged with file:line', async () => {
  const s = await start({
    'www/main.js': `
setTimeout(() => { throw new Error('from a timer'); }, 1);
export async function onStart() { await null; throw new Error('async event'); }
`,
  });
  try {
    await new Promise((r) => setTimeout(r, 50));
    const logged = errors(s);
    assert.ok(logged.includes('www/main.js:2: from a timer'), logged.join('\n'));
    assert.ok(logged.includes('www/main.js:3: async event'), logged.join('\n'));
  } finally {
    await stop(s);
  }
});

test('log functions print the caller\'s file:line; INFO concatenates like Lua', async () => {
  const s = await start({ 'www/main.js': `export function onStart() {\n  INFO('a', 1, ' ', { b: [2] }, ' ', null);\n}` });
  try {
    assert.ok(s.logger.at(Level.INFO).includes('www/main.js:2: a1 { b: [ 2 ] } null'), s.logger.at(Level.INFO).join('\n'));
  } finally {
    await stop(s);
  }
});

test('mixed trees: a JS app under a Lua parent and a Lua app under a JS parent reach each other\'s events and values', async () => {
  const s = await start({
    'www/main.lua': `
greeting = "hello from lua"
list = { 1, 2, x = "y" }
function double(n) return n * 2 end
function onConnection(client, ...)
  function client:luaSide() return "lua method" end
  return { from = "lua root", n = select('#', ...) }
end
`,
    'www/js/main.js': `
export const jsValue = { nested: ['a'] };
export function triple(n) { return n * 3; }
export function onConnection(client, ...args) {
  const r = app.super.onConnection(client, ...args);
  client.jsSide = () => [app.super.greeting, app.greeting, app.super.list, app.double(21), app.super.path, String(app.super)];
  return { ...r, js: true };
}
`,
    'www/js/luachild/main.lua': `
function onConnection(client)
  function client:fromLua() return super.jsValue.nested[1], super.triple(5), greeting, jsValue.nested[1], super:triple(2), super.greeting end
  return { from = "lua child of js" }
end
`,
    'www/js/inherits/.keep': '',
  });
  try {
    // JS under Lua: its onConnection calls the Lua parent's and adds to its result
    const c = new FakeClient('/js');
    assert.deepEqual(toJS(s.ctx.connect(c, ['a', 'b'])), { from: 'lua root', n: 2, js: true });
    assert.deepEqual(toJS((s.host.call(c, 'jsSide', []) as Value[])[0]), ['hello from lua', 'hello from lua', { 1: 1, 2: 2, x: 'y' }, 42, '', 'application /']);
    assert.deepEqual(s.host.call(c, 'luaSide', []), ['lua method'], 'the Lua parent defined methods on the same client');
    // Lua under JS: values and functions of the JS parent (and, through it, of the Lua root)
    const l = new FakeClient('/js/luachild');
    assert.deepEqual(toJS(s.ctx.connect(l, [])), { from: 'lua child of js' });
    assert.deepEqual(s.host.call(l, 'fromLua', []), ['a', 15, 'hello from lua', 'a', 6, 'hello from lua']);
    // an app without a main file behaves as its JS parent
    const i = new FakeClient('/js/inherits');
    assert.deepEqual(toJS(s.ctx.connect(i, [])), { from: 'lua root', n: 0, js: true });
    // app objects: children, child(), super
    assert.deepEqual(evalIn(s, '/js', "return [...app.children.keys()].sort().join(',') + '|' + app.child('luachild').path + '|' + app.child('nope');"), ['inherits,luachild|/js/luachild|null']);
    assert.deepEqual(errors(s), []);
  } finally {
    await stop(s);
  }
});

test('the bundled sample\'s JS and TS apps: the chat room broadcasts and counts in data; api/ adds to the Lua root\'s onConnection', async () => {
  const dir = makeAppDir({});
  fs.cpSync(path.join(__dirname, '..', '..', '..', '..', 'www'), path.join(dir, 'www'), { recursive: true });
  const s = await startLua(dir);
  try {
    const ann = new FakeClient('/chat', 'WebSocket');
    const bob = new FakeClient('/chat', 'WebSocket');
    s.ctx.connect(ann, []);
    s.ctx.connect(bob, []);
    assert.deepEqual(toJS((s.host.call(ann, 'join', ['Ann']) as Value[])[0]), ['Ann']);
    assert.deepEqual(toJS((s.host.call(bob, 'join', ['Bob']) as Value[])[0]), ['Ann', 'Bob']);
    s.host.call(ann, 'say', ['hi']);
    assert.deepEqual(bob.mainWriter.sent.map((m) => (m.kind === 'invocation' ? [m.name, ...m.args] : m.kind)), [
      ['onChat', 'Bob joined'],
      ['onChat', 'Ann: hi'],
    ]);
    assert.deepEqual((await s.host.call(ann, 'history', [])).map(toJS), [{ messages: 1, members: 2 }]);
    assert.throws(() => s.host.call(ann, 'join', ['']), { name: 'CallFailed', message: /^www\/chat\/main\.ts:\d+: join takes a name$/ });
    s.ctx.disconnect(bob);
    assert.deepEqual(ann.mainWriter.sent.at(-1), { kind: 'invocation', name: 'onChat', args: ['Bob left'] });
    const c = new FakeClient('/api', 'HTTP');
    assert.deepEqual(toJS(s.ctx.connect(c, [])), { message: 'welcome' });
    assert.match(String((s.host.call(c, 'time', []) as Value[])[0]), /^\d{4}-\d\d-\d\dT/);
    assert.deepEqual(s.host.call(c, 'hello', ['Zoe']), ['Hello Zoe'], "the Lua root's method on the same client");
    assert.deepEqual(errors(s), ['www/chat/main.ts:14: join takes a name'], 'only the refused join');
  } finally {
    await stop(s);
  }
});
