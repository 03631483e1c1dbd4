/**
 * What the Flash layer (NetConnection, NetStream, the script writer) needs from a transport. RTMP
 * and RTMFP implement it; so will RTMPS (RTMP over TLS) and a server-to-server link: a transport
 * moves Flash messages (see messages.ts) and knows nothing of connect, publish or play.
 *
 * Messages the transport receives from its peer go to `NetConnection.onMessage(streamId, type,
 * time, payload)` (stream 0 = the NetConnection). Messages going out take a `FlashChannel`: the
 * NetConnection's own, one per NetStream, one per extra script writer.
 */
import type { Client } from '../../core/client';
import type { ServerContext } from '../../core/context';
import type { MediaFrame } from '../../core/media';
import type { Table } from '../../serialization/value';

/** One way out to the peer: RTMP a chunk stream on a message stream, RTMFP a sending flow. */
export interface FlashChannel {
  /**
   * An AMF command or data message, or a user control message (type 4, on RTMP written on the
   * control chunk stream of message stream 0). `reliable` false: the transport may drop it when late
   * (RTMFP partial reliability); RTMP delivers everything.
   */
  send(type: number, time: number, payload: Buffer, reliable: boolean): void;
  /**
   * A publication frame towards a player (type 8, 9 or 18). `payload` is shared by every player of
   * the frame and never copied or changed; `frame` lets the transport build its framing once per
   * frame too (frame.serialized). Only what differs per player (stream id, time) is this channel's.
   */
  sendMedia(type: number, time: number, frame: MediaFrame, payload: Buffer, reliable: boolean): void;
  /** `writer:writeRaw(bytes)`: bytes as this transport carries them (RTMP: a user control body). */
  sendRaw(data: Buffer, reliable: boolean): void;
  /** Pushes out what is queued now (commands are answered at once; media waits for the transport's own tick). */
  flush(): void;
  /** Bytes queued towards the peer and not yet taken by it: what a slow player costs (socket + transport queues). */
  queuedBytes(): number;
  /**
   * Messages (or parts of them) the transport found lost towards the peer since the previous call
   * (RTMFP: fragments sent again or abandoned), for the player's QualityOfService; absent on a
   * transport that loses nothing (RTMP).
   */
  takeLost?(): number;
  /** A sibling channel to the same peer and stream (`writer:newWriter()`, RTMFP's unbuffered media). Throws when none is left. */
  open(): FlashChannel;
  /** Nothing more goes out on this channel. */
  close(): void;
}

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

export interface FlashTransport {
  readonly context: ServerContext;
  /** the core client of this connection (what scripts see as `client`) */
  readonly client: Client;
  /** the NetConnection's channel (stream 0): answers, invocations, the main script writer */
  readonly mainChannel: FlashChannel;
  /** true when channels may drop late messages (RTMFP): `?unbuffered=true` plays use an unreliable channel */
  readonly partialReliability: boolean;
  /** the command object of the connect `_result` (RTMP: FMS-like server properties; null elsewhere) */
  readonly connectProperties: Table | null;
  /** A NetStream was created: its channel. */
  openStream(id: number): FlashChannel;
  /** connect arrived, before the application is asked: what must precede the answer (RTMP: window and chunk size). */
  connecting(): void;
  /** onConnection accepted: `timeoutMs` (from the table it returned) replaces the idle timeout; null = the transport's own. */
  connected(timeoutMs: number | null): void;
  /** RTMFP `setPeerInfo`: the peer's own addresses (for rendezvous). Transports without it leave it out: answered quietly. */
  setPeerInfo?(addresses: string[]): void;
  /** Ends the session; what was written before goes out first where the transport can. */
  close(reason: string): void;
  log(level: LogLevel, message: string): void;
}
