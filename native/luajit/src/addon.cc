// N-API glue: one JS object per LuaJIT state, one native function per LuaAPI operation
// (src/scripting/lua/luajit.ts wraps it into the LuaAPI class).
//
// No Lua error ever unwinds through JavaScript frames. Debian's LuaJIT unwinds its errors with
// the system unwinder (external frame unwinding), so a C++ `catch (...)` stops them: operations
// that can only fail in LuaJIT itself (memory, a nil table index, a bad key to next) catch their
// error, keep the error value in a registry slot and throw a JS Error. Operations that may run
// Lua code (a metamethod behind getfield, __tostring) run it under lua_pcall instead, so hook and
// budget state are restored by LuaJIT as on any protected call. A JS function called from Lua
// runs behind a C trampoline that turns what the JS side reports (results, an error value, a
// failed operation) into a return or a lua_error raised from C.
#include "vm.h"

#include <luajit.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

namespace {

// raises LuaJIT's own out-of-memory error (status ERRMEM, "not enough memory")
[[noreturn]] void raiseMemoryError(lua_State *L) {
  vmOf(L)->failNextAlloc = true;
  lua_newuserdata(L, 64);
  abort();  // unreachable: the allocation above fails and raises
}

// ---------------------------------------------------------------------------------------------
// JS function boxes: the upvalue of each trampoline closure

struct FnBox {
  VM *vm;
  int32_t index;
};

int boxGc(lua_State *L) {
  FnBox *b = static_cast<FnBox *>(lua_touserdata(L, 1));
  if (b && b->vm) {
    try {
      b->vm->freedFunctions.push_back(b->index);
    } catch (...) {
      // the index stays taken on the JS side: a small leak, never a crash
    }
    b->vm = nullptr;
  }
  return 0;
}

std::string describeJsError(napi_env env, napi_value exc) {
  napi_value msg = nullptr;
  napi_valuetype t;
  bool isError = false;
  napi_is_error(env, exc, &isError);
  if (isError) napi_get_named_property(env, exc, "message", &msg);
  if (!msg) napi_coerce_to_string(env, exc, &msg);
  napi_value pending;
  bool hasPending = false;
  napi_is_exception_pending(env, &hasPending);
  if (hasPending) napi_get_and_clear_last_exception(env, &pending);
  if (!msg || napi_typeof(env, msg, &t) != napi_ok || t != napi_string) return "JavaScript exception";
  size_t len = 0;
  napi_get_value_string_utf8(env, msg, nullptr, 0, &len);
  std::string out(len, '\0');
  napi_get_value_string_utf8(env, msg, &out[0], len + 1, &len);
  return out;
}

// the JS dispatcher's answer for one call: result count, or a negative code (see luajit.ts)
int32_t callJs(VM *vm, int32_t index, std::string &jsError) {
  napi_env env = vm->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) {
    jsError = "JavaScript is not reachable";
    return -4;
  }
  int32_t n = -3;
  napi_value fn = nullptr, arg, res, undef;
  napi_get_reference_value(env, vm->dispatch, &fn);
  if (!fn) {
    napi_close_handle_scope(env, scope);
    jsError = "the JavaScript side of this Lua state is gone";
    return -4;
  }
  napi_get_undefined(env, &undef);
  napi_create_int32(env, index, &arg);
  if (napi_call_function(env, undef, fn, 1, &arg, &res) == napi_ok) {
    if (napi_get_value_int32(env, res, &n) != napi_ok) n = -3;
  } else {
    // the dispatcher catches everything it can: this is a stack overflow or a terminating thread
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    jsError = "JavaScript call failed";
    if (pending) {
      napi_value exc;
      napi_get_and_clear_last_exception(env, &exc);
      jsError = describeJsError(env, exc);
    }
    n = -4;
  }
  napi_close_handle_scope(env, scope);
  return n;
}

int trampoline(lua_State *L) {
  FnBox *box = static_cast<FnBox *>(lua_touserdata(L, lua_upvalueindex(1)));
  VM *vm = box ? box->vm : nullptr;
  if (!vm) return luaL_error(L, "JavaScript function called after its state was closed");
  int32_t n;
  {
    // the JS function works on the thread that called it (a coroutine's own stack included)
    lua_State *caller = vm->cur;
    vm->cur = L;
    std::string jsError;
    n = callJs(vm, box->index, jsError);
    vm->cur = caller;
    if (n == -4) lua_pushlstring(L, jsError.data(), jsError.size());
  }
  if (n >= 0) {
    if (n > lua_gettop(L)) return luaL_error(L, "JavaScript function returned %d results with %d values on its stack", n, lua_gettop(L));
    return n;
  }
  if (n == -1 || n == -4) {  // error() / errorMessage() / a JS exception: its value is on the top
    if (lua_gettop(L) == 0) lua_pushnil(L);
    return lua_error(L);
  }
  if (n == -2) {  // an operation failed with a Lua error and the JS function let it through
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->refPending);
    if (vm->pendingStatus == LUA_ERRMEM) raiseMemoryError(L);
    return lua_error(L);
  }
  return luaL_error(L, "JavaScript function returned an invalid result count");
}

// ---------------------------------------------------------------------------------------------
// library additions (the Lua 5.2 switch's share, and loaders that apply the `#` rewrite)

