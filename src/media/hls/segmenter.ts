/**
 * Live HLS for one publication: fed its frames as they come, it cuts segments on key frames near
 * the target duration, builds LL-HLS parts (fMP4/CMAF) and classic MPEG-TS segments from the same
 * cut points, keeps them in memory within bounds, renders the playlists and answers blocking
 * playlist reloads and preload-hint requests (RFC 8216bis 6.2.5.2) through promises. It does no
 * I/O: the HTTP layer maps URLs to `playlist()`, `resource()` and `request()`.
 *
 * Guarantees:
 * - every segment starts with a video key frame (audio-only: any frame), except a segment cut
 *   because its key frame was overdue (`forcedCuts`): the EXTINF of a segment, rounded, never
 *   exceeds EXT-X-TARGETDURATION, which is fixed once the first segment is complete (the playlist
 *   is served from then on: its value is max(target, first segment), so a publisher's key-frame
 *   interval longer than the target raises it once instead of breaking the rule later);
 * - parts are whole frames, at most PART-TARGET long (PART-TARGET = the configured part length
 *   plus half a frame interval, so timestamp jitter of up to half a frame keeps them within it;
 *   `partOverruns` counts parts a late frame still pushed over);
 * - media sequence numbers increase by one per segment, discontinuities (publisher restart, clock
 *   jump, new codec configuration) start a new segment with EXT-X-DISCONTINUITY, a new init
 *   segment (EXT-X-MAP) when the tracks changed, and a new EXT-X-PROGRAM-DATE-TIME anchor;
 * - memory: `segments` segments are listed (more if needed to cover three target durations, as
 *   the RFC asks of live playlists) and as many again are kept for clients still fetching them;
 *   older ones are dropped, and all of it (inits, parts, TS) is capped at `maxBytes` (oldest
 *   dropped first; a segment reaching a quarter of it is cut early).
 */
import { MediaType } from '../../core/media';
import { Ingest, type Sample } from '../ingest';
import { fragment, initSegment, type FragmentSample, type TrackRun } from '../mp4/fmp4';
import { TSMuxer } from '../mpegts';
import type { AudioTrackInfo, TrackInfo, VideoTrackInfo } from '../tracks';
import { PLAYLIST_TYPE, renderMediaPlaylist, renderMultivariant, type MediaPlaylist, type PlaylistPart, type PlaylistSegment, type Variant } from './playlist';

export interface HLSOptions {
  /** segments listed in the playlist (MonaServer2's `[publication] segments`) */
  segments?: number;
  /** target segment duration in ms (MonaServer2's `[publication] duration`); under 1000, 0 included: one key-frame interval, at least 1 s */
  durationMs?: number;
  /** LL-HLS part length in ms; 0: no parts (fMP4 segments only) */
  partMs?: number;
  /** bytes kept in memory for this publication (init segments, parts, segments) */
  maxBytes?: number;
  /** variants to build (both by default) */
  fmp4?: boolean;
  ts?: boolean;
  /** prefix of every URI written in playlists (relative to the playlist's URL) */
  uriPrefix?: string;
  /** how long a blocking request may be held, ms (default three target durations) */
  holdMs?: number;
  /** pending blocking requests at once; more are refused (503) */
  maxWaiters?: number;
  /** media time to wait for the second track's sequence header */
  probeMs?: number;
  /** known from metadata: which tracks to wait for */
  expect?: { video: boolean; audio: boolean };
  /** wall clock (ms) for EXT-X-PROGRAM-DATE-TIME */
  now?: () => number;
}

export const HLS_DEFAULTS = {
  segments: 5,
  durationMs: 2000,
  partMs: 500,
  maxBytes: 64 << 20,
  maxWaiters: 5000,
  probeMs: 1000,
};

export type HLSFormat = 'fmp4' | 'ts';

export interface HLSResource {
  contentType: string;
  /** the body: write these buffers in order */
  chunks: Buffer[];
  size: number;
}

