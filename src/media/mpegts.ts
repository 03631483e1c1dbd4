/**
 * MPEG-TS muxing (ISO 13818-1) of H.264, H.265 and AAC. `TSMuxer` holds one stream's continuity
 * counters and turns samples into TS packets: video NAL units (length-prefixed, as FLV and MP4 carry
 * them) become Annex B with an access unit delimiter first and the parameter sets before each key
 * frame; each AAC frame gets an ADTS header. The HLS segmenter uses it for classic `.ts` segments.
 *
 * `tsChunk` is the live HTTP `name.ts` path: the packets of a publication frame are made once and
 * shared by every listener; continuity counters and timestamps are per publication (PTS =
 * publication time), not per listener, so a late joiner simply starts at a key frame that carries
 * PAT/PMT. Other codecs are dropped.
 */
import type { MediaFrame } from '../core/media';
import { MediaType } from '../core/media';
import { DerivedKey, type Publication } from '../core/publication';
import { readAudioTag, readVideoTag } from './codecs/flv-body';
import { HEVC_NAL_AUD, HEVC_NAL_PPS, HEVC_NAL_SPS, HEVC_NAL_VPS } from './codecs/hevc';
import { audioTrack, videoTrack, type AudioTrackInfo, type VideoTrackInfo } from './tracks';

export const TS_PACKET = 188;
export const PMT_PID = 0x1000;
export const VIDEO_PID = 0x100;
export const AUDIO_PID = 0x101;
const STREAM_H264 = 0x1b;
const STREAM_HEVC = 0x24;
const STREAM_AAC = 0x0f;
/** PAT/PMT repeat for audio-only streams (video repeats them on each key frame) */
const TABLES_INTERVAL_MS = 500;

/** A frame's TS packets. `tables`: they start with PAT/PMT, so a player may start here. */
export interface TSChunk {
  data: Buffer;
  tables: boolean;
}

const EMPTY: TSChunk = { data: Buffer.alloc(0), tables: false };

interface AVCConfig {
  lengthSize: number;
  /** SPS and PPS as Annex B (start codes included) */
  annexB: Buffer;
}

interface AACConfig {
  profile: number; // audio object type - 1
  freqIndex: number;
  channels: number;
}

/** One MPEG-TS stream: continuity counters per PID. Timestamps are in 90 kHz units. */
export class TSMuxer {
  /** the next continuity counter of each PID */
  private readonly cc = new Uint8Array(0x2000);
  private readonly psCache = new WeakMap<VideoTrackInfo, Buffer>();
  /** PIDs whose next packet carries the discontinuity indicator */
  readonly discontinuity = new Set<number>();

  /**
   * Starts segment `index` of a stream whose segments are muxed independently (VOD): PAT/PMT
   * counters continue as if each earlier segment had one PAT and one PMT, and the first audio and
   * video packets flag a discontinuity, so demuxers reading the segments in a row expect the jump.
   */
  resume(index: number): void {
    this.cc[0] = index & 0x0f;
    this.cc[PMT_PID] = index & 0x0f;
    if (index > 0) {
      this.discontinuity.add(VIDEO_PID);
      this.discontinuity.add(AUDIO_PID);
    }
  }

  /** PAT + PMT for this track set. */
  tables(video: VideoTrackInfo | null, audio: AudioTrackInfo | null): Buffer {
    return Buffer.concat([patPacket(this), pmtPacket(this, video ? (video.codec === 'hevc' ? STREAM_HEVC : STREAM_H264) : 0, audio !== null)]);
  }

  /** One video access unit; `pcr`: this PID carries the program clock. */
  video(track: VideoTrackInfo, nalus: Buffer, key: boolean, dts: number, pts: number, pcr = true): Buffer {
    let ps = this.psCache.get(track);
    if (!ps) this.psCache.set(track, (ps = Buffer.concat(track.parameterSets.flatMap((n) => [START_CODE, n]))));
    const es = toAnnexB(nalus, track.lengthSize, track.codec === 'hevc', key ? ps : null);
    return pes(this, VIDEO_PID, 0xe0, es, pts, dts, pcr, key);
  }

