/**
 * Records a publication to a fragmented MP4 file.
 *
 * While recording, the file is ftyp + moov (empty sample tables, mvex) then one moof + mdat per
 * fragment (a key frame every `fragmentMs` or more, one write each), so it is a valid, playable
 * fragmented MP4 at every fragment boundary: a crash or `kill -9` loses only the fragment being
 * built and what was queued for the disk. `close` finalises it in place, without moving any media:
 * the durations of mvhd, mehd, tkhd and mdhd (reserved at the start) are written, and an mfra index
 * (tfra: time → moof offset of every key fragment, plus mfro) is appended for seeking.
 *
 * Why fragmented rather than rewriting into a progressive file (moov with full sample tables):
 * finalisation stays O(index) whatever the length (no copy of gigabytes at stop, no second file
 * and no window where a crash leaves neither), the file is playable at every moment, and append
 * mode is just more fragments (the mfra is cut off and written again). Players and tools read
 * fragmented MP4 (ffmpeg, browsers' <video>, our MP4 reader); a progressive copy can be made
 * offline with `ffmpeg -i rec.mp4 -c copy -movflags +faststart out.mp4` when a tool needs one.
 *
 * Append mode continues a fragmented MP4 with the same tracks (same codec configurations): the
 * torn tail of a crash and the old index are cut off, timestamps continue from the end of the
 * longest track, fragment sequence numbers continue. A different track set or configuration,
 * at open (append) or during the recording, stops the recording with `error` set: a new file is
 * the integration's call.
 */
import { promises as fsp } from 'node:fs';
import type { MediaFrame } from '../../core/media';
import { MediaFormatError } from '../codecs/bits';
import { Ingest, type Sample } from '../ingest';
import { box, fullBox, u32, u64, u8 } from '../mp4/boxes';
import { fragment, initSegment, MOVIE_TIMESCALE, type FragmentSample, type TrackRun } from '../mp4/fmp4';
import { parseMP4, type DurationField } from '../mp4/parse';
import { audioTrack, sameTrack, videoTrack, type AudioTrackInfo, type TrackInfo, type VideoTrackInfo } from '../tracks';
import type { RecorderOptions, RecordingStats } from './flv-recorder';
import { FileWriter } from './writer';

export interface MP4RecorderOptions extends RecorderOptions {
  /** minimum fragment length (ms): a fragment starts at the first key frame after it */
  fragmentMs?: number;
  /** media time to wait for the second track's sequence header */
  probeMs?: number;
  /** known from metadata: which tracks to wait for */
  expect?: { video: boolean; audio: boolean };
}

/** Bytes of a fragment being built before it is written even without a key frame. */
const MAX_FRAGMENT_BYTES = 4 << 20;

interface TrackState {
  id: number;
  info: TrackInfo;
  pending: Sample[];
  /** decode time where the track's recorded samples end, track timescale */
  end: number;
  first: number;
  /** index entries: time (track timescale) → moof offset, traf number */
  index: Array<{ time: number; moof: number; traf: number }>;
}

interface Existing {
  video: TrackState | null;
  audio: TrackState | null;
  layout: Layout;
  /** next fragment sequence number */
  sequence: number;
  /** where the new frames' timeline starts (ms) */
  startMs: number;
  /** where the file's valid content ends (torn tail and old mfra cut off) */
  end: number;
}

interface Layout {
  movieTimescale: number;
  mvhd: DurationField | null;
  mehd: DurationField | null;
  tracks: Map<number, { tkhd: DurationField | null; mdhd: DurationField | null }>;
}

export class MP4Recorder {
  private readonly ingest: Ingest;
  private video: TrackState | null = null;
  private audio: TrackState | null = null;
  private layout: Layout | null = null;
  private sequence = 1;
  private pendingBytes = 0;
  private frames = 0;
  private dropped = 0;
  private failure: Error | null = null;
  private closing: Promise<RecordingStats> | null = null;
  private readonly fragmentMs: number;

  private constructor(
    private readonly writer: FileWriter,
    private readonly opts: MP4RecorderOptions,
    /** an appended file: its tracks, layout and where it ends */
    private readonly existing: Existing | null,
  ) {
    this.fragmentMs = Math.max(0, opts.fragmentMs ?? 1000);
    this.ingest = new Ingest(
      { tracks: (v, a, change) => this.onTracks(v, a, change), sample: (s) => this.onSample(s), discontinuity: () => undefined },
      { probeMs: opts.probeMs, expect: opts.expect, startMs: existing?.startMs ?? 0 },
    );
  }

  static async open(path: string, opts: MP4RecorderOptions = {}): Promise<MP4Recorder> {
    const maxQueuedBytes = opts.maxQueuedBytes ?? 8 << 20;
    if (opts.append) {
      const st = await fsp.stat(path).catch(() => null);
      if (st && st.size > 0) {
        const existing = await readExisting(path, st.size);
        const writer = await FileWriter.open(path, { truncate: false, maxQueuedBytes });
        if (existing.end < st.size) writer.truncate(existing.end);
        return new MP4Recorder(writer, opts, existing);
      }
    }
    return new MP4Recorder(await FileWriter.open(path, { truncate: true, maxQueuedBytes }), opts, null);
  }

