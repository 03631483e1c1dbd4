/** RTMP chunk streams, defaults and the limits this server enforces. */

/** The message types and user control events are the Flash layer's (RTMFP carries the same ones). */
export { MessageType, UserControl } from '../flash/messages';

/** Chunk stream ids the server writes on. Media csids are fixed so that every listener shares bytes. */
export const CSID = {
  control: 2,
  command: 3,
  streamCommand: 5,
  audio: 6,
  video: 7,
  data: 8,
  /** first csid handed out by writer:newWriter() */
  firstExtraWriter: 10,
  lastExtraWriter: 63,
} as const;

export const RTMP_LIMITS = {
  /** one handshake packet (C1/S1/C2/S2) */
  handshakeSize: 1536,
  /** biggest message accepted from a peer (a 4K key frame fits; the wire format stops at 16 MB) */
  maxMessageSize: 8 * 1024 * 1024,
  /** bytes of partially received messages held across every chunk stream of one session */
  maxPendingBytes: 32 * 1024 * 1024,
  /** distinct chunk streams a peer may open */
  maxChunkStreams: 128,
  /** incoming chunk size bounds (spec: 1..0x7FFFFFFF; tiny chunks are a CPU attack) */
  minChunkSize: 1,
  maxChunkSize: 0x7fffffff,
};

export const RTMP_DEFAULTS = {
  /** the chunk size the server announces and writes with: big chunks = few headers per frame */
  outChunkSize: 4096,
  /** window acknowledgement size and peer bandwidth sent after connect (MonaServer's value) */
  windowAckSize: 2_500_000,
  peerBandwidth: 2_500_000,
  /**
   * media written to players is sent at most this late: frames of that span leave in one writev
   * per player (at 2000 players, per-frame writes cost more CPU than the bytes themselves)
   */
  flushIntervalMs: 50,
  /** ping request period */
  pingIntervalMs: 30_000,
  /** a session that sent nothing for this long is closed (onConnection may return `timeout`) */
  idleTimeoutMs: 120_000,
  /** a session that has not finished its handshake and connect by then is closed */
  connectTimeoutMs: 15_000,
};
