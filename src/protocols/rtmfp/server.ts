/**
 * The RTMFP server: one UDP socket, datagrams routed by their scrambled session id to
 * the handshake (id 0) or a session. Nothing a datagram contains can throw out of the handler: a
 * malformed, truncated or wrongly keyed datagram is dropped with a debug log.
 */
import * as dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { listenHost } from '../../config/listen';
import { appHook, RTMFP_RENDEZVOUS } from '../../core/app-hooks';
import { redirectionAddresses } from '../../core/servers';
import type { ServerContext } from '../../core/context';
import type { ProtocolServer } from '../../core/protocol';
import { Table } from '../../serialization/value';
import { DEFAULT_KEY, decryptPacket, unscrambleSessionId } from './crypto';
import { ADDRESS_LOCAL, ADDRESS_PUBLIC, ADDRESS_REDIRECT, Handshaker, type NewSession } from './handshake';
import { groupAddress } from './group-message';
import { parsePacket, MODE_STARTUP } from './packet';
import { NetConnection } from './net-connection';
import { Session, type SessionHost } from './session';
import { splitUrl, parseQuery } from './url';

/**
 * What an app's onHandshake returned, as "ip:port" addresses: "myself" (MonaServer's word), "again"
 * and a wildcard host mean this very server as the client reached it (host of the IHello URL), a
 * missing port is 1935.
 */
export function redirections(list: readonly string[], url: string, ourPort: number): string[] {
  const m = /^rtmfp:\/\/(\[[^\]]+\]|[^/:?]+)(?::(\d+))?/i.exec(url);
  const urlHost = m ? m[1] : '';
  const urlPort = m && m[2] ? Number(m[2]) : ourPort;
  const out: string[] = [];
  for (const raw of list) {
    const a = raw.trim();
    if (a === 'again' || a.toLowerCase() === 'myself') {
      if (urlHost) out.push(`${urlHost}:${urlPort}`);
      continue;
    }
    const hp = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(a);
    if (!hp) continue;
    const wildcard = hp[1] === '0.0.0.0' || hp[1] === '[::]';
    const host = wildcard ? urlHost : hp[1];
    if (host) out.push(`${host}:${hp[2] ?? 1935}`);
  }
  return out;
}

/** sessions one server holds at most (each costs a few KB idle) */
const MAX_SESSIONS = 200_000;
/** sessions one IP address may hold (a NAT hides many clients, a flood from one host is capped) */
const MAX_SESSIONS_PER_IP = 10_000;

function ipOf(address: string): string {
  return address.slice(0, address.lastIndexOf(':'));
}

export class RTMFPServer implements ProtocolServer {
  readonly name = 'RTMFP';
  private socket: dgram.Socket | null = null;
  readonly sessions = new Map<number, Session>();
  private readonly byPeer = new Map<string, Session>();
  private readonly perIp = new Map<string, number>();
  readonly handshaker: Handshaker;
  private timer: NodeJS.Timeout | null = null;
  private readonly sessionHost: SessionHost;
  /** datagrams dropped as malformed/unauthenticated (benches and tests read it) */
  dropped = 0;

  constructor(
    private readonly ctx: ServerContext,
    private readonly port = ctx.config.rtmfp.port,
    private readonly host = listenHost(ctx.config, 'RTMFP'),
  ) {
    const self = this;
    // members sit on the group ring where Flash peers place each other
    ctx.groups.memberAddress = groupAddress;
    this.sessionHost = {
      send: (d, a) => this.send(d, a),
      removed: (s) => this.removeSession(s),
      debug: (m) => this.debug(m),
      error: (m) => this.ctx.logger.error('RTMFP', m),
      get keepaliveMs() {
        return Math.max(1, self.ctx.config.rtmfp.keepaliveServer) * 1000;
      },
    };
    this.handshaker = new Handshaker({
      send: (d, a) => this.send(d, a),
      debug: (m) => this.debug(m),
      onHandshake: (address, url, attempts) => {
        const hooks = appHook(this.ctx.host, RTMFP_RENDEZVOUS);
        if (!hooks) return [];
        const { path, query } = splitUrl(url);
        const props: Table = parseQuery(query);
        const targets = redirectionAddresses(hooks.onHandshake(address, path, props, attempts), 'RTMFP', this.warnRedirection);
        const out = redirections(targets, url, this.boundPort);
        if (out.length) this.debug(`RTMFP handshake of ${address} redirected to ${out.join(', ')}`);
        return out;
      },
      rendezVous: (peerId, from, tag) => {
        const s = this.byPeer.get(peerId.toString('hex'));
        if (s && !s.closed && s.handler instanceof NetConnection) {
          // the wanted peer is told who will knock (forwarded IHello) so it can punch towards it
          s.forwardHello(peerId, from, tag);
          return [
            { address: s.address, origin: ADDRESS_PUBLIC },
            ...s.handler.peerAddresses.map((a) => ({ address: a, origin: ADDRESS_LOCAL })),
          ];
        }
        const hooks = appHook(this.ctx.host, RTMFP_RENDEZVOUS);
        if (!hooks) return [];
        // a wildcard or "myself" would send the peer back here, where its peer is not: left out
        return redirectionAddresses(hooks.onRendezVousUnknown('RTMFP', peerId.toString('hex')), 'RTMFP', this.warnRedirection)
          .filter((a) => !/^(myself|again|0\.0\.0\.0(:\d+)?|\[::\](:\d+)?)$/i.test(a.trim()))
          .map((a) => ({ address: a, origin: ADDRESS_REDIRECT }));
      },
      createSession: (n) => this.createSession(n),
      hasSession: (id) => this.sessions.has(id),
    });
  }

  private readonly warnRedirection = (message: string): void => this.ctx.logger.warn('RTMFP', message);

