/**
 * What VOD playback needs from a media file, whatever its container: the tracks, their sequence
 * headers and the metadata as publication frames (FLV tag bodies), a seek index of key frames, and
 * the frames between two times read incrementally (never the whole file in memory).
 */
import { promises as fsp } from 'node:fs';
import type { MediaType } from '../../core/media';
import type { AudioTrackInfo, VideoTrackInfo } from '../tracks';

/** A frame read from a file, in the publication frame form (FLV tag body, time in ms). */
export interface FileFrame {
  type: MediaType;
  time: number;
  payload: Buffer;
}

export interface MediaFileReader {
  readonly format: 'flv' | 'mp4';
  readonly path: string;
  /** ms */
  readonly durationMs: number;
  readonly video: VideoTrackInfo | null;
  readonly audio: AudioTrackInfo | null;
  /** sequence headers as FLV tag bodies, to send before any frame */
  readonly videoConfig: Buffer | null;
  readonly audioConfig: Buffer | null;
  /** an AMF0 `onMetaData` data body (FLV script tag form), or null */
  readonly metadata: Buffer | null;
  /** seek points (ms, ascending): video key frames, or regular points of an audio-only file */
  readonly seekPoints: readonly number[];
  /**
   * Frames from the seek point at or before `fromMs` up to `toMs` (exclusive; a seek point time
   * ends exactly where the next range from that point starts). Sequence headers are not repeated:
   * send videoConfig/audioConfig first.
   */
  frames(fromMs?: number, toMs?: number): AsyncGenerator<FileFrame>;
  /** media bytes between two seek points (for bit rates), without reading them */
  bytesBetween(fromMs: number, toMs: number): number;
  close(): Promise<void>;
}

/** Index of the seek point at or before `ms` (0 if none). */
export function seekIndex(points: readonly number[], ms: number): number {
  let lo = 0;
  let hi = points.length - 1;
  let best = 0;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (points[mid] <= ms) {
      best = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return best;
}

/**
 * Positioned reads through a window buffer: sequential access costs one read per `chunk` bytes.
 * Returned views stay valid (each refill allocates a new window).
 */
export class WindowReader {
  private buf = Buffer.alloc(0);
  private start = 0;

  constructor(private readonly fh: fsp.FileHandle, readonly size: number, private readonly chunk = 256 << 10) {}

  /** Bytes [pos, pos + n), fewer at the end of the file. */
  async read(pos: number, n: number): Promise<Buffer> {
    if (pos >= this.start && pos + n <= this.start + this.buf.length) return this.buf.subarray(pos - this.start, pos - this.start + n);
    const len = Math.max(0, Math.min(Math.max(n, this.chunk), this.size - pos));
    const buf = Buffer.allocUnsafe(len);
    let got = 0;
    while (got < len) {
      const { bytesRead } = await this.fh.read(buf, got, len - got, pos + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    this.buf = buf.subarray(0, got);
    this.start = pos;
    return this.buf.subarray(0, Math.min(n, got));
  }
}