int pairsMeta(lua_State *L) {
  if (luaL_getmetafield(L, 1, "__pairs")) {
    lua_pushvalue(L, 1);
    lua_call(L, 1, 3);
    return 3;
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_pushvalue(L, lua_upvalueindex(1));  // the builtin next: `for k, v in pairs(t)` stays compiled
  lua_pushvalue(L, 1);
  lua_pushnil(L);
  return 3;
}

int ipairsMeta(lua_State *L) {
  if (luaL_getmetafield(L, 1, "__ipairs")) {
    lua_pushvalue(L, 1);
    lua_call(L, 1, 3);
    return 3;
  }
  luaL_checkany(L, 1);
  lua_pushvalue(L, lua_upvalueindex(1));  // the builtin iterator of ipairs
  lua_pushvalue(L, 1);
  lua_pushnumber(L, 0);
  return 3;
}

int tablePack(lua_State *L) {
  int n = lua_gettop(L);
  lua_createtable(L, n, 1);  // array part of n: `#` gives n as LuaJIT's own table.pack does
  lua_insert(L, 1);
  for (int i = n; i >= 1; i--) lua_rawseti(L, 1, i);
  lua_pushnumber(L, n);
  lua_setfield(L, 1, "n");
  return 1;
}

// unpack past LuaJIT's 8000 values (its lua_checkstack limit), up to what the stack holds
int bigUnpack(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  double i = luaL_checknumber(L, 2), j = luaL_checknumber(L, 3);
  if (i > j) return 0;
  double n = j - i + 1;
  if (n >= 60000 || lua_gettop(L) + n > 60000) return luaL_error(L, "too many results to unpack");
  for (double k = i; k <= j; k++) lua_rawgeti(L, 1, int(k));
  return int(n);
}

int rawLen(lua_State *L) {
  int t = lua_type(L, 1);
  luaL_argcheck(L, t == LUA_TTABLE || t == LUA_TSTRING, 1, "table or string expected");
  lua_pushnumber(L, double(lua_objlen(L, 1)));
  return 1;
}

// Chunks are fed to LuaJIT's parser in pieces, and the interrupt is looked at between two: the
// parser is C code out of any hook's reach (about 70 MB/s here). Larger chunks than kMaxChunk are
// refused, which bounds both the parse and the `#` rewrite's working memory.
constexpr size_t kMaxChunk = 16 * 1024 * 1024;
constexpr size_t kPiece = 256 * 1024;

struct PieceReader {
  const char *p;
  size_t left;
};

const char *readPiece(lua_State *L, void *ud, size_t *size) {
  PieceReader *r = static_cast<PieceReader *>(ud);
  if (r->left == 0) {
    *size = 0;
    return nullptr;
  }
  if (interruptHookSet(L)) raiseInterrupt(L);
  const char *piece = r->p;
  *size = r->left < kPiece ? r->left : kPiece;
  r->p += *size;
  r->left -= *size;
  return piece;
}

// loads text (rewritten for `#`) or, if mode allows it, bytecode: pushes the function or the
// error message and returns the status (ERRMEM is LuaJIT's own error value)
int loadBuffer(lua_State *L, const char *buf, size_t len, const char *name, const char *mode) {
  if (len > kMaxChunk) {
    lua_pushfstring(L, "chunk too large (%d bytes, at most 16 MiB)", int(len > 0x7fffffff ? 0x7fffffff : len));
    return LUA_ERRSYNTAX;
  }
  std::string rewritten;
  PieceReader r{buf, len};
  if (rewriteLength(buf, len, rewritten)) r = PieceReader{rewritten.data(), rewritten.size()};
  return lua_loadx(L, readPiece, &r, name, mode);
}

// the same, for Lua's own loaders: an out-of-memory goes up as such
int loadChunk(lua_State *L, const char *buf, size_t len, const char *name, const char *mode) {
  int status = loadBuffer(L, buf, len, name, mode);
  if (status == LUA_ERRMEM) raiseMemoryError(L);
  return status;
}

int loadResult(lua_State *L, int status, int envArg) {
  if (status != 0) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  if (envArg && lua_type(L, envArg) == LUA_TTABLE) {
    lua_pushvalue(L, envArg);
    lua_setfenv(L, -2);
  }
  return 1;
}

// load(chunk [, chunkname [, mode [, env]]]): strings load as text unless mode says otherwise
int baseLoad(lua_State *L) {
  const char *mode = luaL_optstring(L, 3, nullptr);
  int envArg = lua_gettop(L) >= 4 ? 4 : 0;
  if (lua_type(L, 1) == LUA_TSTRING) {
    size_t len;
    const char *s = lua_tolstring(L, 1, &len);
    const char *name = luaL_optstring(L, 2, s);
    return loadResult(L, loadChunk(L, s, len, name, mode ? mode : "t"), envArg);
  }
  const char *name = luaL_optstring(L, 2, "=(load)");
  luaL_checktype(L, 1, LUA_TFUNCTION);
  luaL_Buffer b;
  lua_settop(L, 4);
  luaL_buffinit(L, &b);
  for (;;) {
    lua_pushvalue(L, 1);
    lua_call(L, 0, 1);
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      break;
    }
    if (!lua_isstring(L, -1)) luaL_error(L, "reader function must return a string");
    if (lua_objlen(L, -1) == 0) {
      lua_pop(L, 1);
      break;
    }
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  return loadResult(L, loadChunk(L, s, len, name, mode ? mode : "bt"), envArg);
}

int baseLoadstring(lua_State *L) {
  size_t len;
  const char *s = luaL_checklstring(L, 1, &len);
  const char *name = luaL_optstring(L, 2, s);
  return loadResult(L, loadChunk(L, s, len, name, "t"), 0);
}

// reads a whole file into a Lua string on the stack (so the memory cap applies); false + message
bool readFile(lua_State *L, const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    lua_pushfstring(L, "cannot open %s: %s", path, strerror(errno));
    return false;
  }
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  char chunk[8192];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) luaL_addlstring(&b, chunk, n);
  bool err = ferror(f) != 0;
  fclose(f);
  luaL_pushresult(&b);
  if (err) {
    lua_pop(L, 1);
    lua_pushfstring(L, "cannot read %s", path);
    return false;
  }
  return true;
}

// loadfile(path [, mode [, env]]): files may hold bytecode (they are the operator's)
int baseLoadfile(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  const char *mode = luaL_optstring(L, 2, "bt");
  int envArg = lua_gettop(L) >= 3 ? 3 : 0;
  if (!readFile(L, path)) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  lua_pushfstring(L, "@%s", path);
  int status = loadChunk(L, s, len, lua_tostring(L, -1), mode);
  return loadResult(L, status, envArg);
}

int baseDofile(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  lua_settop(L, 1);
  if (!readFile(L, path)) return lua_error(L);
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  lua_pushfstring(L, "@%s", path);
  if (loadChunk(L, s, len, lua_tostring(L, -1), "bt") != 0) return lua_error(L);
  lua_replace(L, 2);
  lua_settop(L, 2);
  lua_call(L, 0, LUA_MULTRET);
  return lua_gettop(L) - 1;
}

// Lua code run once per state, with the helpers above as arguments
const char kPrelude[] = R"lua(
local pairsMeta, ipairsMeta, tablePack, rawLen, load, loadstring, loadfile, dofile, interrupted, bigUnpack = ...
local type, getmetatable, rawget, error, dgetmetatable = type, getmetatable, rawget, error, debug.getmetatable

-- what every `#` of a loaded chunk calls (see the `#` rewrite): __len first on tables, as Lua 5.2
string.__mona_len = function(v)
  if type(v) == 'table' then
    local mt = getmetatable(v)
    if mt ~= nil then
      if type(mt) ~= 'table' then mt = dgetmetatable(v) end
      local f = rawget(mt, '__len')
      if f ~= nil then return (f(v, v)) end
    end
    return #v
  end
  local t = type(v)
  if t == 'string' or t == 'userdata' then return #v end
  error('attempt to get length of a ' .. t .. ' value', 2)
end

pairs, ipairs = pairsMeta, ipairsMeta

-- unpack as LuaJIT's, but past its 8000 values too (a 15,000-value result is a valid reply)
local unpack0 = unpack
unpack = function(t, i, j)
  if type(t) == 'table' then
    local a, b = i or 1, j or #t
    if type(a) == 'number' and type(b) == 'number' and b - a >= 7900 then return bigUnpack(t, a, b) end
  end
  return unpack0(t, i, j)
