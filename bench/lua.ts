/**
 * Lua speed: our LuaJIT engine (native addon) against the standalone `luajit` binary, side by side
 * in one run, with fengari (the fallback) beside. Run by hand:
 *   npx tsc -p . && node dist/bench/lua.js [runs]
 *
 * CPU-bound workloads (fib(27), a 3M-step loop, 200k small tables, 200k string.format) run the
 * same Lua harness in every engine: each workload once to warm up, then `runs` times, timed with
 * LuaJIT's os.clock (the process's CPU time: on a machine shared with other jobs it moves less than
 * the wall clock) in the luajit binary and in ours, and with performance.now in fengari (whose
 * os.clock is the wall clock). The binary and ours alternate over 3 rounds; the median of the
 * rounds' medians is reported. Then the per-call cost of a JS→Lua call (push a
 * function and a number, pcall, read the number back) and of a Lua→JS call, medians of 5 rounds.
 */
/* eslint-disable @typescript-eslint/no-explicit-any */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { LuaStatus } from '../src/scripting/lua/api';
import { LuaJIT, luajitUnavailable } from '../src/scripting/lua/luajit';

const RUNS = Number(process.argv[2]) || 7;

/** the workloads, then a harness that prints `name median_ms` lines; `now()` is given by the engine */
const HARNESS = `
local now, runs, skip = ...
now = now or os.clock
local function fib(n) if n < 2 then return n end return fib(n - 1) + fib(n - 2) end
local function loop(n) local s = 0 for i = 1, n do s = s + (i % 7) * 2 end return s end
local function tables(n)
  local t = {}
  for i = 1, n do t[#t % 1000 + 1] = { x = i, y = i * 2, name = "p" } end
  return #t
end
local function format(n)
  local s
  for i = 1, n do s = string.format("%d:%s:%.2f", i, "key", i / 3) end
  return s
end
local work = {
  { "fib(27)", function() return fib(27) end },
  { "loop 3M", function() return loop(3000000) end },
  { "200k tables", function() return tables(200000) end },
  { "200k string.format", function() return format(200000) end },
}
local out, sink = {}, {}
for _, w in ipairs(work) do
  if not (skip and skip[w[1]]) then
    sink[#sink + 1] = w[2]()
    local times = {}
    for r = 1, runs do
      local t0 = now()
      sink[#sink + 1] = w[2]()  -- results are kept: nothing may be optimised away
      times[r] = (now() - t0) * 1000
    end
    table.sort(times)
    out[#out + 1] = w[1] .. "\\t" .. times[math.floor((runs + 1) / 2)]
  end
end
return table.concat(out, "\\n")
`;

function parse(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.trim().split('\n')) {
    const [name, ms] = line.split('\t');
    m.set(name, Number(ms));
  }
  return m;
}

