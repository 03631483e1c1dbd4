/**
 * A media file played to a Flash NetStream (VOD over RTMP and RTMFP alike): the statuses Flash
 * Media Server sends for a recorded stream (StreamIsRecorded, StreamBegin, Play.Reset, Play.Start,
 * then at the end Play.Stop, `onPlayStatus` Play.Complete and StreamEOF), metadata and decoder
 * configurations first, then the file's frames paced in real time: a frame goes out when the
 * player's clock is within its buffer length of it (`setBufferLength`, sent by every Flash player,
 * ffmpeg and rtmpdump), and never while the transport still holds more than MAX_QUEUED bytes for
 * this player. `seek(ms)` restarts from the key frame at or before ms (Seek.Notify, then Play.Start),
 * `pause` holds the frames and resumes from where the player is.
 */
import { MediaFrame, MediaType } from '../../core/media';
import type { MediaFileReader } from '../../media/files/reader';
import { encodeAMF0 } from '../../serialization/amf0';
import { Table } from '../../serialization/value';
import { MessageType, UserControl } from './messages';
import type { FlashChannel } from './transport';

/** bytes waiting towards the player above which no more frames are read from the file */
export const MAX_QUEUED = 1 << 20;
/** buffer length assumed until the player says its own (Flash's default is 0.1 s; players ask more) */
const DEFAULT_BUFFER_MS = 1000;
const SAMPLE_ACCESS = encodeAMF0('|RtmpSampleAccess', true, true);

/** What a file player needs from its NetStream. */
export interface VodOutput {
  readonly channel: FlashChannel;
  status(code: string, description: string, details: string): void;
  userControl(event: UserControl): void;
  log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void;
  /** the file ended or failed: the stream forgets this player */
  ended(player: FilePlayer, bytes: number, reason: string): void;
}

export class FilePlayer {
  private generation = 0;
  private bufferMs = DEFAULT_BUFFER_MS;
  private paused = false;
  private resume: (() => void) | null = null;
  /** pacing anchor: media time `anchorMedia` is due at wall time `anchorWall` */
  private anchorWall = 0;
  private anchorMedia = 0;
  /** the last media time sent (where a pause resumes) */
  private position = 0;
  private bytes = 0;
  private closed = false;
  private wake: (() => void) | null = null;
  /** a seek while paused: where play resumes */
  private pendingFrom: number | null = null;

  constructor(
    private readonly out: VodOutput,
    private readonly reader: MediaFileReader,
    /** the name the player asked for (in statuses) */
    readonly name: string,
    private readonly lengthMs: number,
  ) {}

  get sentBytes(): number {
    return this.bytes;
  }

  /** play(name, start): statuses, then the frames from `startMs`. */
  start(startMs: number, reset: boolean): void {
    const name = this.name;
    this.out.userControl(UserControl.StreamIsRecorded);
    this.out.userControl(UserControl.StreamBegin);
    if (reset) this.out.status('NetStream.Play.Reset', `Playing and resetting ${name}`, name);
    this.out.status('NetStream.Play.Start', `Started playing ${name}`, name);
    this.out.channel.send(MessageType.DataAMF0, 0, SAMPLE_ACCESS, true);
    this.out.channel.flush();
    this.run(startMs);
  }

  /** setBufferLength from the player (ms). */
  setBufferLength(ms: number): void {
    const before = this.bufferMs;
    this.bufferMs = Math.max(0, ms);
    if (this.bufferMs > before) this.wake?.();
  }

  /** seek(ms): from the key frame at or before ms. */
  seek(ms: number): void {
    const name = this.name;
    const to = Math.max(0, Math.min(ms, this.reader.durationMs));
    this.out.status('NetStream.Seek.Notify', `Seeking ${to} (stream ID: ${name}).`, name);
    if (this.paused) {
      // the player stays paused: play resumes from the new point
      this.pendingFrom = to;
      this.position = to;
      this.generation++;
      this.resume?.();
      this.resume = null;
      this.out.channel.flush();
      return;
    }
    this.out.userControl(UserControl.StreamBegin);
    this.out.status('NetStream.Play.Start', `Started playing ${name}`, name);
    this.out.channel.flush();
    this.run(to);
  }

