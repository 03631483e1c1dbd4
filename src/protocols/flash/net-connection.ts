/**
 * The NetConnection of a Flash client, once for every transport: connect (command object, app path,
 * URL query → properties, objectEncoding, onConnection's table in Connect.Success, its `timeout`),
 * createStream/deleteStream, RPC with transaction ids (`_result`, `_error` NetConnection.Call.Failed),
 * data without a method → `client:onMessage`, the commands OBS and ffmpeg send that need only a
 * quiet answer, and the NetStream commands routed to their stream.
 */
import { connectionAppPath } from '../../core/app-host';
import { CallFailed, ConnectionRejected, InvalidApp } from '../../core/errors';
import type { Publication } from '../../core/publication';
import { Level } from '../../logs/levels';
import { decodeQuery } from '../../serialization/query';
import { Table, type Value } from '../../serialization/value';
import { type Command, MessageType, UserControl, decodeCommand, decodeData, encodeCommand, isCommand, isData, text } from './messages';
import { NetStream, type StreamOwner } from './net-stream';
import { statusInfo } from './status';
import type { FlashTransport } from './transport';
import { FlashWriter, type WriterOwner } from './writer';

/** A peer broke the Flash protocol (a command before connect, a second connect): its session ends. */
export class FlashProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FlashProtocolError';
  }
}

export const FLASH_LIMITS = {
  /** NetStreams one connection may hold */
  maxStreams: 64,
  /** writers one connection may open with writer:newWriter() */
  maxWriters: 256,
};

/**
 * Commands answered with an empty `_result` (when they carry a transaction) and nothing else, never
 * logged as errors: what ffmpeg, OBS and Flash send around publish and play. FCUnpublish needs no
 * action: the closeStream/deleteStream that follow it unpublish.
 */
const QUIET = new Set([
  'releaseStream', 'FCPublish', 'FCUnpublish', 'FCSubscribe', 'FCUnsubscribe', 'getStreamLength', 'setPeerInfo',
  '@setDataFrame', 'initStream', 'closeStream',
]);

/** Commands that belong to a NetStream; sent for a stream that does not exist they are dropped. */
const STREAM_COMMANDS = new Set(['publish', 'play', 'pause', 'seek', 'receiveAudio', 'receiveVideo', 'closeStream']);

/** A `setPeerInfo` argument that is an address ("1.2.3.4:5", "[::1]:5"). */
const ADDRESS = /^(\[[0-9a-fA-F:.]+\]|[0-9.]+):\d+$/;

export class NetConnection implements StreamOwner, WriterOwner {
  /** objectEncoding 3: commands go out as type 17 with AMF3 values */
  amf3 = false;
  /** `client.writer` */
  readonly writer: FlashWriter;
  private readonly streams = new Map<number, NetStream>();
  /** writers made by newWriter (made on first use: most connections never have one) */
  private writers: Set<FlashWriter> | null = null;
  /** the RPC transaction being served (writer:writeMessage answers it) */
  private transaction = 0;
  private transactionTaken = false;
  /** publications fed during the current input burst (a publisher's only) */
  private touchedPublications: Set<Publication> | null = null;
  private connectSeen = false;
  private ended = false;

  constructor(readonly transport: FlashTransport) {
    this.writer = new FlashWriter(this, transport.mainChannel, 'NetConnection', true);
  }

  private get client() {
    return this.transport.client;
  }

  hasStream(id: number): boolean {
    return this.streams.has(id);
  }

  stream(id: number): NetStream | undefined {
    return this.streams.get(id);
  }

  /**
   * A Flash message from the peer: `streamId` 0 is the NetConnection, `payload` the message body as
   * RTMP carries it (types 17 and 15 keep their format byte). `lost`: messages of this stream the
   * transport lost just before this one (RTMFP's abandoned fragments; 0 on RTMP). Throws
   * FlashProtocolError or DecodeError for what ends the session (the transport decides how).
   */
  onMessage(streamId: number, type: number, time: number, payload: Buffer, lost = 0): void {
    if (this.ended) return;
    if (isCommand(type)) {
      this.onCommand(streamId, decodeCommand(type, payload));
      return;
    }
    if (type === MessageType.UserControl) {
      // pings are the transport's business; a player's buffer length paces its file
      if (payload.length >= 10 && payload.readUInt16BE(0) === UserControl.SetBufferLength) {
        this.streams.get(payload.readUInt32BE(2))?.setBufferLength(payload.readUInt32BE(6));
      }
      return;
    }
    if (!this.client.connected) throw new FlashProtocolError(`message type ${type} before connect`);
    const stream = streamId ? this.streams.get(streamId) : undefined;
    if (type === MessageType.Audio || type === MessageType.Video) {
      stream?.onMedia(type, time, payload, lost);
    } else if (isData(type)) {
      if (stream) stream.onData(type, time, payload, lost);
      else this.onClientData(type, payload);
    } else {
      this.transport.log('debug', `message type ${type} ignored`);
    }
  }

