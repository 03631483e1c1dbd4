/**
 * Publications relayed between servers (the origin/edge model of SRS and nginx-rtmp) over
 * MonaServer's own server link, and between the worker processes of one server (`threads`).
 *
 * A player asking this server for a publication that does not run here makes the server ask every
 * linked peer for it ("want"). A peer where it runs from a publisher of its own says so ("has"),
 * now or when a publisher appears later; the first peer that has it is asked to relay it ("play"),
 * and its frames then feed an ordinary local publication: every local player of any protocol, the
 * scripts (onSubscribe, publication events), HLS and recorders see it as they see any publication.
 * One relay per publication per server, whatever the number of local players: frames cross the link
 * once. When the last local player leaves, the relay stops ("stop") and the wants are withdrawn
 * ("unwant").
 *
 * On the origin a relay is one listener of the publication (no client: the origin's scripts get no
 * onSubscribe for it, the players' own server asked its own scripts), so it starts with metadata and
 * codec headers and then a key frame, and the listener's bounds apply to the link's queue: past
 * `dropBytes` non-key video is dropped, past `closeBytes` the relay is cut ("end"), and the edge asks
 * again after `retryMs`.
 *
 * No loop can form: a server offers only what runs from a publisher of its own, never a publication
 * it relays itself from that same set of peers, so every relay comes straight from an origin.
 * With several peer sets in one process (the primary of `threads`, which links the workers and the
 * other servers), a publication relayed from one set may be offered to the other, never back: a
 * worker's publication reaches other servers through the primary, and theirs reach the workers.
 *
 * Relay traffic uses our own handler names (relay-codec.ts) and goes only to peers that announced
 * it in their hello (RELAY_HELLO); MonaServer peers never get a frame of it.
 */
import type { ServerContext } from '../core/context';
import type { Listener, MediaSink } from '../core/listener';
import { DataType, MediaFrame, MediaType } from '../core/media';
import type { Publication, PublicationObserver } from '../core/publication';
import type { PublicationSource } from '../core/publication-source';
import type { PeerServer, Servers } from '../core/servers';
import { decodeAMF0 } from '../serialization/amf0';
import { Table, type Value } from '../serialization/value';
import { decodeArgs, encodeArgs } from './codec';
import { MAX_RELAY_ID, RELAY_HANDLERS as H, RelayKind, decodeMedia, encodeMediaHead } from './relay-codec';

/** The hello pair by which our servers tell each other they take relay traffic. */
export const RELAY_HELLO: readonly [string, string] = ['monats.relay', '1'];

export interface RelayLimits {
  /** bytes waiting on the link above which a relay drops non-key video until the next key frame */
  dropBytes: number;
  /** bytes waiting on the link above which the origin cuts a relay (the link itself is cut at 32 MiB) */
  closeBytes: number;
  /** a relay whose link stays above dropBytes this long is cut (its frames were all being dropped) */
  stallMs: number;
  /** after a relay was cut, the edge asks again this much later */
  retryMs: number;
}

export const RELAY_DEFAULTS: RelayLimits = {
  dropBytes: 2 * 1024 * 1024,
  closeBytes: 16 * 1024 * 1024,
  stallMs: 10_000,
  retryMs: 2000,
};

/** One set of peers relays run across. */
export interface RelayDomainOptions {
  /** for logs: "servers", "workers" */
  name: string;
  servers: Servers;
  /** whether this peer takes relay traffic (servers: the ones whose hello says RELAY_HELLO) */
  accepts(peer: PeerServer): boolean;
  /** "server 10.0.0.2:1936", "worker 2": for logs */
  describe(peer: PeerServer): string;
  limits?: Partial<RelayLimits>;
  /**
   * true when the peers are the other processes of this server (`threads`): what it relays from
   * them are copies of one publication (PublicationSource.mirror), not publications of their own.
   */
  internal?: boolean;
}

/** Takes payloads of our handlers as AMF arguments: [text, number?...] */
function textArg(args: Value[], i: number): string | null {
  const v = args[i];
  return typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : null;
}

function numberArg(args: Value[], i: number): number | null {
  const v = args[i];
  return typeof v === 'number' && Number.isInteger(v) && v > 0 && v <= MAX_RELAY_ID ? v : null;
}

