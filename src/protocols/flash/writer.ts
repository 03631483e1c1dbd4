/**
 * `client.writer` and `writer:newWriter()` of a Flash client (RTMP, RTMFP): invocations are AMF
 * commands on a channel, writeMessage answers the RPC being served (`_result` with its transaction,
 * MonaServer's meaning), writeRaw hands bytes to the transport as they are, writeStatusResponse an
 * `onStatus` whose code carries the writer's object name (`Call.Failed` → `NetConnection.Call.Failed`).
 * `reliable = false` lets a transport with partial reliability (RTMFP) drop late messages.
 */
import { prefixedStatusCode } from '../../core/status';
import { Writer } from '../../core/writer';
import type { Value } from '../../serialization/value';
import { encodeCommand } from './messages';
import { statusInfo } from './status';
import type { FlashChannel } from './transport';

/** What a writer needs from its NetConnection. */
export interface WriterOwner {
  readonly amf3: boolean;
  /** the transaction of the RPC being served, taken (later writes get 0) */
  takeTransaction(): number;
  newWriter(parent: FlashWriter): FlashWriter;
  writerClosed(writer: FlashWriter): void;
  /** the main writer was closed by a script: the session ends */
  closeSession(reason: string): void;
}

export class FlashWriter extends Writer {
  constructor(
    private readonly owner: WriterOwner,
    readonly channel: FlashChannel,
    /** "NetConnection" or "NetStream": the object a status code written here belongs to */
    readonly object: string,
    /** the NetConnection's main writer: closing it ends the session */
    readonly main: boolean,
  ) {
    super();
  }

  private command(name: string, transaction: number, args: Value[]): void {
    if (this.closed) return;
    const { type, payload } = encodeCommand(this.owner.amf3, name, transaction, null, args);
    this.channel.send(type, 0, payload, this.reliable);
  }

  writeInvocation(name: string, args: Value[]): void {
    this.command(name, 0, args);
  }

  writeMessage(args: Value[]): void {
    this.command('_result', this.owner.takeTransaction(), args);
  }

  writeRaw(data: Buffer): void {
    if (!this.closed) this.channel.sendRaw(data, this.reliable);
  }

  writeStatusResponse(code: string, description = ''): void {
    const full = prefixedStatusCode(this.object, code);
    this.command('onStatus', 0, [statusInfo(full, description)]);
  }

  flush(): void {
    this.channel.flush();
  }

  newWriter(): Writer {
    return this.owner.newWriter(this);
  }

  /** bytes queued on this writer's channel */
  get queuedBytes(): number {
    return this.channel.queuedBytes();
  }

  override close(): void {
    if (this.closed) return;
    super.close();
    if (this.main) this.owner.closeSession('closed by its writer');
    else {
      this.channel.close();
      this.owner.writerClosed(this);
    }
  }

  /** The session ended: close handlers run, nothing more is sent. */
  ended(): void {
    if (!this.closed) super.close();
  }
}