  /** One raw AAC frame; null when the configuration has no ADTS form (explicit sample rate). */
  audio(track: AudioTrackInfo, raw: Buffer, pts: number, pcr: boolean): Buffer | null {
    if (track.rateIndex > 12) return null;
    // ADTS carries AAC Main/LC/SSR/LTP; HE-AAC is sent as its LC core (implicit SBR signalling)
    const profile = track.objectType >= 1 && track.objectType <= 4 ? track.objectType - 1 : 1;
    const head = adts({ profile, freqIndex: track.rateIndex, channels: track.channels }, raw.length);
    return pes(this, AUDIO_PID, 0xc0, [head, raw], pts, pts, pcr, false);
  }

  /** The next continuity counter of a PID. */
  nextCounter(pid: number): number {
    const v = this.cc[pid];
    this.cc[pid] = (v + 1) & 0x0f;
    return v;
  }
}

/**
 * Per-publication live state: the muxer (continuity counters) and when tables were last sent.
 * Derived from the publication once, so every TS listener of it reads the same packets.
 */
class LiveState {
  readonly muxer = new TSMuxer();
  lastTables = -Infinity;
}

export const TS_MUX_STATE = new DerivedKey('mpegts', () => new LiveState());

/** The TS packets of one frame of `pub`, made once per frame (frame.serialized). */
export function tsChunk(pub: Publication, frame: MediaFrame): TSChunk {
  return frame.serialized('ts', (f) => {
    const state = pub.derived(TS_MUX_STATE);
    try {
      return muxFrame(pub, state, f);
    } catch {
      return EMPTY; // a malformed frame is skipped, the stream goes on
    }
  });
}

function muxFrame(pub: Publication, state: LiveState, frame: MediaFrame): TSChunk {
  if (frame.config || frame.type === MediaType.Data) return EMPTY;
  const video = pub.videoConfig ? videoTrackOf(pub.videoConfig) : null;
  const audio = pub.audioConfig ? audioTrackOf(pub.audioConfig) : null;
  const parts: Buffer[] = [];
  let tables = false;
  const addTables = () => {
    parts.push(state.muxer.tables(video, audio));
    state.lastTables = frame.time;
    tables = true;
  };
  if (frame.type === MediaType.Video) {
    const tag = readVideoTag(frame.payload);
    if (!video || !tag || tag.kind !== 'frame' || tag.codec !== video.codec) return EMPTY;
    if (frame.key) addTables();
    parts.push(state.muxer.video(video, tag.data, frame.key, frame.time * 90, (frame.time + tag.cts) * 90));
  } else {
    const tag = readAudioTag(frame.payload);
    if (!audio || !tag || tag.kind !== 'frame') return EMPTY;
    if (!video && frame.time - state.lastTables >= TABLES_INTERVAL_MS) addTables();
    else if (!video && state.lastTables > frame.time) addTables(); // time went back: republished
    const packets = state.muxer.audio(audio, tag.data, frame.time * 90, !video);
    if (!packets) return EMPTY;
    parts.push(packets);
  }
  return { data: parts.length === 1 ? parts[0] : Buffer.concat(parts), tables };
}

function videoTrackOf(frame: MediaFrame): VideoTrackInfo | null {
  return frame.serialized('ts-video-track', (f) => {
    const tag = readVideoTag(f.payload);
    if (!tag || tag.kind !== 'config') return null;
    try {
      return videoTrack(tag.codec, tag.data);
    } catch {
      return null;
    }
  });
}

function audioTrackOf(frame: MediaFrame): AudioTrackInfo | null {
  return frame.serialized('ts-audio-track', (f) => {
    const tag = readAudioTag(f.payload);
    if (!tag || tag.kind !== 'config') return null;
    try {
      return audioTrack(tag.data);
    } catch {
      return null;
    }
  });
}

