/**
 * The script languages the server runs, one registration each, in the order their main files are
 * looked for in an app folder (the first is also the language of apps without a main file at the
 * root). A new language is a binding folder plus one line here.
 */
import type { ServerContext } from '../core/context';
import type { EngineEntry } from './runtime/engine';
import { ScriptHost } from './runtime/host';
import { jsEngineEntry } from './js/binding';
import { luaEngineEntry } from './lua/open';

export const ENGINES: readonly EngineEntry[] = [luaEngineEntry(), jsEngineEntry()];

/** The server's application layer: the script runtime over every registered language. */
export function createScriptHost(ctx: ServerContext, engines: readonly EngineEntry[] = ENGINES): ScriptHost {
  return new ScriptHost(ctx, engines);
}
