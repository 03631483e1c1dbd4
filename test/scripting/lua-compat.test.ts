/**
 * LuaJIT-era compatibility of the engine (SPEC S2): numbers print as LuaJIT prints them, no 32-bit
 * integer wrap, 5.1/5.2 globals, `#`/pairs honouring metamethods, bit library, binary-safe strings
 * both ways.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatLuaNumber } from '../../src/scripting/lua/number-format';
import { LuaVM } from '../../src/scripting/lua/vm';
import { COMPAT_LUA } from '../../src/scripting/lua/compat';
import { Table } from '../../src/serialization/value';
import { evalRoot, makeAppDir, startLua } from './lua-fixtures';

function vmRun(vm: LuaVM, code: string): unknown[] {
  const base = vm.top();
  const n = vm.run(code, '=t');
  void base;
  return vm.popValues(n);
}

test('numbers print as LuaJIT prints them (%.14g, no ".0")', () => {
  const cases: Array<[number, string]> = [
    [5, '5'],
    [0.1, '0.1'],
    [1 / 3, '0.33333333333333'],
    [2 ** 53, '9.007199254741e+15'],
    [1e15, '1e+15'],
    [1e14, '1e+14'],
    [123456789012346, '1.2345678901235e+14'],
    [99999999999999, '99999999999999'],
    [1e-5, '1e-05'],
    [0.0001, '0.0001'],
    [-2.5, '-2.5'],
    [Infinity, 'inf'],
    [-Infinity, '-inf'],
    [NaN, 'nan'],
    [3000000000, '3000000000'],
  ];
  for (const [n, s] of cases) assert.equal(formatLuaNumber(n), s, String(n));
  const vm = new LuaVM();
  vm.run(COMPAT_LUA, '=compat');
  assert.deepEqual(vmRun(vm, 'return tostring(10/2), 10/2 .. "", string.format("%s", 2^53), tostring(7 // 2)'), ['5', '5', '9.007199254741e+15', '3']);
  vm.close();
});

test('arithmetic is double arithmetic: no 32-bit wrap of integers', () => {
  const vm = new LuaVM();
  vm.run(COMPAT_LUA, '=compat');
  assert.deepEqual(vmRun(vm, 'return 2147483647 + 1, 100000 * 100000, #"abc" * 1000000000, math.floor(2^40 + 0.5)'), [2147483648, 1e10, 3e9, 2 ** 40]);
  assert.deepEqual(vmRun(vm, 'local s = 0 for i = 1, 100000 do s = s + i * i end return s'), [333338333350000]);
  assert.deepEqual(vmRun(vm, 'local t = {} for k, v in ipairs({ 10, 20 }) do t[#t + 1] = k * 3000000000 end return t[1], t[2]'), [3e9, 6e9]);
  assert.deepEqual(vmRun(vm, 'return string.format("%d|%5d|%.2f", 2^40, 42, 1/3)'), ['1099511627776|   42|0.33']);
  vm.close();
});

test('LuaJIT 5.1/5.2 globals: unpack, loadstring, table.pack/unpack, math.pow, string.gfind, bit, goto', async () => {
  const s = startLua(makeAppDir({ 'www/main.lua': 'x = 5' }));
  try {
    assert.deepEqual(evalRoot(s, 'return unpack({1, 2, 3})'), [1, 2, 3]);
    assert.deepEqual(evalRoot(s, 'return table.unpack({4, 5})'), [4, 5]);
    assert.deepEqual(evalRoot(s, 'local t = table.pack(1, nil, 3) return t.n, t[3]'), [3, 3]);
    // loadstring chunks run in the app's environment
    assert.deepEqual(evalRoot(s, 'return loadstring("return x * 2")()'), [10]);
    assert.deepEqual(evalRoot(s, 'return math.pow(2, 10), math.fmod(7, 3), math.log10(1000)'), [1024, 1, 3]);
    assert.deepEqual(evalRoot(s, 'local r = {} for w in string.gfind("a b c", "%a") do r[#r+1] = w end return table.concat(r, ",")'), ['a,b,c']);
    assert.deepEqual(evalRoot(s, 'return bit.band(0xff, 0x0f), bit.bor(1, 2), bit.bxor(3, 1), bit.lshift(1, 31), bit.rshift(-1, 28), bit.tohex(255, 4), bit.tobit(2^32 + 5)'), [
      15, 3, 2, -2147483648, 15, '00ff', 5,
    ]);
    assert.deepEqual(evalRoot(s, 'local i = 0 ::top:: i = i + 1 if i < 3 then goto top end return i'), [3]);
    assert.deepEqual(evalRoot(s, 'return table.getn({1,2}), table.maxn({[7]=1, [3]=2})'), [2, 7]);
  } finally {
    await s.close();
  }
});

test('# and pairs honour __len and __pairs', async () => {
  const s = startLua(makeAppDir({ 'www/main.lua': '' }));
  try {
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
  } finally {
    await s.close();
  }
});

test('binary-safe strings both ways: every byte value, embedded zeros, invalid UTF-8', async () => {
  const s = startLua(makeAppDir({ 'www/main.lua': 'function echo(s) return s, #s, s:byte(1), s:byte(-1) end' }));
  try {
    const all = Buffer.alloc(256);
    for (let i = 0; i < 256; i++) all[i] = i;
    const vm = s.host.vm;
    const r = s.host.event(s.host.app('')!, 'echo', () => {
      vm.pushBytes(all);
      return 1;
    });
    assert.ok(r && Buffer.isBuffer(r[0]) && r[0].equals(all));
    assert.deepEqual(r!.slice(1), [256, 0, 255]);
    // text stays text (valid UTF-8 comes out as a JS string)
    const t = s.host.event(s.host.app('')!, 'echo', () => {
      vm.pushString('héllo ✓');
      return 1;
    });
    assert.deepEqual(t, ['héllo ✓', 10, 104, 147]);
    assert.deepEqual(evalRoot(s, 'return #string.char(0, 0, 0), ("a\\0b"):len()'), [3, 3]);
  } finally {
    await s.close();
  }
});

test('pairs walks the array part 1..n in order first, then the other keys, like LuaJIT', async () => {
  const s = startLua(makeAppDir({ 'www/main.lua': '' }));
  try {
    const order = (code: string): unknown[] => evalRoot(s, `local t = ${code} local r = {} for k in pairs(t) do r[#r+1] = tostring(k) end return table.concat(r, ",")`);
    assert.deepEqual(order('{10, 20, 30, x = 1}'), ['1,2,3,x']);
    assert.deepEqual(order('(function() local t = {x = 1} t[3] = 3 t[1] = 1 t[2] = 2 t.z = 5 return t end)()'), ['1,2,3,x,z']);
    // clearing during the traversal, nested traversals that stop early
    assert.deepEqual(evalRoot(s, 'local t = {1, 2, 3, a = 1, b = 2} local n = 0 for k in pairs(t) do t[k] = nil n = n + 1 end return n, next(t)'), [5, null]);
    assert.deepEqual(
      evalRoot(s, 'local t = {1,2,3,4,5,6,7,8,9,10} local r = {} for k in pairs(t) do for _ in pairs(t) do break end r[#r+1] = k end return table.concat(r, ",")'),
      ['1,2,3,4,5,6,7,8,9,10'],
    );
  } finally {
    await s.close();
  }
});

test('pairs visits every key exactly once on random tables (seeded), also while clearing', async () => {
  const s = startLua(makeAppDir({ 'www/main.lua': '' }));
  try {
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
  } finally {
    await s.close();
  }
});

test('Values cross into Lua and back unchanged (seeded random trees, binary and text strings)', () => {
  const vm = new LuaVM();
  let seed = 7;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const text = (): string => ['a', 'key', 'héllo', '✓', 'x y', ''][rnd(6)] + String(rnd(100));
  const bytes = (): Buffer => {
    const b = Buffer.alloc(rnd(20) + 1);
    for (let i = 0; i < b.length; i++) b[i] = rnd(256);
    b[0] = 0xff; // never valid UTF-8: stays a Buffer
    return b;
  };
  const value = (depth: number): import('../../src/serialization/value').Value => {
    switch (rnd(depth > 3 ? 5 : 7)) {
      case 0: return rnd(2) === 0;
      case 1: return rnd(1000) - 500;
      case 2: return (rnd(100000) - 50000) / 7;
      case 3: return text();
      case 4: return bytes();
      default: {
        const t = new Table();
        for (let i = rnd(5); i > 0; i--) t.items.push(value(depth + 1));
        for (let i = rnd(5); i > 0; i--) t.fields.set(text() + 'k', value(depth + 1));
        return t;
      }
    }
  };
  for (let i = 0; i < 300; i++) {
    const v = value(0);
    const base = vm.top();
    vm.pushValue(v);
    const [back] = vm.popValues(vm.top() - base);
    assert.deepEqual(back, v, `case ${i}`);
  }
  vm.close();
});