/** ready: available now; timeout: held too long (answer 503); ended: the stream ended meanwhile */
export type WaitResult = 'ready' | 'timeout' | 'ended';

/** What to do with a playlist or resource request. */
export type RequestDecision =
  | { status: 200 }
  | { status: 200; wait: Promise<WaitResult> }
  | { status: 400 | 404 | 503; reason: string };

export interface HLSQuery {
  msn?: number;
  part?: number;
  skip: boolean;
}

/** Reads `_HLS_msn`, `_HLS_part`, `_HLS_skip` from a query string; an error text for bad values. */
export function parseHLSQuery(params: URLSearchParams): HLSQuery | { error: string } {
  const int = (name: string): number | undefined | null => {
    const v = params.get(name);
    if (v === null) return undefined;
    return /^\d{1,15}$/.test(v) ? Number(v) : null;
  };
  const msn = int('_HLS_msn');
  const part = int('_HLS_part');
  if (msn === null) return { error: '_HLS_msn is not a decimal integer' };
  if (part === null) return { error: '_HLS_part is not a decimal integer' };
  if (part !== undefined && msn === undefined) return { error: '_HLS_part without _HLS_msn' };
  const skip = params.get('_HLS_skip');
  return { msn, part, skip: skip === 'YES' || skip === 'v2' };
}

interface Pending {
  dts: number;
  cto: number;
  key: boolean;
  data: Buffer;
}

interface Part {
  index: number;
  /** seconds */
  duration: number;
  independent: boolean;
  data: Buffer;
}

interface Segment {
  msn: number;
  /** discontinuity sequence number */
  disc: number;
  discontinuity: boolean;
  initId: number;
  /** primary track decode time of the first sample, ticks */
  startDts: number;
  timescale: number;
  /** epoch ms */
  pdt: number;
  /** seconds, once complete */
  duration: number;
  complete: boolean;
  independent: boolean;
  parts: Part[];
  fmp4Bytes: number;
  tsChunks: Buffer[];
  tsBytes: number;
}

interface Waiter {
  msn: number;
  /** -1: the whole segment */
  part: number;
  done: (r: WaitResult) => void;
}

export interface HLSStats {
  bytes: number;
  segments: number;
  parts: number;
  forcedCuts: number;
  partOverruns: number;
  droppedSegments: number;
  /** frames the ingest dropped (undecodable, unsupported codec, before a key frame) */
  droppedFrames: number;
  waiters: number;
}

const INTERVALS = 8;
const COMMON_RATES = [24000 / 1001, 24, 25, 30000 / 1001, 30, 48, 50, 60000 / 1001, 60, 100, 120];

export class HLSSegmenter {
  readonly segmentsListed: number;
  readonly targetMs: number;
  readonly partMs: number;
  readonly maxBytes: number;
  readonly fmp4: boolean;
  readonly ts: boolean;
  /** EXT-X-TARGETDURATION (s), 0 until the first segment is complete */
  targetDuration = 0;
  /** PART-TARGET (s), 0 until the first segment is complete */
  partTarget = 0;
  readonly stats = { forcedCuts: 0, partOverruns: 0, droppedSegments: 0, parts: 0 };

  private readonly ingest: Ingest;
  private readonly prefix: string;
  private readonly now: () => number;
  private readonly maxWaiters: number;
  private readonly holdMsOption: number | undefined;
  private video: VideoTrackInfo | null = null;
  private audio: AudioTrackInfo | null = null;
  private initId = -1;
  private readonly inits = new Map<number, Buffer>();
  private readonly segments: Segment[] = [];
  private current: Segment | null = null;
  private pendingVideo: Pending[] = [];
  private pendingAudio: Pending[] = [];
  private partStart = 0;
  private partIndependent = false;
  private nextMsn = 0;
  private discSeq = 0;
  private nextDiscontinuity = false;
  private fragmentSeq = 1;
  private readonly tsMuxer = new TSMuxer();
  private intervals: number[] = [];
  private lastPrimaryDts = -1;
  /** primary samples counted for FRAME-RATE: first decode time and count since the tracks were set */
  private rate = { first: -1, count: 0 };
  private anchor: { wall: number; sec: number } | null = null;
  private bytes = 0;
  private ended = false;
  private readonly waiters = new Set<Waiter>();

