/**
 * HLS of a media file (VOD): segments cut on the file's key frames near the target duration,
 * listed in a playlist with EXT-X-PLAYLIST-TYPE:VOD and EXT-X-ENDLIST, and muxed on request (fMP4
 * with one fragment per segment, or MPEG-TS) from the frames between two key frames: nothing is
 * muxed ahead and only the requested segment is in memory.
 */
import { MediaType } from '../../core/media';
import type { MediaFileReader } from '../files/reader';
import { Ingest, type Sample } from '../ingest';
import { fragment, initSegment, type FragmentSample, type TrackRun } from '../mp4/fmp4';
import { TSMuxer } from '../mpegts';
import type { TrackInfo } from '../tracks';
import { renderMediaPlaylist, renderMultivariant, type MediaPlaylist } from './playlist';
import type { HLSFormat, HLSResource } from './segmenter';

export interface VodOptions {
  /** target segment duration, ms (segments end on the first key frame at or after it) */
  durationMs?: number;
  uriPrefix?: string;
}

export class VodHLS {
  /** [start, end) of each segment, ms of the file's timeline */
  readonly segments: ReadonlyArray<{ start: number; end: number }>;
  readonly targetDuration: number;
  private readonly prefix: string;
  private readonly tracks: TrackInfo[];
  private init: Buffer | null = null;

  constructor(private readonly reader: MediaFileReader, opts: VodOptions = {}) {
    this.prefix = opts.uriPrefix ?? '';
    const target = Math.max(1000, opts.durationMs ?? 6000);
    const points = reader.seekPoints.length ? reader.seekPoints : [0];
    const end = Math.max(reader.durationMs, points[points.length - 1] + 1);
    const segments: Array<{ start: number; end: number }> = [];
    let start = points[0];
    for (const p of points) {
      // a key frame within 50 ms of the target ends the segment (timestamps are whole ms)
      if (p > start && p - start >= target - 50) {
        segments.push({ start, end: p });
        start = p;
      }
    }
    segments.push({ start, end });
    this.segments = segments;
    this.targetDuration = Math.max(1, ...segments.map((s) => Math.round((s.end - s.start) / 1000)));
    this.tracks = [reader.video, reader.audio].filter((t): t is NonNullable<typeof t> => t !== null);
  }

  playlist(format: HLSFormat = 'fmp4'): string {
    const p: MediaPlaylist = {
      version: format === 'ts' ? 3 : 7, targetDuration: this.targetDuration, mediaSequence: 0, discontinuitySequence: 0,
      ended: true, vod: true,
      segments: this.segments.map((s, i) => ({
        msn: i, duration: (s.end - s.start) / 1000, discontinuity: false, programDateTime: NaN,
        uri: `${this.prefix}${i}.${format === 'ts' ? 'ts' : 'm4s'}`, map: format === 'fmp4' ? `${this.prefix}init0.mp4` : undefined,
      })),
    };
    return renderMediaPlaylist(p);
  }

  multivariant(variants: Array<{ uri: string; format: HLSFormat }>): string {
    let peak = 0;
    for (const s of this.segments) peak = Math.max(peak, (this.reader.bytesBetween(s.start, s.end) * 8 * 1000) / Math.max(1, s.end - s.start));
    const total = this.reader.bytesBetween(0, Infinity);
    const v = this.reader.video;
    return renderMultivariant(
      variants.map((x) => ({
        uri: x.uri, bandwidth: peak, averageBandwidth: (total * 8 * 1000) / Math.max(1, this.reader.durationMs),
        codecs: this.tracks.map((t) => t.codecString),
        resolution: v ? { width: Math.round((v.width * v.sarWidth) / v.sarHeight), height: v.height } : undefined,
      })),
    );
  }

  /** `init0.mp4`, `<i>.m4s` or `<i>.ts`; null when unknown. */
  async resource(name: string): Promise<HLSResource | null> {
    if (name === 'init0.mp4') {
      this.init ??= initSegment(this.tracks).data;
      return { contentType: this.reader.video ? 'video/mp4' : 'audio/mp4', chunks: [this.init], size: this.init.length };
    }
    const m = /^(\d+)\.(m4s|ts)$/.exec(name);
    if (!m || Number(m[1]) >= this.segments.length) return null;
    const data = await this.segment(Number(m[1]), m[2] === 'ts' ? 'ts' : 'fmp4');
    return { contentType: m[2] === 'ts' ? 'video/mp2t' : this.reader.video ? 'video/mp4' : 'audio/mp4', chunks: [data], size: data.length };
  }

  /** One segment muxed from the file. */
  async segment(index: number, format: HLSFormat): Promise<Buffer> {
    const seg = this.segments[index];
    const video: Sample[] = [];
    const audio: Sample[] = [];
    const ingest = new Ingest(
      { tracks: () => undefined, sample: (s) => (s.track.kind === 'video' ? video : audio).push(s), discontinuity: () => undefined },
      { startMs: seg.start, expect: { video: !!this.reader.video, audio: !!this.reader.audio }, probeMs: 0 },
    );
    if (this.reader.videoConfig) ingest.push(MediaType.Video, seg.start, this.reader.videoConfig);
    if (this.reader.audioConfig) ingest.push(MediaType.Audio, seg.start, this.reader.audioConfig);
    // the last segment reads to the end of the file (its end is the duration, an estimate)
    const to = index === this.segments.length - 1 ? Infinity : seg.end;
    for await (const f of this.reader.frames(seg.start, to)) ingest.push(f.type, f.time, f.payload);
    ingest.finish();
    if (format === 'fmp4') {
      const runs: TrackRun[] = [];
      let id = 1;
      for (const t of this.tracks) {
        const list = t.kind === 'video' ? video : audio;
        const end = t.kind === 'video' ? Math.round(seg.end * 90) : undefined;
        runs.push({ trackId: id++, baseDts: list.length ? list[0].dts : 0, allSync: t.kind === 'audio', samples: withDurations(list, t, end) });
      }
      return fragment(index + 1, runs);
    }
    const ts = new TSMuxer();
    ts.resume(index);
    const out: Buffer[] = [ts.tables(this.reader.video, this.reader.audio)];
    let vi = 0;
    let ai = 0;
    // interleave by decode time, as a player reads them
    while (vi < video.length || ai < audio.length) {
      const v = video[vi];
      const a = audio[ai];
      const aTime = a ? (a.dts * 90000) / a.track.timescale : Infinity;
      if (v && v.dts <= aTime) {
        if (v.track.kind === 'video') out.push(ts.video(v.track, v.data, v.key, v.dts, v.dts + v.cto, true));
        vi++;
      } else {
        if (a.track.kind === 'audio') {
          const packets = ts.audio(a.track, a.data, aTime, video.length === 0 && !this.reader.video);
          if (packets) out.push(packets);
        }
        ai++;
      }
    }
    return Buffer.concat(out);
  }
}

function withDurations(list: Sample[], t: TrackInfo, end: number | undefined): FragmentSample[] {
  return list.map((s, i) => {
    const next = i + 1 < list.length ? list[i + 1].dts : end;
    let duration: number;
    if (next !== undefined && next > s.dts) duration = next - s.dts;
    else if (t.kind === 'audio') duration = t.frameSamples;
    else duration = i > 0 ? s.dts - list[i - 1].dts : t.timescale / 25;
    return { duration, cto: s.cto, key: s.key, data: s.data };
  });
}
