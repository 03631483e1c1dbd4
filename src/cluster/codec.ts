/**
 * The server-to-server wire format of MonaServer 1, pure: bytes in, frames out, with limits.
 *
 * Every frame is a 4-byte big-endian size (of what follows), then a 1-byte handler-name length:
 *  - length > 0: the handler name follows, then the payload. Each named frame also gives the name
 *    the next reference number in its direction (1, 2, 3…, counted per connection and per direction,
 *    one per named frame received, even if the name was already known).
 *  - length 0: a reference follows as an unsigned LEB128 number (7 bits per byte, low bits first):
 *    - reference > 0: the handler named earlier under that number, then the payload;
 *    - reference 0: a control frame, whose next byte says which:
 *        1 hello: key/value string pairs to the end of the frame (the sender's configuration, then,
 *          from the side that connected, the properties of its target entry);
 *        0 reject: one string, the reason; the sender closes the connection after it;
 *        2 auth (ours, never sent without a shared secret): key/value string pairs, see auth.ts.
 *   Strings in control frames are a LEB128 byte length then the bytes (UTF-8).
 * The payload of a handler frame is the handler's arguments one after another, in MonaServer's
 * AMF mix: null, booleans and non-integer numbers as AMF0 values; integers in 0..2^28-1, strings,
 * tables, dates and byte arrays as AMF3 values behind the 0x11 switch, with one AMF3 reference
 * context across the whole frame (a string met again in a later argument is a reference).
 *
 * The handler "." is MonaServer's list of running applications: its payload is a sequence of
 * control-style strings (app paths, "" for the root app), not AMF.
 */
import { AMF0Marker, AMF0Reader } from '../serialization/amf0';
import { AMF3Writer } from '../serialization/amf3';
import { ByteWriter, isAMF3Int } from '../serialization/amf';
import { DecodeError, type Value } from '../serialization/value';

export interface CodecLimits {
  /** largest frame accepted (the 4-byte size field); a bigger one is a protocol error */
  maxFrameBytes: number;
  /** largest control frame (hello, reject, auth) */
  maxControlBytes: number;
  /** handler names a peer may introduce on one connection */
  maxReferences: number;
  /** key/value pairs in one hello or auth frame */
  maxPairs: number;
}

export const DEFAULT_LIMITS: CodecLimits = {
  maxFrameBytes: 16 * 1024 * 1024,
  maxControlBytes: 1024 * 1024,
  maxReferences: 16384,
  maxPairs: 4096,
};

/** The application-list handler of MonaServer (payload: strings, not AMF). */
export const APPS_HANDLER = '.';

/** Longest handler name: its length travels in one byte. */
export const MAX_HANDLER_BYTES = 255;

export const enum Control {
  Reject = 0,
  Hello = 1,
  Auth = 2,
}

export type Frame =
  | { kind: 'hello'; pairs: Array<[string, string]> }
  | { kind: 'auth'; pairs: Array<[string, string]> }
  | { kind: 'reject'; reason: string }
  | { kind: 'message'; handler: string; payload: Buffer }
  /** a reference no named frame introduced: that one frame is unusable, the stream is not */
  | { kind: 'unknown'; ref: number; payload: Buffer };

/** The stream cannot be read any further (size or reference limits, malformed control frame). */
export class LinkProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LinkProtocolError';
  }
}

/** Reads a LEB128 unsigned number of at most 5 bytes (32 bits) at `pos`; returns [value, next]. */
function readLEB(buf: Buffer, pos: number, end: number, what: string): [number, number] {
  let value = 0;
  let shift = 0;
  for (let i = 0; i < 5; i++) {
    if (pos >= end) throw new LinkProtocolError(`${what} truncated`);
    const c = buf[pos++];
    value += (c & 0x7f) * 2 ** shift;
    if ((c & 0x80) === 0) {
      if (value > 0xffffffff) throw new LinkProtocolError(`${what} over 32 bits`);
      return [value, pos];
    }
    shift += 7;
  }
  throw new LinkProtocolError(`${what} longer than 5 bytes`);
}

/** Bytes of `v` as a 7-bit varint (the link's and the relay frames' integers). */
export function lebSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** Writes `v` as a 7-bit varint at `pos`; returns the position after it. */
export function writeLEB(out: Buffer, pos: number, v: number): number {
  do {
    let c = v & 0x7f;
    v = Math.floor(v / 128);
    if (v) c |= 0x80;
    out[pos++] = c;
  } while (v);
  return pos;
}

