/**
 * `mona:createTCPClient()` and the clients a script TCP server accepts: MonaServer's TCPClient over
 * a Node socket.
 *
 *  - `connect(host[, port])` starts connecting and returns true (host names are resolved by Node,
 *    without blocking); false with an ERROR log for an address that is no address or a client
 *    already connected. A refused or failed connection ends in `onDisconnection` with `self.error`.
 *  - `send(data)` queues bytes (also while connecting); returns nothing, or an error text when not
 *    connected. More than SOCKET_LIMITS.sendQueueBytes waiting (a peer that does not read) closes
 *    the connection with that error, which the send returns.
 *  - `onData(data)` returns how many bytes it left unconsumed (nil or 0: all consumed): those bytes
 *    come first in the next call. A call that consumed part of the data is followed at once by
 *    another with the rest (so a script may take one message per call); a call that consumed
 *    nothing waits for more data. More than SOCKET_LIMITS.unconsumedBytes kept closes the
 *    connection with an error.
 *  - `disconnect()` sends what is queued, then closes our side; the peer's close (or a timeout)
 *    ends the connection and `onDisconnection(peerAddress[, error])` runs, `self.error` holding the
 *    error text (nil after a clean close).
 *  - `connected`, `address` and `peerAddress` (SocketAddress), `idleTime` (ms since data last went
 *    either way), `error`.
 *
 * A client made by a script can connect again after a disconnection; one accepted by a server is
 * released after its onDisconnection.
 */
import * as net from 'node:net';
import type { Value } from '../../serialization/value';
import type { App } from '../runtime/app';
import type { ArgWriter, CallResult } from '../runtime/engine';
import type { ObjectClass } from '../runtime/model';
import { endpointText, readEndpoint, socketAddressValue, wildcardAddress, type Endpoint } from './addresses';
import { SOCKET_LIMITS, type ScriptSocket, type ScriptSockets } from './sockets';

const writeBytes: ArgWriter<Buffer> = (out, data) => out.sharedBytes(data);
const writeDisconnection: ArgWriter<{ peer: string; error: string | null }> = (out, x) => {
  out.text(x.peer);
  if (x.error !== null) out.text(x.error);
};

/** What onData's result says is left: nothing (nil, 0, not a number) up to everything. */
function restOf(r: CallResult, length: number): number {
  const v = r?.[0];
  if (typeof v !== 'number' || !(v > 0)) return 0;
  return Math.min(length, Math.floor(v));
}

export class TCPClientSocket implements ScriptSocket {
  private socket: net.Socket | null = null;
  /** the error the connection ended with (`self.error`), null after a clean close */
  error: string | null = null;
  /** bytes onData left unconsumed */
  private pending: Buffer | null = null;
  private lastActivity = Date.now();
  private local: { host: string; port: number } | null = null;
  private peer: { host: string; port: number } | null = null;
  /** closed by its owner's unload: no more script events */
  private silent = false;
  private disconnectTimer: NodeJS.Timeout | null = null;
  /** true for a client a script server accepted: released once disconnected */
  readonly accepted: boolean;

  constructor(
    readonly sockets: ScriptSockets,
    readonly owner: App | null,
    acceptedSocket?: net.Socket,
  ) {
    this.accepted = acceptedSocket !== undefined;
    if (acceptedSocket) this.attach(acceptedSocket);
  }

  get connected(): boolean {
    return this.socket !== null;
  }

  get idleTime(): number {
    return Date.now() - this.lastActivity;
  }

  /** Starts connecting; an error text when it cannot even start. */
  connect(target: Endpoint): string | null {
    if (this.socket) return `already connected to ${this.peerText()}`;
    if (this.silent) return 'closed';
    if (target.port === 0) return `no port to connect to ${target.host}`;
    let socket: net.Socket;
    try {
      socket = net.connect({ host: target.host, port: target.port, noDelay: true });
    } catch (e) {
      return (e as Error).message;
    }
    this.local = null;
    this.peer = net.isIP(target.host) ? { host: target.host, port: target.port } : null;
    this.attach(socket);
    return null;
  }

  private attach(socket: net.Socket): void {
    this.socket = socket;
    this.error = null;
    this.pending = null;
    this.lastActivity = Date.now();
    socket.setNoDelay(true);
    socket.on('connect', () => {
      this.lastActivity = Date.now();
      this.remember(socket);
    });
    socket.on('data', (chunk: Buffer) => this.received(socket, chunk));
    socket.on('error', (e: Error) => {
      if (this.socket === socket && this.error === null) this.error = e.message;
    });
    socket.on('close', () => this.closed(socket));
    this.remember(socket);
  }

  /** Keeps the addresses Node knows, so that they still read after the close. */
  private remember(socket: net.Socket): void {
    if (socket.localAddress) this.local = { host: socket.localAddress, port: socket.localPort ?? 0 };
    if (socket.remoteAddress) this.peer = { host: socket.remoteAddress, port: socket.remotePort ?? 0 };
  }

