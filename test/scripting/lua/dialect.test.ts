/**
 * The Lua dialect MonaServer apps rely on, on every Lua engine of engines.ts
 * through the whole runtime: LuaJIT's number printing and doubles-only arithmetic, the 5.1/5.2
 * functions (module, unpack, loadstring, table.pack...), collectgarbage's options, `#` of
 * table.pack, bit, goto, children("a/b"), the error callbacks of the from/to conversions, fromXML's document
 * shortcuts, AMF Dates with MonaServer's fields, 15,000-argument calls and 64-level results, `data`
 * reading back as MonaServer returns it, binary-safe strings, pairs order.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { encodeAMF0 } from '../../../src/serialization/amf0';
import { decodeJSON } from '../../../src/serialization/json';
import { Table, toJS, type Value } from '../../../src/serialization/value';
import { evalIn, evalRoot, FakeClient, makeAppDir, startLua, type LuaTestServer } from '../lua-fixtures';
import { LUA_ENGINES } from './engines';

/** Registers `fn` once per Lua engine, with a host on `files` started on that engine. */
function dialect(name: string, files: Record<string, string>, fn: (s: LuaTestServer, dir: string, engine: string) => Promise<void> | void): void {
  for (const engine of LUA_ENGINES) {
    test(`${engine.name}: ${name}`, { skip: engine.skip }, async () => {
      const dir = makeAppDir(files);
      const s = await startLua(dir, { lua: engine.open });
      try {
        await fn(s, dir, engine.name);
      } finally {
        await s.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
}

dialect('numbers print as LuaJIT prints them; arithmetic is double arithmetic', { 'www/main.lua': '' }, (s) => {
  assert.deepEqual(evalRoot(s, 'return tostring(10/2), 10/2 .. "", string.format("%s", 2^53), tostring(math.floor(7 / 2))'), ['5', '5', '9.007199254741e+15', '3']);
  // integers above 2^53 print as floats
  assert.deepEqual(evalRoot(s, 'return tostring(2^53 + 1), tostring(2^63), tostring(12345678901234567890), tostring(-0.0), tostring(1/0), tostring(1e100)'), [
    '9.007199254741e+15',
    '9.2233720368548e+18',
    '1.2345678901235e+19',
    '-0',
    'inf',
    '1e+100',
  ]);
  assert.deepEqual(evalRoot(s, 'return 2147483647 + 1, 100000 * 100000, #"abc" * 1000000000, math.floor(2^40 + 0.5)'), [2147483648, 1e10, 3e9, 2 ** 40]);
  assert.deepEqual(evalRoot(s, 'local s = 0 for i = 1, 100000 do s = s + i * i end return s'), [333338333350000]);
  assert.deepEqual(evalRoot(s, 'return string.format("%d|%5d|%.2f", 2^40, 42, 1/3)'), ['1099511627776|   42|0.33']);
});

dialect('5.1/5.2 functions: unpack, loadstring, table.pack/unpack, math.pow, string.gfind, bit, goto', { 'www/main.lua': 'x = 5' }, (s) => {
  assert.deepEqual(evalRoot(s, 'return unpack({1, 2, 3})'), [1, 2, 3]);
  assert.deepEqual(evalRoot(s, 'return table.unpack({4, 5})'), [4, 5]);
  assert.deepEqual(evalRoot(s, 'local t = table.pack(1, nil, 3) return t.n, t[3]'), [3, 3]);
  // LuaJIT's border rule for table.pack: the holes count
  assert.deepEqual(evalRoot(s, 'return #table.pack(3.7, {}, nil, "hello"), select("#", unpack(table.pack(3.7, {}, nil, "hello")))'), [4, 4]);
  // loadstring chunks run in the app's environment
  assert.deepEqual(evalRoot(s, 'return loadstring("return x * 2")()'), [10]);
  assert.deepEqual(evalRoot(s, 'return math.pow(2, 10), math.fmod(7, 3), math.log10(1000)'), [1024, 1, 3]);
  assert.deepEqual(evalRoot(s, 'local r = {} for w in string.gfind("a b c", "%a") do r[#r+1] = w end return table.concat(r, ",")'), ['a,b,c']);
  assert.deepEqual(evalRoot(s, 'return bit.band(0xff, 0x0f), bit.bor(1, 2), bit.bxor(3, 1), bit.lshift(1, 31), bit.rshift(-1, 28), bit.tohex(255, 4), bit.tobit(2^32 + 5)'), [
    15, 3, 2, -2147483648, 15, '00ff', 5,
  ]);
  assert.deepEqual(evalRoot(s, 'return bit.bnot(0), bit.arshift(-256, 4), bit.rol(1, 33), bit.ror(1, 1), bit.bswap(0x12345678), bit.tohex(-1, -2)'), [-1, -16, 2, -2147483648, 0x78563412, 'FF']);
  assert.deepEqual(evalRoot(s, 'local i = 0 ::top:: i = i + 1 if i < 3 then goto top end return i'), [3]);
  assert.deepEqual(evalRoot(s, 'return table.getn({1,2}), table.maxn({[7]=1, [3]=2}), rawlen({1, 2, 3})'), [2, 7, 3]);
});

dialect('collectgarbage answers every LuaJIT option', { 'www/main.lua': '' }, (s) => {
  const [collect, collectDefault, count, step] = evalRoot(s, 'return collectgarbage("collect"), collectgarbage(), collectgarbage("count"), collectgarbage("step")');
  assert.equal(collect, 0);
  assert.equal(collectDefault, 0);
  assert.ok(typeof count === 'number' && count > 0, `count ${count}`);
  assert.equal(typeof step, 'boolean');
  assert.deepEqual(
    evalRoot(s, `return collectgarbage("setpause", 150), collectgarbage("setpause", 200), collectgarbage("setstepmul", 300), collectgarbage("setstepmul", 200),
      collectgarbage("stop"), collectgarbage("isrunning"), collectgarbage("restart"), collectgarbage("isrunning")`),
    [200, 150, 200, 300, 0, false, 0, true],
  );
  assert.throws(() => evalRoot(s, 'collectgarbage("bogus")'), /bad argument #1 to 'collectgarbage' \(invalid option 'bogus'\)/);
});

dialect(
  "module(), require/dofile/loadfile across folders (MonaServer's Require functional test)",
  {
    'www/main.lua': '',
    'www/Require/main.lua': 'local subdir = children("subdir")\nfunction run() return subdir.run() end',
    'www/Require/module2.lua': 'local M = {} local loaded = true function M.isLoaded() return loaded end return M',
    'www/Require/module3.lua': 'module("module3", package.seeall)\nlocal loaded3 = true\nfunction isLoaded() return loaded3 end\nwhere = _NAME .. "|" .. _PACKAGE .. "|" .. tostring(_M == module3)',
    'www/Require/module4.lua': 'local M4 = {} local loaded4 = true function M4.isLoaded() return loaded4 end return M4',
    'www/Require/subdir/module1.lua': 'local M = {} local loaded = true function M.isLoaded() return loaded end return M',
    'www/Require/subdir/main.lua': `
local module1 = dofile("module1.lua")
local module2 = dofile("module2.lua")
local module1bis = require("module1.lua")
local module2bis = require("module2.lua")
require("module3.lua")
local file4 = loadfile("module4.lua")
function run()
  assert(module1.isLoaded())
  assert(module2.isLoaded())
  assert(module3.isLoaded())
  assert(module1bis.isLoaded())
  assert(module2bis.isLoaded())
  local result, module4 = pcall(file4)
  assert(result)
  assert(module4.isLoaded())
  return true
end`,
  },
  (s) => {
    assert.deepEqual(evalIn(s, '/Require', 'return run()'), [true]);
    // module() made a global module table whose globals are the module's own
    assert.deepEqual(evalRoot(s, 'return type(module3), module3.where, package.loaded.module3 == module3'), ['table', 'module3||true', true]);
    // the rest of the calling chunk sees the module's globals (5.1's setfenv), package.seeall the standard ones
    assert.deepEqual(evalRoot(s, 'module("a.b.c", package.seeall) x = 1 return _NAME, _PACKAGE, type(print)'), ['a.b.c', 'a.b.', 'function']);
    assert.deepEqual(evalRoot(s, 'return a.b.c.x, x'), [1, null]);
  },
);

dialect(
  'children("a/b") loads nested apps; children of other paths are nil',
  {
    'www/main.lua': 'function nested() local c = children("LUATests/Databases") return c ~= nil, c and c.name, c and c.path, LUATests ~= nil end',
    'www/LUATests/main.lua': '',
    'www/LUATests/Databases/main.lua': 'value = 42',
  },
  (s) => {
    assert.deepEqual(s.host.loadedApps(), ['']);
    assert.deepEqual(evalRoot(s, 'return nested()'), [true, 'Databases', '/LUATests/Databases', true]);
    assert.deepEqual(s.host.loadedApps().sort(), ['', '/LUATests', '/LUATests/Databases']);
    assert.deepEqual(evalRoot(s, 'return LUATests.Databases.value, children("LUATests/missing"), children("../LUATests"), children("LUATests//Databases").value'), [42, null, null, 42]);
  },
);

const XML = '<?xml version="1.0" ?><document ><article ><p >This is the first paragraph.</p><h2 class="opt" >Title with opt style</h2></article><article ><p >Some<b >important</b>text.</p></article></document>';

dialect("mona:fromXML([errorCallback,] xml): document shortcuts (MonaServer's XML functional test)", { 'www/main.lua': `xml = ${JSON.stringify(XML)}` }, (s) => {
  assert.deepEqual(
    evalRoot(
      s,
      `local test = mona:fromXML(error, xml)
      for index, value in ipairs(test) do assert(index <= #test) end
      assert(test.xml.version == "1.0")
      assert(test.document == test[1])
      assert(test.document == test.__value)
      assert(test.document.article == test[1][1])
      assert(test.document.article == test[1].__value)
      assert(test.document.article.p == test[1][1][1])
      assert(test.document.article.p == test[1][1].__value)
      assert(test.document.article.p.__value == "This is the first paragraph.")
      test.document.article.p.__value = "This is the changed paragraph."
      assert(test.document.article.p.__value == "This is the changed paragraph.")
      assert(test[1][1][1][1] == "This is the changed paragraph.")
      test.document.article.p.__value = "This is the first paragraph."
      local again = mona:fromXML(mona:toXML(error, test))
      return again.document.article.h2.class, again.document[2].p[2].__value, again.document.article.p.__value, test.document.missing`,
    ),
    ['opt', 'important', 'This is the first paragraph.', null],
  );
  // a malformed document: the callback gets the message and nothing comes back
  assert.deepEqual(evalRoot(s, 'local got local r = mona:fromXML(function(e) got = e end, "<a><b></a>") return r, type(got)'), [null, 'string']);
  // `error` as the callback raises it in the script; no callback is a script error too
  assert.throws(() => evalRoot(s, 'mona:fromXML(error, "<a><b></a>")'), /XML/);
  assert.throws(() => evalRoot(s, 'mona:fromXML("<a><b></a>")'), /XML/);
});

dialect('the other from*/to* functions take the optional leading error callback', { 'www/main.lua': '' }, (s) => {
  assert.deepEqual(evalRoot(s, 'local a, b = mona:fromJSON(error, "[1,\\"x\\"]") return a, b'), [1, 'x']);
  assert.deepEqual(evalRoot(s, 'return mona:toJSON(error, {a = 1})'), ['[{"a":1}]']);
  assert.deepEqual(evalRoot(s, 'local got local r = mona:fromJSON(function(e) got = e end, "[1,") return r, got ~= nil'), [null, true]);
  assert.deepEqual(evalRoot(s, 'return mona:fromAMF(error, mona:toAMF0(error, "s"))'), ['s']);
  assert.deepEqual(toJS(evalRoot(s, 'return mona:fromQuery(error, "a=1&b=x")')[0]), { a: 1, b: 'x' });
  assert.deepEqual(evalRoot(s, 'return mona:fromXMLRPC(error, mona:toXMLRPC(error, "hi", 3))'), ['hi', 3]);
  assert.throws(() => evalRoot(s, 'mona:fromJSON(error, "[1,")'), /JSON/);
  assert.throws(() => evalRoot(s, 'mona:fromJSON("[1,")'), /JSON/);
});

dialect(
  "AMF Dates read into scripts carry MonaServer's fields beside __time",
  {
    'www/main.lua': `
function onConnection(client)
  function client:date(d) return d.__time, d.year, d.month, d.day, d.hour, d.min, d.sec, d.msec, d.yday, d.wday, d.isdst end
end
function fromAMF(bytes) local d = mona:fromAMF(bytes) return d.__time, d.year, d.month, d.day, d.hour, d.min, d.sec, d.msec, d.yday, d.wday, d.isdst end`,
  },
  (s) => {
    const expected = (ms: number): Value[] => {
      const d = new Date(ms);
      const jan = new Date(d.getFullYear(), 0, 1).getTimezoneOffset();
      const jul = new Date(d.getFullYear(), 6, 1).getTimezoneOffset();
      const yday = Math.round((Date.UTC(d.getFullYear(), d.getMonth(), d.getDate()) - Date.UTC(d.getFullYear(), 0, 1)) / 86_400_000);
      return [ms, d.getFullYear(), d.getMonth() + 1, d.getDate(), d.getHours(), d.getMinutes(), d.getSeconds(), d.getMilliseconds(), yday, d.getDay(), jan !== jul && d.getTimezoneOffset() === Math.min(jan, jul)];
    };
    const c = new FakeClient();
    s.ctx.connect(c, []);
    for (const ms of [Date.UTC(2024, 2, 10, 15, 4, 5, 678), Date.UTC(2023, 6, 15, 12, 0, 0, 1), new Date(2021, 0, 1, 12).getTime()]) {
      // an RPC argument that was an AMF Date on the wire
      assert.deepEqual(s.host.call(c, 'date', [Table.of({ __time: ms })]), expected(ms), new Date(ms).toISOString());
      // and mona:fromAMF of one
      assert.deepEqual(s.host.event(s.host.app('')!, 'fromAMF', (out, b: Buffer) => out.bytes(b), encodeAMF0(Table.of({ __time: ms }))), expected(ms));
    }
    // January 1st is yday 0, Sunday is wday 0 (MonaServer's numbering)
    const jan1 = new Date(2023, 0, 1, 10).getTime(); // a Sunday
    assert.deepEqual((s.host.call(c, 'date', [Table.of({ __time: jan1 })]) as Value[]).slice(8, 10), [0, 0]);
  },
);

dialect(
  'a call carrying 15,000 arguments (a JSON array body) and a result nested 64 levels deep',
  {
    'www/main.lua': `
function onConnection(client)
  function client:count(...) local n = select('#', ...) return n, (select(n, ...)), (select(1, ...)) end
  function client:deep() local t = { "leaf" } for i = 2, 64 do t = { t } end return t end
  function client:many() local t = {} for i = 1, 15000 do t[i] = i end return unpack(t) end
end
function decodeMany(json) return select('#', mona:fromJSON(json)) end`,
  },
  (s) => {
    const c = new FakeClient('', 'HTTP');
    s.ctx.connect(c, []);
    const body = Buffer.from(JSON.stringify(Array.from({ length: 15000 }, (_, i) => i + 1)));
    const args = decodeJSON(body);
    assert.equal(args.length, 15000);
    assert.deepEqual(s.host.call(c, 'count', args), [15000, 15000, 1]);
    assert.equal((s.host.call(c, 'many', []) as Value[]).length, 15000);
    // more arguments than the VM's stack can hold: that call fails, the state goes on
    assert.throws(() => s.host.call(c, 'count', new Array(2_000_000).fill(1)), { name: 'CallFailed', message: /too many values/ });
    assert.deepEqual(s.host.call(c, 'count', [7, 8]), [2, 8, 7]);
    assert.deepEqual(evalRoot(s, `return decodeMany(${JSON.stringify(body.toString())})`), [15000]);
    let [v] = s.host.call(c, 'deep', []) as Value[];
    let depth = 0;
    while (v instanceof Table) {
      depth++;
      v = v.items[0];
    }
    assert.equal(depth, 64);
    assert.equal(v, 'leaf');
  },
);

dialect(
  'data reads back as MonaServer returns it: the string form of what was assigned, booleans typed',
  {
    'www/main.lua': `
function save()
  data.number = 10
  assert(data.number ~= 10)
  assert(data.number == "10")
  assert(data["number"] == "10")
  data.number = data.number + 1
  assert(data.number == "11")
  data.t = {1, 2}
  assert(data.t[1] == "1" and data.t["1"] == "1" and data.t[2] == "2" and #data.t == 2)
  data.flag = true
  data.off = false
  data.float = 1.5
  data.big = 2^53
  data.text = "hello"
  return data.number, data.flag, data.off, data.float, data.big, data.number + 1
end
function load() return data.number, data.t[1], data.t["2"], data.flag, data.off, data.float, data.big, data.text, data.number + 1 end`,
  },
  async (s, dir, engine) => {
    assert.deepEqual(evalRoot(s, 'return save()'), ['11', true, false, '1.5', '9.007199254741e+15', 12]);
    assert.deepEqual(evalRoot(s, 'return load()'), ['11', '1', '2', true, false, '1.5', '9.007199254741e+15', 'hello', 12]);
    await s.close();
    // after a restart: the same
    const again = await startLua(dir, { lua: LUA_ENGINES.find((e) => e.name === engine)!.open });
    try {
      assert.deepEqual(evalRoot(again, 'return load()'), ['11', '1', '2', true, false, '1.5', '9.007199254741e+15', 'hello', 12]);
    } finally {
      await again.close();
    }
  },
);

dialect(
  "MonaServer's Databases functional test (data files written by MonaServer, data.subdir from the child)",
  {
    'www/main.lua': '',
    'www/Databases/main.lua': `
child = children("subdir")
function run()
  testInitialization() testNumber() testArray() testHash() testSubdir()
  assert(#data == 1)
  return true
end
function testInitialization()
  assert(data.init == true)
  assert(#data == 1)
  assert(data ~= nil)
  assert(data.subdir.init == true)
  assert(#data.subdir == 1)
end
function testNumber()
  data.number = 10
  assert(data.number ~= 10)
  assert(data.number == "10")
  assert(data["number"] == "10")
  data.number = data.number + 1
  assert(data.number == "11")
  assert(#data == 2)
  data.number = nil
end
function testArray()
  data.table = nil
  data.table = {1,2,3,4,5}
  local index = 1
  assert(data.table["1"] == "1")
  while index <= #data.table do
    assert(data.table[index] == ""..index)
    index = index + 1
  end
  data.table = nil
  assert(data["table"] == nil)
  assert(data.table == nil)
end
function testHash()
  data.hash = nil
  data.hash = {a="one",b="two",c={c1="three"}}
  assert(data.hash.a == "one")
  assert(data.hash["a"] == "one")
  assert(data.hash.b == "two")
  assert(data.hash.c.c1 == "three")
  assert(data.hash["c"]["c1"] == "three")
  data.hash = nil
  assert(data.hash == nil)
end
function testSubdir()
  child.testNumber()
  assert(data.subdir.number == "12")
  assert(#data.subdir == 2)
  data.subdir.number = nil
  assert(data.subdir.number == nil)
  assert(#data.subdir == 1)
end`,
    'www/Databases/subdir/main.lua': `
function testNumber()
  data.number = 12
  assert(data.number == "12")
  assert(data["number"] == "12")
  assert(#data == 2)
end`,
    // MonaServer's own data files for the test: the value "true" in a file named by its MD5
    'data/Databases/init/b326b5062b2f0e69046810717534cb09': 'true',
    'data/Databases/subdir/init/b326b5062b2f0e69046810717534cb09': 'true',
  },
  async (s, dir, engine) => {
    await s.close();
    // the data folder existed before the start: restart so that it is loaded
    const loaded = await startLua(dir, { lua: LUA_ENGINES.find((e) => e.name === engine)!.open });
    try {
      assert.deepEqual(evalIn(loaded, '/Databases', 'return run()'), [true]);
    } finally {
      await loaded.close();
    }
    assert.ok(!fs.existsSync(path.join(dir, 'data', 'Databases', 'number')));
  },
);

dialect('# and pairs honour __len and __pairs', { 'www/main.lua': '' }, (s) => {
  assert.deepEqual(
    evalRoot(
      s,
      `local t = setmetatable({}, { __len = function() return 42 end,
         __pairs = function(t) return function(_, k) if not k then return "only", 1 end end, t, nil end })
       local keys = "" for k, v in pairs(t) do keys = keys .. k .. v end
       return #t, keys`,
    ),
    [42, 'only1'],
  );
});

dialect('binary-safe strings both ways: every byte value, embedded zeros, invalid UTF-8', { 'www/main.lua': 'function echo(s) return s, #s, s:byte(1), s:byte(-1) end' }, (s) => {
  const all = Buffer.alloc(256);
  for (let i = 0; i < 256; i++) all[i] = i;
  const root = s.host.app('')!;
  const r = s.host.event(root, 'echo', (out, b: Buffer) => out.bytes(b), all);
  assert.ok(r && Buffer.isBuffer(r[0]) && r[0].equals(all));
  assert.deepEqual(r!.slice(1), [256, 0, 255]);
  // shared bytes (media payloads) cross the same way
  const shared = s.host.event(root, 'echo', (out, b: Buffer) => out.sharedBytes(b), all.subarray(200));
  assert.ok(shared && Buffer.isBuffer(shared[0]) && shared[0].equals(all.subarray(200)));
  // text stays text (valid UTF-8 comes out as a JS string)
  assert.deepEqual(s.host.event(root, 'echo', (out, t: string) => out.text(t), 'héllo ✓'), ['héllo ✓', 10, 104, 147]);
  assert.deepEqual(evalRoot(s, 'return #string.char(0, 0, 0), ("a\\0b"):len()'), [3, 3]);
});

dialect('pairs walks the array part 1..n in order first, then the other keys, like LuaJIT', { 'www/main.lua': '' }, (s) => {
  const order = (code: string): unknown[] => evalRoot(s, `local t = ${code} local r = {} for k in pairs(t) do r[#r+1] = tostring(k) end return table.concat(r, ",")`);
  assert.deepEqual(order('{10, 20, 30, x = 1}'), ['1,2,3,x']);
  // the other keys come in the order of LuaJIT's hash part (not insertion order): only which ones is fixed
  const [mixed] = order('(function() local t = {x = 1} t[3] = 3 t[1] = 1 t[2] = 2 t.z = 5 return t end)()') as string[];
  assert.equal(mixed.slice(0, 6), '1,2,3,');
  assert.deepEqual(mixed.slice(6).split(',').sort(), ['x', 'z']);
  // clearing during the traversal, nested traversals that stop early
  assert.deepEqual(evalRoot(s, 'local t = {1, 2, 3, a = 1, b = 2} local n = 0 for k in pairs(t) do t[k] = nil n = n + 1 end return n, next(t)'), [5, null]);
  assert.deepEqual(
    evalRoot(s, 'local t = {1,2,3,4,5,6,7,8,9,10} local r = {} for k in pairs(t) do for _ in pairs(t) do break end r[#r+1] = k end return table.concat(r, ",")'),
    ['1,2,3,4,5,6,7,8,9,10'],
  );
});

dialect('pairs visits every key exactly once on random tables (seeded), also while clearing', { 'www/main.lua': '' }, (s) => {
  let seed = 20261123;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  for (let trial = 0; trial < 150; trial++) {
    const model = new Map<string, string>(); // tostring(key) → Lua literal of the key
    const ops: string[] = [];
    for (let i = rnd(40); i > 0; i--) {
      const kind = rnd(4);
      const lit = kind === 0 || kind === 1 ? String(rnd(25) + 1) : kind === 2 ? `"k${rnd(15)}"` : `${rnd(8)}.5`;
      const name = lit.replace(/"/g, '');
      if (rnd(5) === 0) {
        ops.push(`t[${lit}] = nil`);
        model.delete(name);
      } else {
        ops.push(`t[${lit}] = ${i}`);
        model.set(name, lit);
      }
    }
    const clear = rnd(2) === 0;
    const code = `local t = {} ${ops.join(' ')} local seen = {} local list = {}
      for k in pairs(t) do local n = tostring(k) if seen[n] then error("twice " .. n) end seen[n] = true list[#list + 1] = n ${clear ? 't[k] = nil' : ''} end
      return table.concat(list, "|"), next(t) == nil`;
    const [visited, empty] = evalRoot(s, code);
    const got = String(visited).split('|').filter((x) => x !== '').sort();
    assert.deepEqual(got, [...model.keys()].sort(), `trial ${trial}: ${code}`);
    assert.equal(empty, clear || model.size === 0, `trial ${trial}`);
  }
});

dialect('a runaway script is interrupted, even through pcall; the state goes on', { 'www/main.lua': 'function spin() local ok = pcall(function() while true do end end) while true do end end' }, (s) => {
  s.host.callBudgetMs = 150;
  const root = s.host.app('')!;
  assert.throws(() => s.host.event(root, 'spin', null, null, true), /www\/main\.lua:1: script interrupted: still running after 150 ms/);
  assert.deepEqual(evalRoot(s, 'return 1 + 1'), [2]);
});
