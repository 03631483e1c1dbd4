/**
 * FLV file demuxing for VOD: `open` scans the tag headers once (bodies are skipped, except the
 * first onMetaData and sequence headers) to build the seek index, and `frames` then reads tags
 * between two times through a window buffer. A truncated last tag (a recording cut short) ends
 * the file where the last complete tag ends.
 */
import { promises as fsp } from 'node:fs';
import { MediaType } from '../../core/media';
import { MediaFormatError } from '../codecs/bits';
import { readAudioTag, readVideoTag } from '../codecs/flv-body';
import { audioTrack, videoTrack, type AudioTrackInfo, type VideoTrackInfo } from '../tracks';
import { seekIndex, WindowReader, type FileFrame, type MediaFileReader } from './reader';

/** Seek points of an audio-only file: one per this many ms of audio. */
const AUDIO_SEEK_MS = 1000;
/** A script tag larger than this is not read as metadata. */
const MAX_METADATA = 1 << 20;
/** Seek points kept at most (one per key frame: about a week of 1 s GOPs). */
const MAX_SEEK_POINTS = 1 << 20;

export interface FLVScan {
  /** offset of the first tag */
  firstTag: number;
  /** offset just after the last complete tag (and its previous-tag-size trailer) */
  end: number;
  tags: number;
  firstTime: number;
  lastTime: number;
  lastVideoTime: number;
  lastAudioTime: number;
  /** interval between the last two video (audio) tags, ms */
  videoStep: number;
  audioStep: number;
  /** the first onMetaData script tag: its offset and body */
  metadata: { offset: number; body: Buffer } | null;
  videoConfig: Buffer | null;
  audioConfig: Buffer | null;
  seek: Array<{ time: number; offset: number }>;
}

const ON_METADATA = Buffer.from([0x02, 0x00, 0x0a, ...Buffer.from('onMetaData')]);

/** Reads the tag headers of an open FLV file. Throws MediaFormatError if it is not FLV. */
export async function scanFLV(fh: fsp.FileHandle, size: number): Promise<FLVScan> {
  const r = new WindowReader(fh, size, 1 << 20);
  const head = await r.read(0, 13);
  if (head.length < 13 || head.toString('latin1', 0, 3) !== 'FLV') throw new MediaFormatError('not an FLV file');
  const firstTag = head.readUInt32BE(5) + 4;
  if (firstTag < 13 || firstTag > size) throw new MediaFormatError('bad FLV header');
  const scan: FLVScan = {
    firstTag, end: firstTag, tags: 0, firstTime: NaN, lastTime: 0, lastVideoTime: NaN, lastAudioTime: NaN, videoStep: 0, audioStep: 0,
    metadata: null, videoConfig: null, audioConfig: null, seek: [],
  };
  const audioSeek: Array<{ time: number; offset: number }> = [];
  let lastAudioPoint = -Infinity;
  let pos = firstTag;
  while (pos + 11 <= size) {
    const h = await r.read(pos, 16);
    if (h.length < 11) break;
    const type = h[0] & 0x1f;
    const bodySize = h.readUIntBE(1, 3);
    const time = (h.readUIntBE(4, 3) | (h[7] << 24)) >>> 0;
    const next = pos + 11 + bodySize + 4;
    if (next > size) break; // truncated last tag
    if (type !== 8 && type !== 9 && type !== 18) break; // not a tag: garbage after the last one
    if (Number.isNaN(scan.firstTime)) scan.firstTime = time;
    scan.lastTime = Math.max(scan.lastTime, time);
    scan.tags++;
    const encrypted = (h[0] & 0x20) !== 0;
    if (!encrypted && type === 18 && !scan.metadata && bodySize <= MAX_METADATA) {
      const body = Buffer.from(await r.read(pos + 11, bodySize));
      if (body.subarray(0, ON_METADATA.length).equals(ON_METADATA)) scan.metadata = { offset: pos, body };
    } else if (!encrypted && type === 9 && bodySize > 0) {
      const tag = readVideoTag(await r.read(pos + 11, Math.min(bodySize, 8))); // the header is enough
      if (tag?.kind === 'frame') {
        if (!Number.isNaN(scan.lastVideoTime)) scan.videoStep = time - scan.lastVideoTime;
        scan.lastVideoTime = time;
      }
      if (tag?.kind === 'config') {
        if (!scan.videoConfig) scan.videoConfig = Buffer.from(await r.read(pos + 11, bodySize));
      } else if (tag?.kind === 'frame' && tag.key && scan.seek.length < MAX_SEEK_POINTS) scan.seek.push({ time, offset: pos });
    } else if (!encrypted && type === 8 && bodySize > 0) {
      const peek = await r.read(pos + 11, Math.min(bodySize, 2));
      if (peek.length >= 2 && peek[0] >> 4 === 10 && peek[1] === 0) {
        if (!scan.audioConfig) scan.audioConfig = Buffer.from(await r.read(pos + 11, bodySize));
        pos = next;
        scan.end = pos;
        continue;
      }
      if (!Number.isNaN(scan.lastAudioTime)) scan.audioStep = time - scan.lastAudioTime;
      scan.lastAudioTime = time;
      if (time - lastAudioPoint >= AUDIO_SEEK_MS && audioSeek.length < MAX_SEEK_POINTS) {
        audioSeek.push({ time, offset: pos });
        lastAudioPoint = time;
      }
    }
    pos = next;
    scan.end = pos;
  }
  if (!scan.seek.length) scan.seek = audioSeek;
  if (Number.isNaN(scan.firstTime)) scan.firstTime = 0;
  return scan;
}