  private received(socket: net.Socket, chunk: Buffer): void {
    if (this.socket !== socket || this.silent) return;
    this.lastActivity = Date.now();
    let data = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    const cls = this.sockets.tcpClient;
    for (;;) {
      const r = this.sockets.host.method(cls, this, 'onData', writeBytes, data, false, true, this.owner);
      if (this.socket !== socket) return; // the script closed it meanwhile
      const rest = restOf(r, data.length);
      if (rest === 0) return;
      if (rest >= data.length) break; // nothing consumed: wait for more
      data = data.subarray(data.length - rest);
    }
    if (data.length > SOCKET_LIMITS.unconsumedBytes) {
      this.fail(`onData left ${data.length} bytes unconsumed (more than ${SOCKET_LIMITS.unconsumedBytes})`);
      return;
    }
    this.pending = data;
  }

  /** Ends the connection with an error (onDisconnection follows). */
  private fail(message: string): void {
    const socket = this.socket;
    if (!socket) return;
    if (this.error === null) this.error = message;
    this.sockets.logger.warn('TCPClient', `${this.peerText()}: ${message}`);
    socket.destroy();
  }

  private closed(socket: net.Socket): void {
    if (this.socket !== socket) return;
    this.remember(socket);
    this.socket = null;
    this.pending = null;
    if (this.disconnectTimer) clearTimeout(this.disconnectTimer);
    this.disconnectTimer = null;
    if (this.silent) return;
    this.sockets.host.method(this.sockets.tcpClient, this, 'onDisconnection', writeDisconnection, { peer: this.peerText(), error: this.error }, false, false, this.owner);
    if (this.accepted && !this.socket) this.sockets.forget(this);
  }

  /** Queues bytes; an error text when they cannot be sent. */
  send(data: Buffer): string | null {
    const socket = this.socket;
    if (!socket || socket.writableEnded) return 'not connected';
    if (data.length === 0) return null;
    if (socket.writableLength > SOCKET_LIMITS.sendQueueBytes) {
      const message = `${socket.writableLength} bytes wait to be sent (the peer does not read)`;
      this.fail(message);
      return message;
    }
    // a copy: the script's string may not outlive this call (and Node may queue the bytes)
    socket.write(Buffer.from(data));
    this.lastActivity = Date.now();
    return null;
  }

  /** Sends what is queued, closes our side; the connection ends when the peer closes too. */
  disconnect(): void {
    const socket = this.socket;
    if (!socket || socket.writableEnded) return;
    socket.end();
    this.disconnectTimer = setTimeout(() => socket.destroy(), SOCKET_LIMITS.disconnectMs);
    this.disconnectTimer.unref();
  }

  shutdown(): void {
    this.silent = true;
    this.pending = null;
    if (this.disconnectTimer) clearTimeout(this.disconnectTimer);
    this.disconnectTimer = null;
    this.socket?.destroy();
    this.socket = null;
  }

  addressValue(): Value {
    const s = this.socket;
    if (s?.localAddress) return socketAddressValue(s.localAddress, s.localPort);
    return this.local ? socketAddressValue(this.local.host, this.local.port) : wildcardAddress();
  }

  /** nil until a peer is known (a host name not yet resolved) */
  peerValue(): Value {
    const s = this.socket;
    if (s?.remoteAddress) return socketAddressValue(s.remoteAddress, s.remotePort);
    return this.peer ? socketAddressValue(this.peer.host, this.peer.port) : null;
  }

  peerText(): string {
    const s = this.socket;
    if (s?.remoteAddress) return endpointText(s.remoteAddress, s.remotePort ?? 0);
    return this.peer ? endpointText(this.peer.host, this.peer.port) : 'unconnected';
  }
}

export function tcpClientClass(): ObjectClass<TCPClientSocket> {
  return {
    name: 'TCPClient',
    properties: {
      connected: (c, out) => out.boolean(c.connected),
      address: (c, out) => out.value(c.addressValue()),
      peerAddress: (c, out) => out.value(c.peerValue()),
      idleTime: (c, out) => out.number(c.idleTime),
      error: (c, out) => (c.error === null ? out.nil() : out.text(c.error)),
    },
    methods: {
      connect(c, args, out) {
        const r = readEndpoint(args, 1);
        const error = 'error' in r ? r.error : c.connect(r.endpoint);
        if (error !== null) c.sockets.logger.error(args.where() || 'TCPClient', `TCPClient:connect: ${error}`);
        out.boolean(error === null);
      },
      send(c, args, out) {
        const error = c.send(args.bytes(1) ?? Buffer.alloc(0));
        if (error !== null) out.text(error);
      },
      disconnect(c) {
        c.disconnect();
      },
    },
    describe: (c) => `TCPClient ${c.peerText()}`,
  };
}
