/**
 * One RTMP/RTMPE TCP connection: handshake, chunk layer, protocol control messages, ping and
 * timeouts, output coalescing. It is the script-visible `client` of the connection.
 * Flash messages (commands, data, media) go to the Flash layer's NetConnection, over the
 * transport in flash-transport.ts.
 *
 * Output goes through the transport connection (src/transport): every write of a burst is corked
 * and uncorked once per burst (end of the publisher's input, publication:flush(), or the shared
 * 50 ms tick), so Node hands the kernel one writev per burst instead of one write per message; a
 * player whose queue stays above the output limit is dropped by the transport's stall timeout.
 */
import { Client } from '../../core/client';
import type { ServerContext } from '../../core/context';
import type { Writer } from '../../core/writer';
import type { MediaFrame } from '../../core/media';
import type { Connection, ConnectionHandler } from '../../transport/connection';
import { NetConnection } from '../flash/net-connection';
import { ChunkReader, type RTMPMessage } from './chunk-reader';
import { encodeMessage, messageHeader, sharedMediaBody, u32 } from './chunk-writer';
import { CSID, MessageType, RTMP_DEFAULTS, UserControl } from './constants';
import { RTMPTransport } from './flash-transport';
import { HandshakeError, answerHandshake } from './handshake';
import { SIG_SIZE } from './handshake-crypto';
import type { RC4 } from './rc4';

/** What a session needs from its server. */
export interface SessionHost {
  readonly context: ServerContext;
  sessionClosed(session: RTMPSession): void;
  /** false when this peer's IP started too many RTMPE handshakes lately (each costs a DH) */
  allowEncryptedHandshake(address: string): boolean;
}

const enum Stage {
  C0C1,
  C2,
  Chunks,
  Closed,
}

export class RTMPSession extends Client implements ConnectionHandler {
  protocol = 'RTMP';
  readonly context: ServerContext;
  /** the Flash layer: connect, RPC, NetStreams, `client.writer` */
  readonly flash: NetConnection;
  private stage = Stage.C0C1;
  private handshakeBuf: Buffer[] = [];
  private handshakeLen = 0;
  private checkC2: ((c2: Buffer) => boolean) | null = null;
  private decipher: RC4 | null = null;
  private cipher: RC4 | null = null;
  private readonly reader: ChunkReader;
  /** 128 (the protocol default) until we announce ours after connect */
  outChunkSize = 128;
  private received = 0;
  private acknowledged = 0;
  private peerWindow = RTMP_DEFAULTS.windowAckSize;
  private pingTimer: NodeJS.Timeout | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  idleTimeoutMs = RTMP_DEFAULTS.connectTimeoutMs;
  private readonly born = Date.now();
  private closing = false;

  constructor(
    private readonly host: SessionHost,
    readonly connection: Connection,
  ) {
    super(connection.address, undefined, connection.socket);
    this.context = host.context;
    if (connection.secure) this.protocol = 'RTMPS';
    this.reader = new ChunkReader((m) => this.onMessage(m));
    this.flash = new NetConnection(new RTMPTransport(this));
    connection.handler = this;
    this.armIdle();
  }

  get writer(): Writer {
    return this.flash.writer;
  }

  get name(): string {
    return `${this.protocol} ${this.address}`;
  }

  log(level: 'trace' | 'debug' | 'info' | 'warn' | 'error', message: string): void {
    this.context.logger[level]('RTMP', `${this.name}: ${message}`);
  }

  // ---- input

  onData(data: Buffer): void {
    if (this.stage === Stage.Closed) return;
    this.lastReceptionTime = Date.now();
    const logger = this.context.logger;
    if (logger.dumping) logger.dump(this.protocol, 'in', this.address, data);
    try {
      if (this.stage !== Stage.Chunks) {
        data = this.onHandshakeData(data);
        if (data.length === 0) return;
      } else if (this.decipher) {
        this.decipher.process(data, 0, data.length, data, 0);
      }
      this.received += data.length;
      this.reader.push(data);
      if (this.received - this.acknowledged >= this.peerWindow) {
        this.acknowledged = this.received;
        this.sendMessage(CSID.control, MessageType.Acknowledgement, 0, 0, u32(this.received));
      }
    } catch (e) {
      // malformed input ends this session only
      this.log('debug', `bad input, closing: ${(e as Error).message}`);
      this.close(`protocol error: ${(e as Error).message}`, true);
      return;
    }
    this.flushOutput();
  }

