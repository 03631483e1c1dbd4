/**
 * The application layer of a worker (`threads`): every script event of its clients is a message
 * to the primary, which runs the one script VM of the server. Implements core's AppHost (and the
 * HTTP and RTMFP hooks) over the script channel, so protocols work unchanged: the calls that need
 * an answer block the worker until it comes, which keeps each session's order exactly as with one
 * process.
 *
 * What scripts did to this worker's clients (writes, closes, cookies, listener settings…) comes
 * back as effects: inside the answer when it was done while serving this worker's call (applied
 * before the call returns, so a `writer:writeMessage` inside an RPC still answers it), over the
 * worker link otherwise.
 *
 * Events that no script function of the client answers are not sent at all (onRead of a static
 * file, onMessage, onSubscribe…): the primary tells the worker which of them the client's script
 * object has ("hints"), in the answer to its connection, then within a second of a change made
 * while serving that client, within ten seconds of one made while serving another.
 */
import { FolderHost, type AppHost, type ReadDecision, type ResolvedPath } from '../core/app-host';
import {
  GROUP_EVENTS,
  HTTP_READ,
  RECORDING,
  RTMFP_RENDEZVOUS,
  type GroupHooks,
  type HookKey,
  type HookProvider,
  type HTTPReadHook,
  type RecordingHooks,
  type RTMFPRendezvousHooks,
} from '../core/app-hooks';
import type { Group } from '../core/groups';
import type { Client } from '../core/client';
import type { ServerContext } from '../core/context';
import { CallFailed, ConnectionRejected, InvalidApp, MethodNotFound, StreamRefused } from '../core/errors';
import type { Listener } from '../core/listener';
import type { Publication, PublicationObserver } from '../core/publication';
import type { Writer } from '../core/writer';
import { Table, type Value } from '../serialization/value';
import type { BlockingEnd } from './channel';
import { ALL_HINTS, Status, hintBit, type Hinted } from './messages';

/** how often the figures of clients, publications and players go to the primary */
const STATS_MS = 1000;

function text(v: Value | undefined): string | null {
  return typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : null;
}

function items(v: Value | undefined): Value[] {
  return v instanceof Table ? v.items : [];
}

export class RemoteHost implements AppHost, HookProvider, HTTPReadHook, RTMFPRendezvousHooks, RecordingHooks, GroupHooks {
  private readonly folders: FolderHost;
  /** clients from their onConnection on (effects may target a client during its onConnection) */
  private readonly clients = new Map<string, Client>();
  private readonly writers = new Map<string, Writer>();
  /** the newWriter() keys of each client */
  private readonly extraWriters = new Map<string, string[]>();
  private readonly listeners = new Map<number, Listener>();
  private readonly listenerIds = new WeakMap<Listener, number>();
  private nextListener = 1;
  private readonly hints = new WeakMap<Client, number>();
  /** publications of our clients: their metadata is told to the primary */
  private readonly watched = new Map<Publication, () => void>();

  private statsTimer: NodeJS.Timeout | null = null;
  /** asynchronous RPCs waiting for their outcome, by token */
  private readonly pending = new Map<number, { resolve: (values: Value[]) => void; reject: (e: unknown) => void }>();

  constructor(
    private readonly ctx: ServerContext,
    private readonly channel: BlockingEnd,
    /** this worker's number, for logs */
    readonly index: number,
  ) {
    this.folders = new FolderHost(ctx.wwwDir);
  }