/**
 * The relays of one process: its publications, and every peer set it relays across (one without
 * `threads`; the primary of `threads` has two). Made on first use per context.
 */
export class RelayHub {
  private static readonly hubs = new WeakMap<ServerContext, RelayHub>();

  static of(context: ServerContext): RelayHub {
    let hub = RelayHub.hubs.get(context);
    if (!hub) RelayHub.hubs.set(context, (hub = new RelayHub(context)));
    return hub;
  }

  readonly domains: RelayDomain[] = [];
  /** names whose demand or state changed, looked at once the current work is done */
  private readonly dirty = new Set<string>();
  private scheduled = false;
  /** local publications fed by relays during the current input: flushed once it is over */
  private touched: Set<Publication> | null = null;
  private unwatch: (() => void) | null = null;

  private constructor(readonly context: ServerContext) {}

  /** Starts relaying across a set of peers; returns the function that stops it. */
  addDomain(options: RelayDomainOptions): RelayDomain {
    const domain = new RelayDomain(this, options);
    this.domains.push(domain);
    if (!this.unwatch) {
      const mark = (name: string) => this.mark(name);
      this.unwatch = this.context.publications.watch({
        subscribed: (l) => mark(l.publication.name),
        unsubscribed: (l) => mark(l.publication.name),
        wanted: mark,
        published: (p) => {
          for (const d of this.domains) d.published(p);
          mark(p.name);
        },
        unpublished: (p) => {
          for (const d of this.domains) d.unpublished(p);
          mark(p.name);
        },
      });
    }
    domain.start();
    return domain;
  }

  removeDomain(domain: RelayDomain): void {
    const i = this.domains.indexOf(domain);
    if (i < 0) return;
    this.domains.splice(i, 1);
    domain.close();
    if (this.domains.length === 0 && this.unwatch) {
      this.unwatch();
      this.unwatch = null;
    }
    for (const d of this.domains) for (const name of d.wantedNames()) this.mark(name);
  }

  /** `name` is to be looked at again (its players, wants or publisher changed). */
  mark(name: string): void {
    this.dirty.add(name);
    if (this.scheduled) return;
    this.scheduled = true;
    // after the current call chain: a player leaving and the next one arriving in the same turn
    // do not stop and restart the relay, and nothing re-enters the registry while it works
    queueMicrotask(() => {
      this.scheduled = false;
      const names = [...this.dirty];
      this.dirty.clear();
      for (const name of names) for (const d of this.domains) d.update(name);
    });
  }

  /**
   * How many things want `name` here, as `domain` counts them: local players (any listener but the
   * relays serving `domain`'s own peers), want()s, and the wants other peer sets made of it.
   */
  demand(name: string, domain: RelayDomain): number {
    let n = this.context.publications.wanted(name);
    const pub = this.context.publications.get(name);
    // a shadow (a player another process serves, which pulls for itself) is no player here
    if (pub) for (const l of pub.listeners) if (!l.sink.shadow && !(l.sink instanceof RelayOut && l.sink.domain === domain)) n++;
    for (const d of this.domains) if (d !== domain) n += d.interest(name);
    return n;
  }

  /** A relayed publication got frames: it is flushed once the link's input is handled. */
  touch(pub: Publication): void {
    if (this.touched) {
      this.touched.add(pub);
      return;
    }
    this.touched = new Set([pub]);
    setImmediate(() => {
      const pubs = this.touched;
      this.touched = null;
      for (const p of pubs ?? []) p.flush();
    });
  }
}

/** The relays across one set of peers. */
export class RelayDomain {
  readonly name: string;
  readonly limits: RelayLimits;
  /** what each peer wants from us; `told` once it heard "has" */
  private readonly wants = new Map<PeerServer, Map<string, { told: boolean }>>();
  /** relays we feed, per peer by the id that peer chose */
  private readonly outs = new Map<PeerServer, Map<number, RelayOut>>();
  /** relays we pull, by publication name */
  private readonly ins = new Map<string, RelayIn>();
  private readonly inById = new Map<number, Incoming>();
  /** publications whose publisher is a client of one of this set's peers, fed on demand */
  private readonly feeds = new Map<string, RelayFeed>();
  private nextId = 1;
  private readonly undo: Array<() => void> = [];
  private closed = false;

