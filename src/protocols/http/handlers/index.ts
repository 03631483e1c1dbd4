/**
 * The handlers of MonaServer's HTTP behaviour, in the order they are asked. A new feature is a
 * handler added to this list (or to the router returned, e.g. `router.add(h, { before: 'files' })`).
 */
import { hlsPlaylistHandler, hlsResourceHandler } from '../../hls/handlers';
import { HTTPRouter } from '../router';
import { methodsHandler, optionsHandler } from './cors';
import { filesHandler, foldersHandler } from './files';
import { liveHandler } from './live';
import { rpcHandler } from './rpc';
import { upgradeHandler } from './upgrade';

export function appRouter(): HTTPRouter {
  // HLS: the URLs under `<name>.m3u8/` before the files (they are no files), `<name>.m3u8` itself
  // after them (a file of that name wins, and onRead has ruled), before the live `.flv`/`.ts`
  return new HTTPRouter([
    methodsHandler, optionsHandler, upgradeHandler, rpcHandler, foldersHandler, hlsResourceHandler, filesHandler, hlsPlaylistHandler, liveHandler,
  ]);
}
