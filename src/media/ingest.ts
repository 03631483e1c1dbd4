/**
 * Publication frames (FLV tag bodies with millisecond times) → timed samples for containers that
 * need the whole track set up front (fMP4 init segments, MP4 files) and strictly increasing decode
 * times per track.
 *
 * - Track set: the first frames are held (at most `probeMs` of media, `probeBytes` bytes) until
 *   every expected track has its sequence header, then the tracks are announced once and the held
 *   frames replayed. A track that shows up later, or a changed sequence header, announces a new
 *   track set (a discontinuity for HLS, the end of an MP4 recording).
 * - Start: video starts on a key frame and audio older than that key frame is dropped, so every
 *   output starts with A/V together.
 * - Timeline: times are rebased so the output timeline never goes back: when a publisher restarts
 *   at 0 or the clock jumps (back by more than `backMs`, or forward by more than `maxGapMs`), the
 *   output continues from where it was and `discontinuity` is reported. Small back steps are
 *   clamped. Audio decode times follow the AAC frame cadence (1024 samples) and only re-sync to the
 *   millisecond clock when they drift by more than half a frame, so sample durations stay exact.
 */
import { MediaType } from '../core/media';
import { readAudioTag, readVideoTag, type VideoCodec } from './codecs/flv-body';
import { audioTrack, sameTrack, videoTrack, type AudioTrackInfo, type TrackInfo, type VideoTrackInfo } from './tracks';

export interface Sample {
  track: TrackInfo;
  /** decode time in the track's timescale, on the output timeline */
  dts: number;
  /** composition offset (PTS - DTS) in the track's timescale */
  cto: number;
  key: boolean;
  /** length-prefixed NAL units (video) or one raw AAC frame (audio) */
  data: Buffer;
}

export interface IngestHandler {
  /** The track set, first announced once settled, then again whenever it changes. */
  tracks(video: VideoTrackInfo | null, audio: AudioTrackInfo | null, change: boolean): void;
  sample(sample: Sample): void;
  /** The output timeline was rebased (publisher restart or a clock jump); tracks unchanged. */
  discontinuity(): void;
}

export interface IngestOptions {
  /** media time (ms) to wait for the other track's sequence header before starting without it */
  probeMs?: number;
  /** bytes held while probing or waiting for the first key frame */
  probeBytes?: number;
  /** a forward jump larger than this (ms) on one track is a discontinuity (default: none) */
  maxGapMs?: number;
  /** a backward step larger than this (ms) is a discontinuity; smaller ones are clamped */
  backMs?: number;
  /** known from metadata: settle as soon as these tracks have their sequence headers */
  expect?: { video: boolean; audio: boolean };
  /** output time (ms) of the first sample: 0, or where an appended recording left off */
  startMs?: number;
}

interface Held {
  type: MediaType;
  time: number;
  payload: Buffer;
}

interface TrackClock {
  /** last input time (ms) of this track, NaN when unknown (start, after a switch) */
  lastIn: number;
  offset: number;
  /** last output decode time in timescale units, -1 before the first sample */
  lastDts: number;
  /** next expected decode time (audio cadence) */
  nextDts: number;
  /** last sample duration in timescale units (estimate for the end of the timeline) */
  lastDuration: number;
}

const DEFAULT_PROBE_MS = 1000;
/** after a switch, a frame further than this from the switch point belongs to the old timeline */
const SWITCH_WINDOW_MS = 10_000;
const DEFAULT_PROBE_BYTES = 8 << 20;

export class Ingest {
  video: VideoTrackInfo | null = null;
  audio: AudioTrackInfo | null = null;
  /** frames dropped: undecodable, unsupported codec, before a key frame, over the probe bound */
  dropped = 0;
  lastError: string | undefined;

  private settled = false;
  private held: Held[] = [];
  private heldBytes = 0;
  private heldStart = NaN;
  private pendingVideo: TrackInfo | null = null;
  private pendingAudio: TrackInfo | null = null;
  private needKey = true;
  /** audio held after settling until the first video key frame tells where output starts */
  private audioWait: Array<{ time: number; data: Buffer }> = [];
  private audioWaitBytes = 0;
  private startMs = -Infinity;
  private readonly vclock = newClock();
  private readonly aclock = newClock();
  /** a timeline switch in progress: the first track to see it sets the new offset */
  private switchRef: { inMs: number; offset: number; adopted: Set<TrackClock> } | null = null;
  /** input → output offset of the first timeline (NaN before the first sample) */
  private baseOffset = NaN;
  private readonly startAt: number;
  private restartPending = false;
  private readonly probeMs: number;
  private readonly probeBytes: number;
  private readonly maxGapMs: number;
  private readonly backMs: number;

  constructor(private readonly handler: IngestHandler, private readonly options: IngestOptions = {}) {
    this.probeMs = options.probeMs ?? DEFAULT_PROBE_MS;
    this.probeBytes = options.probeBytes ?? DEFAULT_PROBE_BYTES;
    this.maxGapMs = options.maxGapMs ?? Infinity;
    this.backMs = options.backMs ?? 500;
    this.startAt = options.startMs ?? 0;
  }

