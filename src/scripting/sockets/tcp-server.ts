/**
 * `mona:createTCPServer()`: MonaServer's TCPServer over a Node server.
 *
 *  - `start(address[, port])` (a port alone listens on every IPv4 interface; the host must be an IP,
 *    as MonaServer binds without DNS) returns true once listening, false with an ERROR log when the
 *    address is taken, not allowed or not an address, or the server already runs. The answer is
 *    known before start returns: the socket is bound and listening synchronously (below).
 *  - `stop()` closes the listening socket; clients already accepted stay connected.
 *  - `onConnection(client)` gets each accepted connection as a TCPClient (tcp-client.ts); without
 *    an onConnection function, connections are closed at once.
 *  - `address` (SocketAddress, 0.0.0.0:0 when not listening), `running`.
 */
import * as net from 'node:net';
import { getSystemErrorName } from 'node:util';
import type { Value } from '../../serialization/value';
import type { App } from '../runtime/app';
import type { ArgWriter } from '../runtime/engine';
import type { ObjectClass } from '../runtime/model';
import { endpointText, readEndpoint, socketAddressValue, wildcardAddress, type Endpoint } from './addresses';
import type { ScriptSocket, ScriptSockets } from './sockets';
import { TCPClientSocket } from './tcp-client';

const writeClient: ArgWriter<TCPClientSocket> = (out, c) => out.object(c.sockets.tcpClient, c);

/** Node's own TCP handle class, which binds and listens synchronously (its error codes returned). */
interface TCPHandle {
  bind(ip: string, port: number): number;
  bind6(ip: string, port: number, flags: number): number;
  listen(backlog: number): number;
  close(): void;
}
interface TCPWrap {
  TCP: new (type: number) => TCPHandle;
  constants: { SERVER: number };
}
let tcpWrap: TCPWrap | null | undefined;

function nodeTCPWrap(): TCPWrap | null {
  if (tcpWrap !== undefined) return tcpWrap;
  try {
    const binding = (process as unknown as { binding(name: string): Partial<TCPWrap> }).binding('tcp_wrap');
    tcpWrap = typeof binding.TCP === 'function' && typeof binding.constants?.SERVER === 'number' ? (binding as TCPWrap) : null;
  } catch {
    tcpWrap = null;
  }
  return tcpWrap;
}

/**
 * Binds and listens on ip:port now, so that `start` can answer as MonaServer's does: Node's public
 * `listen(port, host)` reports a taken port only after a turn of the event loop. The socket is made
 * and bound through Node's TCP handle, then handed to `server.listen(handle)` (public API). Where
 * that handle class is not reachable, listening starts the public way and a failure is reported
 * when it happens (`pending`).
 */
export function listenNow(server: net.Server, ip: string, port: number): { error: string | null; pending: boolean } {
  const wrap = nodeTCPWrap();
  if (!wrap) {
    server.listen({ host: ip, port, exclusive: true });
    return { error: null, pending: true };
  }
  const handle = new wrap.TCP(wrap.constants.SERVER);
  let err = net.isIPv6(ip) ? handle.bind6(ip, port, 0) : handle.bind(ip, port);
  if (err === 0) err = handle.listen(511);
  if (err !== 0) {
    handle.close();
    return { error: `listen ${getSystemErrorName(err)} ${endpointText(ip, port)}`, pending: false };
  }
  server.listen(handle);
  return { error: null, pending: false };
}

export class TCPServerSocket implements ScriptSocket {
  private server: net.Server | null = null;
  /** the address it listens on (kept while running) */
  private bound: { host: string; port: number } | null = null;

  constructor(
    readonly sockets: ScriptSockets,
    readonly owner: App | null,
  ) {}

  get running(): boolean {
    return this.server !== null;
  }

  /** Listens on `target`; an error text when it cannot. */
  start(target: Endpoint): string | null {
    if (this.server) return `already running on ${this.addressText()}`;
    if (!net.isIP(target.host)) return `${target.host} is not an IP address`;
    const server = net.createServer({ noDelay: true });
    server.on('connection', (socket: net.Socket) => this.accepted(server, socket));
    server.on('error', (e: Error) => {
      if (this.server !== server) return;
      this.sockets.logger.error('TCPServer', `${endpointText(target.host, target.port)}: ${e.message}`);
      this.server = null;
      this.bound = null;
      server.close();
    });
    const r = listenNow(server, target.host, target.port);
    if (r.error !== null) return r.error;
    this.server = server;
    const a = server.address();
    this.bound = a && typeof a === 'object' ? { host: a.address, port: a.port } : { host: target.host, port: target.port };
    return null;
  }

  stop(): void {
    const server = this.server;
    if (!server) return;
    this.server = null;
    this.bound = null;
    server.close();
  }

  private accepted(server: net.Server, socket: net.Socket): void {
    if (this.server !== server) {
      socket.destroy();
      return;
    }
    const client = this.sockets.adopt(new TCPClientSocket(this.sockets, this.owner, socket));
    const r = this.sockets.host.method(this.sockets.tcpServer, this, 'onConnection', writeClient, client, false, false, this.owner);
    if (r === null) {
      // nobody to talk to it
      client.shutdown();
      this.sockets.forget(client);
    }
  }

  shutdown(): void {
    this.stop();
  }

  addressValue(): Value {
    return this.bound ? socketAddressValue(this.bound.host, this.bound.port) : wildcardAddress();
  }

  addressText(): string {
    return this.bound ? endpointText(this.bound.host, this.bound.port) : 'nowhere';
  }
}

export function tcpServerClass(): ObjectClass<TCPServerSocket> {
  return {
    name: 'TCPServer',
    properties: {
      running: (s, out) => out.boolean(s.running),
      address: (s, out) => out.value(s.addressValue()),
    },
    methods: {
      start(s, args, out) {
        const r = readEndpoint(args, 1);
        const error = 'error' in r ? r.error : s.start(r.endpoint);
        if (error !== null) s.sockets.logger.error(args.where() || 'TCPServer', `TCPServer:start: ${error}`);
        out.boolean(error === null);
      },
      stop(s) {
        s.stop();
      },
    },
    describe: (s) => `TCPServer ${s.addressText()}`,
  };
}
