/**
 * One request and its answer, as the router's handlers see it: the parsed request and target, the
 * app and client it names (resolved once, on demand), and the ways to answer — a whole response,
 * an error page, a file streamed from disk, or a progressive stream (live). Every answer goes
 * through the connection's transport output (coalesced, bounded).
 */
import * as fs from 'node:fs';
import type { AppHost, ResolvedPath } from '../../core/app-host';
import type { ServerContext } from '../../core/context';
import type { Connection } from '../../transport/connection';
import type { HTTPClient } from './client';
import type { HTTPConnection } from './connection';
import type { FileInfo } from './files';
import { HTTPError, type HTTPRequest } from './parser';
import { type ParsedTarget, parseTarget } from './paths';
import type { BodyPiece } from './ranges';
import { type HeaderList, errorPage, responseHead } from './response';

/**
 * URL folder → app, remembered for a second: resolving stats folders, and doing it for every
 * request of a busy app costs more than the request itself. A new or deleted app folder is seen
 * within a second.
 */
const RESOLVE_TTL_MS = 1000;
const resolved = new WeakMap<AppHost, Map<string, { r: ResolvedPath; at: number }>>();
export function resolveCached(host: AppHost, dir: string): ResolvedPath {
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

/** The app a URL names and the file or method inside it ("" for the app's folder itself). */
export interface Located {
  app: string;
  name: string;
}

export class HTTPExchange {
  /** null for the answer to an unparsable request */
  readonly target: ParsedTarget | null;
  /** an answer was written (or started) */
  answered = false;
  /** the answer is still being written: the connection waits for done() */
  pending = false;
  /** a live stream: never idle, ends with the publication */
  isLive = false;
  /** false = answers carry no CORS grant (the admin API: no page of another origin may read it) */
  cors = true;
  /** what a handler found for the next ones (onRead's file that does not exist, for live) */
  readonly notes = new Map<string, unknown>();
  private located: Located | null | undefined;
  private onAbort: (() => void) | null = null;

  constructor(
    readonly http: HTTPConnection,
    /** null: the answer to bytes that were no request (400, 408, 431…) */
    readonly req: HTTPRequest | null,
  ) {
    let t: ParsedTarget | null = null;
    if (req) {
      try {
        t = parseTarget(req.target);
      } catch (e) {
        const err = e instanceof HTTPError ? e : new HTTPError(400, 'bad request target');
        this.target = null;
        this.sendError(err.status, err.message);
        return;
      }
    }
    this.target = t;
  }

  get context(): ServerContext {
    return this.http.context;
  }

  get connection(): Connection {
    return this.http.connection;
  }

  get method(): string {
    return this.req?.method ?? '';
  }

  header(name: string): string | undefined {
    return this.req?.headers.get(name);
  }

  /**
   * URL → app and name. A folder URL ("/a/b/") names the app "/a/b"; otherwise the last segment is
   * a file or method of the app named by the rest. null = no such app.
   */
  where(): Located | null {
    if (this.located !== undefined) return this.located;
    const target = this.target!;
    let dir = target.path;
    let name = '';
    if (!target.folder) {
      const slash = dir.lastIndexOf('/');
      name = dir.slice(slash + 1);
      dir = dir.slice(0, slash) || '/';
    }
    const r = resolveCached(this.context.host, dir);
    this.located = r.rest !== '' ? null : { app: r.app, name };
    return this.located;
  }

  /** The app client for this request (onConnection on a new one); null = refused, already answered. */
  client(app: string): HTTPClient | null {
    return this.http.clientFor(this, app, this.target!.query);
  }

  get keepAlive(): boolean {
    const req = this.req;
    if (!req) return false;
    const c = req.headers.get('connection')?.toLowerCase();
    if (req.version === '1.0') return c !== undefined && c.includes('keep-alive');
    return !(c !== undefined && /(^|,)\s*close\s*(,|$)/.test(c));
  }

  /**
   * Headers every answer carries: CORS (any origin; with an Origin, credentials are allowed as the
   * preflight says, so a page's fetch with credentials reads the answer) and Connection.
   */
  common(headers: HeaderList, keep: boolean): HeaderList {
    if (this.cors) {
      const origin = this.req?.headers.get('origin');
      headers.push(['Access-Control-Allow-Origin', origin ?? '*']);
      if (origin) headers.push(['Access-Control-Allow-Credentials', 'true'], ['Vary', 'Origin']);
    }
    headers.push(['Connection', keep ? 'keep-alive' : 'close']);
    return headers;
  }

  /** Writes one whole response; `body` is omitted for HEAD but its length is announced. */
  sendRaw(status: number, headers: HeaderList, body: Buffer | null, head: boolean, keep: boolean): void {
    this.answered = true;
    const c = this.connection;
    if (this.http.isClosed || c.closed) return;
    const all = this.common(headers, keep);
    if (status !== 304 && status !== 204) all.push(['Content-Length', String(body ? body.length : 0)]);
    const h = responseHead(status, all);
    if (body && body.length && !head) {
      if (body.length <= 64 * 1024) {
        // one buffer: cheaper than a head and a body for small answers
        const out = Buffer.allocUnsafe(h.length + body.length);
        out.write(h, 0, 'latin1');
        body.copy(out, h.length);
        c.write(out);
      } else {
        c.write(h, 'latin1');
        c.write(body);
      }
    } else c.write(h, 'latin1');
    const logger = this.context.logger;
    if (logger.dumping) logger.dump('HTTP', 'out', this.http.address, Buffer.concat([Buffer.from(h, 'latin1'), head || !body ? Buffer.alloc(0) : body]));
    if (!keep) this.http.close();
  }

  send(status: number, headers: HeaderList, body: Buffer | null): void {
    this.sendRaw(status, headers, body, this.method === 'HEAD', this.keepAlive);
  }

  sendError(status: number, message: string, forceClose = false): void {
    const headers: HeaderList = [['Content-Type', 'text/html; charset=utf-8']];
    this.sendRaw(status, headers, errorPage(status, message), this.method === 'HEAD', !forceClose && this.keepAlive);
  }

  /** An error answer that still carries the cookies the script set before refusing. */
  sendCollected(client: HTTPClient, status: number, message: string): void {
    const out = client.endRequest();
    const headers: HeaderList = [['Content-Type', 'text/html; charset=utf-8']];
    for (const ck of out.cookies) headers.push(['Set-Cookie', ck]);
    this.send(status, headers, errorPage(status, message));
  }

  /** Bytes that are a complete response of their own (a script's raw answer): sent, then close. */
  sendVerbatim(raw: Buffer): void {
    this.answered = true;
    if (!this.connection.closed) this.connection.write(raw);
    this.http.close();
  }

  /**
   * A file's `pieces` (in-memory part heads and spans read from disk, one after the other),
   * streamed at the pace the peer reads; later pipelined requests wait for its end.
   */
  streamFile(status: number, headers: HeaderList, info: FileInfo, pieces: BodyPiece[], length: number): void {
    const keep = this.keepAlive;
    const all = this.common(headers, keep);
    all.push(['Content-Length', String(length)]);
    this.answered = true;
    const c = this.connection;
    c.write(responseHead(status, all), 'latin1');
    if (this.method === 'HEAD' || length === 0) {
      if (!keep) this.http.close();
      return;
    }
    this.pending = true;
    let sent = 0;
    let index = 0;
    let stream: fs.ReadStream | null = null;
    let done = false;
    const socket = c.socket;
    const onDrain = () => stream?.resume();
    socket.on('drain', onDrain);
    const finish = (ok: boolean) => {
      if (done) return;
      done = true;
      socket.off('drain', onDrain);
      this.onAbort = null;
      if (!ok || sent !== length || !keep) {
        this.http.close(ok ? undefined : 'file read error');
        return;
      }
      this.done();
    };
    this.onAbort = () => {
      stream?.destroy();
      done = true;
      socket.off('drain', onDrain);
    };
    // in-memory pieces are written at once; each span opens its own read stream when reached
    const next = () => {
      stream = null;
      while (index < pieces.length) {
        const piece = pieces[index++];
        if (Buffer.isBuffer(piece)) {
          sent += piece.length;
          c.write(piece);
          continue;
        }
        const s = fs.createReadStream(info.real, { start: piece.start, end: piece.end });
        stream = s;
        s.on('data', (chunk) => {
          sent += chunk.length;
          c.write(chunk as Buffer);
          c.flush(); // a file is not coalesced with anything: hand it to the kernel now
          // the socket's own high-water mark: 'drain' comes once it is passed, and resumes us
          if (c.queuedBytes() >= socket.writableHighWaterMark) s.pause();
        });
        s.on('end', next);
        s.on('error', () => finish(false));
        return;
      }
      finish(true);
    };
    next();
  }

  /**
   * Starts a progressive answer (live stream): the head now, the body as it comes, the end of the
   * connection ends the body. `onAbort` runs if the connection ends first.
   */
  startStream(status: number, headers: HeaderList, onAbort: () => void): void {
    this.answered = true;
    this.pending = true;
    this.isLive = true;
    this.onAbort = onAbort;
    this.connection.write(responseHead(status, this.common(headers, false)), 'latin1');
  }

  /** The asynchronous answer is complete: the connection goes on with the next request. */
  done(): void {
    if (!this.pending) return;
    this.pending = false;
    this.onAbort = null;
    this.http.exchangeDone(this);
  }

  /** The connection ended before the answer did. */
  abort(): void {
    const f = this.onAbort;
    this.onAbort = null;
    this.pending = false;
    f?.();
  }
}