/** AVCDecoderConfigurationRecord (ISO 14496-15 5.2.4.1) → NAL length size + SPS/PPS in Annex B. */
export function parseAVCConfig(rec: Buffer): AVCConfig | null {
  if (rec.length < 7 || rec[0] !== 1) return null;
  const lengthSize = (rec[4] & 3) + 1;
  const out: Buffer[] = [];
  let o = 5;
  for (let pass = 0; pass < 2; pass++) {
    if (o >= rec.length) return null;
    const count = pass === 0 ? rec[o] & 0x1f : rec[o];
    o++;
    for (let i = 0; i < count; i++) {
      if (o + 2 > rec.length) return null;
      const len = rec.readUInt16BE(o);
      o += 2;
      if (o + len > rec.length) return null;
      out.push(START_CODE, rec.subarray(o, o + len));
      o += len;
    }
  }
  return { lengthSize, annexB: Buffer.concat(out) };
}

/** AudioSpecificConfig (ISO 14496-3 1.6.2.1), the fields ADTS needs. */
export function parseAACConfig(asc: Buffer): AACConfig | null {
  if (asc.length < 2) return null;
  const objectType = asc[0] >> 3;
  const freqIndex = ((asc[0] & 7) << 1) | (asc[1] >> 7);
  const channels = (asc[1] >> 3) & 0x0f;
  if (objectType < 1 || objectType > 4 || freqIndex > 12) return null; // ADTS carries AAC Main/LC/SSR/LTP only
  return { profile: objectType - 1, freqIndex, channels };
}

export function adts(cfg: AACConfig, rawLength: number): Buffer {
  const len = rawLength + 7;
  const h = Buffer.allocUnsafe(7);
  h[0] = 0xff;
  h[1] = 0xf1; // MPEG-4, layer 0, no CRC
  h[2] = (cfg.profile << 6) | (cfg.freqIndex << 2) | ((cfg.channels >> 2) & 1);
  h[3] = ((cfg.channels & 3) << 6) | ((len >> 11) & 3);
  h[4] = (len >> 3) & 0xff;
  h[5] = ((len & 7) << 5) | 0x1f;
  h[6] = 0xfc;
  return h;
}

const START_CODE = Buffer.from([0, 0, 0, 1]);
const AUD_AVC = Buffer.from([0, 0, 0, 1, 0x09, 0xf0]);
const AUD_HEVC = Buffer.from([0, 0, 0, 1, HEVC_NAL_AUD << 1, 0x01, 0x50]);

/** Length-prefixed H.264 NAL units → Annex B, AUD first, SPS/PPS before key frames. */
export function annexB(data: Buffer, cfg: AVCConfig, key: boolean): Buffer {
  return Buffer.concat(toAnnexB(data, cfg.lengthSize, false, key ? cfg.annexB : null));
}

/**
 * Length-prefixed NAL units → Annex B pieces: an access unit delimiter first, then
 * `parameterSets` (key frames), then the units; the stream's own delimiters, and its parameter
 * sets where ours precede, are dropped.
 */
function toAnnexB(data: Buffer, lengthSize: number, hevc: boolean, parameterSets: Buffer | null): Buffer[] {
  const parts: Buffer[] = [hevc ? AUD_HEVC : AUD_AVC];
  if (parameterSets) parts.push(parameterSets);
  let o = 0;
  while (o + lengthSize <= data.length) {
    const len = lengthSize === 4 ? data.readUInt32BE(o) : data.readUIntBE(o, lengthSize);
    o += lengthSize;
    if (len === 0 || o + len > data.length) break;
    const type = hevc ? (data[o] >> 1) & 0x3f : data[o] & 0x1f;
    const skip = hevc
      ? type === HEVC_NAL_AUD || (parameterSets !== null && (type === HEVC_NAL_VPS || type === HEVC_NAL_SPS || type === HEVC_NAL_PPS))
      : type === 9 || (parameterSets !== null && (type === 7 || type === 8));
    if (!skip) parts.push(START_CODE, data.subarray(o, o + len));
    o += len;
  }
  return parts;
}

