/**
 * FLV audio/video tag bodies (the form every publication frame has) read into codec terms and
 * written back. Video: H.264 (codec id 7), H.265 as the legacy codec id 12 (same layout as AVC) and
 * as enhanced RTMP (bit 7 set, FourCC `avc1`/`hvc1`, packet types SequenceStart, CodedFrames with a
 * composition offset, CodedFramesX without one, SequenceEnd). Audio: AAC (sound format 10).
 */

export type VideoCodec = 'avc' | 'hevc';

export interface VideoTag {
  codec: VideoCodec;
  /** 'config': data is the decoder configuration record; 'frame': length-prefixed NAL units */
  kind: 'config' | 'frame' | 'end';
  key: boolean;
  /** composition time offset in ms (PTS - DTS) */
  cts: number;
  data: Buffer;
}

export interface AudioTag {
  codec: 'aac';
  kind: 'config' | 'frame';
  data: Buffer;
}

const FOURCC_AVC = 0x61766331; // 'avc1'
const FOURCC_HEVC = 0x68766331; // 'hvc1'

/** null: not a video codec we mux (VP6, other FourCCs, command frames, metadata packets). */
export function readVideoTag(p: Buffer): VideoTag | null {
  if (p.length < 1) return null;
  const b = p[0];
  if (b & 0x80) {
    // enhanced RTMP: [1 | frameType(3) | packetType(4)] FourCC ...
    if (p.length < 5) return null;
    const frameType = (b >> 4) & 7;
    if (frameType === 5) return null; // command frame
    const packetType = b & 0x0f;
    const fourcc = p.readUInt32BE(1);
    const codec: VideoCodec | null = fourcc === FOURCC_AVC ? 'avc' : fourcc === FOURCC_HEVC ? 'hevc' : null;
    if (!codec) return null;
    const key = frameType === 1;
    switch (packetType) {
      case 0:
        return { codec, kind: 'config', key, cts: 0, data: p.subarray(5) };
      case 1:
        if (p.length < 8) return null;
        return { codec, kind: 'frame', key, cts: p.readIntBE(5, 3), data: p.subarray(8) };
      case 2:
        return { codec, kind: 'end', key, cts: 0, data: p.subarray(5) };
      case 3:
        return { codec, kind: 'frame', key, cts: 0, data: p.subarray(5) };
      default:
        return null; // metadata, MPEG-2 TS sequence start, multitrack: not muxed
    }
  }
  const codecId = b & 0x0f;
  const frameType = b >> 4;
  if ((codecId !== 7 && codecId !== 12) || frameType === 5 || p.length < 5) return null;
  const codec: VideoCodec = codecId === 7 ? 'avc' : 'hevc';
  const kind = p[1] === 0 ? 'config' : p[1] === 1 ? 'frame' : p[1] === 2 ? 'end' : null;
  if (!kind) return null;
  return { codec, kind, key: frameType === 1, cts: p.readIntBE(2, 3), data: p.subarray(5) };
}

export function readAudioTag(p: Buffer): AudioTag | null {
  if (p.length < 2 || p[0] >> 4 !== 10) return null;
  if (p[1] > 1) return null;
  return { codec: 'aac', kind: p[1] === 0 ? 'config' : 'frame', data: p.subarray(2) };
}

/**
 * An FLV video tag body. H.264 is always the classic form; H.265 is enhanced RTMP (what current
 * encoders and players speak) unless `legacyHEVC` asks for codec id 12.
 */
export function videoTagBody(codec: VideoCodec, kind: 'config' | 'frame', key: boolean, cts: number, data: Buffer, legacyHEVC = false): Buffer {
  if (codec === 'avc' || legacyHEVC) {
    const h = Buffer.allocUnsafe(5 + data.length);
    h[0] = ((key || kind === 'config' ? 1 : 2) << 4) | (codec === 'avc' ? 7 : 12);
    h[1] = kind === 'config' ? 0 : 1;
    h.writeIntBE(kind === 'config' ? 0 : clampCts(cts), 2, 3);
    data.copy(h, 5);
    return h;
  }
  const withCts = kind === 'frame';
  const head = withCts ? 8 : 5;
  const h = Buffer.allocUnsafe(head + data.length);
  h[0] = 0x80 | ((key || kind === 'config' ? 1 : 2) << 4) | (kind === 'config' ? 0 : 1);
  h.writeUInt32BE(FOURCC_HEVC, 1);
  if (withCts) h.writeIntBE(clampCts(cts), 5, 3);
  data.copy(h, head);
  return h;
}

function clampCts(cts: number): number {
  return Math.max(-0x800000, Math.min(0x7fffff, Math.round(cts)));
}

/** An FLV AAC tag body; the first byte says 44 kHz/16-bit/stereo as FLV requires for AAC. */
export function aacTagBody(kind: 'config' | 'frame', data: Buffer): Buffer {
  const b = Buffer.allocUnsafe(2 + data.length);
  b[0] = 0xaf;
  b[1] = kind === 'config' ? 0 : 1;
  data.copy(b, 2);
  return b;
}