  /** Consumes handshake bytes; returns what follows C2 (already deciphered for RTMPE). */
  private onHandshakeData(data: Buffer): Buffer {
    this.handshakeBuf.push(data);
    this.handshakeLen += data.length;
    if (this.stage === Stage.C0C1) {
      if (this.handshakeLen < SIG_SIZE + 1) return Buffer.alloc(0);
      const all = Buffer.concat(this.handshakeBuf, this.handshakeLen);
      if ((all[0] === 6 || all[0] === 8) && !this.host.allowEncryptedHandshake(this.address)) {
        throw new HandshakeError('too many RTMPE handshakes from this address');
      }
      const answer = answerHandshake(all.subarray(0, SIG_SIZE + 1));
      // RTMPE inside TLS is still RTMPS to scripts and logs: the channel is what TLS makes it
      if (answer.encrypted && !this.connection.secure) this.protocol = 'RTMPE';
      this.log('debug', `${answer.kind} handshake`);
      this.writeRaw(answer.reply);
      this.flushOutput();
      this.checkC2 = answer.checkC2;
      this.cipher = answer.cipher;
      this.decipher = answer.decipher;
      this.stage = Stage.C2;
      const rest = all.subarray(SIG_SIZE + 1);
      this.handshakeBuf = rest.length ? [rest] : [];
      this.handshakeLen = rest.length;
    }
    if (this.stage === Stage.C2) {
      if (this.handshakeLen < SIG_SIZE) return Buffer.alloc(0);
      const all = Buffer.concat(this.handshakeBuf, this.handshakeLen);
      this.handshakeBuf = [];
      this.handshakeLen = 0;
      if (this.checkC2 && !this.checkC2(all.subarray(0, SIG_SIZE))) this.log('debug', 'C2 signature mismatch (tolerated)');
      this.checkC2 = null;
      this.stage = Stage.Chunks;
      const rest = all.subarray(SIG_SIZE);
      if (this.decipher && rest.length) this.decipher.process(rest, 0, rest.length, rest, 0);
      return rest;
    }
    return Buffer.alloc(0);
  }

  private onMessage(m: RTMPMessage): void {
    switch (m.type) {
      case MessageType.SetChunkSize:
      case MessageType.Abort:
      case MessageType.Acknowledgement:
        return; // chunk size and abort are applied by the reader; acks need nothing over TCP
      case MessageType.WindowAckSize:
        if (m.payload.length >= 4) this.peerWindow = Math.max(1, m.payload.readUInt32BE(0));
        return;
      case MessageType.SetPeerBandwidth:
        return;
      case MessageType.UserControl:
        this.onUserControl(m.payload);
        // the Flash layer takes what is a stream's (setBufferLength)
        this.flash.onMessage(m.streamId, m.type, m.timestamp, m.payload);
        return;
      case MessageType.CommandAMF0:
      case MessageType.CommandAMF3:
      case MessageType.Audio:
      case MessageType.Video:
      case MessageType.DataAMF0:
      case MessageType.DataAMF3:
        this.flash.onMessage(m.streamId, m.type, m.timestamp, m.payload);
        return;
      case MessageType.Aggregate:
        this.onAggregate(m);
        return;
      default:
        this.log('debug', `message type ${m.type} ignored`);
    }
  }

  /** Aggregate message: FLV tags back to back; their times are offsets from the first tag. */
  private onAggregate(m: RTMPMessage): void {
    const b = m.payload;
    let p = 0;
    let base = -1;
    while (p + 11 <= b.length) {
      const type = b[p];
      const size = b.readUIntBE(p + 1, 3);
      const time = (b.readUIntBE(p + 4, 3) | (b[p + 7] << 24)) >>> 0;
      if (p + 11 + size + 4 > b.length) throw new Error('truncated aggregate message');
      if (base < 0) base = time;
      const payload = b.subarray(p + 11, p + 11 + size);
      if (type === MessageType.Audio || type === MessageType.Video || type === MessageType.DataAMF0) {
        this.onMessage({ type, streamId: m.streamId, timestamp: (m.timestamp + time - base) >>> 0, payload });
      }
      p += 11 + size + 4;
    }
  }

  private onUserControl(b: Buffer): void {
    if (b.length < 2) throw new Error('short user control message');
    const event = b.readUInt16BE(0);
    if (event === UserControl.PingResponse && b.length >= 6) {
      const sent = b.readUInt32BE(2);
      this.ping = Math.max(0, (((Date.now() - this.born) >>> 0) - sent) >>> 0);
    } else if (event === UserControl.PingRequest && b.length >= 6) {
      const out = Buffer.allocUnsafe(6);
      out.writeUInt16BE(UserControl.PingResponse, 0);
      b.copy(out, 2, 2, 6);
      this.sendMessage(CSID.control, MessageType.UserControl, 0, 0, out);
    }
  }

  // ---- output

  private writeRaw(buf: Buffer): void {
    if (this.stage === Stage.Closed) return;
    const logger = this.context.logger;
    if (logger.dumping) logger.dump(this.protocol, 'out', this.address, buf);
    this.connection.write(this.cipher ? this.cipher.transform(buf) : buf);
  }