  private onCommand(streamId: number, cmd: Command): void {
    if (this.transport.context.logger.enabled(Level.TRACE)) {
      this.transport.log('trace', `${cmd.name} (transaction ${cmd.transaction}, stream ${streamId})`);
    }
    if (cmd.name === 'connect') {
      if (this.connectSeen) throw new FlashProtocolError('second connect');
      this.connectSeen = true;
      this.connect(cmd);
      return;
    }
    if (!this.client.connected) throw new FlashProtocolError(`'${cmd.name}' before connect`);
    const stream = streamId ? this.streams.get(streamId) : undefined;
    if (stream && stream.onCommand(cmd.name, cmd.args)) return;
    if (streamId !== 0 && STREAM_COMMANDS.has(cmd.name)) {
      this.transport.log('debug', `'${cmd.name}' for unknown stream ${streamId} ignored`);
      return;
    }
    const arg0 = cmd.args[0];
    switch (cmd.name) {
      case 'createStream':
        this.createStream(cmd);
        return;
      case 'deleteStream':
        if (typeof arg0 === 'number') this.deleteStream(arg0);
        return;
      case 'close':
        this.transport.close('NetConnection.close');
        return;
      case 'setPeerInfo':
        if (this.transport.setPeerInfo) {
          this.transport.setPeerInfo(cmd.args.filter((a): a is string => typeof a === 'string' && ADDRESS.test(a)).slice(0, 8));
          return;
        }
        break;
    }
    if (QUIET.has(cmd.name)) {
      if (cmd.transaction) this.answer('_result', cmd.transaction, [cmd.name === 'getStreamLength' ? 0 : null]);
      return;
    }
    this.call(cmd);
  }

  /** A command on the NetConnection's channel, sent now. */
  private answer(name: string, transaction: number, args: Value[], object: Value = null): void {
    const { type, payload } = encodeCommand(this.amf3, name, transaction, object, args);
    const channel = this.transport.mainChannel;
    channel.send(type, 0, payload, true);
    channel.flush();
  }

  private callFailed(transaction: number, message: string): void {
    this.answer('_error', transaction, [statusInfo('NetConnection.Call.Failed', message)]);
  }

  /**
   * `client:method(...)` → `_result(values)` or `_error(NetConnection.Call.Failed)`. An asynchronous
   * method (a JavaScript app's async function) answers its transaction when it settles, if the
   * client is still connected; other commands are served meanwhile (answers carry their transaction).
   */
  private call(cmd: Command): void {
    const { host } = this.transport.context;
    const saved = this.transaction;
    const savedTaken = this.transactionTaken;
    this.transaction = cmd.transaction;
    this.transactionTaken = false;
    const failed = (e: unknown): void => {
      if (!(e instanceof CallFailed)) this.transport.log('error', `${cmd.name}: ${(e as Error).stack ?? e}`);
      this.callFailed(cmd.transaction, e instanceof Error ? e.message : String(e));
    };
    try {
      const values = host.call(this.client, cmd.name, cmd.args);
      if (values instanceof Promise) {
        values.then(
          (v) => this.client.connected && cmd.transaction && this.answer('_result', cmd.transaction, v),
          (e: unknown) => this.client.connected && failed(e),
        );
        return;
      }
      // writer:writeMessage inside the call answered it already: only returned values are left to send
      if (cmd.transaction && (!this.transactionTaken || values.length)) this.answer('_result', cmd.transaction, values);
    } catch (e) {
      failed(e);
    } finally {
      this.transaction = saved;
      this.transactionTaken = savedTaken;
    }
  }

  /** Data messages outside a publication: `client:onMessage(...)`. */
  onClientData(type: number, payload: Buffer): void {
    if (!this.client.connected) return;
    this.transport.context.host.onMessage(this.client, decodeData(type, payload));
  }