  constructor(
    readonly hub: RelayHub,
    private readonly options: RelayDomainOptions,
  ) {
    this.name = options.name;
    this.limits = { ...RELAY_DEFAULTS, ...options.limits };
  }

  private get context(): ServerContext {
    return this.hub.context;
  }

  describe(peer: PeerServer): string {
    return this.options.describe(peer);
  }

  /** the peers are the other processes of this server */
  get internal(): boolean {
    return this.options.internal === true;
  }

  start(): void {
    const { servers } = this.options;
    const control = (handler: string, fn: (peer: PeerServer, args: Value[]) => void) =>
      servers.handleRaw(handler, (peer, payload) => {
        if (!this.options.accepts(peer)) return;
        fn(peer, decodeArgs(payload));
      });
    this.undo.push(
      control(H.want, (p, a) => this.onWant(p, textArg(a, 0))),
      control(H.unwant, (p, a) => this.onUnwant(p, textArg(a, 0))),
      control(H.has, (p, a) => this.ins.get(textArg(a, 0) ?? '')?.has(p)),
      control(H.gone, (p, a) => this.ins.get(textArg(a, 0) ?? '')?.gone(p)),
      control(H.play, (p, a) => this.onPlay(p, textArg(a, 0), numberArg(a, 1))),
      control(H.stop, (p, a) => this.onStop(p, numberArg(a, 0))),
      control(H.end, (p, a) => {
        const id = numberArg(a, 0);
        const r = id === null ? undefined : this.inById.get(id);
        if (r && r.source === p) r.ended(textArg(a, 1) ?? 'ended by the origin');
      }),
      servers.handleRaw(H.media, (peer, payload) => this.onMedia(peer, payload)),
      servers.subscribe({
        onServerConnection: (peer) => {
          if (!this.options.accepts(peer)) return;
          for (const r of this.ins.values()) r.ask(peer);
        },
        onServerDisconnection: (peer) => this.lost(peer),
      }),
    );
    for (const peer of servers.all()) if (this.options.accepts(peer)) for (const r of this.ins.values()) r.ask(peer);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const u of this.undo.splice(0)) u();
    for (const r of [...this.ins.values()]) r.close('relays stopped');
    for (const peer of [...this.wants.keys(), ...this.outs.keys()]) this.lost(peer);
  }

  /** peers of this set that take relay traffic */
  peers(): PeerServer[] {
    return this.options.servers.all().filter((p) => this.options.accepts(p));
  }

  /** how many peers of this set want `name` from us */
  interest(name: string): number {
    let n = 0;
    for (const w of this.wants.values()) if (w.has(name)) n++;
    return n;
  }

  /** names we pull or wait for */
  wantedNames(): string[] {
    return [...this.ins.keys()];
  }

  /** the relay pulling `name`, if any (tests, admin) */
  incoming(name: string): RelayIn | undefined {
    return this.ins.get(name);
  }

  /** relays fed to peers, in total */
  get outgoingCount(): number {
    let n = 0;
    for (const m of this.outs.values()) n += m.size;
    return n;
  }

  /** May `pub` be offered to this set's peers: it runs, and not from a relay of this very set. */
  exportable(pub: Publication): boolean {
    return pub.running && !this.fromHere(pub);
  }

  /** `pub` is fed from this set's peers (a relay of ours, or a feed) */
  private fromHere(pub: Publication): boolean {
    const source = pub.source;
    return (source instanceof RelaySource && source.relay.domain === this) || (source instanceof RelayFeed && source.domain === this);
  }

  /**
   * A publication whose publisher is a client of `peer` (threads: a worker's client, which the
   * primary's scripts see publish): the local publication made with this source runs as long as
   * that client publishes, and its frames come from `peer` only while something here wants them
   * (a script watching its media, a relay to another peer set). `close` asks the peer to end the
   * publishing (a script's publication:close).
   */
  feed(name: string, peer: PeerServer, close: (code: string | null, description: string | null) => void): RelayFeed {
    const feed = new RelayFeed(this, name, peer, close);
    this.feeds.get(name)?.dispose();
    this.feeds.set(name, feed);
    return feed;
  }

  forgetFeed(feed: RelayFeed): void {
    if (this.feeds.get(feed.name) === feed) this.feeds.delete(feed.name);
  }

  // ---- what we pull ----

  /** Looks at `name` again: starts asking peers for it, or stops. */
  update(name: string): void {
    if (this.closed) return;
    const pub = this.context.publications.get(name);
    const feed = this.feeds.get(name);
    if (feed) {
      feed.update();
      return;
    }
    const fedHere = pub?.running && !this.fromHere(pub);
    const wanted = !fedHere && this.hub.demand(name, this) > 0;
    let r = this.ins.get(name);
    if (wanted && !r) {
      r = new RelayIn(this, name);
      this.ins.set(name, r);
      this.context.logger.debug('Servers', `${name} is wanted here and runs nowhere here: asking ${this.name}`);
      for (const peer of this.peers()) r.ask(peer);
    } else if (!wanted && r) {
      r.close(fedHere ? 'published here' : 'no player left');
    }
  }

  newId(r: Incoming): number {
    let id = this.nextId;
    while (this.inById.has(id)) id = id >= MAX_RELAY_ID ? 1 : id + 1;
    this.nextId = id >= MAX_RELAY_ID ? 1 : id + 1;
    this.inById.set(id, r);
    return id;
  }

  forgetId(id: number): void {
    this.inById.delete(id);
  }

  forgetIn(r: RelayIn): void {
    if (this.ins.get(r.name) === r) this.ins.delete(r.name);
  }

  private onMedia(peer: PeerServer, payload: Buffer): void {
    if (!this.options.accepts(peer)) return;
    const m = decodeMedia(payload);
    const r = this.inById.get(m.id);
    // frames of a relay we stopped meanwhile
    if (!r || r.source !== peer) return;
    r.media(m.kind, m.time, m.body, m.dataType);
  }

  // ---- what we feed ----

  private onWant(peer: PeerServer, name: string | null): void {
    if (!name) return;
    let w = this.wants.get(peer);
    if (!w) this.wants.set(peer, (w = new Map()));
    if (w.has(name)) return;
    const state = { told: false };
    w.set(name, state);
    const pub = this.context.publications.get(name);
    if (pub && this.exportable(pub)) {
      state.told = true;
      peer.send(H.has, name);
    }
    // other peer sets may have to fetch it for this peer (the primary of threads)
    this.hub.mark(name);
  }

  private onUnwant(peer: PeerServer, name: string | null): void {
    if (!name) return;
    const w = this.wants.get(peer);
    if (!w?.delete(name)) return;
    if (w.size === 0) this.wants.delete(peer);
    for (const out of [...(this.outs.get(peer)?.values() ?? [])]) if (out.name === name) out.stop();
    this.hub.mark(name);
  }

  private onPlay(peer: PeerServer, name: string | null, id: number | null): void {
    if (!name || id === null) return;
    const outs = this.outs.get(peer) ?? new Map<number, RelayOut>();
    if (outs.has(id)) return;
    const pub = this.context.publications.get(name);
    if (!pub || !this.exportable(pub)) {
      peer.send(H.end, id, `${name} is not published here`);
      return;
    }
    this.outs.set(peer, outs);
    const out = new RelayOut(this, peer, name, id, pub);
    outs.set(id, out);
    try {
      out.listener = this.context.publications.subscribe(null, name, out);
    } catch (e) {
      outs.delete(id);
      peer.send(H.end, id, (e as Error).message);
      return;
    }
    this.context.logger.debug('Servers', `relaying ${name} to ${this.describe(peer)} (relay ${id})`);
  }

  private onStop(peer: PeerServer, id: number | null): void {
    if (id === null) return;
    this.outs.get(peer)?.get(id)?.stop();
  }

  forgetOut(out: RelayOut): void {
    const outs = this.outs.get(out.peer);
    if (outs?.get(out.id) !== out) return;
    outs.delete(out.id);
    if (outs.size === 0) this.outs.delete(out.peer);
  }

  /** A publication started here: peers waiting for it hear "has" if we may offer it. */
  published(pub: Publication): void {
    if (this.closed || !this.exportable(pub)) return;
    for (const [peer, w] of this.wants) {
      const state = w.get(pub.name);
      if (state && !state.told) {
        state.told = true;
        peer.send(H.has, pub.name);
      }
    }
  }

  /** A publication stopped here: peers told it was here hear "gone"; our relays of it end. */
  unpublished(pub: Publication): void {
    if (this.closed) return;
    for (const [peer, w] of this.wants) {
      const state = w.get(pub.name);
      if (state?.told) {
        state.told = false;
        peer.send(H.gone, pub.name);
      }
    }
    for (const outs of [...this.outs.values()]) for (const out of [...outs.values()]) if (out.name === pub.name) out.stop();
  }

  /** A peer left: what it wanted and what we relayed to it ends; relays it fed look elsewhere. */
  private lost(peer: PeerServer): void {
    const names = [...(this.wants.get(peer)?.keys() ?? [])];
    this.wants.delete(peer);
    for (const out of [...(this.outs.get(peer)?.values() ?? [])]) out.stop();
    this.outs.delete(peer);
    for (const r of [...this.ins.values()]) r.gone(peer, true);
    for (const f of this.feeds.values()) if (f.peer === peer) f.ended(`${this.describe(peer)} left`);
    for (const name of names) this.hub.mark(name);
  }
}

