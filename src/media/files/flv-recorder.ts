/**
 * Records a publication to an FLV file: header, an onMetaData script tag (the publisher's metadata
 * plus `duration` and `filesize`, written as placeholders and filled in by `close`), then every
 * frame as a tag, as it comes. An FLV file is playable at every tag boundary, so a crash loses at
 * most what was queued.
 *
 * Append mode continues an existing file: its tags are scanned, a truncated last tag (a crash) is
 * cut off, and the new frames' timestamps continue after the last one. Times are rebased to start
 * at 0 (or where the appended file ended); a publisher whose clock goes back continues from the
 * end instead. Video starts with a key frame. Writes are bounded (FileWriter): when the disk falls
 * behind by `maxQueuedBytes`, frames are dropped (counted) and video resumes at a key frame.
 */
import { promises as fsp } from 'node:fs';
import { MediaType, type MediaFrame } from '../../core/media';
import { decodeAMF0, encodeAMF0 } from '../../serialization/amf0';
import { Table, type Key, type Value } from '../../serialization/value';
import { MediaFormatError } from '../codecs/bits';
import { flvBody, flvHeader, flvTag, stripSetDataFrame } from '../flv';
import { scanFLV } from './flv-reader';
import { FileWriter } from './writer';

export interface RecorderOptions {
  /** continue the file if it exists (timestamps continuing) instead of replacing it */
  append?: boolean;
  /** bytes waiting for the disk before frames are dropped */
  maxQueuedBytes?: number;
  /** the publication's metadata (an AMF0 onMetaData data body, with or without @setDataFrame) */
  metadata?: Buffer | null;
  /** fsync when closing (default true) */
  sync?: boolean;
}

export interface RecordingStats {
  frames: number;
  droppedFrames: number;
  bytes: number;
  durationMs: number;
}

/** Where a recording's timeline stands: output time = input time + offset, never going back. */
export class RecordingClock {
  private offset = NaN;
  last = -Infinity;
  step = 0;

  constructor(private readonly start: number) {}

  /** Output time (ms) of a frame; a jump back of more than `backMs` continues from the end. */
  map(time: number, backMs = 500): number {
    if (Number.isNaN(this.offset)) this.offset = this.start - time;
    let out = time + this.offset;
    if (out < this.last - backMs) {
      this.offset += this.last - out + Math.max(this.step, 1);
      out = time + this.offset;
    }
    if (out > this.last && Number.isFinite(this.last)) this.step = Math.min(out - this.last, 1000);
    out = Math.max(out, 0);
    if (out > this.last) this.last = out;
    return out;
  }

  get started(): boolean {
    return !Number.isNaN(this.offset);
  }
}

const ON_METADATA = Buffer.from([0x02, 0x00, 0x0a, ...Buffer.from('onMetaData')]);
/** a property name then the number marker: the 8-byte double follows */
const DURATION_KEY = Buffer.from([0x00, 0x08, ...Buffer.from('duration'), 0x00]);
const FILESIZE_KEY = Buffer.from([0x00, 0x08, ...Buffer.from('filesize'), 0x00]);

export class FLVRecorder {
  private readonly clock: RecordingClock;
  private needKey = true;
  private frames = 0;
  private dropped = 0;
  private flags = 0;
  /** last video and audio tag times */
  private readonly lastTimes = [-1, -1];
  private closing: Promise<RecordingStats> | null = null;

  private constructor(
    private readonly writer: FileWriter,
    start: number,
    /** absolute offsets of the duration and filesize doubles in the file's onMetaData (-1: none) */
    private readonly durationAt: number,
    private readonly filesizeAt: number,
    private readonly headerFlags: number,
    private readonly sync: boolean,
  ) {
    this.clock = new RecordingClock(start);
  }

  static async open(path: string, opts: RecorderOptions = {}): Promise<FLVRecorder> {
    const maxQueuedBytes = opts.maxQueuedBytes ?? 8 << 20;
    const sync = opts.sync ?? true;
    if (opts.append) {
      const existing = await fsp.stat(path).catch(() => null);
      if (existing && existing.size > 0) {
        const writer = await FileWriter.open(path, { truncate: false, maxQueuedBytes });
        try {
          const fh = await fsp.open(path, 'r');
          const scan = await scanFLV(fh, existing.size).finally(() => fh.close());
          if (scan.end < existing.size) writer.truncate(scan.end); // a torn last tag
          const at = (key: Buffer) => {
            const i = scan.metadata ? scan.metadata.body.indexOf(key) : -1;
            return i < 0 ? -1 : scan.metadata!.offset + 11 + i + key.length;
          };
          const flagsByte = await readByte(path, 4);
          const start = scan.tags ? scan.lastTime + Math.max(scan.videoStep, scan.audioStep, 1) : 0;
          return new FLVRecorder(writer, start, at(DURATION_KEY), at(FILESIZE_KEY), flagsByte, sync);
        } catch (e) {
          await writer.close();
          if (e instanceof MediaFormatError) throw new MediaFormatError(`cannot append to ${path}: ${e.message}`);
          throw e;
        }
      }
    }
    const writer = await FileWriter.open(path, { truncate: true, maxQueuedBytes });
    const meta = metadataTag(opts.metadata ?? null);
    writer.append([flvHeader(), meta.tag]);
    const base = 13 + 11;
    return new FLVRecorder(writer, 0, base + meta.duration, base + meta.filesize, 0, sync);
  }