  /** pause(true, ms) / pause(false, ms): `ms` is where the player is. */
  pause(on: boolean, playerMs: number | undefined): void {
    if (on === this.paused) return;
    this.paused = on;
    const name = this.name;
    if (on) {
      this.out.status('NetStream.Pause.Notify', `Pausing ${name}.`, name);
      this.out.channel.flush();
      return;
    }
    this.out.status('NetStream.Unpause.Notify', `Unpausing ${name}.`, name);
    this.out.channel.flush();
    // the clock restarts where the player is: what it had buffered counts
    this.anchorWall = Date.now();
    this.anchorMedia = playerMs ?? this.position;
    const from = this.pendingFrom;
    this.pendingFrom = null;
    if (from !== null) {
      this.out.status('NetStream.Play.Start', `Started playing ${name}`, name);
      this.run(from);
      return;
    }
    const r = this.resume;
    this.resume = null;
    if (r) r();
    else this.run(this.position);
  }

  /** The stream stops playing (closeStream, another play, the session ends). */
  close(): void {
    this.closed = true;
    this.generation++;
    this.resume?.();
    this.wake?.();
    this.reader.close().catch(() => undefined);
  }

  private run(fromMs: number): void {
    const gen = ++this.generation;
    // the loop of the previous generation wakes up and leaves
    this.resume?.();
    this.resume = null;
    this.wake?.();
    this.loop(gen, fromMs).catch((e: Error) => {
      if (gen !== this.generation || this.closed) return;
      this.out.log('error', `${this.name}: ${e.message}`);
      this.out.status('NetStream.Play.Failed', `${this.name}: ${e.message}`, this.name);
      this.out.channel.flush();
      this.out.ended(this, this.bytes, e.message);
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = null;
        done();
      };
    });
  }

  private async loop(gen: number, fromMs: number): Promise<void> {
    const r = this.reader;
    const ch = this.out.channel;
    const at = Math.max(0, fromMs);
    // metadata and decoder configurations at the point played from
    if (r.metadata) ch.sendMedia(MessageType.DataAMF0, at, new MediaFrame(MediaType.Data, at, r.metadata), r.metadata, true);
    if (r.videoConfig) this.send(MediaType.Video, at, r.videoConfig);
    if (r.audioConfig) this.send(MediaType.Audio, at, r.audioConfig);
    ch.flush();
    let first = true;
    const end = this.lengthMs >= 0 ? at + this.lengthMs : Infinity;
    for await (const f of r.frames(at, end)) {
      if (gen !== this.generation) return;
      if (first) {
        // the clock starts at the first frame (the key frame at or before the point asked for)
        first = false;
        this.anchorWall = Date.now();
        this.anchorMedia = f.time;
      }
      for (;;) {
        if (gen !== this.generation) return;
        if (this.paused) {
          await new Promise<void>((resolve) => (this.resume = resolve));
          continue;
        }
        const due = this.anchorWall + (f.time - this.anchorMedia) - this.bufferMs;
        const wait = Math.max(due - Date.now(), ch.queuedBytes() > MAX_QUEUED ? 20 : 0);
        if (wait <= 0) break;
        ch.flush();
        await this.sleep(Math.min(wait, 1000));
      }
      this.send(f.type, f.time, f.payload);
      this.position = f.time;
    }
    if (gen !== this.generation) return;
    // everything is sent: the end, as FMS says it (Play.Complete first: rtmpdump counts a
    // download complete on it, and stops reading at Play.Stop)
    const name = this.name;
    const complete = Table.of({ level: 'status', code: 'NetStream.Play.Complete', duration: r.durationMs / 1000, bytes: this.bytes });
    ch.send(MessageType.DataAMF0, this.position, encodeAMF0('onPlayStatus', complete), true);
    this.out.status('NetStream.Play.Stop', `Stopped playing ${name}.`, name);
    this.out.userControl(UserControl.StreamEOF);
    ch.flush();
    this.out.ended(this, this.bytes, 'complete');
  }

  private send(type: MediaType, time: number, payload: Buffer): void {
    this.bytes += payload.length;
    const t = type === MediaType.Audio ? MessageType.Audio : type === MediaType.Video ? MessageType.Video : MessageType.DataAMF0;
    this.out.channel.sendMedia(t, time, new MediaFrame(type, time, payload), payload, true);
  }
}
