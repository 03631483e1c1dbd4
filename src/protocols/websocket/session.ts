/**
 * One WebSocket connection: JSON-array RPC, raw messages to onMessage, pushes through
 * the writer, ping/pong, idle timeout, and the data streams `__publish`/`__play`/`__closePublish`/
 * `__closePlay`/`__close` on the shared publications.
 *
 * Messages are handled a bounded number per turn of the event loop (transport/turns.ts) and wait
 * while the output towards this peer is over the transport's limit: a peer that floods pings or
 * RPCs without reading the answers stops being read, and is dropped if it stays so.
 *
 * Errors: a protocol violation closes with its RFC 6455 code. An unknown method or a script error
 * does NOT close (MonaServer closed with 1002): the client gets `["__error", message]` and the
 * socket stays open — one failed call should not cost a browser its connection.
 */
import type { ServerContext } from '../../core/context';
import { Level } from '../../logs/levels';
import { CallFailed, ConnectionRejected, InvalidApp, StreamRefused } from '../../core/errors';
import type { Listener } from '../../core/listener';
import { DataType } from '../../core/media';
import type { Publication } from '../../core/publication';
import { decodeJSON, encodeJSON } from '../../serialization/json';
import { decodeQuery } from '../../serialization/query';
import { Table, type Value } from '../../serialization/value';
import type { Connection, ConnectionHandler } from '../../transport/connection';
import { secureProperties } from '../../transport/tls';
import { TurnQueue } from '../../transport/turns';
import { WSClient, type WSConnection } from './client';
import { CloseCode, FrameDecoder, Opcode, WSProtocolError, type WSMessage, closePayload, encodeFrame, isValidCloseCode, isValidUTF8 } from './frames';
import { WSDataSink, WSFLVSink } from './sinks';

/** our pings (which measure client.ping) go out after this much silence from the peer */
export const WS_PING = { everyMs: 20_000 };

function refuse(conn: Connection, status: number, text: string, message: string): void {
  const body = `${status} ${text}: ${message}\n`;
  conn.write(Buffer.from(`HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`));
  conn.close(`refused: ${message}`);
}

/** Replies that may wait behind an unsettled asynchronous call, per connection. */
const MAX_WAITING_REPLIES = 256;

/** A reply in call order: its frame once known (null: the call answers nothing). */
interface Reply {
  frame: Buffer | null;
  settled: boolean;
}

export class WSSession implements WSConnection, ConnectionHandler {
  readonly client: WSClient;
  private readonly decoder = new FrameDecoder();
  private publication: Publication | null = null;
  private listener: Listener | null = null;
  private closed = false;
  private closeSent = false;
  private pingTimer: NodeJS.Timeout | null = null;
  /** replies waiting for an asynchronous call before them to settle */
  private readonly replies: Reply[] = [];
  /** `ws://host/app/name.flv`: a WebSocket-FLV player of publication `name` (S13) */
  private flvStream: string | null = null;
  private readonly queue: TurnQueue<WSMessage>;
  /** inside a turn of the queue: its end flushes the output */
  private inTurn = false;
  private flushQueued = false;

  constructor(
    private readonly context: ServerContext,
    private readonly conn: Connection,
    query: string,
  ) {
    this.client = new WSClient(conn.address, this, conn.socket, conn.secure);
    this.client.query = query;
    this.queue = new TurnQueue(conn, (m) => {
      this.inTurn = true;
      try {
        this.handleMessage(m);
      } finally {
        this.inTurn = false;
      }
      return true;
    });
  }

