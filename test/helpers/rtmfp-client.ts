/**
 * A small RTMFP client for tests and benches: the initiator side of the handshake (IHello with a
 * URL, cookie, IIKeying with a certificate offering one or more Diffie-Hellman groups, RIKeying),
 * handshake retransmission, then our Session class in the initiator role with a NetConnection and
 * NetStreams on top (connect, calls, createStream, publish, play, media in and out).
 */
import * as dgram from 'node:dgram';
import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { option, vlu, Reader } from '../../src/protocols/rtmfp/binary';
import { DEFAULT_KEY, decryptPacket, encryptPacket, unscrambleSessionId } from '../../src/protocols/rtmfp/crypto';
import { SessionCrypto, directionKeys, offerNegotiations, settleNegotiations, type Wishes } from '../../src/protocols/rtmfp/session-crypto';
import { dhKeyPair, type DhKeyPair } from '../../src/crypto/dh';
import {
  EPD_URL,
  FLASH_SIGNATURE,
  OPT_DH_PUBLIC_KEY,
  OPT_EXTRA_RANDOMNESS,
  OPT_HMAC_NEGOTIATION,
  OPT_SSEQ_NEGOTIATION,
  OPT_SUPPORTED_GROUP,
  buildIHello,
  buildIIKeying,
  parseOptionList,
  parseRHello,
  parseRIKeying,
  responderKey,
} from '../../src/protocols/rtmfp/handshake-chunks';
import { CHUNK, FLAG_TS, MODE_STARTUP, PacketBuilder, nowTimestamp, parsePacket } from '../../src/protocols/rtmfp/packet';
import { Session, type SessionHandler } from '../../src/protocols/rtmfp/session';
import type { IncomingFlow } from '../../src/protocols/rtmfp/flow';
import type { FlowSender } from '../../src/protocols/rtmfp/flow-writer';
import { header, parseFlashMessage } from '../../src/protocols/rtmfp/flash-message';
import { signatureStream, streamSignature } from '../../src/protocols/rtmfp/net-connection';
import { GROUP_METADATA, groupJoin, isGroupMetadata, parseGroupMember } from '../../src/protocols/rtmfp/group-message';
import { AMF0Writer } from '../../src/serialization/amf0';
import { MessageType, decodeCommand, encodeCommand, isCommand } from '../../src/protocols/flash/messages';
import { Table, type Value } from '../../src/serialization/value';

export interface ClientOptions {
  port: number;
  host?: string;
  /** DH groups we offer, in preference order (each gets a public key in our certificate) */
  groups?: number[];
  /** false: our session packets carry no timestamp field */
  timestamps?: boolean;
  /** handshake retransmission period (ms) */
  retryMs?: number;
  /**
   * RFC 7425 session options we offer (HMAC, session sequence numbers: send always / require).
   * Absent: Flash's offer (both "on request", 10-byte HMAC), which a Flash server declines.
   */
  sessionOptions?: Wishes;
}

export interface Status {
  streamId: number;
  code: string;
  description: string;
  info: Table;
}

export interface Media {
  streamId: number;
  type: number;
  time: number;
  body: Buffer;
}

/** The group both sides can use: ours in preference order, if the server lists it. */
function pickGroup(ours: number[], serverCert: Buffer): number {
  const offered = parseOptionList(serverCert)
    .filter((o) => o.type === OPT_SUPPORTED_GROUP)
    .map((o) => new Reader(o.value).vlu());
  const g = ours.find((x) => offered.includes(x));
  if (g === undefined) throw new Error(`no common DH group (server offers ${offered.join(',')})`);
  return g;
}

export class RtmfpTestClient extends EventEmitter {
  readonly socket = dgram.createSocket('udp4');
  readonly id = (randomBytes(4).readUInt32BE(0) | 1) >>> 0;
  session: Session | null = null;
  /** group the handshake used */
  group = 0;
  readonly statuses: Status[] = [];
  private readonly tag = randomBytes(16);
  private retry: NodeJS.Timeout | null = null;
  private handshakeDone: ((s: Session) => void) | null = null;
  private handshakeFailed: ((e: Error) => void) | null = null;
  private readonly dhs = new Map<number, DhKeyPair>();
  private certificate = Buffer.alloc(0);
  private skic = Buffer.alloc(0);
  private main: FlowSender | null = null;
  private readonly streams = new Map<number, FlowSender>();
  private nextTx = 1;
  private readonly pending = new Map<number, { resolve: (v: Value[]) => void; reject: (e: Error & { info?: Value }) => void }>();
  closed = false;
  /** sent handshake packets (IHello/IIKeying retransmissions included) */
  handshakeSends = 0;