  constructor(options: HLSOptions = {}) {
    this.segmentsListed = Math.max(1, Math.floor(options.segments ?? HLS_DEFAULTS.segments));
    this.targetMs = Math.max(1000, options.durationMs ?? HLS_DEFAULTS.durationMs);
    this.partMs = Math.max(0, options.partMs ?? HLS_DEFAULTS.partMs);
    this.maxBytes = options.maxBytes ?? HLS_DEFAULTS.maxBytes;
    this.fmp4 = options.fmp4 ?? true;
    this.ts = options.ts ?? true;
    if (!this.fmp4 && !this.ts) throw new Error('HLS needs at least one of fmp4 and ts');
    this.prefix = options.uriPrefix ?? '';
    this.now = options.now ?? Date.now;
    this.maxWaiters = options.maxWaiters ?? HLS_DEFAULTS.maxWaiters;
    this.holdMsOption = options.holdMs;
    this.ingest = new Ingest(
      {
        tracks: (v, a, change) => this.onTracks(v, a, change),
        sample: (s) => this.onSample(s),
        discontinuity: () => this.onDiscontinuity(),
      },
      // a gap longer than a segment may be cannot sit inside one: it is a discontinuity
      { probeMs: options.probeMs ?? HLS_DEFAULTS.probeMs, maxGapMs: Math.max(this.targetMs, 3000), expect: options.expect },
    );
  }

  /** Parts are made (fMP4 variant with a part length). */
  get lowLatency(): boolean {
    return this.fmp4 && this.partMs > 0;
  }

