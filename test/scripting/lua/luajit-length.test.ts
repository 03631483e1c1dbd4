/**
 * The load-time rewrite that makes `#` honour __len on tables in Debian's LuaJIT (no 5.2 switch):
 * exact output on chosen cases, and a differential run against the standalone `luajit` binary:
 * for tables without __len and for strings, rewritten chunks must compute what the originals do.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, describe, test } from 'node:test';
import { LuaStatus } from '../../../src/scripting/lua/api';
import { LuaJIT, luajitUnavailable, rewriteLengthForTests } from '../../../src/scripting/lua/luajit';
import { prng } from '../../helpers/prng';

const unavailable = luajitUnavailable();
if (unavailable && process.env.CI) throw new Error(unavailable);
const hasBinary = spawnSync('luajit', ['-v'], { stdio: 'ignore' }).status === 0;

const P = 'local __mona_len=("").__mona_len;';
function rw(src: string): string | null {
  const out = rewriteLengthForTests(Buffer.from(src));
  return out === null ? null : out.toString('latin1');
}

describe('`#` rewrite', { skip: unavailable ?? false }, () => {
  test('operand extents follow Lua precedence', () => {
    const cases: Array<[string, string | null]> = [
      ['return 1', null],
      ['return #t', `${P}return (__mona_len(t))`],
      ['return #t + 1', `${P}return (__mona_len(t)) + 1`],
      ['return -#t', `${P}return -(__mona_len(t))`],
      ['return #t.a[i]:m(1)("x"){}', `${P}return (__mona_len(t.a[i]:m(1)("x"){}))`],
      ['return #t ^ 2 .. x', `${P}return (__mona_len(t ^ 2)) .. x`],
      ['return #-t ^ -2 ^ 3 * 4', `${P}return (__mona_len(-t ^ -2 ^ 3)) * 4`],
      ['return ##t', `${P}return (__mona_len((__mona_len(t))))`],
      ['t[#t + 1] = #s', `${P}t[(__mona_len(t)) + 1] = (__mona_len(s))`],
      ['return #{1, 2, #{3}}', `${P}return (__mona_len({1, 2, (__mona_len({3}))}))`],
      ['return #(f)(x) == 0 and not #t', `${P}return (__mona_len((f)(x))) == 0 and not (__mona_len(t))`],
      ['return #function() if a then return 1 end end', `${P}return (__mona_len(function() if a then return 1 end end))`],
      ['return #"a#b" .. [[#]] --[==[ #c ]==] -- #d', `${P}return (__mona_len("a#b")) .. [[#]] --[==[ #c ]==] -- #d`],
      ['return #...', `${P}return (__mona_len(...))`],
      ['return #t\n+ 1', `${P}return (__mona_len(t))\n+ 1`],
      ['#!/usr/bin/lua\nreturn #t', `#!/usr/bin/lua\n${P}return (__mona_len(t))`],
      ['\uFEFFreturn #t', `\u00ef\u00bb\u00bf${P}return (__mona_len(t))`],
      // what the scanner cannot follow is left alone for the compiler to report
      ['return #', null],
      ['return #end', null],
      ['return "unfinished #t', null],
      ['return #t[1', null],
      ['-- only a comment #', null],
    ];
    for (const [src, want] of cases) {
      const got = rw(src);
      assert.equal(got, want === null ? null : Buffer.from(want, src.startsWith('\uFEFF') ? 'latin1' : 'utf8').toString('latin1'), src);
    }
    assert.equal(rw('\x1bLJ#'), null); // bytecode
  });

  test('line numbers are kept: errors point at the original line', () => {
    const L = new LuaJIT({ callBudgetMs: 0 });
    try {
      assert.equal(L.load(Buffer.from('local t = {}\n\nlocal n = #t\nerror("at " .. n)'), '=chunk'), LuaStatus.OK);
      assert.equal(L.pcall(0, 0), LuaStatus.ERRRUN);
      assert.equal(L.tostring(-1), 'chunk:4: at 0');
    } finally {
      L.close();
    }
  });

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lenfix-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('differential: rewritten chunks compute what the luajit binary computes on the originals', { skip: !hasBinary && 'no luajit binary' }, () => {
    const rand = prng(20260514);
    const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
    const atoms = ['t', 's', 'n', 'e', 't.list', 't["list"]', 't.list[2]', 't.s', 's:rep(2)', 'f(t)', 'f(s)', '(t)', '"abc"', "'#'", '[[x#y]]', '{1, 2, 3}', '{}', 'g()', '...'];
    const lenable = ['t', 's', 'e', 't.list', 't["list"]', 't.s', 's:rep(2)', 'f(t)', 'f(s)', '(t)', '"abc"', "'#'", '[[x#y]]', '{1, 2, 3}', '{}', 'g()', '...', 't.nested.inner'];
    const bin = ['+', '-', '*', '..', '==', '<', 'and', 'or', '^', '%'];
    const gen = (d: number): string => {
      const r = rand();
      if (d > 3 || r < 0.25) return pick(atoms);
      if (r < 0.55) return `#${rand() < 0.2 ? '#' : ''}${d > 2 ? pick(lenable) : rand() < 0.5 ? pick(lenable) : `(${gen(d + 1)})`}`;
      if (r < 0.65) return `- ${gen(d + 1)}`;
      if (r < 0.7) return `not ${gen(d + 1)}`;
      if (r < 0.8) return `{${gen(d + 1)}, #${pick(lenable)}}`;
      return `${gen(d + 1)} ${pick(bin)}${rand() < 0.3 ? '\n' : ' '}${gen(d + 1)}`;
    };
    const show = 'local function show(ok, ...) if not ok then return "error" end local r = {} for i = 1, select("#", ...) do local v = select(i, ...) r[i] = type(v) == "table" and "table" .. select("#", unpack(v)) or tostring(v) end return table.concat(r, ",") end';
    const setup = 'local t = {list = {1, 2, 3}, s = "hello", nested = {inner = {1, 2}}} local s, n, e = "12", 7, "" local function f(x) return x end local function g() return "ab", {1} end';
    const lines: string[] = [];
    for (let i = 0; i < 400; i++) lines.push(`out[#out + 1] = show(pcall(function(...) return ${gen(0)} end, {1, 2}, "xyz"))`);
    // statements where `#` sits in every kind of place
    lines.push('out[#out + 1] = show(pcall(function() local a = {} for i = 1, 5 do a[#a + 1] = i end local c = 0 while #a > 2 do a[#a] = nil c = c + 1 end repeat c = c + 1 until #a < 3 or c > 10 if #a == 2 then return c, #a end end))');
    lines.push('out[#out + 1] = show(pcall(function() return #t.list, # t.list, #t .list, #t\n.list, #--[[x]]t.list end))');
    const program = `${show}\n${setup}\nlocal out = {}\n${lines.join('\n')}\nreturn table.concat(out, "\\n")`;
    const file = path.join(dir, 'diff.lua');
    fs.writeFileSync(file, `io.write((assert(loadstring(${JSON.stringify(program)}, "=diff")))())`);
    const ref = spawnSync('luajit', [file], { encoding: 'utf8' });
    assert.equal(ref.status, 0, ref.stderr);
    const L = new LuaJIT({ callBudgetMs: 5000 });
    try {
      assert.equal(L.load(Buffer.from(program), '=diff'), LuaStatus.OK, L.tostring(-1));
      assert.equal(L.pcall(0, 1), LuaStatus.OK, L.tostring(-1));
      const ours = L.tostring(-1).split('\n');
      const theirs = ref.stdout.split('\n');
      assert.equal(ours.length, theirs.length);
      for (let i = 0; i < ours.length; i++) assert.equal(ours[i], theirs[i], `line ${i}: ${lines[i]}`);
      // the rewrite did touch them all
      assert.ok(rw(program)!.split('__mona_len(').length > 400);
    } finally {
      L.close();
    }
  });
});
