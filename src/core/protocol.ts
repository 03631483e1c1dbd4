/**
 * A protocol server as src/server.ts starts it. Each lives in src/protocols/<name>/ and gets the
 * ServerContext in its constructor.
 */
import type { AnySection } from '../config/section';
import type { Config } from '../config/types';
import type { ServerContext } from './context';

export interface ProtocolServer {
  /** "RTMP", "RTMFP", "HTTP", "RTSP", "Servers"... used in logs and the banner */
  readonly name: string;
  /** Binds and starts serving; rejects with an Error whose message says why (port in use...). */
  start(): Promise<void>;
  /** "0.0.0.0:1935 (TCP)" style strings for the start-up banner */
  addresses(): string[];
  /** Stops accepting, closes every session. */
  stop(): Promise<void>;
  /**
   * The protocols it serves when it stands for several (the workers of `threads`), for the admin
   * API; absent: just itself, with addresses()
   */
  listening?(): Array<{ protocol: string; addresses: string[] }>;
}

/**
 * What `start()` rejects with when a protocol cannot run for a reason that is no bind failure and
 * that several protocols may share (the TLS certificate of RTMPS and HTTPS): the server says it
 * once for all of them, and the other protocols keep running.
 */
export class ProtocolUnavailable extends Error {}

/** How a protocol joins the server: its name, which config port enables it, how to build it. */
export interface ProtocolEntry {
  name: string;
  /** 0 = disabled */
  port(config: Config): number;
  /** when given, decides instead of `port() !== 0` (the server link also runs with only targets) */
  enabled?(config: Config): boolean;
  create(context: ServerContext): ProtocolServer;
}

/**
 * What a folder registers (one line of src/registry.ts): the ini sections it reads
 * (config/section.ts) and the protocols it serves, in start order. A folder may have sections and
 * no protocol of its own (the admin listener, which the server starts itself; the TLS settings
 * of the transport).
 */
export interface Registration {
  sections: readonly AnySection[];
  protocols?: readonly ProtocolEntry[];
}
