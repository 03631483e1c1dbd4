/**
 * The other servers of the cluster this server is linked to (`mona.servers`), whatever carries the
 * link. The link (src/cluster) adds a PeerServer once both sides have said hello, reports what
 * arrives and removes it on disconnection; protocols (redirections) and scripting read the registry
 * and subscribe to its events. Nothing here knows the wire format.
 */
import type { Value } from '../serialization/value';
import { canonicalIP, ipOfAddress } from './ip';

/** What a link gives the registry for one connected peer: how to talk to it. */
export interface ServerChannel {
  /**
   * Sends `handler(...args)` to the peer (`function server:handler(...)` runs there). Throws
   * RangeError for a handler name the link cannot carry (empty, over 255 bytes); returns false
   * when the link is gone or was closed because the peer stopped reading.
   */
  send(handler: string, args: readonly Value[]): boolean;
  /**
   * Sends `handler` with a payload of our own making (`head` then `body`, written without copying
   * `body`), for handlers the server answers itself (relays) rather than scripts. Same refusals and
   * result as send().
   */
  sendRaw(handler: string, head: Buffer, body?: Buffer): boolean;
  /** Tells the peer these apps run here (MonaServer loads the same ones on its side). */
  sendApps(paths: readonly string[]): boolean;
  /** Tells the peer why, then closes the link. */
  reject(reason: string): void;
  /** bytes written to this peer and not yet taken by the network */
  queuedBytes(): number;
}

/** One connected server (`server` in scripts). */
export class PeerServer {
  /** false once disconnected: sends are then refused */
  connected = true;
  /** the scripting layer's slot (its script object for this server) */
  script: unknown = undefined;

  constructor(
    /** "ip:port" of the link's other end (for a server that connected to us, its source port) */
    readonly address: string,
    /** true when we connected to it (an entry of our `targets`), false when it connected to us */
    readonly isTarget: boolean,
    /**
     * What scripts see as `server.configs` and `server.<name>`: the properties of our target entry
     * (`?name=master&arg=val`) first, then every pair of the peer's hello (its configuration, and
     * the properties of its own target entry when it connected to us), the peer's value winning.
     */
    readonly configs: ReadonlyMap<string, string>,
    /** the properties of our target entry for it ({} when it connected to us) */
    readonly properties: Readonly<Record<string, string>>,
    private readonly channel: ServerChannel,
  ) {}

  /**
   * The address clients are sent to: the peer's configured `host` (it may carry a port), else the
   * IP its link comes from.
   */
  get host(): string {
    const configured = this.configs.get('host')?.trim();
    if (configured && !isWildcard(configured)) return configured;
    return ipOfAddress(this.address) ?? this.address;
  }

  /** the link's remote port */
  get port(): number {
    const m = /:(\d+)$/.exec(this.address);
    return m ? Number(m[1]) : 0;
  }

  /** The peer's configured port for `protocol` ("RTMFP", "RTMP", "HTTP"...), 0 if off or unknown. */
  protocolPort(protocol: string): number {
    const value = this.config(`${protocol}.port`);
    const n = value === undefined ? NaN : Number(value);
    return Number.isInteger(n) && n > 0 && n < 65536 ? n : 0;
  }

  /**
   * "host:port" where clients reach the peer's `protocol`, null if the peer has it off. The peer
   * announces it (`<protocol>.publicAddress`); a loopback or wildcard host there means "wherever
   * you reach me", so the link's IP replaces it.
   */
  publicAddress(protocol: string): string | null {
    const announced = this.config(`${protocol}.publicAddress`);
    if (!announced || this.protocolPort(protocol) === 0) return null;
    const m = /^(.*):(\d+)$/.exec(announced);
    if (!m) return null;
    const host = m[1].replace(/^\[(.*)\]$/, '$1');
    const ip = canonicalIP(host);
    if (ip && (isWildcard(ip) || isLoopback(ip))) {
      const own = ipOfAddress(this.address);
      if (own) return own.includes(':') ? `[${own}]:${m[2]}` : `${own}:${m[2]}`;
    }
    return announced;
  }

  /** A config value by name, the case of the name ignored when no exact match exists. */
  config(name: string): string | undefined {
    const exact = this.configs.get(name);
    if (exact !== undefined) return exact;
    const lower = name.toLowerCase();
    for (const [k, v] of this.configs) if (k.toLowerCase() === lower) return v;
    return undefined;
  }