/** Control-frame strings: LEB128 byte length then bytes. */
export function readStrings(buf: Buffer, pos: number, end: number, maxCount: number): string[] {
  const out: string[] = [];
  while (pos < end) {
    if (out.length >= maxCount) throw new LinkProtocolError(`more than ${maxCount} strings`);
    let len: number;
    [len, pos] = readLEB(buf, pos, end, 'string length');
    if (len > end - pos) throw new LinkProtocolError(`string of ${len} bytes runs past the frame`);
    out.push(buf.toString('utf8', pos, pos + len));
    pos += len;
  }
  return out;
}

export function encodeStrings(strings: readonly string[]): Buffer {
  const bodies = strings.map((s) => Buffer.from(s, 'utf8'));
  let size = 0;
  for (const b of bodies) size += lebSize(b.length) + b.length;
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  for (const b of bodies) {
    pos = writeLEB(out, pos, b.length);
    pos += b.copy(out, pos);
  }
  return out;
}

function pairsOf(strings: string[], what: string): Array<[string, string]> {
  if (strings.length % 2) throw new LinkProtocolError(`${what}: a key without value`);
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < strings.length; i += 2) pairs.push([strings[i], strings[i + 1]]);
  return pairs;
}

/**
 * Cuts a byte stream into frames. Holds at most one incomplete frame (≤ maxFrameBytes + 4), so a
 * peer costs bounded memory whatever it sends; throws LinkProtocolError on a frame it cannot
 * accept, after which the decoder must not be used again.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** names received, index = reference - 1 */
  private names: string[] = [];

  constructor(private readonly limits: CodecLimits = DEFAULT_LIMITS) {}

  /** bytes waiting for the rest of their frame */
  get pending(): number {
    return this.buffered;
  }

  push(chunk: Buffer): Frame[] {
    if (chunk.length) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const frames: Frame[] = [];
    while (this.buffered >= 4) {
      const size = this.peekSize();
      if (size > this.limits.maxFrameBytes)
        throw new LinkProtocolError(`frame of ${size} bytes exceeds the ${this.limits.maxFrameBytes}-byte limit`);
      if (this.buffered < 4 + size) break;
      const frame = this.take(4 + size);
      frames.push(this.parse(frame, 4, frame.length));
    }
    return frames;
  }

  private peekSize(): number {
    const first = this.chunks[0];
    if (first.length >= 4) return first.readUInt32BE(0);
    const head = Buffer.concat(this.chunks, Math.min(this.buffered, 4));
    return head.readUInt32BE(0);
  }

  /** Removes `n` bytes from the front: a view when they sit in the first chunk, one copy otherwise. */
  private take(n: number): Buffer {
    const first = this.chunks[0];
    if (first.length >= n) {
      this.buffered -= n;
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let pos = 0;
    while (pos < n) {
      const c = this.chunks[0];
      const k = Math.min(c.length, n - pos);
      c.copy(out, pos, 0, k);
      pos += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.buffered -= n;
    return out;
  }

  private parse(buf: Buffer, pos: number, end: number): Frame {
    if (pos >= end) throw new LinkProtocolError('empty frame');
    const nameLength = buf[pos++];
    if (nameLength > 0) {
      if (nameLength > end - pos) throw new LinkProtocolError(`handler name of ${nameLength} bytes runs past the frame`);
      if (this.names.length >= this.limits.maxReferences)
        throw new LinkProtocolError(`more than ${this.limits.maxReferences} handler names on one connection`);
      const handler = buf.toString('utf8', pos, pos + nameLength);
      this.names.push(handler);
      return { kind: 'message', handler, payload: buf.subarray(pos + nameLength, end) };
    }
    let ref: number;
    [ref, pos] = readLEB(buf, pos, end, 'handler reference');
    if (ref > 0) {
      const handler = this.names[ref - 1];
      if (handler === undefined) return { kind: 'unknown', ref, payload: buf.subarray(pos, end) };
      return { kind: 'message', handler, payload: buf.subarray(pos, end) };
    }
    if (end - 4 > this.limits.maxControlBytes)
      throw new LinkProtocolError(`control frame of ${end - 4} bytes exceeds the ${this.limits.maxControlBytes}-byte limit`);
    if (pos >= end) throw new LinkProtocolError('control frame without its type');
    const type = buf[pos++];
    switch (type) {
      case Control.Hello:
        return { kind: 'hello', pairs: pairsOf(readStrings(buf, pos, end, this.limits.maxPairs * 2), 'hello') };
      case Control.Auth:
        return { kind: 'auth', pairs: pairsOf(readStrings(buf, pos, end, this.limits.maxPairs * 2), 'auth') };
      case Control.Reject: {
        const strings = readStrings(buf, pos, end, 1);
        return { kind: 'reject', reason: strings[0] ?? '' };
      }
      default:
        throw new LinkProtocolError(`unknown control frame type ${type}`);
    }
  }
}

/**
 * Builds frames for one connection: remembers which handler names the peer already knows so that a
 * name is sent in full once and by reference afterwards, as MonaServer does.
 */
export class FrameEncoder {
  private refs = new Map<string, number>();
  /** named frames sent so far: the peer numbers every one of them */
  private named = 0;

  constructor(private readonly limits: CodecLimits = DEFAULT_LIMITS) {}

  /**
   * A handler frame. Throws RangeError for an empty or too long name, or when the connection has
   * used up the names the peer accepts; the frame is then not built and nothing changes.
   */
  message(handler: string, payload: Buffer): Buffer {
    return this.messageHead(handler, payload, 0);
  }

  /**
   * The start of a handler frame whose payload is `payload` followed by `tailLength` more bytes
   * that the caller writes right after it (a media frame's body, sent without being copied).
   */
  messageHead(handler: string, payload: Buffer, tailLength: number): Buffer {
    const known = this.refs.get(handler);
    if (known !== undefined) return this.frame(0, known, null, payload, 0, tailLength);
    const name = Buffer.from(handler, 'utf8');
    if (name.length === 0) throw new RangeError('a handler name cannot be empty');
    if (name.length > MAX_HANDLER_BYTES) throw new RangeError(`handler name of ${name.length} bytes (at most ${MAX_HANDLER_BYTES})`);
    if (this.named >= this.limits.maxReferences)
      throw new RangeError(`more than ${this.limits.maxReferences} distinct handler names on one server link`);
    this.refs.set(handler, ++this.named);
    return this.frame(name.length, 0, name, payload, 0, tailLength);
  }

  hello(pairs: ReadonlyArray<readonly [string, string]>): Buffer {
    return this.control(Control.Hello, encodeStrings(pairs.flat()));
  }

  auth(pairs: ReadonlyArray<readonly [string, string]>): Buffer {
    return this.control(Control.Auth, encodeStrings(pairs.flat()));
  }

  reject(reason: string): Buffer {
    return this.control(Control.Reject, encodeStrings([reason]));
  }

  private control(type: Control, body: Buffer): Buffer {
    const out = this.frame(0, 0, null, body, 1);
    out[out.length - body.length - 1] = type;
    return out;
  }

  private frame(nameLength: number, ref: number, name: Buffer | null, payload: Buffer, extra = 0, tailLength = 0): Buffer {
    const head = 1 + (name ? name.length : lebSize(ref));
    const size = head + extra + payload.length + tailLength;
    // the size field counts the tail, which the caller writes after these bytes
    const out = Buffer.allocUnsafe(4 + size - tailLength);
    out.writeUInt32BE(size, 0);
    out[4] = nameLength;
    let pos = 5;
    if (name) pos += name.copy(out, pos);
    else pos = writeLEB(out, pos, ref);
    payload.copy(out, pos + extra);
    return out;
  }
}

/**
 * A handler's arguments in MonaServer's AMF mix (see the top of this file), readable by MonaServer
 * and by our decodeArgs. Two deliberate differences from MonaServer's own writer, both about values
 * MonaServer gets wrong: negative integers go as doubles (MonaServer reads AMF3 integers as
 * unsigned), and integers beyond 2^28-1 as doubles (MonaServer 1 writes 2^40 as the integer 0).
 */
export function encodeArgs(args: readonly Value[]): Buffer {
  const out = new ByteWriter(64);
  const amf3 = new AMF3Writer(out, { negativeIntegersAsDoubles: true, inlineAnonymousTraits: true });
  for (const v of args) {
    if (v === null) out.u8(AMF0Marker.Null);
    else if (typeof v === 'boolean') {
      out.u8(AMF0Marker.Boolean);
      out.u8(v ? 1 : 0);
    } else if (typeof v === 'number' && !(isAMF3Int(v) && v >= 0)) {
      out.u8(AMF0Marker.Number);
      out.double(v);
    } else {
      out.u8(AMF0Marker.AVMPlus);
      amf3.writeValue(v, 0);
    }
  }
  return out.toBuffer();
}

/** A handler's arguments; throws DecodeError on malformed AMF. */
export function decodeArgs(payload: Buffer): Value[] {
  return new AMF0Reader(payload).readAll();
}

/** The payload of MonaServer's "." frame: app paths. */
export function decodeApps(payload: Buffer, limits: CodecLimits = DEFAULT_LIMITS): string[] {
  try {
    return readStrings(payload, 0, payload.length, limits.maxPairs);
  } catch (err) {
    throw new DecodeError('server apps', (err as Error).message);
  }
}

export function encodeApps(paths: readonly string[]): Buffer {
  return encodeStrings(paths);
}
