/**
 * Recording publications to FLV and MP4 files, whoever publishes them. A publish with type
 * "record" or "append" (Flash `publish(name, type)`, a script's `mona:publish(name, type)`) records
 * to the file its name says (`cam` → cam.flv, `cam.mp4` / `mp4:cam` → cam.mp4), and each `OUT file`
 * line of a `[name=Publication]` section records every publish of that name. Files are written in
 * the app folder of the publication (the publisher's, or the publishing script's), never outside
 * www/. `append` (the type, or the `append` setting) continues an existing file.
 *
 * A recording is a publication observer kept in the publication's derived state: it starts at the
 * first audio or video frame (the publisher's metadata is known by then and goes into the file),
 * takes every frame, and is finalised when the publisher stops. Asking the app
 * (`client:onWrite(file, params)`), telling it (`publication:onRecord(file)`,
 * `publication:onRecordStop(file, info)`) and the publisher (`NetStream.Record.Start/Stop/Failed/
 * NoAccess`) go through core's hooks. A recording that fails (disk full, a codec change an MP4 file
 * cannot take) is logged and reported, and the publication goes on without it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { formatBytes, formatDuration } from '../core/access-log';
import { appHook, RECORDING } from '../core/app-hooks';
import type { Client } from '../core/client';
import type { ServerContext } from '../core/context';
import { MediaType, type MediaFrame } from '../core/media';
import { DerivedKey, type Publication } from '../core/publication';
import type { PublicationSource } from '../core/publication-source';
import { Table } from '../serialization/value';
import { FLVRecorder, type RecordingStats } from '../media/files/flv-recorder';
import { MP4Recorder } from '../media/files/mp4-recorder';
import { containerOf, joinInside, recordingTarget, type Container } from '../media/files/names';

/** Frames held while a file opens; past it frames are dropped (counted) until the file is open. */
const OPENING_QUEUE_BYTES = 8 << 20;

/** What a recording is asked to write. */
export interface RecordingRequest {
  /** relative to the app folder */
  file: string;
  append: boolean;
  /** "publish" (the publish type asked for it) or "ini" (an OUT line) */
  origin: 'publish' | 'ini';
}

type Recorder = FLVRecorder | MP4Recorder;

/** The settings a recording reads (`[publication]` and its `[name=Publication]` section). */
export interface RecordingSettings {
  append: boolean;
  outputs: string[];
}

export interface RecordingView {
  file: string;
  container: Container;
  append: boolean;
  state: 'waiting' | 'opening' | 'recording' | 'stopped';
  frames: number;
  droppedFrames: number;
  bytes: number;
  durationMs: number;
  error: string | null;
}

/** One file being recorded from one publish of a publication. */
export class Recording {
  state: RecordingView['state'] = 'waiting';
  private recorder: Recorder | null = null;
  private queue: MediaFrame[] = [];
  private queuedBytes = 0;
  private droppedWhileOpening = 0;
  private unobserve: (() => void) | null = null;
  private opened: Promise<Recorder | null> | null = null;
  private failure: Error | null = null;
  private final: RecordingStats | null = null;
  readonly container: Container;
  readonly path: string;

  constructor(
    private readonly service: Recordings,
    readonly publication: Publication,
    /** relative to the app folder */
    readonly file: string,
    readonly append: boolean,
    /** the publisher's end, to tell it NetStream.Record.* (null: a script or a publisher without statuses) */
    private readonly source: PublicationSource | null,
    appDir: string,
  ) {
    this.container = containerOf(file) ?? 'flv';
    this.path = path.join(appDir, ...file.split('/'));
  }

  /** Starts taking the publication's frames; the file opens at the first audio or video frame. */
  start(): void {
    const onMedia = (frame: MediaFrame) => this.take(frame);
    this.unobserve = this.publication.observe({ onAudio: onMedia, onVideo: onMedia, onData: (f) => this.take(f) });
  }

  private take(frame: MediaFrame): void {
    if (this.state === 'stopped') return;
    if (this.recorder) {
      this.recorder.write(frame);
      const error = this.recorder.error;
      if (error) this.fail(error);
      return;
    }
    if (this.queuedBytes + frame.payload.length > OPENING_QUEUE_BYTES) {
      this.droppedWhileOpening++;
      return;
    }
    this.queue.push(frame);
    this.queuedBytes += frame.payload.length;
    if (this.state === 'waiting' && frame.type !== MediaType.Data) this.open();
  }

  private open(): void {
    this.state = 'opening';
    const pub = this.publication;
    const props = pub.properties;
    const expect = props.field('videocodecid') !== undefined || props.field('audiocodecid') !== undefined
      ? { video: props.field('videocodecid') !== undefined, audio: props.field('audiocodecid') !== undefined }
      : undefined;
    const opts = { append: this.append, metadata: pub.metadata?.payload ?? null };
    const opening: Promise<Recorder> = (async () => {
      await fs.promises.mkdir(path.dirname(this.path), { recursive: true });
      return this.container === 'mp4' ? MP4Recorder.open(this.path, { ...opts, expect }) : FLVRecorder.open(this.path, opts);
    })();
    this.opened = opening.then(
      (rec) => {
        this.recorder = rec;
        if (this.state === 'stopped') {
          // stopped while opening: what was queued is written, end() finalises the file
          this.flushQueue();
          return rec;
        }
        this.state = 'recording';
        this.service.started(this);
        this.flushQueue();
        return rec;
      },
      (e: Error) => {
        this.queue = [];
        this.fail(e);
        return null;
      },
    );
  }