/** What frames of a relay id feed: a relay we pulled, or a feed. */
interface Incoming {
  readonly source: PeerServer | null;
  media(kind: RelayKind, time: number, body: Buffer, dataType: DataType): void;
  ended(reason: string): void;
}

/** Pushes a relay's media frame into a local publication. */
function pushMedia(pub: Publication, kind: RelayKind, time: number, body: Buffer, dataType: DataType): void {
  switch (kind) {
    case RelayKind.Audio:
      pub.pushAudio(time, body);
      break;
    case RelayKind.Video:
      pub.pushVideo(time, body);
      break;
    case RelayKind.Data:
      pub.pushData(body, dataType, time);
      break;
    case RelayKind.Metadata: {
      let props = new Table();
      try {
        const values = decodeAMF0(body);
        const t = values.find((v) => v instanceof Table);
        if (t instanceof Table) props = t;
      } catch {
        // kept as bytes for players; scripts see no properties
      }
      pub.setMetadata(new MediaFrame(MediaType.Data, time, body), props);
      break;
    }
    case RelayKind.MetadataCleared:
      pub.setMetadata(null, new Table());
      break;
  }
}

/**
 * The source of a publication whose publisher is a client of a peer (see RelayDomain.feed): plays
 * from that peer while something here wants the frames, stops when nothing does.
 */
