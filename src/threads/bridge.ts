/**
 * The primary's side of the script channel (`threads`): turns each worker's messages into calls of
 * the one application layer (the script VM and `data` live here), on images of the worker's
 * clients, players and publications, and sends back what the scripts did to them.
 *
 * - A client of a worker is a RemoteClient, registered in the primary's `mona.clients` once its
 *   onConnection accepted it.
 * - A publication of a worker's client runs in the primary's registry too (so that names stay
 *   unique across workers and scripts see it), fed by a RelayFeed: its frames come from the worker
 *   only while something here wants them (scripts handling its media, a relay to another server).
 * - A player of a worker is a shadow listener of the primary's publication: onSubscribe and
 *   onUnsubscribe run on it, `publication.listeners` counts it, frames never reach it.
 * - A recording is made by the worker of its publisher; client:onWrite, publication:onRecord and
 *   onRecordStop run here. A group member of a worker (RTMFP) is a member of the primary's group
 *   too, without introductions (the worker makes them): mona.groups and onJoinGroup see it.
 * - Effects for the worker whose call is running go into the answer; others are batched and sent
 *   over the worker's link at the end of the turn.
 */
import { appHook, HTTP_READ, RECORDING, RTMFP_RENDEZVOUS, SCRIPT_HANDLERS } from '../core/app-hooks';
import type { GroupMember } from '../core/groups';
import type { ServerContext } from '../core/context';
import { CallFailed, ConnectionRejected, InvalidApp, MethodNotFound, StreamRefused } from '../core/errors';
import type { Listener } from '../core/listener';
import { MediaFrame, MediaType } from '../core/media';
import type { Publication } from '../core/publication';
import { publishTypeOf } from '../core/publication-source';
import { redirectionAddresses, type PeerServer } from '../core/servers';
import type { RelayDomain, RelayFeed } from '../cluster/relay';
import { encodeArgs } from '../cluster/codec';
import { Table, type Value } from '../serialization/value';
import { EFFECTS_HANDLER, HINTED, Status } from './messages';
import { RemoteClient, type RemoteWriter, ShadowSink, type EffectSink } from './remote-client';

function text(v: Value | undefined): string {
  return typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : '';
}

function items(v: Value | undefined): Value[] {
  return v instanceof Table ? v.items : [];
}

/** A worker as the bridge talks to it. */
export interface WorkerEnd {
  readonly index: number;
  /** its end of the worker link (relays, effects), once linked */
  peer(): PeerServer | null;
  /** writes an answer on its script channel */
  answer(values: Value[]): void;
}

/** How often every client's hints and every publication's media interest are looked at again. */
const SWEEP_MS = 1000;
/** effects held for a worker whose link is not up yet, at most */
const MAX_PENDING_EFFECTS = 100_000;

export class ScriptBridge implements EffectSink {
  private readonly clients = new Map<string, RemoteClient>();
  private readonly writers = new Map<string, RemoteWriter>();
  /** shadow listeners, by "worker:id" */
  private readonly listeners = new Map<string, Listener>();
  /** publications of workers' clients: name → its feed and the hold that makes it play (scripts watching its media) */
  private readonly mirrors = new Map<string, { feed: RelayFeed; worker: number; release: (() => void) | null }>();
  private readonly workers = new Map<number, WorkerEnd>();
  /** groups the workers' clients are members of (RTMFP NetGroup in worker 1) */
  private readonly memberships = new Map<RemoteClient, Set<GroupMember>>();
  /** the call being served: effects for its worker go into its answer */
  private current: { worker: number; effects: Value[][] } | null = null;
  /** effects waiting for the end of the turn, per worker */
  private readonly outgoing = new Map<number, Value[][]>();
  private flushing = false;
  private sweeper: NodeJS.Timeout | null = null;
  /** clients served since the last sweep: their hints are looked at again then */
  private readonly touched = new Set<RemoteClient>();
  private sweeps = 0;
  /** tokens of asynchronous RPCs */
  private pendingCalls = 0;