  private connect(cmd: Command): void {
    const client = this.client;
    const obj = cmd.object instanceof Table ? cmd.object : new Table();
    const { path, query } = this.appPathOf(text(obj.field('tcUrl') ?? undefined), text(obj.field('app') ?? undefined));
    client.path = path;
    client.query = query;
    for (const [k, v] of obj.fields) client.properties.set(k, v);
    if (query) {
      for (const v of decodeQuery(query)) if (v instanceof Table) for (const [k, x] of v.fields) client.properties.set(k, x);
    }
    this.amf3 = obj.field('objectEncoding') === 3;
    const objectEncoding = this.amf3 ? 3 : 0;

    this.transport.connecting();
    let returned: Table | null;
    try {
      returned = this.transport.context.connect(client, cmd.args);
    } catch (e) {
      const known = e instanceof ConnectionRejected || e instanceof InvalidApp;
      const code = e instanceof InvalidApp ? 'NetConnection.Connect.InvalidApp' : 'NetConnection.Connect.Rejected';
      const message = known ? (e as Error).message : 'client rejected';
      if (!known) this.transport.log('error', `onConnection: ${(e as Error).message}`);
      this.answer('_error', cmd.transaction, [statusInfo(code, message, { objectEncoding })]);
      this.transport.close(`${code}: ${message}`);
      return;
    }
    // `timeout` (seconds) from onConnection replaces the idle timeout; it is not shown to the client
    let timeoutMs: number | null = null;
    const info = statusInfo('NetConnection.Connect.Success', 'Connection succeeded', { objectEncoding });
    if (returned) {
      for (const [k, v] of returned.fields) {
        if (k === 'timeout') {
          if (typeof v === 'number' && v >= 0) timeoutMs = v * 1000;
        } else if (!info.fields.has(k)) info.fields.set(k, v);
      }
    }
    this.answer('_result', cmd.transaction, [info], this.transport.connectProperties);
    this.transport.connected(timeoutMs);
  }

  /** tcUrl/app → the app path (one rule for every protocol: connectionAppPath) and the URL query. */
  private appPathOf(tcUrl: string, app: string): { path: string; query: string } {
    let query = '';
    let pathPart = app;
    const qa = app.indexOf('?');
    if (qa >= 0) {
      query = app.slice(qa + 1);
      pathPart = app.slice(0, qa);
    }
    if (tcUrl) {
      const qt = tcUrl.indexOf('?');
      if (qt >= 0 && !query) query = tcUrl.slice(qt + 1);
      if (!pathPart) {
        const m = /^[a-z0-9+.-]+:\/\/[^/?]*\/?([^?]*)/i.exec(tcUrl);
        if (m) pathPart = m[1];
      }
    }
    const host = this.transport.context.host;
    return { path: connectionAppPath(pathPart, (a) => host.exists(a)), query };
  }

  // ---- streams

  /** createStream: the lowest free id (as MonaServer numbers them), its channel opened by the transport. */
  private createStream(cmd: Command): void {
    if (this.streams.size >= FLASH_LIMITS.maxStreams) {
      this.callFailed(cmd.transaction, `too many streams (${FLASH_LIMITS.maxStreams})`);
      return;
    }
    let id = 1;
    while (this.streams.has(id)) id++;
    this.streams.set(id, new NetStream(this, id, this.transport.openStream(id)));
    this.answer('_result', cmd.transaction, [id]);
  }

  deleteStream(id: number): void {
    const s = this.streams.get(id);
    if (!s) return;
    this.streams.delete(id);
    s.stop(true);
    s.channel.close();
  }

  /** StreamOwner: publications fed during this input burst are flushed once it is over. */
  touched(pub: Publication): void {
    if (this.touchedPublications) {
      this.touchedPublications.add(pub);
      return;
    }
    this.touchedPublications = new Set([pub]);
    setImmediate(() => this.flushTouched());
  }

  private flushTouched(): void {
    const pubs = this.touchedPublications;
    this.touchedPublications = null;
    if (!pubs) return;
    for (const pub of pubs) {
      try {
        pub.flush();
      } catch (e) {
        this.transport.log('error', `publication ${pub.name} flush: ${(e as Error).message}`);
      }
    }
  }

  // ---- writers (WriterOwner)

  takeTransaction(): number {
    const t = this.transaction;
    this.transaction = 0;
    if (t) this.transactionTaken = true;
    return t;
  }

  newWriter(parent: FlashWriter): FlashWriter {
    const writers = (this.writers ??= new Set());
    if (writers.size >= FLASH_LIMITS.maxWriters) throw new Error(`too many writers (${FLASH_LIMITS.maxWriters})`);
    const w = new FlashWriter(this, parent.channel.open(), parent.object, false);
    writers.add(w);
    return w;
  }

  writerClosed(w: FlashWriter): void {
    this.writers?.delete(w);
  }

  closeSession(reason: string): void {
    this.transport.close(reason);
  }

  // ---- end

  /**
   * The session ended (`reason` for the disconnection's log line): streams stopped without
   * statuses, the client disconnected (onDisconnection), writers closed.
   */
  close(reason: string): void {
    if (this.ended) return;
    this.ended = true;
    try {
      for (const s of this.streams.values()) {
        s.stop(false);
        s.channel.close();
      }
      this.streams.clear();
      this.transport.context.disconnect(this.client, reason);
    } catch (e) {
      this.transport.log('error', `while closing: ${(e as Error).message}`);
    }
    if (this.writers) for (const w of [...this.writers]) w.ended();
    this.writers = null;
    this.writer.ended();
  }
}
