/**
 * FLV muxing of publication frames (a frame already is an FLV tag body). The 11-byte tag header
 * carries the listener's own timestamp, so it is made per listener; the body is the shared frame
 * payload, never copied; the 4-byte trailer (previous tag size) depends only on the frame and is
 * made once per frame.
 */
import type { MediaFrame } from '../core/media';
import { DataType, MediaType } from '../core/media';
import { encodeAMF0 } from '../serialization/amf0';
import { amf0DataOf } from './data-frame';

export const FLV_AUDIO = 0x04;
export const FLV_VIDEO = 0x01;

/** "FLV" v1 header + PreviousTagSize0. */
export function flvHeader(flags = FLV_AUDIO | FLV_VIDEO): Buffer {
  return Buffer.from([0x46, 0x4c, 0x56, 0x01, flags, 0, 0, 0, 9, 0, 0, 0, 0]);
}

export function flvTagHeader(type: number, size: number, time: number): Buffer {
  const h = Buffer.allocUnsafe(11);
  writeTagHeader(h, 0, type, size, time);
  return h;
}

function writeTagHeader(h: Buffer, o: number, type: number, size: number, time: number): void {
  const t = time >>> 0;
  h[o] = type;
  h.writeUIntBE(size & 0xffffff, o + 1, 3);
  h.writeUIntBE(t & 0xffffff, o + 4, 3);
  h[o + 7] = (t >>> 24) & 0xff;
  h.writeUIntBE(0, o + 8, 3); // stream id
}

export function flvTagTrailer(size: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(size + 11, 0);
  return b;
}

/** A whole tag in one buffer (files, tests; live fan-out writes the three parts instead). */
export function flvTag(type: number, time: number, body: Buffer): Buffer {
  const b = Buffer.allocUnsafe(11 + body.length + 4);
  writeTagHeader(b, 0, type, body.length, time);
  body.copy(b, 11);
  b.writeUInt32BE(body.length + 11, 11 + body.length);
  return b;
}

/**
 * The body of a frame as FLV carries it. Audio/video: the payload itself. Data: FLV script tags are
 * AMF0, so other data types are converted (amf0DataOf, once per frame and shared with Flash
 * players), RAW bytes become one AMF0 string, and RTMP's `@setDataFrame` prefix is dropped
 * (players expect `onMetaData` first). Returns null for data that cannot be expressed (skipped).
 */
export function flvBody(frame: MediaFrame): Buffer | null {
  if (frame.type !== MediaType.Data) return frame.payload;
  return frame.serialized('flv-data', toFLVData);
}

function toFLVData(frame: MediaFrame): Buffer | null {
  if (frame.dataType === DataType.RAW) return encodeAMF0(frame.payload);
  const amf = amf0DataOf(frame);
  return amf && stripSetDataFrame(amf);
}

/** The 4-byte trailer of a frame's FLV tag, made once per frame for every FLV listener. */
export function flvTagTrailerOf(frame: MediaFrame, body: Buffer): Buffer {
  return frame.serialized('flv-trailer', () => flvTagTrailer(body.length));
}

const SET_DATA_FRAME = Buffer.from([0x02, 0x00, 0x0d, ...Buffer.from('@setDataFrame')]);

export function stripSetDataFrame(p: Buffer): Buffer {
  if (p.length > SET_DATA_FRAME.length && p.subarray(0, SET_DATA_FRAME.length).equals(SET_DATA_FRAME)) return p.subarray(SET_DATA_FRAME.length);
  return p;
}

