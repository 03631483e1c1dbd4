/**
 * `mona:createUDPSocket([allowBroadcast])`: MonaServer's UDPSocket over a Node datagram socket.
 *
 *  - `bind(address[, port])` → true, or false with an ERROR log (address taken, not an IP, already
 *    bound). `connect(address[, port])` (a port alone: 127.0.0.1) → nothing, or an error text;
 *    connecting again replaces the peer. `disconnect()`, `close()` (the socket can bind or connect
 *    again afterwards).
 *  - `send(data[, address[, port]])` → true, or false with an ERROR log: no address on a socket not
 *    connected, an address on a connected one, a datagram above the UDP maximum. An unbound socket
 *    binds to the wildcard address on its first send, as the system does. When the send queue holds
 *    more than SOCKET_LIMITS.udpQueueBytes (the network cannot take them as fast as the script
 *    sends), datagrams are dropped, send returns false, and the drops are logged (a WARN at most
 *    every 10 s with their count).
 *  - `onPacket(data, address)`: each datagram, `address` the sender as "ip:port".
 *  - `address` (SocketAddress; 0.0.0.0:0 before any bind), `peerAddress` (nil when not connected).
 *
 * The socket's family (IPv4/IPv6) is the one of the first address it binds, connects or sends to.
 * IP literals are used at once (bind, connect and their errors complete before the method returns);
 * host names are resolved by Node without blocking.
 */
import * as dgram from 'node:dgram';
import * as dns from 'node:dns';
import * as net from 'node:net';
import type { Value } from '../../serialization/value';
import type { App } from '../runtime/app';
import type { ArgWriter } from '../runtime/engine';
import type { ObjectClass } from '../runtime/model';
import { endpointText, readEndpoint, socketAddressValue, wildcardAddress, type Endpoint } from './addresses';
import { SOCKET_LIMITS, type ScriptSocket, type ScriptSockets } from './sockets';

const writePacket: ArgWriter<{ data: Buffer; from: string }> = (out, p) => {
  out.sharedBytes(p.data);
  out.text(p.from);
};

/** Largest UDP payload per family. */
const MAX_DATAGRAM = { 4: 65507, 6: 65527 };
const DROP_LOG_MS = 10_000;

/** IP literals resolve to themselves synchronously, so that bind/connect/send complete before returning. */
function lookup(hostname: string, options: unknown, callback: (err: Error | null, address: string, family: number) => void): void {
  const family = net.isIP(hostname);
  if (family) return callback(null, hostname, family);
  dns.lookup(hostname, options as dns.LookupOneOptions, callback as (err: NodeJS.ErrnoException | null, address: string, family: number) => void);
}

function familyOf(host: string): 4 | 6 {
  return net.isIPv6(host) ? 6 : 4;
}

export class UDPScriptSocket implements ScriptSocket {
  private socket: dgram.Socket | null = null;
  private family: 4 | 6 = 4;
  /** the error a synchronous bind/connect reported while we waited for it */
  private syncError: Error | null = null;
  private waiting = false;
  private dropped = 0;
  private lastDropLog = 0;

  constructor(
    readonly sockets: ScriptSockets,
    readonly owner: App | null,
    readonly broadcast: boolean,
  ) {}

  private open(family: 4 | 6): dgram.Socket {
    const socket = dgram.createSocket({ type: family === 6 ? 'udp6' : 'udp4', lookup: lookup as unknown as dgram.SocketOptions['lookup'] });
    this.socket = socket;
    this.family = family;
    socket.on('message', (data: Buffer, rinfo: dgram.RemoteInfo) => {
      if (this.socket !== socket) return;
      this.sockets.host.method(this.sockets.udpSocket, this, 'onPacket', writePacket, { data, from: endpointText(rinfo.address, rinfo.port) }, false, false, this.owner);
    });
    socket.on('listening', () => {
      if (this.broadcast) socket.setBroadcast(true);
    });
    socket.on('error', (e: Error) => {
      if (this.waiting) this.syncError = e;
      else if (this.socket === socket) this.sockets.logger.warn('UDPSocket', e.message);
    });
    return socket;
  }

  /** Runs a bind/connect whose outcome Node reports through 'error' right away; returns that error. */
  private now(fn: () => void): string | null {
    this.syncError = null;
    this.waiting = true;
    try {
      fn();
    } catch (e) {
      return (e as Error).message;
    } finally {
      this.waiting = false;
    }
    return this.syncError ? (this.syncError as Error).message : null;
  }

  private socketFor(host: string): dgram.Socket | string {
    const family = familyOf(host);
    if (!this.socket) return this.open(family);
    if (net.isIP(host) && family !== this.family) return `${host} is not an IPv${this.family} address, as this socket is`;
    return this.socket;
  }

  private isBound(): boolean {
    try {
      this.socket?.address();
      return this.socket !== null;
    } catch {
      return false;
    }
  }

  get isConnected(): boolean {
    try {
      this.socket?.remoteAddress();
      return this.socket !== null;
    } catch {
      return false;
    }
  }

