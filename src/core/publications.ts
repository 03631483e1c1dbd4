import { Table } from '../serialization/value';
import type { StreamObserver } from './access-log';
import type { AppHost } from './app-host';
import type { Client } from './client';
import { StreamRefused } from './errors';
import { Listener, type MediaSink } from './listener';
import { Publication } from './publication';
import type { PublishOptions } from './publication-source';

/**
 * The registry of publications (`mona.publications`) and the publish/play flow every protocol
 * shares: name uniqueness (BadName), script approval (onPublish/onSubscribe), listeners waiting for
 * a publisher, clean-up of idle publications.
 */
export class Publications implements Iterable<Publication> {
  private readonly byName = new Map<string, Publication>();
  /** told every publish, play, end and refusal: the access log first, then watch()ers (relays) */
  private observers: readonly Partial<StreamObserver>[];
  /** names something other than a listener keeps wanted (hold()), with their count */
  private readonly holds = new Map<string, number>();

  constructor(
    private readonly host: () => AppHost,
    /** the access log; none in unit tests */
    observer: StreamObserver | null = null,
  ) {
    this.observers = observer ? [observer] : [];
  }

  /** Adds an observer of publishes, plays and their ends; returns the function that removes it. */
  watch(observer: Partial<StreamObserver>): () => void {
    this.observers = [...this.observers, observer];
    return () => {
      this.observers = this.observers.filter((o) => o !== observer);
    };
  }

  /**
   * Keeps `name` wanted without a listener (an HLS viewer between two playlist requests): what
   * makes a relay fetch a publication that lives on another server counts it as a player. Returns
   * the function that lets go (once).
   */
  hold(name: string): () => void {
    this.holds.set(name, (this.holds.get(name) ?? 0) + 1);
    for (const o of this.observers) o.held?.(name);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.holds.get(name) ?? 1) - 1;
      if (n > 0) this.holds.set(name, n);
      else this.holds.delete(name);
      for (const o of this.observers) o.released?.(name);
    };
  }

  /** how many hold()s keep `name` wanted */
  held(name: string): number {
    return this.holds.get(name) ?? 0;
  }

  get(name: string): Publication | undefined {
    return this.byName.get(name);
  }

  get size(): number {
    return this.byName.size;
  }

  [Symbol.iterator](): Iterator<Publication> {
    return this.byName.values();
  }

  /**
   * Starts publishing `name` for `client` (null: a script's `mona:publish`). Throws
   * StreamRefused('Publish.BadName') if it is already published, ('Publish.Failed') if the script
   * refuses. `options`: the publish type and the publisher's end (kept on the publication).
   */
  publish(client: Client | null, name: string, options: PublishOptions = {}): Publication {
    try {
      const pub = this.startPublishing(client, name, options);
      for (const o of this.observers) o.published?.(pub, client);
      return pub;
    } catch (e) {
      for (const o of this.observers) o.refused?.(client, 'publish', name, (e as Error).message);
      throw e;
    }
  }

  private startPublishing(client: Client | null, name: string, options: PublishOptions): Publication {
    if (!name) throw new StreamRefused('Publish.BadName', 'Empty publication name');
    let pub = this.byName.get(name);
    if (pub?.running) throw new StreamRefused('Publish.BadName', `${name} is already published`);
    const created = !pub;
    if (!pub) pub = new Publication(name);
    pub.publisher = client;
    pub.source = options.source ?? null;
    pub.publishType = options.type ?? 'live';
    try {
      this.host().onPublish(client, pub);
    } catch (e) {
      pub.publisher = null;
      pub.source = null;
      if (e instanceof StreamRefused) throw e;
      throw new StreamRefused('Publish.Failed', e instanceof Error ? e.message : String(e));
    }
    if (created) this.byName.set(name, pub);
    pub.start(client);
    return pub;
  }

  /** Ends a publication: listeners get UnpublishNotify and stay, waiting for a new publisher. */
  unpublish(pub: Publication): void {
    if (!pub.running) return;
    const client = pub.publisher;
    pub.stop();
    for (const o of this.observers) o.unpublished?.(pub, client);
    this.host().onUnpublish(client, pub);
    this.dropIfIdle(pub);
  }

  /**
   * Subscribes `sink` to `name`. The publication need not exist yet: the listener waits for it.
   * Throws StreamRefused('Play.Failed') if the script refuses.
   */
  subscribe(client: Client | null, name: string, sink: MediaSink, parameters: Table = new Table()): Listener {
    try {
      const listener = this.startListening(client, name, sink, parameters);
      for (const o of this.observers) o.subscribed?.(listener);
      return listener;
    } catch (e) {
      for (const o of this.observers) o.refused?.(client, 'play', name, (e as Error).message);
      throw e;
    }
  }

  private startListening(client: Client | null, name: string, sink: MediaSink, parameters: Table): Listener {
    if (!name) throw new StreamRefused('Play.Failed', 'Empty stream name');
    let pub = this.byName.get(name);
    const created = !pub;
    if (!pub) pub = new Publication(name);
    const listener = new Listener(pub, client, sink, parameters, (l, reason) => this.unsubscribe(l, reason));
    try {
      this.host().onSubscribe(client, listener);
    } catch (e) {
      if (e instanceof StreamRefused) throw e;
      throw new StreamRefused('Play.Failed', e instanceof Error ? e.message : String(e));
    }
    if (created) this.byName.set(name, pub);
    pub.addListener(listener);
    return listener;
  }

  /**
   * Ends a subscription: the one way every listener ends (the player stopped or left, the server
   * kicked it as too slow, a script or the admin closed it), so scripts always get onUnsubscribe.
   * `reason` is given when the server ends it: the sink is then told (MediaSink.close). Safe twice.
   */
  unsubscribe(listener: Listener, reason?: string): void {
    const pub = listener.publication;
    listener.detach();
    if (!pub.removeListener(listener)) return;
    for (const o of this.observers) o.unsubscribed?.(listener, reason);
    try {
      this.host().onUnsubscribe(listener.client, listener);
    } finally {
      if (reason !== undefined) listener.sink.close(reason);
      this.dropIfIdle(pub);
    }
  }

  private dropIfIdle(pub: Publication): void {
    if (pub.running || pub.listeners.size !== 0 || this.byName.get(pub.name) !== pub) return;
    this.byName.delete(pub.name);
    for (const o of this.observers) o.removed?.(pub);
    pub.drop();
  }
}
