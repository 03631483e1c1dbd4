/**
 * The HTTP (and WebSocket, same port) protocol server: a transport listener, one HTTPConnection
 * per connection, answered by a router (MonaServer's handlers by default; a second listener, such
 * as an admin API, passes its own router).
 */
import { listenHost } from '../../config/listen';
import type { ServerContext } from '../../core/context';
import type { ProtocolServer } from '../../core/protocol';
import type { TransportLimits } from '../../transport/limits';
import { TCPListener } from '../../transport/listener';
import { HTTPConnection } from './connection';
import { appRouter } from './handlers';
import type { HTTPRouter } from './router';

export interface HTTPServerOptions {
  /** overrides config.http.port (tests: 0 = ephemeral) */
  port?: number;
  /** listen address (default `[HTTP] host`, else all interfaces) */
  host?: string;
  /** the handlers answering requests (default: MonaServer's app behaviour, handlers/index.ts) */
  router?: HTTPRouter;
  /** name in logs and the banner (default "HTTP") */
  name?: string;
  /** what the banner says it serves (default "TCP, HTTP and WebSocket") */
  banner?: string;
  /** overrides of the `[TCP]` limits (tests) */
  limits?: Partial<TransportLimits>;
}

export class HTTPServer implements ProtocolServer {
  readonly name: string;
  readonly router: HTTPRouter;
  private readonly listener: TCPListener;
  private readonly banner: string;

  constructor(
    readonly context: ServerContext,
    options: HTTPServerOptions = {},
  ) {
    this.name = options.name ?? 'HTTP';
    this.router = options.router ?? appRouter();
    this.banner = options.banner ?? 'TCP, HTTP and WebSocket';
    this.listener = new TCPListener(context, {
      name: this.name,
      port: options.port ?? context.config.http.port,
      host: options.host ?? listenHost(context.config, 'HTTP'),
      limits: options.limits,
      onConnection: (c) => new HTTPConnection(context, c, this.router),
    });
  }

  start(): Promise<void> {
    return this.listener.start();
  }

  /** the bound port (after start) */
  get port(): number {
    return this.listener.port;
  }

  addresses(): string[] {
    return this.listener.addresses().map((a) => `${a} (${this.banner})`);
  }

  stop(): Promise<void> {
    return this.listener.stop();
  }
}
