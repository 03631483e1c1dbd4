import { prefixedStatusCode, statusLevel } from '../../core/status';
import { Client, type TrafficCounters } from '../../core/client';
import { Writer } from '../../core/writer';
import { encodeJSON } from '../../serialization/json';
import { Table, type Value } from '../../serialization/value';
import { Opcode, encodeFrame } from './frames';

/** What a WebSocket writer needs from its session. */
export interface WSConnection {
  send(frame: Buffer): void;
  close(code?: number, reason?: string): void;
}

/**
 * `client.writer` of a WebSocket client: invocations and messages are text frames holding a JSON
 * array (`[name, args…]`, `[args…]`), raw data a binary frame. WebSocket has one channel: newWriter
 * returns writers on the same socket (closing one does not close the client).
 */
export class WSWriter extends Writer {
  constructor(
    private readonly connection: WSConnection,
    private readonly main: boolean,
  ) {
    super();
  }

  private text(values: Value[]): void {
    if (this.closed) return;
    this.connection.send(encodeFrame(Opcode.Text, encodeJSON(values)));
  }

  writeInvocation(name: string, args: Value[]): void {
    this.text([name, ...args]);
  }
  writeMessage(args: Value[]): void {
    this.text(args);
  }
  writeRaw(data: Buffer): void {
    if (!this.closed) this.connection.send(encodeFrame(Opcode.Binary, data));
  }
  /** `["onStatus", {level, code, description}]`: the code named and graded as Flash clients get it (core/status.ts) */
  writeStatusResponse(code: string, description = ''): void {
    const full = prefixedStatusCode('NetConnection', code);
    this.text(['onStatus', Table.of({ level: statusLevel(full), code: full, description })]);
  }
  flush(): void {
    /* frames are written as they are made; the socket batches them */
  }
  newWriter(): Writer {
    return new WSWriter(this.connection, false);
  }
  override close(): void {
    if (this.closed) return;
    super.close();
    if (this.main) this.connection.close();
  }
}

export class WSClient extends Client {
  /** "WebSocket", or "WSS" over TLS (MonaServer2's name) */
  readonly protocol: string;
  private readonly mainWriter: WSWriter;

  constructor(
    address: string,
    private readonly connection: WSConnection,
    traffic?: TrafficCounters,
    secure = false,
  ) {
    super(address, undefined, traffic);
    this.protocol = secure ? 'WSS' : 'WebSocket';
    this.mainWriter = new WSWriter(connection, true);
  }

  get writer(): WSWriter {
    return this.mainWriter;
  }

  close(reason?: string): void {
    this.connection.close(1000, reason);
  }
}