  /** `server:send(handler, ...)`; false when not connected (see ServerChannel.send). */
  send(handler: string, ...args: Value[]): boolean {
    return this.sendArgs(handler, args);
  }

  sendArgs(handler: string, args: readonly Value[]): boolean {
    if (!this.connected) return false;
    return this.channel.send(handler, args);
  }

  /** A frame for one of the server's own handlers (see Servers.handleRaw); false when not connected. */
  sendRaw(handler: string, head: Buffer, body?: Buffer): boolean {
    if (!this.connected) return false;
    return this.channel.sendRaw(handler, head, body);
  }

  announceApps(paths: readonly string[]): boolean {
    return this.connected && this.channel.sendApps(paths);
  }

  /** `server:reject(reason)`: the peer is told why, then the link closes. */
  reject(reason: string): void {
    if (this.connected) this.channel.reject(reason);
  }

  queuedBytes(): number {
    return this.connected ? this.channel.queuedBytes() : 0;
  }
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]';
}

function isLoopback(ip: string): boolean {
  return ip === '::1' || ip.startsWith('127.');
}

/** Raised in onServerConnection to refuse a server; its message is sent to the peer. */
export class ServerRejected extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'ServerRejected';
  }
}

/**
 * What subscribers hear. All calls are synchronous, in link order. A subscriber's onServerConnection
 * that throws rejects the server (the error's message goes to the peer), and every subscriber then
 * hears onServerDisconnection, as MonaServer calls onServerDisconnection after a refusal.
 */
export interface ServerEvents {
  onServerConnection?(server: PeerServer): void;
  /** `server:send(handler, ...)` from the peer */
  onServerMessage?(server: PeerServer, handler: string, args: Value[]): void;
  /** `error`: why the link ended (the peer's reject reason, a protocol or socket error), null if it just closed */
  onServerDisconnection?(server: PeerServer, error: string | null): void;
  /** the peer says these apps run there (MonaServer loads the same apps on its side when it hears it) */
  onServerApps?(server: PeerServer, paths: string[]): void;
}

/** Which servers a `ServerGroup` names: every one, those that connected to us, those we connected to. */
export type ServerGroupKind = 'all' | 'initiators' | 'targets';

/**
 * A live view of some of the registry's servers (MonaServer's broadcaster: `mona.servers`,
 * `mona.servers.initiators`, `mona.servers.targets`): what a redirection may name instead of a list
 * of addresses, read when it is used.
 */
export class ServerGroup {
  constructor(
    private readonly registry: Servers,
    readonly kind: ServerGroupKind,
  ) {}

  servers(): readonly PeerServer[] {
    return this.kind === 'all' ? this.registry.all() : this.kind === 'initiators' ? this.registry.initiators() : this.registry.targets();
  }
}

/** Handles the frames of one of the server's own handlers: the payload as the peer wrote it. */
export type RawHandler = (server: PeerServer, payload: Buffer) => void;

/** `mona.servers`: connected servers in connection order, with `initiators` and `targets` views. */
export class Servers implements Iterable<PeerServer> {
  private list: PeerServer[] = [];
  private subscribers: ServerEvents[] = [];
  private readonly raw = new Map<string, RawHandler>();
  private readonly groups: Record<ServerGroupKind, ServerGroup> = {
    all: new ServerGroup(this, 'all'),
    initiators: new ServerGroup(this, 'initiators'),
    targets: new ServerGroup(this, 'targets'),
  };
  /**
   * The app paths this server runs ("" = root), told to every server that connects (MonaServer's
   * application list). The scripting layer replaces it; without scripts only the root app runs.
   */
  runningApps: () => string[] = () => [''];

  get count(): number {
    return this.list.length;
  }

  [Symbol.iterator](): Iterator<PeerServer> {
    return this.list[Symbol.iterator]();
  }

  all(): readonly PeerServer[] {
    return this.list;
  }

  /** servers that connected to us */
  initiators(): PeerServer[] {
    return this.list.filter((s) => !s.isTarget);
  }

  /** servers we connected to (our `targets`) */
  targets(): PeerServer[] {
    return this.list.filter((s) => s.isTarget);
  }

