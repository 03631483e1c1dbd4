/**
 * The LuaJIT engine (src/scripting/lua/luajit.ts + native/luajit) on its own, against the LuaAPI
 * contract: stack semantics, values both ways, errors from JS functions and from operations, the
 * call budget (inside pcall, inside compiled loops, inside the pattern matcher), the memory cap,
 * many arguments, deep results, tags and refs.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { after, describe, test } from 'node:test';
import { LuaStatus, LuaType, LUA_MULTRET, type LuaAPI } from '../../../src/scripting/lua/api';
import { LuaJIT, luajitUnavailable } from '../../../src/scripting/lua/luajit';

// CI installs libluajit-5.1-dev and builds the addon: there a missing addon is a failure
const unavailable = luajitUnavailable();
if (unavailable && process.env.CI) throw new Error(unavailable);
const opts = { skip: unavailable ?? false };

const opened: LuaJIT[] = [];
function open(budgetMs = 0, memoryLimit = 256 * 1024 * 1024): LuaJIT {
  const L = new LuaJIT({ callBudgetMs: budgetMs, memoryLimit });
  opened.push(L);
  return L;
}
after(() => {
  for (const L of opened) {
    try {
      L.close();
    } catch {
      // already closed by the test
    }
  }
});

function load(L: LuaAPI, code: string, name = '=test'): void {
  const st = L.load(Buffer.from(code), name);
  if (st !== LuaStatus.OK) throw new Error(`load: ${L.tostring(-1)}`);
}

/** runs code, returns [status, results as text/number/boolean/null] and empties the stack */
function run(L: LuaAPI, code: string): [number, unknown[]] {
  L.settop(0);
  load(L, code);
  const st = L.pcall(0, LUA_MULTRET);
  const out: unknown[] = [];
  for (let i = 1; i <= L.gettop(); i++) {
    const t = L.type(i);
    out.push(t === LuaType.NUMBER ? L.tonumber(i) : t === LuaType.BOOLEAN ? L.toboolean(i) : t === LuaType.NIL ? null : L.tostring(i));
  }
  L.settop(0);
  return [st, out];
}

function ok(L: LuaAPI, code: string): unknown[] {
  const [st, out] = run(L, code);
  assert.equal(st, LuaStatus.OK, String(out[0]));
  return out;
}

