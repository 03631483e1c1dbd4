/**
 * Outgoing chunks. Every message starts with a full (type-0) header, so a message never depends on
 * what this session sent before on its chunk stream: that is what lets a media frame be chunked
 * once for all listeners (shared continuation bytes) while each listener only gets its own
 * 12-byte header (message stream id and timestamp differ per listener).
 */
import type { MediaFrame } from '../../core/media';

const EXTENDED = 0xffffff;

function basicHeaderSize(csid: number): number {
  return csid < 64 ? 1 : csid < 320 ? 2 : 3;
}

function writeBasicHeader(out: Buffer, at: number, fmt: number, csid: number): number {
  if (csid < 64) {
    out[at] = (fmt << 6) | csid;
    return at + 1;
  }
  if (csid < 320) {
    out[at] = fmt << 6;
    out[at + 1] = csid - 64;
    return at + 2;
  }
  out[at] = (fmt << 6) | 1;
  out.writeUInt16LE(csid - 64, at + 1);
  return at + 3;
}

/** The type-0 header of a message (12 bytes for small csids, +4 with an extended timestamp). */
export function messageHeader(csid: number, type: number, streamId: number, timestamp: number, length: number): Buffer {
  const ext = timestamp >= EXTENDED;
  const out = Buffer.allocUnsafe(basicHeaderSize(csid) + 11 + (ext ? 4 : 0));
  let p = writeBasicHeader(out, 0, 0, csid);
  out.writeUIntBE(ext ? EXTENDED : timestamp, p, 3);
  out.writeUIntBE(length, p + 3, 3);
  out[p + 6] = type;
  out.writeUInt32LE(streamId >>> 0, p + 7);
  p += 11;
  if (ext) out.writeUInt32BE(timestamp >>> 0, p);
  return out;
}

/**
 * The body of a message as chunks after its first header: the payload cut every `chunkSize`
 * bytes with a one-byte type-3 header in between (plus the extended timestamp when `extTime` is
 * given, as the spec wants it repeated). A payload that fits one chunk is returned as is.
 */
export function chunkBody(payload: Buffer, chunkSize: number, csid: number, extTime = -1): Buffer {
  if (payload.length <= chunkSize) return payload;
  const basic = basicHeaderSize(csid);
  const sep = basic + (extTime >= 0 ? 4 : 0);
  const cuts = Math.ceil(payload.length / chunkSize) - 1;
  const out = Buffer.allocUnsafe(payload.length + cuts * sep);
  let o = 0;
  for (let i = 0; i < payload.length; i += chunkSize) {
    if (i > 0) {
      o = writeBasicHeader(out, o, 3, csid);
      if (extTime >= 0) {
        out.writeUInt32BE(extTime >>> 0, o);
        o += 4;
      }
    }
    const end = Math.min(i + chunkSize, payload.length);
    o += payload.copy(out, o, i, end);
  }
  return out;
}

/** A whole message as one buffer (control and command messages: small, written once). */
export function encodeMessage(
  csid: number,
  type: number,
  streamId: number,
  timestamp: number,
  payload: Buffer,
  chunkSize: number,
): Buffer[] {
  const header = messageHeader(csid, type, streamId, timestamp, payload.length);
  return [header, chunkBody(payload, chunkSize, csid, timestamp >= EXTENDED ? timestamp : -1)];
}

/**
 * A media frame's chunk body for (chunk size, csid), made once and shared by every listener of
 * the frame. Only valid when the listener's timestamp is below the extended range.
 */
export function sharedMediaBody(frame: MediaFrame, payload: Buffer, chunkSize: number, csid: number): Buffer {
  if (payload.length <= chunkSize) return payload;
  return frame.serialized(`rtmp:${chunkSize}:${csid}`, () => chunkBody(payload, chunkSize, csid));
}

export function u32(v: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(v >>> 0, 0);
  return b;
}
