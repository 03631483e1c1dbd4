/**
 * One HTTP/1.1 connection (SPEC S7): parses requests (pipelined requests are answered in order),
 * keeps the app client of the connection (a new app path or query → a new client), and routes each
 * request to files, RPC, live streams or a WebSocket upgrade. Nothing thrown by a decoder or a
 * script leaves this class: every failure becomes a status for that request.
 */
import * as path from 'node:path';
import type { Socket } from 'node:net';
import type { AppHost, ResolvedPath } from '../../core/app-host';
import { appHook, HTTP_READ } from '../../core/app-hooks';
import type { ServerContext } from '../../core/context';
import { CallFailed, ConnectionRejected, InvalidApp, MethodNotFound, StreamRefused } from '../../core/errors';
import type { Listener } from '../../core/listener';
import { Level } from '../../logs/levels';
import { decodeQuery } from '../../serialization/query';
import { DecodeError, Table, type Value } from '../../serialization/value';
import { acceptWebSocket, isWebSocketUpgrade } from '../websocket/upgrade';
import { type BodyFormat, decodeBody, encodeFailure, encodeReply, formatOf, replyType } from './body-formats';
import { HTTPClient, trafficFrom, type ReplyCollector } from './client';
import { parseCookies } from './cookies';
import { type FileInfo, fileHeaders, folderListing, lookupFile, notModified } from './files';
import { FLVSink, TSSink } from './live';
import { extensionOf, isTextType } from './mime';
import { HTTPError, type HTTPRequest, RequestParser } from './parser';
import { type ParsedTarget, parseTarget } from './paths';
import { type BodyPiece, multipartLayout, parseRange } from './ranges';
import { type HeaderList, errorPage, responseHead } from './response';
import { renderTemplate } from './template';
import * as fs from 'node:fs';

/** What the session needs from its server. */
export interface HTTPServerHooks {
  readonly context: ServerContext;
  /** the session ended (the server forgets it) */
  release(session: HTTPSession): void;
}

/**
 * URL folder → app, remembered for a second: resolving stats folders, and doing it for every
 * request of a busy app costs more than the request itself. A new or deleted app folder is seen
 * within a second.
 */
const RESOLVE_TTL_MS = 1000;
const resolved = new WeakMap<AppHost, Map<string, { r: ResolvedPath; at: number }>>();
function resolveCached(host: AppHost, dir: string): ResolvedPath {
  let cache = resolved.get(host);
  if (!cache) resolved.set(host, (cache = new Map()));
  const now = Date.now();
  const hit = cache.get(dir);
  if (hit && now - hit.at < RESOLVE_TTL_MS) return hit.r;
  const r = host.resolve(dir);
  if (cache.size > 10_000) cache.clear(); // bounded: URLs are chosen by clients
  cache.set(dir, { r, at: now });
  return r;
}

export class HTTPSession {
  private readonly parser = new RequestParser();
  private readonly queue: HTTPRequest[] = [];
  /** a response is still being written (file stream, live stream): later requests wait */
  private busy = false;
  private fatal: HTTPError | null = null;
  private client: HTTPClient | null = null;
  /** also set when the connection became a WebSocket: this session no longer reads or closes it */
  private closed = false;
  private listener: Listener | null = null;
  /** the socket's counts when the last client of this connection left (the next one counts from there) */
  private trafficMark = { bytesRead: 0, bytesWritten: 0 };
  readonly address: string;
  private readonly onDataBound = (d: Buffer) => this.onData(d);

  constructor(
    private readonly server: HTTPServerHooks,
    readonly socket: Socket,
  ) {
    this.address = `${socket.remoteAddress}:${socket.remotePort}`;
    // Nagle stays on for request/response HTTP: each answer is one write, and letting the kernel
    // coalesce measured ~30% more requests/s on loopback; WebSocket turns it off (pushes are latency-bound)
    socket.setNoDelay(false);
    socket.on('data', this.onDataBound);
    socket.on('error', () => this.close());
    socket.on('close', () => this.close());
    socket.on('timeout', () => this.onTimeout());
    this.setTimeout(this.context.config.http.timeout);
  }

