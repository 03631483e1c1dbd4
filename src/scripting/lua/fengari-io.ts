/**
 * The file side of Lua's `io` library for fengari, whose own `io` only writes to stdout/stderr:
 * `io.open(path[, mode])`, `io.lines(path, ...)`, `io.close(file)`, `io.type(x)`, and files with
 * `read`, `write`, `lines`, `seek`, `close`, `flush`, `setvbuf`, as LuaJIT's C library gives them
 * (MonaServer apps read their media and configuration files this way). Reads and writes are
 * synchronous (as in C) and binary-safe; a file's position is kept by the file object (Node has
 * no lseek), reads ahead 64 KB at a time. Paths are the process's, as C's fopen takes them.
 * `io.read`/`io.input`/`io.output` (the standard input) are not provided.
 */
import * as fs from 'node:fs';
import { LuaStatus, LuaType, type LuaAPI, type LuaJSFunction } from './api';

const FILES_LUA = `
local open_, read_, write_, size_, close_ = ...
local type, tostring, tonumber, error, select, setmetatable, getmetatable = type, tostring, tonumber, error, select, setmetatable, getmetatable
local sub, find, match = string.sub, string.find, string.match
local CHUNK = 65536

local FILE = {}
FILE.__index = FILE
FILE.__name = 'FILE*'
FILE.__tostring = function(f)
  if f.closed then return 'file (closed)' end
  return 'file (' .. tostring(f.fd) .. ')'
end
local function isfile(f) return getmetatable(f) == FILE end
local function check(f, name)
  if not isfile(f) then error("bad argument #1 to '" .. name .. "' (FILE* expected)", 3) end
  if f.closed then error('attempt to use a closed file', 3) end
end

-- f.buf: bytes read ahead, starting at the logical position f.pos
local function fill(f)
  local chunk = read_(f.fd, f.pos + #f.buf, CHUNK)
  if chunk == nil or chunk == '' then return false end
  f.buf = f.buf .. chunk
  return true
end
local function take(f, n)
  local s = sub(f.buf, 1, n)
  f.buf = sub(f.buf, n + 1)
  f.pos = f.pos + #s
  return s
end

local function readline(f, keep)
  while true do
    local i = find(f.buf, '\\n', 1, true)
    if i then
      local line = take(f, i)
      if keep then return line end
      return sub(line, 1, -2)
    end
    if not fill(f) then
      if f.buf == '' then return nil end
      return take(f, #f.buf)
    end
  end
end

local function readnumber(f)
  while #f.buf < 200 and fill(f) do end
  local s = match(f.buf, '^%s*[-+]?0[xX][%x%.]+[pP]?[-+]?%d*') or match(f.buf, '^%s*[-+]?%d*%.?%d*[eE]?[-+]?%d*')
  local n = s and tonumber(s)
  if s then take(f, #s) end
  return n
end

local function readone(f, fmt)
  if type(fmt) == 'number' then
    if fmt <= 0 then
      if f.buf == '' and not fill(f) then return nil end
      return ''
    end
    while #f.buf < fmt and fill(f) do end
    if f.buf == '' then return nil end
    return take(f, fmt)
  end
  fmt = tostring(fmt):gsub('^%*', '')
  local c = sub(fmt, 1, 1)
  if c == 'l' then return readline(f, false) end
  if c == 'L' then return readline(f, true) end
  if c == 'n' then return readnumber(f) end
  if c == 'a' then
    while fill(f) do end
    return take(f, #f.buf)
  end
  error("bad argument to 'read' (invalid format)", 3)
end

local function read(f, ...)
  local n = select('#', ...)
  if n == 0 then return readone(f, 'l') end
  local out = {}
  for i = 1, n do
    local v = readone(f, (select(i, ...)))
    out[i] = v
    if v == nil then return table.unpack(out, 1, i) end
  end
  return table.unpack(out, 1, n)
end

function FILE:read(...)
  check(self, 'read')
  if not self.readable then return nil, 'Bad file descriptor', 9 end
  return read(self, ...)
end

function FILE:write(...)
  check(self, 'write')
  if not self.writable then return nil, 'Bad file descriptor', 9 end
  for i = 1, select('#', ...) do
    local v = select(i, ...)
    if type(v) ~= 'string' and type(v) ~= 'number' then error("bad argument #" .. i .. " to 'write' (string expected, got " .. type(v) .. ")", 2) end
    v = tostring(v)
    if self.append then
      write_(self.fd, nil, v)
      self.pos = size_(self.fd)
    else
      write_(self.fd, self.pos, v)
      self.pos = self.pos + #v
    end
    self.buf = ''
  end
  return self
end

function FILE:seek(whence, offset)
  check(self, 'seek')
  whence = whence or 'cur'
  offset = offset or 0
  local base
  if whence == 'set' then base = 0
  elseif whence == 'cur' then base = self.pos
  elseif whence == 'end' then base = size_(self.fd)
  else error("bad argument #1 to 'seek' (invalid option '" .. tostring(whence) .. "')", 2) end
  local pos = base + offset
  if pos < 0 then return nil, 'Invalid argument', 22 end
  self.pos = pos
  self.buf = ''
  return pos
end

function FILE:lines(...)
  check(self, 'lines')
  local n, formats = select('#', ...), { ... }
  return function()
    if self.closed then error('file is already closed', 2) end
    if n == 0 then return readone(self, 'l') end
    return read(self, table.unpack(formats, 1, n))
  end
end

function FILE:close()
  check(self, 'close')
  self.closed = true
  self.buf = ''
  close_(self.fd)
  return true
end

function FILE:flush() check(self, 'flush') return self end
function FILE:setvbuf() check(self, 'setvbuf') return true end

local io = io
local fengariType, fengariClose = io.type, io.close

function io.open(path, mode)
  mode = mode or 'r'
  if type(path) ~= 'string' then error("bad argument #1 to 'open' (string expected, got " .. type(path) .. ")", 2) end
  local m = match(mode, '^([rwa])(%+?)b?$')
  if not m then error("bad argument #2 to 'open' (invalid mode '" .. tostring(mode) .. "')", 2) end
  local plus = match(mode, '^[rwa](%+?)') == '+'
  local fd, message, code = open_(path, sub(mode, 1, 1) .. (plus and '+' or ''))
  if not fd then return nil, path .. ': ' .. message, code end
  return setmetatable({ fd = fd, pos = 0, buf = '', closed = false,
    readable = m == 'r' or plus, writable = m ~= 'r' or plus, append = m == 'a' }, FILE)
end

function io.lines(path, ...)
  if path == nil then error("io.lines without a file name: the standard input is not available", 2) end
  local f, message = io.open(path, 'r')
  if not f then error(message, 2) end
  local n, formats = select('#', ...), { ... }
  return function()
    if f.closed then return nil end
    local v
    if n == 0 then v = readone(f, 'l') else v = read(f, table.unpack(formats, 1, n)) end
    if v == nil then f:close() end
    return v
  end
end

function io.type(x)
  if isfile(x) then return x.closed and 'closed file' or 'file' end
  return fengariType(x)
end

function io.close(f)
  if isfile(f) then return f:close() end
  return fengariClose(f)
end
`;

