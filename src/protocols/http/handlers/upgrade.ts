/**
 * The WebSocket upgrade on the HTTP port: `ws://host/app/` connects to app `/app`;
 * `ws://host/app/name.flv` is a WebSocket-FLV player of publication `name`. The connection is
 * handed to a WebSocket session (same transport Connection, new handler).
 */
import { acceptWebSocket, isWebSocketUpgrade } from '../../websocket/upgrade';
import type { HTTPExchange } from '../exchange';
import { extensionOf } from '../mime';
import type { HTTPHandler } from '../router';

export const upgradeHandler: HTTPHandler = {
  name: 'upgrade',
  handle(ex: HTTPExchange): boolean {
    const req = ex.req!;
    if (req.method !== 'GET' || !isWebSocketUpgrade(req)) return false;
    const target = ex.target!;
    const r = ex.context.host.resolve(target.path);
    const flvStream = r.rest !== '' && !r.rest.includes('/') && extensionOf(r.rest) === 'flv' ? r.rest.slice(0, -4) : null;
    if (r.rest !== '' && !flvStream) {
      ex.sendError(404, `${target.path} not found`);
      return true;
    }
    ex.answered = true;
    acceptWebSocket(ex.context, ex.http, req, r.app, target.query, flvStream);
    return true;
  },
};