end
table.pack, table.unpack, rawlen = tablePack, unpack, rawLen
math.mod = math.mod or math.fmod
_G.load, _G.loadstring, _G.loadfile, _G.dofile = load, loadstring, loadfile, dofile

-- require's Lua searcher through the same loader
package.loaders[2] = function(name)
  local file = name:gsub('%.', '/')
  local tried = {}
  for template in package.path:gmatch('[^;]+') do
    local path = template:gsub('%?', function() return file end)
    local f = io.open(path, 'rb')
    if f then
      f:close()
      local fn, err = loadfile(path)
      if not fn then error(("error loading module '%s' from file '%s':\n\t%s"):format(name, path, err), 0) end
      return fn
    end
    tried[#tried + 1] = "\n\tno file '" .. path .. "'"
  end
  return table.concat(tried)
end

-- LuaJIT runs an error handler before unwinding, so for the interrupt (raised from a hook) the
-- handler would run with hooks off: a looping handler could never be stopped. The interrupt
-- skips the handler; every other error reaches it as before.
local xpcall0 = xpcall
xpcall = function(f, handler, ...)
  if type(handler) ~= 'function' then return xpcall0(f, handler, ...) end
  return xpcall0(f, function(e)
    if interrupted() then return e end
    return handler(e)
  end, ...)
end

-- what would let a script crash the process or escape the call budget
newproxy = nil                       -- __gc finalizers run with hooks off
debug.sethook = function() error('debug.sethook is not available: the server interrupts runaway scripts with hooks', 2) end
package.preload.ffi = nil            -- raw memory access
package.preload['string.buffer'] = nil
package.preload['jit.profile'] = nil -- the profiler instruments traces for the budget
package.preload['jit.util'] = nil
package.loaded['jit.opt'] = nil
local j = jit
jit = { version = j.version, version_num = j.version_num, os = j.os, arch = j.arch, status = j.status, on = j.on, off = j.off, flush = j.flush }
package.loaded.jit = jit
)lua";

int noop(lua_State *) { return 0; }

int isInterrupted(lua_State *L) {
  lua_pushboolean(L, interruptHookSet(L));
  return 1;
}

int ipairsIterator(lua_State *L) {
  // the builtin ipairs' iterator, taken once from a call of the builtin
  lua_getglobal(L, "ipairs");
  lua_newtable(L);
  lua_call(L, 1, 1);
  return 1;
}

bool openLibraries(lua_State *L, std::string &error) {
  luaL_openlibs(L);
  openPatternFunctions(L);
  openTableSort(L);
  if (luaL_loadbuffer(L, kPrelude, sizeof kPrelude - 1, "=prelude") != 0) {
    error = lua_tostring(L, -1);
    return false;
  }
  lua_getglobal(L, "next");
  lua_pushcclosure(L, pairsMeta, 1);
  lua_pushcfunction(L, ipairsIterator);
  lua_call(L, 0, 1);
  lua_pushcclosure(L, ipairsMeta, 1);
  lua_pushcfunction(L, tablePack);
  lua_pushcfunction(L, rawLen);
  lua_pushcfunction(L, baseLoad);
  lua_pushcfunction(L, baseLoadstring);
  lua_pushcfunction(L, baseLoadfile);
  lua_pushcfunction(L, baseDofile);
  lua_pushcfunction(L, isInterrupted);
  lua_pushcfunction(L, bigUnpack);
  if (lua_pcall(L, 10, 0, 0) != 0) {
    error = lua_tostring(L, -1);
    return false;
  }
  return true;
}

int helperGettable(lua_State *L) {
  lua_gettable(L, 1);
  return 1;
}

int helperSettable(lua_State *L) {
  lua_settable(L, 1);
  return 0;
}

// ---------------------------------------------------------------------------------------------
// argument handling

struct Args {
  napi_env env;
  VM *vm;
  lua_State *L;
  size_t argc;
  napi_value argv[4];
};

napi_value throwError(napi_env env, const char *msg) {
  napi_throw_error(env, nullptr, msg);
  return nullptr;
}

bool getArgs(napi_env env, napi_callback_info info, Args &a) {
  a.env = env;
  a.argc = 4;
  void *data = nullptr;
  // arguments not given read as undefined (napi_get_cb_info fills the rest of argv)
  if (napi_get_cb_info(env, info, &a.argc, a.argv, nullptr, &data) != napi_ok) return false;
  a.vm = static_cast<VM *>(data);
  a.L = a.vm->cur;
  if (!a.vm->L) {
    throwError(env, "the Lua state is closed");
    return false;
  }
  return true;
}

bool numberArg(Args &a, int i, double &out) {
  if (napi_get_value_double(a.env, a.argv[i], &out) != napi_ok) {
    napi_throw_type_error(a.env, nullptr, "a number is expected");
    return false;
  }
  return true;
}

bool intArg(Args &a, int i, double lo, double hi, int64_t &out) {
  double d;
  if (!numberArg(a, i, d)) return false;
  if (!(d >= lo && d <= hi) || d != std::floor(d)) {
    char msg[96];
    snprintf(msg, sizeof msg, "an integer in [%.0f, %.0f] is expected, got %g", lo, hi, d);
    napi_throw_range_error(a.env, nullptr, msg);
    return false;
  }
  out = int64_t(d);
  return true;
}

// an index naming an existing stack slot, made absolute
bool indexArg(Args &a, int i, int &abs) {
  int64_t idx;
  if (!intArg(a, i, -2147483648.0, 2147483647.0, idx)) return false;
  int top = lua_gettop(a.L);
  if (idx > 0 && idx <= top) {
    abs = int(idx);
    return true;
  }
  if (idx < 0 && -idx <= top) {
    abs = top + 1 + int(idx);
    return true;
  }
  char msg[80];
  snprintf(msg, sizeof msg, "invalid stack index %lld (top is %d)", (long long)idx, top);
  napi_throw_range_error(a.env, nullptr, msg);
  return false;
}

bool tableIndexArg(Args &a, int i, int &abs) {
  if (!indexArg(a, i, abs)) return false;
  if (lua_type(a.L, abs) != LUA_TTABLE) {
    napi_throw_type_error(a.env, nullptr, "a table is expected at that index");
    return false;
  }
  return true;
}

bool needTop(Args &a, int n) {
  if (lua_gettop(a.L) >= n) return true;
  char msg[64];
  snprintf(msg, sizeof msg, "%d value(s) expected on the stack", n);
  napi_throw_range_error(a.env, nullptr, msg);
  return false;
}

