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

/** A Lua engine tried before the fallback: `open` throws when it cannot run here. */
export interface LuaEngineCandidate {
  name: string;
  open(): LuaAPI;
}

/**
 * Engines tried in order before fengari. The LuaJIT adapter (luajit.ts, over native/luajit/)
 * registers here: `{ name: 'luajit', open: () => openLuaJIT() }`.
 */
export const PREFERRED_LUA_ENGINES: LuaEngineCandidate[] = [];

let warned = false;

/** A new Lua state on the best engine available; `logger` hears once per process when it is the fallback. */
export function openLuaEngine(logger: Logger): LuaAPI {
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
    create: (runtime) => new LuaEngine(runtime, open(runtime.ctx.logger)),
  };
}
