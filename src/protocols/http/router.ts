/**
 * The HTTP router: an ordered list of handlers, each asked in turn whether it answers a request.
 * The MonaServer behaviour (handlers/index.ts: WebSocket upgrade, CORS preflight, RPC, folders,
 * files, live streams) is one router; a feature served over HTTP (HLS, an admin API, VOD) is a
 * handler added to it, or a router of its own on another listener (`new HTTPServer(context,
 * { router })`).
 */
import type { HTTPExchange } from './exchange';

export interface HTTPHandler {
  /** for add({ before }) and logs: "upgrade", "rpc", "files"… */
  readonly name: string;
  /**
   * true = this handler answered the request (or started an answer it will finish: it sets
   * `ex.pending` and calls `ex.done()` at the end); false = the next handler is asked.
   */
  handle(ex: HTTPExchange): boolean;
}

export class HTTPRouter {
  private handlers: HTTPHandler[] = [];

  constructor(handlers: HTTPHandler[] = []) {
    for (const h of handlers) this.add(h);
  }

  /** Appends `handler`, or inserts it before the handler named `before` (which must exist). */
  add(handler: HTTPHandler, where: { before?: string } = {}): this {
    if (this.handlers.some((h) => h.name === handler.name)) throw new Error(`HTTP handler "${handler.name}" is already registered`);
    if (where.before === undefined) {
      this.handlers.push(handler);
      return this;
    }
    const i = this.handlers.findIndex((h) => h.name === where.before);
    if (i < 0) throw new Error(`no HTTP handler "${where.before}" to insert "${handler.name}" before`);
    this.handlers.splice(i, 0, handler);
    return this;
  }

  get names(): string[] {
    return this.handlers.map((h) => h.name);
  }

  /** Asks each handler in order; a request none answered gets 404. */
  route(ex: HTTPExchange): void {
    for (const h of this.handlers) {
      if (h.handle(ex)) return;
      if (ex.answered) return; // a handler that answered but said false: it still answered
    }
    ex.sendError(404, `${ex.target?.path ?? 'resource'} not found`);
  }
}