  private get context(): ServerContext {
    return this.server.context;
  }

  private setTimeout(seconds: number): void {
    this.socket.setTimeout(seconds > 0 ? seconds * 1000 : 0);
  }

  private onTimeout(): void {
    if (this.busy && this.listener) return; // a live stream is never idle
    this.context.logger.debug('HTTP', `${this.address} idle timeout`);
    this.close('idle timeout');
  }

  private onData(data: Buffer): void {
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
    this.drain();
  }

  private drain(): void {
    while (!this.busy && !this.closed && this.queue.length) {
      const req = this.queue.shift()!;
      try {
        this.handle(req);
      } catch (e) {
        // a bug of ours: answer 500 for this request, keep serving
        this.context.logger.error('HTTP', `${this.address} ${req.method} ${req.target}: ${(e as Error).stack ?? e}`);
        if (!this.busy) this.sendError(req, 500, 'internal error', true);
      }
    }
    if (!this.busy && !this.closed && this.fatal && this.queue.length === 0) {
      const f = this.fatal;
      this.context.logger.debug('HTTP', `${this.address} bad request: ${f.message}`);
      this.sendRaw(f.status, [['Content-Type', 'text/html; charset=utf-8']], errorPage(f.status, f.message), false, false);
      this.close(f.message);
    }
  }

  close(reason?: string): void {
    if (this.closed) return;
    this.closed = true;
    if (reason && this.context.logger.enabled(Level.DEBUG)) this.context.logger.debug('HTTP', `${this.address} closed: ${reason}`);
    this.stopListening();
    if (this.client) {
      const c = this.client;
      this.client = null;
      this.disconnectClient(c, reason ?? 'connection closed');
    }
    // end (FIN), not destroy: closing with unread request bytes would reset the connection and
    // could drop our last answer (a 413 before the body) at the client; destroy later if stuck
    if (!this.socket.destroyed) {
      this.socket.end();
      const s = this.socket;
      setTimeout(() => s.destroy(), 2000).unref();
    }
    this.server.release(this);
  }

  private disconnectClient(c: HTTPClient, reason: string): void {
    try {
      this.context.disconnect(c, reason);
    } catch (e) {
      this.context.logger.error('HTTP', `onDisconnection: ${(e as Error).message}`);
    }
  }

  private stopListening(): void {
    if (!this.listener) return;
    const l = this.listener;
    this.listener = null;
    try {
      this.context.publications.unsubscribe(l);
    } catch (e) {
      this.context.logger.error('HTTP', `unsubscribe: ${(e as Error).message}`);
    }
  }

  // ---- writing -----------------------------------------------------------------------------

  private keepAlive(req: HTTPRequest): boolean {
    const c = req.headers.get('connection')?.toLowerCase();
    if (req.version === '1.0') return c !== undefined && c.includes('keep-alive');
    return !(c !== undefined && /(^|,)\s*close\s*(,|$)/.test(c));
  }

  private common(req: HTTPRequest | null, headers: HeaderList, keep: boolean): HeaderList {
    const origin = req?.headers.get('origin');
    headers.push(['Access-Control-Allow-Origin', origin ?? '*']);
    if (origin) headers.push(['Vary', 'Origin']);
    headers.push(['Connection', keep ? 'keep-alive' : 'close']);
    return headers;
  }

  /** Writes one whole response; `body` is omitted for HEAD but its length is announced. */
  private sendRaw(status: number, headers: HeaderList, body: Buffer | null, head: boolean, keep: boolean, req: HTTPRequest | null = null): void {
    if (this.closed || this.socket.destroyed) return;
    const all = this.common(req, headers, keep);
    if (status !== 304 && status !== 204) all.push(['Content-Length', String(body ? body.length : 0)]);
    const h = responseHead(status, all);
    const s = this.socket;
    if (body && body.length && !head) {
      if (body.length <= 64 * 1024) {
        // one buffer, one write(2): cheaper than a writev of head + body for small answers
        const out = Buffer.allocUnsafe(h.length + body.length);
        out.write(h, 0, 'latin1');
        body.copy(out, h.length);
        s.write(out);
      } else {
        s.cork();
        s.write(h, 'latin1');
        s.write(body);
        s.uncork();
      }
    } else s.write(h, 'latin1');
    if (this.context.logger.dumping) this.context.logger.dump('HTTP', 'out', this.address, Buffer.concat([Buffer.from(h, 'latin1'), head || !body ? Buffer.alloc(0) : body]));
    if (!keep) this.close();
  }