  private flushQueue(): void {
    const q = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    for (const f of q) {
      this.recorder!.write(f);
      if (this.recorder!.error) {
        this.fail(this.recorder!.error);
        return;
      }
    }
  }

  /** The recording cannot go on: reported; the publication continues without it. */
  private fail(error: Error): void {
    if (this.failure || this.final) return;
    this.failure = error;
    this.end(`failed: ${error.message}`);
  }

  /** The publisher stopped (or the server stops): the file is finalised. */
  stop(reason = 'publisher stopped'): Promise<void> {
    return this.end(reason);
  }

  private ending: Promise<void> | null = null;

  private end(reason: string): Promise<void> {
    if (this.ending) return this.ending;
    const started = this.state === 'recording';
    this.state = 'stopped';
    this.unobserve?.();
    this.unobserve = null;
    const rec = this.recorder;
    this.service.ended(this, started, reason, this.failure);
    if (rec) this.ending = this.finish(rec);
    else if (this.opened) this.ending = this.opened.then((r) => (r ? this.finish(r) : undefined));
    else this.ending = Promise.resolve();
    return this.ending;
  }

  private finish(rec: Recorder): Promise<void> {
    return rec.close().then(
      (stats) => {
        this.final = stats;
        this.service.finalised(this, stats, this.failure);
      },
      (e: Error) => this.service.finalised(this, rec.stats, e),
    );
  }

  get stats(): RecordingStats {
    const s = this.final ?? this.recorder?.stats ?? { frames: 0, droppedFrames: 0, bytes: 0, durationMs: 0 };
    return { ...s, droppedFrames: s.droppedFrames + this.droppedWhileOpening };
  }

  get error(): Error | null {
    return this.failure;
  }

  view(): RecordingView {
    const s = this.stats;
    return {
      file: this.file, container: this.container, append: this.append, state: this.state, frames: s.frames,
      droppedFrames: s.droppedFrames, bytes: s.bytes, durationMs: s.durationMs, error: this.failure?.message ?? null,
    };
  }

  /** NetStream.Record.* to the publisher, when it has a status channel. */
  notify(code: string, description: string): void {
    try {
      this.source?.notify?.(code, description);
    } catch {
      // the publisher is gone
    }
  }
}

/** The recordings of one publication (its derived state): the current publish's files. */
export class PublicationRecordings {
  readonly current: Recording[] = [];

  view(): RecordingView[] {
    return this.current.map((r) => r.view());
  }

  close(): void {
    for (const r of this.current) void r.stop('publication removed');
  }
}

export class Recordings {
  readonly key = new DerivedKey('recordings', () => new PublicationRecordings());
  private unwatch: (() => void) | null = null;
  /** recordings being finalised (stop() waits for them) */
  private readonly closing = new Set<Promise<void>>();

  constructor(private readonly context: ServerContext) {}

  /** Starts recording what is published from now on. */
  start(): void {
    if (this.unwatch) return;
    this.unwatch = this.context.publications.watch({
      published: (pub, client) => this.onPublished(pub, client),
      unpublished: (pub) => this.onUnpublished(pub),
    });
  }

  /** Stops every recording and waits until their files are finalised. */
  async stop(): Promise<void> {
    this.unwatch?.();
    this.unwatch = null;
    for (const pub of this.context.publications) {
      const state = pub.peekDerived(this.key);
      if (state) for (const r of state.current.splice(0)) this.closing.add(r.stop('server stopping'));
    }
    await Promise.all([...this.closing]);
  }