export class RelayFeed implements PublicationSource, Incoming {
  /** the publisher is a client of another process of this server, which records it */
  readonly mirror = true;
  /** the peer while it feeds us (null: not playing) */
  source: PeerServer | null = null;
  private id = 0;
  private retry: NodeJS.Timeout | null = null;
  private disposed = false;

  constructor(
    readonly domain: RelayDomain,
    readonly name: string,
    readonly peer: PeerServer,
    private readonly close: (code: string | null, description: string | null) => void,
  ) {}

  get endpoint(): string {
    return this.domain.describe(this.peer);
  }

  private get publication(): Publication | null {
    const pub = this.domain.hub.context.publications.get(this.name);
    return pub && pub.source === this && pub.running ? pub : null;
  }

  closePublication(code: string | null, description: string | null): void {
    this.close(code, description);
  }

  /** Plays or stops by what is wanted here now. */
  update(): void {
    if (this.disposed) return;
    const pub = this.publication;
    const wanted = pub !== null && this.domain.hub.demand(this.name, this.domain) > 0;
    if (wanted && !this.source && !this.retry) {
      this.source = this.peer;
      this.id = this.domain.newId(this);
      if (!this.peer.send(H.play, this.name, this.id)) this.ended('the link is gone');
      else this.domain.hub.context.logger.debug('Servers', `${this.name}: frames from ${this.endpoint} (relay ${this.id})`);
    } else if (!wanted && this.source) {
      this.source.send(H.stop, this.id);
      this.domain.forgetId(this.id);
      this.source = null;
    }
  }

  media(kind: RelayKind, time: number, body: Buffer, dataType: DataType): void {
    const pub = this.publication;
    if (!pub) return;
    pushMedia(pub, kind, time, body, dataType);
    this.domain.hub.touch(pub);
  }

