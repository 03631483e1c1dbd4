/**
 * MP4 files (progressive or fragmented) as publication frames for VOD: the first H.264/H.265 video
 * track and the first AAC audio track, their samples turned into FLV tag bodies (avcC/hvcC +
 * length-prefixed NAL units → AVC packets or enhanced-RTMP HEVC; esds → AAC sequence header + raw
 * frames), merged by time. Edit lists are applied (the presentation of each track starts where
 * its first edit says, e.g. without the AAC priming samples), then the whole timeline is shifted so
 * that no frame time is negative. Sample data is read through a window buffer as frames are
 * consumed; only the sample tables (a few bytes per sample) stay in memory.
 */
import { promises as fsp } from 'node:fs';
import { MediaType } from '../../core/media';
import { encodeAMF0 } from '../../serialization/amf0';
import { Table } from '../../serialization/value';
import { MediaFormatError } from '../codecs/bits';
import { aacTagBody, videoTagBody } from '../codecs/flv-body';
import { parseMP4, type ParsedMP4, type ParsedTrack } from '../mp4/parse';
import { audioTrack, videoTrack, type AudioTrackInfo, type VideoTrackInfo } from '../tracks';
import { seekIndex, WindowReader, type FileFrame, type MediaFileReader } from './reader';

const AUDIO_SEEK_MS = 1000;

interface TrackView {
  t: ParsedTrack;
  /** ms of sample i: (dts - shift) / timescale * 1000 + delay + global shift */
  time(i: number): number;
}

export class MP4FileReader implements MediaFileReader {
  readonly format = 'mp4';
  readonly durationMs: number;
  readonly video: VideoTrackInfo | null = null;
  readonly audio: AudioTrackInfo | null = null;
  readonly videoConfig: Buffer | null = null;
  readonly audioConfig: Buffer | null = null;
  readonly metadata: Buffer;
  readonly seekPoints: readonly number[];
  /** why a track of the file is not played (unsupported codec, unreadable configuration) */
  readonly skipped: string[] = [];
  private readonly vt: TrackView | null = null;
  private readonly at: TrackView | null = null;

  private constructor(private readonly fh: fsp.FileHandle, readonly path: string, private readonly size: number, readonly parsed: ParsedMP4) {
    let vTrack: ParsedTrack | null = null;
    let aTrack: ParsedTrack | null = null;
    for (const t of parsed.tracks) {
      if (t.handler === 'vide' && !vTrack) {
        const codec = t.entry === 'avc1' || t.entry === 'avc3' ? 'avc' : t.entry === 'hvc1' || t.entry === 'hev1' ? 'hevc' : null;
        if (!codec || !t.config) this.skipped.push(`video track ${t.id}: ${t.entry || 'no sample entry'} not supported`);
        else {
          try {
            this.video = videoTrack(codec, t.config);
            this.videoConfig = videoTagBody(codec, 'config', true, 0, t.config);
            vTrack = t;
          } catch (e) {
            this.skipped.push(`video track ${t.id}: ${(e as Error).message}`);
          }
        }
      } else if (t.handler === 'soun' && !aTrack) {
        if (t.entry !== 'mp4a' || ![0x40, 0x66, 0x67, 0x68].includes(t.objectType) || !t.config?.length) {
          this.skipped.push(`audio track ${t.id}: ${t.entry || 'no sample entry'} (object type ${t.objectType}) not supported`);
        } else {
          try {
            this.audio = audioTrack(t.config);
            this.audioConfig = aacTagBody('config', t.config);
            aTrack = t;
          } catch (e) {
            this.skipped.push(`audio track ${t.id}: ${(e as Error).message}`);
          }
        }
      }
    }
    if (!vTrack && !aTrack) throw new MediaFormatError(`no playable track in ${path}${this.skipped.length ? ` (${this.skipped.join('; ')})` : ''}`);
    // per-track start, then one shift so the earliest frame is at 0 or later
    const base = (t: ParsedTrack) => (i: number) => ((t.samples.dts[i] - t.editShift) / t.timescale) * 1000 + (t.editDelay / parsed.movieTimescale) * 1000;
    const starts = [vTrack, aTrack].filter((t): t is ParsedTrack => !!t && t.samples.count > 0).map((t) => base(t)(0));
    const shift = Math.max(0, -Math.min(0, ...starts));
    const view = (t: ParsedTrack | null): TrackView | null => {
      if (!t) return null;
      const b = base(t);
      return { t, time: (i) => Math.round(b(i) + shift) };
    };
    this.vt = view(vTrack);
    this.at = view(aTrack);
    let end = 0;
    for (const v of [this.vt, this.at]) {
      if (!v || !v.t.samples.count) continue;
      const s = v.t.samples;
      const last = s.count - 1;
      const lastDuration = s.count > 1 ? s.dts[last] - s.dts[last - 1] : 0;
      end = Math.max(end, v.time(last) + (lastDuration / v.t.timescale) * 1000);
    }
    this.durationMs = Math.round(end);
    this.seekPoints = this.buildSeekPoints();
    this.metadata = this.buildMetadata();
  }