  /** onConnection; on refusal answers the HTTP request itself and returns false. */
  connect(app: string, headers: Map<string, string>, flvStream: string | null = null, names?: Map<string, string>): boolean {
    const c = this.client;
    c.path = app;
    this.flvStream = flvStream;
    for (const [k, v] of headers) c.properties.set(names?.get(k) ?? k, v);
    for (const v of decodeQuery(c.query)) if (v instanceof Table) for (const [k, x] of v.fields) c.properties.set(k, x);
    for (const [k, v] of secureProperties(this.conn)) c.properties.set(k, v);
    try {
      const result = this.context.connect(c, []);
      const timeout = result?.get('timeout');
      this.timeoutSeconds = typeof timeout === 'number' && timeout >= 0 ? timeout : this.context.config.websocket.timeout;
    } catch (e) {
      if (e instanceof InvalidApp) refuse(this.conn, 404, 'Not Found', e.message);
      else if (e instanceof ConnectionRejected) refuse(this.conn, 403, 'Forbidden', e.message);
      else {
        this.context.logger.error('WebSocket', `onConnection: ${(e as Error).message}`);
        refuse(this.conn, 500, 'Internal Server Error', 'connection failed');
      }
      return false;
    }
    return true;
  }

  private timeoutSeconds = 120;

  /** The connection is ours (the HTTP connection handed it over): `rest` = bytes after the request. */
  start(rest: Buffer): void {
    const c = this.conn;
    c.socket.setNoDelay(true);
    c.setIdleTimeout(this.timeoutSeconds > 0 ? this.timeoutSeconds * 1000 : 0);
    this.pingTimer = setInterval(() => this.ping(), WS_PING.everyMs);
    this.pingTimer.unref();
    if (this.flvStream) this.play(this.flvStream, true);
    if (rest.length) this.onData(rest);
  }

  /**
   * Answers go out at the end of the turn that made them; pushes (a script's writer outside a
   * message of this client) on the next turn of the event loop, several in one write.
   */
  send(frame: Buffer): void {
    if (this.closed || this.closeSent || this.conn.closed) return;
    if (this.context.logger.dumping) this.context.logger.dump('WebSocket', 'out', this.client.address, frame);
    this.conn.write(frame);
    if (this.inTurn || this.flushQueued) return;
    this.flushQueued = true;
    setImmediate(() => {
      this.flushQueued = false;
      this.conn.flush();
    });
  }

  onIdle(): void {
    this.close(CloseCode.GoingAway, 'idle timeout');
  }

  onClose(reason: string): void {
    this.terminate(reason);
  }

  /** Sends a close frame and ends the connection. */
  close(code: number = CloseCode.Normal, reason = ''): void {
    if (this.closed) return;
    if (!this.closeSent && !this.conn.closed) {
      this.conn.write(encodeFrame(Opcode.Close, closePayload(code, reason)));
      this.closeSent = true;
    }
    this.terminate(reason);
    this.conn.close(reason || 'closed');
  }

  /** Frees everything once: streams, client (onDisconnection), timers. */
  private terminate(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.queue.clear();
    this.closePlay();
    this.closePublish();
    this.client.writer.close();
    try {
      this.context.disconnect(this.client, reason === 'socket closed' ? 'closed by peer' : reason || 'closed');
    } catch (e) {
      this.context.logger.error('WebSocket', `onDisconnection: ${(e as Error).message}`);
    }
    this.conn.close(reason || 'closed'); // no-op when the connection is what closed
    this.context.logger.debug('WebSocket', `${this.client.address} closed${reason ? `: ${reason}` : ''}`);
  }

  private ping(): void {
    if (Date.now() - this.client.lastReceptionTime < WS_PING.everyMs / 2) return;
    const b = Buffer.allocUnsafe(8);
    b.writeDoubleBE(Date.now(), 0);
    this.send(encodeFrame(Opcode.Ping, b));
  }

  onData(data: Buffer): void {
    if (this.closed) return;
    this.client.lastReceptionTime = Date.now();
    if (this.context.logger.dumping) this.context.logger.dump('WebSocket', 'in', this.client.address, data);
    let messages;
    try {
      messages = this.decoder.push(data);
    } catch (e) {
      const err = e instanceof WSProtocolError ? e : new WSProtocolError(CloseCode.ProtocolError, String(e));
      this.context.logger.debug('WebSocket', `${this.client.address} ${err.message}`);
      this.close(err.code, err.message);
      return;
    }
    for (const m of messages) this.queue.push(m);
    this.queue.run();
  }