  private send(req: HTTPRequest, status: number, headers: HeaderList, body: Buffer | null): void {
    this.sendRaw(status, headers, body, req.method === 'HEAD', this.keepAlive(req), req);
  }

  private sendError(req: HTTPRequest, status: number, message: string, forceClose = false): void {
    const headers: HeaderList = [['Content-Type', 'text/html; charset=utf-8']];
    const body = errorPage(status, message);
    this.sendRaw(status, headers, body, req.method === 'HEAD', !forceClose && this.keepAlive(req), req);
  }

  // ---- routing -----------------------------------------------------------------------------

  private handle(req: HTTPRequest): void {
    if (this.context.logger.enabled(Level.TRACE)) this.context.logger.trace('HTTP', `${this.address} ${req.method} ${req.target}`);
    let target: ParsedTarget;
    try {
      target = parseTarget(req.target);
    } catch (e) {
      const err = e instanceof HTTPError ? e : new HTTPError(400, 'bad request target');
      this.sendError(req, err.status, err.message);
      return;
    }
    switch (req.method) {
      case 'GET':
      case 'HEAD':
        if (req.method === 'GET' && isWebSocketUpgrade(req)) return this.upgrade(req, target);
        return this.get(req, target);
      case 'POST':
        return this.post(req, target);
      case 'OPTIONS':
        return this.options(req);
      default:
        this.send(req, 405, [['Allow', 'GET, HEAD, POST, OPTIONS'], ['Content-Type', 'text/html; charset=utf-8']], errorPage(405, `${req.method} is not supported`));
    }
  }

  /** CORS preflight (and plain OPTIONS): everything this server does is allowed from any origin. */
  private options(req: HTTPRequest): void {
    const headers: HeaderList = [
      ['Allow', 'GET, HEAD, POST, OPTIONS'],
      ['Access-Control-Allow-Methods', 'GET, HEAD, POST, OPTIONS'],
      ['Access-Control-Max-Age', '86400'],
    ];
    const asked = req.headers.get('access-control-request-headers');
    if (asked) headers.push(['Access-Control-Allow-Headers', asked]);
    if (req.headers.has('origin')) headers.push(['Access-Control-Allow-Credentials', 'true']);
    this.send(req, 200, headers, null);
  }

  /**
   * URL → app and name. A folder URL ("/a/b/") names the app "/a/b"; otherwise the last segment is
   * a file or method of the app named by the rest. null = no such app (the caller answers 404).
   */
  private locate(target: ParsedTarget): { app: string; name: string } | null {
    const host = this.context.host;
    let dir = target.path;
    let name = '';
    if (!target.folder) {
      const slash = dir.lastIndexOf('/');
      name = dir.slice(slash + 1);
      dir = dir.slice(0, slash) || '/';
    }
    const r = resolveCached(host, dir);
    if (r.rest !== '') return null;
    return { app: r.app, name };
  }