  constructor(private readonly opts: ClientOptions) {
    super();
    this.socket.on('message', (m) => this.onDatagram(m));
    this.socket.on('error', () => {});
  }

  private get address(): string {
    return `${this.opts.host ?? '127.0.0.1'}:${this.opts.port}`;
  }

  /** every datagram this client sends, as sent (tests capture them to replay) */
  onSend: ((datagram: Buffer) => void) | null = null;

  private sendRaw(d: Buffer): void {
    if (this.closed) return;
    this.onSend?.(Buffer.from(d));
    this.socket.send(d, this.opts.port, this.opts.host ?? '127.0.0.1');
  }

  private sendStartup(type: number, body: Buffer, farId: number): void {
    const b = new PacketBuilder(FLAG_TS | MODE_STARTUP, false, Math.max(1180, body.length + 8));
    b.addChunk(type, body);
    const len = b.finish(nowTimestamp(), 0);
    this.handshakeSends++;
    this.sendRaw(encryptPacket(b.buf, len, DEFAULT_KEY, farId));
  }

  private repeat(send: () => void): void {
    if (this.retry) clearInterval(this.retry);
    send();
    let tries = 1;
    this.retry = setInterval(() => {
      if (++tries > 12) {
        this.stopRetry();
        this.handshakeFailed?.(new Error('handshake timed out'));
        return;
      }
      send();
    }, this.opts.retryMs ?? 300);
  }

  private stopRetry(): void {
    if (this.retry) clearInterval(this.retry);
    this.retry = null;
  }

  /** Runs the handshake; resolves once the session keys are in place. */
  handshake(url: string): Promise<Session> {
    return new Promise((resolve, reject) => {
      this.handshakeDone = resolve;
      this.handshakeFailed = reject;
      const epd = option(EPD_URL, Buffer.from(url, 'utf8'));
      this.repeat(() => this.sendStartup(CHUNK.IHello, buildIHello(epd, this.tag), 0));
    });
  }

  private onDatagram(d: Buffer): void {
    try {
      if (d.length < 20) return;
      const sid = unscrambleSessionId(d);
      if (this.session && sid === this.id) {
        if (this.session.receive(d, this.address)) return;
      }
      const plain = decryptPacket(d, DEFAULT_KEY);
      if (!plain) return;
      const p = parsePacket(plain);
      for (const c of p.chunks) {
        if (c.type === CHUNK.RHello) this.onRHello(c.data);
        else if (c.type === CHUNK.RIKeying) this.onRIKeying(c.data);
        else if (c.type === CHUNK.Redirect) this.emit('redirect', c.data);
      }
    } catch (e) {
      this.emit('protocolError', e);
    }
  }

  private onRHello(data: Buffer): void {
    if (this.session || this.skic.length) return;
    const h = parseRHello(data);
    if (!h.tag.equals(this.tag)) return;
    const ours = this.opts.groups ?? [2];
    this.group = pickGroup(ours, h.certificate);
    const certParts: Buffer[] = [];
    for (const g of ours) {
      const dh = dhKeyPair(g);
      if (!dh) continue;
      this.dhs.set(g, dh);
      certParts.push(option(OPT_DH_PUBLIC_KEY, Buffer.concat([vlu(g), dh.publicKey])));
    }
    this.certificate = Buffer.concat(certParts);
    this.skic = Buffer.concat([
      option(OPT_DH_PUBLIC_KEY, vlu(this.group)),
      option(OPT_EXTRA_RANDOMNESS, randomBytes(64)),
      this.opts.sessionOptions ? offerNegotiations(this.opts.sessionOptions) : Buffer.concat([option(OPT_HMAC_NEGOTIATION, Buffer.from([0x02, 0x0a])), option(OPT_SSEQ_NEGOTIATION, Buffer.from([0x02]))]),
    ]);
    const body = buildIIKeying({
      initiatorSessionId: this.id,
      cookie: Buffer.from(h.cookie),
      certificate: this.certificate,
      skic: this.skic,
      signature: Buffer.from([FLASH_SIGNATURE]),
    });
    this.repeat(() => this.sendStartup(CHUNK.IIKeying, body, 0));
  }