/** fs flags of a C mode letter (+ "+"). */
const FLAGS: Record<string, string> = { r: 'r', 'r+': 'r+', w: 'w', 'w+': 'w+', a: 'a', 'a+': 'a+' };

/** Files one state may hold open (C closes a forgotten FILE* when it is collected; fengari cannot). */
export const MAX_OPEN_FILES = 1024;

/**
 * Opens the files part of `io` in a fresh fengari state (after the standard libraries). Returns
 * what closes every file the state left open (when the state closes).
 */
export function openFiles(api: LuaAPI): () => void {
  const open = new Set<number>();
  const text = (i: number): string => Buffer.from(api.tolstring(i) ?? new Uint8Array(0)).toString('utf8');
  const fail = (a: LuaAPI, e: unknown): number => {
    const err = e as NodeJS.ErrnoException;
    a.pushnil();
    a.pushstring(err.code === 'ENOENT' ? 'No such file or directory' : err.code === 'EACCES' ? 'Permission denied' : err.code === 'EISDIR' ? 'Is a directory' : err.message);
    a.pushnumber(typeof err.errno === 'number' ? Math.abs(err.errno) : 0);
    return 3;
  };
  const fns: LuaJSFunction[] = [
    // open(path, mode) → fd | nil, message, errno
    (a) => {
      if (open.size >= MAX_OPEN_FILES) return fail(a, Object.assign(new Error(`Too many open files (${MAX_OPEN_FILES}): close the files you are done with`), { errno: 24 }));
      try {
        const fd = fs.openSync(text(1), FLAGS[text(2)] ?? 'r');
        open.add(fd);
        a.pushnumber(fd);
        return 1;
      } catch (e) {
        return fail(a, e);
      }
    },
    // read(fd, position, n) → bytes ("" at the end)
    (a) => {
      const n = Math.max(0, Math.min(a.tonumber(3), 1 << 20));
      const buf = Buffer.allocUnsafe(n);
      let got: number;
      try {
        got = fs.readSync(a.tonumber(1), buf, 0, n, a.tonumber(2));
      } catch (e) {
        return a.errorMessage(`read: ${(e as Error).message}`);
      }
      a.pushstring(buf.subarray(0, got));
      return 1;
    },
    // write(fd, position | nil (append), bytes)
    (a) => {
      const data = a.tolstring(3) ?? new Uint8Array(0);
      const position = a.type(2) === LuaType.NUMBER ? a.tonumber(2) : null;
      try {
        let done = 0;
        while (done < data.length) done += fs.writeSync(a.tonumber(1), data, done, data.length - done, position === null ? null : position + done);
      } catch (e) {
        return a.errorMessage(`write: ${(e as Error).message}`);
      }
      return 0;
    },
    // size(fd)
    (a) => {
      try {
        a.pushnumber(fs.fstatSync(a.tonumber(1)).size);
      } catch (e) {
        return a.errorMessage(`seek: ${(e as Error).message}`);
      }
      return 1;
    },
    // close(fd)
    (a) => {
      const fd = a.tonumber(1);
      if (!open.delete(fd)) return 0;
      try {
        fs.closeSync(fd);
      } catch {
        // already closed
      }
      return 0;
    },
  ];
  if (api.load(Buffer.from(FILES_LUA, 'utf8'), '=io') !== LuaStatus.OK) throw new Error(`io set-up: ${api.tostring(-1)}`);
  for (const fn of fns) api.pushfunction(fn);
  if (api.pcall(fns.length, 0) !== LuaStatus.OK) throw new Error(`io set-up: ${api.tostring(-1)}`);
  return () => {
    for (const fd of open) {
      try {
        fs.closeSync(fd);
      } catch {
        // gone already
      }
    }
    open.clear();
  };
}
