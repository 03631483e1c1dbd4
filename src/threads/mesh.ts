/**
 * The links between the processes of one server (`threads`): the primary (place 0) and each worker
 * (places 1..N) listen on a UNIX socket of a private folder and each one joins every process of a
 * lower place, so that every two processes share one link. The links are the server link's
 * (ServerLink: its framing and limits), in a registry of their own that scripts never see
 * (`mona.servers` is the other servers of the cluster), and publications cross them through the
 * relay, as between servers. A link that drops (a worker died and was started again) is joined
 * again.
 */
import * as path from 'node:path';
import type { ServerContext } from '../core/context';
import { Level, type LogFields, type Logger } from '../logs/levels';
import type { ProtocolServer } from '../core/protocol';
import { Servers, type PeerServer } from '../core/servers';
import { LINK_DEFAULTS, ServerLink, type LinkSettings } from '../cluster/link';
import { RELAY_HELLO, RelayHub, type RelayDomain } from '../cluster/relay';
import { dialPath, listenPath, type Listener, type NetWire } from '../cluster/socket';
import { WORKER_HELLO_KEY } from './messages';

/** pause between two attempts to join a process that is not listening yet */
const RETRY_MS = 100;

export function socketPath(dir: string, place: number): string {
  return path.join(dir, place === 0 ? 'primary.sock' : `worker${place}.sock`);
}

export function describePlace(place: number): string {
  return place === 0 ? 'the primary' : `worker ${place}`;
}

export class Mesh implements ProtocolServer {
  readonly name = 'Workers';
  /** the other processes of this server, linked */
  readonly peers = new Servers();
  relays: RelayDomain | null = null;
  /** what else runs over the links (HLS questions), ended when the mesh stops */
  readonly services: Array<{ close(): void }> = [];
  private listener: Listener | null = null;
  private readonly links = new Set<ServerLink>();
  private readonly settings: LinkSettings;
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopping = false;
  private linkedToPrimary: (() => void) | null = null;

  constructor(
    private readonly context: ServerContext,
    /** the private folder of the sockets */
    private readonly dir: string,
    /** 0 = the primary, 1..N = a worker */
    readonly place: number,
  ) {
    this.settings = {
      logger: quietLinks(context.logger, () => this.stopping),
      servers: this.peers,
      hello: () => [RELAY_HELLO as [string, string], [WORKER_HELLO_KEY, String(place)]],
      secret: null,
      limits: LINK_DEFAULTS.limits,
      handshakeTimeoutMs: LINK_DEFAULTS.handshakeTimeoutMs,
      maxQueuedBytes: LINK_DEFAULTS.maxQueuedBytes,
    };
  }

  /** The place of a linked process. */
  static placeOf(peer: PeerServer): number {
    return Number(peer.configs.get(WORKER_HELLO_KEY) ?? -1);
  }

  /** The linked process at `place`, if linked. */
  peer(place: number): PeerServer | null {
    return this.peers.all().find((p) => Mesh.placeOf(p) === place) ?? null;
  }

  /** Listens, joins every lower place; a worker resolves once linked to the primary. */
  async start(): Promise<void> {
    this.relays = RelayHub.of(this.context).addDomain({
      name: 'workers',
      internal: true,
      servers: this.peers,
      accepts: () => true,
      describe: (peer) => describePlace(Mesh.placeOf(peer)),
    });
    this.listener = await listenPath(socketPath(this.dir, this.place), (wire) => this.accept(wire), (err) =>
      this.context.logger.error('Threads', `${describePlace(this.place)} link socket: ${err.message}`),
    );
    const primary = this.place === 0 ? Promise.resolve() : new Promise<void>((r) => (this.linkedToPrimary = r));
    for (let p = 0; p < this.place; p++) this.join(p);
    await primary;
  }

  addresses(): string[] {
    return [];
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const s of this.services) s.close();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.relays) RelayHub.of(this.context).removeDomain(this.relays);
    this.relays = null;
    for (const link of [...this.links]) link.abort('stopping');
    await this.listener?.close();
    this.listener = null;
  }

  private accept(wire: NetWire): void {
    if (this.stopping) return wire.destroy();
    const link = new ServerLink(wire, 'a process of this server', 'accepting', this.settings, {}, (l) => this.links.delete(l));
    this.links.add(link);
    wire.attach({ data: (chunk) => link.receive(chunk), closed: (err) => link.closed(err) });
    link.start();
  }

  private join(place: number): void {
    if (this.stopping) return;
    const again = () => {
      if (this.stopping) return;
      const t = setTimeout(() => {
        this.timers.delete(t);
        this.join(place);
      }, RETRY_MS);
      this.timers.add(t);
    };
    dialPath(
      socketPath(this.dir, place),
      (wire) => {
        if (this.stopping) return wire.destroy();
        const link = new ServerLink(wire, describePlace(place), 'connecting', this.settings, {}, (l) => {
          this.links.delete(l);
          again();
        });
        this.links.add(link);
        wire.attach({ data: (chunk) => link.receive(chunk), closed: (err) => link.closed(err) });
        link.start();
        if (place === 0) {
          const done = this.peers.subscribe({
            onServerConnection: (peer) => {
              if (Mesh.placeOf(peer) !== 0) return;
              done();
              this.linkedToPrimary?.();
              this.linkedToPrimary = null;
            },
          });
        }
      },
      again,
    );
  }
}

/**
 * The links' own lines (established, closed) are DEBUG lines between processes of one server, and
 * everything is while the server stops; their warnings and errors stay what they are otherwise.
 */
function quietLinks(logger: Logger, stopping: () => boolean): Logger {
  const at = (level: Level): Level => (stopping() || level > Level.WARN ? Level.DEBUG : level);
  const log = (level: Level, source: string, message: string, fields?: LogFields) => logger.log(at(level), source, message, fields);
  return {
    get level() {
      return logger.level;
    },
    set level(l: Level) {
      logger.level = l;
    },
    get dumping() {
      return logger.dumping;
    },
    log,
    fatal: (s, m, f) => log(Level.FATAL, s, m, f),
    critic: (s, m, f) => log(Level.CRITIC, s, m, f),
    error: (s, m, f) => log(Level.ERROR, s, m, f),
    warn: (s, m, f) => log(Level.WARN, s, m, f),
    note: (s, m, f) => log(Level.NOTE, s, m, f),
    info: (s, m, f) => log(Level.INFO, s, m, f),
    debug: (s, m, f) => log(Level.DEBUG, s, m, f),
    trace: (s, m, f) => log(Level.TRACE, s, m, f),
    enabled: (l) => logger.enabled(at(l)),
    dump: (name, direction, address, data) => logger.dump(name, direction, address, data),
  };
}