  /** End of the output timeline so far, in ms (last sample + its duration, over both tracks). */
  get endMs(): number {
    return Math.max(clockEndMs(this.vclock, this.video), clockEndMs(this.aclock, this.audio), 0);
  }

  push(type: MediaType, time: number, payload: Buffer): void {
    if (type === MediaType.Data) return;
    if (!this.settled) {
      this.hold(type, time, payload);
      return;
    }
    this.process(type, time, payload);
  }

  /**
   * The publisher changed (unpublish then publish): sequence headers are awaited again and the
   * output timeline continues from its end whatever times the new publisher uses.
   */
  restart(): void {
    this.settled = false;
    this.held = [];
    this.heldBytes = 0;
    this.heldStart = NaN;
    this.pendingVideo = this.pendingAudio = null;
    this.needKey = true;
    this.audioWait = [];
    this.audioWaitBytes = 0;
    this.restartPending = true;
  }

  /** Settles on whatever was seen (end of input while probing). */
  finish(): void {
    if (!this.settled && (this.pendingVideo || this.pendingAudio)) this.settle();
  }

  private hold(type: MediaType, time: number, payload: Buffer): void {
    if (type === MediaType.Video) {
      const tag = readVideoTag(payload);
      if (tag?.kind === 'config') this.pendingVideo = this.parseConfig(tag.codec, tag.data) ?? this.pendingVideo;
    } else {
      const tag = readAudioTag(payload);
      if (tag?.kind === 'config') this.pendingAudio = this.parseConfig('aac', tag.data) ?? this.pendingAudio;
    }
    this.held.push({ type, time, payload });
    this.heldBytes += payload.length;
    const media = (type === MediaType.Video && !isConfigVideo(payload)) || (type === MediaType.Audio && !isConfigAudio(payload));
    if (media && Number.isNaN(this.heldStart)) this.heldStart = time;
    const expect = this.options.expect;
    const ready = expect
      ? (!expect.video || this.pendingVideo !== null) && (!expect.audio || this.pendingAudio !== null) && (this.pendingVideo || this.pendingAudio)
      : this.pendingVideo !== null && this.pendingAudio !== null;
    const timeout = media && time - this.heldStart >= this.probeMs && (this.pendingVideo || this.pendingAudio);
    if (ready || timeout) this.settle();
    else if (this.heldBytes > this.probeBytes) {
      // no sequence header in sight: keep the newest frames only
      while (this.heldBytes > this.probeBytes / 2 && this.held.length) {
        this.heldBytes -= this.held.shift()!.payload.length;
        this.dropped++;
      }
    }
  }

  private settle(): void {
    const change = this.video !== null || this.audio !== null;
    const same = sameTrack(this.video, this.pendingVideo) && sameTrack(this.audio, this.pendingAudio);
    if (!same) {
      // the same configuration keeps its track objects: consumers compare them by identity
      this.video = this.pendingVideo as VideoTrackInfo | null;
      this.audio = this.pendingAudio as AudioTrackInfo | null;
    }
    this.settled = true;
    this.needKey = this.video !== null;
    if (change && same) this.handler.discontinuity();
    else this.handler.tracks(this.video, this.audio, change);
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    for (const h of held) this.process(h.type, h.time, h.payload);
  }

  private parseConfig(codec: VideoCodec | 'aac', data: Buffer): TrackInfo | null {
    try {
      return codec === 'aac' ? audioTrack(data) : videoTrack(codec, data);
    } catch (e) {
      this.lastError = `${codec} sequence header: ${(e as Error).message}`;
      this.dropped++;
      return null;
    }
  }

  private process(type: MediaType, time: number, payload: Buffer): void {
    if (type === MediaType.Video) {
      const tag = readVideoTag(payload);
      if (!tag || tag.kind === 'end') {
        if (!tag) this.dropped++;
        return;
      }
      if (tag.kind === 'config') {
        const info = this.parseConfig(tag.codec, tag.data);
        if (info && !sameTrack(info, this.video)) this.changeTracks(info as VideoTrackInfo, this.audio);
        return;
      }
      const track = this.video;
      if (!track || tag.codec !== track.codec) {
        this.dropped++;
        return;
      }
      if (this.jumped(this.vclock, time)) this.resync();
      if (this.needKey) {
        if (!tag.key) {
          this.dropped++;
          return;
        }
        this.needKey = false;
        this.startMs = this.outMs(this.vclock, time);
        this.releaseAudio();
      }
      const dts = this.videoDts(time);
      this.handler.sample({ track, dts, cto: Math.round(tag.cts * (track.timescale / 1000)), key: tag.key, data: tag.data });
      return;
    }
    const tag = readAudioTag(payload);
    if (!tag) {
      this.dropped++;
      return;
    }
    if (tag.kind === 'config') {
      const info = this.parseConfig('aac', tag.data);
      if (info && !sameTrack(info, this.audio)) this.changeTracks(this.video, info as AudioTrackInfo);
      return;
    }
    if (!this.audio || tag.data.length === 0) {
      this.dropped++;
      return;
    }
    if (this.jumped(this.aclock, time)) this.resync();
    if (this.needKey && this.video) {
      // output starts at the first video key frame: hold audio until it tells where that is
      this.audioWait.push({ time, data: tag.data });
      this.audioWaitBytes += tag.data.length;
      while (this.audioWaitBytes > this.probeBytes && this.audioWait.length) {
        this.audioWaitBytes -= this.audioWait.shift()!.data.length;
        this.dropped++;
      }
      return;
    }
    this.audioSample(time, tag.data);
  }