// bytes of a LuaText argument: a JS string as UTF-8 (into the scratch buffer) or a Uint8Array
bool textArg(Args &a, int i, const char *&ptr, size_t &len) {
  napi_valuetype t;
  napi_typeof(a.env, a.argv[i], &t);
  if (t == napi_string) {
    std::string &buf = a.vm->scratch;
    size_t cap = buf.size();
    size_t n = 0;
    if (cap < 64) {
      buf.resize(256);
      cap = buf.size();
    }
    if (napi_get_value_string_utf8(a.env, a.argv[i], &buf[0], cap, &n) != napi_ok) return false;
    if (n + 4 >= cap) {  // maybe cut (it stops before a character that does not fit): ask the length
      napi_get_value_string_utf8(a.env, a.argv[i], nullptr, 0, &n);
      if (n + 1 > cap) buf.resize(n + 1);
      napi_get_value_string_utf8(a.env, a.argv[i], &buf[0], n + 1, &n);
    }
    ptr = buf.data();
    len = n;
    return true;
  }
  bool isTyped = false;
  napi_is_typedarray(a.env, a.argv[i], &isTyped);
  if (isTyped) {
    napi_typedarray_type type;
    size_t length;
    void *data;
    napi_value ab;
    size_t offset;
    napi_get_typedarray_info(a.env, a.argv[i], &type, &length, &data, &ab, &offset);
    if (type == napi_uint8_array || type == napi_uint8_clamped_array || type == napi_int8_array) {
      ptr = length ? static_cast<const char *>(data) : "";
      len = length;
      return true;
    }
  }
  napi_throw_type_error(a.env, nullptr, "a string or a Uint8Array is expected");
  return false;
}

napi_value num(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}

napi_value boolean(napi_env env, bool b) {
  napi_value v;
  napi_get_boolean(env, b, &v);
  return v;
}

napi_value str(napi_env env, const char *s, size_t n) {
  napi_value v;
  napi_create_string_utf8(env, s, n, &v);
  return v;
}

// ---------------------------------------------------------------------------------------------
// Lua errors caught in operations

std::string errorText(lua_State *L, int idx) {
  size_t len;
  int t = lua_type(L, idx);
  if (t == LUA_TSTRING || t == LUA_TNUMBER) {
    lua_pushvalue(L, idx);
    const char *s = lua_tolstring(L, -1, &len);
    std::string out(s, len);
    lua_pop(L, 1);
    return out;
  }
  return std::string("(error object is a ") + lua_typename(L, t) + " value)";
}

// the error value of a failed operation is on the top: keep it, put the stack back as it was
// (top0) and throw a JS Error carrying the text and `luaStatus`
napi_value failLua(Args &a, int top0, int status) {
  lua_State *L = a.L;
  VM *vm = a.vm;
  std::string text;
  try {
    if (lua_gettop(L) > top0) {
      text = errorText(L, -1);
      if (status == 0) status = text == "not enough memory" ? LUA_ERRMEM : LUA_ERRRUN;
      lua_rawseti(L, LUA_REGISTRYINDEX, vm->refPending);  // an existing slot: no allocation
    } else {
      text = "Lua error";
      if (status == 0) status = LUA_ERRRUN;
    }
    lua_settop(L, top0);
  } catch (...) {
    lua_settop(L, top0);
    text = "not enough memory";
    status = LUA_ERRMEM;
  }
  vm->pendingStatus = status;
  napi_value err, code;
  napi_create_error(a.env, nullptr, str(a.env, text.data(), text.size()), &err);
  napi_create_int32(a.env, status, &code);
  napi_set_named_property(a.env, err, "luaStatus", code);
  napi_throw(a.env, err);
  return nullptr;
}

napi_value failCpp(Args &a, int top0, const char *what) {
  if (lua_gettop(a.L) > top0) lua_settop(a.L, top0);
  return throwError(a.env, what);
}

#define TRY(a, top0) \
  int top0 = lua_gettop((a).L); \
  try {
#define CATCH(a, top0)                                                   \
  }                                                                      \
  catch (const std::bad_alloc &) {                                       \
    return failCpp(a, top0, "out of memory in the LuaJIT addon");       \
  }                                                                      \
  catch (const std::exception &e) {                                      \
    return failCpp(a, top0, e.what());                                   \
  }                                                                      \
  catch (...) {                                                          \
    return failLua(a, top0, 0);                                          \
  }

// runs the function below nargs arguments under lua_pcall; an outermost one starts the budget
int protectedCall(VM *vm, int nargs, int nresults) {
  lua_State *L = vm->cur;
  bool outer = vm->depth == 0;
  if (outer) {
    // LuaJIT starts a GC cycle once the heap doubles: with live data past half the cap that is
    // too late, allocations would fail while garbage waits. Start cycles earlier near the cap.
    if (vm->limit && vm->used > vm->limit / 4) {
      double room = double(vm->limit) * 0.9 / double(vm->used);
      int pause = room >= 2 ? 200 : room <= 1.1 ? 110 : int(room * 100);
      lua_gc(L, LUA_GCSETPAUSE, pause);
    }
    guardArm(vm);
  }
  vm->depth++;
  int base = lua_gettop(L) - nargs - 1;
  int status = lua_pcall(L, nargs, nresults, 0);
  vm->depth--;
  if (outer && vm->interrupted && vm->refInterruptMsg != LUA_NOREF) {
    // The interrupt was raised: the caller sees it as such, whatever the unwinding ended with (a
    // coroutine's re-raise adds a position) and even when something turned it into a value on
    // the way out (load returns it as nil, message; a JS function may have caught it)
    lua_settop(L, base);
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->refInterruptMsg);
    status = LUA_ERRRUN;
  }
  if (outer) guardDisarm(vm);
  // LuaJIT has no emergency collection: a failed allocation leaves the garbage where it is, and
  // every later allocation would fail too until a cycle completes. Collect now, and give what
  // the collection freed back to the system (see vmGiveBack).
  if (outer && status == LUA_ERRMEM) {
    lua_gc(L, LUA_GCCOLLECT, 0);
    vmGiveBack();
  }
  return status;
}

// ---------------------------------------------------------------------------------------------
// operations

#define OP(name) napi_value name(napi_env env, napi_callback_info info)
#define ARGS             \
  Args a;                \
  if (!getArgs(env, info, a)) return nullptr; \
  lua_State *L = a.L;    \
  (void)L;

OP(opGettop) {
  ARGS;
  return num(env, lua_gettop(L));
}

// makes room for n more slots even past lua_checkstack's 8000 (pushes grow LuaJIT's stack)
bool grow(lua_State *L, int64_t n) {
  if (n <= 0) return true;
  int top = lua_gettop(L);
  if (top + n > 60000) return false;
  if (n <= 7000 && lua_checkstack(L, int(n))) return true;  // it refuses past 8000 slots in all
  for (int64_t i = 0; i < n; i++) lua_pushnil(L);
  lua_settop(L, top);
  return true;
}

