/**
 * The HLS of one publication: its segmenter made on the first request (derived state of the
 * publication, muxing once whatever the number of viewers), fed by a publication observer, held
 * in the registry while players fetch it (so a publisher that reconnects continues the same
 * playlist after a discontinuity), ended with EXT-X-ENDLIST when the publisher stays away, and
 * closed when nobody has asked for a while: a publication nobody watches over HLS costs nothing.
 *
 * It also keeps the viewers' sessions (one per player: the `hls_session` id its URLs carry, else
 * its address and user agent) for the access log and the admin API.
 */
import { createHash, randomBytes } from 'node:crypto';
import { formatBytes, formatDuration } from '../../core/access-log';
import type { ServerContext } from '../../core/context';
import type { MediaFrame } from '../../core/media';
import type { Publication } from '../../core/publication';
import type { PublicationSettings } from '../../config/types';
import { HLSSegmenter, type HLSStats } from '../../media/hls/segmenter';

/** How often idle streams and sessions are looked for. */
const SWEEP_MS = 2_000;
/**
 * The least times of a stream's life (each grows with the target duration): a stream nobody asked
 * anything for `idleMs` is closed, a session without a request for `sessionIdleMs` has ended, and
 * a publisher gone for `endAfterMs` ends the playlist.
 */
export const HLS_TIMING = { idleMs: 30_000, sessionIdleMs: 15_000, endAfterMs: 10_000, sweepMs: SWEEP_MS };

/** Sessions tracked per stream; players beyond are served without a session of their own. */
export const MAX_SESSIONS = 10_000;

export interface HLSSession {
  id: string;
  address: string;
  format: 'fmp4' | 'ts';
  since: number;
  last: number;
  requests: number;
  bytes: number;
}

export interface HLSStreamView {
  ready: boolean;
  ended: boolean;
  targetDuration: number;
  partTarget: number;
  viewers: number;
  /** viewers beyond MAX_SESSIONS, served without a session */
  untracked: number;
  stats: HLSStats;
  sessions: Array<{ id: string; address: string; format: string; since: string; requests: number; bytes: number }>;
}