  get error(): Error | null {
    return this.writer.error;
  }

  get stats(): RecordingStats {
    return {
      frames: this.frames, droppedFrames: this.dropped, bytes: this.writer.position,
      durationMs: this.clock.started ? this.clock.last + this.clock.step : 0,
    };
  }

  write(frame: MediaFrame): void {
    if (this.closing || this.writer.error) return;
    let body: Buffer | null;
    if (frame.type === MediaType.Data) {
      body = flvBody(frame);
      // the file's own onMetaData (first tag) is the one players read: its duration is right
      if (body && body.subarray(0, ON_METADATA.length).equals(ON_METADATA)) return;
    } else body = frame.payload;
    if (!body || body.length === 0) return;
    if (frame.type === MediaType.Video && !frame.config) {
      if (this.needKey && !frame.key) {
        this.dropped++;
        return;
      }
      this.needKey = false;
    }
    let time = frame.type === MediaType.Data && !this.clock.started ? 0 : this.clock.map(frame.time);
    // each track's times go up (decoders and muxers refuse a frame at or before the previous one)
    if (frame.type !== MediaType.Data && !frame.config) {
      const i = frame.type === MediaType.Video ? 0 : 1;
      if (this.lastTimes[i] >= 0) time = Math.max(time, this.lastTimes[i] + 1);
      this.lastTimes[i] = time;
    }
    if (!this.writer.append([flvTag(frame.type, time, body)])) {
      this.dropped++;
      if (frame.type === MediaType.Video) this.needKey = true;
      return;
    }
    this.frames++;
    if (frame.type === MediaType.Video) this.flags |= 0x01;
    else if (frame.type === MediaType.Audio) this.flags |= 0x04;
  }

  /** Resolves when what was written so far is in the file (not synced): for callers pacing writes. */
  drained(): Promise<void> {
    return this.writer.drain();
  }

  /** Writes what is queued, fills in duration and filesize, closes the file. */
  close(): Promise<RecordingStats> {
    this.closing ??= (async () => {
      const stats = this.stats;
      await this.writer.drain();
      if (this.durationAt >= 0) this.writer.patch(this.durationAt, float64(stats.durationMs / 1000));
      if (this.filesizeAt >= 0) this.writer.patch(this.filesizeAt, float64(this.writer.position));
      if (this.flags) this.writer.patch(4, Buffer.from([(this.headerFlags & 0x05) | this.flags]));
      await this.writer.close(this.sync);
      return { ...stats, bytes: this.writer.position };
    })();
    return this.closing;
  }
}

function float64(v: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeDoubleBE(v, 0);
  return b;
}

async function readByte(path: string, at: number): Promise<number> {
  const fh = await fsp.open(path, 'r');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    return b[0];
  } finally {
    await fh.close();
  }
}

/**
 * The onMetaData tag of a new recording: duration and filesize first (placeholders), then the
 * publisher's properties. Returns the offsets of the two doubles inside the tag body.
 */
function metadataTag(publisher: Buffer | null): { tag: Buffer; duration: number; filesize: number } {
  const fields = new Map<Key, Value>([
    ['duration', 0],
    ['filesize', 0],
  ]);
  if (publisher) {
    try {
      const values = decodeAMF0(stripSetDataFrame(publisher));
      const props = values[0] === 'onMetaData' ? values[1] : values[0];
      if (props instanceof Table) {
        for (const [k, v] of props.fields) if (k !== 'duration' && k !== 'filesize') fields.set(k, v);
      }
    } catch {
      // undecodable publisher metadata: the recording keeps its own fields only
    }
  }
  const body = encodeAMF0('onMetaData', new Table([], fields));
  const duration = body.indexOf(DURATION_KEY) + DURATION_KEY.length;
  const filesize = body.indexOf(FILESIZE_KEY) + FILESIZE_KEY.length;
  return { tag: flvTag(MediaType.Data, 0, body), duration, filesize };
}
