import { Table } from '../serialization/value';
import type { StreamObserver } from './access-log';
import type { AppHost } from './app-host';
import type { Client } from './client';
import { StreamRefused } from './errors';
import { Listener, type MediaSink } from './listener';
import { Publication } from './publication';
import type { PublishOptions } from './publication-source';

/** A service told when publishing and playing start and end (recording, relays), besides the access log. */
export interface PublicationsWatcher {
  /** after the publisher was accepted and the publication started, before its first frame */
  published?(publication: Publication, client: Client | null): void;
  /** after the publisher stopped (listeners were told), before the scripts' onUnpublish */
  unpublished?(publication: Publication, client: Client | null): void;
  /** a listener was added (its publication may not run yet: it waits for a publisher) */
  subscribed?(listener: Listener): void;
  /** a listener ended */
  unsubscribed?(listener: Listener): void;
  /** want(name) / its release: `name` is wanted (or no longer) without a listener */
  wanted?(name: string): void;
}

/**
 * The registry of publications (`mona.publications`) and the publish/play flow every protocol
 * shares: name uniqueness (BadName), script approval (onPublish/onSubscribe), listeners waiting for
 * a publisher, clean-up of idle publications.
 */
export class Publications implements Iterable<Publication> {
  private readonly byName = new Map<string, Publication>();
  private watchers: readonly PublicationsWatcher[] = [];
  /** names something other than a listener keeps wanted (want()), with their count */
  private readonly wants = new Map<string, number>();

  constructor(
    private readonly host: () => AppHost,
    /** told every publish, play, end and refusal (the access log); none in unit tests */
    private readonly observer: StreamObserver | null = null,
  ) {}

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
      this.observer?.published(pub, client);
      for (const w of this.watchers) {
        try {
          w.published?.(pub, client);
        } catch {
          // a service's failure (recording) never refuses the publisher
        }
      }
      return pub;
    } catch (e) {
      this.observer?.refused(client, 'publish', name, (e as Error).message);
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
    pub.recordFile = pub.publishType === 'live' ? null : (options.record ?? null);
    pub.app = options.app ?? client?.path ?? '';
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
    this.observer?.unpublished(pub, client);
    for (const w of this.watchers) {
      try {
        w.unpublished?.(pub, client);
      } catch {
        // a service's failure never keeps the scripts from hearing of the end
      }
    }
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
      this.observer?.subscribed(listener);
      for (const w of this.watchers) w.subscribed?.(listener);
      return listener;
    } catch (e) {
      this.observer?.refused(client, 'play', name, (e as Error).message);
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
    this.observer?.unsubscribed(listener, reason);
    for (const w of this.watchers) w.unsubscribed?.(listener);
    try {
      this.host().onUnsubscribe(listener.client, listener);
    } finally {
      if (reason !== undefined) listener.sink.close(reason);
      this.dropIfIdle(pub);
    }
  }

  /** Adds a service told of every publish and unpublish; returns the function that removes it. */
  watch(watcher: PublicationsWatcher): () => void {
    this.watchers = [...this.watchers, watcher];
    return () => {
      this.watchers = this.watchers.filter((w) => w !== watcher);
    };
  }

  /**
   * Keeps `name` wanted without a listener, as a player would (a script handling the media of a
   * publication another process of this server receives): relays fetch a publication that runs
   * elsewhere while it is wanted. Returns the function that lets go (once).
   */
  want(name: string): () => void {
    this.wants.set(name, (this.wants.get(name) ?? 0) + 1);
    for (const w of this.watchers) w.wanted?.(name);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.wants.get(name) ?? 1) - 1;
      if (n > 0) this.wants.set(name, n);
      else this.wants.delete(name);
      for (const w of this.watchers) w.wanted?.(name);
    };
  }

  /** how many want()s keep `name` wanted */
  wanted(name: string): number {
    return this.wants.get(name) ?? 0;
  }

  /**
   * Keeps `pub` in the registry while its publisher is gone and nobody listens (an HLS stream that
   * players still fetch waits for the publisher to come back, so its segments continue after a
   * discontinuity instead of starting over). Returns the release; the last release drops it if idle.
   */
  hold(pub: Publication): () => void {
    pub.addHold(1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      pub.addHold(-1);
      this.dropIfIdle(pub);
    };
  }

  private dropIfIdle(pub: Publication): void {
    if (pub.running || pub.listeners.size !== 0 || pub.held || this.byName.get(pub.name) !== pub) return;
    this.byName.delete(pub.name);
    this.observer?.removed(pub);
    pub.drop();
  }
}
