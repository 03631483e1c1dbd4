/**
 * A small RTMP client: plain or digest handshake, connect, calls with transaction ids,
 * createStream, play and publish. The server never uses it; tests use it where ffmpeg and
 * rtmpdump cannot reach (AMF3 connect, RPC results, status codes, misbehaving peers) and the
 * benchmark builds its players on the same handshake.
 */
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { Table, type Value } from '../../serialization/value';
import { ChunkReader, type RTMPMessage } from './chunk-reader';
import { encodeMessage, u32 } from './chunk-writer';
import { encodeAMF0 } from '../../serialization/amf0';
import { decodeCommand, decodeData, encodeCommand } from '../flash/messages';
import { MessageType, UserControl } from './constants';
import { FP_KEY_SHORT, LAYOUTS, SIG_SIZE, signPacket } from './handshake-crypto';

export interface ClientOptions {
  host?: string;
  port: number;
  /** sign C1 like Flash/ffmpeg (default) or send a plain version-0 handshake */
  digest?: boolean;
}

/** C0+C1 of a client handshake. */
export function clientHello(digest: boolean): Buffer {
  const out = Buffer.allocUnsafe(SIG_SIZE + 1);
  out[0] = 3;
  const c1 = out.subarray(1);
  randomBytes(SIG_SIZE).copy(c1);
  c1.writeUInt32BE(0, 0);
  if (digest) {
    Buffer.from([9, 0, 124, 2]).copy(c1, 4);
    signPacket(c1, LAYOUTS[0], FP_KEY_SHORT);
  } else c1.writeUInt32BE(0, 4);
  return out;
}

export interface Result {
  name: string;
  args: Value[];
}

export class RTMPClient {
  readonly socket: net.Socket;
  readonly messages: RTMPMessage[] = [];
  /** onStatus info objects per stream id, in arrival order */
  readonly statuses: Array<{ streamId: number; code: string; info: Table }> = [];
  /** invocations the server made on us (writer:writeInvocation) */
  readonly invocations: Array<{ name: string; args: Value[] }> = [];
  onMessage: ((m: RTMPMessage) => void) | null = null;
  amf3 = false;
  closed = false;
  private reader = new ChunkReader((m) => this.dispatch(m));
  private pendingCalls = new Map<number, (r: Result) => void>();
  private nextTransaction = 2;
  private chunkSize = 128;
  private handshakeBytes = 0;
  private ready: Promise<void>;
  private waiters: Array<() => void> = [];

  constructor(options: ClientOptions) {
    this.socket = net.connect({ host: options.host ?? '127.0.0.1', port: options.port });
    this.socket.setNoDelay(true);
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
    this.ready = new Promise((resolve, reject) => {
      this.socket.once('connect', () => this.socket.write(clientHello(options.digest !== false)));
      this.socket.once('close', () => reject(new Error('closed during handshake')));
      let hs: Buffer[] = [];
      const onData = (d: Buffer) => {
        hs.push(d);
        this.handshakeBytes += d.length;
        if (this.handshakeBytes < 1 + 2 * SIG_SIZE) return;
        const all = Buffer.concat(hs);
        hs = [];
        this.socket.off('data', onData);
        // C2: echo S1 (servers accept it from non-Flash clients, as ffmpeg's publisher does)
        this.socket.write(all.subarray(1, 1 + SIG_SIZE));
        this.socket.on('data', (x: Buffer) => this.onData(x));
        const rest = all.subarray(1 + 2 * SIG_SIZE);
        if (rest.length) this.onData(rest);
        resolve();
      };
      this.socket.on('data', onData);
    });
    this.ready.catch(() => {});
  }

  handshake(): Promise<void> {
    return this.ready;
  }

  private onData(d: Buffer): void {
    try {
      this.reader.push(d);
    } catch {
      this.socket.destroy();
    }
  }

