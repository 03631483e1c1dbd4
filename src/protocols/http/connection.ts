/**
 * One HTTP/1.1 connection: parses requests, answers them in order (pipelining) through
 * its router, keeps the connection alive or not, and owns the app client of the connection (a new
 * app path or query → a new client). What a request means is the router's business (router.ts and
 * handlers/); this class only turns bytes into HTTPExchanges and their answers back into bytes.
 *
 * Work is bounded per turn (transport/turns.ts): a peer that pipelines thousands of requests gets
 * WORK_PER_TURN of them answered, then other sockets get the event loop, and no more requests are
 * read while answers wait or its output is over the transport's limit.
 * Nothing thrown by a decoder or a script leaves this class: every failure becomes a status.
 */
import type { ServerContext } from '../../core/context';
import { ConnectionRejected, InvalidApp } from '../../core/errors';
import { Level } from '../../logs/levels';
import { decodeQuery } from '../../serialization/query';
import { Table } from '../../serialization/value';
import type { Connection, ConnectionHandler } from '../../transport/connection';
import { secureProperties } from '../../transport/tls';
import { TurnQueue } from '../../transport/turns';
import { isWebSocketUpgrade } from '../websocket/upgrade';
import { HTTPClient, trafficFrom } from './client';
import { parseCookies } from './cookies';
import { HTTPExchange } from './exchange';
import { HTTPError, type HTTPRequest, RequestParser } from './parser';
import { errorPage } from './response';
import type { HTTPRouter } from './router';

export class HTTPConnection implements ConnectionHandler {
  private readonly parser = new RequestParser();
  private readonly queue: TurnQueue<HTTPRequest>;
  private fatal: HTTPError | null = null;
  private client: HTTPClient | null = null;
  /** set once closed, and once the connection was handed to another protocol (WebSocket) */
  private closed = false;
  /** the exchange whose answer is still being written (a file streamed, a live stream) */
  private current: HTTPExchange | null = null;
  /** the socket's counts when the last client of this connection left (the next one counts from there) */
  private trafficMark = { bytesRead: 0, bytesWritten: 0 };
  readonly address: string;
  /** the secure channel's properties of every client of this connection (all null over plain TCP) */
  private readonly secure: Array<[string, string | boolean | null]>;

  constructor(
    readonly context: ServerContext,
    readonly connection: Connection,
    readonly router: HTTPRouter,
  ) {
    this.address = connection.address;
    this.secure = secureProperties(connection);
    this.queue = new TurnQueue(connection, (req) => this.handle(req));
    connection.handler = this;
    // Nagle stays on for request/response HTTP: the answers of a turn go out in one writev, and
    // letting the kernel coalesce measured ~30% more requests/s on loopback; WebSocket turns it off.
    // Not over TLS: the session tickets sent after a TLS 1.3 handshake would hold the first answer
    // until the client's delayed ACK (40 ms per new connection)
    connection.socket.setNoDelay(connection.secure);
    this.setIdleTimeout(context.config.http.timeout);
  }

  /** Idle timeout in seconds (0 = none): the `[HTTP] timeout`, or onConnection's `timeout`. */
  setIdleTimeout(seconds: number): void {
    this.connection.setIdleTimeout(seconds > 0 ? seconds * 1000 : 0);
  }

  onIdle(): void {
    if (this.current?.isLive) return; // a live stream is never idle
    this.context.logger.debug('HTTP', `${this.address} idle timeout`);
    this.close('idle timeout');
  }

  onData(data: Buffer): void {
    if (this.closed) return;
    if (this.context.logger.dumping) this.context.logger.dump('HTTP', 'in', this.address, data);
    if (this.fatal) return;
    try {
      const requests = this.parser.push(data, isWebSocketUpgrade);
      for (const r of requests) this.queue.push(r);
      if (this.parser.failure) this.fatal = this.parser.failure;
    } catch (e) {
      this.fatal = e instanceof HTTPError ? e : new HTTPError(400, String(e));
    }
    this.armHeadDeadline();
    this.drain();
  }

  /** A started request head must be complete within `[HTTP] headerTimeout` (dribbled headers). */
  private armHeadDeadline(): void {
    if (!this.parser.headPending || this.fatal) {
      this.connection.clearDeadline();
      return;
    }
    if (this.connection.hasDeadline) return;
    const seconds = this.context.config.http.headerTimeout;
    this.connection.setDeadline(seconds * 1000, () => {
      // our own backlog (answers still being written) is not the client's slowness
      if (this.queue.length || this.current) return this.armHeadDeadline();
      this.context.logger.debug('HTTP', `${this.address} request head not complete in ${seconds} s`);
      this.fatal = new HTTPError(408, `request head not complete in ${seconds} s`);
      this.drain();
    });
  }

  /** Answers queued requests (bounded per turn), then the parse error if any. */
  private drain(): void {
    this.queue.run();
    if (this.closed || this.current || this.queue.length || !this.fatal) return;
    const f = this.fatal;
    this.context.logger.debug('HTTP', `${this.address} bad request: ${f.message}`);
    const ex = new HTTPExchange(this, null);
    ex.sendRaw(f.status, [['Content-Type', 'text/html; charset=utf-8']], errorPage(f.status, f.message), false, false);
    this.close(f.message);
  }

