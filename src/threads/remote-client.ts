/**
 * The primary's images of what workers serve (`threads`): a client of a worker is a core Client to
 * the scripts (mona.clients, onConnection, RPC…), whose writers and close() become effects sent to
 * that worker; a player of a worker is a listener of the primary's publication, a "shadow" that
 * scripts see and frames never reach.
 */
import { Client } from '../core/client';
import type { MediaSink } from '../core/listener';
import type { Publication } from '../core/publication';
import { Writer } from '../core/writer';
import { Table, type Value } from '../serialization/value';

/** Where effects go: the bridge, which sends them to the worker (in its answer or over its link). */
export interface EffectSink {
  effect(worker: number, effect: Value[]): void;
  /** a writer made by newWriter(): kept so that the worker's close of it can be mirrored */
  writerMade(writer: RemoteWriter): void;
}

export class RemoteWriter extends Writer {
  private extra = 0;
  private reliability = true;
  /** set when the worker closed it: nothing to tell it back */
  closedByWorker = false;

  constructor(
    readonly client: RemoteClient,
    readonly key: string,
    private readonly sink: EffectSink,
  ) {
    super();
    // Writer.reliable is a field: scripts set it, the worker's writer must follow
    Object.defineProperty(this, 'reliable', {
      get: () => this.reliability,
      set: (on: boolean) => {
        this.reliability = on;
        this.send(['reliable', this.key, on]);
      },
    });
  }

  private send(effect: Value[]): void {
    if (this.closed) return;
    this.sink.effect(this.client.worker, effect);
  }

  writeInvocation(name: string, args: Value[]): void {
    this.send(['invoke', this.key, name, new Table(args)]);
  }
  writeMessage(args: Value[]): void {
    this.send(['message', this.key, new Table(args)]);
  }
  writeRaw(data: Buffer): void {
    this.send(['raw', this.key, data]);
  }
  writeStatusResponse(code: string, description?: string): void {
    this.send(['status', this.key, code, description ?? null]);
  }
  flush(full?: boolean): void {
    this.send(['flush', this.key, full === true]);
  }
  newWriter(): Writer {
    if (this.client.protocol === 'HTTP') throw new Error('HTTP has only one writer per client');
    const w = new RemoteWriter(this.client, `${this.client.id}.${++this.client.writers}`, this.sink);
    this.send(['newWriter', this.key, w.key]);
    this.sink.writerMade(w);
    return w;
  }
  override close(): void {
    if (this.closed) return;
    if (!this.closedByWorker) this.sink.effect(this.client.worker, ['wclose', this.key]);
    super.close();
  }
}

export class RemoteClient extends Client {
  readonly mainWriter: RemoteWriter;
  /** writers made so far (numbers their keys) */
  writers = 0;
  /** the hints last told to the worker */
  hints = -1;
  /** bytes the worker counted for it (its last report) */
  bytesFromWorker = [0, 0];

  constructor(
    rawId: Buffer,
    address: string,
    readonly protocol: string,
    /** the worker serving it */
    readonly worker: number,
    private readonly sink: EffectSink,
  ) {
    super(address, rawId);
    this.mirrored = true;
    this.mainWriter = new RemoteWriter(this, this.id, sink);
  }

  get writer(): Writer {
    return this.mainWriter;
  }

  override get bytesIn(): number {
    return this.bytesFromWorker[0];
  }

  override get bytesOut(): number {
    return this.bytesFromWorker[1];
  }

  close(reason?: string): void {
    this.sink.effect(this.worker, ['close', this.id, reason ?? null]);
  }

  override setCookie(name: string, value: Value, options: Table | null): boolean {
    if (this.protocol !== 'HTTP') return false;
    this.sink.effect(this.worker, ['cookie', this.id, name, value, options]);
    const expires = options?.get('expires');
    this.properties.set(name, typeof expires === 'number' && expires < 0 ? null : value);
    return true;
  }
}

/** The image of a worker's player: counted by scripts, never fed, never a reason to relay here. */
export class ShadowSink implements MediaSink {
  readonly shadow = true;

  constructor(
    readonly worker: number,
    /** the worker's id of its listener */
    readonly id: number,
    private readonly sink: EffectSink,
  ) {}

  receiveChanged(audio: boolean, video: boolean): void {
    this.sink.effect(this.worker, ['receive', this.id, audio, video]);
  }

  writeMedia(): void {}
  onPublicationStart(_publication: Publication): void {}
  onPublicationStop(_publication: Publication): void {}
  flush(): void {}
  queuedBytes(): number {
    return 0;
  }
  close(): void {}
}
