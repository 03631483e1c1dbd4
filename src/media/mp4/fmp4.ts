/**
 * Fragmented MP4 / CMAF muxing (ISO 14496-12, ISO 14496-15 for avc1/hvc1, ISO 14496-14 for mp4a).
 *
 * `initSegment` builds ftyp + moov (one trak per track, sample tables empty, mvex/trex) from the
 * tracks' decoder configurations, exactly as FLV carried them: the avcC/hvcC record and the AAC
 * AudioSpecificConfig go into the sample entries unchanged. Video uses a 90 kHz timescale, audio
 * its sample rate, so AAC frames are exact 1024-sample durations.
 *
 * `fragment` builds one moof + mdat holding a run of samples per track (tfdt = first decode time,
 * trun with durations, sizes, key-frame flags and composition offsets — version 1, signed, when
 * any offset is negative). Sample data is copied once into the fragment's buffer.
 */
import type { AudioTrackInfo, TrackInfo, VideoTrackInfo } from '../tracks';
import { box, fullBox, MATRIX, u16, u32, u64, u8, zeros } from './boxes';

/** sample_flags of a sync sample (sample_depends_on = 2: depends on no other) */
export const SYNC_FLAGS = 0x02000000;
/** sample_flags of a non-sync sample (depends on others, sample_is_non_sync_sample = 1) */
export const NON_SYNC_FLAGS = 0x01010000;

export interface InitOptions {
  /** movie duration in ms (0 while live/recording) */
  durationMs?: number;
  /** per track durations in the track's timescale (same order as the tracks) */
  trackDurations?: number[];
}

/** Where a recorder patches durations in place once a recording is finished (byte offsets). */
export interface DurationFields {
  /** mvhd duration (u64, movie timescale 1000) */
  mvhd: number;
  /** mehd fragment_duration (u64, movie timescale 1000) */
  mehd: number;
  /** per track: tkhd duration (u64, movie timescale) and mdhd duration (u64, track timescale) */
  tracks: Array<{ tkhd: number; mdhd: number }>;
}

export const MOVIE_TIMESCALE = 1000;

export function ftyp(): Buffer {
  return box('ftyp', Buffer.from('iso5', 'latin1'), u32(512), Buffer.from('iso5iso6mp41cmfc', 'latin1'));
}

/** ftyp + moov for these tracks (track ids 1..n in order). */
export function initSegment(tracks: TrackInfo[], opts: InitOptions = {}): { data: Buffer; fields: DurationFields } {
  const durationMs = opts.durationMs ?? 0;
  const traks = tracks.map((t, i) => trak(t, i + 1, durationMs, opts.trackDurations?.[i] ?? 0));
  const mvex = box('mvex', fullBox('mehd', 1, 0, u64(durationMs)), ...tracks.map((_, i) => fullBox('trex', 0, 0, u32(i + 1, 1, 0, 0, 0))));
  const moov = box('moov', mvhd(durationMs, tracks.length + 1), ...traks, mvex);
  const head = ftyp();
  const data = Buffer.concat([head, moov]);
  return { data, fields: locateDurations(data, head.length) };
}

function mvhd(durationMs: number, nextTrack: number): Buffer {
  return fullBox('mvhd', 1, 0, u64(0), u64(0), u32(MOVIE_TIMESCALE), u64(durationMs), u32(0x00010000), u16(0x0100), zeros(10), MATRIX, zeros(24), u32(nextTrack));
}

