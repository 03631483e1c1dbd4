/**
 * io's files as MonaServer apps use them (io.open, read formats, write, seek, lines, io.lines,
 * append, binary bytes, errors), on every Lua engine: LuaJIT's C library, fengari's through
 * fengari-io.ts. The same answers are expected from both.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { evalRoot, makeAppDir, startLua } from '../lua-fixtures';
import { LUA_ENGINES } from './engines';

for (const engine of LUA_ENGINES) {
  test(`${engine.name}: io.open/read/write/seek/lines/io.lines, append, binary bytes, errors`, { skip: engine.skip }, async () => {
    const dir = makeAppDir({ 'www/main.lua': '' });
    const file = path.join(dir, 'f.txt').replace(/\\/g, '/');
    const s = await startLua(dir, { lua: engine.open });
    try {
      const q = JSON.stringify(file);
      assert.deepEqual(
        evalRoot(
          s,
          `local f = assert(io.open(${q}, "w"))
           assert(f:write("line one\\n", 42, " 3.5 0x10\\nlast")) -- the file (5.2) or true (5.1)
           f:close()
           local r = io.open(${q}, "rb")
           local a = r:read("*l")
           local b = r:read("l")
           r:seek("set", 0)
           local all = r:read("*a")
           local pos = r:seek("cur")
           local eof = r:read("*a")
           local none = r:read("*l")
           r:seek("set", 9)
           local n1, n2, n3 = r:read("*n", "n", "n")
           local five = r:seek("set", 0) and r:read(5)
           local size = r:seek("end")
           r:close()
           return a, b, #all, pos, eof, none, n1, n2, n3, five, size, io.type(r), io.type(42)`,
        ),
        ['line one', '42 3.5 0x10', 25, 25, '', null, 42, 3.5, 16, 'line ', 25, 'closed file', null],
      );
      assert.deepEqual(
        evalRoot(
          s,
          `local out = {}
           for line in io.lines(${q}) do out[#out + 1] = line end
           local f = io.open(${q}, "a") f:write("\\nmore") f:close()
           local n = 0
           local g = io.open(${q}) for l in g:lines() do n = n + 1 end g:close()
           local bin = io.open(${q} .. ".bin", "wb") bin:write("\\0\\255\\1") bin:close()
           local rb = io.open(${q} .. ".bin", "rb") local bytes = rb:read("*a") rb:close()
           local missing, message, code = io.open(${q} .. ".nope")
           local ok, err = pcall(function() return g:read() end)
           return #out, n, #bytes, bytes:byte(2), missing, message:find("No such file or directory", 1, true) ~= nil, type(code), ok, io.type(io.stdout)`,
        ),
        [3, 4, 3, 255, null, true, 'number', false, 'file'],
      );
      assert.equal(fs.readFileSync(file, 'utf8'), 'line one\n42 3.5 0x10\nlastmore'.replace('lastmore', 'last\nmore'));
    } finally {
      await s.close();
    }
  });
}
