/**
 * The RTMP/RTMPE TCP server (SPEC S5, `[RTMP] port`, 1935 by default). Each connection is an
 * RTMPSession; this object owns the listening socket, the set of sessions and the one timer
 * that uncorks every session written to since its last tick (write coalescing).
 */
import * as net from 'node:net';
import type { ServerContext } from '../../core/context';
import type { ProtocolServer } from '../../core/protocol';
import { listenHost } from '../../config/listen';
import { RTMP_DEFAULTS } from './constants';
import { HandshakeLimiter } from './handshake-limiter';
import { RTMPSession, type SessionHost } from './session';

export interface RTMPServerOptions {
  /** overrides config.rtmp.port (tests use 0 for an ephemeral port) */
  port?: number;
  host?: string;
}

export class RTMPServer implements ProtocolServer, SessionHost {
  readonly name = 'RTMP';
  readonly sessions = new Set<RTMPSession>();
  private server: net.Server | null = null;
  private pendingFlush = new Set<RTMPSession>();
  private flushScheduled = false;
  /** RTMPE handshakes per IP (`[RTMP] rtmpeRate`) */
  private readonly rtmpeLimiter = new HandshakeLimiter(() => this.context.config.rtmp.rtmpeRate);

  constructor(
    readonly context: ServerContext,
    private readonly options: RTMPServerOptions = {},
  ) {}

  /** The bound port (after start). */
  get port(): number {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : 0;
  }

  start(): Promise<void> {
    const port = this.options.port ?? this.context.config.rtmp.port;
    const host = this.options.host ?? listenHost(this.context.config, 'RTMP');
    return new Promise((resolve, reject) => {
      const server = net.createServer((socket) => this.accept(socket));
      server.once('error', reject);
      // a deep accept queue: a burst of players must not wait for SYN-ACK retransmissions
      server.listen({ port, host, backlog: 4096 }, () => {
        server.off('error', reject);
        server.on('error', (e) => this.context.logger.error('RTMP', `server socket: ${e.message}`));
        this.server = server;
        resolve();
      });
    });
  }

  addresses(): string[] {
    const a = this.server?.address();
    return a && typeof a === 'object' ? [`${a.address}:${a.port} (TCP)`] : [];
  }

  private accept(socket: net.Socket): void {
    // mona:addToBlacklist: refused at accept, before any handshake work (as MonaServer does)
    if (this.context.isBlacklisted(`${socket.remoteAddress}:${socket.remotePort}`)) {
      socket.destroy();
      return;
    }
    try {
      const session = new RTMPSession(this, socket);
      this.sessions.add(session);
    } catch (e) {
      this.context.logger.error('RTMP', `cannot start a session: ${(e as Error).message}`);
      socket.destroy();
    }
  }

  /** Uncorks `session` on the next coalescing tick (one timer for every session). */
  scheduleFlush(session: RTMPSession): void {
    this.pendingFlush.add(session);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setTimeout(() => {
      this.flushScheduled = false;
      const sessions = this.pendingFlush;
      this.pendingFlush = new Set();
      for (const s of sessions) s.flushOutput();
    }, RTMP_DEFAULTS.flushIntervalMs);
  }

  allowEncryptedHandshake(address: string): boolean {
    return this.rtmpeLimiter.allow(address);
  }

  sessionClosed(session: RTMPSession): void {
    this.sessions.delete(session);
  }

  stop(): Promise<void> {
    for (const s of [...this.sessions]) s.close('server stopping');
    const server = this.server;
    this.server = null;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}
