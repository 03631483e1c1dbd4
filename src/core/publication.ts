import { Table } from '../serialization/value';
import type { Client } from './client';
import type { Listener } from './listener';
import { DataType, MediaFrame, MediaType } from './media';
import type { PublicationSource, PublishType } from './publication-source';
import { QualityOfService } from './qos';

/**
 * Something that sees every frame a publication receives, before any listener decision: script
 * events (`publication:onVideo`…), muxers that must not miss a frame (HLS), recorders, relays.
 * Any number of them, in the order they subscribed.
 */
export interface PublicationObserver {
  onAudio?(frame: MediaFrame): void;
  onVideo?(frame: MediaFrame): void;
  onData?(frame: MediaFrame): void;
  /** metadata replaced (`@setDataFrame`, `writeProperties`) or cleared (frame null) */
  onMetadata?(frame: MediaFrame | null): void;
  /** end of a burst of frames */
  onFlush?(): void;
  /** a publisher started (again) */
  onStart?(publication: Publication): void;
  /** the publisher left */
  onStop?(publication: Publication): void;
}

/**
 * State derived from one publication and computed once whatever the number of viewers (the TS
 * muxer's continuity counters, an HLS segmenter, a recorder, a relay): made on first use by its
 * key's factory, kept while the publication exists; its `close()`, if it has one, is called when
 * the registry drops the publication.
 */
export type DerivedState = object;

function closeState(state: DerivedState): void {
  const close = (state as { close?: unknown }).close;
  if (typeof close === 'function') close.call(state);
}

/** Names one kind of derived state and how to make it for a publication. */
export class DerivedKey<T extends DerivedState> {
  constructor(
    readonly name: string,
    readonly create: (publication: Publication) => T,
  ) {}
}

