/**
 * Incoming chunk stream (Adobe RTMP spec §5.3): reassembles messages from chunks of the four
 * header types, with extended timestamps, the peer's chunk size and abort. Works on the socket's
 * buffers with offsets: a message that fits in one chunk is handed over as a view of them. A chunked
 * message is copied chunk by chunk into one buffer of its own, grown by doubling up to its length,
 * and an incomplete chunk into one carry buffer: whatever the chunk size or the size of the socket's
 * reads, what a session holds is a few buffers whose bytes are counted, never one Buffer object per
 * chunk (1-byte chunks would cost a hundred times their payload). Limits stop a hostile peer from
 * making us allocate without bound: message size, number of chunk streams, bytes held in partial
 * messages (allocated bytes, not received ones).
 */
import { MessageType, RTMP_LIMITS } from './constants';

export class ChunkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChunkError';
  }
}

export interface RTMPMessage {
  type: number;
  streamId: number;
  /** absolute timestamp in ms (32 bits) */
  timestamp: number;
  payload: Buffer;
}

interface ChunkStream {
  timestamp: number;
  /** the last timestamp field (delta, or absolute for a type-0 header), reused by type-3 starts */
  delta: number;
  length: number;
  type: number;
  streamId: number;
  /** the last header carried an extended timestamp: type-3 chunks repeat it */
  extended: boolean;
  extendedValue: number;
  /** the message being reassembled (its capacity is counted in partialBytes), null between messages */
  buf: Buffer | null;
  received: number;
  started: boolean;
}

export class ChunkReader {
  chunkSize = 128;
  private readonly streams = new Map<number, ChunkStream>();
  /** bytes not yet parsed (an incomplete chunk), copied out of the socket's buffers, at the start of `carry` */
  private carry: Buffer | null = null;
  private carryLength = 0;
  /** bytes needed before parsing is worth retrying */
  private need = 0;
  /** bytes allocated for partial messages, across every chunk stream */
  private partialBytes = 0;

  constructor(private readonly onMessage: (m: RTMPMessage) => void) {}

  /** Feeds socket bytes; calls onMessage for each complete message. Throws ChunkError on garbage. */
  push(data: Buffer): void {
    if (this.carryLength) {
      this.keep(data);
      if (this.carryLength < this.need) return;
      // parsed from here on: messages may be views of it, so it is never written again
      data = (this.carry as Buffer).subarray(0, this.carryLength);
      this.carry = null;
      this.carryLength = 0;
    }
    let pos = 0;
    while (pos < data.length) {
      const next = this.parseChunk(data, pos);
      if (next < 0) break;
      pos = next;
    }
    if (pos < data.length) this.keep(data.subarray(pos));
  }

  /** Appends to the carry buffer, grown by doubling up to what the incomplete chunk needs. */
  private keep(data: Buffer): void {
    const length = this.carryLength + data.length;
    let carry = this.carry;
    if (!carry || carry.length < length) {
      // at least what is there, at most what the chunk needs; doubling keeps the copies linear
      const grown = Buffer.allocUnsafe(Math.max(length, Math.min(this.need, 2 * (carry?.length ?? 0))));
      if (carry) carry.copy(grown, 0, 0, this.carryLength);
      this.carry = carry = grown;
    }
    data.copy(carry, this.carryLength);
    this.carryLength = length;
  }

