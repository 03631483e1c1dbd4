/**
 * fengari (Lua 5.3 in JS), loaded once and patched towards LuaJIT's number semantics (SPEC S2):
 *  - no integer subtype: fengari's integers are 32-bit and wrap (`2147483647 + 1` → negative),
 *    where LuaJIT has only doubles. Every integer the VM or the C API would create becomes a float
 *    (literals, `#`, library results, `pairs` keys), so arithmetic is double arithmetic as in LuaJIT.
 *  - numbers convert to strings with "%.14g" (no trailing ".0"), in tostring, `..` and messages.
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

// table keys are stored as integers when integral: hand them back to scripts as doubles
const luaH_next = ltable.luaH_next;
ltable.luaH_next = function next(L: any, table: any, keyI: number) {
  const more = luaH_next(L, table, keyI);
  if (more) {
    const k = L.stack[keyI];
    if (k.ttisinteger()) k.type = LUA_TNUMFLT;
  }
  return more;
};

// only now the public modules, which copy lapi's functions into their own bindings
const fengari: any = require('fengari');

export const lua: any = fengari.lua;
export const lauxlib: any = fengari.lauxlib;
export const lualib: any = fengari.lualib;
export const toLuaString: (s: string) => Uint8Array = fengari.to_luastring;
export const toJsString: (u: Uint8Array) => string = fengari.to_jsstring;