  private onRIKeying(data: Buffer): void {
    if (this.session) return;
    const k = parseRIKeying(data);
    const rk = responderKey(k.skrc);
    if (!rk) return;
    const dh = this.dhs.get(rk.group);
    if (!dh) return;
    this.stopRetry();
    let protection;
    try {
      protection = settleNegotiations(this.opts.sessionOptions ?? { hmacLength: 10 }, k.skrc);
    } catch (e) {
      this.handshakeFailed?.(e as Error);
      return;
    }
    const keys = directionKeys(dh.secret(rk.key), this.skic, Buffer.from(k.skrc));
    const host = {
      send: (d: Buffer) => this.sendRaw(d),
      removed: () => this.emit('sessionClosed'),
      debug: () => {},
      error: (m: string) => this.emit('protocolError', new Error(m)),
      keepaliveMs: 15_000,
    };
    const peerId = createHash('sha256').update(this.certificate).digest();
    const crypto = new SessionCrypto(keys.initiator, keys.responder, protection);
    this.session = new Session(this.id, k.responderSessionId, crypto, this.address, peerId, host, 'initiator', this.opts.timestamps !== false);
    this.session.handler = this.flashHandler();
    this.handshakeDone?.(this.session);
  }

  private flashHandler(): SessionHandler {
    return {
      onFlow: (flow: IncomingFlow) => signatureStream(flow.metadata) >= 0 || isGroupMetadata(flow.metadata),
      onMessage: (flow: IncomingFlow, message: Buffer) => {
        if (isGroupMetadata(flow.metadata)) this.emit('groupMember', parseGroupMember(message).toString('hex'), flow.id);
        else this.onFlash(signatureStream(flow.metadata), message);
      },
      onFlowEnd: (flow: IncomingFlow) => this.emit('flowEnd', flow.id, flow.metadata),
      onAddressChanged: () => {},
      onForwardedHello: (data: Buffer) => this.emit('forwardedHello', data),
      onClosed: () => {
        for (const p of this.pending.values()) p.reject(new Error('session closed'));
        this.pending.clear();
        this.emit('closed');
      },
    };
  }

  private onFlash(streamId: number, message: Buffer): void {
    const m = parseFlashMessage(message);
    if (isCommand(m.type)) {
      const inv = decodeCommand(m.type, m.body);
      if (inv.name === '_result' || inv.name === '_error') {
        const p = this.pending.get(inv.transaction);
        if (!p) return;
        this.pending.delete(inv.transaction);
        const values = inv.args;
        if (inv.name === '_result') p.resolve(values);
        else {
          const info = values[0];
          const e = new Error(info instanceof Table ? String(info.get('description')) : 'error') as Error & { info?: Value };
          e.info = info;
          p.reject(e);
        }
        return;
      }
      if (inv.name === 'onStatus') {
        const info = inv.args[0] instanceof Table ? (inv.args[0] as Table) : new Table();
        const s: Status = { streamId, code: String(info.get('code')), description: String(info.get('description')), info };
        this.statuses.push(s);
        this.emit('status', s);
        return;
      }
      this.emit('invocation', inv.name, inv.args);
      return;
    }
    if (m.type === MessageType.Audio || m.type === MessageType.Video || m.type === MessageType.DataAMF0) {
      this.emit('media', { streamId, type: m.type, time: m.time, body: m.body } satisfies Media);
      return;
    }
    this.emit('raw', streamId, m);
  }

  private invoke(sender: FlowSender, name: string, args: Value[], expectAnswer: boolean): Promise<Value[]> {
    const s = this.session;
    if (!s) return Promise.reject(new Error('not connected'));
    const tx = expectAnswer ? this.nextTx++ : 0;
    // args[0] is the command object (connect's properties, null for every other command)
    const { type, payload } = encodeCommand(false, name, tx, args[0] ?? null, args.slice(1));
    sender.write(header(type, 0), payload);
    s.scheduleFlush();
    if (!expectAnswer) return Promise.resolve([]);
    return new Promise((resolve, reject) => this.pending.set(tx, { resolve, reject }));
  }

  /** Handshake then NetConnection connect; resolves with the Connect.Success info object. */
  async connect(url: string, args: Value[] = []): Promise<Table> {
    const session = await this.handshake(url);
    this.main = session.newSender(streamSignature(0), -1);
    const command = Table.of({ app: url.replace(/^rtmfp:\/\/[^/]*\/?/, ''), tcUrl: url, objectEncoding: 0, flashVer: 'WIN 20,0,0,286' });
    const [info] = await this.invoke(this.main, 'connect', [command, ...args], true);
    return info as Table;
  }

  /** An invocation on the NetConnection that expects no answer (transaction id 0). */
  send(name: string, ...args: Value[]): void {
    void this.invoke(this.main!, name, [null, ...args], false);
  }

  call(name: string, ...args: Value[]): Promise<Value[]> {
    return this.invoke(this.main!, name, [null, ...args], true);
  }

  async createStream(): Promise<number> {
    const [id] = await this.invoke(this.main!, 'createStream', [null], true);
    const streamId = id as number;
    this.streams.set(streamId, this.session!.newSender(streamSignature(streamId), -1));
    return streamId;
  }