  /** Parses one chunk at `pos`; returns the offset after it, or -1 (and sets need) if incomplete. */
  private parseChunk(b: Buffer, pos: number): number {
    const avail = b.length - pos;
    const first = b[pos];
    const fmt = first >> 6;
    let csid = first & 0x3f;
    let p = pos + 1;
    if (csid === 0) {
      if (avail < 2) return this.wait(2);
      csid = 64 + b[p];
      p += 1;
    } else if (csid === 1) {
      if (avail < 3) return this.wait(3);
      csid = 64 + b[p] + b[p + 1] * 256;
      p += 2;
    }
    const headerSize = fmt === 0 ? 11 : fmt === 1 ? 7 : fmt === 2 ? 3 : 0;
    if (b.length - p < headerSize) return this.wait(p - pos + headerSize);

    let cs = this.streams.get(csid);
    if (!cs) {
      if (fmt !== 0) throw new ChunkError(`chunk stream ${csid} starts with a type-${fmt} header`);
      if (this.streams.size >= RTMP_LIMITS.maxChunkStreams) throw new ChunkError('too many chunk streams');
      cs = {
        timestamp: 0, delta: 0, length: 0, type: 0, streamId: 0, extended: false, extendedValue: 0,
        buf: null, received: 0, started: false,
      };
      this.streams.set(csid, cs);
    }

    // read the header into locals: state changes only once the whole chunk is there
    let field = cs.extended ? 0xffffff : 0;
    let length = cs.length;
    let type = cs.type;
    let streamId = cs.streamId;
    if (fmt <= 2) {
      field = b.readUIntBE(p, 3);
      if (fmt <= 1) {
        length = b.readUIntBE(p + 3, 3);
        type = b[p + 6];
        if (fmt === 0) streamId = b.readUInt32LE(p + 7);
      }
      p += headerSize;
    }
    let extended = false;
    let fieldValue = fmt === 3 ? cs.delta : field;
    if (fmt <= 2 ? field === 0xffffff : cs.extended) {
      if (b.length - p < 4) return this.wait(p - pos + 4);
      const ext = b.readUInt32BE(p);
      if (fmt <= 2) {
        fieldValue = ext;
        p += 4;
        extended = true;
      } else if (ext === cs.extendedValue) {
        // type-3 chunks repeat the extended timestamp (some old encoders omit it: then it is payload)
        p += 4;
        extended = true;
        fieldValue = ext;
      }
    }

    const continuing = cs.buf !== null && fmt === 3;
    if (!continuing && cs.buf !== null) {
      throw new ChunkError(`chunk stream ${csid}: new type-${fmt} header inside a message`);
    }
    if (!continuing) {
      if (length > RTMP_LIMITS.maxMessageSize) throw new ChunkError(`message of ${length} bytes is too big`);
    }
    const remaining = continuing ? cs.length - cs.received : length;
    const size = remaining < this.chunkSize ? remaining : this.chunkSize;
    if (b.length - p < size) return this.wait(p - pos + size);

    // commit the header
    if (!continuing) {
      cs.length = length;
      cs.type = type;
      cs.streamId = streamId;
      if (fmt === 0) cs.timestamp = fieldValue;
      else cs.timestamp = (cs.timestamp + fieldValue) >>> 0;
      if (fmt <= 2) {
        cs.delta = fieldValue;
        cs.extended = extended;
        cs.extendedValue = extended ? fieldValue : 0;
      }
      cs.started = true;
    }
    const body = b.subarray(p, p + size);
    p += size;
    if (!continuing && size === length) {
      this.deliver(cs, body);
      return p;
    }
    if (!continuing) cs.received = 0;
    const needed = cs.received + size;
    const have = cs.buf ? cs.buf.length : 0;
    if (needed > have) {
      // what arrived, doubled on growth (linear copying), never more than the message's length: a
      // partial message holds at most twice the bytes received for it
      const capacity = Math.min(cs.length, Math.max(needed, 2 * have));
      this.partialBytes += capacity - have;
      if (this.partialBytes > RTMP_LIMITS.maxPendingBytes) throw new ChunkError('too many bytes in partial messages');
      const grown = Buffer.allocUnsafe(capacity);
      if (cs.buf) cs.buf.copy(grown, 0, 0, cs.received);
      cs.buf = grown;
    }
    const buf = cs.buf as Buffer;
    body.copy(buf, cs.received);
    cs.received = needed;
    if (needed === cs.length) {
      this.partialBytes -= buf.length;
      cs.buf = null;
      this.deliver(cs, buf);
    }
    return p;
  }

  private wait(bytes: number): number {
    this.need = bytes;
    return -1;
  }

  private deliver(cs: ChunkStream, payload: Buffer): void {
    // protocol control that changes how the next chunk is read is applied here, in order
    if (cs.type === MessageType.SetChunkSize) {
      if (payload.length < 4) throw new ChunkError('short Set Chunk Size');
      const size = payload.readUInt32BE(0) & 0x7fffffff;
      if (size < RTMP_LIMITS.minChunkSize) throw new ChunkError(`chunk size ${size}`);
      this.chunkSize = size;
    } else if (cs.type === MessageType.Abort) {
      if (payload.length < 4) throw new ChunkError('short Abort');
      const target = this.streams.get(payload.readUInt32BE(0));
      if (target?.buf) {
        this.partialBytes -= target.buf.length;
        target.buf = null;
      }
    }
    this.onMessage({ type: cs.type, streamId: cs.streamId, timestamp: cs.timestamp, payload });
  }

  /** Bytes allocated for incomplete chunks and messages (for tests and limits). */
  get heldBytes(): number {
    return (this.carry ? this.carry.length : 0) + this.partialBytes;
  }

  /** Buffers held for incomplete chunks and messages: one per partial message, plus the carry. */
  get heldPieces(): number {
    let n = this.carry ? 1 : 0;
    for (const cs of this.streams.values()) if (cs.buf) n++;
    return n;
  }
}