  /**
   * By position (0-based; scripts index from 1) or by address: the link's "ip:port", or the peer's
   * configured `publicHost` as MonaServer also accepts.
   */
  get(key: number | string): PeerServer | undefined {
    if (typeof key === 'number') return Number.isInteger(key) ? this.list[key] : undefined;
    return this.list.find((s) => s.address === key) ?? this.list.find((s) => s.configs.get('publicHost') === key);
  }

  /** `mona.servers:broadcast(handler, ...)`: sends to every server of `to` (all by default); returns how many took it. */
  broadcast(handler: string, args: readonly Value[], to: Iterable<PeerServer> = this.list): number {
    let n = 0;
    for (const s of [...to]) if (s.sendArgs(handler, args)) n++;
    return n;
  }

  /**
   * Tells every connected server that these apps now run here (MonaServer does it when an app
   * starts, so that the same app is loaded on the other side); the list of a new connection comes
   * from `runningApps`.
   */
  announceApps(paths: readonly string[]): void {
    for (const s of [...this.list]) s.announceApps(paths);
  }

  /** The broadcaster of `kind` (one object per kind and registry, so scripts can compare them). */
  group(kind: ServerGroupKind): ServerGroup {
    return this.groups[kind];
  }

  /**
   * Takes frames of `handler` away from scripts: they reach `fn` with their payload undecoded. For
   * the server's own traffic on the link (relays), under names no MonaServer script uses. Returns
   * the function that gives the name back.
   */
  handleRaw(handler: string, fn: RawHandler): () => void {
    if (this.raw.has(handler)) throw new Error(`the server handler ${handler} is already taken`);
    this.raw.set(handler, fn);
    return () => {
      if (this.raw.get(handler) === fn) this.raw.delete(handler);
    };
  }

  /** The server's own handler for `handler`, if one took it (the link asks before decoding arguments). */
  rawHandler(handler: string): RawHandler | undefined {
    return this.raw.size ? this.raw.get(handler) : undefined;
  }

  /** Adds a listener; returns the function that removes it. */
  subscribe(events: ServerEvents): () => void {
    this.subscribers.push(events);
    return () => {
      this.subscribers = this.subscribers.filter((e) => e !== events);
    };
  }

  // ---- called by the link ----

  /**
   * A server finished its hello: registered, then every subscriber hears onServerConnection. Throws
   * what a subscriber threw (the link rejects the server with its message; it stays registered
   * until the link reports the disconnection).
   */
  connected(server: PeerServer): void {
    this.list.push(server);
    for (const s of [...this.subscribers]) s.onServerConnection?.(server);
  }

  message(server: PeerServer, handler: string, args: Value[]): void {
    for (const s of [...this.subscribers]) s.onServerMessage?.(server, handler, args);
  }

  apps(server: PeerServer, paths: string[]): void {
    for (const s of [...this.subscribers]) s.onServerApps?.(server, paths);
  }

  disconnected(server: PeerServer, error: string | null): void {
    const i = this.list.indexOf(server);
    if (i < 0) return;
    this.list.splice(i, 1);
    server.connected = false;
    for (const s of [...this.subscribers]) s.onServerDisconnection?.(server, error);
  }
}

/**
 * Where a script (onHandshake, onRendezVousUnknown) may send a client: an address as text
 * ("host:port", "myself" or "again" for this server), a linked server, or a broadcaster naming
 * several (every server, the initiators, the targets).
 */
export type Redirection = string | PeerServer | ServerGroup;

/**
 * The addresses `list` names for clients of `protocol` ("RTMFP"): text as it is, a server by the
 * public address its hello announced for that protocol (the link's IP when it announced a loopback
 * or wildcard host), a broadcaster by each of its servers. A server with the protocol off is left
 * out and told to `warn`, as MonaServer logs it.
 */
export function redirectionAddresses(list: readonly Redirection[], protocol: string, warn: (message: string) => void): string[] {
  const out: string[] = [];
  const add = (server: PeerServer): void => {
    const address = server.connected ? server.publicAddress(protocol) : null;
    if (address) out.push(address);
    else warn(`redirection to server ${server.address}: ${server.connected ? `it has ${protocol} disabled` : 'it is disconnected'}`);
  };
  for (const r of list) {
    if (typeof r === 'string') out.push(r);
    else if (r instanceof PeerServer) add(r);
    else if (r instanceof ServerGroup) for (const server of r.servers()) add(server);
  }
  return out;
}