  /** One request: false while its answer is still being written (the queue waits for done()). */
  private handle(req: HTTPRequest): boolean {
    if (this.closed) return true;
    if (this.context.logger.enabled(Level.TRACE)) this.context.logger.trace('HTTP', `${this.address} ${req.method} ${req.target}`);
    const ex = new HTTPExchange(this, req);
    try {
      if (ex.target) this.router.route(ex);
    } catch (e) {
      // a bug of ours: answer 500 for this request, keep serving
      this.context.logger.error('HTTP', `${this.address} ${req.method} ${req.target}: ${(e as Error).stack ?? e}`);
      if (!ex.answered) ex.sendError(500, 'internal error', true);
    }
    if (ex.pending && !this.closed) {
      this.current = ex;
      return false;
    }
    return true;
  }

  /** An exchange that answered asynchronously is finished: the next requests may go. */
  exchangeDone(ex: HTTPExchange): void {
    if (this.current !== ex) return;
    this.current = null;
    if (this.closed) return;
    this.queue.resume();
    if (!this.queue.length) this.drain();
  }

  // ---- the app client of the connection ---------------------------------------------------

  /**
   * The client of this connection for `app` + `query`: reused while both stay the same, else the
   * old one leaves (onDisconnection) and a new one connects (onConnection). Answers the request
   * itself and returns null when the app refuses or does not exist.
   */
  clientFor(ex: HTTPExchange, app: string, query: string): HTTPClient | null {
    const req = ex.req!;
    let c = this.client;
    if (c && (c.path !== app || c.query !== query)) {
      this.client = null;
      this.disconnectClient(c, 'the connection moved to another app or query');
      const socket = this.connection.socket;
      this.trafficMark = { bytesRead: socket.bytesRead, bytesWritten: socket.bytesWritten };
      c = null;
    }
    const cookies = parseCookies(req.headers.get('cookie'));
    if (c) {
      for (const [k, v] of cookies) c.properties.set(k, v);
      if (cookies.length) for (const [k, v] of this.secure) c.properties.set(k, v); // no cookie may pass for them
      return c;
    }
    c = new HTTPClient(this.address, this, trafficFrom(this.connection.socket, this.trafficMark), this.connection.secure);
    c.path = app;
    c.query = query;
    const props = c.properties;
    // header names as the client wrote them ("Content-Type"), as MonaServer scripts read them
    for (const [k, v] of req.headers) props.set(req.names.get(k) ?? k, v);
    for (const v of decodeQuery(query)) if (v instanceof Table) for (const [k, x] of v.fields) props.set(k, x);
    for (const [k, v] of cookies) props.set(k, v);
    props.set('HTTPVersion', req.version);
    for (const [k, v] of this.secure) props.set(k, v);
    try {
      const result = this.context.connect(c, []);
      if (result) {
        const index = result.get('index');
        if (typeof index === 'boolean' || typeof index === 'string') c.index = index;
        const timeout = result.get('timeout');
        if (typeof timeout === 'number' && timeout >= 0) {
          c.timeout = timeout;
          this.setIdleTimeout(timeout);
        }
      }
    } catch (e) {
      if (e instanceof InvalidApp) ex.sendError(404, e.message);
      else if (e instanceof ConnectionRejected) ex.sendCollected(c, 403, e.message);
      else {
        this.context.logger.error('HTTP', `onConnection: ${(e as Error).message}`);
        ex.sendError(500, 'connection failed');
      }
      return null;
    }
    this.client = c;
    return c;
  }

  /** The app client leaves (onDisconnection), e.g. before a WebSocket takes the connection. */
  dropClient(reason = 'upgraded to WebSocket'): void {
    if (!this.client) return;
    const c = this.client;
    this.client = null;
    this.disconnectClient(c, reason);
  }

  private disconnectClient(c: HTTPClient, reason: string): void {
    try {
      this.context.disconnect(c, reason);
    } catch (e) {
      this.context.logger.error('HTTP', `onDisconnection: ${(e as Error).message}`);
    }
  }

  // ---- life ----------------------------------------------------------------------------------

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Another protocol takes the connection (WebSocket): this object stops reading it and forgets
   * it without closing it. Returns the bytes received after the request (the first frames).
   */
  handOver(next: ConnectionHandler): Buffer {
    this.dropClient();
    this.closed = true;
    this.queue.clear();
    this.connection.clearDeadline();
    this.connection.setIdleTimeout(0);
    this.connection.handler = next;
    return this.parser.takeRest();
  }

  close(reason?: string): void {
    if (this.closed) return;
    // the transport ends the socket (FIN after our last answer, destroy if stuck) and calls onClose
    this.connection.close(reason ?? 'closed');
    this.onClose(reason ?? 'closed');
  }

  onClose(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    if (reason && reason !== 'closed' && this.context.logger.enabled(Level.DEBUG)) this.context.logger.debug('HTTP', `${this.address} closed: ${reason}`);
    this.queue.clear();
    const ex = this.current;
    this.current = null;
    ex?.abort();
    // the peer leaving, or our end after an answer: the access log says "connection closed"
    this.dropClient(reason === 'socket closed' || reason === 'closed' || !reason ? 'connection closed' : reason);
  }
}
