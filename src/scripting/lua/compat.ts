/**
 * The dialect MonaServer's scripts expect from a LuaJIT built with its 5.2 switch, for
 * functions that can be written in Lua: run by the binding on every engine, each definition kept
 * when the engine has its own (`x = x or ...`): Lua 5.3 (fengari) lacks the 5.1 ones (unpack,
 * loadstring, module, string.gfind, math.pow...), a stock LuaJIT lacks the 5.2 ones (table.pack,
 * table.unpack, rawlen). What only the VM can provide (the bit library, collectgarbage's options,
 * number semantics, __pairs/__len) is the LuaAPI implementation's.
 * Per-app `loadstring`/`load`/`require`/`dofile`/`loadfile` are defined by the app tree (apps-lua.ts).
 */
export const COMPAT_LUA = `
unpack = unpack or table.unpack
table.unpack = table.unpack or unpack
-- (the field set after the items makes LuaJIT size the array part to the count: its # then counts the holes too)
table.pack = table.pack or function(...) local t = { ... } t.n = select('#', ...) return t end
rawlen = rawlen or function(v) return #v end
loadstring = loadstring or function(s, name) return load(s, name) end
table.getn = table.getn or function(t) return #t end
table.maxn = table.maxn or function(t)
  local m = 0
  for k in pairs(t) do if type(k) == 'number' and k > m then m = k end end
  return m
end
math.pow = math.pow or function(a, b) return a ^ b end
math.mod = math.mod or math.fmod
math.log10 = math.log10 or function(x) return math.log(x, 10) end
math.ldexp = math.ldexp or function(m, e) return m * 2.0 ^ e end
math.cosh = math.cosh or function(x) return (math.exp(x) + math.exp(-x)) / 2 end
math.sinh = math.sinh or function(x) return (math.exp(x) - math.exp(-x)) / 2 end
math.tanh = math.tanh or function(x) local a, b = math.exp(x), math.exp(-x) return (a - b) / (a + b) end
string.gfind = string.gfind or string.gmatch

-- Lua 5.1's module(name, ...): the module table (package.loaded[name], else the global of that
-- dotted name, created), _M/_NAME/_PACKAGE set, the options applied (package.seeall), and the
-- calling chunk's globals becoming the module, as 5.1's setfenv(2, module) did: in 5.2+ that is
-- the chunk's _ENV upvalue.
if module == nil and debug and debug.getinfo and debug.getupvalue and debug.setupvalue then
  local G, type, rawget, rawset, select, error, setmetatable = _G, type, rawget, rawset, select, error, setmetatable
  local getinfo, getupvalue, setupvalue = debug.getinfo, debug.getupvalue, debug.setupvalue
  local function findtable(name)
    local t = G
    for part in name:gmatch('[^%.]+') do
      local v = rawget(t, part)
      if v == nil then
        v = {}
        rawset(t, part, v)
      elseif type(v) ~= 'table' then
        return nil
      end
      t = v
    end
    return t
  end
  module = function(name, ...)
    if type(name) ~= 'string' then error("bad argument #1 to 'module' (string expected)", 2) end
    local m = package.loaded[name]
    if type(m) ~= 'table' then
      m = findtable(name)
      if m == nil then error("name conflict for module '" .. name .. "'", 2) end
      package.loaded[name] = m
    end
    if m._NAME == nil then
      m._M = m
      m._NAME = name
      m._PACKAGE = name:match('^(.*%.)[^%.]*$') or ''
    end
    local caller = getinfo(2, 'f')
    if caller and caller.func then
      local i = 1
      while true do
        local upname = getupvalue(caller.func, i)
        if upname == nil then break end
        if upname == '_ENV' then setupvalue(caller.func, i, m) break end
        i = i + 1
      end
    end
    for j = 1, select('#', ...) do (select(j, ...))(m) end
    return m
  end
  package.seeall = package.seeall or function(m)
    local mt = getmetatable(m)
    if mt == nil then mt = {} setmetatable(m, mt) end
    mt.__index = G
  end
end

`;
