/**
 * One accepted TCP connection and its output policy, the same for every protocol:
 * - coalescing: the first write of a burst corks the socket, one uncork per burst on the
 *   listener's shared tick (or at once past CORK_LIMIT bytes), so a busy peer costs one writev per
 *   tick instead of one write per message; `flush()` ends a burst early (a request answered);
 * - back-pressure: above `outputLimit` queued bytes the connection stops reading its peer (a peer
 *   that sends requests but never reads the answers cannot make us queue without bound) and
 *   resumes once the queue drained;
 * - stall: a connection whose queue stays above `outputLimit` for `stallTimeoutMs` is dropped
 *   (checked by the listener's sweep);
 * - close: end (our last bytes and a FIN), then destroy if the peer has not closed in 2 s.
 * The protocol session is the `handler`; an HTTP connection that upgrades hands the same
 * Connection to a WebSocket session by replacing it.
 */
import * as net from 'node:net';
import { canonicalIP } from '../core/ip';
import { CORK_LIMIT, FLUSH_INTERVAL_MS, type TransportLimits } from './limits';

/** What a protocol session implements to own a connection. */
export interface ConnectionHandler {
  onData(data: Buffer): void;
  /** The connection is over (peer gone, error, stall, server stopping, or our own close): once. */
  onClose(reason: string): void;
  /** The idle timer of setIdleTimeout fired; without this method the connection closes. */
  onIdle?(): void;
}

/** What a media sink writes to: a Connection, or a fake in tests. */
export interface Output {
  write(data: Buffer): boolean;
  flush(): void;
  queuedBytes(): number;
  readonly closed: boolean;
}

/** One timer for many connections: uncorks every connection written to since the last tick. */
export class Coalescer {
  private pending = new Set<Connection>();
  private scheduled = false;

  constructor(readonly intervalMs = FLUSH_INTERVAL_MS) {}

  schedule(c: Connection): void {
    this.pending.add(c);
    if (this.scheduled) return;
    this.scheduled = true;
    setTimeout(() => {
      this.scheduled = false;
      const list = this.pending;
      this.pending = new Set();
      for (const x of list) x.flush();
    }, this.intervalMs);
  }
}

/** What a connection needs from the listener that accepted it. */
export interface ConnectionOwner {
  readonly limits: TransportLimits;
  readonly coalescer: Coalescer;
  /** the connection closed (the listener forgets it) */
  released(c: Connection): void;
}

/** The peer of an accepted socket: its canonical IP (caps, blacklist) and "ip:port" / "[ipv6]:port". */
export function peerOf(socket: net.Socket): { ip: string; address: string } {
  const raw = socket.remoteAddress ?? '';
  const ip = canonicalIP(raw) ?? raw;
  return { ip, address: net.isIPv6(ip) ? `[${ip}]:${socket.remotePort}` : `${ip}:${socket.remotePort}` };
}

/** How long a closed connection may keep its socket before it is destroyed. */
const END_GRACE_MS = 2000;

export class Connection implements Output {
  /** "ip:port", "[ipv6]:port" */
  readonly address: string;
  /** canonical IP of the peer (caps, blacklist) */
  readonly ip: string;
  /** set by a TLS listener: the socket is a tls.TLSSocket (handshake done before the protocol sees it) */
  readonly secure: boolean;
  handler: ConnectionHandler | null = null;
  private corked = false;
  private corkedBytes = 0;
  private holds = 0;
  private over = false;
  private reading = true;
  private closedReason: string | null = null;
  private stalledSince = 0;
  private deadline: NodeJS.Timeout | null = null;
  private writableWaiters: Array<() => void> = [];

  constructor(
    readonly socket: net.Socket,
    private readonly owner: ConnectionOwner,
    secure = false,
  ) {
    this.secure = secure;
    const peer = peerOf(socket);
    this.ip = peer.ip;
    this.address = peer.address;
    socket.on('data', (d: Buffer) => {
      if (this.closedReason === null) this.handler?.onData(d);
    });
    socket.on('drain', () => this.drained());
    socket.on('error', (e) => this.close(`socket error: ${e.message}`, true));
    socket.on('close', () => this.close('socket closed'));
    socket.on('timeout', () => {
      if (this.closedReason !== null) return;
      if (this.handler?.onIdle) this.handler.onIdle();
      else this.close('idle timeout');
    });
  }

  get closed(): boolean {
    return this.closedReason !== null;
  }

