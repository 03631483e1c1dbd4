/**
 * The admin API on our own HTTP code: a router with one handler that turns each exchange into the
 * admin's small request/response model (./http) and writes the answer back, so the admin listener
 * is an HTTPServer on its own port like any other (transport limits, keep-alive, pipelining).
 * Its answers never carry CORS grants: a page from another origin must not read the API with a
 * browser's stored credentials.
 */
import type { HTTPExchange } from '../protocols/http/exchange';
import { HTTPRouter, type HTTPHandler } from '../protocols/http/router';
import type { HeaderList } from '../protocols/http/response';
import { failure, MAX_ADMIN_BODY, type AdminHandler, type AdminRequest, type AdminResponse } from './http';

export function adminRouter(handler: AdminHandler, onError: (message: string) => void): HTTPRouter {
  const admin: HTTPHandler = {
    name: 'admin',
    handle(ex: HTTPExchange): boolean {
      ex.cors = false;
      const req = ex.req;
      if (!req) return false;
      if (req.body.length > MAX_ADMIN_BODY) {
        write(ex, failure(413, 'request body too large'));
        return true;
      }
      const q = req.target.indexOf('?');
      const request: AdminRequest = {
        method: req.method.toUpperCase(),
        path: q < 0 ? req.target : req.target.slice(0, q),
        query: new URLSearchParams(q < 0 ? '' : req.target.slice(q + 1)),
        headers: Object.fromEntries(req.headers),
        body: req.body,
      };
      let answer: AdminResponse | Promise<AdminResponse>;
      try {
        answer = handler(request);
      } catch (e) {
        answer = internal(request, e);
      }
      if (!(answer instanceof Promise)) {
        write(ex, answer);
        return true;
      }
      // an answer that comes later: later pipelined requests wait for it
      ex.pending = true;
      answer
        .catch((e: unknown) => internal(request, e))
        .then((response) => {
          if (!ex.pending) return; // the connection ended meanwhile
          write(ex, response);
          ex.done();
        });
      return true;
    },
  };
  function internal(request: AdminRequest, e: unknown): AdminResponse {
    onError(`admin ${request.method} ${request.path}: ${(e as Error).stack ?? e}`);
    return failure(500, 'internal error');
  }
  return new HTTPRouter([admin]);
}

function write(ex: HTTPExchange, response: AdminResponse): void {
  const headers: HeaderList = Object.entries(response.headers);
  const body = response.body === undefined ? null : Buffer.isBuffer(response.body) ? response.body : Buffer.from(response.body, 'utf8');
  ex.send(response.status, headers, body);
}