OP(opSettop) {
  ARGS;
  int64_t n;
  if (!intArg(a, 0, -2147483648.0, 2147483647.0, n)) return nullptr;
  int top = lua_gettop(L);
  if (n < 0) {
    if (-n > top + 1) return napi_throw_range_error(env, nullptr, "settop below the bottom of the stack"), nullptr;
    lua_settop(L, int(n));
    return nullptr;
  }
  TRY(a, top0)
  if (!grow(L, n - top)) return napi_throw_range_error(env, nullptr, "stack overflow"), nullptr;
  lua_settop(L, int(n));
  CATCH(a, top0)
  return nullptr;
}

OP(opPushvalue) {
  ARGS;
  int idx;
  if (!indexArg(a, 0, idx)) return nullptr;
  TRY(a, top0)
  lua_pushvalue(L, idx);
  CATCH(a, top0)
  return nullptr;
}

OP(opRemove) {
  ARGS;
  int idx;
  if (!indexArg(a, 0, idx)) return nullptr;
  lua_remove(L, idx);
  return nullptr;
}

OP(opInsert) {
  ARGS;
  int idx;
  if (!indexArg(a, 0, idx)) return nullptr;
  lua_insert(L, idx);
  return nullptr;
}

OP(opAbsindex) {
  ARGS;
  int idx;
  if (!indexArg(a, 0, idx)) return nullptr;
  return num(env, idx);
}

OP(opCheckstack) {
  ARGS;
  int64_t n;
  if (!intArg(a, 0, -2147483648.0, 2147483647.0, n)) return nullptr;
  bool ok;
  try {
    ok = grow(L, n);
  } catch (...) {
    lua_settop(L, lua_gettop(L) - 1);  // LuaJIT's error value
    ok = false;
  }
  return boolean(env, ok);
}

OP(opType) {
  ARGS;
  double d;
  if (!numberArg(a, 0, d)) return nullptr;
  int top = lua_gettop(L);
  if (d != std::floor(d) || d == 0 || d > top || d < -top) return num(env, LUA_TNONE);
  int t = lua_type(L, int(d));
  return num(env, t);
}

OP(opTypename) {
  ARGS;
  int64_t t;
  if (!intArg(a, 0, -1, 10, t)) return nullptr;
  const char *name = t == -1 ? "no value" : lua_typename(L, int(t));
  return str(env, name, NAPI_AUTO_LENGTH);
}

OP(opPushnil) {
  ARGS;
  TRY(a, top0)
  lua_pushnil(L);
  CATCH(a, top0)
  return nullptr;
}

OP(opPushnumber) {
  ARGS;
  double d;
  if (!numberArg(a, 0, d)) return nullptr;
  TRY(a, top0)
  lua_pushnumber(L, d);
  CATCH(a, top0)
  return nullptr;
}

OP(opPushboolean) {
  ARGS;
  bool b = false;
  napi_value coerced;
  napi_coerce_to_bool(env, a.argv[0], &coerced);
  napi_get_value_bool(env, coerced, &b);
  TRY(a, top0)
  lua_pushboolean(L, b);
  CATCH(a, top0)
  return nullptr;
}

OP(opPushstring) {
  ARGS;
  const char *p;
  size_t len;
  if (!textArg(a, 0, p, len)) return nullptr;
  TRY(a, top0)
  lua_pushlstring(L, p, len);
  CATCH(a, top0)
  return nullptr;
}

OP(opPushfunction) {
  ARGS;
  int64_t index;
  if (!intArg(a, 0, 0, 2147483647.0, index)) return nullptr;
  TRY(a, top0)
  FnBox *box = static_cast<FnBox *>(lua_newuserdata(L, sizeof(FnBox)));
  box->vm = a.vm;
  box->index = int32_t(index);
  lua_rawgeti(L, LUA_REGISTRYINDEX, a.vm->refBoxMeta);
  lua_setmetatable(L, -2);
  lua_pushcclosure(L, trampoline, 1);
  CATCH(a, top0)
  return num(env, double(a.vm->freedFunctions.size()));
}

OP(opTakefreed) {
  ARGS;
  std::vector<int32_t> &f = a.vm->freedFunctions;
  napi_value arr;
  napi_create_array_with_length(env, f.size(), &arr);
  for (size_t i = 0; i < f.size(); i++) napi_set_element(env, arr, uint32_t(i), num(env, f[i]));
  f.clear();
  return arr;
}

OP(opCreatetable) {
  ARGS;
  int64_t na, nr;
  if (!intArg(a, 0, 0, 67108864.0, na) || !intArg(a, 1, 0, 67108864.0, nr)) return nullptr;
  TRY(a, top0)
  lua_createtable(L, int(na), int(nr));
  CATCH(a, top0)
  return nullptr;
}

OP(opTonumber) {
  ARGS;
  int idx;
  if (!indexArg(a, 0, idx)) return nullptr;
  return num(env, lua_tonumber(L, idx));
}

OP(opToboolean) {
  ARGS;
  int idx;
  if (!indexArg(a, 0, idx)) return nullptr;
  return boolean(env, lua_toboolean(L, idx) != 0);
}

OP(opTolstring) {
  ARGS;
  int idx;
  if (!indexArg(a, 0, idx)) return nullptr;
  int t = lua_type(L, idx);
  if (t != LUA_TSTRING && t != LUA_TNUMBER) {
    napi_value n;
    napi_get_null(env, &n);
    return n;
  }
  size_t len = 0;
  const char *s = nullptr;
  TRY(a, top0)
  s = lua_tolstring(L, idx, &len);  // a number becomes a string in place, as in C
  CATCH(a, top0)
  napi_value buf;
  void *data;
  if (napi_create_buffer_copy(env, len, len ? s : "", &data, &buf) != napi_ok) return nullptr;
  return buf;
}

OP(opRawlen) {
  ARGS;
  int idx;
  if (!indexArg(a, 0, idx)) return nullptr;
  int t = lua_type(L, idx);
  if (t != LUA_TSTRING && t != LUA_TTABLE && t != LUA_TUSERDATA) return num(env, 0);
  return num(env, double(lua_objlen(L, idx)));
}

OP(opTopointer) {
  ARGS;
  int idx;
  if (!indexArg(a, 0, idx)) return nullptr;
  const void *p = lua_topointer(L, idx);
  if (!p) {
    napi_value n;
    napi_get_null(env, &n);
    return n;
  }
  return num(env, double(uintptr_t(p)));
}

