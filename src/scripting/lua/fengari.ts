/**
 * fengari (Lua 5.3 in JS), loaded once and patched towards LuaJIT's number semantics:
 *  - no integer subtype: fengari's integers are 32-bit and wrap (`2147483647 + 1` → negative),
 *    where LuaJIT has only doubles. Every integer the VM or the C API would create becomes a float
 *    (literals, `#`, library results, `pairs` keys), so arithmetic is double arithmetic as in LuaJIT.
 *  - numbers convert to strings with "%.14g" (no trailing ".0"), in tostring, `..` and messages.
 *  - `pairs` walks the array part first, in order, and `#` of a table.pack result is LuaJIT's.
 * The patches go on fengari's module objects before its libraries bind them, hence the load order.
 */
/* eslint-disable @typescript-eslint/no-explicit-any */
import { formatLuaNumber } from './number-format';

// number → string: luaconf is read by lobject when it loads, so it is patched before anything else
// (defs first: defs and luaconf require each other and only this order resolves the cycle)
const defs: any = require('fengari/src/defs.js');
const luaconf: any = require('fengari/src/luaconf.js');
luaconf.LUA_COMPAT_FLOATSTRING = true;
luaconf.lua_number2str = formatLuaNumber;

// lapi first: it pulls the VM modules in fengari's own order (lobject first would break a cycle)
const lapi: any = require('fengari/src/lapi.js');
const lobject: any = require('fengari/src/lobject.js');
const ltable: any = require('fengari/src/ltable.js');

const LUA_TNUMFLT = defs.constant_types.LUA_TNUMFLT;

// every setivalue (VM arithmetic results, string→number, `#`) stores a double instead
lobject.TValue.prototype.setivalue = function setivalue(this: any, x: number) {
  this.type = LUA_TNUMFLT;
  this.value = x;
};

// library results (string.len, string.byte, ipairs indices...) go through lua_pushinteger
const pushnumber = lapi.lua_pushnumber;
lapi.lua_pushinteger = function lua_pushinteger(L: any, n: number) {
  pushnumber(L, n);
};

// `pairs`/`next` order as LuaJIT's: the array part 1..n first, in order, then the other keys (in
// insertion order). fengari keeps one insertion-ordered Map, and table constructors insert their
// items last-first, so `pairs{1,2,3}` would give 3,2,1. Keys come back as doubles (see above).
const luaH_next = ltable.luaH_next;
const luaH_getint = ltable.luaH_getint;
const TValue = lobject.TValue;
/**
 * table → how far the array part has been walked (the highest k given in order). It decides
 * whether a key handed back to next() belongs to the array part even after the script cleared
 * it during the traversal (`for k in pairs(t) do t[k] = nil end`).
 */
const arrayWalk = new WeakMap<object, number>();
const present = (t: any, k: number): boolean => k >= 1 && !luaH_getint(t, k).ttisnil();
function setPair(L: any, keyI: number, k: number, v: any): void {
  lobject.setobj2s(L, keyI, new TValue(LUA_TNUMFLT, k));
  lobject.setobj2s(L, keyI + 1, v);
}
ltable.luaH_next = function next(L: any, table: any, keyI: number) {
  const key = L.stack[keyI];
  let m: number;
  if (key.ttisnil()) {
    // a new traversal: forget the walk if the table lost its end (a nested traversal that stopped
    // early must not shorten the walk of the one around it, hence no other reset)
    const w = arrayWalk.get(table);
    if (w !== undefined && !present(table, w)) arrayWalk.delete(table);
    if (present(table, 1)) {
      if (!arrayWalk.has(table)) arrayWalk.set(table, 1);
      setPair(L, keyI, 1, luaH_getint(table, 1));
      return true;
    }
    m = 0;
    arrayWalk.set(table, 0);
  } else {
    const kv = key.value;
    const walked = arrayWalk.get(table) ?? 0;
    if (key.ttisnumber() && Number.isInteger(kv) && kv >= 1 && kv <= walked) {
      // still in the array part
      if (present(table, kv + 1)) {
        if (kv + 1 > walked) arrayWalk.set(table, kv + 1);
        setPair(L, keyI, kv + 1, luaH_getint(table, kv + 1));
        return true;
      }
      m = kv;
      arrayWalk.set(table, m);
      lobject.setobj2s(L, keyI, new TValue(defs.constant_types.LUA_TNIL, null));
    } else m = walked;
  }
  // the other keys, skipping the array part already given
  for (;;) {
    if (!luaH_next(L, table, keyI)) return false;
    const k = L.stack[keyI];
    if (k.ttisnumber() && Number.isInteger(k.value) && k.value >= 1 && k.value <= m) continue;
    if (k.ttisinteger()) k.type = LUA_TNUMFLT;
    return true;
  }
};

// `#` as LuaJIT gives it for tables made by table.pack: LuaJIT's table.pack sizes the array part to
// the argument count, and its border rule then answers that count even with holes inside
// (`#table.pack(3.7, {}, nil, "hello")` is 4); fengari, which has no array part, would answer 2.
// table.pack (fengari-api.ts) records its count as a hint; the length starts from the hint while
// the slot at the hint is still set, and grows past it the way LuaJIT's hash part search does.
const lengthHint = new WeakMap<object, number>();
const luaH_getn = ltable.luaH_getn;
ltable.luaH_getn = function getn(t: any): number {
  const hint = lengthHint.get(t);
  if (hint === undefined || luaH_getint(t, hint).ttisnil()) return luaH_getn(t);
  let n = hint;
  while (!luaH_getint(t, n + 1).ttisnil()) n++;
  return n;
};

/** Makes `#t` start from `n` (LuaJIT's border for a table whose array part was sized to n). */
export function setLengthHint(table: object, n: number): void {
  if (n > 0) lengthHint.set(table, n);
}

// only now the public modules, which copy lapi's functions into their own bindings
const fengari: any = require('fengari');

export const lua: any = fengari.lua;
export const lauxlib: any = fengari.lauxlib;
export const lualib: any = fengari.lualib;
export const toLuaString: (s: string) => Uint8Array = fengari.to_luastring;
export const toJsString: (u: Uint8Array) => string = fengari.to_jsstring;