  /** What `pub`'s publish asks to record: its type's file, and the OUT lines of its section. */
  requests(pub: Publication): RecordingRequest[] {
    const config = this.context.config;
    const section = config.publications[pub.name];
    const appendSetting = section?.append ?? config.publication.append;
    const out: RecordingRequest[] = [];
    if (pub.publishType !== 'live') {
      out.push({ file: pub.recordFile ?? `${pub.name}.flv`, append: pub.publishType === 'append' || appendSetting, origin: 'publish' });
    }
    for (const target of section?.outputs ?? []) {
      const file = target.replace(/^file:\/\//i, '');
      if (!containerOf(file)) {
        this.context.logger.warn('Record', `[${pub.name}=Publication] OUT ${target}: only .flv and .mp4 files are recorded, line ignored`);
        continue;
      }
      out.push({ file, append: appendSetting, origin: 'ini' });
    }
    return out;
  }

  private onPublished(pub: Publication, client: Client | null): void {
    // a copy of a publication another process of this server runs: recorded there
    if (pub.source?.mirror) return;
    const requests = this.requests(pub);
    if (requests.length === 0) return;
    const state = pub.derived(this.key);
    state.current.length = 0;
    const appDir = path.join(this.context.wwwDir, ...pub.app.split('/').filter((s) => s !== ''));
    const seen = new Set<string>();
    for (const req of requests) {
      const file = this.allowed(pub, client, req);
      if (file === null) continue;
      const full = joinInside(appDir, file);
      if (!full || !this.inside(full)) {
        this.refuse(pub, `${file}: not a file name inside the application folder`, 'NetStream.Record.NoAccess', req.origin === 'publish');
        continue;
      }
      if (seen.has(full)) continue;
      seen.add(full);
      // the publisher is told about what its publish asked for; OUT lines are the server's own
      // business (a publisher such as ffmpeg ends on any error status it receives)
      const r = new Recording(this, pub, file, req.append, req.origin === 'publish' ? pub.source : null, appDir);
      state.current.push(r);
      r.start();
    }
  }

  /** `client:onWrite(file, params)` for a client's publish: the file to write, or null (refused, told). */
  private allowed(pub: Publication, client: Client | null, req: RecordingRequest): string | null {
    if (!client || req.origin === 'ini') return req.file;
    const hook = appHook(this.context.host, RECORDING);
    if (!hook) return req.file;
    let file: string | null;
    try {
      file = hook.onWrite(client, req.file, Table.of({ append: req.append, type: pub.publishType, name: pub.name }));
    } catch (e) {
      this.refuse(pub, (e as Error).message, 'NetStream.Record.NoAccess');
      return null;
    }
    if (file === null) this.refuse(pub, `No authorization to record ${pub.name} in ${req.file}`, 'NetStream.Record.NoAccess');
    else if (!containerOf(file)) {
      this.refuse(pub, `${file}: recordings are .flv or .mp4 files`, 'NetStream.Record.Failed');
      return null;
    }
    return file;
  }

  /** A symbolic link in the way may not lead out of www/. */
  private inside(full: string): boolean {
    let realRoot: string;
    try {
      realRoot = fs.realpathSync(this.context.wwwDir);
    } catch {
      return false;
    }
    // the deepest part of the path that exists decides
    for (let p = full; ; p = path.dirname(p)) {
      try {
        const real = fs.realpathSync(p);
        return real === realRoot || real.startsWith(realRoot + path.sep);
      } catch {
        if (path.dirname(p) === p) return false;
      }
    }
  }

  private refuse(pub: Publication, message: string, code: string, tell = true): void {
    this.context.logger.warn('Record', `${pub.name}: not recorded: ${message}`, { event: 'record', stream: pub.name, reason: message });
    if (!tell) return;
    try {
      pub.source?.notify?.(code, message);
    } catch {
      // the publisher is gone
    }
  }

  private onUnpublished(pub: Publication): void {
    const state = pub.peekDerived(this.key);
    if (!state) return;
    for (const r of state.current) {
      const p = r.stop();
      this.closing.add(p);
      void p.finally(() => this.closing.delete(p));
    }
  }

  // ---- what a Recording tells

  /** The file is open: the app and the publisher are told. */
  started(r: Recording): void {
    const pub = r.publication;
    this.context.logger.info('Record', `${pub.name} recorded to ${r.path}${r.append ? ' (append)' : ''}`, {
      event: 'record', stream: pub.name, file: r.file, path: r.path, append: r.append,
    });
    r.notify('NetStream.Record.Start', `${r.file} recording started`);
    appHook(this.context.host, RECORDING)?.onRecord(pub, r.file);
  }

  /** The recording ended (stop or failure): the app is told now, with the figures so far. */
  ended(r: Recording, started: boolean, reason: string, failure: Error | null): void {
    const pub = r.publication;
    if (failure) {
      this.context.logger.error('Record', `${pub.name}: recording to ${r.path} ${reason}; the publication goes on`, {
        event: 'record', stream: pub.name, file: r.file, reason,
      });
      r.notify('NetStream.Record.Failed', `${r.file}: ${failure.message}`);
    }
    if (!started && !failure) return;
    r.notify('NetStream.Record.Stop', `${r.file} recording stopped`);
    const s = r.stats;
    const info = Table.of({
      duration: s.durationMs / 1000, bytes: s.bytes, frames: s.frames, droppedFrames: s.droppedFrames, path: r.path,
    });
    if (failure) info.set('error', failure.message);
    appHook(this.context.host, RECORDING)?.onRecordStop(pub, r.file, info);
  }

  /** The file is complete on disk. */
  finalised(r: Recording, stats: RecordingStats, failure: Error | null): void {
    const pub = r.publication;
    this.context.logger.info(
      'Record',
      `${pub.name}: ${r.path} complete, ${formatDuration(stats.durationMs)}, ${formatBytes(stats.bytes)}${stats.droppedFrames ? `, ${stats.droppedFrames} frames dropped` : ''}${failure ? ` (${failure.message})` : ''}`,
      { event: 'record-stop', stream: pub.name, file: r.file, path: r.path, duration: stats.durationMs, bytes: stats.bytes, droppedFrames: stats.droppedFrames },
    );
  }
}
