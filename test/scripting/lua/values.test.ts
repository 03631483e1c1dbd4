/**
 * The Lua binding's value conversion on every Lua engine (engines.ts), straight on LuaAPI: Values
 * cross into Lua and back unchanged (seeded random trees, text and binary strings), numbers print
 * as LuaJIT prints them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LuaStatus } from '../../../src/scripting/lua/api';
import { formatLuaNumber } from '../../../src/scripting/lua/number-format';
import { LuaValues } from '../../../src/scripting/lua/values';
import { Table, type Value } from '../../../src/serialization/value';
import { LUA_ENGINES } from './engines';

test('formatLuaNumber is C\'s "%.14g", as LuaJIT prints numbers', () => {
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
});

for (const engine of LUA_ENGINES) {
  test(`${engine.name}: Values cross into Lua and back unchanged (seeded random trees, binary and text strings)`, { skip: engine.skip }, () => {
    const api = engine.open();
    const values = new LuaValues(api);
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
    const value = (depth: number): Value => {
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
    try {
      for (let i = 0; i < 300; i++) {
        const v = value(0);
        values.pushValue(v);
        const [back] = values.popValues(1);
        assert.deepEqual(back, v, `case ${i}`);
        assert.equal(api.gettop(), 0);
      }
      // a table nested 64 levels crosses whole; the 65th level reads as nil
      let deep: Value = 'leaf';
      for (let i = 0; i < 64; i++) deep = new Table([deep]);
      values.pushValue(deep);
      let [back] = values.popValues(1);
      let depth = 0;
      while (back instanceof Table) {
        depth++;
        back = back.items[0] ?? null;
      }
      assert.deepEqual([depth, back], [64, 'leaf']);
      // a cycle reads as the same Table where it closes (AMF writes it as a reference)
      assert.equal(api.load(Buffer.from('local t = {1} t[2] = t return t'), '=cycle'), LuaStatus.OK);
      assert.equal(api.pcall(0, 1), LuaStatus.OK);
      const [cyclic] = values.popValues(1);
      assert.ok(cyclic instanceof Table && cyclic.items[0] === 1 && cyclic.items[1] === cyclic);
    } finally {
      api.close();
    }
  });
}