  /** Ends the current burst: one writev for everything written since the last flush. */
  flushOutput(): void {
    this.connection.flush();
  }

  /** Bytes written and not yet taken by the kernel (Node's queue, corked bytes included). */
  queuedBytes(): number {
    return this.connection.queuedBytes();
  }

  sendMessage(csid: number, type: number, streamId: number, timestamp: number, payload: Buffer): void {
    for (const b of encodeMessage(csid, type, streamId, timestamp, payload, this.outChunkSize)) this.writeRaw(b);
  }

  sendUserControl(event: number, value: number): void {
    const b = Buffer.allocUnsafe(6);
    b.writeUInt16BE(event, 0);
    b.writeUInt32BE(value >>> 0, 2);
    this.sendMessage(CSID.control, MessageType.UserControl, 0, 0, b);
  }

  /** A media frame towards one player: own header + the frame's shared chunk body. */
  writeFrame(csid: number, type: number, streamId: number, time: number, frame: MediaFrame, payload: Buffer): void {
    if (time >= 0xffffff) {
      // extended timestamps repeat in every chunk: that body is this listener's own
      this.sendMessage(csid, type, streamId, time, payload);
      return;
    }
    this.writeRaw(messageHeader(csid, type, streamId, time, payload.length));
    this.writeRaw(sharedMediaBody(frame, payload, this.outChunkSize, csid));
  }

  // ---- connection life

  /** onConnection accepted: ping timer, idle timeout (`timeout` onConnection returned, or the default). */
  started(timeoutMs: number | null): void {
    this.idleTimeoutMs = timeoutMs ?? RTMP_DEFAULTS.idleTimeoutMs;
    this.armIdle();
    this.pingTimer = setInterval(() => this.sendPing(), RTMP_DEFAULTS.pingIntervalMs);
    this.pingTimer.unref();
  }

  private sendPing(): void {
    this.sendUserControl(UserControl.PingRequest, (Date.now() - this.born) >>> 0);
    this.flushOutput();
  }

  /**
   * One periodic check per session: idle timeout (time since the last received bytes) and connect
   * deadline. Stalled output is the transport's (`[TCP] stallTimeout`).
   */
  private armIdle(): void {
    if (this.idleTimer) clearInterval(this.idleTimer);
    const idleMs = this.idleTimeoutMs > 0 ? this.idleTimeoutMs : Infinity;
    const period = Math.max(50, Math.min(idleMs, 5000, RTMP_DEFAULTS.connectTimeoutMs / 4));
    this.idleTimer = setInterval(() => {
      const now = Date.now();
      const idle = now - this.lastReceptionTime;
      if (idle >= idleMs) this.close(`timeout (${Math.round(idle / 1000)} s without data)`);
      else if (!this.connected && now - this.born > RTMP_DEFAULTS.connectTimeoutMs) this.close('no connect in time');
    }, period);
    this.idleTimer.unref();
  }

  /** The connection ended (peer, error, stall, server stopping). */
  onClose(reason: string): void {
    this.close(reason);
  }

  /** Ends the session: streams stopped, script told (onDisconnection), socket closed. */
  close(reason = 'closed', abrupt = false): void {
    if (this.closing) return;
    this.closing = true;
    if (this.pingTimer) clearInterval(this.pingTimer);
    if (this.idleTimer) clearInterval(this.idleTimer);
    this.pingTimer = this.idleTimer = null;
    if (reason !== 'socket closed') this.log('debug', `closing: ${reason}`);
    this.flash.close(reason === 'socket closed' ? 'closed by peer' : reason);
    this.flushOutput();
    this.stage = Stage.Closed;
    // end then destroy after a grace period (a peer that never reads keeps nothing), or at once
    this.connection.close(reason, abrupt);
    this.host.sessionClosed(this);
  }

  get isClosing(): boolean {
    return this.closing;
  }

  /** Sends the chunk size and window settings MonaServer sends after connect. */
  sendProtocolSettings(): void {
    this.sendMessage(CSID.control, MessageType.WindowAckSize, 0, 0, u32(RTMP_DEFAULTS.windowAckSize));
    const bw = Buffer.allocUnsafe(5);
    bw.writeUInt32BE(RTMP_DEFAULTS.peerBandwidth, 0);
    bw[4] = 2; // dynamic
    this.sendMessage(CSID.control, MessageType.SetPeerBandwidth, 0, 0, bw);
    this.sendUserControl(UserControl.StreamBegin, 0);
    // the new chunk size applies to everything after this message
    this.sendMessage(CSID.control, MessageType.SetChunkSize, 0, 0, u32(RTMP_DEFAULTS.outChunkSize));
    this.outChunkSize = RTMP_DEFAULTS.outChunkSize;
  }
}