  /** Playlists can be served: the first segment is complete. */
  get ready(): boolean {
    return this.targetDuration > 0;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  get hasVideo(): boolean {
    return this.video !== null;
  }

  get hasAudio(): boolean {
    return this.audio !== null;
  }

  getStats(): HLSStats {
    let parts = 0;
    for (const s of this.segments) parts += s.parts.length;
    return {
      bytes: this.bytes, segments: this.segments.length, parts: parts + (this.current?.parts.length ?? 0),
      forcedCuts: this.stats.forcedCuts, partOverruns: this.stats.partOverruns, droppedSegments: this.stats.droppedSegments,
      droppedFrames: this.ingest.dropped, waiters: this.waiters.size,
    };
  }

  /** A publication frame (audio, video; data frames are ignored). */
  push(frame: { type: MediaType; time: number; payload: Buffer }): void {
    if (this.ended) return;
    this.ingest.push(frame.type, frame.time, frame.payload);
  }

  /**
   * A publisher starts (a publication observer's onStart). The first time it changes nothing; after
   * a previous publisher, the next segment follows a discontinuity and the timeline continues.
   */
  start(): void {
    this.stop();
    this.ended = false;
    this.ingest.restart();
  }

  /** The publisher left (onStop): what was received becomes a complete segment, no EXT-X-ENDLIST. */
  stop(): void {
    this.ingest.finish();
    this.closeSegment(undefined);
  }

  /** The publication is over: last segment closed, EXT-X-ENDLIST, waiting requests answered. */
  end(): void {
    if (this.ended) return;
    this.stop();
    this.ended = true;
    this.notify();
  }

  /** Releases everything: pending requests are answered 'ended'. */
  close(): void {
    this.ended = true;
    for (const w of [...this.waiters]) w.done('ended');
    this.segments.length = 0;
    this.current = null;
    this.inits.clear();
    this.bytes = 0;
  }

  // ---- ingest events ----

  private onTracks(video: VideoTrackInfo | null, audio: AudioTrackInfo | null, change: boolean): void {
    if (change) {
      this.closeSegment(undefined);
      this.nextDiscontinuity = true;
      this.anchor = null;
    }
    this.video = video;
    this.audio = audio;
    this.intervals = [];
    this.lastPrimaryDts = -1;
    this.rate = { first: -1, count: 0 };
    this.initId++;
    if (this.fmp4) {
      const init = initSegment(this.trackList()).data;
      this.inits.set(this.initId, init);
      this.bytes += init.length;
    }
  }

  private onDiscontinuity(): void {
    this.closeSegment(undefined);
    if (this.segments.length || this.current) this.nextDiscontinuity = true;
    this.anchor = null;
    this.lastPrimaryDts = -1;
  }

  private trackList(): TrackInfo[] {
    const list: TrackInfo[] = [];
    if (this.video) list.push(this.video);
    if (this.audio) list.push(this.audio);
    return list;
  }

  private primary(): TrackInfo | null {
    return this.video ?? this.audio;
  }

  private onSample(s: Sample): void {
    const primary = this.primary();
    if (!primary) return;
    if (s.track !== primary) {
      if (!this.current) return;
      this.pendingAudio.push(s);
      this.muxTS(s);
      return;
    }
    const ts = primary.timescale;
    if (this.lastPrimaryDts >= 0 && s.dts > this.lastPrimaryDts) {
      this.intervals.push(s.dts - this.lastPrimaryDts);
      if (this.intervals.length > INTERVALS) this.intervals.shift();
    }
    const d = this.frameInterval(primary);
    const video = primary.kind === 'video';
    const cur = this.current;
    if (!cur) {
      if (video && !s.key) return;
      this.startSegment(s);
    } else {
      const elapsed = (s.dts - cur.startDts) / ts;
      const targetSec = this.targetMs / 1000;
      let cut = (s.key || !video) && elapsed + d / ts / 2 >= targetSec;
      const limit = this.targetDuration ? this.targetDuration + 0.49 : 3 * targetSec;
      if (!cut && (elapsed + d / ts > limit || cur.fmp4Bytes + cur.tsBytes > this.maxBytes / 4)) {
        cut = true;
        this.stats.forcedCuts++;
      }
      if (cut) {
        this.closeSegment(s.dts);
        this.startSegment(s);
      } else if (this.lowLatency && (s.dts - this.partStart + d) / ts > this.partMs / 1000 + 1e-6) {
        this.closePart(s.dts);
        this.partStart = s.dts;
        this.partIndependent = s.key;
      }
    }
    (video ? this.pendingVideo : this.pendingAudio).push(s);
    this.muxTS(s);
    this.lastPrimaryDts = s.dts;
    if (this.rate.first < 0) this.rate.first = s.dts;
    this.rate.count++;
  }

  /** Frame interval estimate (ticks): the longest of the recent ones, so parts stay within target. */
  private frameInterval(track: TrackInfo): number {
    if (this.intervals.length) return Math.max(...this.intervals);
    return track.kind === 'audio' ? track.frameSamples : track.timescale / 25;
  }

  private startSegment(s: Sample): void {
    const primary = this.primary()!;
    const startSec = s.dts / primary.timescale;
    if (!this.anchor) this.anchor = { wall: this.now(), sec: startSec };
    const discontinuity = this.nextDiscontinuity;
    this.nextDiscontinuity = false;
    if (discontinuity) this.discSeq++;
    this.current = {
      msn: this.nextMsn++, disc: this.discSeq, discontinuity, initId: this.initId, startDts: s.dts, timescale: primary.timescale,
      pdt: this.anchor.wall + (startSec - this.anchor.sec) * 1000, duration: 0, complete: false,
      independent: s.key, parts: [], fmp4Bytes: 0, tsChunks: [], tsBytes: 0,
    };
    this.partStart = s.dts;
    this.partIndependent = s.key;
    if (this.ts) this.addTS(this.tsMuxer.tables(this.video, this.audio));
  }

  private muxTS(s: Sample): void {
    if (!this.ts || !this.current) return;
    if (s.track.kind === 'video') {
      this.addTS(this.tsMuxer.video(s.track, s.data, s.key, s.dts, s.dts + s.cto, true));
    } else {
      const pts = (s.dts * 90000) / s.track.timescale;
      const packets = this.tsMuxer.audio(s.track, s.data, pts, this.video === null);
      if (packets) this.addTS(packets);
    }
  }

  private addTS(b: Buffer): void {
    const cur = this.current!;
    cur.tsChunks.push(b);
    cur.tsBytes += b.length;
    this.bytes += b.length;
  }

  /** Closes the current part; `boundary`: primary decode time where the next part starts. */
  private closePart(boundary: number | undefined): void {
    const cur = this.current;
    if (!cur || (!this.pendingVideo.length && !this.pendingAudio.length)) return;
    const primary = this.primary()!;
    const primaryList = primary.kind === 'video' ? this.pendingVideo : this.pendingAudio;
    let end: number;
    if (boundary !== undefined) end = boundary;
    else if (primaryList.length) end = primaryList[primaryList.length - 1].dts + this.lastInterval(primary);
    else end = this.partStart;
    if (this.fmp4) {
      const runs: TrackRun[] = [];
      let id = 1;
      if (this.video) runs.push(this.run(id++, this.video, this.pendingVideo, primary === this.video ? end : undefined));
      if (this.audio) runs.push(this.run(id++, this.audio, this.pendingAudio, primary === this.audio ? end : undefined));
      const data = fragment(this.fragmentSeq++, runs);
      const duration = (end - this.partStart) / primary.timescale;
      if (this.partTarget && duration > this.partTarget + 0.0005) this.stats.partOverruns++;
      cur.parts.push({ index: cur.parts.length, duration, independent: this.partIndependent || primary.kind === 'audio', data });
      cur.fmp4Bytes += data.length;
      this.bytes += data.length;
      this.stats.parts++;
    }
    this.pendingVideo = [];
    this.pendingAudio = [];
    this.partStart = end;
    this.notify();
  }

  private lastInterval(track: TrackInfo): number {
    if (this.intervals.length) return this.intervals[this.intervals.length - 1];
    return track.kind === 'audio' ? track.frameSamples : track.timescale / 25;
  }

  private run(trackId: number, track: TrackInfo, list: Pending[], end: number | undefined): TrackRun {
    const samples: FragmentSample[] = list.map((p, i) => {
      const next = i + 1 < list.length ? list[i + 1].dts : end;
      let duration: number;
      if (next !== undefined && next > p.dts) duration = next - p.dts;
      else duration = track.kind === 'audio' ? track.frameSamples : this.lastInterval(track);
      return { duration, cto: p.cto, key: p.key, data: p.data };
    });
    return { trackId, baseDts: list.length ? list[0].dts : 0, allSync: track.kind === 'audio', samples };
  }

  private closeSegment(boundary: number | undefined): void {
    const cur = this.current;
    if (!cur) return;
    const primary = this.primary();
    this.closePart(boundary);
    const end = boundary ?? this.partStart;
    cur.duration = Math.max(0, (end - cur.startDts) / cur.timescale);
    cur.complete = true;
    this.current = null;
    if (cur.duration <= 0 || (!cur.parts.length && !cur.tsBytes)) {
      this.bytes -= cur.fmp4Bytes + cur.tsBytes;
      this.nextMsn--; // nothing in it: its number is reused
      if (cur.discontinuity) {
        this.discSeq--;
        this.nextDiscontinuity = true;
      }
      return;
    }
    this.segments.push(cur);
    if (!this.targetDuration) this.fixTargets(cur, primary);
    this.trim();
    this.notify();
  }

  /** Fixes EXT-X-TARGETDURATION and PART-TARGET once the first segment shows the stream's cadence. */
  private fixTargets(first: Segment, primary: TrackInfo | null): void {
    this.targetDuration = Math.max(1, Math.round(Math.max(this.targetMs / 1000, first.duration)));
    if (this.lowLatency) {
      const interval = primary ? this.frameInterval(primary) / primary.timescale : 0.04;
      const longest = Math.max(0, ...first.parts.map((p) => p.duration));
      this.partTarget = Math.ceil(Math.max(this.partMs / 1000 + interval / 2, longest) * 1000) / 1000;
    }
  }

  /** Complete segments listed in the playlist: `segments`, more if needed to span 3 target durations. */
  private listedCount(): number {
    let n = 0;
    let total = 0;
    for (let i = this.segments.length - 1; i >= 0; i--) {
      n++;
      total += this.segments[i].duration;
      if (n >= this.segmentsListed && total >= 3 * this.targetDuration) break;
    }
    return n;
  }

  private trim(): void {
    const keep = this.listedCount() + this.segmentsListed;
    while (this.segments.length > keep) this.drop();
    while (this.bytes > this.maxBytes && this.segments.length > 1) this.drop();
    const oldestInit = this.segments.length ? this.segments[0].initId : this.initId;
    for (const [id, data] of this.inits) {
      if (id < oldestInit && id !== this.initId) {
        this.inits.delete(id);
        this.bytes -= data.length;
      }
    }
  }

  private drop(): void {
    const s = this.segments.shift()!;
    this.bytes -= s.fmp4Bytes + s.tsBytes;
    this.stats.droppedSegments++;
  }

  // ---- requests ----

  /** Hold time of blocking requests (ms). */
  holdMs(): number {
    return this.holdMsOption ?? 3 * Math.max(this.targetDuration, this.targetMs / 1000) * 1000;
  }

  /**
   * A playlist request, with or without blocking reload parameters. 200 without `wait`: render
   * now; with `wait`: render when it resolves ('timeout': answer 503). 400: the request is too far
   * ahead (RFC 8216bis: msn beyond the last segment + 2, or a part beyond the Advance Part Limit).
   */
  request(q: { msn?: number; part?: number }): RequestDecision {
    if (q.part !== undefined && q.msn === undefined) return { status: 400, reason: '_HLS_part without _HLS_msn' };
    if (!this.ready) {
      if (this.ended) return { status: 404, reason: 'stream ended before its first segment' };
      return this.hold(-1, -1);
    }
    if (q.msn === undefined || this.ended) return { status: 200 };
    const lastMsn = this.segments.length ? this.segments[this.segments.length - 1].msn : -1;
    if (q.msn > lastMsn + 2) return { status: 400, reason: `_HLS_msn ${q.msn} is more than two segments ahead of ${lastMsn}` };
    const part = q.part === undefined || !this.lowLatency ? -1 : q.part;
    if (part >= 0 && this.partsAhead(q.msn, part) > this.advancePartLimit()) {
      return { status: 400, reason: `_HLS_part ${q.part} of ${q.msn} is beyond the advance part limit` };
    }
    if (this.available(q.msn, part)) return { status: 200 };
    return this.hold(q.msn, part);
  }

  /** Advance Part Limit of RFC 8216bis: 3 / PART-TARGET parts when it is under a second, else 3. */
  private advancePartLimit(): number {
    return this.partTarget < 1 ? Math.floor(3 / this.partTarget) : 3;
  }

  private newestPart(): [number, number] {
    if (this.current && this.current.parts.length) return [this.current.msn, this.current.parts.length - 1];
    const last = this.segments[this.segments.length - 1];
    return last ? [last.msn, Math.max(0, last.parts.length - 1)] : [-1, -1];
  }

  private partsAhead(msn: number, part: number): number {
    const [m, p] = this.newestPart();
    const perSegment = Math.max(1, Math.ceil(this.targetDuration / this.partTarget));
    return (msn - m) * perSegment + (part - p);
  }

  private available(msn: number, part: number): boolean {
    if (msn < 0) return this.ready;
    if (part < 0) {
      const last = this.segments[this.segments.length - 1];
      return last !== undefined && last.msn >= msn;
    }
    const [m, p] = this.newestPart();
    return m > msn || (m === msn && p >= part);
  }

  private hold(msn: number, part: number): RequestDecision {
    if (this.waiters.size >= this.maxWaiters) return { status: 503, reason: 'too many blocked requests' };
    const wait = new Promise<WaitResult>((resolve) => {
      const w: Waiter = {
        msn, part,
        done: (r) => {
          clearTimeout(timer);
          this.waiters.delete(w);
          resolve(r);
        },
      };
      const timer = setTimeout(() => w.done('timeout'), this.holdMs());
      this.waiters.add(w);
    });
    return { status: 200, wait };
  }

  private notify(): void {
    for (const w of [...this.waiters]) {
      if (this.available(w.msn, w.part)) w.done('ready');
      else if (this.ended) w.done('ended');
    }
  }

  // ---- playlists ----

  /** The media playlist of a variant, or null before the first segment is complete. */
  playlist(format: HLSFormat = 'fmp4', opts: { skip?: boolean } = {}): string | null {
    if (!this.ready || (format === 'fmp4' && !this.fmp4) || (format === 'ts' && !this.ts)) return null;
    const count = this.listedCount();
    const listed = this.segments.slice(this.segments.length - count);
    const first = listed[0];
    const p: MediaPlaylist = {
      version: format === 'ts' ? 3 : this.lowLatency ? 9 : 7,
      targetDuration: this.targetDuration,
      mediaSequence: first ? first.msn : this.nextMsn,
      discontinuitySequence: first ? first.disc : this.discSeq,
      segments: [],
      ended: this.ended,
      // HOLD-BACK is the RFC's default (three target durations), written out for players that want it
      serverControl: { canBlockReload: true, holdBack: 3 * this.targetDuration },
    };
    // parts are listed for the last three target durations only
    const total = listed.reduce((n, s) => n + s.duration, 0) + this.openDuration();
    let skipped = 0;
    const canSkip = format === 'fmp4' && this.lowLatency && listed.reduce((n, s) => n + s.duration, 0) > 6 * this.targetDuration;
    if (canSkip) p.serverControl!.canSkipUntil = 6 * this.targetDuration;
    let start = 0;
    for (const s of listed) {
      if (canSkip && opts.skip && total - start > 6 * this.targetDuration) skipped++;
      else {
        const seg: PlaylistSegment = {
          msn: s.msn, duration: s.duration, discontinuity: s.discontinuity, programDateTime: s.pdt,
          uri: `${this.prefix}${s.msn}.${format === 'ts' ? 'ts' : 'm4s'}`,
        };
        if (format === 'fmp4') {
          seg.map = `${this.prefix}init${s.initId}.mp4`;
          if (this.lowLatency && total - (start + s.duration) < 3 * this.targetDuration) seg.parts = this.partsOf(s);
        }
        p.segments.push(seg);
      }
      start += s.duration;
    }
    if (skipped) p.skipped = skipped;
    if (format === 'fmp4' && this.lowLatency) {
      p.partTarget = this.partTarget;
      p.serverControl!.partHoldBack = 3 * this.partTarget;
      if (!this.ended) {
        const cur = this.current;
        const msn = cur ? cur.msn : this.nextMsn;
        p.open = {
          msn,
          map: `${this.prefix}init${cur ? cur.initId : this.initId}.mp4`,
          parts: cur ? this.partsOf(cur) : [],
          discontinuity: cur ? cur.discontinuity : this.nextDiscontinuity,
          programDateTime: cur ? cur.pdt : NaN,
        };
        p.preloadHint = `${this.prefix}${msn}.${cur ? cur.parts.length : 0}.m4s`;
      }
    }
    return renderMediaPlaylist(p);
  }

  private openDuration(): number {
    return this.current ? this.current.parts.reduce((n, p) => n + p.duration, 0) : 0;
  }

  private partsOf(s: Segment): PlaylistPart[] {
    return s.parts.map((p) => ({ duration: p.duration, independent: p.independent, uri: `${this.prefix}${s.msn}.${p.index}.m4s` }));
  }

  /** The multivariant playlist pointing at media playlists (`uri`) of the given formats. */
  multivariant(variants: Array<{ uri: string; format: HLSFormat }>): string | null {
    if (!this.ready) return null;
    const codecs: string[] = [];
    if (this.video) codecs.push(this.video.codecString);
    if (this.audio) codecs.push(this.audio.codecString);
    const list: Variant[] = variants.map((v) => {
      const rate = this.bitrates(v.format);
      return {
        uri: v.uri, bandwidth: rate.peak, averageBandwidth: rate.average, codecs,
        resolution: this.video ? { width: Math.round((this.video.width * this.video.sarWidth) / this.video.sarHeight), height: this.video.height } : undefined,
        frameRate: this.frameRate(),
      };
    });
    return renderMultivariant(list);
  }

  private bitrates(format: HLSFormat): { peak: number; average: number } {
    let peak = 0;
    let bytes = 0;
    let seconds = 0;
    for (const s of this.segments) {
      const size = format === 'ts' ? s.tsBytes : s.fmp4Bytes;
      if (s.duration > 0) peak = Math.max(peak, (size * 8) / s.duration);
      bytes += size;
      seconds += s.duration;
    }
    return { peak, average: seconds > 0 ? (bytes * 8) / seconds : 0 };
  }

  /** Measured frame rate, snapped to a common rate within 0.05% (millisecond timestamps jitter). */
  private frameRate(): number | undefined {
    const span = this.lastPrimaryDts - this.rate.first;
    if (!this.video || this.rate.count < 2 || span <= 0) return undefined;
    const fps = ((this.rate.count - 1) * this.video.timescale) / span;
    const common = COMMON_RATES.find((r) => Math.abs(fps - r) / r < 0.0005);
    return common ?? fps;
  }

  // ---- resources ----

  /**
   * A URI of the playlists (without `uriPrefix`): `init<N>.mp4`, `<msn>.m4s`, `<msn>.<part>.m4s`,
   * `<msn>.ts`. null: unknown or dropped (404). `wait`: a part or segment not made yet but close
   * enough (the preload hint, or within the advance part limit) — ask again when it resolves.
   */
  resource(name: string): HLSResource | { wait: Promise<WaitResult> } | null {
    let m = /^init(\d+)\.mp4$/.exec(name);
    if (m) {
      const init = this.fmp4 ? this.inits.get(Number(m[1])) : undefined;
      return init ? this.body([init], 'fmp4') : null;
    }
    m = /^(\d+)(?:\.(\d+))?\.(m4s|ts)$/.exec(name);
    if (!m) return null;
    const msn = Number(m[1]);
    const part = m[2] === undefined ? -1 : Number(m[2]);
    const format: HLSFormat = m[3] === 'ts' ? 'ts' : 'fmp4';
    if ((format === 'ts' && (!this.ts || part >= 0)) || (format === 'fmp4' && !this.fmp4)) return null;
    if (part >= 0 && !this.lowLatency) return null;
    const seg = this.segments.find((s) => s.msn === msn) ?? (this.current?.msn === msn ? this.current : undefined);
    if (seg) {
      if (part >= 0 && part < seg.parts.length) return this.body([seg.parts[part].data], 'fmp4');
      if (part < 0 && seg.complete) return format === 'ts' ? this.body(seg.tsChunks, 'ts') : this.body(seg.parts.map((p) => p.data), 'fmp4');
      if (seg.complete) return null; // a part index the segment never reached
    }
    // not made yet: wait if it is the next thing to come (within the advance limits)
    if (this.ended || msn < this.nextMsn - 1 || (seg === undefined && msn !== this.nextMsn)) return null;
    if (part >= 0 && this.ready && this.partsAhead(msn, part) > this.advancePartLimit()) return null;
    const d = this.hold(msn, part);
    return 'wait' in d ? { wait: d.wait } : null;
  }

  private body(chunks: Buffer[], format: HLSFormat): HLSResource {
    const contentType = format === 'ts' ? 'video/mp2t' : this.video ? 'video/mp4' : 'audio/mp4';
    return { contentType, chunks, size: chunks.reduce((n, b) => n + b.length, 0) };
  }
}

export { PLAYLIST_TYPE };