export class HLSStream {
  readonly segmenter: HLSSegmenter;
  /** in every resource URI: a stream made again later (after idle) never reuses a URL */
  readonly epoch: string;
  /** ms: a stream nobody asked anything for this long is closed */
  readonly idleMs: number;
  /** ms: a session without a request for this long has ended */
  readonly sessionIdleMs: number;
  /** ms: the publisher gone for this long ends the playlist (EXT-X-ENDLIST) */
  readonly endAfterMs: number;
  private readonly sessions = new Map<string, HLSSession>();
  private untracked = 0;
  private lastRequest = Date.now();
  private readonly unobserve: () => void;
  private readonly release: () => void;
  private readonly unwant: () => void;
  private readonly sweep: NodeJS.Timeout;
  private endTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    readonly publication: Publication,
    private readonly context: ServerContext,
    settings: PublicationSettings,
    /** drops this state from its publication (it is made again by the next request) */
    private readonly drop: () => void,
  ) {
    const props = publication.properties;
    const expect = {
      video: publication.hasVideo || publication.videoConfig !== null || props.field('videocodecid') !== undefined,
      audio: publication.hasAudio || publication.audioConfig !== null || props.field('audiocodecid') !== undefined,
    };
    this.epoch = Date.now().toString(36);
    this.segmenter = new HLSSegmenter({
      segments: settings.segments,
      durationMs: settings.duration,
      partMs: settings.partDuration,
      maxBytes: settings.hlsMemory,
      uriPrefix: `${this.epoch}/`,
      expect: expect.video || expect.audio ? expect : undefined,
    });
    const target = Math.max(1000, settings.duration);
    this.idleMs = Math.max(HLS_TIMING.idleMs, 6 * target);
    this.sessionIdleMs = Math.max(HLS_TIMING.sessionIdleMs, 5 * target);
    this.endAfterMs = Math.max(HLS_TIMING.endAfterMs, 4 * target);
    // a running publication's decoder configurations came before this state: they go first
    if (publication.videoConfig) this.segmenter.push(publication.videoConfig);
    if (publication.audioConfig) this.segmenter.push(publication.audioConfig);
    const push = (frame: MediaFrame) => this.segmenter.push(frame);
    this.unobserve = publication.observe({
      onAudio: push,
      onVideo: push,
      onStart: () => this.onPublisherStart(),
      onStop: () => this.onPublisherStop(),
    });
    this.release = context.publications.hold(publication);
    // wanted as a player wants it: a publication whose frames come from elsewhere (another process
    // of this server, another server) is fed while it is segmented
    this.unwant = context.publications.want(publication.name);
    this.sweep = setInterval(() => this.onSweep(), HLS_TIMING.sweepMs);
    this.sweep.unref();
    if (!publication.running) this.onPublisherStop();
    context.logger.debug('HLS', `${publication.name}: segmenting (${settings.segments} segments of ${settings.duration} ms, parts ${settings.partDuration} ms)`);
  }

  private onPublisherStart(): void {
    if (this.endTimer) clearTimeout(this.endTimer);
    this.endTimer = null;
    // a playlist that said EXT-X-ENDLIST never changes again: a new publish starts a new stream
    if (this.segmenter.isEnded) {
      this.drop();
      return;
    }
    this.segmenter.start();
  }

  private onPublisherStop(): void {
    this.segmenter.stop();
    if (this.endTimer) clearTimeout(this.endTimer);
    this.endTimer = setTimeout(() => {
      this.endTimer = null;
      this.segmenter.end();
    }, this.endAfterMs);
    this.endTimer.unref();
  }

  /** A request for this stream: keeps it alive. */
  touch(): void {
    this.lastRequest = Date.now();
  }

  /**
   * The session of a request: `id` from its URL (`hls_session`), else one keyed by the player's
   * address and user agent. Returns the id to carry in the URIs given back, and the session (null
   * past MAX_SESSIONS).
   */
  session(id: string | null, address: string, userAgent: string, format: 'fmp4' | 'ts'): { id: string; session: HLSSession | null } {
    this.touch();
    const now = Date.now();
    const key = id ?? anonymousId(address, userAgent, format);
    let s = this.sessions.get(key);
    if (!s) {
      if (this.sessions.size >= MAX_SESSIONS) {
        this.untracked++;
        return { id: key, session: null };
      }
      s = { id: key, address, format, since: now, last: now, requests: 0, bytes: 0 };
      this.sessions.set(key, s);
      this.context.logger.info('HLS', `${address} plays ${this.publication.name} (${format === 'ts' ? 'MPEG-TS' : 'fMP4'} session ${key})`, {
        event: 'play', protocol: 'HLS', address, stream: this.publication.name, session: key, format,
      });
    }
    s.last = now;
    s.requests++;
    return { id: key, session: s };
  }

  /**
   * Requests another process of this server answered from its copy of this stream's resources
   * (`threads`: a worker's cache), counted in the viewer's session as if answered here.
   */
  served(id: string | null, address: string, userAgent: string, format: 'fmp4' | 'ts', requests: number, bytes: number): void {
    if (requests <= 0) return;
    const { session } = this.session(id, address, userAgent, format);
    if (!session) return;
    session.requests += requests - 1;
    session.bytes += bytes;
  }

  private endSession(s: HLSSession, reason: string): void {
    this.sessions.delete(s.id);
    const duration = s.last - s.since;
    this.context.logger.info(
      'HLS',
      `${s.address} stopped playing ${this.publication.name} after ${formatDuration(duration)} (${formatBytes(s.bytes)} sent, ${s.requests} requests): ${reason}`,
      { event: 'stop', protocol: 'HLS', address: s.address, stream: this.publication.name, session: s.id, duration, bytesOut: s.bytes, requests: s.requests, reason },
    );
  }

  private onSweep(): void {
    const now = Date.now();
    for (const s of [...this.sessions.values()]) if (now - s.last > this.sessionIdleMs) this.endSession(s, 'no request for a while');
    if (now - this.lastRequest > this.idleMs && this.segmenter.getStats().waiters === 0) this.drop();
  }

  get viewers(): number {
    return this.sessions.size;
  }

  /** The admin API's view (publication.derivedViews). */
  view(): HLSStreamView {
    const sessions = [...this.sessions.values()].slice(0, 100).map((s) => ({
      id: s.id, address: s.address, format: s.format, since: new Date(s.since).toISOString(), requests: s.requests, bytes: s.bytes,
    }));
    return {
      ready: this.segmenter.ready, ended: this.segmenter.isEnded, targetDuration: this.segmenter.targetDuration,
      partTarget: this.segmenter.partTarget, viewers: this.sessions.size, untracked: this.untracked,
      stats: this.segmenter.getStats(), sessions,
    };
  }

  /** The state is dropped (idle, a new publish after the end, or the publication left the registry). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweep);
    if (this.endTimer) clearTimeout(this.endTimer);
    this.endTimer = null;
    this.unobserve();
    for (const s of [...this.sessions.values()]) this.endSession(s, 'stream closed');
    this.segmenter.close();
    this.context.logger.debug('HLS', `${this.publication.name}: segmenting stopped`);
    this.unwant();
    this.release();
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

/** A session id for players whose URLs carry none: stable for one address, user agent and variant. */
function anonymousId(address: string, userAgent: string, format: string): string {
  const ip = address.replace(/:\d+$/, '');
  return createHash('sha1').update(`${ip}\0${userAgent}\0${format}`).digest('hex').slice(0, 16);
}

/** A new session id (16 hex digits). */
export function newSessionId(): string {
  return randomBytes(8).toString('hex');
}
