/**
 * Engine choice benchmark (issue 3): wasmoon (Lua 5.4 in WASM) against fengari (Lua 5.3 in JS).
 * Run by hand: `npx tsc -p . && node dist/bench/lua-engines.js` (`... host`: only the LuaHost paths). Both engines are driven the way
 * the scripting layer would drive them: through their raw C API, with byte strings (Buffers) and
 * not through convenience wrappers, so that the figures are the per-event costs we would pay.
 *
 * Measures: JS→Lua call (one number in, one out), Lua→JS call (a registered function called from
 * a Lua loop), a CPU-bound Lua loop, and a 10 KB binary string pushed to Lua and read back.
 */
/* eslint-disable @typescript-eslint/no-explicit-any */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { FolderHost } from '../src/core/app-host';
import { Client } from '../src/core/client';
import { ServerContext } from '../src/core/context';
import { defaultConfig } from '../src/registry';
import { Level } from '../src/logs/levels';
import { ServerLogger } from '../src/logs/logger';
import { LuaHost } from '../src/scripting/lua-host';

const CALLS = 200_000;
const LOOP = 3_000_000;
const STRINGS = 20_000;
const CPU_SCRIPT = `
function cpu(n)
  local s, t = 0, {}
  for i = 1, n do
    s = s + (i % 7) * 2
    if i % 1000 == 0 then t[#t + 1] = tostring(s) end
  end
  return s + #t
end
function inc(x) return x + 1 end
function echo(s) return s, #s end
function callJs(n) local f = jsfn local s = 0 for i = 1, n do s = s + f(i) end return s end
`;

interface Figures {
  jsToLuaNsPerCall: number;
  luaToJsNsPerCall: number;
  cpuLoopMs: number;
  binary10kUsPerRoundTrip: number;
  binarySafe: boolean;
  prints10div2: string;
}

function time(fn: () => void): number {
  const t = performance.now();
  fn();
  return performance.now() - t;
}

function fengariBench(): Figures {
  const fengari = require('fengari');
  const { lua, lauxlib, lualib } = fengari;
  const L = lauxlib.luaL_newstate();
  lualib.luaL_openlibs(L);
  if (lauxlib.luaL_dostring(L, fengari.to_luastring(CPU_SCRIPT)) !== 0) throw new Error('fengari load');
  lua.lua_pushcfunction(L, (L2: any) => {
    lua.lua_pushnumber(L2, lua.lua_tonumber(L2, 1) * 2);
    return 1;
  });
  lua.lua_setglobal(L, fengari.to_luastring('jsfn'));
  const incName = fengari.to_luastring('inc');
  const jsToLua =
    time(() => {
      for (let i = 0; i < CALLS; i++) {
        lua.lua_getglobal(L, incName);
        lua.lua_pushnumber(L, i);
        lua.lua_pcall(L, 1, 1, 0);
        lua.lua_tonumber(L, -1);
        lua.lua_settop(L, 0);
      }
    }) * 1e6 / CALLS;
  const luaToJs =
    time(() => {
      lua.lua_getglobal(L, fengari.to_luastring('callJs'));
      lua.lua_pushnumber(L, CALLS);
      lua.lua_pcall(L, 1, 1, 0);
      lua.lua_settop(L, 0);
    }) * 1e6 / CALLS;
  const cpu = time(() => {
    lua.lua_getglobal(L, fengari.to_luastring('cpu'));
    lua.lua_pushnumber(L, LOOP);
    lua.lua_pcall(L, 1, 1, 0);
    lua.lua_settop(L, 0);
  });
  const blob = Buffer.alloc(10 * 1024);
  for (let i = 0; i < blob.length; i++) blob[i] = (i * 131 + 7) & 0xff;
  let safe = true;
  const echoName = fengari.to_luastring('echo');
  const bin =
    time(() => {
      for (let i = 0; i < STRINGS; i++) {
        lua.lua_getglobal(L, echoName);
        // fengari strings are Uint8Arrays: a Buffer view goes in without conversion
        lua.lua_pushlstring(L, blob, blob.length);
        lua.lua_pcall(L, 1, 2, 0);
        const back: Uint8Array = lua.lua_tolstring(L, -2);
        const out = Buffer.from(back.buffer, back.byteOffset, back.byteLength);
        if (i === 0 && (!out.equals(blob) || lua.lua_tonumber(L, -1) !== blob.length)) safe = false;
        lua.lua_settop(L, 0);
      }
    }) * 1e3 / STRINGS;
  lauxlib.luaL_dostring(L, fengari.to_luastring('return tostring(10/2)'));
  const printed = fengari.to_jsstring(lua.lua_tolstring(L, -1));
  return { jsToLuaNsPerCall: jsToLua, luaToJsNsPerCall: luaToJs, cpuLoopMs: cpu, binary10kUsPerRoundTrip: bin, binarySafe: safe, prints10div2: printed };
}