  private debug(message: string): void {
    if (this.ctx.logger.enabled(7)) this.ctx.logger.debug('RTMFP', message);
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = dgram.createSocket({ type: this.host.includes(':') ? 'udp6' : 'udp4' });
      const bufferSize = this.ctx.config.socketBufferSize;
      socket.once('error', reject);
      socket.on('message', (msg, rinfo) => this.onDatagram(msg, rinfo.family === 'IPv6' ? `[${rinfo.address}]:${rinfo.port}` : `${rinfo.address}:${rinfo.port}`));
      // exclusive: in a worker of `threads`, the port is this process's alone (a shared one would
      // hand a session's datagrams to whichever process reads first)
      socket.bind({ port: this.port, address: this.host, exclusive: true }, () => {
        socket.off('error', reject);
        socket.on('error', (e) => this.ctx.logger.error('RTMFP', `socket: ${e.message}`));
        try {
          socket.setRecvBufferSize(bufferSize > 0 ? bufferSize : 4 * 1024 * 1024);
          socket.setSendBufferSize(bufferSize > 0 ? bufferSize : 4 * 1024 * 1024);
        } catch {
          // the OS keeps its default
        }
        this.socket = socket;
        this.timer = setInterval(() => this.manage(), 1000);
        resolve();
      });
    });
  }

  /** the bound port (tests bind port 0) */
  get boundPort(): number {
    return this.socket ? this.socket.address().port : this.port;
  }

  addresses(): string[] {
    return [`${this.host}:${this.boundPort} (UDP)`];
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const s of [...this.sessions.values()]) s.close('server stopping');
    const socket = this.socket;
    this.socket = null;
    this.sessions.clear();
    this.byPeer.clear();
    this.perIp.clear();
    if (socket) await new Promise<void>((r) => socket.close(() => r()));
  }

  private send(datagram: Buffer, address: string): void {
    const socket = this.socket;
    if (!socket) return;
    const i = address.lastIndexOf(':');
    const host = address.slice(0, i).replace(/^\[|\]$/g, '');
    socket.send(datagram, Number(address.slice(i + 1)), host);
    if (this.ctx.logger.dumping) this.ctx.logger.dump('RTMFP', 'out', address, datagram);
  }

  /** Entry point of every datagram. */
  onDatagram(msg: Buffer, address: string): void {
    try {
      // a session that negotiated HMAC appends it after the AES blocks: only startup packets
      // are whole blocks for sure
      if (msg.length < 20 || msg.length > 2048) {
        this.drop(address, 'bad size');
        return;
      }
      if (this.ctx.logger.dumping) this.ctx.logger.dump('RTMFP', 'in', address, msg);
      const id = unscrambleSessionId(msg);
      if (id === 0) {
        if ((msg.length - 4) % 16 !== 0) return this.drop(address, 'bad size');
        // a blacklisted IP (mona:addToBlacklist) gets no answer at all, as if nobody listened
        if (this.ctx.isBlacklisted(address)) return this.drop(address, 'blacklisted');
        const plain = decryptPacket(msg, DEFAULT_KEY);
        if (!plain) return this.drop(address, 'bad checksum with the default key');
        const packet = parsePacket(plain);
        if (packet.mode !== MODE_STARTUP) return this.drop(address, 'startup packet with a session mode');
        this.handshaker.receive(packet, address);
        return;
      }
      const session = this.sessions.get(id);
      if (!session) return this.drop(address, `unknown session ${id}`);
      if (!session.receive(msg, address)) return this.drop(address, `session ${id}: bad checksum or mode`);
      const handler = session.handler;
      if (handler instanceof NetConnection) {
        handler.client.ping = session.ping;
        handler.client.lastReceptionTime = session.lastReception;
      }
    } catch (e) {
      this.drop(address, (e as Error).message);
    }
  }

  private drop(address: string, why: string): void {
    this.dropped++;
    this.debug(`datagram from ${address} dropped: ${why}`);
  }

  private createSession(n: NewSession): number {
    if (this.sessions.size >= MAX_SESSIONS) throw new Error('too many sessions');
    const ip = ipOf(n.address);
    const count = this.perIp.get(ip) ?? 0;
    if (count >= MAX_SESSIONS_PER_IP) throw new Error(`too many sessions from ${ip}`);
    this.perIp.set(ip, count + 1);
    let id: number;
    do id = randomBytes(4).readUInt32BE(0);
    while (id === 0 || this.sessions.has(id));
    const session = new Session(id, n.farId, n.crypto, n.address, n.peerId, this.sessionHost);
    const keepalive = { server: this.ctx.config.rtmfp.keepaliveServer * 1000, peer: this.ctx.config.rtmfp.keepalivePeer * 1000 };
    session.handler = new NetConnection(this.ctx, session, keepalive);
    this.sessions.set(id, session);
    const peer = n.peerId.toString('hex');
    this.byPeer.get(peer)?.close('same peer connected again');
    this.byPeer.set(peer, session);
    return id;
  }

  private removeSession(s: Session): void {
    if (this.sessions.get(s.id) !== s) return;
    this.sessions.delete(s.id);
    const ip = ipOf(s.createdFrom);
    const count = (this.perIp.get(ip) ?? 1) - 1;
    if (count > 0) this.perIp.set(ip, count);
    else this.perIp.delete(ip);
    const peer = s.peerId.toString('hex');
    if (this.byPeer.get(peer) === s) this.byPeer.delete(peer);
  }

  private manage(): void {
    const now = Date.now();
    this.handshaker.manage(now);
    for (const s of this.sessions.values()) {
      try {
        s.manage(now);
      } catch (e) {
        this.ctx.logger.error('RTMFP', `session ${s.id}: ${(e as Error).message}`);
      }
    }
  }
}
