/**
 * LuaJIT 5.1+5.2-compat globals on top of Lua 5.3 (SPEC S2): what MonaServer's scripts expect from
 * a LuaJIT built with its 5.2 switch. `#` and `pairs` already honour __len/__pairs in 5.3.
 * Per-app `loadstring`/`load`/`require`/`dofile`/`loadfile` are defined by the app tree (apps.lua).
 */
export const COMPAT_LUA = `
unpack = unpack or table.unpack
table.unpack = table.unpack or unpack
table.pack = table.pack or function(...) return { n = select('#', ...), ... } end
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

-- LuaJIT has only doubles: "%d" of a whole number beyond 32 bits must work (fengari's integers are 32-bit)
do
  local format, floor = string.format, math.floor
  string.format = function(f, ...)
    local ok, r = pcall(format, f, ...)
    if ok then return r end
    if type(r) ~= 'string' or not r:find('integer representation', 1, true) then error(r, 2) end
    local args, n, i = { ... }, select('#', ...), 0
    local f2 = f:gsub('%%([-+ #0]*%d*%.?%d*)(%a?)', function(flags, conv)
      if conv == '' then return nil end
      i = i + 1
      local v = args[i]
      if (conv == 'd' or conv == 'i') and type(v) == 'number' and v == floor(v) then
        return '%' .. flags:gsub('%.%d*', '') .. '.0f'
      end
    end)
    return format(f2, unpack(args, 1, n))
  end
end
`;
