/**
 * MPEG-TS muxing (ISO 13818-1) of H.264 and AAC from publication frames (FLV tag bodies), for
 * live HTTP `name.ts`. H.264: AVCC length-prefixed NAL units become Annex B start codes, with an
 * access unit delimiter first and SPS/PPS (from the publication's AVC sequence header) before each
 * key frame. AAC: each raw frame gets an ADTS header built from the AudioSpecificConfig.
 *
 * The packets of a frame are made once and shared by every listener of the publication: continuity
 * counters and timestamps are per publication (PTS = publication time), not per listener, so a
 * late joiner simply starts at a key frame that carries PAT/PMT. Other codecs are dropped.
 */
import type { MediaFrame } from '../core/media';
import { MediaType } from '../core/media';
import { DerivedKey, type Publication } from '../core/publication';

export const TS_PACKET = 188;
export const PMT_PID = 0x1000;
export const VIDEO_PID = 0x100;
export const AUDIO_PID = 0x101;
const STREAM_H264 = 0x1b;
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

/**
 * Per-publication muxing state: continuity counters and when tables were last sent. Derived from
 * the publication once, so every TS listener of it reads the same packets.
 */
class MuxState {
  cc = new Map<number, number>();
  lastTables = -Infinity;

  next(pid: number): number {
    const v = ((this.cc.get(pid) ?? -1) + 1) & 0x0f;
    this.cc.set(pid, v);
    return v;
  }
}

export const TS_MUX_STATE = new DerivedKey('mpegts', () => new MuxState());

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

function muxFrame(pub: Publication, state: MuxState, frame: MediaFrame): TSChunk {
  if (frame.config || frame.type === MediaType.Data) return EMPTY;
  const videoCfg = pub.videoConfig ? avcConfig(pub.videoConfig) : null;
  const audioCfg = pub.audioConfig ? aacConfig(pub.audioConfig) : null;
  const hasVideo = videoCfg !== null;
  const hasAudio = audioCfg !== null;
  const parts: Buffer[] = [];
  let tables = false;
  const addTables = () => {
    parts.push(patPacket(state), pmtPacket(state, hasVideo, hasAudio));
    state.lastTables = frame.time;
    tables = true;
  };
  if (frame.type === MediaType.Video) {
    if (!videoCfg) return EMPTY;
    const p = frame.payload;
    if ((p[0] & 0x0f) !== 7 || p.length < 5 || p[1] !== 1) return EMPTY; // AVC NALUs only
    const cts = (p.readIntBE(2, 3));
    const es = annexB(p.subarray(5), videoCfg, frame.key);
    if (frame.key) addTables();
    const dts = frame.time * 90;
    parts.push(pes(state, VIDEO_PID, 0xe0, es, (frame.time + cts) * 90, dts, true, frame.key));
  } else {
    if (!audioCfg) return EMPTY;
    const p = frame.payload;
    if (p[0] >> 4 !== 10 || p.length < 3 || p[1] !== 1) return EMPTY;
    if (!hasVideo && frame.time - state.lastTables >= TABLES_INTERVAL_MS) addTables();
    else if (!hasVideo && state.lastTables > frame.time) addTables(); // time went back: republished
    const raw = p.subarray(2);
    const es = Buffer.concat([adts(audioCfg, raw.length), raw]);
    const pts = frame.time * 90;
    parts.push(pes(state, AUDIO_PID, 0xc0, es, pts, pts, !hasVideo, false));
  }
  return { data: parts.length === 1 ? parts[0] : Buffer.concat(parts), tables };
}

