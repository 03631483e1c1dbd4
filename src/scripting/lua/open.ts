/**
 * Where a Lua state comes from: the one place that chooses the engine. LuaJIT (through our native
 * addon) is the engine of choice, the VM MonaServer embeds; when it cannot be loaded (no addon built,
 * no libluajit), fengari runs the apps, with one warning per process saying why.
 */
import type { Logger } from '../../logs/levels';
import type { EngineEntry } from '../runtime/engine';
import type { LuaAPI } from './api';
import { LuaEngine } from './binding';
import { FengariAPI } from './fengari-api';
import { LuaJIT } from './luajit';

/** A Lua engine tried before the fallback: `open` throws when it cannot run here. */
export interface LuaEngineCandidate {
  name: string;
  open(): LuaAPI;
}

/** Engines tried in order before fengari: LuaJIT through our addon (luajit.ts, native/luajit/). */
export const PREFERRED_LUA_ENGINES: LuaEngineCandidate[] = [{ name: 'luajit', open: () => new LuaJIT() }];

let warned = false;
let warnedWanted = false;

/**
 * A new Lua state on the best engine available; `logger` hears once per process when it is the
 * fallback. MONATS_LUA_ENGINE=fengari in the environment chooses fengari even where LuaJIT runs (the
 * test runner's second pass of the script tests), =luajit insists on LuaJIT (an error if it cannot
 * open).
 */
export function openLuaEngine(logger: Logger): LuaAPI {
  const wanted = process.env.MONATS_LUA_ENGINE;
  if (wanted === 'fengari') return new FengariAPI();
  if (wanted === 'luajit') return new LuaJIT();
  if (wanted && !warnedWanted) {
    warnedWanted = true;
    logger.warn('Lua', `MONATS_LUA_ENGINE=${wanted} names no Lua engine (luajit, fengari): the best available runs`);
  }
  const reasons: string[] = [];
  for (const candidate of PREFERRED_LUA_ENGINES) {
    try {
      return candidate.open();
    } catch (e) {
      reasons.push(`${candidate.name}: ${(e as Error).message}`);
    }
  }
  if (!warned) {
    warned = true;
    const why = reasons.length ? reasons.join('; ') : 'the LuaJIT addon is not part of this build';
    logger.warn('Lua', `LuaJIT unavailable (${why}): Lua apps run on fengari, a slower Lua 5.3 in JavaScript`);
  }
  return new FengariAPI();
}

/** The Lua language for the script runtime: apps with a main.lua, on the engine openLuaEngine() picks. */
export function luaEngineEntry(open: (logger: Logger) => LuaAPI = openLuaEngine): EngineEntry {
  return {
    name: 'lua',
    mainFile: 'main.lua',
    create: (runtime) => {
      const api = open(runtime.ctx.logger);
      const mib = runtime.ctx.config.scripts?.memory;
      if (mib !== undefined) api.memoryLimit = mib * 1024 * 1024;
      return new LuaEngine(runtime, api);
    },
  };
}