function trak(t: TrackInfo, id: number, durationMs: number, mediaDuration: number): Buffer {
  const video = t.kind === 'video';
  const width = video ? Math.round((t.width * t.sarWidth) / t.sarHeight) : 0;
  const height = video ? t.height : 0;
  const tkhd = fullBox('tkhd', 1, 3, u64(0), u64(0), u32(id, 0), u64(durationMs), zeros(8), u16(0, 0, video ? 0 : 0x0100, 0), MATRIX, u32(width * 0x10000, height * 0x10000));
  const mdhd = fullBox('mdhd', 1, 0, u64(0), u64(0), u32(t.timescale), u64(mediaDuration), u16(0x55c4, 0));
  const hdlr = fullBox('hdlr', 0, 0, u32(0), Buffer.from(video ? 'vide' : 'soun', 'latin1'), zeros(12), Buffer.from(video ? 'VideoHandler\0' : 'SoundHandler\0', 'latin1'));
  const mediaHeader = video ? fullBox('vmhd', 0, 1, zeros(8)) : fullBox('smhd', 0, 0, zeros(4));
  const dinf = box('dinf', fullBox('dref', 0, 0, u32(1), fullBox('url ', 0, 1)));
  const stbl = box(
    'stbl',
    fullBox('stsd', 0, 0, u32(1), video ? visualEntry(t) : audioEntry(t)),
    fullBox('stts', 0, 0, u32(0)),
    fullBox('stsc', 0, 0, u32(0)),
    fullBox('stsz', 0, 0, u32(0, 0)),
    fullBox('stco', 0, 0, u32(0)),
  );
  return box('trak', tkhd, box('mdia', mdhd, hdlr, box('minf', mediaHeader, dinf, stbl)));
}

function visualEntry(t: VideoTrackInfo): Buffer {
  const name = Buffer.alloc(32); // compressorname: a Pascal string, left empty
  const extra: Buffer[] = [box(t.codec === 'avc' ? 'avcC' : 'hvcC', t.config)];
  if (t.sarWidth !== t.sarHeight) extra.push(box('pasp', u32(t.sarWidth, t.sarHeight)));
  return box(
    t.codec === 'avc' ? 'avc1' : 'hvc1',
    zeros(6), u16(1), // reserved, data_reference_index
    zeros(16), // pre_defined, reserved
    u16(t.width, t.height),
    u32(0x00480000, 0x00480000, 0), // 72 dpi, reserved
    u16(1), name, u16(0x0018, 0xffff),
    ...extra,
  );
}

function audioEntry(t: AudioTrackInfo): Buffer {
  return box(
    'mp4a',
    zeros(6), u16(1),
    zeros(8), // version, revision, vendor
    u16(t.channels || 2, 16), zeros(4),
    u32(t.sampleRate <= 0xffff ? t.sampleRate * 0x10000 : 0),
    esds(t),
  );
}

/** ES_Descriptor (ISO 14496-1 7.2.6.5) carrying the AudioSpecificConfig. */
function esds(t: AudioTrackInfo): Buffer {
  const dsi = descriptor(0x05, t.config);
  const dcd = descriptor(0x04, u8(0x40, 0x15), u8(0, 0, 0), u32(0, 0), dsi); // MPEG-4 audio, audio stream
  const sl = descriptor(0x06, u8(0x02));
  return fullBox('esds', 0, 0, descriptor(0x03, u16(0), u8(0), dcd, sl));
}

function descriptor(tag: number, ...payload: Buffer[]): Buffer {
  const size = payload.reduce((n, b) => n + b.length, 0);
  // 4-byte size form, as most muxers write it
  const head = u8(tag, 0x80 | ((size >> 21) & 0x7f), 0x80 | ((size >> 14) & 0x7f), 0x80 | ((size >> 7) & 0x7f), size & 0x7f);
  return Buffer.concat([head, ...payload]);
}

/** Offsets of the duration fields in an init segment built by initSegment. */
function locateDurations(data: Buffer, moovAt: number): DurationFields {
  const fields: DurationFields = { mvhd: -1, mehd: -1, tracks: [] };
  const walk = (from: number, to: number) => {
    let o = from;
    while (o + 8 <= to) {
      const size = data.readUInt32BE(o);
      const type = data.toString('latin1', o + 4, o + 8);
      if (type === 'trak' || type === 'mdia' || type === 'mvex') {
        if (type === 'trak') fields.tracks.push({ tkhd: -1, mdhd: -1 });
        walk(o + 8, o + size);
      } else if (type === 'mvhd') fields.mvhd = o + 12 + 20; // version 1: 8+8 dates, 4 timescale
      else if (type === 'mehd') fields.mehd = o + 12;
      else if (type === 'tkhd') fields.tracks[fields.tracks.length - 1].tkhd = o + 12 + 24; // dates, id, reserved
      else if (type === 'mdhd') fields.tracks[fields.tracks.length - 1].mdhd = o + 12 + 20;
      o += size;
    }
  };
  walk(moovAt + 8, moovAt + data.readUInt32BE(moovAt));
  return fields;
}