  static async open(path: string): Promise<MP4FileReader> {
    const fh = await fsp.open(path, 'r');
    try {
      const size = (await fh.stat()).size;
      return new MP4FileReader(fh, path, size, await parseMP4(fh, size));
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  private buildSeekPoints(): number[] {
    const points: number[] = [];
    if (this.vt) {
      const s = this.vt.t.samples;
      for (let i = 0; i < s.count; i++) if (s.key[i]) points.push(this.vt.time(i));
    } else if (this.at) {
      const s = this.at.t.samples;
      let last = -Infinity;
      for (let i = 0; i < s.count; i++) {
        const t = this.at.time(i);
        if (t - last >= AUDIO_SEEK_MS) points.push((last = t));
      }
    }
    return points;
  }

  private buildMetadata(): Buffer {
    const m = new Table();
    m.set('duration', this.durationMs / 1000);
    if (this.video) {
      m.set('width', this.video.width);
      m.set('height', this.video.height);
      m.set('videocodecid', this.video.codec === 'avc' ? 7 : 12);
      const s = this.vt!.t.samples;
      if (s.count > 1) m.set('framerate', Math.round(((s.count - 1) * this.vt!.t.timescale * 1000) / (s.dts[s.count - 1] - s.dts[0])) / 1000);
    }
    if (this.audio) {
      m.set('audiocodecid', 10);
      m.set('audiosamplerate', this.audio.sampleRate);
      m.set('stereo', this.audio.channels >= 2);
    }
    return encodeAMF0('onMetaData', m);
  }

  /** First sample index of a track with time ≥ ms (count when none). */
  private firstAt(v: TrackView, ms: number, keyOnly: boolean): number {
    const s = v.t.samples;
    let lo = 0;
    let hi = s.count;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (v.time(mid) < ms) lo = mid + 1;
      else hi = mid;
    }
    if (keyOnly) while (lo < s.count && !s.key[lo]) lo++;
    return lo;
  }

  async *frames(fromMs = 0, toMs = Infinity): AsyncGenerator<FileFrame> {
    // before the first seek point: every sample (audio may precede the first key frame)
    const start = this.seekPoints.length && fromMs >= this.seekPoints[0] ? this.seekPoints[seekIndex(this.seekPoints, fromMs)] : -Infinity;
    let vi = this.vt && start > -Infinity ? this.firstAt(this.vt, start, true) : 0;
    let ai = this.at && start > -Infinity ? this.firstAt(this.at, start, false) : 0;
    const r = new WindowReader(this.fh, this.size);
    for (;;) {
      const vTime = this.vt && vi < this.vt.t.samples.count ? this.vt.time(vi) : Infinity;
      const aTime = this.at && ai < this.at.t.samples.count ? this.at.time(ai) : Infinity;
      const useVideo = vTime <= aTime;
      const time = useVideo ? vTime : aTime;
      if (time === Infinity || time >= toMs) return;
      const v = (useVideo ? this.vt : this.at)!;
      const i = useVideo ? vi++ : ai++;
      const s = v.t.samples;
      const data = await r.read(s.offset[i], s.size[i]);
      if (data.length < s.size[i]) return; // the file ends inside this sample
      if (useVideo) {
        const cts = (s.cto[i] / v.t.timescale) * 1000;
        yield { type: MediaType.Video, time, payload: videoTagBody(this.video!.codec, 'frame', s.key[i] === 1, cts, data) };
      } else yield { type: MediaType.Audio, time, payload: aacTagBody('frame', data) };
    }
  }

  bytesBetween(fromMs: number, toMs: number): number {
    let n = 0;
    for (const v of [this.vt, this.at]) {
      if (!v) continue;
      const s = v.t.samples;
      for (let i = this.firstAt(v, fromMs, false); i < s.count && v.time(i) < toMs; i++) n += s.size[i];
    }
    return n;
  }

  async close(): Promise<void> {
    await this.fh.close().catch(() => undefined);
  }
}