  /**
   * The client of this connection for `app` + `query`: reused while both stay the same, else the
   * old one leaves (onDisconnection) and a new one connects (onConnection). Answers the request
   * itself and returns null when the app refuses or does not exist.
   */
  private clientFor(req: HTTPRequest, app: string, query: string): HTTPClient | null {
    let c = this.client;
    if (c && (c.path !== app || c.query !== query)) {
      this.client = null;
      this.disconnectClient(c, 'the connection moved to another app or query');
      this.trafficMark = { bytesRead: this.socket.bytesRead, bytesWritten: this.socket.bytesWritten };
      c = null;
    }
    const cookies = parseCookies(req.headers.get('cookie'));
    if (c) {
      for (const [k, v] of cookies) c.properties.set(k, v);
      return c;
    }
    c = new HTTPClient(this.address, this, trafficFrom(this.socket, this.trafficMark));
    c.path = app;
    c.query = query;
    const props = c.properties;
    for (const [k, v] of req.headers) props.set(k, v);
    for (const v of decodeQuery(query)) if (v instanceof Table) for (const [k, x] of v.fields) props.set(k, x);
    for (const [k, v] of cookies) props.set(k, v);
    props.set('HTTPVersion', req.version);
    try {
      const result = this.context.connect(c, []);
      if (result) {
        const index = result.get('index');
        if (typeof index === 'boolean' || typeof index === 'string') c.index = index;
        const timeout = result.get('timeout');
        if (typeof timeout === 'number' && timeout >= 0) {
          c.timeout = timeout;
          this.setTimeout(timeout);
        }
      }
    } catch (e) {
      if (e instanceof InvalidApp) this.sendError(req, 404, e.message);
      else if (e instanceof ConnectionRejected) this.replyWithCollected(req, c, 403, e.message);
      else {
        this.context.logger.error('HTTP', `onConnection: ${(e as Error).message}`);
        this.sendError(req, 500, 'connection failed');
      }
      return null;
    }
    this.client = c;
    return c;
  }

  /** An error reply that still carries cookies the script set before refusing. */
  private replyWithCollected(req: HTTPRequest, c: HTTPClient, status: number, message: string): void {
    const out = c.endRequest();
    const headers: HeaderList = [['Content-Type', 'text/html; charset=utf-8']];
    for (const ck of out.cookies) headers.push(['Set-Cookie', ck]);
    this.send(req, status, headers, errorPage(status, message));
  }

  private get(req: HTTPRequest, target: ParsedTarget): void {
    const where = this.locate(target);
    if (!where) return this.sendError(req, 404, `${target.path} not found`);
    const client = this.clientFor(req, where.app, target.query);
    if (!client) return;
    const { name } = where;
    if (name === '') return this.folder(req, client, target);
    // GET /app/method?args: an RPC when the name has no extension and the client has that method
    if (extensionOf(name) === '' && !name.startsWith('.')) {
      const args = decodeQuery(target.query);
      try {
        const results = this.context.host.call(client, name, args);
        return this.reply(req, client, formatOf(req.headers.get('content-type')), results);
      } catch (e) {
        if (!(e instanceof MethodNotFound)) return this.callFailed(req, client, formatOf(req.headers.get('content-type')), e);
        // not a method: a file (or a folder without its trailing slash)
      }
    }
    this.read(req, client, target, name);
  }

  private post(req: HTTPRequest, target: ParsedTarget): void {
    const where = this.locate(target);
    if (!where) return this.sendError(req, 404, `${target.path} not found`);
    const client = this.clientFor(req, where.app, target.query);
    if (!client) return;
    const format = formatOf(req.headers.get('content-type'));
    let body;
    try {
      body = decodeBody(format, req.body, where.name !== '');
    } catch (e) {
      const message = e instanceof DecodeError ? e.message : 'malformed body';
      return this.sendError(req, 400, message);
    }
    const method = where.name || body.method;
    let results: Value[];
    try {
      results = method ? this.context.host.call(client, method, body.args) : this.context.host.onMessage(client, body.args);
    } catch (e) {
      if (e instanceof MethodNotFound && where.name !== '' && this.fileExists(client, where.name)) {
        return this.read(req, client, target, where.name); // a form posted to a page
      }
      return this.callFailed(req, client, format, e);
    }
    this.reply(req, client, format, results);
  }

  private fileExists(client: HTTPClient, name: string): boolean {
    const info = lookupFile(this.context.wwwDir, this.appFile(client.path, name));
    return info !== null && !info.isDirectory;
  }

  private appFile(app: string, name: string): string {
    return path.join(this.context.wwwDir, app, name);
  }

