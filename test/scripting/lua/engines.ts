/**
 * The Lua engines the Lua tests run on, each through its LuaAPI implementation. An engine that
 * cannot run on this machine gives the reason in `skip` (its tests are reported skipped, not passed).
 */
import type { LuaAPI } from '../../../src/scripting/lua/api';
import { FengariAPI } from '../../../src/scripting/lua/fengari-api';

export interface LuaEngineUnderTest {
  name: string;
  open(): LuaAPI;
  /** why this engine cannot run here, or undefined */
  skip?: string;
}

export const LUA_ENGINES: LuaEngineUnderTest[] = [{ name: 'fengari', open: () => new FengariAPI() }];