  constructor(
    private readonly ctx: ServerContext,
    /** the relays across the workers (mirrored publications are fed through it) */
    private readonly domain: RelayDomain,
  ) {
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  attach(worker: WorkerEnd): void {
    this.workers.set(worker.index, worker);
  }

  close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  // ---- EffectSink

  effect(worker: number, effect: Value[]): void {
    if (this.current && this.current.worker === worker) {
      this.current.effects.push(effect);
      return;
    }
    let list = this.outgoing.get(worker);
    if (!list) this.outgoing.set(worker, (list = []));
    if (list.length >= MAX_PENDING_EFFECTS) return; // a worker that never linked: do not grow
    list.push(effect);
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => this.flush());
    }
  }

  writerMade(writer: RemoteWriter): void {
    this.writers.set(writer.key, writer);
    writer.onClose(() => this.writers.delete(writer.key));
  }

  /** Sends the effects of the turn to each worker, over its link. */
  private flush(): void {
    this.flushing = false;
    for (const [index, list] of this.outgoing) {
      const peer = this.workers.get(index)?.peer();
      if (!peer) continue; // kept until its link is up
      this.outgoing.delete(index);
      if (list.length) peer.sendRaw(EFFECTS_HANDLER, encodeArgs([asTable(list)]));
    }
  }

  /** A worker's link came up: what waited for it goes now. */
  linked(index: number): void {
    if (this.outgoing.has(index) && !this.flushing) {
      this.flushing = true;
      setImmediate(() => this.flush());
    }
  }

  // ---- messages

  /** One message of `worker`; its answer is written when the message expects one. */
  handle(worker: WorkerEnd, message: Value[]): void {
    // "?op": the worker waits for the answer
    let op = text(message[0]);
    const answered = op.startsWith('?');
    if (answered) op = op.slice(1);
    const args = message.slice(1);
    const previous = this.current;
    const call = { worker: worker.index, effects: [] as Value[][] };
    if (answered) this.current = call;
    let status = Status.Ok;
    let result: Value = null;
    try {
      result = this.dispatch(worker.index, op, args);
    } catch (e) {
      [status, result] = e instanceof PendingCall ? [Status.Pending, e.token] : refusal(e);
      if (status === Status.CallFailed && !(e instanceof CallFailed)) this.ctx.logger.error('Threads', `${op} from worker ${worker.index}: ${(e as Error).stack ?? e}`);
    } finally {
      this.current = previous;
    }
    if (answered) worker.answer([status, result, asTable(call.effects)]);
    else for (const e of call.effects) this.effect(worker.index, e);
  }

  private client(id: Value | undefined, ping?: Value): RemoteClient | undefined {
    const c = this.clients.get(text(id));
    if (c && typeof ping === 'number') c.ping = ping;
    return c;
  }

  /** Tells the worker which events the client's script object answers, when that changed. */
  private hint(c: RemoteClient): void {
    const hooks = appHook(this.ctx.host, SCRIPT_HANDLERS);
    let flags = 0;
    for (let i = 0; i < HINTED.length; i++) if (!hooks || hooks.clientHandles(c, HINTED[i])) flags |= 1 << i;
    if (flags === c.hints) return;
    c.hints = flags;
    this.effect(c.worker, ['hints', c.id, flags]);
  }

  private dispatch(worker: number, op: string, a: Value[]): Value {
    const { host, publications } = this.ctx;
    switch (op) {
      case 'connect': {
        const [id, protocol, address, path, query, properties, ping, args] = a;
        const c = new RemoteClient(Buffer.from(text(id), 'hex'), text(address), text(protocol), worker, this);
        c.path = text(path);
        c.query = text(query);
        if (properties instanceof Table) {
          for (const [k, v] of properties.fields) c.properties.set(k, v);
          properties.items.forEach((v, i) => c.properties.set(i + 1, v));
        }
        if (typeof ping === 'number') c.ping = ping;
        this.clients.set(c.id, c);
        let returned: Table | null;
        try {
          if (!host.exists(c.path)) throw new InvalidApp(c.path);
          returned = host.onConnection(c, items(args));
        } catch (e) {
          this.clients.delete(c.id);
          throw e;
        }
        c.connected = true;
        this.ctx.clients.add(c);
        this.hint(c);
        return returned;
      }
      case 'disconnect': {
        const c = this.client(a[0]);
        if (c) this.disconnect(c);
        return null;
      }
      case 'address': {
        const c = this.client(a[0], a[1]);
        if (!c) return null;
        const old = text(a[3]);
        c.address = text(a[2]);
        host.onAddressChanged(c, old);
        this.touched.add(c);
        return null;
      }
      case 'call': {
        const c = this.client(a[0], a[1]);
        if (!c) throw new CallFailed('client gone');
        try {
          const results = host.call(c, text(a[2]), items(a[3]));
          if (!(results instanceof Promise)) return new Table(results);
          // the worker does not wait: its protocol answers this call when `settle` comes
          const token = ++this.pendingCalls;
          results.then(
            (values) => this.effect(worker, ['settle', token, Status.Ok, new Table(values)]),
            (e: unknown) => this.effect(worker, ['settle', token, ...refusal(e)]),
          );
          throw new PendingCall(token);
        } finally {
          this.touched.add(c);
        }
      }
      case 'message': {
        const c = this.client(a[0], a[1]);
        if (!c) return new Table();
        try {
          return new Table(host.onMessage(c, items(a[2])));
        } finally {
          this.touched.add(c);
        }
      }
      case 'publish': {
        const c = this.client(a[0], a[1]);
        if (!c) throw new StreamRefused('Publish.Failed', 'client gone');
        return this.publish(c, text(a[2]), publishTypeOf(text(a[3])));
      }
      case 'unpublish': {
        const c = this.client(a[0], a[1]);
        const name = text(a[2]);
        const mirror = this.mirrors.get(name);
        const pub = publications.get(name);
        if (mirror && mirror.worker === worker && pub?.source === mirror.feed) publications.unpublish(pub);
        this.forgetMirror(name, worker);
        if (c) this.touched.add(c);
        return null;
      }
      case 'subscribe': {
        const c = this.client(a[0], a[1]);
        if (!c) throw new StreamRefused('Play.Failed', 'client gone');
        const id = Number(a[2]);
        const listener = publications.subscribe(c, text(a[3]), new ShadowSink(worker, id, this), a[4] instanceof Table ? a[4] : new Table());
        this.listeners.set(`${worker}:${id}`, listener);
        this.touched.add(c);
        return null;
      }
      case 'unsubscribe': {
        const c = this.client(a[0], a[1]);
        const key = `${worker}:${Number(a[2])}`;
        const listener = this.listeners.get(key);
        this.listeners.delete(key);
        if (listener) publications.unsubscribe(listener);
        if (c) this.touched.add(c);
        return null;
      }
      case 'read': {
        const c = this.client(a[0], a[1]);
        const file = text(a[2]);
        const hook = appHook(host, HTTP_READ);
        if (!c || !hook) return new Table([file, null]);
        try {
          const d = hook.onRead(c, file, a[3] instanceof Table ? a[3] : new Table());
          return new Table([d.file, d.template]);
        } finally {
          this.touched.add(c);
        }
      }
      case 'handshake': {
        const hooks = appHook(host, RTMFP_RENDEZVOUS);
        if (!hooks) return new Table();
        const list = hooks.onHandshake(text(a[0]), text(a[1]), a[2] instanceof Table ? a[2] : new Table(), Number(a[3]) || 1);
        return new Table(redirectionAddresses(list, 'RTMFP', this.warn));
      }
      case 'rendezvous': {
        const hooks = appHook(host, RTMFP_RENDEZVOUS);
        if (!hooks) return new Table();
        return new Table(redirectionAddresses(hooks.onRendezVousUnknown(text(a[0]), text(a[1])), 'RTMFP', this.warn));
      }
      case 'write': {
        const c = this.client(a[0], a[1]);
        const file = text(a[2]);
        const hook = appHook(host, RECORDING);
        if (!c || !hook) return file;
        try {
          return hook.onWrite(c, file, a[3] instanceof Table ? a[3] : new Table());
        } finally {
          this.touched.add(c);
        }
      }
      case 'record':
      case 'recordStop': {
        // recorded by the worker of its publisher, told to scripts on the primary's image of it
        const name = text(a[0]);
        const pub = publications.get(name);
        const m = this.mirrors.get(name);
        const hook = appHook(host, RECORDING);
        if (!pub || !m || m.worker !== worker || pub.source !== m.feed || !hook) return null;
        if (op === 'record') hook.onRecord(pub, text(a[1]));
        else hook.onRecordStop(pub, text(a[1]), a[2] instanceof Table ? a[2] : new Table());
        return null;
      }
      case 'join': {
        const c = this.client(a[0], a[1]);
        if (!c) return null;
        // a member without a sink: the worker introduces the peers, the scripts see the member
        const m = this.ctx.groups.join(c.rawId, text(a[2]), c, null);
        let set = this.memberships.get(c);
        if (!set) this.memberships.set(c, (set = new Set()));
        set.add(m);
        this.touched.add(c);
        return null;
      }
      case 'unjoin': {
        const c = this.client(a[0], a[1]);
        if (!c) return null;
        const set = this.memberships.get(c);
        for (const m of set ?? []) {
          if (m.group.id !== text(a[2])) continue;
          set!.delete(m);
          m.release();
        }
        this.touched.add(c);
        return null;
      }
      case 'writerClosed': {
        const w = this.writers.get(text(a[0]));
        if (w) {
          w.closedByWorker = true;
          w.close();
        }
        return null;
      }
      case 'metadata': {
        const pub = publications.get(text(a[0]));
        const mirror = this.mirrors.get(text(a[0]));
        // the properties scripts read; frames (the metadata frame included) come with the feed
        if (pub && mirror && pub.source === mirror.feed && a[1] instanceof Table) pub.properties = a[1];
        return null;
      }
      case 'stats':
        this.stats(worker, items(a[0]), items(a[1]), items(a[2]));
        return null;
      default:
        throw new Error(`unknown message ${op}`);
    }
  }

  private readonly warn = (message: string): void => this.ctx.logger.warn('Threads', message);

  /** A worker's figures: its clients' bytes and pings, its publications' and players' QoS. */
  private stats(worker: number, clients: Value[], pubs: Value[], players: Value[]): void {
    const now = Date.now();
    const numbers = (v: Value | undefined) => items(v).map(Number);
    for (const e of clients) {
      const [id, bytesIn, bytesOut, ping] = items(e);
      const c = this.clients.get(text(id));
      if (!c) continue;
      c.bytesFromWorker = [Number(bytesIn) || 0, Number(bytesOut) || 0];
      if (typeof ping === 'number') c.ping = ping;
    }
    for (const e of pubs) {
      const [name, lastTime, dropped, audio, video, data, audioConfig, videoConfig, listenerDropped] = items(e);
      const m = this.mirrors.get(text(name));
      const pub = this.ctx.publications.get(text(name));
      if (!m || m.worker !== worker || !pub || pub.source !== m.feed) continue;
      pub.audioQOS.assign(numbers(audio), now);
      pub.videoQOS.assign(numbers(video), now);
      pub.dataQOS.assign(numbers(data), now);
      // drops towards the worker's players, while no frame comes here (then the primary counts its own)
      if (typeof listenerDropped === 'number' && m.feed.source === null) pub.listenerDroppedFrames = listenerDropped;
      // while its frames come here, the publication keeps its own time and headers
      if (m.feed.source) continue;
      if (typeof lastTime === 'number') pub.lastTime = lastTime;
      if (typeof dropped === 'number') pub.droppedFrames = dropped;
      if (Buffer.isBuffer(audioConfig) && !pub.audioConfig?.payload.equals(audioConfig)) pub.audioConfig = new MediaFrame(MediaType.Audio, pub.lastTime, audioConfig);
      if (Buffer.isBuffer(videoConfig) && !pub.videoConfig?.payload.equals(videoConfig)) pub.videoConfig = new MediaFrame(MediaType.Video, pub.lastTime, videoConfig);
      pub.hasAudio ||= pub.audioConfig !== null;
      pub.hasVideo ||= pub.videoConfig !== null;
    }
    for (const e of players) {
      const [id, audio, video, data] = items(e);
      const l = this.listeners.get(`${worker}:${Number(id)}`);
      if (!l) continue;
      l.audioQOS.assign(numbers(audio), now);
      l.videoQOS.assign(numbers(video), now);
      l.dataQOS.assign(numbers(data), now);
    }
  }

  private publish(c: RemoteClient, name: string, type: ReturnType<typeof publishTypeOf>): Value {
    const peer = this.workers.get(c.worker)?.peer();
    if (!peer) throw new StreamRefused('Publish.Failed', 'worker not linked yet');
    const feed = this.domain.feed(name, peer, (code, description) => this.effect(c.worker, ['pubClose', name, code, description]));
    try {
      this.ctx.publications.publish(c, name, { type, source: feed });
    } catch (e) {
      feed.dispose();
      this.touched.add(c);
      throw e;
    }
    this.mirrors.set(name, { feed, worker: c.worker, release: null });
    this.watchMedia(name);
    this.touched.add(c);
    return null;
  }

  private forgetMirror(name: string, worker: number): void {
    const m = this.mirrors.get(name);
    if (!m || m.worker !== worker) return;
    this.mirrors.delete(name);
    m.release?.();
    m.feed.dispose();
  }

  /** Scripts handling a mirrored publication's media make it play here (a want), and stop it when they stop. */
  private watchMedia(name: string): void {
    const m = this.mirrors.get(name);
    const pub = this.ctx.publications.get(name);
    if (!m || !pub || pub.source !== m.feed) return;
    const hooks = appHook(this.ctx.host, SCRIPT_HANDLERS);
    const wants = hooks ? hooks.publicationHandlesMedia(pub) : true;
    if (wants && !m.release) m.release = this.ctx.publications.want(name);
    else if (!wants && m.release) {
      m.release();
      m.release = null;
    }
  }

  /**
   * Hints again: each second for the clients served meanwhile (a script that adds `client:onRead`
   * in an RPC is followed within a second), every ten seconds for all (one that changes another
   * client's object).
   */
  private sweep(): void {
    const all = ++this.sweeps % 10 === 0;
    for (const c of all ? this.clients.values() : this.touched) if (c.connected) this.hint(c);
    this.touched.clear();
    for (const name of this.mirrors.keys()) this.watchMedia(name);
  }

  private disconnect(c: RemoteClient): void {
    this.clients.delete(c.id);
    this.touched.delete(c);
    if (!c.connected) return;
    c.connected = false;
    // as one process: the client leaves its groups before its disconnection
    const groups = this.memberships.get(c);
    this.memberships.delete(c);
    for (const m of groups ?? []) m.release();
    this.ctx.clients.remove(c);
    this.ctx.host.onDisconnection(c);
    c.mainWriter.closedByWorker = true;
    c.mainWriter.close();
    for (const [key, w] of this.writers) if (w.client === c) {
      w.closedByWorker = true;
      w.close();
      this.writers.delete(key);
    }
  }

  /** A worker is gone: its clients leave, its players stop, its publications end. */
  workerGone(index: number): void {
    const { publications } = this.ctx;
    this.outgoing.delete(index);
    for (const [key, l] of [...this.listeners]) {
      if (!key.startsWith(`${index}:`)) continue;
      this.listeners.delete(key);
      publications.unsubscribe(l);
    }
    for (const [name, m] of [...this.mirrors]) {
      if (m.worker !== index) continue;
      const pub = publications.get(name);
      if (pub?.source === m.feed) publications.unpublish(pub);
      this.forgetMirror(name, index);
    }
    for (const c of [...this.clients.values()]) if (c.worker === index) this.disconnect(c);
    this.workers.delete(index);
  }

  /** every mirrored publication's worker (tests) */
  mirrorOf(name: string): number | undefined {
    return this.mirrors.get(name)?.worker;
  }

  /** for tests: the publication of the primary for `name` */
  publication(name: string): Publication | undefined {
    return this.ctx.publications.get(name);
  }
}

/** An RPC answered later (Status.Pending): not an error, the way dispatch says so. */
class PendingCall {
  constructor(readonly token: number) {}
}

function asTable(effects: Value[][]): Table {
  return new Table(effects.map((e) => new Table(e)));
}

/** A refusal as an answer's status and result. */
function refusal(e: unknown): [Status, Value] {
  if (e instanceof ConnectionRejected) return [Status.Rejected, e.message];
  if (e instanceof InvalidApp) return [Status.InvalidApp, e.path];
  if (e instanceof MethodNotFound) return [Status.MethodNotFound, e.method];
  if (e instanceof CallFailed) return [Status.CallFailed, e.message];
  if (e instanceof StreamRefused) return [Status.StreamRefused, new Table([e.code, e.message])];
  return [Status.CallFailed, e instanceof Error ? e.message : String(e)];
}