function timestamp(b: Buffer, o: number, marker: number, t: number): void {
  // 33-bit 90 kHz value in 5 bytes with marker bits
  const v = t % 8589934592;
  const hi = Math.floor(v / 1073741824); // bits 32..30
  const mid = Math.floor(v / 32768) & 0x7fff; // bits 29..15
  const lo = v & 0x7fff;
  b[o] = (marker << 4) | (hi << 1) | 1;
  b[o + 1] = mid >> 7;
  b[o + 2] = ((mid & 0x7f) << 1) | 1;
  b[o + 3] = lo >> 7;
  b[o + 4] = ((lo & 0x7f) << 1) | 1;
}

/**
 * A PES packet cut into TS packets; PCR in the first one when this PID carries it. The elementary
 * stream comes as pieces (start codes, NAL units, ADTS header and frame) copied straight into the
 * packets: one copy of the media, no joined intermediate buffer.
 */
function pes(state: TSMuxer, pid: number, streamId: number, es: Buffer[], pts: number, dts: number, pcr: boolean, key: boolean): Buffer {
  pts = Math.max(0, Math.round(pts));
  dts = Math.max(0, Math.round(dts));
  let esLength = 0;
  for (const b of es) esLength += b.length;
  const withDts = pts !== dts;
  const headerLen = withDts ? 10 : 5;
  const head = Buffer.allocUnsafe(9 + headerLen);
  head.writeUIntBE(0x000001, 0, 3);
  head[3] = streamId;
  const pesLen = 3 + headerLen + esLength;
  head.writeUInt16BE(streamId === 0xe0 || pesLen > 0xffff ? 0 : pesLen, 4);
  head[6] = 0x80;
  head[7] = withDts ? 0xc0 : 0x80;
  head[8] = headerLen;
  timestamp(head, 9, withDts ? 3 : 2, pts);
  if (withDts) timestamp(head, 14, 1, dts);
  const total = head.length + esLength;
  const pieces = [head, ...es];
  let piece = 0;
  let pieceAt = 0;

  const count = estimatePackets(total, pcr);
  const out = Buffer.allocUnsafe(count * TS_PACKET);
  let o = 0;
  let p = 0;
  let first = true;
  while (p < total) {
    out[o] = 0x47;
    out[o + 1] = (first ? 0x40 : 0) | ((pid >> 8) & 0x1f);
    out[o + 2] = pid & 0xff;
    const cc = state.nextCounter(pid);
    let adaptLen = 0; // bytes of adaptation field content after its length byte
    let flags = 0;
    if (first && pcr) {
      adaptLen = 7;
      flags = 0x10 | (key ? 0x40 : 0);
    } else if (first && key) {
      adaptLen = 1;
      flags = 0x40;
    }
    if (first && state.discontinuity.delete(pid)) {
      adaptLen = Math.max(adaptLen, 1);
      flags |= 0x80;
    }
    const room = TS_PACKET - 4 - (adaptLen || flags ? adaptLen + 1 : 0);
    const left = total - p;
    let stuffing = 0;
    if (left < room) {
      // pad with adaptation-field stuffing so the payload ends the packet
      if (adaptLen === 0 && flags === 0) {
        const need = room - left; // bytes to fill
        if (need === 1) stuffing = -1; // the length byte alone (value 0)
        else {
          adaptLen = 1;
          stuffing = need - 2;
        }
      } else stuffing = room - left;
    }
    const hasAdapt = adaptLen > 0 || flags !== 0 || stuffing === -1;
    out[o + 3] = (hasAdapt ? 0x30 : 0x10) | cc;
    let w = o + 4;
    if (hasAdapt) {
      if (stuffing === -1) {
        out[w++] = 0;
      } else {
        out[w++] = adaptLen + Math.max(0, stuffing);
        out[w++] = flags;
        if (flags & 0x10) {
          const v = dts % 8589934592; // PCR base in 90 kHz; extension 0
          out[w++] = Math.floor(v / 33554432) & 0xff;
          out[w++] = Math.floor(v / 131072) & 0xff;
          out[w++] = Math.floor(v / 512) & 0xff;
          out[w++] = Math.floor(v / 2) & 0xff;
          out[w++] = ((v & 1) << 7) | 0x7e;
          out[w++] = 0;
        }
        if (stuffing > 0) {
          out.fill(0xff, w, w + stuffing);
          w += stuffing;
        }
      }
    }
    let take = Math.min(o + TS_PACKET - w, total - p);
    p += take;
    while (take > 0) {
      const b = pieces[piece];
      const n = Math.min(take, b.length - pieceAt);
      b.copy(out, w, pieceAt, pieceAt + n);
      w += n;
      take -= n;
      pieceAt += n;
      if (pieceAt === b.length) {
        piece++;
        pieceAt = 0;
      }
    }
    if (w !== o + TS_PACKET) throw new Error(`TS packet size ${w - o}`);
    o += TS_PACKET;
    first = false;
  }
  return o === out.length ? out : out.subarray(0, o);
}