export class FLVFileReader implements MediaFileReader {
  readonly format = 'flv';
  readonly durationMs: number;
  readonly video: VideoTrackInfo | null;
  readonly audio: AudioTrackInfo | null;
  readonly videoConfig: Buffer | null;
  readonly audioConfig: Buffer | null;
  readonly metadata: Buffer | null;
  readonly seekPoints: readonly number[];

  private constructor(private readonly fh: fsp.FileHandle, readonly path: string, private readonly size: number, readonly scan: FLVScan) {
    this.videoConfig = scan.videoConfig;
    this.audioConfig = scan.audioConfig;
    this.video = trackOr(() => {
      const tag = scan.videoConfig && readVideoTag(scan.videoConfig);
      return tag ? videoTrack(tag.codec, tag.data) : null;
    });
    this.audio = trackOr(() => {
      const tag = scan.audioConfig && readAudioTag(scan.audioConfig);
      return tag ? audioTrack(tag.data) : null;
    });
    this.metadata = scan.metadata?.body ?? null;
    this.seekPoints = scan.seek.map((s) => s.time);
    // the end of the longest track: its last frame plus that track's frame interval
    const end = (last: number, step: number) => (Number.isNaN(last) ? 0 : last + step);
    this.durationMs = scan.tags ? Math.max(end(scan.lastVideoTime, scan.videoStep), end(scan.lastAudioTime, scan.audioStep), scan.lastTime) - scan.firstTime : 0;
  }

  static async open(path: string): Promise<FLVFileReader> {
    const fh = await fsp.open(path, 'r');
    try {
      const size = (await fh.stat()).size;
      return new FLVFileReader(fh, path, size, await scanFLV(fh, size));
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  async *frames(fromMs = 0, toMs = Infinity): AsyncGenerator<FileFrame> {
    const seek = this.scan.seek;
    // before the first seek point: from the first tag (audio may precede the first key frame)
    let pos = seek.length && fromMs >= seek[0].time ? seek[seekIndex(this.seekPoints, fromMs)].offset : this.scan.firstTag;
    const stop = seek.find((s) => s.time === toMs);
    const endPos = stop ? stop.offset : this.scan.end;
    const r = new WindowReader(this.fh, this.size);
    while (pos + 11 <= endPos) {
      const h = await r.read(pos, 11);
      if (h.length < 11) return;
      const type = h[0] & 0x1f;
      const bodySize = h.readUIntBE(1, 3);
      const time = (h.readUIntBE(4, 3) | (h[7] << 24)) >>> 0;
      const body = pos + 11;
      pos = body + bodySize + 4;
      if (!stop && time >= toMs) return;
      if ((h[0] & 0x20) !== 0 || bodySize === 0) continue;
      if (body === (this.scan.metadata ? this.scan.metadata.offset + 11 : -1)) continue;
      const payload = Buffer.from(await r.read(body, bodySize));
      if (payload.length < bodySize) return;
      // the first sequence headers are given apart (videoConfig/audioConfig); changed ones pass
      if ((type === 9 && this.videoConfig?.equals(payload)) || (type === 8 && this.audioConfig?.equals(payload))) continue;
      if (type === 8 || type === 9 || type === 18) yield { type: type as MediaType, time, payload };
    }
  }

  bytesBetween(fromMs: number, toMs: number): number {
    const seek = this.scan.seek;
    if (!seek.length) return this.scan.end - this.scan.firstTag;
    const from = fromMs >= seek[0].time ? seek[seekIndex(this.seekPoints, fromMs)].offset : this.scan.firstTag;
    const to = seek.find((s) => s.time >= toMs)?.offset ?? this.scan.end;
    return Math.max(0, to - from);
  }

  async close(): Promise<void> {
    await this.fh.close().catch(() => undefined);
  }
}

function trackOr<T>(make: () => T | null): T | null {
  try {
    return make();
  } catch {
    return null; // an unreadable sequence header: the track is not muxable, frames still play
  }
}