  bind(target: Endpoint): string | null {
    if (!net.isIP(target.host)) return `${target.host} is not an IP address`;
    if (this.isBound()) return `already bound to ${this.addressText()}`;
    const socket = this.socketFor(target.host);
    if (typeof socket === 'string') return socket;
    const error = this.now(() => socket.bind({ port: target.port, address: target.host, exclusive: true }));
    if (error !== null) this.close();
    return error;
  }

  connect(target: Endpoint): string | null {
    if (target.port === 0) return `no port to connect to ${target.host}`;
    if (this.isConnected) this.socket?.disconnect();
    const socket = this.socketFor(target.host);
    if (typeof socket === 'string') return socket;
    return this.now(() => socket.connect(target.port, target.host));
  }

  disconnect(): void {
    if (this.isConnected) this.socket?.disconnect();
  }

  send(data: Buffer, to: Endpoint | null): string | null {
    if (data.length === 0) return null;
    let socket: dgram.Socket | string | null = this.socket;
    if (to) {
      if (this.isConnected) return `connected to ${this.peerText()}: send without an address`;
      if (to.port === 0) return `no port to send to ${to.host}`;
      socket = this.socketFor(to.host);
      if (typeof socket === 'string') return socket;
    } else if (!socket || !this.isConnected) return 'not connected: give an address';
    if (data.length > MAX_DATAGRAM[this.family]) return `a datagram of ${data.length} bytes is above the UDP maximum`;
    if (socket.getSendQueueSize() > SOCKET_LIMITS.udpQueueBytes) {
      this.drop();
      return 'send queue full: datagram dropped';
    }
    // a copy: the script's string may not outlive this call
    const copy = Buffer.from(data);
    const done = (e: Error | null): void => {
      if (e && this.socket === socket) this.sockets.logger.warn('UDPSocket', `send: ${e.message}`);
    };
    return this.now(() => (to ? (socket as dgram.Socket).send(copy, to.port, to.host, done) : (socket as dgram.Socket).send(copy, done)));
  }

  private drop(): void {
    this.dropped++;
    const now = Date.now();
    if (now - this.lastDropLog < DROP_LOG_MS) return;
    this.sockets.logger.warn('UDPSocket', `${this.addressText()}: ${this.dropped} datagram(s) dropped, the send queue held more than ${SOCKET_LIMITS.udpQueueBytes} bytes`);
    this.lastDropLog = now;
    this.dropped = 0;
  }

  close(): void {
    const socket = this.socket;
    this.socket = null;
    socket?.close();
  }

  shutdown(): void {
    this.close();
  }

  addressValue(): Value {
    if (!this.isBound()) return wildcardAddress();
    const a = (this.socket as dgram.Socket).address();
    return socketAddressValue(a.address, a.port);
  }

  peerValue(): Value {
    if (!this.isConnected) return null;
    const a = (this.socket as dgram.Socket).remoteAddress();
    return socketAddressValue(a.address, a.port);
  }

  addressText(): string {
    if (!this.isBound()) return 'unbound';
    const a = (this.socket as dgram.Socket).address();
    return endpointText(a.address, a.port);
  }

  peerText(): string {
    if (!this.isConnected) return 'unconnected';
    const a = (this.socket as dgram.Socket).remoteAddress();
    return endpointText(a.address, a.port);
  }
}

export function udpSocketClass(): ObjectClass<UDPScriptSocket> {
  const failed = (s: UDPScriptSocket, where: string, what: string, error: string): void =>
    s.sockets.logger.error(where || 'UDPSocket', `UDPSocket:${what}: ${error}`);
  return {
    name: 'UDPSocket',
    properties: {
      address: (s, out) => out.value(s.addressValue()),
      peerAddress: (s, out) => out.value(s.peerValue()),
    },
    methods: {
      bind(s, args, out) {
        const r = readEndpoint(args, 1);
        const error = 'error' in r ? r.error : s.bind(r.endpoint);
        if (error !== null) failed(s, args.where(), 'bind', error);
        out.boolean(error === null);
      },
      connect(s, args, out) {
        const r = readEndpoint(args, 1);
        // a port alone is a port of this machine, as MonaServer's connect takes it
        const error = 'error' in r ? r.error : s.connect(args.kind(1) === 'number' ? { host: '127.0.0.1', port: r.endpoint.port } : r.endpoint);
        if (error !== null) out.text(error);
      },
      disconnect(s) {
        s.disconnect();
      },
      send(s, args, out) {
        const data = args.bytes(1) ?? Buffer.alloc(0);
        let error: string | null;
        if (args.count() >= 2 && args.kind(2) !== 'nil') {
          const r = readEndpoint(args, 2);
          error = 'error' in r ? r.error : s.send(data, r.endpoint);
        } else error = s.send(data, null);
        // a full queue is counted and logged by the socket (one line per burst, not per datagram)
        if (error !== null && !error.startsWith('send queue full')) failed(s, args.where(), 'send', error);
        out.boolean(error === null);
      },
      close(s) {
        s.close();
      },
    },
    describe: (s) => `UDPSocket ${s.addressText()}`,
  };
}