function estimatePackets(len: number, pcr: boolean): number {
  // generous upper bound: first packet may lose 8 bytes to the adaptation field
  return Math.ceil((len + (pcr ? 8 : 2)) / (TS_PACKET - 4)) + 1;
}

/** A PSI section in one packet (PAT and PMT are tiny). */
function psiPacket(state: TSMuxer, pid: number, section: Buffer): Buffer {
  const pkt = Buffer.alloc(TS_PACKET, 0xff);
  pkt[0] = 0x47;
  pkt[1] = 0x40 | ((pid >> 8) & 0x1f);
  pkt[2] = pid & 0xff;
  pkt[3] = 0x10 | state.nextCounter(pid);
  pkt[4] = 0; // pointer field
  section.copy(pkt, 5);
  const crc = crc32(section);
  pkt.writeUInt32BE(crc, 5 + section.length);
  return pkt;
}

function patPacket(state: TSMuxer): Buffer {
  // table 0, length 13 (5 header + 4 program + 4 CRC), ts id 1, version 0 current, program 1 → PMT
  const s = Buffer.from([0x00, 0xb0, 13, 0x00, 0x01, 0xc1, 0x00, 0x00, 0x00, 0x01, 0xe0 | (PMT_PID >> 8), PMT_PID & 0xff]);
  return psiPacket(state, 0, s);
}

function pmtPacket(state: TSMuxer, videoType: number, audio: boolean): Buffer {
  const streams: number[] = [];
  if (videoType) streams.push(videoType, 0xe0 | (VIDEO_PID >> 8), VIDEO_PID & 0xff, 0xf0, 0);
  if (audio) streams.push(STREAM_AAC, 0xe0 | (AUDIO_PID >> 8), AUDIO_PID & 0xff, 0xf0, 0);
  const pcrPid = videoType ? VIDEO_PID : AUDIO_PID;
  const length = 9 + streams.length + 4;
  const s = Buffer.from([0x02, 0xb0, length, 0x00, 0x01, 0xc1, 0x00, 0x00, 0xe0 | (pcrPid >> 8), pcrPid & 0xff, 0xf0, 0x00, ...streams]);
  return psiPacket(state, PMT_PID, s);
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** CRC-32/MPEG-2 of PSI sections. */
export function crc32(b: Buffer): number {
  let crc = 0xffffffff;
  for (let i = 0; i < b.length; i++) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ b[i]) & 0xff]) >>> 0;
  return crc >>> 0;
}