/**
 * One live stream. A frame pushed here is created once and handed, unchanged, to every
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
  /** with type record/append: the file name the request named (none: `<name>.flv`) */
  recordFile: string | null = null;
  /** the app of the current publish: the publisher's path, or the app of the script that publishes */
  app = '';
  running = false;
  /** last media time pushed (ms) */
  lastTime = 0;
  /**
   * Video frames dropped because the publisher's transport lost part of the stream (MonaServer's
   * `publication.droppedFrames`): after a loss the frames that follow cannot be decoded, so they are
   * dropped up to the next key frame, for every listener and observer.
   */
  droppedFrames = 0;
  /** frames dropped for listeners too slow for them (congestion), all listeners together */
  listenerDroppedFrames = 0;
  /** a loss broke the video: frames wait for the next key frame */
  private videoBroken = false;
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
  private readonly listenerSet = new Set<Listener>();
  /** a copy-on-write array: observers may unsubscribe while frames are dispatched */
  private observers: readonly PublicationObserver[] = [];
  private derivedStates: Map<DerivedKey<DerivedState>, DerivedState> | undefined;
  private dropped = false;
  /** services keeping this publication in the registry without a publisher or listener (an HLS stream still watched) */
  private holds = 0;

  constructor(readonly name: string) {}

  get listeners(): ReadonlySet<Listener> {
    return this.listenerSet;
  }

  /** Marks the publication live and tells observers and listeners (PublishNotify) to start. */
  start(publisher: Client | null): void {
    this.publisher = publisher;
    this.running = true;
    this.videoBroken = false;
    this.hasVideo = this.hasAudio = false;
    this.audioConfig = this.videoConfig = this.metadata = null;
    this.properties = new Table();
    for (const o of this.observers) o.onStart?.(this);
    for (const l of this.listenerSet) l.start();
  }

  /** The publisher is gone: listeners stay subscribed (UnpublishNotify) and wait for a new one. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.publisher = null;
    this.source = null;
    for (const o of this.observers) o.onStop?.(this);
    for (const l of this.listenerSet) l.stop();
  }

  /** Adds an observer of every frame; returns the function that removes it. */
  observe(observer: PublicationObserver): () => void {
    this.observers = [...this.observers, observer];
    return () => {
      this.observers = this.observers.filter((o) => o !== observer);
    };
  }

  get observerCount(): number {
    return this.observers.length;
  }

  /** The state `key` derives from this publication, made on first use. */
  derived<T extends DerivedState>(key: DerivedKey<T>): T {
    let states = this.derivedStates;
    if (states === undefined) states = this.derivedStates = new Map();
    let state = states.get(key) as T | undefined;
    if (state === undefined) {
      state = key.create(this);
      // made after the registry dropped this publication (a late reference): not kept
      if (!this.dropped) states.set(key, state);
    }
    return state;
  }

  /** The state `key` derives, if it was made. */
  peekDerived<T extends DerivedState>(key: DerivedKey<T>): T | undefined {
    return this.derivedStates?.get(key) as T | undefined;
  }

  /** Closes and forgets the state `key` derived (it is made again on next use). */
  dropDerived(key: DerivedKey<DerivedState>): void {
    const state = this.derivedStates?.get(key);
    if (!state) return;
    this.derivedStates!.delete(key);
    closeState(state);
  }

  /**
   * What the derived states say about themselves (an HLS stream's viewers, a recording's file),
   * for the admin API: each state with a `view()` method, by its key's name.
   */
  derivedViews(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    if (!this.derivedStates) return out;
    for (const [key, state] of this.derivedStates) {
      const view = (state as { view?: unknown }).view;
      if (typeof view === 'function') out[key.name] = view.call(state);
    }
    return out;
  }

  /** true while a service holds the publication in the registry (see Publications.hold) */
  get held(): boolean {
    return this.holds > 0;
  }

  /** @internal Publications.hold's counter */
  addHold(delta: number): void {
    this.holds = Math.max(0, this.holds + delta);
  }

  /** The registry dropped this publication: every derived state is closed. */
  drop(): void {
    this.dropped = true;
    const states = this.derivedStates;
    this.derivedStates = undefined;
    if (states) for (const s of states.values()) closeState(s);
  }

  addListener(listener: Listener): void {
    this.listenerSet.add(listener);
    if (this.running) listener.start();
  }

  removeListener(listener: Listener): boolean {
    return this.listenerSet.delete(listener);
  }

  /**
   * An audio frame. `latency`: a latency sample (ms) for the QoS, the publisher's ping by default;
   * `lost`: messages of this stream its transport lost since the previous one.
   */
  pushAudio(time: number, payload: Buffer, latency?: number, lost = 0): void {
    if (!this.running || payload.length === 0) return;
    const frame = new MediaFrame(MediaType.Audio, time, payload);
    this.hasAudio = true;
    if (frame.config) this.audioConfig = frame;
    const now = Date.now();
    this.audioQOS.lost(lost, now);
    this.audioQOS.add(payload.length, now, latency ?? this.publisher?.ping ?? 0);
    for (const o of this.observers) o.onAudio?.(frame);
    this.dispatch(frame);
  }

  /** A video frame (`latency` and `lost` as for pushAudio); after a loss, frames wait for a key frame. */
  pushVideo(time: number, payload: Buffer, latency?: number, lost = 0): void {
    if (!this.running || payload.length === 0) return;
    const frame = new MediaFrame(MediaType.Video, time, payload);
    this.hasVideo = true;
    if (frame.config) this.videoConfig = frame;
    const now = Date.now();
    this.videoQOS.lost(lost, now);
    this.videoQOS.add(payload.length, now, latency ?? this.publisher?.ping ?? 0);
    if (lost > 0) this.videoBroken = true;
    if (this.videoBroken && !frame.config) {
      if (!frame.key) {
        this.droppedFrames++;
        return;
      }
      this.videoBroken = false;
    }
    for (const o of this.observers) o.onVideo?.(frame);
    this.dispatch(frame);
  }

  /** A data message (e.g. AMF0 `onCuePoint`, WebSocket JSON); `latency` and `lost` as for pushAudio. */
  pushData(payload: Buffer, dataType: DataType = DataType.AMF0, time = this.lastTime, latency?: number, lost = 0): void {
    if (!this.running) return;
    const frame = new MediaFrame(MediaType.Data, time, payload, dataType);
    const now = Date.now();
    this.dataQOS.lost(lost, now);
    this.dataQOS.add(payload.length, now, latency ?? this.publisher?.ping ?? 0);
    for (const o of this.observers) o.onData?.(frame);
    this.dispatch(frame);
  }

  /**
   * Metadata (`@setDataFrame onMetaData`, `publication:writeProperties`): kept for late joiners and
   * sent to current ones. `frame` is the AMF0 data frame `onMetaData`, properties its decoded table.
   */
  setMetadata(frame: MediaFrame | null, properties: Table): void {
    this.metadata = frame;
    this.properties = properties;
    for (const o of this.observers) o.onMetadata?.(frame);
    if (frame && this.running) this.dispatch(frame);
  }

  flush(): void {
    for (const l of this.listenerSet) l.sink.flush();
    for (const o of this.observers) o.onFlush?.();
  }

  private dispatch(frame: MediaFrame): void {
    if (frame.type !== MediaType.Data && frame.time > this.lastTime) this.lastTime = frame.time;
    for (const l of this.listenerSet) l.push(frame);
  }
}
