/**
 * One server-to-server connection, either side: the shared-secret exchange when configured, the
 * hello both ways, then handler frames both ways until either side closes. Knows bytes and
 * timers, not sockets: what carries the bytes is a `Wire` (socket.ts adapts node:net).
 */
import type { Logger } from '../logs/levels';
import { PeerServer, type ServerChannel, type Servers } from '../core/servers';
import type { Value } from '../serialization/value';
import { checkProof, newNonce, parseNonce, proof, type Role } from './auth';
import {
  APPS_HANDLER,
  DEFAULT_LIMITS,
  FrameDecoder,
  FrameEncoder,
  decodeApps,
  decodeArgs,
  encodeApps,
  encodeArgs,
  type CodecLimits,
  type Frame,
} from './codec';
import { peerConfigs } from './hello';

/** The byte pipe under a link. */
export interface Wire {
  write(data: Buffer): void;
  /** bytes given to write() that the network has not taken yet */
  readonly queued: number;
  /** closes once what is queued is sent */
  end(): void;
  /** closes now */
  destroy(): void;
}

export interface LinkSettings {
  logger: Logger;
  servers: Servers;
  /** our configuration as hello pairs */
  hello: () => Array<[string, string]>;
  /** `[servers] secret`, null for MonaServer's plain link */
  secret: string | null;
  limits: CodecLimits;
  /** a link that has not finished its hello by then is closed */
  handshakeTimeoutMs: number;
  /** a peer with more than this waiting towards it is disconnected (it stopped reading) */
  maxQueuedBytes: number;
}

export const LINK_DEFAULTS = {
  limits: DEFAULT_LIMITS,
  handshakeTimeoutMs: 10_000,
  maxQueuedBytes: 32 * 1024 * 1024,
};

type State = 'auth' | 'proof' | 'hello' | 'open' | 'closed';

/**
 * The arguments last encoded, for this turn of the event loop only: a broadcast hands the same
 * array to every link, which then encodes it once instead of once per server.
 */
let lastArgs: readonly Value[] | null = null;
let lastPayload: Buffer = Buffer.alloc(0);

function payloadOf(args: readonly Value[]): Buffer {
  if (args === lastArgs) return lastPayload;
  const payload = encodeArgs(args);
  if (lastArgs === null) queueMicrotask(() => (lastArgs = null));
  lastArgs = args;
  lastPayload = payload;
  return payload;
}