OP(opTostring) {
  ARGS;
  int idx;
  if (!indexArg(a, 0, idx)) return nullptr;
  int t = lua_type(L, idx);
  size_t len;
  switch (t) {
    case LUA_TSTRING: {
      const char *s = lua_tolstring(L, idx, &len);
      return str(env, s, len);
    }
    case LUA_TNIL:
      return str(env, "nil", 3);
    case LUA_TBOOLEAN:
      return lua_toboolean(L, idx) ? str(env, "true", 4) : str(env, "false", 5);
    default:
      break;
  }
  // numbers and the rest through the base library's tostring (__tostring, "table: 0x...")
  TRY(a, top0)
  lua_rawgeti(L, LUA_REGISTRYINDEX, a.vm->refTostring);
  lua_pushvalue(L, idx);
  CATCH(a, top0)
  int status = protectedCall(a.vm, 1, 1);
  if (status != 0) return failLua(a, top0, status);
  std::string out;
  const char *s = lua_tolstring(L, -1, &len);
  napi_value v = s ? str(env, s, len) : str(env, "", 0);
  lua_settop(L, top0);
  return v;
}

// pushes t[key] (index abs, a pseudo-index allowed for the globals): raw when no metamethod can
// be involved, else through a protected call of lua_gettable
napi_value getWithKey(Args &a, int abs, const char *key, size_t len) {
  lua_State *L = a.L;
  TRY(a, top0)
  if (lua_type(L, abs) == LUA_TTABLE) {
    lua_pushlstring(L, key, len);
    lua_rawget(L, abs);
    if (!lua_isnil(L, -1) || !lua_getmetatable(L, abs)) return nullptr;
    lua_pop(L, 2);
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, a.vm->refGettable);
  lua_pushvalue(L, abs);
  lua_pushlstring(L, key, len);
  CATCH(a, top0)
  int status = protectedCall(a.vm, 2, 1);
  if (status != 0) return failLua(a, top0, status);
  return nullptr;
}

// t[key] = top (popped): raw when no metatable or the key is present, else a protected settable
napi_value setWithKey(Args &a, int abs, const char *key, size_t len) {
  lua_State *L = a.L;
  TRY(a, top0)
  if (lua_type(L, abs) == LUA_TTABLE) {
    bool raw = !lua_getmetatable(L, abs);
    if (!raw) {
      lua_pop(L, 1);
      lua_pushlstring(L, key, len);
      lua_rawget(L, abs);
      raw = !lua_isnil(L, -1);
      lua_pop(L, 1);
    }
    if (raw) {
      lua_pushlstring(L, key, len);  // ... v k
      lua_insert(L, -2);             // ... k v
      lua_rawset(L, abs);
      return nullptr;
    }
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, a.vm->refSettable);  // ... v h
  lua_pushvalue(L, abs);                                 // ... v h t
  lua_pushlstring(L, key, len);                          // ... v h t k
  lua_pushvalue(L, -4);                                  // ... v h t k v
  CATCH(a, top0)
  int status = protectedCall(a.vm, 3, 0);
  if (status != 0) return failLua(a, top0, status);
  lua_pop(L, 1);
  return nullptr;
}

OP(opGetfield) {
  ARGS;
  int idx;
  const char *k;
  size_t len;
  if (!indexArg(a, 0, idx) || !textArg(a, 1, k, len)) return nullptr;
  return getWithKey(a, idx, k, len);
}

OP(opSetfield) {
  ARGS;
  int idx;
  const char *k;
  size_t len;
  if (!indexArg(a, 0, idx) || !textArg(a, 1, k, len) || !needTop(a, 1)) return nullptr;
  return setWithKey(a, idx, k, len);
}

OP(opGetglobal) {
  ARGS;
  const char *k;
  size_t len;
  if (!textArg(a, 0, k, len)) return nullptr;
  return getWithKey(a, LUA_GLOBALSINDEX, k, len);
}

OP(opSetglobal) {
  ARGS;
  const char *k;
  size_t len;
  if (!textArg(a, 0, k, len) || !needTop(a, 1)) return nullptr;
  return setWithKey(a, LUA_GLOBALSINDEX, k, len);
}

OP(opRawget) {
  ARGS;
  int idx;
  if (!tableIndexArg(a, 0, idx) || !needTop(a, 1)) return nullptr;
  lua_rawget(L, idx);
  return nullptr;
}

OP(opRawset) {
  ARGS;
  int idx;
  if (!tableIndexArg(a, 0, idx) || !needTop(a, 2)) return nullptr;
  TRY(a, top0)
  lua_rawset(L, idx);
  CATCH(a, top0)
  return nullptr;
}

OP(opRawgeti) {
  ARGS;
  int idx;
  int64_t n;
  if (!tableIndexArg(a, 0, idx) || !intArg(a, 1, -2147483648.0, 2147483647.0, n)) return nullptr;
  TRY(a, top0)
  lua_rawgeti(L, idx, int(n));
  CATCH(a, top0)
  return nullptr;
}

OP(opRawseti) {
  ARGS;
  int idx;
  int64_t n;
  if (!tableIndexArg(a, 0, idx) || !intArg(a, 1, -2147483648.0, 2147483647.0, n) || !needTop(a, 1)) return nullptr;
  TRY(a, top0)
  lua_rawseti(L, idx, int(n));
  CATCH(a, top0)
  return nullptr;
}

OP(opNext) {
  ARGS;
  int idx;
  if (!tableIndexArg(a, 0, idx) || !needTop(a, 1)) return nullptr;
  int more = 0;
  TRY(a, top0)
  if (!grow(L, 2)) return throwError(env, "stack overflow");
  more = lua_next(L, idx);
  CATCH(a, top0)
  return boolean(env, more != 0);
}

OP(opSetmetatable) {
  ARGS;
  int idx;
  if (!indexArg(a, 0, idx) || !needTop(a, 1)) return nullptr;
  int t = lua_type(L, idx);
  int mt = lua_type(L, -1);
  if (t != LUA_TTABLE && t != LUA_TUSERDATA)
    return napi_throw_type_error(env, nullptr, "only tables and userdata take a metatable here"), nullptr;
  if (mt != LUA_TTABLE && mt != LUA_TNIL) return napi_throw_type_error(env, nullptr, "the metatable must be a table or nil"), nullptr;
  lua_setmetatable(L, idx);
  return nullptr;
}

OP(opGetmetatable) {
  ARGS;
  int idx;
  if (!indexArg(a, 0, idx)) return nullptr;
  int has = 0;
  TRY(a, top0)
  has = lua_getmetatable(L, idx);
  CATCH(a, top0)
  return boolean(env, has != 0);
}

OP(opSettag) {
  ARGS;
  int idx;
  int64_t id;
  if (!tableIndexArg(a, 0, idx) || !intArg(a, 1, 0, 9007199254740991.0, id)) return nullptr;
  TRY(a, top0)
  lua_rawgeti(L, LUA_REGISTRYINDEX, a.vm->refTags);
  lua_pushvalue(L, idx);
  if (id)
    lua_pushnumber(L, double(id));
  else
    lua_pushnil(L);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  CATCH(a, top0)
  return nullptr;
}

