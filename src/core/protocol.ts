/**
 * A protocol server as src/server.ts starts it. Each lives in src/protocols/<name>/ and gets the
 * ServerContext in its constructor.
 */
export interface ProtocolServer {
  /** "RTMP", "RTMFP", "HTTP", "RTSP", "Servers"... used in logs and the banner */
  readonly name: string;
  /** Binds and starts serving; rejects with an Error whose message says why (port in use...). */
  start(): Promise<void>;
  /** "0.0.0.0:1935 (TCP)" style strings for the start-up banner */
  addresses(): string[];
  /** Stops accepting, closes every session. */
  stop(): Promise<void>;
}

/**
 * What `start()` rejects with when a protocol cannot run for a reason that is no bind failure and
 * that several protocols may share (the TLS certificate of RTMPS and HTTPS): the server says it
 * once for all of them, and the other protocols keep running.
 */
export class ProtocolUnavailable extends Error {}
