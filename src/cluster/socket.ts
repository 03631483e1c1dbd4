/**
 * The sockets under the server link: one TCP listener and outgoing connections, as `Wire`s. The
 * only file of src/cluster that touches node:net, so that the link can move onto a shared transport
 * layer by replacing this file.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import type { Wire } from './link';

/** What a wire reports. */
export interface WireEvents {
  data(chunk: Buffer): void;
  closed(error: Error | null): void;
}

/** A closing wire whose peer does not take the last bytes is cut after this long. */
const END_GRACE_MS = 2000;
/** TCP keepalive probes start after this much silence, so a vanished peer is noticed. */
const KEEPALIVE_MS = 10_000;

export class NetWire implements Wire {
  private events: WireEvents | null = null;
  private error: Error | null = null;
  private pendingData: Buffer[] | null = [];

  constructor(private readonly socket: net.Socket) {
    socket.setNoDelay(true);
    socket.setKeepAlive(true, KEEPALIVE_MS);
    socket.on('data', (chunk: Buffer) => {
      if (this.events) this.events.data(chunk);
      else this.pendingData?.push(chunk);
    });
    socket.on('error', (err) => (this.error ??= err));
    socket.on('close', () => this.events?.closed(this.error));
  }

  /** "ip:port" of the other end ("[v6]:port" for IPv6) */
  get remoteAddress(): string {
    const ip = this.socket.remoteAddress ?? '';
    const port = this.socket.remotePort ?? 0;
    return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
  }

  /** Starts delivering events (data received before is delivered first). */
  attach(events: WireEvents): void {
    this.events = events;
    const early = this.pendingData ?? [];
    this.pendingData = null;
    for (const chunk of early) events.data(chunk);
    if (this.socket.destroyed) events.closed(this.error);
  }

  get queued(): number {
    return this.socket.writableLength;
  }

  /**
   * Frames written in one turn of the event loop leave together (one writev): a relay writes a
   * media frame as two buffers, and a burst of frames as many.
   */
  write(data: Buffer): void {
    const socket = this.socket;
    if (socket.destroyed) return;
    if (!this.corked) {
      this.corked = true;
      socket.cork();
      setImmediate(this.uncork);
    }
    socket.write(data);
  }

  private corked = false;
  private readonly uncork = (): void => {
    this.corked = false;
    if (!this.socket.destroyed) this.socket.uncork();
  };

  end(): void {
    if (this.socket.destroyed) return;
    if (this.corked) this.uncork();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), END_GRACE_MS).unref();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/**
 * Connects to host:port. `connected` gets the wire once TCP is up; `failed` gets the error when it
 * cannot be reached. Returns a function that abandons the attempt.
 */
export function dial(host: string, port: number, connected: (wire: NetWire) => void, failed: (err: Error) => void): () => void {
  return connectWire({ host, port }, connected, failed);
}

/** Connects to a UNIX socket at `path` (the worker links of `threads`), as dial() does over TCP. */
export function dialPath(path: string, connected: (wire: NetWire) => void, failed: (err: Error) => void): () => void {
  return connectWire({ path }, connected, failed);
}

function connectWire(options: net.NetConnectOpts, connected: (wire: NetWire) => void, failed: (err: Error) => void): () => void {
  const socket = net.connect(options);
  let settled = false;
  socket.once('connect', () => {
    if (settled) return;
    settled = true;
    socket.off('error', onError);
    connected(new NetWire(socket));
  });
  const onError = (err: Error) => {
    if (settled) return;
    settled = true;
    socket.destroy();
    failed(err);
  };
  socket.once('error', onError);
  return () => {
    if (settled) return;
    settled = true;
    socket.destroy();
  };
}

/** Listens on a UNIX socket at `path` (removed first if a dead process left it). */
export function listenPath(path: string, accept: (wire: NetWire) => void, onError: (err: Error) => void): Promise<Listener> {
  return new Promise((resolve, reject) => {
    try {
      fs.rmSync(path, { force: true });
    } catch {
      // listen reports what is wrong
    }
    const server = net.createServer((socket) => accept(new NetWire(socket)));
    server.once('error', reject);
    server.listen({ path }, () => {
      server.off('error', reject);
      server.on('error', onError);
      resolve({
        port: 0,
        address: () => `${path} (UNIX)`,
        close: () => new Promise((r) => server.close(() => r())),
      });
    });
  });
}

export interface Listener {
  /** the bound port */
  readonly port: number;
  /** "0.0.0.0:1936 (TCP)" */
  address(): string;
  close(): Promise<void>;
}

/**
 * Listens on host:port; rejects with the bind error (the server reports it and runs on). Errors of
 * the listening socket afterwards (accept failures) go to `onError`.
 */
export function listen(host: string, port: number, accept: (wire: NetWire) => void, onError: (err: Error) => void): Promise<Listener> {
  return new Promise((resolve, reject) => {
    const server = net.createServer((socket) => accept(new NetWire(socket)));
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      server.on('error', onError);
      const a = server.address();
      resolve({
        port: a && typeof a === 'object' ? a.port : port,
        address() {
          return a && typeof a === 'object' ? `${a.address}:${a.port} (TCP)` : '';
        },
        close: () => new Promise((r) => server.close(() => r())),
      });
    });
  });
}