  private releaseAudio(): void {
    const wait = this.audioWait;
    this.audioWait = [];
    this.audioWaitBytes = 0;
    for (const a of wait) {
      if (this.jumped(this.aclock, a.time)) {
        this.dropped++; // held across a jump: not of the timeline that resumes
        continue;
      }
      this.audioSample(a.time, a.data);
    }
  }

  private audioSample(time: number, data: Buffer): void {
    const track = this.audio!;
    const outMs = this.outMs(this.aclock, time);
    if (!(outMs >= this.startMs)) {
      this.dropped++;
      return;
    }
    const c = this.aclock;
    const ideal = Math.round((outMs * track.timescale) / 1000);
    let dts: number;
    if (c.lastDts < 0) dts = ideal;
    else if (Math.abs(ideal - c.nextDts) <= track.frameSamples / 2) dts = c.nextDts;
    else dts = Math.max(ideal, c.lastDts + 1); // a gap or a drift: re-sync on the clock
    if (c.lastDts >= 0) c.lastDuration = dts - c.lastDts;
    c.lastDts = dts;
    c.nextDts = dts + track.frameSamples;
    this.handler.sample({ track, dts, cto: 0, key: true, data });
  }

  private videoDts(time: number): number {
    const c = this.vclock;
    const outMs = this.outMs(c, time);
    let dts = Number.isNaN(outMs) ? c.lastDts + 1 : Math.round(outMs * 90);
    if (c.lastDts >= 0 && dts <= c.lastDts) dts = c.lastDts + 1;
    if (c.lastDts >= 0) c.lastDuration = dts - c.lastDts;
    c.lastDts = dts;
    return dts;
  }

  /** A step back by more than `backMs` or forward by more than `maxGapMs` on one track. */
  private jumped(c: TrackClock, time: number): boolean {
    if (Number.isNaN(c.lastIn)) return false;
    const step = time - c.lastIn;
    return step < -this.backMs || step > this.maxGapMs;
  }

  /**
   * A clock jump: like a new publisher, output resumes with a video key frame (audio waiting for
   * it) and the timeline continues from its end, so nothing is left as a gap.
   */
  private resync(): void {
    this.handler.discontinuity();
    this.needKey = this.video !== null;
    this.restartPending = true;
    this.vclock.lastIn = this.aclock.lastIn = NaN;
  }

  /**
   * Input ms → output ms for one track. After a restart or a jump, the first track to send a
   * frame sets the new offset and the other adopts it; NaN for a frame of the other timeline (a
   * late frame from before the switch), which callers drop.
   */
  private outMs(c: TrackClock, time: number): number {
    if (this.restartPending) {
      this.restartPending = false;
      this.switchRef = { inMs: time, offset: this.endMs - time, adopted: new Set() };
    }
    if (!Number.isNaN(c.lastIn)) {
      c.lastIn = Math.max(c.lastIn, time); // small steps back are clamped by the callers
      return Math.max(time + c.offset, 0);
    }
    const ref = this.switchRef;
    if (ref && !ref.adopted.has(c)) {
      if (Math.abs(time - ref.inMs) > SWITCH_WINDOW_MS) return NaN;
      this.adopt(c, ref);
    } else if (!Number.isNaN(this.baseOffset)) c.offset = this.baseOffset;
    else c.offset = this.baseOffset = this.startAt - time;
    c.lastIn = time;
    return Math.max(time + c.offset, 0);
  }

  private adopt(c: TrackClock, ref: { offset: number; adopted: Set<TrackClock> }): void {
    c.offset = ref.offset;
    ref.adopted.add(c);
    if ((!this.video || ref.adopted.has(this.vclock)) && (!this.audio || ref.adopted.has(this.aclock))) this.switchRef = null;
  }

  private changeTracks(video: VideoTrackInfo | null, audio: AudioTrackInfo | null): void {
    this.video = video;
    this.audio = audio;
    // the new configuration starts with a video key frame (audio waits for it, as at the start)
    this.needKey = video !== null;
    this.handler.tracks(video, audio, true);
  }
}

function newClock(): TrackClock {
  return { lastIn: NaN, offset: 0, lastDts: -1, nextDts: 0, lastDuration: 0 };
}

function clockEndMs(c: TrackClock, track: TrackInfo | null): number {
  if (c.lastDts < 0 || !track) return 0;
  const dur = c.lastDuration || (track.kind === 'audio' ? track.frameSamples : track.timescale / 25);
  return ((c.lastDts + dur) * 1000) / track.timescale;
}

function isConfigVideo(p: Buffer): boolean {
  return readVideoTag(p)?.kind === 'config';
}

function isConfigAudio(p: Buffer): boolean {
  return readAudioTag(p)?.kind === 'config';
}