  private handleMessage(m: WSMessage): void {
    if (this.closed) return;
    try {
      this.message(m.opcode, m.data);
    } catch (e) {
      // a bug of ours: this message fails, the session goes on
      this.context.logger.error('WebSocket', `${this.client.address}: ${(e as Error).stack ?? e}`);
      this.sendError('internal error');
    }
  }

  private message(opcode: number, data: Buffer): void {
    const logger = this.context.logger;
    if (logger.enabled(Level.TRACE)) logger.trace('WebSocket', `${this.client.address}: opcode ${opcode}, ${data.length} bytes`);
    switch (opcode) {
      case Opcode.Text:
        return this.text(data);
      case Opcode.Binary:
        return this.dispatch(null, [data], null);
      case Opcode.Ping:
        return this.send(encodeFrame(Opcode.Pong, data));
      case Opcode.Pong:
        if (data.length === 8) {
          const rtt = Date.now() - data.readDoubleBE(0);
          if (rtt >= 0 && rtt < 600_000) this.client.ping = Math.round(rtt);
        }
        return;
      case Opcode.Close: {
        if (data.length === 1) return this.close(CloseCode.ProtocolError, 'bad close payload');
        if (data.length >= 2) {
          const code = data.readUInt16BE(0);
          if (!isValidCloseCode(code)) return this.close(CloseCode.ProtocolError, 'invalid close code');
          if (!isValidUTF8(data.subarray(2))) return this.close(CloseCode.InvalidData, 'close reason is not UTF-8');
          return this.close(code === CloseCode.Normal || code === CloseCode.GoingAway ? CloseCode.Normal : code);
        }
        return this.close(CloseCode.Normal);
      }
    }
  }

  private text(data: Buffer): void {
    let first = 0;
    while (first < data.length && (data[first] === 0x20 || data[first] === 0x09 || data[first] === 0x0a || data[first] === 0x0d)) first++;
    let values: Value[] | null = null;
    try {
      values = decodeJSON(data);
    } catch {
      values = null; // not JSON: the text goes raw to onMessage
    }
    if (values === null) return this.dispatch(null, [data.toString('utf8')], null);
    const isArray = data[first] === 0x5b; /* [ */
    if (isArray && values.length > 0 && typeof values[0] === 'string') {
      const name = values[0];
      if (this.streamCommand(name, values)) return;
      if (this.publication) {
        // while publishing, named messages are data of the publication (all of it, name included)
        this.publication.pushData(data, DataType.JSON);
        return;
      }
      return this.dispatch(name, values.slice(1), data);
    }
    this.dispatch(null, values, data);
  }

  /**
   * RPC (`name`) or onMessage (null); replies with all return values in one JSON array. Replies
   * carry no call id, so they keep the order of the calls: while an asynchronous method (a
   * JavaScript app's async function) has not settled, the replies of later calls wait behind it.
   */
  private dispatch(name: string | null, args: Value[], _raw: Buffer | null): void {
    let results: Value[] | Promise<Value[]>;
    try {
      results = name === null ? this.context.host.onMessage(this.client, args) : this.context.host.call(this.client, name, args);
    } catch (e) {
      this.replyFailed(name, e, null);
      return;
    }
    if (!(results instanceof Promise)) {
      this.replyResults(results, null);
      return;
    }
    if (this.replies.length >= MAX_WAITING_REPLIES) {
      this.close(CloseCode.PolicyViolation, 'too many calls waiting for an answer');
      return;
    }
    const slot: Reply = { frame: null, settled: false };
    this.replies.push(slot);
    results.then(
      (r) => this.replyResults(r, slot),
      (e: unknown) => this.replyFailed(name, e, slot),
    );
  }