describe('LuaJIT engine', opts, () => {
  test('identity and stack operations', () => {
    const L = open();
    assert.equal(L.engine, 'luajit');
    assert.match(L.version, /^LuaJIT 2\.1/);
    assert.equal(L.gettop(), 0);
    L.pushnumber(1);
    L.pushstring('two');
    L.pushboolean(true);
    L.pushnil();
    assert.equal(L.gettop(), 4);
    assert.deepEqual([1, 2, 3, 4].map((i) => L.type(i)), [LuaType.NUMBER, LuaType.STRING, LuaType.BOOLEAN, LuaType.NIL]);
    assert.equal(L.type(5), LuaType.NONE);
    assert.equal(L.type(0), LuaType.NONE);
    assert.equal(L.type(-5), LuaType.NONE);
    assert.equal(L.type(1.5), LuaType.NONE);
    assert.equal(L.absindex(-1), 4);
    L.pushvalue(1); // 1 two true nil 1
    L.insert(2); // 1 1 two true nil
    assert.equal(L.tonumber(2), 1);
    L.remove(1); // 1 two true nil
    assert.equal(L.tostring(2), 'two');
    L.settop(-2); // 1 two true
    assert.equal(L.gettop(), 3);
    L.settop(5);
    assert.equal(L.type(5), LuaType.NIL);
    L.settop(0);
    assert.throws(() => L.pushvalue(1), RangeError);
    assert.throws(() => L.remove(0), RangeError);
    assert.throws(() => L.insert(-1), RangeError);
    assert.throws(() => L.settop(-2), RangeError);
    assert.throws(() => L.tonumber(3), RangeError);
    assert.equal(L.typename(LuaType.TABLE), 'table');
    assert.equal(L.typename(LuaType.NONE), 'no value');
    assert.ok(L.checkstack(100));
  });

  test('numbers, booleans and strings cross unchanged; binary strings stay bytes', () => {
    const L = open();
    for (const n of [0, -0, 1.5, -(2 ** 53), 2 ** 53 + 2, 1e308, Infinity, -Infinity, 5e-324]) {
      L.pushnumber(n);
      assert.ok(Object.is(L.tonumber(-1), n), String(n));
    }
    L.pushnumber(NaN);
    assert.ok(Number.isNaN(L.tonumber(-1)));
    L.settop(0);
    const all = Buffer.alloc(256);
    for (let i = 0; i < 256; i++) all[i] = i;
    L.pushstring(all);
    const back = L.tolstring(-1)!;
    assert.ok(Buffer.isBuffer(back));
    assert.deepEqual(Buffer.from(back), all);
    assert.equal(L.rawlen(-1), 256);
    L.pushstring('héllo ✓ \u{1F600}');
    assert.equal(L.tostring(-1), 'héllo ✓ \u{1F600}');
    assert.deepEqual(Buffer.from(L.tolstring(-1)!), Buffer.from('héllo ✓ \u{1F600}'));
    L.pushstring(new Uint8Array([0, 1, 0]));
    assert.equal(L.rawlen(-1), 3);
    L.pushstring('');
    assert.equal(L.tolstring(-1)!.length, 0);
    // a number converts in place, as lua_tolstring does
    L.pushnumber(10 / 2);
    assert.equal(Buffer.from(L.tolstring(-1)!).toString(), '5');
    assert.equal(L.type(-1), LuaType.STRING);
    L.createtable(0, 0);
    assert.equal(L.tolstring(-1), null);
    assert.match(L.tostring(-1), /^table: 0x/);
    L.pushboolean(false);
    assert.equal(L.toboolean(-1), false);
    assert.equal(L.tostring(-1), 'false');
    L.settop(0);
    // a long JS string (past the scratch buffer) and one with NULs
    const long = 'é'.repeat(100_000);
    L.pushstring(long);
    assert.equal(L.tostring(-1), long);
    L.pushstring('a\0b');
    assert.equal(L.rawlen(-1), 3);
    L.settop(0);
    // Lua's own results: 10/2 prints 5, 2^53 prints as a float
    assert.deepEqual(ok(L, 'return tostring(10/2), tostring(2^53), tostring(2^63), 1e15 .. ""'), ['5', '9.007199254741e+15', '9.2233720368548e+18', '1e+15']);
  });

  test('tables: fields, raw access, traversal, metatables, globals', () => {
    const L = open();
    L.createtable(2, 1);
    L.pushstring('v');
    L.setfield(1, 'k');
    L.pushnumber(10);
    L.rawseti(1, 1);
    L.pushstring(Buffer.from([0xff, 0]));
    L.pushnumber(7);
    L.rawset(1);
    L.getfield(1, 'k');
    assert.equal(L.tostring(-1), 'v');
    L.rawgeti(1, 1);
    assert.equal(L.tonumber(-1), 10);
    L.pushstring(Buffer.from([0xff, 0]));
    L.rawget(1);
    assert.equal(L.tonumber(-1), 7);
    L.settop(1);
    assert.equal(L.rawlen(1), 1);
    const keys: string[] = [];
    L.pushnil();
    while (L.next(1)) {
      keys.push(L.type(-2) === LuaType.NUMBER ? `n${L.tonumber(-2)}` : Buffer.from(L.tolstring(-2)!).toString('hex'));
      L.settop(-2);
    }
    assert.deepEqual(keys.sort(), ['6b', 'ff00', 'n1']);
    assert.equal(L.gettop(), 1);
    // __index / __newindex run through getfield / setfield, not through raw access
    load(L, 'return setmetatable({}, {__index = function(t, k) return k .. "!" end, __newindex = function(t, k, v) rawset(t, k, v * 2) end})');
    assert.equal(L.pcall(0, 1), LuaStatus.OK);
    L.getfield(2, 'x');
    assert.equal(L.tostring(-1), 'x!');
    L.settop(2);
    L.pushnumber(21);
    L.setfield(2, 'y');
    L.pushstring('y');
    L.rawget(2);
    assert.equal(L.tonumber(-1), 42);
    L.settop(2);
    assert.ok(L.getmetatable(2));
    L.settop(2);
    L.pushnil();
    L.setmetatable(2);
    assert.ok(!L.getmetatable(2));
    L.pushnumber(1);
    assert.throws(() => L.rawget(-1), TypeError); // not a table
    L.settop(0);
    L.pushnumber(3);
    L.setglobal('answer');
    L.getglobal('answer');
    assert.equal(L.tonumber(-1), 3);
    L.getglobal('nothing');
    assert.equal(L.type(-1), LuaType.NIL);
    L.settop(0);
  });

  test('an operation that runs into a Lua error throws it, and from a JS function re-raises it unchanged', () => {
    const L = open();
    load(L, "return setmetatable({}, {__index = function() error({code = 7}) end}), setmetatable({}, {__index = function() error('boom') end})");
    L.pcall(0, 2);
    assert.throws(
      () => L.getfield(2, 'x'),
      (e: Error & { luaStatus?: number }) => e.luaStatus === LuaStatus.ERRRUN && /boom/.test(e.message),
    );
    assert.equal(L.gettop(), 2); // the stack is as before the operation
    assert.throws(() => L.getfield(1, 'x'), /error object is a table value/);
    L.pushnil();
    L.pushnumber(1);
    assert.throws(() => L.rawset(1), /table index is nil/);
    assert.equal(L.gettop(), 4);
    L.settop(0);
    // let through by a JS function: Lua's pcall sees the original error value
    L.pushfunction((api) => {
      api.getfield(1, 'x');
      return 1;
    });
    L.setglobal('jsget');
    assert.deepEqual(ok(L, "local ok, e = pcall(jsget, setmetatable({}, {__index = function() error({code = 7}) end})) return ok, type(e), e.code"), [false, 'table', 7]);
    // caught by the JS function: no error
    L.pushfunction((api) => {
      try {
        api.getfield(1, 'x');
      } catch {
        api.pushstring('caught');
      }
      return 1;
    });
    L.setglobal('jscatch');
    assert.deepEqual(ok(L, "return jscatch(setmetatable({}, {__index = function() error('no') end}))"), ['caught']);
    // next() with a key that is not in the table
    L.createtable(0, 0);
    L.pushstring('missing');
    assert.throws(() => L.next(1), /invalid key to 'next'/);
    L.settop(0);
  });

  test('JS functions: arguments, results, error(), errorMessage(), exceptions', () => {
    const L = open();
    const reported: unknown[] = [];
    L.onNativeError = (e) => reported.push(e);
    L.pushfunction((api) => {
      const n = api.gettop();
      let s = 0;
      for (let i = 1; i <= n; i++) s += api.tonumber(i);
      api.pushnumber(s);
      api.pushstring('sum');
      return 2;
    });
    L.setglobal('sum');
    assert.deepEqual(ok(L, 'return sum(1, 2, 3)'), [6, 'sum']);
    L.pushfunction((api) => {
      api.createtable(0, 1);
      api.pushnumber(42);
      api.setfield(-2, 'code');
      return api.error();
    });
    L.setglobal('fail');
    assert.deepEqual(ok(L, 'local ok, e = pcall(fail) return ok, e.code'), [false, 42]);
    L.pushfunction((api) => api.errorMessage('bad thing'));
    L.setglobal('failmsg');
    assert.deepEqual(ok(L, 'local ok, e = pcall(function()\n  failmsg()\nend) return e'), ['test:2: bad thing']);
    L.pushfunction(() => {
      throw new TypeError('js broke');
    });
    L.setglobal('throws');
    assert.deepEqual(ok(L, 'local ok, e = pcall(throws) return ok, e'), [false, 'js broke']);
    assert.equal(reported.length, 1);
    assert.ok(reported[0] instanceof TypeError);
    // uncaught: the outermost pcall reports ERRRUN with the message
    const [st, out] = run(L, 'throws()');
    assert.equal(st, LuaStatus.ERRRUN);
    assert.equal(out[0], 'js broke');
    // a JS function calling back into Lua
    L.pushfunction((api) => {
      api.getglobal('sum');
      api.pushnumber(api.tonumber(1));
      api.pushnumber(1);
      const s = api.pcall(2, 1);
      assert.equal(s, LuaStatus.OK);
      return 1;
    });
    L.setglobal('inc');
    assert.deepEqual(ok(L, 'return inc(41)'), [42]);
    assert.equal(L.where(0), '');
    // a wrong result count is a Lua error, not a crash
    L.pushfunction(() => 5);
    L.setglobal('liar');
    assert.equal(run(L, 'liar()')[0], LuaStatus.ERRRUN);
  });

  test('a JS function called from a coroutine works on the coroutine\'s stack', () => {
    const L = open();
    const seen: number[] = [];
    L.pushfunction((api) => {
      seen.push(api.gettop());
      api.pushnumber(api.tonumber(1) + 1);
      api.getglobal('inner');
      api.pushnumber(5);
      assert.equal(api.pcall(1, 1), LuaStatus.OK); // a call on the coroutine's own stack
      return 2;
    });
    L.setglobal('js');
    ok(L, 'function inner(x) return x * 10 end');
    assert.deepEqual(ok(L, 'local co = coroutine.wrap(function(a) local b, c = js(a, "x") local d = coroutine.yield(b + c) return d end) local r1 = co(1) return r1, co(7)'), [52, 7]);
    assert.deepEqual(seen, [2]);
    assert.equal(L.gettop(), 0); // the main stack was not touched
  });

  test('collected closures free their JS functions for reuse', () => {
    const L = open();
    const created: number[] = [];
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 2000; i++) {
        L.pushfunction(() => 0);
        L.settop(0);
      }
      L.gc();
      created.push((L as unknown as { fns: unknown[] }).fns.length);
    }
    // slots come back after collection: the table of functions stops growing
    assert.ok(created[4] <= created[1] + 2000, created.join(','));
  });

  test('the call budget interrupts a compiled loop, inside pcall, and pcall cannot swallow it', () => {
    const L = open(150);
    for (const code of [
      'while true do end',
      'local x = 0 while true do x = x + 1 end',
      'for i = 1, 1e300 do end',
      'pcall(function() while true do end end) return "escaped"',
      'while true do pcall(error, "x") end',
      'local function f() return f() end return f()',
      'local function f(n) if n < 2 then return n end return f(n - 1) + f(n - 2) end return f(60)',
      'while true do local ok = pcall(function() while true do end end) end',
      'local co = coroutine.wrap(function() while true do end end) co()',
      'while true do coroutine.resume(coroutine.create(function() while true do end end)) end',
      'xpcall(function() while true do end end, function(e) while true do end end)',
      "local t = setmetatable({}, {__index = function() while true do end end}) return t.x",
      'table.sort({3, 2, 1}, function(a, b) while true do end end)',
      "return (string.gsub('abc', '%w', function() while true do end end))",
    ]) {
      const [st, out] = run(L, code);
      assert.equal(st, LuaStatus.ERRRUN, code);
      assert.match(String(out[0]), /script interrupted: still running after 150 ms$/, code);
      // the state goes on working afterwards
      assert.deepEqual(ok(L, 'return 1 + 1'), [2]);
    }
  });

  test('the budget reaches the pattern matcher and JS callbacks that call back into Lua', () => {
    const L = open(150);
    const [st, out] = run(L, 'local s = string.rep("a", 60) return s:find(string.rep("a-", 30) .. "b")');
    assert.equal(st, LuaStatus.ERRRUN);
    assert.match(String(out[0]), /script interrupted/);
    const [st2] = run(L, 'return (string.rep("a", 1e6)):match(".-.-.-.-.-.-.-b")');
    assert.equal(st2, LuaStatus.ERRRUN);
    // LuaJIT's sort and parser are C code no hook reaches: ours look at the interrupt
    L.callBudgetMs = 0;
    ok(L, 'big = {} for i = 1, 4e6 do big[i] = (i * 7919) % 1000003 end src = string.rep("x = x + 1 ", 1.5e6)');
    // (a 4M sort takes seconds, parsing 15 MB well over 100 ms: far past these budgets)
    for (const [budget, code] of [[150, 'table.sort(big)'], [150, 'table.sort(big, function(a, b) return a > b end)'], [20, 'return loadstring(src)']] as const) {
      L.callBudgetMs = budget;
      const [st, out] = run(L, code);
      assert.equal(st, LuaStatus.ERRRUN, code);
      assert.match(String(out[0]), /script interrupted/, code);
    }
    L.callBudgetMs = 150;
    assert.deepEqual(ok(L, 'big, src = nil local f, e = loadstring(string.rep(" ", 17 * 2^20)) return f, e'), [null, 'chunk too large (17825792 bytes, at most 16 MiB)']);
    // a JS function whose nested call is interrupted gets ERRRUN, and the outer call too
    const seen: number[] = [];
    L.pushfunction((api) => {
      api.getglobal('spin');
      seen.push(api.pcall(0, 0));
      api.settop(0);
      return 0;
    });
    L.setglobal('js');
    ok(L, 'function spin() while true do end end');
    const [st3, out3] = run(L, 'js() return "after"');
    assert.deepEqual(seen, [LuaStatus.ERRRUN]);
    assert.equal(st3, LuaStatus.ERRRUN);
    assert.match(String(out3[0]), /script interrupted/);
    // a metamethod run by getfield outside any pcall is under the budget too
    ok(L, "slow = setmetatable({}, {__index = function() while true do end end})");
    L.getglobal('slow');
    assert.throws(() => L.getfield(-1, 'x'), /script interrupted/);
    L.settop(0);
    // no budget: a long loop completes
    L.callBudgetMs = 0;
    assert.deepEqual(ok(L, 'local s = 0 for i = 1, 3e7 do s = s + 1 end return s'), [3e7]);
  });

  test('the memory cap: allocations beyond it fail with "not enough memory" (ERRMEM)', () => {
    const L = open(0, 64 * 1024 * 1024);
    assert.equal(L.memoryLimit, 64 * 1024 * 1024);
    for (const code of ['local s = string.rep("x", 2^30)', 'local s = "x" for i = 1, 40 do s = s .. s end', 'local t = {} for i = 1, 1e9 do t[i] = i end']) {
      const [st, out] = run(L, code);
      assert.equal(st, LuaStatus.ERRMEM, code);
      assert.equal(out[0], 'not enough memory');
      assert.ok(L.memoryUsed() <= 64 * 1024 * 1024);
    }
    assert.deepEqual(ok(L, 'local ok, e = pcall(string.rep, "x", 2^30) return ok, e'), [false, 'not enough memory']);
    assert.throws(
      () => L.pushstring(Buffer.alloc(100 * 1024 * 1024)),
      (e: Error & { luaStatus?: number }) => e.luaStatus === LuaStatus.ERRMEM && e.message === 'not enough memory',
    );
    // from a JS function, the operation's memory error reaches Lua as ERRMEM
    L.pushfunction((api) => {
      api.pushstring(Buffer.alloc(100 * 1024 * 1024));
      return 1;
    });
    L.setglobal('big');
    const [st] = run(L, 'return big()');
    assert.equal(st, LuaStatus.ERRMEM);
    const after = L.gc();
    assert.ok(after > 0 && after < 32 * 1024 * 1024, String(after));
    assert.deepEqual(ok(L, 'return #string.rep("y", 1000)'), [1000]);
  });

  // the sanitizer build (scripts/sanitize-luajit.sh names it in MONATS_LUAJIT_ADDON) keeps freed
  // blocks in AddressSanitizer's quarantine and does not trim
  const regularBuild = { skip: process.env.MONATS_LUAJIT_ADDON ? 'another build of the addon (the sanitizer one quarantines freed blocks)' : false };
  test('what a call that ran into the cap freed goes back to the system (glibc would keep it)', regularBuild, () => {
    // a string doubled up to a 64 MiB cap, five times, while JS allocates small blocks (as the
    // server does all along): they land above the big strings in glibc's heap, which can then not
    // shrink from its top; without the trim after the collection the process kept +58 MB here
    const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'latin1'))?.[1] ?? 0) / 1024;
    const L = open(0, 64 * 1024 * 1024);
    const kept: Buffer[] = [];
    L.pushfunction(() => {
      kept.push(Buffer.allocUnsafeSlow(1024));
      return 0;
    });
    L.setglobal('allocate');
    const before = rss();
    for (let i = 0; i < 5; i++) assert.equal(run(L, 'local s = "x" for i = 1, 40 do s = s .. s; allocate() end')[0], LuaStatus.ERRMEM);
    const grown = rss() - before;
    assert.ok(grown < 30, `RSS +${grown.toFixed(1)} MB after five calls at the cap`);
    assert.ok(kept.length > 5 * 20, `${kept.length} JS allocations in between`);
  });

  test('15,000 arguments and results, 64-level results', () => {
    const L = open();
    assert.ok(L.checkstack(15_001));
    L.getglobal('select');
    L.pushstring('#');
    for (let i = 0; i < 15_000; i++) L.pushnumber(i);
    assert.equal(L.pcall(15_001, 1), LuaStatus.OK);
    assert.equal(L.tonumber(-1), 15_000);
    L.settop(0);
    load(L, 'local t = {} for i = 1, 15000 do t[i] = i end return (function(...) return ... end)(unpack(t, 1, 7000))');
    assert.equal(L.pcall(0, LUA_MULTRET), LuaStatus.OK);
    assert.equal(L.gettop(), 7000);
    L.settop(0);
    L.pushfunction((api) => {
      const n = api.gettop();
      api.pushnumber(n);
      return 1;
    });
    L.setglobal('count');
    assert.deepEqual(ok(L, 'local t = {} for i = 1, 7000 do t[i] = i end return count(unpack(t))'), [7000]);
    // 64 nested tables read back level by level
    load(L, 'local t = {v = 64} for i = 63, 1, -1 do t = {v = i, child = t} end return t');
    assert.equal(L.pcall(0, 1), LuaStatus.OK);
    let depth = 0;
    while (L.type(-1) === LuaType.TABLE) {
      assert.ok(L.checkstack(2));
      L.getfield(-1, 'v');
      assert.equal(L.tonumber(-1), ++depth);
      L.settop(-2);
      L.getfield(-1, 'child');
    }
    assert.equal(depth, 64);
    L.settop(0);
    assert.equal(L.checkstack(1_000_000), false);
  });

  test('tags and refs', () => {
    const L = open();
    L.createtable(0, 0);
    L.createtable(0, 0);
    L.settag(1, 17);
    assert.equal(L.gettag(1), 17);
    assert.equal(L.gettag(2), 0);
    L.pushnumber(1);
    assert.equal(L.gettag(3), 0);
    L.settag(1, 0);
    assert.equal(L.gettag(1), 0);
    L.settag(1, 5);
    L.pushvalue(1);
    const r = L.ref();
    assert.ok(r > 0);
    L.settop(0);
    L.pushref(r);
    assert.equal(L.gettag(1), 5);
    L.unref(r);
    assert.throws(() => L.unref(r), RangeError);
    L.pushref(r);
    assert.equal(L.type(-1), LuaType.NIL);
    L.pushnil();
    assert.equal(L.ref(), -1); // LUA_REFNIL
    L.settop(0);
    // tagged tables are not kept alive by their tag: a second round of 20,000 takes no more memory
    const round = (): number => {
      load(L, 'local keep = {} for i = 1, 20000 do keep[i] = {} end return keep');
      L.pcall(0, 1);
      for (let i = 1; i <= 20000; i += 1) {
        L.rawgeti(1, i);
        L.settag(-1, i);
        L.settop(1);
      }
      L.settop(0);
      return L.gc();
    };
    const first = round();
    const second = round();
    assert.ok(second < first + 256 * 1024, `${first} -> ${second}`);
  });

  test('the dialect: what the 5.2 switch adds, and MonaServer scripts rely on', () => {
    const L = open();
    assert.deepEqual(ok(L, 'return #table.pack(3.7, {}, nil, "hello"), table.pack(1, nil).n, select("#", table.unpack({1, 2, 3}))'), [4, 2, 3]);
    assert.deepEqual(ok(L, 'local t = setmetatable({}, {__len = function() return 42 end}) return #t, # t + 1, -#t, #"abc", rawlen(t)'), [42, 43, -42, 3, 0]);
    assert.deepEqual(
      ok(L, 'local t = setmetatable({}, {__pairs = function(t) return function(_, k) if not k then return "a", 1 end end, t, nil end}) local r = {} for k, v in pairs(t) do r[#r + 1] = k .. v end return table.concat(r)'),
      ['a1'],
    );
    assert.deepEqual(
      ok(L, 'local t = setmetatable({}, {__ipairs = function(t) return function(_, i) if i < 2 then return i + 1, i * 10 end end, t, 0 end}) local s = 0 for i, v in ipairs(t) do s = s + i + v end return s'),
      [13],
    );
    assert.deepEqual(ok(L, 'local s = 0 for i, v in ipairs({5, 6, 7}) do s = s + v end for k, v in pairs({a = 1, b = 2}) do s = s + v end return s'), [21]);
    assert.deepEqual(ok(L, 'local i = 0 ::top:: i = i + 1 if i < 3 then goto top end return i'), [3]);
    assert.deepEqual(ok(L, 'return bit.band(0xff, 0x0f), bit.tohex(255), math.pow(2, 10), unpack({1, 2})'), [15, '000000ff', 1024, 1, 2]);
    assert.deepEqual(ok(L, 'local r = {} for w in string.gfind("a b c", "%a") do r[#r + 1] = w end return table.concat(r, ",")'), ['a,b,c']);
    assert.deepEqual(ok(L, 'return loadstring("return 1 + 1")(), math.mod(7, 3), collectgarbage("count") > 0, collectgarbage("step") ~= nil, collectgarbage("isrunning")'), [2, 1, true, true, true]);
    assert.deepEqual(ok(L, 'module("mymod", package.seeall) x = 5 return mymod.x, _M == mymod'), [5, true]);
    assert.deepEqual(ok(L, 'return string.format("%d %5.2f %s %q", 2^40, 3.14159, 10/2, "a\\0")'), ['1099511627776  3.14 5 "a\\0"']);
    // load: text only unless asked; the # rewrite applies to loaded chunks too
    assert.deepEqual(ok(L, 'local f, e = loadstring(string.dump(function() end)) return f, e'), [null, 'attempt to load chunk with wrong mode']);
    assert.deepEqual(ok(L, 'return load(string.dump(function() return 7 end), "d", "b")()'), [7]);
    assert.deepEqual(ok(L, 'return loadstring("return #setmetatable({}, {__len = function() return 9 end})")()'), [9]);
    assert.deepEqual(ok(L, 'local env = {y = 3} return load("return y", "e", "t", env)()'), [3]);
    // what could crash the process or escape the budget is not there
    assert.deepEqual(ok(L, 'return newproxy, pcall(require, "ffi"), (pcall(debug.sethook)), jit.version ~= nil, jit.attach, jit.util, string.buffer'), [null, false, false, true, null, null, null]);
    // `#` on nil still fails with a position
    const [st, out] = run(L, 'local x\nreturn #x');
    assert.equal(st, LuaStatus.ERRRUN);
    assert.match(String(out[0]), /^test:2: attempt to get length of a nil value/);
  });

  test('a second state runs interpreted and is still interruptible; the JIT goes to the next state once freed', () => {
    for (const L of opened.splice(0)) L.close();
    const first = open(100);
    const second = open(100);
    assert.equal(first.jit || second.jit, true);
    const interpreted = first.jit ? second : first;
    assert.equal(interpreted.jit, false);
    assert.equal(run(interpreted, 'while true do end')[0], LuaStatus.ERRRUN);
    // jit.on cannot turn the compiler on where no instrumentation would let the budget in
    assert.equal(run(interpreted, 'jit.on() while true do end')[0], LuaStatus.ERRRUN);
    assert.deepEqual(ok(interpreted, 'return (jit.status())'), [false]);
    const jitted = first.jit ? first : second;
    // in the state that has it, jit.off/on work and loops stay interruptible either way
    assert.equal(run(jitted, 'jit.off() jit.on() while true do end')[0], LuaStatus.ERRRUN);
    jitted.close();
    const third = open(100);
    assert.equal(third.jit, true);
    assert.equal(run(third, 'while true do end')[0], LuaStatus.ERRRUN);
  });

  test('close: operations afterwards throw, closing twice is harmless', () => {
    const L = open();
    L.close();
    assert.throws(() => L.gettop(), /closed/);
    L.close();
  });
});
