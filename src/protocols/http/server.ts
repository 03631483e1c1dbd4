/** The HTTP (and WebSocket, same port) protocol server: a TCP listener, one HTTPSession per connection. */
import * as net from 'node:net';
import { listenHost } from '../../config/listen';
import type { ServerContext } from '../../core/context';
import type { ProtocolServer } from '../../core/protocol';
import { HTTPSession } from './session';

export interface HTTPServerOptions {
  /** overrides config.http.port (tests: 0 = ephemeral) */
  port?: number;
  /** listen address (default all interfaces) */
  host?: string;
}

export class HTTPServer implements ProtocolServer {
  readonly name = 'HTTP';
  private server: net.Server | null = null;
  private readonly sessions = new Set<HTTPSession>();
  private readonly sockets = new Set<net.Socket>();

  constructor(
    readonly context: ServerContext,
    private readonly options: HTTPServerOptions = {},
  ) {}

  start(): Promise<void> {
    const server = net.createServer({ noDelay: false }, (socket) => this.accept(socket));
    this.server = server;
    const port = this.options.port ?? this.context.config.http.port;
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      server.once('error', onError);
      server.listen({ port, host: this.options.host ?? listenHost(this.context.config, 'HTTP') }, () => {
        server.off('error', onError);
        server.on('error', (err) => this.context.logger.error('HTTP', `listener: ${err.message}`));
        resolve();
      });
    });
  }

  /** the bound port (after start) */
  get port(): number {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : 0;
  }

  addresses(): string[] {
    const a = this.server?.address();
    if (!a || typeof a !== 'object') return [];
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return [`${host}:${a.port} (TCP, HTTP and WebSocket)`];
  }

  private accept(socket: net.Socket): void {
    // a blacklisted IP (mona:addToBlacklist) gets no session: closed before reading a byte
    const ip = socket.remoteAddress ?? '';
    if (this.context.isBlacklisted(net.isIPv6(ip) ? `[${ip}]:${socket.remotePort}` : `${ip}:${socket.remotePort}`)) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    socket.on('error', () => {});
    this.sessions.add(new HTTPSession(this, socket));
  }

  release(session: HTTPSession): void {
    this.sessions.delete(session);
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of [...this.sessions]) s.close('server stopping');
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