  /** Why recording stopped early (tracks changed, disk error), or null. */
  get error(): Error | null {
    return this.failure ?? this.writer.error;
  }

  get stats(): RecordingStats {
    return { frames: this.frames, droppedFrames: this.dropped + this.ingest.dropped, bytes: this.writer.position, durationMs: this.durationMs() };
  }

  write(frame: MediaFrame): void {
    if (this.closing || this.error) return;
    this.ingest.push(frame.type, frame.time, frame.payload);
  }

  private onTracks(video: VideoTrackInfo | null, audio: AudioTrackInfo | null, change: boolean): void {
    if (change) {
      this.fail('the codec configuration changed: recording stopped (a new file is needed)');
      return;
    }
    const ex = this.existing;
    if (ex) {
      if (!sameTrack(ex.video?.info ?? null, video) || !sameTrack(ex.audio?.info ?? null, audio)) {
        this.fail('the publication does not have the tracks of the file to append to (codec or configuration differ)');
        return;
      }
      this.video = ex.video;
      this.audio = ex.audio;
      this.layout = ex.layout;
      this.sequence = ex.sequence;
      return;
    }
    const tracks: TrackInfo[] = [];
    let id = 1;
    if (video) {
      this.video = { id: id++, info: video, pending: [], end: -1, first: -1, index: [] };
      tracks.push(video);
    }
    if (audio) {
      this.audio = { id: id++, info: audio, pending: [], end: -1, first: -1, index: [] };
      tracks.push(audio);
    }
    const init = initSegment(tracks);
    const fields = init.fields;
    this.layout = {
      movieTimescale: MOVIE_TIMESCALE,
      mvhd: { at: fields.mvhd, bytes: 8 },
      mehd: { at: fields.mehd, bytes: 8 },
      tracks: new Map(fields.tracks.map((f, i) => [i + 1, { tkhd: { at: f.tkhd, bytes: 8 }, mdhd: { at: f.mdhd, bytes: 8 } }])),
    };
    if (!this.writer.append([init.data])) this.fail('the init segment could not be queued');
  }

  private fail(message: string): void {
    if (this.failure) return;
    this.failure = new MediaFormatError(message);
    this.flushFragment(undefined);
  }

  private onSample(s: Sample): void {
    if (this.failure) return;
    const st = s.track.kind === 'video' ? this.video : this.audio;
    if (!st) return;
    const primary = this.video ?? this.audio!;
    if (st === primary && primary.pending.length && (s.key || s.track.kind === 'audio')) {
      const span = ((s.dts - primary.pending[0].dts) * 1000) / primary.info.timescale;
      if (span >= this.fragmentMs) this.flushFragment(s.dts);
    }
    st.pending.push(s);
    this.pendingBytes += s.data.length;
    this.frames++;
    if (this.pendingBytes > MAX_FRAGMENT_BYTES) this.flushFragment(undefined);
  }

  /** Writes the pending samples as one fragment; `boundary`: primary decode time where the next starts. */
  private flushFragment(boundary: number | undefined): void {
    const states = [this.video, this.audio].filter((t): t is TrackState => !!t && t.pending.length > 0);
    if (!states.length) return;
    const primary = this.video ?? this.audio!;
    const runs: TrackRun[] = states.map((t) => ({
      trackId: t.id,
      baseDts: t.pending[0].dts,
      allSync: t.info.kind === 'audio',
      samples: durations(t, t === primary ? boundary : undefined),
    }));
    const moofAt = this.writer.position;
    const data = fragment(this.sequence, runs);
    const count = states.reduce((n, t) => n + t.pending.length, 0);
    if (this.writer.append([data])) {
      this.sequence++;
      runs.forEach((run, i) => {
        const t = states[i];
        if (t.first < 0) t.first = run.baseDts;
        const last = run.samples[run.samples.length - 1];
        t.end = t.pending[t.pending.length - 1].dts + last.duration;
        if (run.samples[0].key) t.index.push({ time: run.baseDts, moof: moofAt, traf: i + 1 });
      });
    } else {
      this.dropped += count; // the disk is behind: this fragment is lost, the next one goes on
      this.frames -= count;
    }
    for (const t of states) t.pending = [];
    this.pendingBytes = 0;
  }

  private durationMs(): number {
    let end = 0;
    for (const t of [this.video, this.audio]) if (t && t.end > 0) end = Math.max(end, (t.end * 1000) / t.info.timescale);
    return Math.round(end);
  }

  /** Resolves when what was written so far is in the file (not synced): for callers pacing writes. */
  drained(): Promise<void> {
    return this.writer.drain();
  }