  /** The peer cut the frames (too slow, gone): asked again later if still wanted. */
  ended(_reason: string): void {
    if (!this.source) return;
    this.domain.forgetId(this.id);
    this.source = null;
    if (this.disposed || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      this.update();
    }, this.domain.limits.retryMs);
    this.retry.unref?.();
  }

  /** Its publishing ended: no more frames. */
  dispose(): void {
    if (this.disposed) return;
    if (this.source) {
      this.source.send(H.stop, this.id);
      this.domain.forgetId(this.id);
      this.source = null;
    }
    this.disposed = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    this.domain.forgetFeed(this);
  }
}

/** The publisher's end of a relayed publication: the relay feeding it. */
class RelaySource implements PublicationSource {
  constructor(readonly relay: RelayIn) {}

  get mirror(): boolean {
    return this.relay.domain.internal;
  }

  get endpoint(): string {
    return `relay from ${this.relay.source ? this.relay.domain.describe(this.relay.source) : 'nowhere'}`;
  }

  /** A script or the administrator closed it: the relay stops and stays down until its players leave. */
  closePublication(): void {
    this.relay.suspend();
  }
}

/** A publication pulled from a peer into a local publication. */
export class RelayIn implements Incoming {
  /** the peer feeding it (null while waiting for one) */
  source: PeerServer | null = null;
  /** the relay id the source sends under */
  id = 0;
  /** the local publication while a source feeds it */
  publication: Publication | null = null;
  /** peers asked ("want") */
  private readonly asked = new Set<PeerServer>();
  /** peers that said they have it, in the order they said it */
  private readonly candidates: PeerServer[] = [];
  private retry: NodeJS.Timeout | null = null;
  private suspended = false;
  private closed = false;
  private readonly sourceEnd = new RelaySource(this);

  constructor(
    readonly domain: RelayDomain,
    readonly name: string,
  ) {}

  private get context(): ServerContext {
    return this.domain.hub.context;
  }

  ask(peer: PeerServer): void {
    if (this.closed || this.asked.has(peer)) return;
    this.asked.add(peer);
    peer.send(H.want, this.name);
  }

  has(peer: PeerServer): void {
    if (this.closed || !this.asked.has(peer)) return;
    if (!this.candidates.includes(peer)) this.candidates.push(peer);
    this.next();
  }

  /** `peer` does not have it any more (or left: `left`). */
  gone(peer: PeerServer, left = false): void {
    if (left) this.asked.delete(peer);
    const i = this.candidates.indexOf(peer);
    if (i >= 0) this.candidates.splice(i, 1);
    if (this.source === peer) {
      this.lose(left ? `${this.domain.describe(peer)} left` : 'its publisher left');
      this.next();
    }
  }

  /** The source cut the relay (too slow, not published after all): ask again later. */
  ended(reason: string): void {
    const peer = this.source;
    this.lose(reason);
    if (this.closed || this.suspended || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = null;
      // a source that cut us is asked last
      if (peer && this.candidates[0] === peer && this.candidates.length > 1) this.candidates.push(this.candidates.shift()!);
      this.next();
    }, this.domain.limits.retryMs);
    this.retry.unref?.();
  }

  /** Plays the first candidate when nothing feeds us. */
  private next(): void {
    if (this.closed || this.suspended || this.source || this.retry) return;
    const peer = this.candidates[0];
    if (!peer) return;
    const { publications, logger } = this.context;
    const current = publications.get(this.name);
    if (current?.running) return; // published here meanwhile: update() closes us
    this.source = peer;
    this.id = this.domain.newId(this);
    if (!peer.send(H.play, this.name, this.id)) {
      this.lose('the link is gone');
      return;
    }
    try {
      this.publication = publications.publish(null, this.name, { source: this.sourceEnd });
    } catch (e) {
      logger.warn('Servers', `relay of ${this.name} from ${this.domain.describe(peer)}: ${(e as Error).message}`);
      peer.send(H.stop, this.id);
      this.domain.forgetId(this.id);
      this.source = null;
      return;
    }
    logger.debug('Servers', `${this.name} relayed from ${this.domain.describe(peer)} (relay ${this.id})`);
  }

  /** The source stops feeding us: the local publication ends (its players wait for the next one). */
  private lose(reason: string): void {
    const peer = this.source;
    if (!peer) return;
    this.domain.forgetId(this.id);
    this.source = null;
    const pub = this.publication;
    this.publication = null;
    this.context.logger.debug('Servers', `relay of ${this.name} from ${this.domain.describe(peer)} ended: ${reason}`);
    if (pub?.running && pub.source === this.sourceEnd) this.context.publications.unpublish(pub);
  }

  /** Closed by a script or the administrator: no source until nobody wants it any more. */
  suspend(): void {
    this.suspended = true;
    const peer = this.source;
    if (peer) peer.send(H.stop, this.id);
    this.domain.forgetId(this.id);
    this.source = null;
    this.publication = null; // the caller unpublishes it
  }

  /** Nobody here wants it any more (or it is published here now). */
  close(reason: string): void {
    if (this.closed) return;
    const peer = this.source;
    if (peer) peer.send(H.stop, this.id);
    this.lose(reason);
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    this.retry = null;
    for (const p of this.asked) p.send(H.unwant, this.name);
    this.asked.clear();
    this.candidates.length = 0;
    this.domain.forgetIn(this);
  }

  media(kind: RelayKind, time: number, body: Buffer, dataType: DataType): void {
    const pub = this.publication;
    if (!pub?.running) return;
    pushMedia(pub, kind, time, body, dataType);
    this.domain.hub.touch(pub);
  }
}