export class ServerLink implements ServerChannel {
  /** set once both hellos are done */
  server: PeerServer | null = null;
  private state: State;
  private readonly decoder: FrameDecoder;
  private readonly encoder: FrameEncoder;
  private connectingNonce: Buffer | null = null;
  private acceptingNonce: Buffer | null = null;
  /** why the link ends, when we know better than the socket */
  private closeReason: string | null = null;
  /** the reason was logged when it happened (a reject either way, a protocol failure) */
  private reasonLogged = false;
  private finished = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly wire: Wire,
    /** "ip:port" of the other end */
    readonly address: string,
    /** connecting: we dialled one of our targets; accepting: it dialled our `[servers] port` */
    readonly role: Role,
    private readonly settings: LinkSettings,
    /** our target entry's properties ({} when accepting) */
    private readonly properties: Readonly<Record<string, string>> = {},
    private readonly onFinished?: (link: ServerLink, reason: string | null) => void,
  ) {
    this.decoder = new FrameDecoder(settings.limits);
    this.encoder = new FrameEncoder(settings.limits);
    this.state = role === 'accepting' && settings.secret ? 'auth' : 'hello';
  }

  get open(): boolean {
    return this.state === 'open';
  }

  /** bytes of an incomplete frame held from this peer */
  get pendingInput(): number {
    return this.decoder.pending;
  }

  /** Starts the handshake timer; the connecting side speaks first. */
  start(): void {
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.state !== 'open' && this.state !== 'closed') this.refuse(`no hello within ${this.settings.handshakeTimeoutMs / 1000} s`);
    }, this.settings.handshakeTimeoutMs);
    this.timer.unref?.();
    if (this.role !== 'connecting') return;
    const { secret } = this.settings;
    if (secret) {
      this.connectingNonce = newNonce();
      this.state = 'auth';
      this.write(this.encoder.auth([['nonce', this.connectingNonce.toString('hex')]]));
    } else this.sendHello();
  }

  /** Bytes from the peer. */
  receive(chunk: Buffer): void {
    if (this.state === 'closed') return;
    const { logger } = this.settings;
    if (logger.dumping) logger.dump('SERVERS', 'in', this.address, chunk);
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.refuse((err as Error).message);
      return;
    }
    for (const frame of frames) {
      if ((this.state as State) === 'closed') return; // a frame before closed the link
      this.handle(frame);
    }
  }

  /** The wire closed (`error` if it failed). Reports the disconnection once. */
  closed(error: Error | null): void {
    if (this.finished) return;
    this.finished = true;
    this.state = 'closed';
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const reason = this.closeReason ?? (error ? error.message : null);
    const { logger, servers } = this.settings;
    if (this.server) {
      if (reason && !this.reasonLogged) logger.error('Servers', `Disconnection from ${this.address} server, ${reason}`);
      else logger.note('Servers', `Disconnection from ${this.address} server${reason ? ` (${reason})` : ''}`);
      try {
        servers.disconnected(this.server, reason);
      } catch (err) {
        logger.error('Servers', `onServerDisconnection of ${this.address}: ${(err as Error).message}`);
      }
    }
    this.onFinished?.(this, reason);
  }

  // ---- ServerChannel ----

  send(handler: string, args: readonly Value[]): boolean {
    if (this.state !== 'open') return false;
    if (handler === APPS_HANDLER) throw new RangeError(`the handler "${APPS_HANDLER}" is reserved for the application list`);
    const frame = this.encoder.message(handler, payloadOf(args));
    return this.write(frame);
  }

  sendRaw(handler: string, head: Buffer, body?: Buffer): boolean {
    if (this.state !== 'open') return false;
    if (handler === APPS_HANDLER) throw new RangeError(`the handler "${APPS_HANDLER}" is reserved for the application list`);
    if (!body || body.length === 0) return this.write(this.encoder.message(handler, head));
    if (!this.write(this.encoder.messageHead(handler, head, body.length), true)) return false;
    return this.write(body);
  }

  sendApps(paths: readonly string[]): boolean {
    if (this.state !== 'open') return false;
    return this.write(this.encoder.message(APPS_HANDLER, encodeApps(paths)));
  }

  reject(reason: string): void {
    if (this.state === 'closed') return;
    this.settings.logger.info('Servers', `rejecting ${this.address} server: ${reason}`);
    if (this.closeReason === null) {
      this.closeReason = `rejected: ${reason}`;
      this.reasonLogged = true;
    }
    this.write(this.encoder.reject(reason));
    this.end();
  }

  queuedBytes(): number {
    return this.state === 'closed' ? 0 : this.wire.queued;
  }

  /** Cuts the link now and reports it closed (a stop whose goodbye was not taken in time). */
  abort(reason: string): void {
    this.closeReason ??= reason;
    this.wire.destroy();
    this.closed(null);
  }

  /** Stops the link: an open link is told why (MonaServer says "Server is stopping"), others just close. */
  close(reason: string): void {
    if (this.state === 'open') this.reject(reason);
    else if (this.state !== 'closed') {
      this.closeReason ??= reason;
      this.state = 'closed';
      this.wire.destroy();
    }
  }

  // ---- internals ----

  private handle(frame: Frame): void {
    switch (frame.kind) {
      case 'reject':
        this.closeReason = frame.reason || 'rejected without a reason';
        this.reasonLogged = true;
        this.settings.logger.error('Servers', `Connection with ${this.address} server, ${this.closeReason}`);
        this.end();
        return;
      case 'auth':
        return this.onAuth(new Map(frame.pairs));
      case 'hello':
        return this.onHello(frame.pairs);
      case 'unknown':
        if (this.state !== 'open') return this.refuse('a message came before the hello');
        this.settings.logger.error('Servers', `message with unknown handler reference ${frame.ref} from ${this.address} server, ignored`);
        return;
      case 'message':
        if (this.state !== 'open') return this.refuse('a message came before the hello');
        return this.onMessage(frame.handler, frame.payload);
    }
  }

  private onMessage(handler: string, payload: Buffer): void {
    const { logger, servers, limits } = this.settings;
    const server = this.server!;
    const raw = handler === APPS_HANDLER ? undefined : servers.rawHandler(handler);
    if (raw) {
      try {
        raw(server, payload);
      } catch (err) {
        logger.error('Servers', `${handler} from ${this.address} server: ${(err as Error).message}`);
      }
      return;
    }
    let apps: string[] | null = null;
    let args: Value[] | null = null;
    try {
      if (handler === APPS_HANDLER) apps = decodeApps(payload, limits);
      else args = decodeArgs(payload);
    } catch (err) {
      logger.error('Servers', `message "${handler}" from ${this.address} server ignored: ${(err as Error).message}`);
      return;
    }
    try {
      if (apps) servers.apps(server, apps);
      else servers.message(server, handler, args!);
    } catch (err) {
      logger.error('Servers', `handler "${handler}" of ${this.address} server: ${(err as Error).message}`);
    }
  }

  private onAuth(pairs: Map<string, string>): void {
    const { secret } = this.settings;
    if (!secret) return this.refuse('this server has no shared secret ([servers] secret) and cannot answer the challenge');
    if (this.role === 'accepting') {
      if (this.state === 'auth') {
        const nonce = parseNonce(pairs.get('nonce'));
        if (!nonce) return this.refuse('malformed shared-secret challenge');
        this.connectingNonce = nonce;
        this.acceptingNonce = newNonce();
        this.state = 'proof';
        this.write(
          this.encoder.auth([
            ['nonce', this.acceptingNonce.toString('hex')],
            ['proof', proof(secret, 'accepting', nonce, this.acceptingNonce).toString('hex')],
          ]),
        );
        return;
      }
      if (this.state === 'proof') {
        if (!checkProof(proof(secret, 'connecting', this.connectingNonce!, this.acceptingNonce!), pairs.get('proof')))
          return this.refuse('shared secret mismatch');
        this.state = 'hello';
        return;
      }
      return this.refuse('unexpected shared-secret frame');
    }
    if (this.state !== 'auth') return this.refuse('unexpected shared-secret frame');
    const nonce = parseNonce(pairs.get('nonce'));
    if (!nonce || !checkProof(proof(secret, 'accepting', this.connectingNonce!, nonce), pairs.get('proof')))
      return this.refuse('shared secret mismatch');
    this.acceptingNonce = nonce;
    this.write(this.encoder.auth([['proof', proof(secret, 'connecting', this.connectingNonce!, nonce).toString('hex')]]));
    this.sendHello();
  }

  private onHello(pairs: Array<[string, string]>): void {
    if (this.state === 'auth' || this.state === 'proof') {
      return this.refuse(
        this.role === 'accepting'
          ? 'this server requires the shared secret ([servers] secret)'
          : 'the peer answered without the shared secret ([servers] secret)',
      );
    }
    if (this.state !== 'hello') return this.refuse('a second hello on an established link');
    if (this.role === 'accepting') this.sendHello();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.state = 'open';
    const { logger, servers } = this.settings;
    const server = new PeerServer(this.address, this.role === 'connecting', peerConfigs(this.properties, pairs), this.properties, this);
    this.server = server;
    logger.note('Servers', `Connection established with ${this.address} server`);
    try {
      servers.connected(server);
    } catch (err) {
      this.reject((err as Error).message || 'rejected');
      return;
    }
    if (this.state === 'open') this.sendApps(servers.runningApps());
  }

  private sendHello(): void {
    const pairs = this.settings.hello();
    // from the connecting side, our entry's properties follow the configuration (MonaServer's order)
    if (this.role === 'connecting') for (const [k, v] of Object.entries(this.properties).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) pairs.push([k, v]);
    this.state = 'hello';
    this.write(this.encoder.hello(pairs));
  }

  /** Protocol or authentication failure: the peer is told why, then the link closes. */
  private refuse(reason: string): void {
    if (this.state === 'closed') return;
    if (this.closeReason === null) {
      this.closeReason = reason;
      this.reasonLogged = true;
    }
    this.settings.logger.error('Servers', `${this.address} server: ${reason}`);
    this.write(this.encoder.reject(reason));
    this.end();
  }

  private end(): void {
    this.state = 'closed';
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.wire.end();
  }

  /**
   * false (and the link closed) when the peer has stopped reading. `partial`: the rest of this
   * frame follows in the next write, so the queue is not judged in between.
   */
  private write(frame: Buffer, partial = false): boolean {
    if (this.finished) return false;
    const { logger, maxQueuedBytes } = this.settings;
    if (logger.dumping) logger.dump('SERVERS', 'out', this.address, frame);
    this.wire.write(frame);
    if (partial) return true;
    const queued = this.wire.queued;
    if (queued > maxQueuedBytes) {
      this.closeReason ??= `the peer stopped reading (${queued} bytes waiting for it)`;
      this.state = 'closed';
      this.wire.destroy();
      return false;
    }
    return true;
  }
}
