/**
 * The handlers of MonaServer's HTTP behaviour, in the order they are asked. A new feature is a
 * handler added to this list (or to the router returned, e.g. `router.add(h, { before: 'files' })`).
 */
import { HTTPRouter } from '../router';
import { methodsHandler, optionsHandler } from './cors';
import { filesHandler, foldersHandler } from './files';
import { liveHandler } from './live';
import { rpcHandler } from './rpc';
import { upgradeHandler } from './upgrade';

export function appRouter(): HTTPRouter {
  return new HTTPRouter([methodsHandler, optionsHandler, upgradeHandler, rpcHandler, foldersHandler, filesHandler, liveHandler]);
}