  private dispatch(m: RTMPMessage): void {
    this.messages.push(m);
    if (m.type === MessageType.CommandAMF0 || m.type === MessageType.CommandAMF3) {
      const c = decodeCommand(m.type, m.payload);
      if (c.name === '_result' || c.name === '_error') {
        const cb = this.pendingCalls.get(c.transaction);
        this.pendingCalls.delete(c.transaction);
        cb?.({ name: c.name, args: [c.object, ...c.args] });
      } else if (c.name === 'onStatus') {
        const info = c.args[0] instanceof Table ? c.args[0] : new Table();
        this.statuses.push({ streamId: m.streamId, code: String(info.get('code')), info });
      } else this.invocations.push({ name: c.name, args: c.args });
    } else if (m.type === MessageType.UserControl && m.payload.readUInt16BE(0) === UserControl.PingRequest) {
      const out = Buffer.from(m.payload);
      out.writeUInt16BE(UserControl.PingResponse, 0);
      this.send(2, MessageType.UserControl, 0, 0, out);
    }
    this.onMessage?.(m);
    this.notify();
  }

  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves when `predicate` holds over what was received; rejects on close or timeout. */
  async until<T>(predicate: () => T | undefined | null | false, timeoutMs = 10_000, what = 'message'): Promise<T> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const v = predicate();
      if (v) return v;
      if (this.closed) throw new Error(`connection closed while waiting for ${what}`);
      const left = end - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  status(streamId: number, code: string, timeoutMs = 10_000): Promise<Table> {
    return this.until(() => this.statuses.find((s) => s.streamId === streamId && s.code === code)?.info, timeoutMs, code);
  }

  send(csid: number, type: number, streamId: number, timestamp: number, payload: Buffer): void {
    for (const b of encodeMessage(csid, type, streamId, timestamp, payload, this.chunkSize)) this.socket.write(b);
  }

  setChunkSize(size: number): void {
    this.send(2, MessageType.SetChunkSize, 0, 0, u32(size));
    this.chunkSize = size;
  }

  /** A command with a transaction id; resolves with `_result`/`_error` and its values. */
  call(name: string, args: Value[] = [], streamId = 0, object: Value = null, transaction = this.nextTransaction++): Promise<Result> {
    const { type, payload } = encodeCommand(this.amf3, name, transaction, object, args);
    const p = new Promise<Result>((resolve) => this.pendingCalls.set(transaction, resolve));
    this.send(3, type, streamId, 0, payload);
    return p;
  }

  /** A command without an answer (publish, play, closeStream...). */
  command(name: string, args: Value[], streamId: number): void {
    const { type, payload } = encodeCommand(this.amf3, name, 0, null, args);
    this.send(streamId ? 8 : 3, type, streamId, 0, payload);
  }

  async connect(app: string, fields: Record<string, Value> = {}, args: Value[] = [], port = 0): Promise<Result> {
    await this.ready;
    const obj = Table.of({ app, tcUrl: `rtmp://127.0.0.1${port ? ':' + port : ''}/${app}`, flashVer: 'LNX 9,0,124,2', ...fields });
    if (fields.objectEncoding === 3) this.amf3 = true;
    return this.call('connect', args, 0, obj, 1);
  }

  async createStream(): Promise<number> {
    const r = await this.call('createStream');
    if (r.name !== '_result' || typeof r.args[1] !== 'number') throw new Error(`createStream failed: ${r.name}`);
    return r.args[1];
  }

  sendData(streamId: number, values: Value[], timestamp = 0): void {
    this.send(4, MessageType.DataAMF0, streamId, timestamp, encodeAMF0(...values));
  }

  sendAudio(streamId: number, timestamp: number, payload: Buffer): void {
    this.send(4, MessageType.Audio, streamId, timestamp, payload);
  }

  sendVideo(streamId: number, timestamp: number, payload: Buffer): void {
    this.send(6, MessageType.Video, streamId, timestamp, payload);
  }

  media(streamId?: number): RTMPMessage[] {
    return this.messages.filter(
      (m) => (m.type === MessageType.Audio || m.type === MessageType.Video || m.type === MessageType.DataAMF0) && (streamId === undefined || m.streamId === streamId),
    );
  }

  dataValues(m: RTMPMessage): Value[] {
    return decodeData(m.type, m.payload);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.closed) return resolve();
      this.socket.once('close', () => resolve());
      this.socket.destroy();
    });
  }
}