  /** Writes the last fragment, the durations and the mfra index, then closes the file. */
  close(): Promise<RecordingStats> {
    this.closing ??= (async () => {
      this.ingest.finish();
      this.flushFragment(undefined);
      const layout = this.layout;
      if (layout && !this.writer.error) {
        const durationMs = this.durationMs();
        const movie = (durationMs * layout.movieTimescale) / 1000;
        const put = (f: DurationField | null, v: number) => {
          if (!f) return;
          const b = Buffer.alloc(f.bytes);
          if (f.bytes === 8) b.writeBigUInt64BE(BigInt(Math.round(v)));
          else b.writeUInt32BE(Math.min(0xffffffff, Math.round(v)));
          this.writer.patch(f.at, b);
        };
        put(layout.mvhd, movie);
        put(layout.mehd, movie);
        for (const t of [this.video, this.audio]) {
          if (!t || t.end < 0) continue;
          const f = layout.tracks.get(t.id);
          put(f?.tkhd ?? null, ((t.end - Math.max(0, t.first)) * layout.movieTimescale) / t.info.timescale);
          put(f?.mdhd ?? null, t.end - Math.max(0, t.first));
        }
        this.writer.append([mfra([this.video, this.audio].filter((t): t is TrackState => !!t))]);
      }
      await this.writer.close(this.opts.sync ?? true);
      return this.stats;
    })();
    return this.closing;
  }
}

/** Sample durations of a track's pending run; the last one from `boundary` or the track's cadence. */
function durations(t: TrackState, boundary: number | undefined): FragmentSample[] {
  const list = t.pending;
  return list.map((s, i) => {
    const next = i + 1 < list.length ? list[i + 1].dts : boundary;
    let duration: number;
    if (next !== undefined && next > s.dts) duration = next - s.dts;
    else if (t.info.kind === 'audio') duration = t.info.frameSamples;
    else duration = i > 0 ? s.dts - list[i - 1].dts : t.info.timescale / 25;
    return { duration, cto: s.cto, key: s.key, data: s.data };
  });
}

/** mfra: one tfra per track (version 1, 1-byte traf/trun/sample numbers) and mfro. */
function mfra(tracks: TrackState[]): Buffer {
  const tfras = tracks.map((t) => {
    const entries = t.index.flatMap((e) => [u64(e.time), u64(e.moof), u8(e.traf, 1, 1)]);
    return fullBox('tfra', 1, 0, u32(t.id, 0, t.index.length), ...entries);
  });
  const size = 8 + tfras.reduce((n, b) => n + b.length, 0) + 16;
  return box('mfra', ...tfras, fullBox('mfro', 0, 0, u32(size)));
}

async function readExisting(path: string, size: number): Promise<Existing> {
  const fh = await fsp.open(path, 'r');
  try {
    const p = await parseMP4(fh, size).catch((e: Error) => {
      throw new MediaFormatError(`cannot append to ${path}: ${e.message}`);
    });
    if (!p.fragmented && p.tracks.some((t) => t.samples.count > 0)) throw new MediaFormatError(`cannot append to ${path}: not a fragmented MP4`);
    const state = (kind: 'video' | 'audio'): TrackState | null => {
      const t = p.tracks.find((x) => x.handler === (kind === 'video' ? 'vide' : 'soun'));
      if (!t || !t.config) return null;
      let info: TrackInfo;
      try {
        info = kind === 'video' ? videoTrack(t.entry.startsWith('avc') ? 'avc' : 'hevc', t.config) : audioTrack(t.config);
      } catch (e) {
        throw new MediaFormatError(`cannot append to ${path}: ${(e as Error).message}`);
      }
      const index: TrackState['index'] = [];
      for (const f of p.fragments) {
        f.trafs.forEach((tr, i) => {
          if (tr.trackId === t.id && tr.firstKey) index.push({ time: tr.firstDts, moof: f.offset, traf: i + 1 });
        });
      }
      const first = t.samples.count ? t.samples.dts[0] : -1;
      return { id: t.id, info, pending: [], end: t.samples.count ? t.endDts : -1, first, index };
    };
    const video = state('video');
    const audio = state('audio');
    if (!video && !audio) throw new MediaFormatError(`cannot append to ${path}: no H.264/H.265 or AAC track`);
    const m = p.moov!;
    let startMs = 0;
    for (const t of [video, audio]) if (t && t.end > 0) startMs = Math.max(startMs, (t.end * 1000) / t.info.timescale);
    const end = p.mfra >= 0 ? Math.min(p.mfra, p.validEnd) : p.validEnd;
    return {
      video, audio, startMs: Math.ceil(startMs),
      sequence: p.fragments.reduce((n, f) => Math.max(n, f.sequence), 0) + 1,
      layout: { movieTimescale: p.movieTimescale, mvhd: m.mvhd, mehd: m.mehd, tracks: m.tracks },
      end,
    };
  } finally {
    await fh.close();
  }
}
