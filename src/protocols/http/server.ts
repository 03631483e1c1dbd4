/**
 * The HTTP (and WebSocket, same port) protocol server: a transport listener, one HTTPConnection
 * per connection, answered by a router (MonaServer's handlers by default; a second listener, such
 * as an admin API, passes its own router). HTTPS (and WSS) is this server on a TLS listener
 * (`secure`): the same connections, answered by the same router object as HTTP's.
 */
import { listenHost } from '../../config/listen';
import type { ServerContext } from '../../core/context';
import type { ProtocolServer } from '../../core/protocol';
import type { TransportLimits } from '../../transport/limits';
import { TCPListener } from '../../transport/listener';
import { serverTLS } from '../../transport/tls';
import { HTTPConnection } from './connection';
import { appRouter } from './handlers';
import type { HTTPRouter } from './router';

const appRouters = new WeakMap<ServerContext, HTTPRouter>();

/**
 * The router of the server's applications, one per server: HTTP and HTTPS both answer with it, so
 * a handler added to either (`server.router.add(...)`) serves on both ports, and a handler's own
 * state is made once.
 */
export function serverAppRouter(context: ServerContext): HTTPRouter {
  let r = appRouters.get(context);
  if (!r) appRouters.set(context, (r = appRouter()));
  return r;
}

export interface HTTPServerOptions {
  /**
   * HTTPS: TLS on every connection with the server's `[TLS]` certificate, `[HTTPS] port` and
   * `host`, name "HTTPS"; clients are "HTTPS" and "WSS" (default false: HTTP)
   */
  secure?: boolean;
  /** overrides config.http.port / config.https.port (tests: 0 = ephemeral) */
  port?: number;
  /** listen address (default `[HTTP] host` / `[HTTPS] host`, else all interfaces) */
  host?: string;
  /** the handlers answering requests (default: the server's app router, serverAppRouter) */
  router?: HTTPRouter;
  /** name in logs and the banner (default "HTTP", "HTTPS") */
  name?: string;
  /** what the banner says it serves (default "TCP, HTTP and WebSocket", "TLS, HTTPS and WSS") */
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
    const secure = options.secure ?? false;
    this.name = options.name ?? (secure ? 'HTTPS' : 'HTTP');
    this.router = options.router ?? serverAppRouter(context);
    this.banner = options.banner ?? (secure ? 'TLS, HTTPS and WSS' : 'TCP, HTTP and WebSocket');
    this.listener = new TCPListener(context, {
      name: this.name,
      port: options.port ?? (secure ? context.config.https.port : context.config.http.port),
      host: options.host ?? listenHost(context.config, secure ? 'HTTPS' : 'HTTP'),
      limits: options.limits,
      tls: secure ? { server: serverTLS(context), alpn: ['http/1.1'] } : undefined,
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
