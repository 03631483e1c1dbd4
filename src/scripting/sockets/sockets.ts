/**
 * Script sockets (`mona:createTCPClient()`, `mona:createTCPServer()`, `mona:createUDPSocket()`):
 * MonaServer's non-blocking socket API over Node's sockets, declared once as ObjectClass
 * descriptors so that every script engine exposes them.
 *
 * Each socket belongs to the app whose script made it (a server's accepted clients to the server's
 * app). When that app reloads or unloads, after its onStop, its sockets are closed without events
 * and their script objects stop answering: a reloaded main file starts from no socket, as it starts
 * from no global. Script events of a socket (onData, onConnection, onPacket, onDisconnection) run in
 * that app's context.
 */
import type { Logger } from '../../logs/levels';
import type { App } from '../runtime/app';
import type { ArgWriter, CallResult } from '../runtime/engine';
import type { ObjectClass } from '../runtime/model';
import { tcpClientClass, TCPClientSocket } from './tcp-client';
import { tcpServerClass, TCPServerSocket } from './tcp-server';
import { udpSocketClass, UDPScriptSocket } from './udp-socket';

/**
 * Per-socket memory bounds: a script that never consumes, a peer that never reads, a flood of
 * datagrams cost at most this much each.
 */
export const SOCKET_LIMITS = {
  /**
   * bytes a TCP client's onData may leave unconsumed (kept and given again with the next data):
   * beyond it the connection is closed with an error (waiting for more data would only grow it)
   */
  unconsumedBytes: 1024 * 1024,
  /**
   * bytes queued towards a TCP peer that does not read: a send while more than this waits closes
   * the connection with an error (dropping bytes from a stream would corrupt it)
   */
  sendQueueBytes: 4 * 1024 * 1024,
  /** bytes of datagrams waiting in a UDP socket's send queue: beyond it a send is dropped (and says so) */
  udpQueueBytes: 1024 * 1024,
  /** a graceful disconnect() waits this long for the peer to close before the socket is destroyed */
  disconnectMs: 10_000,
};

/** What the sockets need from the script runtime. */
export interface SocketsHost {
  readonly logger: Logger;
  /**
   * Calls `obj:name(...)` on obj's script object, in the context of `app` (sockets a script makes
   * there belong to that app). null when no engine has such a function; script errors are logged.
   */
  method<T extends object, C>(cls: ObjectClass<T>, obj: T, name: string, write: ArgWriter<C> | null, ctx: C, rethrow: boolean, results: boolean, app: App | null): CallResult;
  /** obj ended: every engine drops its script object */
  release(obj: object): void;
  /** the app whose script runs now, null outside any call into an app */
  currentApp(): App | null;
}

/** Any script socket: closing it without telling scripts is what an owner's unload does. */
export interface ScriptSocket {
  readonly owner: App | null;
  /** closes it at once, no script event */
  shutdown(): void;
}

export class ScriptSockets {
  readonly tcpClient: ObjectClass<TCPClientSocket>;
  readonly tcpServer: ObjectClass<TCPServerSocket>;
  readonly udpSocket: ObjectClass<UDPScriptSocket>;
  /** sockets by owner app (null: made outside any app call) */
  private readonly owned = new Map<App | null, Set<ScriptSocket>>();

  constructor(readonly host: SocketsHost) {
    this.tcpClient = tcpClientClass();
    this.tcpServer = tcpServerClass();
    this.udpSocket = udpSocketClass();
  }

  get logger(): Logger {
    return this.host.logger;
  }

  createTCPClient(): TCPClientSocket {
    return this.adopt(new TCPClientSocket(this, this.host.currentApp()));
  }

  createTCPServer(): TCPServerSocket {
    return this.adopt(new TCPServerSocket(this, this.host.currentApp()));
  }

  createUDPSocket(broadcast: boolean): UDPScriptSocket {
    return this.adopt(new UDPScriptSocket(this, this.host.currentApp(), broadcast));
  }

  /** A socket starts belonging to its owner app (closed with it). */
  adopt<S extends ScriptSocket>(socket: S): S {
    let set = this.owned.get(socket.owner);
    if (!set) this.owned.set(socket.owner, (set = new Set()));
    set.add(socket);
    return socket;
  }

  /** A socket that ended for good (an accepted client after its disconnection): forgotten and released. */
  forget(socket: ScriptSocket): void {
    const set = this.owned.get(socket.owner);
    if (set?.delete(socket) && set.size === 0) this.owned.delete(socket.owner);
    this.host.release(socket);
  }

  /** Sockets owned by `app` (tests, the admin view). */
  ownedBy(app: App | null): ScriptSocket[] {
    return [...(this.owned.get(app) ?? [])];
  }

  /** The app reloads or unloads: its sockets close, their script objects stop answering. */
  closeApp(app: App | null): void {
    const set = this.owned.get(app);
    if (!set) return;
    this.owned.delete(app);
    for (const s of set) {
      try {
        s.shutdown();
      } finally {
        this.host.release(s);
      }
    }
  }

  /** The runtime stops: every socket closes. */
  closeAll(): void {
    for (const app of [...this.owned.keys()]) this.closeApp(app);
  }
}
