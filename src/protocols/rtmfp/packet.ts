/**
 * The RTMFP packet plaintext (RFC 7016 section 2.2.4): flags, optional timestamp and timestamp echo
 * (present only when the flags say so), then chunks `type(1) length(2) payload`, ended by padding
 * (0x00 or 0xFF). Parsing never copies: chunks are views into the decrypted datagram.
 */
import { RtmfpFormatError } from './binary';

export const FLAG_TC = 0x80; // time critical
export const FLAG_TCR = 0x40; // time critical reverse
export const FLAG_TS = 0x08; // timestamp present
export const FLAG_TSE = 0x04; // timestamp echo present
export const MODE_MASK = 0x03;
export const MODE_INITIATOR = 1;
export const MODE_RESPONDER = 2;
export const MODE_STARTUP = 3;

export const CHUNK = {
  IHello: 0x30,
  FwdIHello: 0x0f,
  RHello: 0x70,
  Redirect: 0x71,
  IIKeying: 0x38,
  RIKeying: 0x78,
  CookieChange: 0x79,
  Ping: 0x01,
  PingReply: 0x41,
  UserData: 0x10,
  NextUserData: 0x11,
  BitmapAck: 0x50,
  RangeAck: 0x51,
  BufferProbe: 0x18,
  FlowException: 0x5e,
  CloseRequest: 0x0c,
  CloseAck: 0x4c,
} as const;

export interface Chunk {
  type: number;
  /** payload view */
  data: Buffer;
}

export interface PacketHeader {
  flags: number;
  mode: number;
  /** 16-bit sender timestamp (4 ms ticks) or -1 when absent */
  timestamp: number;
  /** 16-bit echo of our timestamp or -1 when absent */
  echo: number;
  chunks: Chunk[];
}

/** At most this many chunks in one datagram (a 1192-byte packet holds ~397 empty chunks) */
const MAX_CHUNKS = 512;

export function parsePacket(plain: Buffer): PacketHeader {
  if (plain.length < 1) throw new RtmfpFormatError('empty packet');
  const flags = plain[0];
  let pos = 1;
  let timestamp = -1;
  let echo = -1;
  if (flags & FLAG_TS) {
    if (pos + 2 > plain.length) throw new RtmfpFormatError('truncated timestamp');
    timestamp = plain.readUInt16BE(pos);
    pos += 2;
  }
  if (flags & FLAG_TSE) {
    if (pos + 2 > plain.length) throw new RtmfpFormatError('truncated timestamp echo');
    echo = plain.readUInt16BE(pos);
    pos += 2;
  }
  const chunks: Chunk[] = [];
  while (pos < plain.length) {
    const type = plain[pos];
    if (type === 0xff || type === 0x00) break; // padding up to the end
    if (pos + 3 > plain.length) throw new RtmfpFormatError('truncated chunk header');
    const len = plain.readUInt16BE(pos + 1);
    const start = pos + 3;
    if (start + len > plain.length) throw new RtmfpFormatError(`chunk 0x${type.toString(16)} of ${len} bytes overruns the packet`);
    chunks.push({ type, data: plain.subarray(start, start + len) });
    if (chunks.length > MAX_CHUNKS) throw new RtmfpFormatError('too many chunks');
    pos = start + len;
  }
  return { flags, mode: flags & MODE_MASK, timestamp, echo, chunks };
}

/** RFC 7016 timestamps: 16 bits of 4 ms ticks. */
export function nowTimestamp(now = Date.now()): number {
  return Math.floor(now / 4) & 0xffff;
}

/**
 * Accumulates chunks into one packet plaintext (flags + timestamps reserved at the front, filled
 * at finish()). Callers ask `room()` before adding and start a new packet when it is too small.
 */
export class PacketBuilder {
  readonly buf: Buffer;
  pos: number;
  private readonly headerSize: number;

  constructor(
    private readonly flags: number,
    echo: boolean,
    /** plaintext bytes available: MAX_PACKET minus the 4-byte session id, 2-byte checksum, padding */
    capacity = 1192 - 4 - 2 - 15,
  ) {
    this.buf = Buffer.allocUnsafe(capacity);
    this.headerSize = (flags & FLAG_TS ? 2 : 0) + (echo ? 2 : 0) + 1;
    this.pos = this.headerSize;
    if (echo) this.flags |= FLAG_TSE;
  }

  get empty(): boolean {
    return this.pos === this.headerSize;
  }

  room(): number {
    return this.buf.length - this.pos;
  }

  /** Reserves a chunk of `length` payload bytes; returns the payload offset to write at. */
  chunk(type: number, length: number): number {
    this.buf[this.pos] = type;
    this.buf.writeUInt16BE(length, this.pos + 1);
    const at = this.pos + 3;
    this.pos = at + length;
    return at;
  }

  addChunk(type: number, payload: Buffer): void {
    const at = this.chunk(type, payload.length);
    payload.copy(this.buf, at);
  }

  /** Writes flags and timestamps; returns the plaintext length. */
  finish(timestamp: number, echo: number): number {
    let p = 0;
    this.buf[p++] = this.flags;
    if (this.flags & FLAG_TS) {
      this.buf.writeUInt16BE(timestamp & 0xffff, p);
      p += 2;
    }
    if (this.flags & FLAG_TSE) this.buf.writeUInt16BE(echo & 0xffff, p);
    return this.pos;
  }
}
