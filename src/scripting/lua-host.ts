/**
 * The name the server's application host had when it ran Lua only, kept for the callers that make
 * one directly (`new LuaHost(ctx)`, mostly tests): the script runtime with every registered language.
 */
import type { ServerContext } from '../core/context';
import { ENGINES } from './engines';
import type { EngineEntry } from './runtime/engine';
import { ScriptHost } from './runtime/host';

export class LuaHost extends ScriptHost {
  constructor(ctx: ServerContext, engines: readonly EngineEntry[] = ENGINES) {
    super(ctx, engines);
  }
}
