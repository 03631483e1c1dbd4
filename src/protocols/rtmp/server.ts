/**
 * The RTMP/RTMPE TCP server (`[RTMP] port`, 1935 by default), and RTMPS (`secure`: the
 * same server on a TLS listener, `[RTMPS] port`, 8443 by default). Each connection is an
 * RTMPSession on a transport Connection; the transport listener binds (IPv4 and IPv6), refuses
 * blacklisted peers and peers over the connection caps, and runs the one coalescing tick that
 * uncorks every session written to since the last one.
 */
import type { ServerContext } from '../../core/context';
import type { ProtocolServer } from '../../core/protocol';
import { listenHost } from '../../config/listen';
import type { TransportLimits } from '../../transport/limits';
import { TCPListener } from '../../transport/listener';
import { serverTLS } from '../../transport/tls';
import { RTMP_DEFAULTS } from './constants';
import { HandshakeLimiter } from '../../transport/handshake-limiter';
import { RTMPSession, type SessionHost } from './session';

export interface RTMPServerOptions {
  /** RTMPS: TLS on every connection with the server's `[TLS]` certificate, `[RTMPS] port` and `host` */
  secure?: boolean;
  /** overrides config.rtmp.port / config.rtmps.port (tests use 0 for an ephemeral port) */
  port?: number;
  host?: string;
  /** overrides of the `[TCP]` limits (tests) */
  limits?: Partial<TransportLimits>;
}

export class RTMPServer implements ProtocolServer, SessionHost {
  readonly name: string;
  readonly sessions = new Set<RTMPSession>();
  private readonly listener: TCPListener;
  /** RTMPE handshakes per IP (`[RTMP] rtmpeRate`) */
  private readonly rtmpeLimiter = new HandshakeLimiter(() => this.context.config.rtmp.rtmpeRate);

  constructor(
    readonly context: ServerContext,
    options: RTMPServerOptions = {},
  ) {
    const secure = options.secure ?? false;
    this.name = secure ? 'RTMPS' : 'RTMP';
    this.listener = new TCPListener(context, {
      name: this.name,
      port: options.port ?? (secure ? context.config.rtmps.port : context.config.rtmp.port),
      host: options.host ?? listenHost(context.config, this.name),
      // TLS 1.2 at most: librtmp (rtmpdump, GStreamer's rtmpsink and rtmpsrc) gives up on the session
      // tickets a TLS 1.3 server sends after the handshake, and Node cannot send none
      tls: secure ? { server: serverTLS(context), maxVersion: 'TLSv1.2' } : undefined,
      // a deep accept queue: a burst of players must not wait for SYN-ACK retransmissions
      backlog: 4096,
      noDelay: true,
      flushIntervalMs: RTMP_DEFAULTS.flushIntervalMs,
      limits: options.limits,
      onConnection: (c) => this.sessions.add(new RTMPSession(this, c)),
    });
  }

  /** The bound port (after start). */
  get port(): number {
    return this.listener.port;
  }

  start(): Promise<void> {
    return this.listener.start();
  }

  addresses(): string[] {
    return this.listener.addresses().map((a) => `${a} (${this.listener.secure ? 'TLS' : 'TCP'})`);
  }

  allowEncryptedHandshake(address: string): boolean {
    return this.rtmpeLimiter.allow(address);
  }

  sessionClosed(session: RTMPSession): void {
    this.sessions.delete(session);
  }

  stop(): Promise<void> {
    return this.listener.stop();
  }
}