  /**
   * Once a second, what the primary's images cannot measure themselves: each client's bytes and
   * ping, each publication's QoS, time and codec headers, each player's QoS (the admin API and
   * scripts read them there).
   */
  private sendStats(): void {
    const now = Date.now();
    const clients: Value[] = [];
    for (const c of this.clients.values()) if (c.connected) clients.push(new Table([c.id, c.bytesIn, c.bytesOut, c.ping]));
    const pubs: Value[] = [];
    for (const p of this.watched.keys()) {
      if (!p.running) continue;
      pubs.push(
        new Table([
          p.name, p.lastTime, p.droppedFrames,
          new Table(p.audioQOS.snapshot(now)), new Table(p.videoQOS.snapshot(now)), new Table(p.dataQOS.snapshot(now)),
          p.audioConfig?.payload ?? null, p.videoConfig?.payload ?? null, p.listenerDroppedFrames,
        ]),
      );
    }
    const players: Value[] = [];
    for (const [id, l] of this.listeners) {
      players.push(new Table([id, new Table(l.audioQOS.snapshot(now)), new Table(l.videoQOS.snapshot(now)), new Table(l.dataQOS.snapshot(now))]));
    }
    if (clients.length || pubs.length || players.length) this.channel.send(['stats', new Table(clients), new Table(pubs), new Table(players)]);
  }

  // ---- the app tree: the same folders on disk as the primary's

  resolve(urlPath: string): ResolvedPath {
    return this.folders.resolve(urlPath);
  }

  exists(appPath: string): boolean {
    return this.folders.exists(appPath);
  }

