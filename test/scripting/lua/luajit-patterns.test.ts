/**
 * string.find / match / gmatch / gsub and table.sort are our interruptible versions
 * (native/luajit/src/strlib.cc, tablib.cc), not LuaJIT's: differential runs against the standalone
 * `luajit` binary on random inputs (errors included) show they answer exactly as LuaJIT's own.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { LuaStatus } from '../../../src/scripting/lua/api';
import { LuaJIT, luajitUnavailable } from '../../../src/scripting/lua/luajit';
import { prng } from '../../helpers/prng';

const unavailable = luajitUnavailable();
if (unavailable && process.env.CI) throw new Error(unavailable);
const hasBinary = spawnSync('luajit', ['-v'], { stdio: 'ignore' }).status === 0;

/** a Lua string literal for any bytes */
function lit(b: string): string {
  return `"${[...Buffer.from(b, 'latin1')].map((c) => `\\${c}`).join('')}"`;
}

test('pattern functions answer as LuaJIT\'s own (differential against the luajit binary)', { skip: unavailable ?? (!hasBinary && 'no luajit binary') }, () => {
  const rand = prng(77031);
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)];
  const subjectChars = ['a', 'b', 'c', ' ', '1', '2', '(', ')', '[', ']', '%', '.', '-', 'x', 'Z', '\0', '\n', 'é'];
  const items = ['a', 'b', '.', '%a', '%d', '%s', '%w', '%p', '%u', '%l', '%x', '%c', '%g', '%z', '%A', '%S', '[abc]', '[^a]', '[a-c]', '[%a%d]', '[]]', '[^%s]', '%(', '%%', '%.', '%b()', '%f[%a]', '%f[%A]', '(', ')', '()', '%1', '$', '^', 'é', '[', '%', '%b', '%f', '%9'];
  const quant = ['', '', '', '*', '+', '-', '?'];
  const subjects: string[] = [];
  const patterns: string[] = [];
  for (let i = 0; i < 300; i++) {
    let s = '';
    const n = Math.floor(rand() * 12);
    for (let j = 0; j < n; j++) s += pick(subjectChars);
    subjects.push(s);
    let p = rand() < 0.2 ? '^' : '';
    const m = 1 + Math.floor(rand() * 5);
    for (let j = 0; j < m; j++) p += pick(items) + pick(quant);
    if (rand() < 0.15) p += '$';
    patterns.push(p);
  }
  const repls = ['"<%0>"', '"%1"', '"%2"', '"%%"', '"x%"', '{a = "A", b = false}', 'function(c) return c == "a" and "!" or nil end', 'function() return {} end', '5'];
  const calls: string[] = [];
  for (let i = 0; i < subjects.length; i++) {
    const s = lit(subjects[i]);
    const p = lit(patterns[i]);
    const init = pick(['', ', 1', ', 2', ', -2', ', 0', ', 40', ', -40', ', 2, true', ', 1e10', ', "2"']);
    calls.push(`string.find(${s}, ${p}${init})`);
    calls.push(`string.match(${s}, ${p}${init.replace(', true', '')})`);
    calls.push(`(function() local r = {} for a, b in string.gmatch(${s}, ${p}) do r[#r + 1] = tostring(a) .. "|" .. tostring(b) if #r > 20 then break end end return table.concat(r, ";") end)()`);
    calls.push(`string.gsub(${s}, ${p}, ${pick(repls)}${pick(['', ', 1', ', 0', ', -1', ', 2.5'])})`);
  }
  calls.push('string.find("a+b", "+", 1, true)', 'string.find("abc", "", 10)', 'string.find("", "")', 'string.rep("ab", 3, ",")');
  const show = 'local function show(ok, ...) if not ok then return "error: " .. tostring((...)):gsub("^[^:]*:%d+: ", "") end local r = {} for i = 1, select("#", ...) do r[i] = type((select(i, ...))) .. ":" .. tostring((select(i, ...))) end return table.concat(r, ",") end';
  const program = `${show}\nlocal out = {}\n${calls.map((c) => `out[#out + 1] = show(pcall(function() return ${c} end))`).join('\n')}\nreturn table.concat(out, "\\n")`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'patterns-'));
  try {
    const file = path.join(dir, 'p.lua');
    fs.writeFileSync(file, `io.write((assert(loadstring(${JSON.stringify(program)}, "=p")))())`);
    const ref = spawnSync('luajit', [file], { encoding: 'latin1' });
    assert.equal(ref.status, 0, ref.stderr);
    const L = new LuaJIT({ callBudgetMs: 5000 });
    try {
      assert.equal(L.load(Buffer.from(program, 'latin1'), '=p'), LuaStatus.OK, L.tostring(-1));
      assert.equal(L.pcall(0, 1), LuaStatus.OK, L.tostring(-1));
      const ours = Buffer.from(L.tolstring(-1)!).toString('latin1').split('\n');
      const theirs = ref.stdout.split('\n');
      assert.equal(ours.length, theirs.length);
      let errors = 0;
      for (let i = 0; i < ours.length; i++) {
        assert.equal(ours[i], theirs[i], calls[i]);
        if (ours[i].startsWith('error')) errors++;
      }
      // both outcomes are exercised
      assert.ok(errors > 50 && errors < ours.length - 300, `${errors} errors of ${ours.length}`);
    } finally {
      L.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('table.sort orders as LuaJIT\'s own (differential against the luajit binary)', { skip: unavailable ?? (!hasBinary && 'no luajit binary') }, () => {
  const rand = prng(5150);
  const cases: string[] = [];
  for (let i = 0; i < 200; i++) {
    const n = Math.floor(rand() * 40);
    const items: string[] = [];
    for (let j = 0; j < n; j++) items.push(rand() < 0.8 ? String(Math.floor(rand() * 10)) : `"${'abc'[Math.floor(rand() * 3)]}"`);
    const cmp = ['', ', function(a, b) return a > b end', ', function(a, b) return a <= b end', ', function(a, b) return tostring(a) < tostring(b) end', ', function() return true end', ', 5'][Math.floor(rand() * 6)];
    // records whose order among equal keys shows the algorithm
    cases.push(`local t = {${items.map((x, k) => `{k = ${x}, i = ${k}}`).join(', ')}} table.sort(t, function(a, b) return tostring(a.k) < tostring(b.k) end) local r = {} for _, v in ipairs(t) do r[#r + 1] = v.i end return table.concat(r, " ")`);
    cases.push(`local t = {${items.join(', ')}} table.sort(t${cmp}) local r = {} for _, v in ipairs(t) do r[#r + 1] = tostring(v) end return table.concat(r, " ")`);
  }
  cases.push('table.sort(nil)', 'table.sort({3, 1, 2}, "x")', 'local t = {3, 1, nil, 2} table.sort(t) return t[1], t[2], t[3]');
  const show = 'local function show(ok, ...) if not ok then return "error: " .. tostring((...)):gsub("^[^:]*:%d+: ", "") end local r = {} for i = 1, select("#", ...) do r[i] = tostring((select(i, ...))) end return table.concat(r, ",") end';
  const program = `${show}\nlocal out = {}\n${cases.map((c) => `out[#out + 1] = show(pcall(function() ${c} end))`).join('\n')}\nreturn table.concat(out, "\\n")`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sort-'));
  try {
    const file = path.join(dir, 's.lua');
    fs.writeFileSync(file, `io.write((assert(loadstring(${JSON.stringify(program)}, "=s")))())`);
    const ref = spawnSync('luajit', [file], { encoding: 'latin1' });
    assert.equal(ref.status, 0, ref.stderr);
    const L = new LuaJIT({ callBudgetMs: 5000 });
    try {
      assert.equal(L.load(Buffer.from(program, 'latin1'), '=s'), LuaStatus.OK, L.tostring(-1));
      assert.equal(L.pcall(0, 1), LuaStatus.OK, L.tostring(-1));
      const ours = L.tostring(-1).split('\n');
      const theirs = ref.stdout.split('\n');
      assert.equal(ours.length, theirs.length);
      for (let i = 0; i < ours.length; i++) assert.equal(ours[i], theirs[i], cases[i]);
      assert.ok(ours.filter((l) => l.startsWith('error')).length > 20);
    } finally {
      L.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
