import { Table } from '../serialization/value';
import type { Client } from './client';
import type { Listener } from './listener';
import { DataType, MediaFrame, MediaType } from './media';
import type { PublicationSource, PublishType } from './publication-source';
import { QualityOfService } from './qos';

/** Script hooks on a publication (`publication:onAudio/onVideo/onData/onFlush`), set by scripting. */
export interface PublicationEvents {
  onAudio?(frame: MediaFrame): void;
  onVideo?(frame: MediaFrame): void;
  onData?(frame: MediaFrame): void;
  onFlush?(): void;
}

/**
 * One live stream (SPEC S8). A frame pushed here is created once and handed, unchanged, to every
 * listener; listeners decide per frame (receiveAudio, key frame wait, congestion) and protocols
 * serialize once per format through frame.serialized().
 */
export class Publication {
  /** null = published by a script (`mona:publish`) */
  publisher: Client | null = null;
  /** the publisher's end (its NetStream...), to close it from the server side; null for scripts */
  source: PublicationSource | null = null;
  /** the publish request's type ("live", "record", "append") */
  publishType: PublishType = 'live';
  running = false;
  /** last media time pushed (ms) */
  lastTime = 0;
  droppedFrames = 0;
  readonly audioQOS = new QualityOfService();
  readonly videoQOS = new QualityOfService();
  readonly dataQOS = new QualityOfService();
  /** metadata as scripts see it (`publication.properties`) */
  properties = new Table();
  /** the serialized metadata frame replayed first to late joiners (an AMF0 `onMetaData` data frame) */
  metadata: MediaFrame | null = null;
  audioConfig: MediaFrame | null = null;
  videoConfig: MediaFrame | null = null;
  hasVideo = false;
  hasAudio = false;
  events: PublicationEvents | undefined = undefined;
  /** scripting layer's slot */
  script: unknown = undefined;
  private readonly listenerSet = new Set<Listener>();

  constructor(readonly name: string) {}

  get listeners(): ReadonlySet<Listener> {
    return this.listenerSet;
  }

  /** Marks the publication live and tells listeners (PublishNotify) to start. */
  start(publisher: Client | null): void {
    this.publisher = publisher;
    this.running = true;
    this.hasVideo = this.hasAudio = false;
    this.audioConfig = this.videoConfig = this.metadata = null;
    this.properties = new Table();
    for (const l of this.listenerSet) l.start();
  }

  /** The publisher is gone: listeners stay subscribed (UnpublishNotify) and wait for a new one. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.publisher = null;
    this.source = null;
    for (const l of this.listenerSet) l.stop();
  }

  addListener(listener: Listener): void {
    this.listenerSet.add(listener);
    if (this.running) listener.start();
  }

  removeListener(listener: Listener): boolean {
    return this.listenerSet.delete(listener);
  }

  pushAudio(time: number, payload: Buffer): void {
    if (!this.running || payload.length === 0) return;
    const frame = new MediaFrame(MediaType.Audio, time, payload);
    this.hasAudio = true;
    if (frame.config) this.audioConfig = frame;
    this.audioQOS.add(payload.length);
    this.events?.onAudio?.(frame);
    this.dispatch(frame);
  }

  pushVideo(time: number, payload: Buffer): void {
    if (!this.running || payload.length === 0) return;
    const frame = new MediaFrame(MediaType.Video, time, payload);
    this.hasVideo = true;
    if (frame.config) this.videoConfig = frame;
    this.videoQOS.add(payload.length);
    this.events?.onVideo?.(frame);
    this.dispatch(frame);
  }

  /** A data message (e.g. AMF0 `onCuePoint`, WebSocket JSON). */
  pushData(payload: Buffer, dataType: DataType = DataType.AMF0, time = this.lastTime): void {
    if (!this.running) return;
    const frame = new MediaFrame(MediaType.Data, time, payload, dataType);
    this.dataQOS.add(payload.length);
    this.events?.onData?.(frame);
    this.dispatch(frame);
  }

  /**
   * Metadata (`@setDataFrame onMetaData`, `publication:writeProperties`): kept for late joiners and
   * sent to current ones. `frame` is the AMF0 data frame `onMetaData`, properties its decoded table.
   */
  setMetadata(frame: MediaFrame | null, properties: Table): void {
    this.metadata = frame;
    this.properties = properties;
    if (frame && this.running) this.dispatch(frame);
  }

  flush(): void {
    for (const l of this.listenerSet) l.sink.flush();
    this.events?.onFlush?.();
  }

  private dispatch(frame: MediaFrame): void {
    if (frame.type !== MediaType.Data && frame.time > this.lastTime) this.lastTime = frame.time;
    for (const l of this.listenerSet) l.push(frame);
  }
}