  /** RPC results (and whatever the script wrote) in the request's format; nothing → empty 200. */
  private reply(req: HTTPRequest, client: HTTPClient, format: BodyFormat, results: Value[]): void {
    const out = client.endRequest();
    if (out.raw.length) return this.rawReply(req, out);
    const values = out.values.length ? [...out.values, ...results] : results;
    const headers: HeaderList = [];
    for (const c of out.cookies) headers.push(['Set-Cookie', c]);
    if (values.length === 0) return this.send(req, 200, headers, null);
    let body: Buffer;
    try {
      body = encodeReply(format, values);
    } catch (e) {
      return this.sendError(req, 500, `cannot encode the reply: ${(e as Error).message}`);
    }
    headers.push(['Content-Type', replyType(format)], ['Cache-Control', 'no-cache']);
    this.send(req, 200, headers, body);
  }

  /**
   * Bytes the script wrote with writer:writeRaw. A complete HTTP response ("HTTP/1.1 200 OK\r\n…")
   * goes out as is and ends the connection (we cannot know where it ends); other bytes are the body.
   */
  private rawReply(req: HTTPRequest, out: ReplyCollector): void {
    const raw = Buffer.concat(out.raw);
    if (raw.subarray(0, 5).toString('latin1') === 'HTTP/') {
      if (!this.socket.destroyed) this.socket.write(raw);
      this.close();
      return;
    }
    const headers: HeaderList = [['Content-Type', 'text/html; charset=utf-8']];
    for (const c of out.cookies) headers.push(['Set-Cookie', c]);
    this.send(req, 200, headers, raw);
  }

  private callFailed(req: HTTPRequest, client: HTTPClient, format: BodyFormat, e: unknown): void {
    const out = client.endRequest();
    const headers: HeaderList = [];
    for (const c of out.cookies) headers.push(['Set-Cookie', c]);
    if (!(e instanceof CallFailed)) this.context.logger.error('HTTP', `RPC: ${(e as Error)?.stack ?? e}`);
    const message = e instanceof Error ? e.message : String(e);
    const status = e instanceof MethodNotFound ? 404 : 500;
    headers.push(['Content-Type', replyType(format)]);
    this.send(req, status, headers, encodeFailure(format, message));
  }

  /** A folder: its index file, a listing, or 403 (SPEC S7, `index` setting and onConnection's). */
  private folder(req: HTTPRequest, client: HTTPClient, target: ParsedTarget): void {
    const index = client.index ?? (this.context.config.http.index || true);
    if (index === false) return this.sendError(req, 403, 'folder listing forbidden');
    if (typeof index === 'string' && index !== '' && extensionOf(index) === '' && client.index === index) {
      // an index without extension may be a method of the app (MonaServer's rule)
      try {
        const results = this.context.host.call(client, index, decodeQuery(target.query));
        return this.reply(req, client, formatOf(req.headers.get('content-type')), results);
      } catch (e) {
        if (!(e instanceof MethodNotFound)) return this.callFailed(req, client, formatOf(req.headers.get('content-type')), e);
      }
    }
    if (typeof index === 'string' && index !== '') {
      const safe = index.split('/').every((s) => s !== '..' && s !== '.') && !index.includes('\\') && !path.isAbsolute(index);
      if (safe && this.fileExists(client, index)) return this.read(req, client, target, index);
      if (client.index === index) return this.sendError(req, 404, `${index} not found`);
      // a configured default index that this folder does not have: list it
    }
    const dir = path.join(this.context.wwwDir, client.path);
    const info = lookupFile(this.context.wwwDir, dir);
    const listing = info?.isDirectory ? folderListing(info.real, target.path, target.query) : null;
    if (!listing) return this.sendError(req, 404, `${target.path} not found`);
    const out = client.endRequest();
    const headers: HeaderList = [['Content-Type', 'text/html; charset=utf-8'], ['Cache-Control', 'no-cache']];
    for (const c of out.cookies) headers.push(['Set-Cookie', c]);
    this.send(req, 200, headers, listing);
  }