export interface FragmentSample {
  /** in the track timescale */
  duration: number;
  /** composition offset in the track timescale */
  cto: number;
  key: boolean;
  data: Buffer;
}

export interface TrackRun {
  /** 1-based, as in the init segment */
  trackId: number;
  /** decode time of the first sample, track timescale */
  baseDts: number;
  /** true: every sample is a sync sample (audio) and per-sample flags are left out */
  allSync: boolean;
  samples: FragmentSample[];
}

/** moof + mdat of one fragment. Runs with no samples are skipped. */
export function fragment(sequence: number, runs: TrackRun[]): Buffer {
  runs = runs.filter((r) => r.samples.length > 0);
  // sizes first: moof = 8 + mfhd 16 + per traf (8 + tfhd 16 [+4] + tfdt 20 + trun 20 + n * per-sample)
  let moofSize = 8 + 16;
  let dataSize = 0;
  const layout = runs.map((r) => {
    const withCto = !r.allSync && r.samples.some((s) => s.cto !== 0);
    const withFlags = !r.allSync;
    const perSample = 8 + (withFlags ? 4 : 0) + (withCto ? 4 : 0);
    const trafSize = 8 + (16 + (r.allSync ? 4 : 0)) + 20 + 20 + r.samples.length * perSample;
    moofSize += trafSize;
    let bytes = 0;
    for (const s of r.samples) bytes += s.data.length;
    dataSize += bytes;
    return { withCto, withFlags, trafSize, bytes, signed: withCto && r.samples.some((s) => s.cto < 0) };
  });
  const total = moofSize + 8 + dataSize;
  const b = Buffer.allocUnsafe(total);
  let o = 0;
  const head = (size: number, type: string) => {
    b.writeUInt32BE(size, o);
    b.write(type, o + 4, 'latin1');
    o += 8;
  };
  head(moofSize, 'moof');
  head(16, 'mfhd');
  b.writeUInt32BE(0, o);
  b.writeUInt32BE(sequence >>> 0, o + 4);
  o += 8;
  let dataOffset = moofSize + 8;
  runs.forEach((r, i) => {
    const l = layout[i];
    head(l.trafSize, 'traf');
    // tfhd: default-base-is-moof, plus default sample flags for all-sync runs
    head(16 + (r.allSync ? 4 : 0), 'tfhd');
    b.writeUInt32BE(0x020000 | (r.allSync ? 0x20 : 0), o);
    b.writeUInt32BE(r.trackId, o + 4);
    o += 8;
    if (r.allSync) {
      b.writeUInt32BE(SYNC_FLAGS, o);
      o += 4;
    }
    head(20, 'tfdt');
    b.writeUInt32BE(0x01000000, o);
    b.writeBigUInt64BE(BigInt(Math.max(0, Math.round(r.baseDts))), o + 4);
    o += 12;
    const perSample = 8 + (l.withFlags ? 4 : 0) + (l.withCto ? 4 : 0);
    head(20 + r.samples.length * perSample, 'trun');
    const flags = 0x1 | 0x100 | 0x200 | (l.withFlags ? 0x400 : 0) | (l.withCto ? 0x800 : 0);
    b.writeUInt32BE(((l.signed ? 1 : 0) << 24) | flags, o);
    b.writeUInt32BE(r.samples.length, o + 4);
    b.writeInt32BE(dataOffset, o + 8);
    o += 12;
    for (const s of r.samples) {
      b.writeUInt32BE(Math.max(0, Math.round(s.duration)) >>> 0, o);
      b.writeUInt32BE(s.data.length, o + 4);
      o += 8;
      if (l.withFlags) {
        b.writeUInt32BE(s.key ? SYNC_FLAGS : NON_SYNC_FLAGS, o);
        o += 4;
      }
      if (l.withCto) {
        if (l.signed) b.writeInt32BE(Math.round(s.cto), o);
        else b.writeUInt32BE(Math.round(s.cto), o);
        o += 4;
      }
    }
    dataOffset += l.bytes;
  });
  head(8 + dataSize, 'mdat');
  for (const r of runs) for (const s of r.samples) o += s.data.copy(b, o);
  return b;
}