function standalone(): Map<string, number> | string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lua-bench-'));
  try {
    const file = path.join(dir, 'bench.lua');
    fs.writeFileSync(
      file,
      `local harness = assert(loadstring(${JSON.stringify(HARNESS)}))
io.write(harness(nil, ${RUNS}))
`,
    );
    const r = spawnSync('luajit', [file], { encoding: 'utf8' });
    if (r.status !== 0) return `luajit binary: ${r.error?.message ?? r.stderr}`;
    return parse(r.stdout);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function ours(): Map<string, number> {
  const L = new LuaJIT({ callBudgetMs: 0 });
  try {
    L.load(Buffer.from(HARNESS), '=bench');
    L.pushnil();
    L.pushnumber(RUNS);
    if (L.pcall(2, 1) !== LuaStatus.OK) throw new Error(L.tostring(-1));
    return parse(L.tostring(-1));
  } finally {
    L.close();
  }
}

function fengariRun(): Map<string, number> {
  const fengari = require('fengari');
  const { lua, lauxlib, lualib } = fengari;
  const L = lauxlib.luaL_newstate();
  lualib.luaL_openlibs(L);
  if (lauxlib.luaL_loadstring(L, fengari.to_luastring(HARNESS)) !== 0) throw new Error('fengari load');
  lua.lua_pushcfunction(L, (L2: any) => {
    lua.lua_pushnumber(L2, performance.now() / 1000);
    return 1;
  });
  lua.lua_pushnumber(L, Math.max(3, Math.floor(RUNS / 2)));
  if (lua.lua_pcall(L, 2, 1, 0) !== 0) throw new Error(fengari.to_jsstring(lua.lua_tolstring(L, -1)));
  return parse(fengari.to_jsstring(lua.lua_tolstring(L, -1)));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** ns per JS→Lua call and per Lua→JS call on our engine */
function callCosts(): { jsToLua: number; luaToJs: number; jsToLuaString: number } {
  const L = new LuaJIT({ callBudgetMs: 500 });
  const N = 200_000;
  try {
    L.load(Buffer.from('function inc(x) return x + 1 end function echo(s) return s end function callJs(n) local f = jsfn local s = 0 for i = 1, n do s = s + f(i) end return s end'), '=calls');
    L.pcall(0, 0);
    L.pushfunction((api) => {
      api.pushnumber(api.tonumber(1) * 2);
      return 1;
    });
    L.setglobal('jsfn');
    L.getglobal('inc');
    const inc = L.ref();
    L.getglobal('echo');
    const echo = L.ref();
    const round = (): [number, number, number] => {
      let t = performance.now();
      for (let i = 0; i < N; i++) {
        L.pushref(inc);
        L.pushnumber(i);
        L.pcall(1, 1);
        L.tonumber(-1);
        L.settop(0);
      }
      const a = ((performance.now() - t) * 1e6) / N;
      t = performance.now();
      for (let i = 0; i < N; i++) {
        L.pushref(echo);
        L.pushstring('method');
        L.pcall(1, 1);
        L.tostring(-1);
        L.settop(0);
      }
      const c = ((performance.now() - t) * 1e6) / N;
      L.getglobal('callJs');
      L.pushnumber(N);
      t = performance.now();
      L.pcall(1, 1);
      const b = ((performance.now() - t) * 1e6) / N;
      L.settop(0);
      return [a, b, c];
    };
    round();
    const rounds = [round(), round(), round(), round(), round()];
    return { jsToLua: median(rounds.map((r) => r[0])), luaToJs: median(rounds.map((r) => r[1])), jsToLuaString: median(rounds.map((r) => r[2])) };
  } finally {
    L.close();
  }
}

function fengariCallCost(): number {
  const fengari = require('fengari');
  const { lua, lauxlib, lualib } = fengari;
  const L = lauxlib.luaL_newstate();
  lualib.luaL_openlibs(L);
  lauxlib.luaL_dostring(L, fengari.to_luastring('function inc(x) return x + 1 end'));
  lua.lua_getglobal(L, fengari.to_luastring('inc'));
  const ref = lauxlib.luaL_ref(L, lua.LUA_REGISTRYINDEX);
  const N = 200_000;
  const round = (): number => {
    const t = performance.now();
    for (let i = 0; i < N; i++) {
      lua.lua_rawgeti(L, lua.LUA_REGISTRYINDEX, ref);
      lua.lua_pushnumber(L, i);
      lua.lua_pcall(L, 1, 1, 0);
      lua.lua_tonumber(L, -1);
      lua.lua_settop(L, 0);
    }
    return ((performance.now() - t) * 1e6) / N;
  };
  round();
  return median([round(), round(), round(), round(), round()]);
}

function main(): void {
  const why = luajitUnavailable();
  if (why) {
    console.error(why);
    process.exit(1);
  }
  // the binary and ours alternate (3 rounds) so that a change of machine load hits both alike
  const refs: Map<string, number>[] = [];
  const mines: Map<string, number>[] = [];
  let failed: string | null = null;
  for (let round = 0; round < 3; round++) {
    const r = standalone();
    if (typeof r === 'string') failed = r;
    else refs.push(r);
    mines.push(ours());
  }
  const mid = (ms: Map<string, number>[], name: string): number => (ms.length ? median(ms.map((m) => m.get(name) ?? NaN)) : NaN);
  const ref = failed ?? new Map([...mines[0].keys()].map((k) => [k, mid(refs, k)]));
  const mine = new Map([...mines[0].keys()].map((k) => [k, mid(mines, k)]));
  const feng = fengariRun();
  console.log(`Lua workloads, ms of CPU (fengari: wall): median of 3 alternating rounds of ${RUNS} runs each (fengari: one round of ${Math.max(3, Math.floor(RUNS / 2))}); node ${process.version}, load ${os.loadavg()[0].toFixed(1)}`);
  const rows: Record<string, Record<string, string>> = {};
  for (const [name, ms] of mine) {
    const lj = typeof ref === 'string' ? NaN : ref.get(name) ?? NaN;
    rows[name] = {
      'luajit binary': lj.toFixed(2),
      'ours (addon)': ms.toFixed(2),
      'ours / luajit': (ms / lj).toFixed(2),
      fengari: (feng.get(name) ?? NaN).toFixed(1),
      'fengari / luajit': ((feng.get(name) ?? NaN) / lj).toFixed(0),
    };
  }
  console.table(rows);
  if (typeof ref === 'string') console.log(ref);
  const c = callCosts();
  const f = fengariCallCost();
  console.log('Per call, median of 5 rounds of 200k calls (ns):');
  console.table({
    'JS→Lua call (number in, number out)': { ours: c.jsToLua.toFixed(0), fengari: f.toFixed(0) },
    'JS→Lua call (string in, string out)': { ours: c.jsToLuaString.toFixed(0), fengari: '' },
    'Lua→JS call (from a Lua loop)': { ours: c.luaToJs.toFixed(0), fengari: '' },
  });
}

main();