  /** A file of the app, through the script's onRead (refusal, redirection, template, custom). */
  private read(req: HTTPRequest, client: HTTPClient, target: ParsedTarget, name: string): void {
    const params = new Table();
    for (const v of decodeQuery(target.query)) {
      if (v instanceof Table) for (const [k, x] of v.fields) params.set(k, x);
      else params.items.push(v);
    }
    let decision;
    try {
      const hook = appHook(this.context.host, HTTP_READ);
      decision = hook ? hook.onRead(client, name, params) : { file: name, template: null };
    } catch (e) {
      const out = client.endRequest();
      const headers: HeaderList = [['Content-Type', 'text/html; charset=utf-8']];
      for (const c of out.cookies) headers.push(['Set-Cookie', c]);
      return this.send(req, 403, headers, errorPage(403, e instanceof Error ? e.message : String(e)));
    }
    if (decision.file === null) {
      // the script answered itself (or chose to say nothing: an empty 200)
      return this.reply(req, client, formatOf(req.headers.get('content-type')), []);
    }
    let file = decision.file.replace(/^\/+/, '');
    if (file.split('/').some((s) => s === '..' || s === '.') || file.includes('\\') || file.includes('\0')) {
      return this.sendError(req, 403, 'path escapes the application folder');
    }
    if (file === '') return this.folder(req, client, target);
    const abs = this.appFile(client.path, file);
    const info = lookupFile(this.context.wwwDir, abs);
    if (!info) {
      const ext = extensionOf(file);
      if ((ext === 'flv' || ext === 'ts') && !file.includes('/')) return this.live(req, client, file.slice(0, -(ext.length + 1)), ext, params);
      return this.sendError(req, 404, `${target.path} not found`);
    }
    if (info.isDirectory) {
      if (decision.file !== name) return this.sendError(req, 404, `${file} is a folder`);
      const q = target.query ? `?${target.query}` : '';
      return this.send(req, 301, [['Location', `${target.path}/${q}`], ['Content-Type', 'text/html; charset=utf-8']], errorPage(301, 'moved'));
    }
    const out = client.endRequest();
    const cookies = out.cookies;
    if (decision.template && isTextType(info.mime)) return this.template(req, info, decision.template, cookies);
    this.staticFile(req, info, cookies);
  }

  private template(req: HTTPRequest, info: FileInfo, values: Table, cookies: string[]): void {
    let content = info.data;
    if (!content) {
      try {
        content = fs.readFileSync(info.real);
      } catch {
        return this.sendError(req, 404, 'file vanished');
      }
    }
    const headers: HeaderList = [['Content-Type', info.mime], ['Cache-Control', 'no-cache']];
    for (const c of cookies) headers.push(['Set-Cookie', c]);
    this.send(req, 200, headers, renderTemplate(content, values));
  }

  private staticFile(req: HTTPRequest, info: FileInfo, cookies: string[]): void {
    const headers = fileHeaders(info);
    for (const c of cookies) headers.push(['Set-Cookie', c]);
    if (notModified(info, req.headers)) return this.send(req, 304, headers, null);
    const range = parseRange(req.headers.get('range'), info.size, info, req.headers.get('if-range'));
    if (range.kind === 'unsatisfiable') {
      headers.push(['Content-Range', `bytes */${info.size}`]);
      return this.send(req, 416, headers, null);
    }
    if (range.kind === 'multi') {
      const layout = multipartLayout(range.spans, info.size, info.mime);
      headers[0] = ['Content-Type', layout.contentType]; // fileHeaders puts Content-Type first
      if (info.data) {
        const data = info.data;
        return this.send(req, 206, headers, Buffer.concat(layout.pieces.map((p) => (Buffer.isBuffer(p) ? p : data.subarray(p.start, p.end + 1)))));
      }
      return this.streamFile(req, 206, headers, info, layout.pieces, layout.length);
    }
    const start = range.kind === 'partial' ? range.start : 0;
    const end = range.kind === 'partial' ? range.end : info.size - 1;
    const status = range.kind === 'partial' ? 206 : 200;
    if (range.kind === 'partial') headers.push(['Content-Range', `bytes ${start}-${end}/${info.size}`]);
    if (info.data) return this.send(req, status, headers, info.data.subarray(start, end + 1));
    this.streamFile(req, status, headers, info, end >= start ? [{ start, end }] : [], Math.max(0, end - start + 1));
  }

