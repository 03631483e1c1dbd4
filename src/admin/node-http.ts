/**
 * The admin listener on `node:http`, as a stopgap: the admin handlers are written against the small
 * request/response model of ./http so that they move onto our own HTTP connection code (its router
 * on a second listener) once that exists, and this file goes away. It only translates: bounded
 * body in, status/headers/body (or stream) out; HEAD answers without a body.
 */
import * as http from 'node:http';
import type { ProtocolServer } from '../core/protocol';
import { failure, MAX_ADMIN_BODY, type AdminHandler, type AdminRequest, type AdminResponse } from './http';

/** Idle keep-alive connections and slow requests are cut after this. */
const TIMEOUT_MS = 30_000;

export class AdminHTTPServer implements ProtocolServer {
  readonly name = 'Admin';
  private server: http.Server | null = null;

  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly handler: AdminHandler,
    private readonly onError: (message: string) => void,
  ) {}

  start(): Promise<void> {
    const server = http.createServer({ requestTimeout: TIMEOUT_MS, headersTimeout: TIMEOUT_MS }, (req, res) => this.serve(req, res));
    server.keepAliveTimeout = 5_000;
    server.maxHeadersCount = 100;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => {
        server.off('error', reject);
        server.on('error', (e) => this.onError(`admin listener: ${e.message}`));
        this.server = server;
        resolve();
      });
    });
  }

  addresses(): string[] {
    const a = this.server?.address();
    if (!a || typeof a !== 'object') return [];
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return [`${host}:${a.port} (HTTP: API, metrics, dashboard)`];
  }

  /** the bound port (tests listen on 0) */
  get boundPort(): number {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : 0;
  }

  stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_ADMIN_BODY) {
        tooBig = true;
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      if (tooBig) return;
      const target = req.url ?? '/';
      const q = target.indexOf('?');
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
      const request: AdminRequest = {
        method: (req.method ?? 'GET').toUpperCase(),
        path: q < 0 ? target : target.slice(0, q),
        query: new URLSearchParams(q < 0 ? '' : target.slice(q + 1)),
        headers,
        body: Buffer.concat(chunks, size),
      };
      Promise.resolve()
        .then(() => this.handler(request))
        .catch((e: unknown) => {
          this.onError(`admin ${request.method} ${request.path}: ${(e as Error).stack ?? e}`);
          return failure(500, 'internal error');
        })
        .then((response) => this.write(request, res, response));
    });
  }

  private write(request: AdminRequest, res: http.ServerResponse, response: AdminResponse): void {
    if (res.destroyed) {
      response.stream?.destroy();
      return;
    }
    res.statusCode = response.status;
    for (const [k, v] of Object.entries(response.headers)) res.setHeader(k, v);
    if (request.method === 'HEAD') {
      if (response.body !== undefined) res.setHeader('Content-Length', Buffer.byteLength(response.body));
      response.stream?.destroy();
      res.end();
      return;
    }
    if (response.stream) {
      response.stream.on('error', () => res.destroy());
      response.stream.pipe(res);
      return;
    }
    res.end(response.body ?? '');
  }
}
