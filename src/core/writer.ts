import type { Value } from '../serialization/value';

/**
 * A channel towards one client (the scripts' `writer`). Each protocol implements it: an RTMP writer
 * emits AMF commands on a chunk stream, an RTMFP writer is a flow, a WebSocket writer sends JSON
 * frames. Scripts reach it as `client.writer` and through `newWriter()`.
 */
export abstract class Writer {
  /** false = messages may be dropped/abandoned instead of retransmitted (RTMFP partial reliability) */
  reliable = true;
  private closeHandlers: Array<() => void> = [];
  private isClosed = false;

  /** `writer:writeInvocation(name, ...)`: a remote call of `name` on the client side. */
  abstract writeInvocation(name: string, args: Value[]): void;
  /** `writer:writeMessage(...)`: data without a method name (client's onMessage / raw data). */
  abstract writeMessage(args: Value[]): void;
  /** `writer:writeRaw(bytes)`: bytes as the protocol carries them, unframed by us. */
  abstract writeRaw(data: Buffer): void;
  /** `writer:writeStatusResponse(code, description)`: an onStatus-like event. */
  abstract writeStatusResponse(code: string, description?: string): void;
  /** Pushes out what is queued. `full` asks protocols with partial flushing to send everything. */
  abstract flush(full?: boolean): void;
  /** `writer:newWriter()`: a new channel to the same client; throws if the protocol has none. */
  abstract newWriter(): Writer;

  get closed(): boolean {
    return this.isClosed;
  }

  onClose(handler: () => void): void {
    if (this.isClosed) handler();
    else this.closeHandlers.push(handler);
  }

  /** Protocol implementations call super.close() to run close handlers once. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    const handlers = this.closeHandlers;
    this.closeHandlers = [];
    for (const h of handlers) h();
  }
}
