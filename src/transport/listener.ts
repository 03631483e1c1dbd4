/**
 * The TCP listener every TCP protocol uses: binds (IPv4, plus IPv6 where the machine has it),
 * refuses blacklisted peers and peers over the connection caps at accept, keeps the set of
 * connections, sweeps them for stalls, and stops (no more accepts, every connection closed).
 *
 * TLS is one option of this class (`tls`): the peer is checked and counted at accept as any other
 * (blacklist, caps), then the server's TLS side admits the handshake (rate and handshakes in
 * progress per IP, tls.ts) before any TLS work, the socket goes through the handshake of this
 * listener's tls.Server (it never listens itself) within a deadline, and the protocol gets a
 * Connection over the TLSSocket (a net.Socket, so the output policy is the same; `secure` = true).
 */
import * as net from 'node:net';
import * as os from 'node:os';
import type * as tls from 'node:tls';
import type { ServerContext } from '../core/context';
import { Coalescer, Connection, type ConnectionOwner, peerOf } from './connection';
import { FD_RESERVE, FLUSH_INTERVAL_MS, type TransportLimits, openFileCount, openFileLimit, transportLimits } from './limits';
import type { ListenerTLS } from './tls';

/** A socket whose TLS handshake runs. */
interface Handshaking {
  raw: net.Socket;
  ip: string;
  timer: NodeJS.Timeout | null;
}

/** One connection among those of a listener: the peer's and our end's addresses. */
function tupleOf(s: net.Socket): string {
  return `${s.remoteAddress}|${s.remotePort}|${s.localAddress}|${s.localPort}`;
}

export interface ListenerOptions {
  /** protocol name for logs: "RTMP", "HTTP" */
  name: string;
  port: number;
  /** bind address; "0.0.0.0" (the default) also binds "::" where the machine has IPv6 */
  host?: string;
  /** accept queue depth (a burst of players must not wait for SYN-ACK retransmissions) */
  backlog?: number;
  /** Nagle: false keeps the kernel's default (on), true sends small writes at once (default: true with TLS) */
  noDelay?: boolean;
  /** overrides the config's limits (tests) */
  limits?: Partial<TransportLimits>;
  /** the coalescing tick */
  flushIntervalMs?: number;
  /** TLS on every connection (RTMPS, HTTPS): the server's TLS side (serverTLS(context)) and ALPN */
  tls?: ListenerTLS;
  /** a new connection, already counted and checked (and its TLS handshake done); the protocol sets `connection.handler` */
  onConnection(connection: Connection): void;
}

/** Connections held by the listeners of one server, for the global and per-IP caps. */
class ConnectionCounts {
  total = 0;
  readonly perIP = new Map<string, number>();
  /** the soft open-file limit, read once */
  readonly fdLimit = openFileLimit();
  lastFdCheck = 0;
  /** what was said, shared by the listeners: descriptors and caps are facts of the process */
  readonly warned = new Map<string, { at: number; suppressed: number }>();
}
const countsOf = new WeakMap<ServerContext, ConnectionCounts>();

/** How often connections are checked for stalls. */
const SWEEP_MS = 1000;
/** At most one log line per this period about refused connections or exhausted descriptors. */
const WARN_EVERY_MS = 60_000;