OP(opGettag) {
  ARGS;
  int idx;
  if (!indexArg(a, 0, idx)) return nullptr;
  if (lua_type(L, idx) != LUA_TTABLE) return num(env, 0);
  double id = 0;
  TRY(a, top0)
  lua_rawgeti(L, LUA_REGISTRYINDEX, a.vm->refTags);
  lua_pushvalue(L, idx);
  lua_rawget(L, -2);
  id = lua_tonumber(L, -1);
  lua_pop(L, 2);
  CATCH(a, top0)
  return num(env, id);
}

OP(opRef) {
  ARGS;
  if (!needTop(a, 1)) return nullptr;
  int ref = LUA_REFNIL;
  TRY(a, top0)
  ref = luaL_ref(L, LUA_REGISTRYINDEX);
  if (ref > 0) {
    std::vector<uint8_t> &live = a.vm->userRefs;
    if (size_t(ref) >= live.size()) live.resize(size_t(ref) * 2 + 16, 0);
    live[size_t(ref)] = 1;
  }
  CATCH(a, top0)
  return num(env, ref);
}

bool liveRef(VM *vm, int64_t ref) { return ref > 0 && size_t(ref) < vm->userRefs.size() && vm->userRefs[size_t(ref)]; }

OP(opPushref) {
  ARGS;
  int64_t ref;
  if (!intArg(a, 0, -2147483648.0, 2147483647.0, ref)) return nullptr;
  TRY(a, top0)
  if (liveRef(a.vm, ref))
    lua_rawgeti(L, LUA_REGISTRYINDEX, int(ref));
  else
    lua_pushnil(L);
  CATCH(a, top0)
  return nullptr;
}

OP(opUnref) {
  ARGS;
  int64_t ref;
  if (!intArg(a, 0, -2147483648.0, 2147483647.0, ref)) return nullptr;
  if (ref == LUA_REFNIL || ref == LUA_NOREF) return nullptr;
  if (!liveRef(a.vm, ref)) return napi_throw_range_error(env, nullptr, "not a live reference"), nullptr;
  a.vm->userRefs[size_t(ref)] = 0;
  luaL_unref(L, LUA_REGISTRYINDEX, int(ref));
  return nullptr;
}

OP(opPcall) {
  ARGS;
  int64_t nargs, nres;
  if (!intArg(a, 0, 0, 65535, nargs) || !intArg(a, 1, -1, 65535, nres)) return nullptr;
  if (!needTop(a, int(nargs) + 1)) return nullptr;
  if (nres > 0) {
    bool ok;
    try {
      ok = grow(L, nres);
    } catch (...) {
      lua_settop(L, lua_gettop(L) - 1);
      ok = false;
    }
    if (!ok) return napi_throw_range_error(env, nullptr, "stack overflow"), nullptr;
  }
  int status = protectedCall(a.vm, int(nargs), int(nres));
  return num(env, status);
}

OP(opLoad) {
  ARGS;
  const char *code;
  size_t len;
  if (!textArg(a, 0, code, len)) return nullptr;
  std::string copy(code, len);  // the scratch buffer is reused for the name
  const char *name;
  size_t nameLen;
  if (!textArg(a, 1, name, nameLen)) return nullptr;
  std::string chunkName(name, nameLen);
  int status;
  TRY(a, top0)
  status = loadBuffer(L, copy.data(), copy.size(), chunkName.c_str(), nullptr);
  CATCH(a, top0)
  return num(env, status);
}

bool position(lua_State *L, int level, std::string &out) {
  lua_Debug ar;
  if (!lua_getstack(L, level, &ar)) return false;
  if (!lua_getinfo(L, "Sl", &ar) || ar.currentline <= 0) return false;
  out = ar.short_src;
  out += ':';
  out += std::to_string(ar.currentline);
  return true;
}

OP(opWhere) {
  ARGS;
  int64_t level;
  if (!intArg(a, 0, 0, 1000000, level)) return nullptr;
  std::string out;
  position(L, int(level), out);
  return str(env, out.data(), out.size());
}

OP(opErrormessage) {
  ARGS;
  const char *m;
  size_t len;
  if (!textArg(a, 0, m, len)) return nullptr;
  std::string text;
  if (position(L, 1, text)) text += ": ";
  text.append(m, len);
  TRY(a, top0)
  lua_pushlstring(L, text.data(), text.size());
  CATCH(a, top0)
  return nullptr;
}

OP(opGc) {
  ARGS;
  TRY(a, top0)
  lua_gc(L, LUA_GCCOLLECT, 0);
  CATCH(a, top0)
  return num(env, double(a.vm->used));
}

OP(opMemused) {
  ARGS;
  return num(env, double(a.vm->used));
}

OP(opSetlimit) {
  ARGS;
  int64_t n;
  if (!intArg(a, 0, 0, 9007199254740991.0, n)) return nullptr;
  a.vm->limit = size_t(n);
  return nullptr;
}

OP(opSetbudget) {
  ARGS;
  int64_t ms;
  if (!intArg(a, 0, 0, 4294967295.0, ms)) return nullptr;
  a.vm->budgetMs.store(uint32_t(ms));
  return nullptr;
}

OP(opInfo) {
  ARGS;
  napi_value o;
  napi_create_object(env, &o);
  napi_set_named_property(env, o, "jit", boolean(env, a.vm->jit));
  napi_set_named_property(env, o, "interruptible", boolean(env, a.vm->slot >= 0));
  napi_set_named_property(env, o, "depth", num(env, a.vm->depth));
  return o;
}

void closeVM(VM *vm) {
  if (!vm->L) return;
  guardClose(vm);
  lua_close(vm->L);
  vm->L = vm->cur = nullptr;
}

OP(opClose) {
  size_t argc = 0;
  void *data = nullptr;
  napi_get_cb_info(env, info, &argc, nullptr, nullptr, &data);
  VM *vm = static_cast<VM *>(data);
  if (!vm->L) return nullptr;
  if (vm->depth > 0) return throwError(env, "the Lua state cannot be closed while Lua code runs");
  closeVM(vm);
  if (vm->dispatch) {
    napi_delete_reference(env, vm->dispatch);
    vm->dispatch = nullptr;
  }
  return nullptr;
}

void finalizeVM(napi_env env, void *data, void *) {
  VM *vm = static_cast<VM *>(data);
  closeVM(vm);
  if (vm->dispatch) napi_delete_reference(env, vm->dispatch);
  delete vm;
}

int makeRef(lua_State *L, lua_CFunction f) {
  lua_pushcfunction(L, f);
  return luaL_ref(L, LUA_REGISTRYINDEX);
}

