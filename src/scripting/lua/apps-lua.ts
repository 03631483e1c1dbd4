/**
 * The app tree's Lua side: each application is an environment table whose misses fall
 * back to the app's built-ins, then its loaded children by name, then its parent (by name, then
 * the parent's own environment, recursively), and at the root the standard globals. Assigning a
 * global shadows the parent's; assigning nil un-shadows it (a plain rawset/rawnil on the env).
 *
 * Apps are reached from other apps through a proxy: reads go to the app's environment, and a
 * function read through it ignores the proxy when called with ':' (`super:hello()` runs `hello()`
 * in the parent, with the caller's arguments only), since app functions are plain functions.
 *
 * Kept in Lua because it runs on every global miss: a round trip to JS per lookup would cost more.
 * The chunk receives `host` (JS functions: readFile, child, data) and returns the functions the
 * binding calls (newApp, run, unlink). Events are found by the runtime, app by app (an app's own
 * global first, then its parent's), so that a parent of another language is reached too.
 * Written for LuaJIT and Lua 5.3 alike: `load` with an environment (LuaJIT 2.1 has it), 5.2's
 * __pairs/__len on `children`.
 */
export const APPS_LUA = `
local host = ...
local weakKeys = { __mode = 'k' }
local rawequal, type, setmetatable, pairs, next, load, select, error = rawequal, type, setmetatable, pairs, next, load, select, error
local G = _G
local M = {}

local function newProxy(app)
  local cache = setmetatable({}, weakKeys)
  local proxy = {}
  setmetatable(proxy, {
    __index = function(_, k)
      local v = app.env[k]
      if type(v) ~= 'function' then return v end
      local w = cache[v]
      if w == nil then
        w = function(first, ...)
          if rawequal(first, proxy) then return v(...) end
          return v(first, ...)
        end
        cache[v] = w
      end
      return w
    end,
    __newindex = function(_, k, v) app.env[k] = v end,
    __pairs = function() return next, app.env, nil end,
    __tostring = function() return 'application ' .. (app.path == '' and '/' or app.path) end,
  })
  return proxy
end

-- a file found from the app folder, then each parent's folder: (code, chunkname) or nil;
-- the host records it as a file \`app\` depends on (hot reload)
local function find(app, file)
  local a = app
  while a do
    local code, chunk = host.readFile(a.path, file, app.path)
    if code then return code, chunk end
    a = a.parent
  end
end

-- a parent running in another engine (a JavaScript app): read through the runtime, its functions
-- called there (in its own app); like other app proxies, a function read through it ignores the
-- proxy when called with ':'
local function foreignValue(path, k, proxy)
  local v = host.parentGet(path, k)
  if type(v) ~= 'function' then return v end
  return function(first, ...)
    if proxy ~= nil and rawequal(first, proxy) then return v(...) end
    return v(first, ...)
  end
end

local function newForeignProxy(app)
  local proxy = {}
  setmetatable(proxy, {
    __index = function(_, k) return foreignValue(app.path, k, proxy) end,
    __newindex = function() error('an application of another language cannot be assigned from Lua', 2) end,
    __tostring = function() return 'application ' .. app.foreignPath end,
  })
  return proxy
end

local function newBuiltins(app)
  local b = {}
  local env = app.env
  b.this = app.proxy
  if app.parent then b.super = app.parent.proxy
  elseif app.foreign then b.super = newForeignProxy(app) end
  b.name = app.name
  b.path = app.path
  b.children = setmetatable({}, {
    -- children("name") and children("a/b") load that app now (and the apps between)
    __call = function(_, name) return host.child(app.path, name) end,
    __index = function(_, name) local c = app.children[name] return c and c.proxy end,
    __pairs = function()
      local t = {}
      for n, c in pairs(app.children) do t[n] = c.proxy end
      return next, t, nil
    end,
    __len = function() local n = 0 for _ in pairs(app.children) do n = n + 1 end return n end,
  })
  b.loadstring = function(s, chunkname) return load(s, chunkname, 't', env) end
  b.load = function(chunk, chunkname, mode, e)
    if select('#', chunk, chunkname, mode, e) < 4 then e = env end
    return load(chunk, chunkname, mode, e)
  end
  b.loadfile = function(file, mode, e)
    if file == nil then return nil, 'loadfile from stdin is not supported' end
    local code, chunk = find(app, file)
    if not code then return nil, 'cannot open ' .. tostring(file) end
    if e == nil then e = env end
    return load(code, '@' .. chunk, mode or 'bt', e)
  end
  b.dofile = function(file)
    local f, err = b.loadfile(file)
    if not f then error(err, 2) end
    return f()
  end
  b.require = function(modname)
    local loaded = app.loaded[modname]
    if loaded ~= nil then return loaded end
    local rel = tostring(modname)
    if not rel:find('%.lua$') then rel = rel:gsub('%.', '/') .. '.lua' end
    local code, chunk = find(app, rel)
    if not code then return G.require(modname) end
    local f = assert(load(code, '@' .. chunk, 'bt', env))
    local r = f(modname)
    if r == nil then r = true end
    app.loaded[modname] = r
    return r
  end
  return b
end

-- foreign: the parent's name when the parent runs in another engine (its globals are then read
-- through the runtime, after the standard globals)
function M.newApp(name, path, parent, foreign, foreignPath)
  local app = { name = name, path = path, parent = parent, children = {}, loaded = {}, foreign = foreign, foreignPath = foreignPath }
  local env = {}
  app.env = env
  app.proxy = newProxy(app)
  local builtins = newBuiltins(app)
  app.builtins = builtins
  setmetatable(env, {
    __index = function(_, k)
      local b = builtins[k]
      if b ~= nil then return b end
      if k == 'data' then
        b = host.data(path)
        builtins.data = b
        return b
      end
      local c = app.children[k]
      if c then return c.proxy end
      local p = app.parent
      if p == nil then
        if foreign == nil then return G[k] end
        if k == foreign then return builtins.super end
        local g = G[k]
        if g ~= nil then return g end
        return foreignValue(path, k, nil)
      end
      if k == p.name then return p.proxy end
      return p.env[k]
    end,
  })
  if parent then parent.children[name] = app end
  return app
end

-- (re)runs main.lua in a clean environment; errors propagate to the JS caller
function M.run(app, code, chunk)
  local env = app.env
  local k = next(env)
  while k ~= nil do
    env[k] = nil
    k = next(env)
  end
  app.loaded = {}
  local f, err = load(code, '@' .. chunk, 'bt', env)
  if not f then error(err, 0) end
  f()
end

-- runs a piece of code in the app's environment (tests, consoles): its results, or its error
function M.eval(app, code, chunk)
  local f, err = load(code, chunk, 't', app.env)
  if not f then error(err, 0) end
  return f()
end

function M.unlink(app)
  local p = app.parent
  if p and p.children[app.name] == app then p.children[app.name] = nil end
end

return M
`;