/** Is there an IPv6 address on this machine (loopback included)? */
export function hasIPv6(): boolean {
  for (const list of Object.values(os.networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv6') return true;
  return false;
}

export class TCPListener implements ConnectionOwner {
  readonly connections = new Set<Connection>();
  readonly limits: TransportLimits;
  /** the caps as configured (the server's, whatever the workers) for the messages that name them */
  private readonly configured: { maxConnections: number; maxConnectionsPerIP: number };
  /** what the messages add when several workers share the caps */
  private readonly shared: string;
  readonly coalescer: Coalescer;
  private servers: net.Server[] = [];
  /** TLS: the handshaking server (from the server's TLS side at start) and the handshakes running */
  private tlsServer: tls.Server | null = null;
  private readonly handshaking = new Map<string, Handshaking>();
  private sweeper: NodeJS.Timeout | null = null;
  private readonly counts: ConnectionCounts;

  constructor(
    readonly context: ServerContext,
    private readonly options: ListenerOptions,
  ) {
    const limits = transportLimits(context.config);
    // caps written in the ini are the server's: with workers sharing the ports, each holds its share
    // (the automatic cap is each process's own descriptors)
    const n = Math.max(1, context.portSharers);
    this.shared = n > 1 ? ` (${n} workers: ${Math.ceil(limits.maxConnectionsPerIP / n)} per IP, ${context.config.tcp.maxConnections > 0 ? Math.ceil(limits.maxConnections / n) : limits.maxConnections} in all, in this one)` : '';
    this.configured = { maxConnections: limits.maxConnections, maxConnectionsPerIP: limits.maxConnectionsPerIP };
    if (n > 1) {
      if (context.config.tcp.maxConnections > 0) limits.maxConnections = Math.ceil(limits.maxConnections / n);
      if (limits.maxConnectionsPerIP > 0) limits.maxConnectionsPerIP = Math.ceil(limits.maxConnectionsPerIP / n);
    }
    this.limits = { ...limits, ...options.limits };
    this.coalescer = new Coalescer(options.flushIntervalMs ?? FLUSH_INTERVAL_MS);
    let counts = countsOf.get(context);
    if (!counts) countsOf.set(context, (counts = new ConnectionCounts()));
    this.counts = counts;
  }

  get name(): string {
    return this.options.name;
  }

  /** TLS on this listener's connections */
  get secure(): boolean {
    return this.options.tls !== undefined;
  }

  /**
   * Binds; rejects with the bind error (its message says what to do for EACCES), or for TLS with
   * ProtocolUnavailable when the certificate cannot be used (its message names the file).
   */
  async start(): Promise<void> {
    const host = this.options.host ?? '0.0.0.0';
    if (this.options.tls) this.openTLS(this.options.tls);
    let first: net.Server;
    try {
      first = await this.bind(host, this.options.port, false);
    } catch (e) {
      this.closeTLS();
      throw e;
    }
    this.servers.push(first);
    if (host === '0.0.0.0' && hasIPv6()) {
      // same port on IPv6 (ipv6Only: the IPv4 socket keeps IPv4 peers); where the port is taken on
      // IPv6 only or IPv6 is disabled, IPv4 alone serves
      try {
        this.servers.push(await this.bind('::', this.port, true));
      } catch (e) {
        this.context.logger.debug(this.name, `no IPv6 listener: ${(e as Error).message}`);
      }
    }
    const fds = this.counts.fdLimit;
    if (fds !== null && this.limits.maxConnections > fds - FD_RESERVE && !this.counts.warned.has('fd-config')) {
      this.counts.warned.set('fd-config', { at: Date.now(), suppressed: 0 });
      this.context.logger.warn(this.name, `TCP.maxConnections=${this.configured.maxConnections} is above what the open-file limit (${fds}) allows: connections past about ${fds - FD_RESERVE} will be refused by the system; raise ulimit -n or lower TCP.maxConnections${this.shared}`);
    }
    const period = Math.max(50, Math.min(SWEEP_MS, this.limits.stallTimeoutMs > 0 ? this.limits.stallTimeoutMs / 4 : SWEEP_MS));
    this.sweeper = setInterval(() => {
      const now = Date.now();
      for (const c of this.connections) c.sweep(now);
      this.checkDescriptors(now);
    }, period);
    this.sweeper.unref();
  }

  private bind(host: string, port: number, ipv6Only: boolean): Promise<net.Server> {
    return new Promise((resolve, reject) => {
      // TLS: Nagle off from the start, or the handshake's flights and the session tickets that
      // follow it would each wait for the peer's delayed ACK (tens of ms per new connection)
      const noDelay = this.options.noDelay ?? this.options.tls !== undefined;
      const server = net.createServer({ noDelay }, (socket) => this.accept(socket));
      // the error keeps its code, address and port: server.ts's bindFailure turns it into advice
      const onError = (err: NodeJS.ErrnoException) => reject(err);
      server.once('error', onError);
      server.listen({ port, host, backlog: this.options.backlog ?? 511, ipv6Only }, () => {
        server.off('error', onError);
        server.on('error', (err: NodeJS.ErrnoException) => this.acceptError(err));
        resolve(server);
      });
    });
  }

  /** The bound port (after start). */
  get port(): number {
    const a = this.servers[0]?.address();
    return a && typeof a === 'object' ? a.port : 0;
  }

  /** "0.0.0.0:1935", "[::]:1935" */
  addresses(): string[] {
    const out: string[] = [];
    for (const s of this.servers) {
      const a = s.address();
      if (a && typeof a === 'object') out.push(a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`);
    }
    return out;
  }

  /** Connections held now by every listener of this server. */
  get totalConnections(): number {
    return this.counts.total;
  }

  private accept(socket: net.Socket): void {
    // reset before we saw it: no peer to count (and TLS handshakes are known by their addresses)
    if (socket.remoteAddress === undefined) {
      socket.destroy();
      return;
    }
    const { ip, address } = peerOf(socket);
    // mona:addToBlacklist: refused before reading a byte (as MonaServer does)
    if (this.context.isBlacklisted(address)) {
      socket.destroy();
      return;
    }
    const { maxConnections, maxConnectionsPerIP } = this.limits;
    const counts = this.counts;
    const fromIP = counts.perIP.get(ip) ?? 0;
    if (maxConnections > 0 && counts.total >= maxConnections) {
      this.warn('cap', `refusing connections: ${counts.total} held, the cap is TCP.maxConnections=${this.configured.maxConnections}${this.shared}`);
      socket.destroy();
      return;
    }
    if (maxConnectionsPerIP > 0 && fromIP >= maxConnectionsPerIP) {
      this.warn('cap-ip', `refusing connections from ${ip}: ${fromIP} held, the cap is TCP.maxConnectionsPerIP=${this.configured.maxConnectionsPerIP}${this.shared}`);
      socket.destroy();
      return;
    }
    const tls = this.options.tls;
    if (tls) {
      const refused = tls.server.admit(ip);
      if (refused !== null) {
        this.warn('tls', `refusing TLS connections from ${ip}: ${refused}`);
        socket.destroy();
        return;
      }
    }
    counts.total++;
    counts.perIP.set(ip, fromIP + 1);
    // counted until the descriptor is really gone (a closed connection keeps it during its grace)
    socket.once('close', () => {
      counts.total--;
      const n = (counts.perIP.get(ip) ?? 1) - 1;
      if (n > 0) counts.perIP.set(ip, n);
      else counts.perIP.delete(ip);
    });
    if (tls) this.handshake(socket, tls, ip);
    else {
      const connection = new Connection(socket, this);
      this.connections.add(connection);
      this.startSession(connection);
    }
  }

  /** The handshaking server of this listener; its handshakes end in secureConnection or tlsClientError. */
  private openTLS(options: ListenerTLS): void {
    const server = options.server.open({ alpn: options.alpn, maxVersion: options.maxVersion });
    server.on('secureConnection', (socket: tls.TLSSocket) => {
      const h = this.handshakeDone(socket);
      if (!h) {
        socket.destroy(); // its socket was dropped meanwhile
        return;
      }
      const connection = new Connection(socket, this, true);
      this.connections.add(connection);
      this.startSession(connection);
    });
    server.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => {
      if (!this.handshakeDone(socket)) return;
      this.context.logger.debug(this.name, `${peerOf(socket).address} TLS handshake failed: ${err.message}`);
    });
    this.tlsServer = server;
  }

  private closeTLS(): void {
    if (this.tlsServer) this.options.tls?.server.close(this.tlsServer);
    this.tlsServer = null;
    for (const h of [...this.handshaking.values()]) h.raw.destroy();
  }

  /** A handshake of an admitted socket: dropped at the deadline, or taken back by openTLS's events. */
  private handshake(raw: net.Socket, options: ListenerTLS, ip: string): void {
    const key = tupleOf(raw);
    const h: Handshaking = { raw, ip, timer: null };
    this.handshaking.set(key, h);
    raw.once('close', () => {
      if (this.handshaking.get(key) === h) this.handshakeEnded(key, h);
    });
    const ms = options.server.handshakeTimeoutMs;
    if (ms > 0) {
      h.timer = setTimeout(() => {
        this.context.logger.debug(this.name, `${peerOf(raw).address} TLS handshake not complete in ${ms / 1000} s`);
        raw.destroy();
      }, ms);
      h.timer.unref();
    }
    this.tlsServer!.emit('connection', raw);
  }

  /** The handshake of `socket` is over (done or failed): forgets it; null if it was not running. */
  private handshakeDone(socket: tls.TLSSocket): Handshaking | null {
    const key = tupleOf(socket);
    const h = this.handshaking.get(key);
    if (!h) return null;
    this.handshakeEnded(key, h);
    return h;
  }

  private handshakeEnded(key: string, h: Handshaking): void {
    this.handshaking.delete(key);
    if (h.timer) clearTimeout(h.timer);
    this.options.tls?.server.handshakeEnded(h.ip);
  }

  /** TLS handshakes running on this listener (tests). */
  get handshakes(): number {
    return this.handshaking.size;
  }

  /** The protocol takes a connection (plain: at accept; TLS: once the handshake is done). */
  private startSession(connection: Connection): void {
    try {
      this.options.onConnection(connection);
    } catch (e) {
      this.context.logger.error(this.name, `cannot start a session: ${(e as Error).message}`);
      connection.close('session failed', true);
    }
    if (!connection.handler && !connection.closed) connection.close('no session', true);
  }

  /**
   * Out of descriptors, the kernel refuses accepts and libuv closes the waiting connections itself
   * without telling us: nothing would be logged. So while the connections come near the open-file
   * limit, the descriptors really held are counted (at most once a second) and exhaustion is said.
   */
  private checkDescriptors(now: number): void {
    const counts = this.counts;
    const limit = counts.fdLimit;
    if (limit === null || counts.total + FD_RESERVE < limit || now - counts.lastFdCheck < SWEEP_MS) return;
    counts.lastFdCheck = now;
    const open = openFileCount();
    if (open !== null && open >= limit - 8) this.fdExhausted('EMFILE', open === Infinity ? `all ${limit} descriptors open` : `${open} of ${limit} descriptors open`);
  }

  private fdExhausted(code: string, detail: string): void {
    const which = code === 'EMFILE' ? 'this process' : 'the system';
    this.warn(
      'fd',
      `cannot accept connections: ${which} is out of file descriptors (${code}, ${detail}, ${this.counts.total} connections held); raise the limit (ulimit -n, LimitNOFILE= in the systemd unit) or lower TCP.maxConnections / TCP.maxConnectionsPerIP`,
    );
  }

  /** Errors of the listening socket after bind: out of descriptors is said once, with what to do. */
  private acceptError(err: NodeJS.ErrnoException): void {
    if (err.code === 'EMFILE' || err.code === 'ENFILE') {
      this.fdExhausted(err.code, 'accept failed');
      return;
    }
    this.context.logger.error(this.name, `listener: ${err.message}`);
  }

  /** One line per kind and period for the whole server; the next line says how many were not logged. */
  private warn(kind: string, message: string): void {
    const now = Date.now();
    const warned = this.counts.warned;
    const w = warned.get(kind);
    if (w && now - w.at < WARN_EVERY_MS) {
      w.suppressed++;
      return;
    }
    const more = w && w.suppressed ? ` (${w.suppressed} more since the last report)` : '';
    warned.set(kind, { at: now, suppressed: 0 });
    this.context.logger.error(this.name, message + more);
  }

  released(c: Connection): void {
    this.connections.delete(c);
  }

  /** Stops accepting and closes every connection (sessions get their onClose). */
  async stop(reason = 'server stopping'): Promise<void> {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
    const servers = this.servers;
    this.servers = [];
    this.closeTLS();
    for (const c of [...this.connections]) {
      c.close(reason);
      c.socket.destroy(); // stopping: no grace period for peers that do not close
    }
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}
