/**
 * The Lua engines the Lua tests run on, each through its LuaAPI implementation. An engine that
 * cannot run on this machine gives the reason in `skip` (its tests are reported skipped, not passed).
 */
import type { LuaAPI } from '../../../src/scripting/lua/api';
import { FengariAPI } from '../../../src/scripting/lua/fengari-api';
import { LuaJIT, luajitUnavailable } from '../../../src/scripting/lua/luajit';

// CI installs libluajit-5.1-dev and builds the addon: there a missing LuaJIT is a failure, not a skip
const unavailable = luajitUnavailable();
if (unavailable && process.env.CI) throw new Error(unavailable);

export interface LuaEngineUnderTest {
  name: string;
  open(): LuaAPI;
  /** why this engine cannot run here, or undefined */
  skip?: string;
}

export const LUA_ENGINES: LuaEngineUnderTest[] = [
  { name: 'luajit', open: () => new LuaJIT(), skip: unavailable ?? undefined },
  { name: 'fengari', open: () => new FengariAPI() },
];