  /** Scripts start and stop with the primary; this worker's figures go there every second. */
  start(): void {
    this.statsTimer = setInterval(() => this.sendStats(), STATS_MS);
    this.statsTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.statsTimer) clearInterval(this.statsTimer);
    this.statsTimer = null;
  }

  // ---- calls

  private handles(client: Client, name: Hinted): boolean {
    return ((this.hints.get(client) ?? ALL_HINTS) & hintBit(name)) !== 0;
  }

  onConnection(client: Client, args: Value[]): Table | null {
    this.clients.set(client.id, client);
    this.writers.set(client.id, client.writer);
    let result: Value;
    try {
      result = this.ask(['connect', client.id, client.protocol, client.address, client.path, client.query, client.properties, client.ping, new Table(args)]);
    } catch (e) {
      this.forget(client);
      throw e;
    }
    if (this.ctx.logger.enabled(7)) this.ctx.logger.debug('Threads', `worker ${this.index} serves ${client.protocol} ${client.address} (${client.path || '/'})`);
    return result instanceof Table ? result : null;
  }

  onDisconnection(client: Client): void {
    if (!this.clients.has(client.id)) return;
    this.channel.send(['disconnect', client.id]);
    this.forget(client);
  }

  private forget(client: Client): void {
    this.clients.delete(client.id);
    this.writers.delete(client.id);
    for (const key of this.extraWriters.get(client.id) ?? []) this.writers.delete(key);
    this.extraWriters.delete(client.id);
  }

  onAddressChanged(client: Client, oldAddress: string): void {
    if (!this.handles(client, 'onAddressChanged')) return;
    this.ask(['address', client.id, client.ping, client.address, oldAddress]);
  }

  call(client: Client, method: string, args: Value[]): Value[] | Promise<Value[]> {
    const values: Value[] = ['?call', client.id, client.ping, method, new Table(args)];
    const [status, result, effects] = this.channel.call(values);
    if (status !== Status.Pending) {
      this.apply(effects);
      return items(status === Status.Ok ? result : this.refusal(status as Status, result));
    }
    // an asynchronous method: the protocol answers when its `settle` effect comes
    const token = Number(result);
    const answer = new Promise<Value[]>((resolve, reject) => this.pending.set(token, { resolve, reject }));
    this.apply(effects);
    return answer;
  }

  /** A message that waits for its answer: effects applied, then the result (or the refusal thrown). */
  private ask(values: Value[]): Value {
    values[0] = `?${values[0] as string}`;
    const [status, result, effects] = this.channel.call(values);
    this.apply(effects);
    if (status === Status.Ok) return result;
    return this.refusal(status as Status, result);
  }

  private refusal(status: Status, result: Value): never {
    switch (status) {
      case Status.Rejected:
        throw new ConnectionRejected(text(result) ?? 'client rejected');
      case Status.InvalidApp:
        throw new InvalidApp(text(result) ?? '');
      case Status.CallFailed:
        throw new CallFailed(text(result) ?? 'call failed');
      case Status.MethodNotFound:
        throw new MethodNotFound(text(result) ?? '');
      case Status.StreamRefused: {
        const [code, message] = items(result);
        throw new StreamRefused(code === 'Publish.BadName' || code === 'Publish.Failed' ? code : 'Play.Failed', text(message) ?? '');
      }
      default:
        throw new Error(`unknown answer status ${String(status)}`);
    }
  }

  onMessage(client: Client, args: Value[]): Value[] {
    if (!this.handles(client, 'onMessage')) return [];
    return items(this.ask(['message', client.id, client.ping, new Table(args)]));
  }

  onPublish(client: Client | null, publication: Publication): void {
    // a publication without a client is a relay's: the primary's scripts know it from its origin
    if (!client) return;
    this.ask(['publish', client.id, client.ping, publication.name, publication.publishType]);
    if (!this.watched.has(publication)) {
      const observer: PublicationObserver = {
        onMetadata: () => this.channel.send(['metadata', publication.name, publication.properties]),
      };
      this.watched.set(publication, publication.observe(observer));
    }
  }

  onUnpublish(client: Client | null, publication: Publication): void {
    this.watched.get(publication)?.();
    this.watched.delete(publication);
    if (!client) return;
    const message = ['unpublish', client.id, client.ping, publication.name];
    if (this.handles(client, 'onUnpublish')) this.ask(message);
    else this.channel.send(message);
  }

  onSubscribe(client: Client | null, listener: Listener): void {
    if (!client) return;
    const id = this.nextListener++;
    this.listeners.set(id, listener);
    this.listenerIds.set(listener, id);
    const message = ['subscribe', client.id, client.ping, id, listener.publication.name, listener.parameters];
    try {
      if (this.handles(client, 'onSubscribe')) this.ask(message);
      else this.channel.send(message);
    } catch (e) {
      this.listeners.delete(id);
      throw e;
    }
  }

  onUnsubscribe(client: Client | null, listener: Listener): void {
    const id = this.listenerIds.get(listener);
    if (id === undefined || !client) return;
    this.listeners.delete(id);
    const message = ['unsubscribe', client.id, client.ping, id];
    if (this.handles(client, 'onUnsubscribe')) this.ask(message);
    else this.channel.send(message);
  }

  // ---- hooks

  hook<T extends object>(key: HookKey<T>): T | undefined {
    const k = key as HookKey<object>;
    return k === HTTP_READ || k === RTMFP_RENDEZVOUS || k === RECORDING || k === GROUP_EVENTS ? (this as unknown as T) : undefined;
  }

  /** A message the primary answers when the client's script handles `name`, sent without waiting otherwise. */
  private tell(client: Client, name: Hinted, message: Value[]): void {
    if (this.handles(client, name)) this.ask(message);
    else this.channel.send(message);
  }

  // recordings are made here (where the publisher is); the scripts hear of them in the primary

  onWrite(client: Client, file: string, params: Table): string | null {
    if (!this.handles(client, 'onWrite')) return file;
    return text(this.ask(['write', client.id, client.ping, file, params]));
  }

  onRecord(publication: Publication, file: string): void {
    this.channel.send(['record', publication.name, file]);
  }

  onRecordStop(publication: Publication, file: string, info: Table): void {
    this.channel.send(['recordStop', publication.name, file, info]);
  }

  // groups are this worker's (RTMFP); the primary keeps their members for mona.groups and the events

  onJoinGroup(client: Client, group: Group): void {
    this.tell(client, 'onJoinGroup', ['join', client.id, client.ping, group.id]);
  }

  onUnjoinGroup(client: Client, group: Group): void {
    this.tell(client, 'onUnjoinGroup', ['unjoin', client.id, client.ping, group.id]);
  }

  onRead(client: Client, file: string, params: Table): ReadDecision {
    if (!this.handles(client, 'onRead')) return { file, template: null };
    const [name, template] = items(this.ask(['read', client.id, client.ping, file, params]));
    return { file: text(name), template: template instanceof Table ? template : null };
  }

  onHandshake(address: string, path: string, properties: Table, attempts: number): string[] {
    return items(this.ask(['handshake', address, path, properties, attempts])).map((v) => text(v) ?? '').filter((a) => a !== '');
  }

  onRendezVousUnknown(protocol: string, peerId: string): string[] {
    return items(this.ask(['rendezvous', protocol, peerId])).map((v) => text(v) ?? '').filter((a) => a !== '');
  }

  // ---- effects

  /** A writer of ours closed (the session ended, or the protocol closed it): the primary's image too. */
  private watchWriter(key: string, w: Writer): void {
    w.onClose(() => {
      if (this.writers.get(key) !== w) return;
      this.writers.delete(key);
      this.channel.send(['writerClosed', key]);
    });
  }

  /** Applies what scripts did to our clients, in order; an effect whose target is gone is dropped. */
  apply(effects: Value | undefined): void {
    if (!(effects instanceof Table)) return;
    for (const e of effects.items) {
      if (!(e instanceof Table)) continue;
      try {
        this.applyOne(e.items);
      } catch (err) {
        this.ctx.logger.error('Threads', `worker ${this.index}: ${String(e.items[0])}: ${(err as Error).message}`);
      }
    }
  }

  private applyOne(e: Value[]): void {
    const op = text(e[0]);
    const target = text(e[1]) ?? '';
    switch (op) {
      case 'invoke':
        return this.writers.get(target)?.writeInvocation(text(e[2]) ?? '', items(e[3]));
      case 'message':
        return this.writers.get(target)?.writeMessage(items(e[2]));
      case 'raw':
        return void (Buffer.isBuffer(e[2]) && this.writers.get(target)?.writeRaw(e[2]));
      case 'status':
        return this.writers.get(target)?.writeStatusResponse(text(e[2]) ?? '', text(e[3]) ?? undefined);
      case 'flush':
        return this.writers.get(target)?.flush(e[2] === true);
      case 'wclose':
        return this.writers.get(target)?.close();
      case 'reliable': {
        const w = this.writers.get(target);
        if (w) w.reliable = e[2] === true;
        return;
      }
      case 'newWriter': {
        const parent = this.writers.get(target);
        const key = text(e[2]);
        if (!parent || !key) return;
        const w = parent.newWriter();
        this.writers.set(key, w);
        const owner = key.slice(0, key.indexOf('.'));
        const keys = this.extraWriters.get(owner);
        if (keys) keys.push(key);
        else this.extraWriters.set(owner, [key]);
        this.watchWriter(key, w);
        return;
      }
      case 'close':
        return this.clients.get(target)?.close(text(e[2]) ?? undefined);
      case 'cookie': {
        const client = this.clients.get(target);
        if (client) client.setCookie(text(e[2]) ?? '', e[3] ?? null, e[4] instanceof Table ? e[4] : null);
        return;
      }
      case 'hints': {
        const client = this.clients.get(target);
        if (client && typeof e[2] === 'number') this.hints.set(client, e[2]);
        return;
      }
      case 'receive': {
        const l = this.listeners.get(Number(e[1]));
        if (!l) return;
        if (l.receiveAudio !== (e[2] === true)) l.setReceiveAudio(e[2] === true);
        if (l.receiveVideo !== (e[3] === true)) l.setReceiveVideo(e[3] === true);
        return;
      }
      case 'settle': {
        const token = Number(e[1]);
        const p = this.pending.get(token);
        if (!p) return;
        this.pending.delete(token);
        if (e[2] === Status.Ok) p.resolve(items(e[3]));
        else {
          try {
            this.refusal(e[2] as Status, e[3] ?? null);
          } catch (err) {
            p.reject(err);
          }
        }
        return;
      }
      case 'pubClose': {
        const pub = this.ctx.publications.get(target);
        if (!pub?.running || !pub.publisher) return;
        const code = text(e[2]);
        const description = text(e[3]);
        if (pub.source) pub.source.closePublication(code, description);
        else if (code) pub.publisher.writer.writeStatusResponse(code, description ?? undefined);
        this.ctx.publications.unpublish(pub);
        return;
      }
      default:
        this.ctx.logger.warn('Threads', `worker ${this.index}: unknown effect ${String(op)}`);
    }
  }
}