  get limits(): TransportLimits {
    return this.owner.limits;
  }

  /** Queued towards the peer: Node's buffer, corked bytes included. */
  queuedBytes(): number {
    return this.socket.writableLength;
  }

  /** The output queue is above outputLimit: reading is paused, work should wait (whenWritable). */
  get congested(): boolean {
    return this.over;
  }

  /** Coalesced write; returns false when the queue is now over the limit. */
  write(data: Buffer | string, encoding?: BufferEncoding): boolean {
    const s = this.socket;
    if (this.closedReason !== null || s.destroyed) return false;
    if (!this.corked) {
      this.corked = true;
      s.cork();
      this.owner.coalescer.schedule(this);
    }
    if (encoding) s.write(data, encoding);
    else s.write(data);
    this.corkedBytes += data.length;
    if (this.corkedBytes >= CORK_LIMIT) this.flush();
    if (!this.over && s.writableLength > this.owner.limits.outputLimit) {
      this.over = true;
      this.updateReading();
    }
    return !this.over;
  }

  /** Ends the current burst: one writev for everything written since the last flush. */
  flush(): void {
    if (!this.corked) return;
    this.corked = false;
    this.corkedBytes = 0;
    this.socket.uncork();
  }

  /** Runs `fn` once the output queue is back under the limit (at once if it is). */
  whenWritable(fn: () => void): void {
    if (!this.over) fn();
    else this.writableWaiters.push(fn);
  }

  /** Stop reading the peer until release() (counted: every hold needs its release). */
  hold(): void {
    this.holds++;
    this.updateReading();
  }

  release(): void {
    if (this.holds > 0) this.holds--;
    this.updateReading();
  }

  /** Idle timer restarted by every byte in or out (0 = none). */
  setIdleTimeout(ms: number): void {
    this.socket.setTimeout(ms > 0 ? ms : 0);
  }

  /** One deadline (a request head, a handshake): `expire` runs unless cleared first. */
  setDeadline(ms: number, expire: () => void): void {
    this.clearDeadline();
    if (ms <= 0) return;
    this.deadline = setTimeout(() => {
      this.deadline = null;
      if (this.closedReason === null) expire();
    }, ms);
    this.deadline.unref();
  }

  clearDeadline(): void {
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = null;
  }

  get hasDeadline(): boolean {
    return this.deadline !== null;
  }

  /**
   * Ends the connection: what was written still goes out, then FIN; destroyed after a grace period
   * if the peer does not close (a peer that never reads keeps nothing). `abrupt`: destroy now.
   * The handler's onClose runs once, whoever closes.
   */
  close(reason = 'closed', abrupt = false): void {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    this.clearDeadline();
    this.flush();
    const s = this.socket;
    if (!s.destroyed) {
      if (abrupt) s.destroy();
      else {
        s.end();
        setTimeout(() => s.destroy(), END_GRACE_MS).unref();
      }
    }
    this.writableWaiters = [];
    this.owner.released(this);
    const h = this.handler;
    h?.onClose(reason);
  }

  /** The listener's periodic check: leave congestion missed by 'drain', drop a stalled peer. */
  sweep(now: number): void {
    if (this.closedReason !== null) return;
    const queued = this.socket.writableLength;
    const limits = this.owner.limits;
    if (this.over && queued <= limits.outputLimit / 2) this.drained();
    if (queued <= limits.outputLimit) {
      this.stalledSince = 0;
      return;
    }
    if (!this.stalledSince) this.stalledSince = now;
    else if (limits.stallTimeoutMs > 0 && now - this.stalledSince >= limits.stallTimeoutMs) {
      this.close(`stalled: ${queued} bytes not read for ${Math.round((now - this.stalledSince) / 1000)} s`, true);
    }
  }

  private drained(): void {
    if (!this.over || this.socket.writableLength > this.owner.limits.outputLimit / 2) return;
    this.over = false;
    this.updateReading();
    const waiters = this.writableWaiters;
    this.writableWaiters = [];
    for (const fn of waiters) {
      if (this.closedReason !== null || this.over) {
        if (this.over) this.writableWaiters.push(fn);
        continue;
      }
      fn();
    }
  }

  private updateReading(): void {
    const want = this.closedReason === null && this.holds === 0 && !this.over;
    if (want === this.reading) return;
    this.reading = want;
    if (want) this.socket.resume();
    else this.socket.pause();
  }
}
