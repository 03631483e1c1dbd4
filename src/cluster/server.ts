/**
 * The server link as the server runs it: listens on `[servers] port` for servers that join us,
 * joins every entry of `[servers] targets` and tries again every 10 s while one is not connected,
 * and feeds every link into the context's server registry (`context.servers`).
 */
import { listenHost } from '../config/listen';
import { Level } from '../logs/levels';
import type { ServerContext } from '../core/context';
import type { ProtocolServer } from '../core/protocol';
import { configPairs, parseTargets, sortPairs, type TargetEntry } from './hello';
import { RELAY_HELLO, RelayHub, type RelayDomain, type RelayLimits } from './relay';
import { LINK_DEFAULTS, ServerLink, type LinkSettings } from './link';
import type { CodecLimits } from './codec';
import { dial, listen, type Listener, type NetWire } from './socket';

export interface ClusterOptions {
  /** port to listen on instead of `[servers] port`; 0 = an ephemeral port (tests) */
  port?: number;
  /** instead of `[servers] targets` */
  targets?: string;
  /** instead of `[servers] secret` ("" = none) */
  secret?: string;
  /** pause between two attempts to join a target that is not connected */
  retryMs?: number;
  handshakeTimeoutMs?: number;
  maxQueuedBytes?: number;
  limits?: Partial<CodecLimits>;
  /** servers that connected to us and have not finished their hello, at most (more are cut at once) */
  maxPending?: number;
  /** bounds of publication relays (tests make them small) */
  relay?: Partial<RelayLimits>;
}

/** The documented figure: targets are tried again every 10 s. */
export const RETRY_MS = 10_000;
const MAX_PENDING = 64;
/** How long stop() waits for links to say goodbye before cutting them. */
const STOP_GRACE_MS = 3000;

interface Target {
  entry: TargetEntry;
  link: ServerLink | null;
  timer: NodeJS.Timeout | null;
  abort: (() => void) | null;
  /** failed attempts in a row (only the first of a streak is logged as a warning) */
  failures: number;
}

export class ClusterServer implements ProtocolServer {
  readonly name = 'Servers';
  private listener: Listener | null = null;
  private readonly links = new Set<ServerLink>();
  private readonly targets: Target[] = [];
  private readonly settings: LinkSettings;
  private stopping = false;
  /** publications relayed across the servers of the cluster */
  relays: RelayDomain | null = null;
  private drained: (() => void) | null = null;
  private refusedPending = 0;

  constructor(
    private readonly context: ServerContext,
    private readonly options: ClusterOptions = {},
  ) {
    const secret = options.secret ?? context.config.servers.secret;
    this.settings = {
      logger: context.logger,
      servers: context.servers,
      // our servers also say they relay publications (a MonaServer peer keeps it as one more config)
      hello: () => sortPairs(new Map([...configPairs(context.config), RELAY_HELLO])),
      secret: secret ? secret : null,
      limits: { ...LINK_DEFAULTS.limits, ...options.limits },
      handshakeTimeoutMs: options.handshakeTimeoutMs ?? LINK_DEFAULTS.handshakeTimeoutMs,
      maxQueuedBytes: options.maxQueuedBytes ?? LINK_DEFAULTS.maxQueuedBytes,
    };
  }

  /** the listening port (0 when only joining targets) */
  get port(): number {
    return this.listener?.port ?? 0;
  }

  async start(): Promise<void> {
    const { config, logger } = this.context;
    const port = this.options.port ?? config.servers.port;
    if (port > 0 || this.options.port === 0) {
      this.listener = await listen(listenHost(config, 'servers'), port, (wire) => this.accept(wire), (err) =>
        logger.error('Servers', `server socket: ${err.message}`),
      );
    }
    const [helloKey, helloValue] = RELAY_HELLO;
    this.relays = RelayHub.of(this.context).addDomain({
      name: 'servers',
      servers: this.context.servers,
      accepts: (peer) => peer.configs.get(helloKey) === helloValue,
      describe: (peer) => `server ${peer.address}`,
      limits: this.options.relay,
    });
    const { targets, errors } = parseTargets(this.options.targets ?? config.servers.targets);
    for (const e of errors) logger.error('Servers', e);
    for (const entry of targets) {
      const target: Target = { entry, link: null, timer: null, abort: null, failures: 0 };
      this.targets.push(target);
      this.join(target);
    }
  }