  /** Sends a stream command (publish/play/closeStream) and waits for the first status that matches. */
  streamCommand(streamId: number, name: string, args: Value[], wait: RegExp | null): Promise<Status | null> {
    const sender = this.streams.get(streamId);
    if (!sender) return Promise.reject(new Error(`no stream ${streamId}`));
    const got = wait ? this.waitStatus(streamId, wait) : Promise.resolve(null);
    void this.invoke(sender, name, [null, ...args], false);
    return got;
  }

  /** createStream + publish; resolves with the stream id once Publish.Start came. */
  async publish(name: string): Promise<number> {
    const id = await this.createStream();
    await this.streamCommand(id, 'publish', [name], /Publish\.Start/);
    return id;
  }

  /** createStream + play; resolves with the stream id once Play.Start came. */
  async play(name: string): Promise<number> {
    const id = await this.createStream();
    await this.streamCommand(id, 'play', [name], /Play\.Start/);
    return id;
  }

  waitStatus(streamId: number, re: RegExp, timeoutMs = 10_000): Promise<Status> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.off('status', on);
        reject(new Error(`no status ${re} on stream ${streamId}`));
      }, timeoutMs);
      const on = (s: Status) => {
        if (s.streamId === streamId && re.test(s.code)) {
          clearTimeout(t);
          this.off('status', on);
          resolve(s);
        }
      };
      this.on('status', on);
    });
  }

  /** audio (8), video (9) or data (0x12) on a stream (0: the NetConnection's flow) */
  sendMedia(streamId: number, type: number, time: number, body: Buffer): void {
    const sender = streamId === 0 ? this.main : this.streams.get(streamId);
    if (!sender || !this.session) return;
    sender.write(header(type, time), body);
    this.session.scheduleFlush();
  }

  /**
   * NetGroup: opens a "GC" flow and sends the join message for `groupId` (or `raw`, a whole join
   * message); the server's answers come as 'groupMember' events (peer id hex). Resolves with the
   * flow's sender; closing it (`leaveGroup`) leaves the group.
   */
  joinGroup(groupId: Buffer | null, raw?: Buffer): FlowSender {
    const s = this.session;
    if (!s) throw new Error('not connected');
    const sender = s.newSender(GROUP_METADATA, -1);
    sender.write(null, raw ?? groupJoin(groupId!));
    s.scheduleFlush();
    return sender;
  }

  leaveGroup(sender: FlowSender): void {
    sender.close();
    this.session?.scheduleFlush();
  }

  /** bytes our flows still hold (queued + unacknowledged) */
  get pendingBytes(): number {
    let n = this.main ? this.main.pendingBytes : 0;
    for (const s of this.streams.values()) n += s.pendingBytes;
    return n;
  }

  /** Mobility: continue the session from a new UDP socket (new source port). */
  async moveSocket(): Promise<void> {
    const old = this.socket;
    const fresh = dgram.createSocket('udp4');
    fresh.on('message', (m) => this.onDatagram(m));
    fresh.on('error', () => {});
    await new Promise<void>((r) => fresh.bind(0, '127.0.0.1', () => r()));
    (this as { socket: dgram.Socket }).socket = fresh;
    old.close();
  }

  /** Closes the session (close request) and the socket. */
  async close(): Promise<void> {
    this.stopRetry();
    if (this.session && !this.session.closed) this.session.close('client closing');
    await new Promise((r) => setTimeout(r, 20));
    this.closed = true;
    await new Promise<void>((r) => this.socket.close(() => r()));
  }
}

/** n frames of growing size (up to several packets each), first video frame a key frame */
export function makeFrames(n: number, keyEvery = 30): Media[] {
  const out: Media[] = [];
  for (let i = 0; i < n; i++) {
    const video = i % 3 !== 2;
    const size = video ? 200 + ((i * 977) % 6000) : 120;
    const body = Buffer.alloc(size, i & 0xff);
    body[0] = video ? (i % keyEvery === 0 ? 0x17 : 0x27) : 0xaf;
    body[1] = 1; // not a codec config
    body.writeUInt32BE(i, 2);
    out.push({ streamId: 0, type: video ? 9 : 8, time: i * 20, body });
  }
  return out;
}


/** Publishes `frames` on `pub`'s stream and resolves with what `sub` receives once it has as many. */
export function relay(pub: RtmfpTestClient, streamId: number, sub: RtmfpTestClient, frames: Media[]): Promise<Media[]> {
  const got: Media[] = [];
  const done = new Promise<Media[]>((resolve) => {
    const on = (m: Media) => {
      got.push(m);
      if (got.length === frames.length) {
        sub.off('media', on);
        resolve(got);
      }
    };
    sub.on('media', on);
  });
  for (const f of frames) pub.sendMedia(streamId, f.type, f.time, f.body);
  return done;
}