/** One publication relayed to one peer: a listener of the local publication writing to the link. */
export class RelayOut implements MediaSink {
  listener: Listener | null = null;
  readonly limits: { dropBytes: number; closeBytes: number };
  private readonly unobserve: () => void;
  private stopped = false;
  /** when the link's queue went above dropBytes (0: it is below) */
  private congestedSince = 0;

  constructor(
    readonly domain: RelayDomain,
    readonly peer: PeerServer,
    readonly name: string,
    /** the id the peer chose */
    readonly id: number,
    private readonly publication: Publication,
  ) {
    this.limits = domain.limits;
    // metadata cleared reaches observers only (listeners get metadata frames, not their removal)
    const observer: PublicationObserver = {
      onMetadata: (frame) => {
        if (!frame) this.send(RelayKind.MetadataCleared, publication.lastTime, undefined);
      },
    };
    this.unobserve = publication.observe(observer);
  }

  // ---- MediaSink ----

  /** for logs */
  get endpoint(): string {
    return `relay to ${this.domain.describe(this.peer)}`;
  }

  writeMedia(frame: MediaFrame, _time: number): void {
    // the publication's own times travel: the edge's publication keeps the origin's timeline
    if (frame.type === MediaType.Data) {
      if (frame === this.publication.metadata) this.send(RelayKind.Metadata, frame.time, frame.payload);
      else this.send(RelayKind.Data, frame.time, frame.payload, frame.dataType);
    } else this.send(frame.type === MediaType.Audio ? RelayKind.Audio : RelayKind.Video, frame.time, frame.payload);
  }

  onPublicationStart(): void {}
  onPublicationStop(): void {}
  flush(): void {}

  queuedBytes(): number {
    const queued = this.peer.queuedBytes();
    if (queued <= this.limits.dropBytes) {
      this.congestedSince = 0;
      return queued;
    }
    // the listener drops every frame now: a link that does not drain ends the relay
    const now = Date.now();
    if (this.congestedSince === 0) this.congestedSince = now;
    else if (now - this.congestedSince > this.domain.limits.stallMs && !this.stopped) {
      const listener = this.listener;
      queueMicrotask(() => listener?.kick(`too slow, ${queued} bytes queued for ${Math.round((now - this.congestedSince) / 1000)} s`));
    }
    return queued;
  }

  /** The server ended this listener (too slow, closed by a script or the administrator). */
  close(reason: string): void {
    if (this.stopped) return;
    this.stopped = true;
    this.unobserve();
    this.domain.forgetOut(this);
    this.peer.send(H.end, this.id, reason);
  }

  /** The peer stopped it, left, or the publication stopped: the listener goes, silently. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.unobserve();
    this.domain.forgetOut(this);
    const l = this.listener;
    this.listener = null;
    if (l) this.domain.hub.context.publications.unsubscribe(l);
  }

  private send(kind: RelayKind, time: number, body: Buffer | undefined, dataType?: DataType): void {
    if (this.stopped) return;
    const head = encodeMediaHead(this.id, kind, time, dataType);
    if (!this.peer.sendRaw(H.media, head, body)) this.stop();
  }
}