async function wasmoonBench(): Promise<Figures> {
  const { LuaFactory } = require('wasmoon');
  const engine = await new LuaFactory().createEngine();
  const w = engine.global.lua; // LuaWasm: cwrapped API + raw module exports
  const m = w.module;
  const L = engine.global.address;
  await engine.doString(CPU_SCRIPT);
  // a raw C function: int f(lua_State*)
  const fnPtr = m.addFunction((L2: number) => {
    m._lua_pushnumber(L2, m._lua_tonumberx(L2, 1, 0) * 2);
    return 1;
  }, 'ii');
  m._lua_pushcclosure(L, fnPtr, 0);
  w.lua_setglobal(L, 'jsfn');
  // names as C strings on the WASM heap, made once (what the scripting layer would cache)
  const cstr = (s: string): number => m.stringToNewUTF8(s);
  const incName = cstr('inc');
  const jsToLua =
    time(() => {
      for (let i = 0; i < CALLS; i++) {
        m._lua_getglobal(L, incName);
        m._lua_pushnumber(L, i);
        m._lua_pcallk(L, 1, 1, 0, 0, 0);
        m._lua_tonumberx(L, -1, 0);
        m._lua_settop(L, 0);
      }
    }) * 1e6 / CALLS;
  const luaToJs =
    time(() => {
      m._lua_getglobal(L, cstr('callJs'));
      m._lua_pushnumber(L, CALLS);
      m._lua_pcallk(L, 1, 1, 0, 0, 0);
      m._lua_settop(L, 0);
    }) * 1e6 / CALLS;
  const cpu = time(() => {
    m._lua_getglobal(L, cstr('cpu'));
    m._lua_pushnumber(L, LOOP);
    m._lua_pcallk(L, 1, 1, 0, 0, 0);
    m._lua_settop(L, 0);
  });
  const blob = Buffer.alloc(10 * 1024);
  for (let i = 0; i < blob.length; i++) blob[i] = (i * 131 + 7) & 0xff;
  const echoName = cstr('echo');
  const heapBuf = m._malloc(blob.length);
  const lenPtr = m._malloc(4);
  let safe = true;
  const bin =
    time(() => {
      for (let i = 0; i < STRINGS; i++) {
        m._lua_getglobal(L, echoName);
        // binary-safe path: copy into the WASM heap, lua_pushlstring copies into a Lua string
        m.HEAPU8.set(blob, heapBuf);
        m._lua_pushlstring(L, heapBuf, blob.length);
        m._lua_pcallk(L, 1, 2, 0, 0, 0);
        const p = m._lua_tolstring(L, -2, lenPtr);
        const len = m.HEAPU32[lenPtr >> 2];
        const out = Buffer.from(m.HEAPU8.subarray(p, p + len)); // copy out of the heap
        if (i === 0 && (!out.equals(blob) || m._lua_tonumberx(L, -1, 0) !== blob.length)) safe = false;
        m._lua_settop(L, 0);
      }
    }) * 1e3 / STRINGS;
  const printed = await engine.doString('return tostring(10/2)');
  engine.global.close();
  return { jsToLuaNsPerCall: jsToLua, luaToJsNsPerCall: luaToJs, cpuLoopMs: cpu, binary10kUsPerRoundTrip: bin, binarySafe: safe, prints10div2: String(printed) };
}

/**
 * The chosen engine as the server uses it: frames pushed into a publication whose script object
 * has `onVideo` (the scripts' per-packet event), and an RPC through LuaHost.call.
 */
async function hostBench(): Promise<Record<string, string>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lua-bench-'));
  fs.mkdirSync(path.join(dir, 'www'));
  fs.writeFileSync(
    path.join(dir, 'www', 'main.lua'),
    'bytes = 0\nfunction watch(p) function p:onVideo(time, packet) bytes = bytes + #packet end end\n' +
      'function onConnection(c) function c:add(a, b) return a + b end end\n',
  );
  const ctx = new ServerContext(defaultConfig(dir), new ServerLogger({ level: Level.WARN, console: null, file: null }), new FolderHost(path.join(dir, 'www')), 'bench');
  const host = new LuaHost(ctx);
  ctx.host = host;
  host.start();
  const pub = ctx.publications.publish(null, 'bench');
  host.event(host.app('')!, 'watch', (out, p: typeof pub) => host.objects.writePublication(out, p), pub);
  const packet = Buffer.alloc(4096, 0x27);
  packet[0] = 0x27;
  const frames = 100_000;
  const perFrame = (time(() => {
    for (let i = 0; i < frames; i++) pub.pushVideo(i, packet);
  }) * 1e6) / frames;
  class BenchClient extends Client {
    readonly protocol = 'RTMP';
    get writer(): never {
      throw new Error('no writer');
    }
    close(): void {}
  }
  const client = new BenchClient('127.0.0.1:1');
  ctx.connect(client, []);
  const calls = 50_000;
  const perCall = (time(() => {
    for (let i = 0; i < calls; i++) host.call(client, 'add', [i, 1]);
  }) * 1e6) / calls;
  await host.stop();
  fs.rmSync(dir, { recursive: true, force: true });
  return { onVideoNsPerFrame4KB: perFrame.toFixed(0), rpcNsPerCall: perCall.toFixed(0) };
}

async function main(): Promise<void> {
  const round = (f: Figures): Record<string, string | boolean> =>
    Object.fromEntries(Object.entries(f).map(([k, v]) => [k, typeof v === 'number' ? v.toFixed(1) : v]));
  if (process.argv[2] === 'host') {
    console.table(await hostBench());
    return;
  }
  // warm-up run then measured run, per engine
  await wasmoonBench();
  const w = await wasmoonBench();
  fengariBench();
  const f = fengariBench();
  console.log(`calls=${CALLS} loop=${LOOP} strings=${STRINGS}x10KB (node ${process.version})`);
  console.table({ wasmoon: round(w), fengari: round(f) });
  console.log('LuaHost (fengari, patched) event paths:');
  console.table(await hostBench());
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