  private replyResults(results: Value[], slot: Reply | null): void {
    this.reply(results.length ? encodeFrame(Opcode.Text, encodeJSON(results)) : null, slot);
  }

  private replyFailed(name: string | null, e: unknown, slot: Reply | null): void {
    if (!(e instanceof CallFailed)) this.context.logger.error('WebSocket', `${name ?? 'onMessage'}: ${(e as Error).message}`);
    this.reply(encodeFrame(Opcode.Text, encodeJSON(['__error', e instanceof Error ? e.message : String(e)])), slot);
  }

  /** Sends a reply (null: nothing to send) in call order: `slot` is its place when it was awaited. */
  private reply(frame: Buffer | null, slot: Reply | null): void {
    if (this.closed) return;
    if (slot === null) {
      if (this.replies.length === 0) {
        if (frame) this.send(frame);
        return;
      }
      if (this.replies.length >= MAX_WAITING_REPLIES) {
        this.close(CloseCode.PolicyViolation, 'too many calls waiting for an answer');
        return;
      }
      slot = { frame: null, settled: false };
      this.replies.push(slot);
    }
    slot.frame = frame;
    slot.settled = true;
    while (this.replies.length && this.replies[0].settled) {
      const head = this.replies.shift() as Reply;
      if (head.frame) this.send(head.frame);
    }
  }

  private sendError(message: string): void {
    this.send(encodeFrame(Opcode.Text, encodeJSON(['__error', message])));
  }

  private streamCommand(name: string, values: Value[]): boolean {
    switch (name) {
      case '__publish': {
        const stream = values[1];
        if (typeof stream !== 'string' || stream === '') {
          this.sendError('__publish takes a stream name');
          return true;
        }
        this.closePlay();
        this.closePublish();
        try {
          this.publication = this.context.publications.publish(this.client, stream);
        } catch (e) {
          this.sendError(e instanceof Error ? e.message : String(e));
        }
        return true;
      }
      case '__play': {
        const stream = values[1];
        if (typeof stream !== 'string' || stream === '') {
          this.sendError('__play takes a stream name');
          return true;
        }
        this.play(stream, false);
        return true;
      }
      case '__closePublish':
        this.closePublish();
        return true;
      case '__closePlay':
        this.closePlay();
        return true;
      case '__close':
        this.closePublish();
        this.closePlay();
        return true;
      default:
        return false;
    }
  }

  private play(stream: string, flv: boolean): void {
    this.closePlay();
    const q = stream.indexOf('?');
    const name = q >= 0 ? stream.slice(0, q) : stream;
    const parameters = new Table();
    if (q >= 0) for (const v of decodeQuery(stream.slice(q + 1))) if (v instanceof Table) for (const [k, x] of v.fields) parameters.set(k, x);
    const sink = flv ? new WSFLVSink(this.conn) : new WSDataSink(this.conn);
    sink.onKicked = (reason) => {
      this.listener = null;
      if (flv) this.close(CloseCode.Normal, reason);
      else this.sendError(`play ${name} stopped: ${reason}`);
    };
    try {
      this.listener = this.context.publications.subscribe(this.client, name, sink, parameters);
    } catch (e) {
      const message = e instanceof StreamRefused ? e.message : (e as Error).message;
      if (flv) this.close(CloseCode.PolicyViolation, message);
      else this.sendError(message);
    }
  }

  private closePlay(): void {
    if (!this.listener) return;
    const l = this.listener;
    this.listener = null;
    try {
      this.context.publications.unsubscribe(l);
    } catch (e) {
      this.context.logger.error('WebSocket', `unsubscribe: ${(e as Error).message}`);
    }
  }

  private closePublish(): void {
    if (!this.publication) return;
    const p = this.publication;
    this.publication = null;
    try {
      this.context.publications.unpublish(p);
    } catch (e) {
      this.context.logger.error('WebSocket', `unpublish: ${(e as Error).message}`);
    }
  }
}