  addresses(): string[] {
    return this.listener ? [this.listener.address()] : [];
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.relays) RelayHub.of(this.context).removeDomain(this.relays);
    this.relays = null;
    for (const t of this.targets) {
      if (t.timer) clearTimeout(t.timer);
      t.timer = null;
      t.abort?.();
      t.abort = null;
    }
    const closing = this.listener?.close();
    this.listener = null;
    if (this.links.size) {
      const drained = new Promise<void>((r) => (this.drained = r));
      for (const link of [...this.links]) link.close('Server is stopping');
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((r) => (timer = setTimeout(r, STOP_GRACE_MS)));
      await Promise.race([drained, late]);
      clearTimeout(timer);
      // whatever did not close in time is cut, and still reported as disconnected
      for (const link of [...this.links]) link.abort('Server is stopping');
    }
    await closing;
  }

  private accept(wire: NetWire): void {
    const address = wire.remoteAddress;
    if (this.stopping) return wire.destroy();
    let pending = 0;
    for (const l of this.links) if (!l.open && l.role === 'accepting') pending++;
    if (pending >= (this.options.maxPending ?? MAX_PENDING)) {
      // a burst of connections that never say hello must not pile up
      if (this.refusedPending++ % 100 === 0)
        this.context.logger.warn('Servers', `${address} refused: ${pending} server connections are already waiting for their hello`);
      return wire.destroy();
    }
    const link = new ServerLink(wire, address, 'accepting', this.settings, {}, (l) => this.finished(l));
    this.links.add(link);
    wire.attach({ data: (chunk) => link.receive(chunk), closed: (err) => link.closed(err) });
    link.start();
  }

  private join(target: Target): void {
    if (this.stopping) return;
    const { logger } = this.context;
    const { host, port, properties } = target.entry;
    // every attempt of a target that stays down would fill the log: only the first of a streak shows
    logger.log(target.failures ? Level.DEBUG : Level.INFO, 'Servers', `Attempt to join ${host}:${port} server`);
    target.abort = dial(
      host,
      port,
      (wire) => {
        target.abort = null;
        if (this.stopping) return wire.destroy();
        const link = new ServerLink(wire, wire.remoteAddress, 'connecting', this.settings, properties, (l, reason) => {
          this.finished(l);
          target.link = null;
          if (l.server) target.failures = 0;
          else this.failed(target, reason ?? 'closed before the hello');
          this.retry(target);
        });
        target.link = link;
        this.links.add(link);
        wire.attach({ data: (chunk) => link.receive(chunk), closed: (err) => link.closed(err) });
        link.start();
      },
      (err) => {
        target.abort = null;
        this.failed(target, err.message);
        this.retry(target);
      },
    );
  }

  private failed(target: Target, reason: string): void {
    const text = `cannot join ${target.entry.host}:${target.entry.port} server (${reason}), next attempt in ${(this.options.retryMs ?? RETRY_MS) / 1000} s`;
    if (target.failures++ === 0) this.context.logger.warn('Servers', text);
    else this.context.logger.debug('Servers', text);
  }

  private retry(target: Target): void {
    if (this.stopping || target.timer) return;
    target.timer = setTimeout(() => {
      target.timer = null;
      this.join(target);
    }, this.options.retryMs ?? RETRY_MS);
  }

  private finished(link: ServerLink): void {
    this.links.delete(link);
    if (this.links.size === 0 && this.drained) {
      this.drained();
      this.drained = null;
    }
  }
}