  /**
   * A large file: `pieces` (in-memory part heads and spans read from disk, one after the other)
   * streamed with back-pressure; later pipelined requests wait for its end.
   */
  private streamFile(req: HTTPRequest, status: number, headers: HeaderList, info: FileInfo, pieces: BodyPiece[], length: number): void {
    const keep = this.keepAlive(req);
    const all = this.common(req, headers, keep);
    all.push(['Content-Length', String(length)]);
    this.socket.write(responseHead(status, all), 'latin1');
    if (req.method === 'HEAD' || length === 0) {
      if (!keep) this.close();
      return;
    }
    this.busy = true;
    let sent = 0;
    let index = 0;
    let stream: fs.ReadStream | null = null;
    let done = false;
    const onDrain = () => stream?.resume();
    const onClose = () => stream?.destroy();
    this.socket.on('drain', onDrain);
    this.socket.once('close', onClose);
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      this.socket.off('drain', onDrain);
      this.socket.off('close', onClose);
      this.busy = false;
      if (!ok || sent !== length || !keep) {
        this.close(ok ? undefined : 'file read error');
        return;
      }
      this.drain();
    };
    // in-memory pieces are written at once; each span opens its own read stream when reached
    const next = () => {
      stream = null;
      while (index < pieces.length) {
        const piece = pieces[index++];
        if (Buffer.isBuffer(piece)) {
          sent += piece.length;
          this.socket.write(piece);
          continue;
        }
        const s = fs.createReadStream(info.real, { start: piece.start, end: piece.end });
        stream = s;
        s.on('data', (chunk) => {
          sent += chunk.length;
          if (!this.socket.write(chunk)) s.pause();
        });
        s.on('end', next);
        s.on('error', () => finish(false));
        return;
      }
      finish(true);
    };
    next();
  }

  /** `name.flv` / `name.ts` that is no file: the live publication `name`, until it ends. */
  private live(req: HTTPRequest, client: HTTPClient, name: string, ext: string, params: Table): void {
    const isFLV = ext === 'flv';
    const headers: HeaderList = [
      ['Content-Type', isFLV ? 'video/x-flv' : 'video/mp2t'],
      ['Cache-Control', 'no-cache, no-store'],
    ];
    if (req.method === 'HEAD') {
      return this.sendRaw(200, headers, null, true, this.keepAlive(req), req);
    }
    const sink = isFLV ? new FLVSink(this.socket) : new TSSink(this.socket);
    sink.onEnd = (reason) => this.close(reason);
    // progressive: no length, the end of the connection ends the body
    const h = responseHead(200, this.common(req, headers, false));
    this.busy = true;
    this.setTimeout(0);
    this.socket.write(h, 'latin1');
    try {
      this.listener = this.context.publications.subscribe(client, name, sink, params);
    } catch (e) {
      this.busy = false;
      const message = e instanceof StreamRefused ? e.message : (e as Error).message;
      this.context.logger.info('HTTP', `${this.address} play ${name} refused: ${message}`);
      this.close(message);
      return;
    }
  }

  // ---- WebSocket ---------------------------------------------------------------------------

  private upgrade(req: HTTPRequest, target: ParsedTarget): void {
    const r = this.context.host.resolve(target.path);
    // `ws://host/app/name.flv`: WebSocket-FLV playback of publication `name` (S13)
    const flvStream = r.rest !== '' && !r.rest.includes('/') && extensionOf(r.rest) === 'flv' ? r.rest.slice(0, -4) : null;
    if (r.rest !== '' && !flvStream) return this.sendError(req, 404, `${target.path} not found`);
    if (this.client) {
      const c = this.client;
      this.client = null;
      this.disconnectClient(c, 'upgraded to WebSocket');
    }
    this.closed = true; // handed over: close() must not end the socket the WebSocket now owns
    this.socket.off('data', this.onDataBound);
    this.socket.removeAllListeners('timeout');
    this.socket.removeAllListeners('error');
    this.socket.removeAllListeners('close');
    this.server.release(this);
    acceptWebSocket(this.context, this.socket, req, r.app, target.query, this.parser.takeRest(), flvStream);
  }
}