function avcConfig(frame: MediaFrame): AVCConfig | null {
  return frame.serialized('ts-avc-config', (f) => {
    try {
      return parseAVCConfig(f.payload.subarray(5));
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

function aacConfig(frame: MediaFrame): AACConfig | null {
  return frame.serialized('ts-aac-config', (f) => parseAACConfig(f.payload.subarray(2)));
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
const AUD = Buffer.from([0, 0, 0, 1, 0x09, 0xf0]);

/** Length-prefixed NAL units → Annex B, AUD first, SPS/PPS before key frames. */
export function annexB(data: Buffer, cfg: AVCConfig, key: boolean): Buffer {
  const parts: Buffer[] = [AUD];
  if (key) parts.push(cfg.annexB);
  let o = 0;
  const n = cfg.lengthSize;
  while (o + n <= data.length) {
    const len = data.readUIntBE(o, n);
    o += n;
    if (len === 0 || o + len > data.length) break;
    const type = data[o] & 0x1f;
    // the stream's own AUD/SPS/PPS are superseded by ours
    if (type !== 9 && !(key && (type === 7 || type === 8))) parts.push(START_CODE, data.subarray(o, o + len));
    o += len;
  }
  return Buffer.concat(parts);
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

/** A PES packet cut into TS packets; PCR in the first one when this PID carries it. */
function pes(state: MuxState, pid: number, streamId: number, es: Buffer, pts: number, dts: number, pcr: boolean, key: boolean): Buffer {
  pts = Math.max(0, Math.round(pts));
  dts = Math.max(0, Math.round(dts));
  const withDts = pts !== dts;
  const headerLen = withDts ? 10 : 5;
  const head = Buffer.allocUnsafe(9 + headerLen);
  head.writeUIntBE(0x000001, 0, 3);
  head[3] = streamId;
  const pesLen = 3 + headerLen + es.length;
  head.writeUInt16BE(streamId === 0xe0 || pesLen > 0xffff ? 0 : pesLen, 4);
  head[6] = 0x80;
  head[7] = withDts ? 0xc0 : 0x80;
  head[8] = headerLen;
  timestamp(head, 9, withDts ? 3 : 2, pts);
  if (withDts) timestamp(head, 14, 1, dts);
  const payload = Buffer.concat([head, es]);

  const count = estimatePackets(payload.length, pcr);
  const out = Buffer.allocUnsafe(count * TS_PACKET);
  let o = 0;
  let p = 0;
  let first = true;
  while (p < payload.length) {
    const pkt = out.subarray(o, o + TS_PACKET);
    pkt[0] = 0x47;
    pkt[1] = (first ? 0x40 : 0) | ((pid >> 8) & 0x1f);
    pkt[2] = pid & 0xff;
    const cc = state.next(pid);
    let adaptLen = 0; // bytes of adaptation field content after its length byte
    let flags = 0;
    if (first && pcr) {
      adaptLen = 7;
      flags = 0x10 | (key ? 0x40 : 0);
    } else if (first && key) {
      adaptLen = 1;
      flags = 0x40;
    }
    let room = TS_PACKET - 4 - (adaptLen || flags ? adaptLen + 1 : 0);
    const left = payload.length - p;
    let stuffing = 0;
    if (left < room) {
      // pad with adaptation-field stuffing so the payload ends the packet
      if (adaptLen === 0 && flags === 0) {
        const need = room - left; // bytes to fill
        if (need === 1) {
          adaptLen = 0; // the length byte alone (value 0)
          stuffing = -1;
        } else {
          adaptLen = 1;
          stuffing = need - 2;
        }
      } else stuffing = room - left;
      room = left;
    }
    const hasAdapt = adaptLen > 0 || flags !== 0 || stuffing === -1;
    pkt[3] = (hasAdapt ? 0x30 : 0x10) | cc;
    let w = 4;
    if (hasAdapt) {
      if (stuffing === -1) {
        pkt[w++] = 0;
      } else {
        const total = adaptLen + Math.max(0, stuffing);
        pkt[w++] = total;
        pkt[w++] = flags;
        if (flags & 0x10) {
          const base = dts; // PCR base in 90 kHz; extension 0
          const v = base % 8589934592;
          pkt[w++] = Math.floor(v / 33554432) & 0xff;
          pkt[w++] = Math.floor(v / 131072) & 0xff;
          pkt[w++] = Math.floor(v / 512) & 0xff;
          pkt[w++] = Math.floor(v / 2) & 0xff;
          pkt[w++] = ((v & 1) << 7) | 0x7e;
          pkt[w++] = 0;
        }
        for (let i = 0; i < stuffing; i++) pkt[w++] = 0xff;
      }
    }
    const take = Math.min(TS_PACKET - w, payload.length - p);
    payload.copy(pkt, w, p, p + take);
    w += take;
    p += take;
    if (w !== TS_PACKET) throw new Error(`TS packet size ${w}`);
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
function psiPacket(state: MuxState, pid: number, section: Buffer): Buffer {
  const pkt = Buffer.alloc(TS_PACKET, 0xff);
  pkt[0] = 0x47;
  pkt[1] = 0x40 | ((pid >> 8) & 0x1f);
  pkt[2] = pid & 0xff;
  pkt[3] = 0x10 | state.next(pid);
  pkt[4] = 0; // pointer field
  section.copy(pkt, 5);
  const crc = crc32(section);
  pkt.writeUInt32BE(crc, 5 + section.length);
  return pkt;
}

function patPacket(state: MuxState): Buffer {
  // table 0, length 13 (5 header + 4 program + 4 CRC), ts id 1, version 0 current, program 1 → PMT
  const s = Buffer.from([0x00, 0xb0, 13, 0x00, 0x01, 0xc1, 0x00, 0x00, 0x00, 0x01, 0xe0 | (PMT_PID >> 8), PMT_PID & 0xff]);
  return psiPacket(state, 0, s);
}

function pmtPacket(state: MuxState, video: boolean, audio: boolean): Buffer {
  const streams: number[] = [];
  if (video) streams.push(STREAM_H264, 0xe0 | (VIDEO_PID >> 8), VIDEO_PID & 0xff, 0xf0, 0);
  if (audio) streams.push(STREAM_AAC, 0xe0 | (AUDIO_PID >> 8), AUDIO_PID & 0xff, 0xf0, 0);
  const pcrPid = video ? VIDEO_PID : AUDIO_PID;
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