// open(dispatch: (index) => number, jit: boolean) -> handle with the operations as methods
OP(opOpen) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  napi_valuetype t = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &t);
  if (t != napi_function) return napi_throw_type_error(env, nullptr, "open(dispatch, jit): dispatch must be a function"), nullptr;
  bool wantJit = true;
  if (argc >= 2) {
    napi_value coerced;
    napi_coerce_to_bool(env, argv[1], &coerced);
    napi_get_value_bool(env, coerced, &wantJit);
  }
  VM *vm = new VM();
  vm->env = env;
  vm->thread = pthread_self();
  vm->L = vm->cur = lua_newstate(vmAlloc, vm);
  if (!vm->L) {
    delete vm;
    return throwError(env, "cannot create a LuaJIT state");
  }
  lua_State *L = vm->L;
  std::string error;
  bool ok = true;
  try {
    ok = openLibraries(L, error);
    if (ok) {
      lua_pushboolean(L, 0);
      vm->refPending = luaL_ref(L, LUA_REGISTRYINDEX);
      lua_newtable(L);
      lua_newtable(L);
      lua_pushliteral(L, "k");
      lua_setfield(L, -2, "__mode");
      lua_setmetatable(L, -2);
      vm->refTags = luaL_ref(L, LUA_REGISTRYINDEX);
      lua_newtable(L);
      lua_pushcfunction(L, boxGc);
      lua_setfield(L, -2, "__gc");
      vm->refBoxMeta = luaL_ref(L, LUA_REGISTRYINDEX);
      lua_getglobal(L, "tostring");
      vm->refTostring = luaL_ref(L, LUA_REGISTRYINDEX);
      vm->refGettable = makeRef(L, helperGettable);
      vm->refSettable = makeRef(L, helperSettable);
    }
  } catch (...) {
    ok = false;
    error = "not enough memory";
  }
  if (!ok) {
    lua_close(L);
    delete vm;
    return throwError(env, ("cannot open the Lua libraries: " + error).c_str());
  }
  guardInit(vm, wantJit);
  if (!vm->jit) {
    // a state without the profiler's instrumentation must stay interpreted: jit.on does nothing
    lua_getglobal(L, "jit");
    lua_pushcfunction(L, noop);
    lua_setfield(L, -2, "on");
  }
  lua_settop(L, 0);
  // weak: the adapter object holds its dispatcher, and an adapter nobody holds any more lets the
  // handle's finalizer close the state (a strong reference would keep that cycle alive forever)
  if (napi_create_reference(env, argv[0], 0, &vm->dispatch) != napi_ok) {
    closeVM(vm);
    delete vm;
    return nullptr;
  }

  napi_value handle;
  napi_create_object(env, &handle);
  static const struct {
    const char *name;
    napi_callback cb;
  } ops[] = {
      {"gettop", opGettop},           {"settop", opSettop},         {"pushvalue", opPushvalue},
      {"remove", opRemove},           {"insert", opInsert},         {"absindex", opAbsindex},
      {"checkstack", opCheckstack},   {"type", opType},             {"typename", opTypename},
      {"pushnil", opPushnil},         {"pushnumber", opPushnumber}, {"pushboolean", opPushboolean},
      {"pushstring", opPushstring},   {"pushfunction", opPushfunction}, {"takefreed", opTakefreed},
      {"createtable", opCreatetable}, {"tonumber", opTonumber},     {"toboolean", opToboolean},
      {"tolstring", opTolstring},     {"rawlen", opRawlen},         {"topointer", opTopointer},
      {"tostring", opTostring},       {"getfield", opGetfield},     {"setfield", opSetfield},
      {"getglobal", opGetglobal},     {"setglobal", opSetglobal},   {"rawget", opRawget},
      {"rawset", opRawset},           {"rawgeti", opRawgeti},       {"rawseti", opRawseti},
      {"next", opNext},               {"setmetatable", opSetmetatable}, {"getmetatable", opGetmetatable},
      {"settag", opSettag},           {"gettag", opGettag},         {"ref", opRef},
      {"pushref", opPushref},         {"unref", opUnref},           {"pcall", opPcall},
      {"load", opLoad},               {"where", opWhere},           {"errormessage", opErrormessage},
      {"gc", opGc},                   {"memused", opMemused},       {"setlimit", opSetlimit},
      {"setbudget", opSetbudget},     {"info", opInfo},             {"close", opClose},
  };
  constexpr size_t count = sizeof ops / sizeof ops[0];
  napi_property_descriptor desc[count];
  for (size_t i = 0; i < count; i++) {
    desc[i] = {ops[i].name, nullptr, ops[i].cb, nullptr, nullptr, nullptr, napi_default, vm};
  }
  napi_define_properties(env, handle, count, desc);
  napi_wrap(env, handle, vm, finalizeVM, nullptr, nullptr);
  return handle;
}

// rewriteLength(bytes) -> the rewritten chunk, or null when it needs none (for tests)
OP(opRewrite) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  void *data = nullptr;
  size_t len = 0;
  bool isBuffer = false;
  if (argc < 1 || napi_is_buffer(env, argv[0], &isBuffer) != napi_ok || !isBuffer)
    return napi_throw_type_error(env, nullptr, "a Buffer is expected"), nullptr;
  napi_get_buffer_info(env, argv[0], &data, &len);
  std::string out;
  if (!rewriteLength(static_cast<const char *>(data), len, out)) {
    napi_value n;
    napi_get_null(env, &n);
    return n;
  }
  napi_value buf;
  void *copy;
  napi_create_buffer_copy(env, out.size(), out.data(), &copy, &buf);
  return buf;
}

}  // namespace

VM *vmOf(lua_State *L) {
  void *ud = nullptr;
  lua_getallocf(L, &ud);
  return static_cast<VM *>(ud);
}

void raiseInterrupt(lua_State *L) {
  VM *vm = vmOf(L);
  if (vm->refInterruptMsg == LUA_NOREF) {
    std::string where;
    for (int level = 0; level < 4; level++) {
      if (position(L, level, where)) {
        where += ": ";
        break;
      }
    }
    std::string text = where + "script interrupted: still running after " + std::to_string(vm->interruptedAfter) + " ms";
    lua_pushlstring(L, text.data(), text.size());
    text.clear();
    text.shrink_to_fit();
    where.clear();
    where.shrink_to_fit();
    lua_pushvalue(L, -1);
    vm->refInterruptMsg = luaL_ref(L, LUA_REGISTRYINDEX);
  } else {
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->refInterruptMsg);
  }
  lua_error(L);
}

static napi_value Init(napi_env env, napi_value exports) {
  // Lua's print and io.write go through C's stdout, which Node does not use: line buffering keeps
  // their lines in order with the server's own console output (a pipe would hold them back)
  setvbuf(stdout, nullptr, _IOLBF, 0);
  napi_property_descriptor desc[] = {
      {"open", nullptr, opOpen, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"rewriteLength", nullptr, opRewrite, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, 2, desc);
  napi_value version;
  napi_create_string_utf8(env, LUAJIT_VERSION, NAPI_AUTO_LENGTH, &version);
  napi_set_named_property(env, exports, "version", version);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
