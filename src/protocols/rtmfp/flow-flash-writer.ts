/**
 * The script-visible writer (core Writer, SPEC S3 `writer`) of an RTMFP client: one sending flow
 * carrying Flash messages. `reliable = false` makes its messages abandonable (partial reliability).
 */
import { Writer } from '../../core/writer';
import type { Value } from '../../serialization/value';
import type { FlowSender } from './flow-writer';
import { MSG, header, invocationBody, statusInfo } from './flash-message';
import type { Session } from './session';

const ZERO_INVOKE_HEADER = header(MSG.Invocation, 0);
const EMPTY = Buffer.alloc(0);
/** a writer whose peer does not drain this much is dead weight: the session is closed */
export const MAX_WRITER_QUEUE = 16 * 1024 * 1024;

export class FlowFlashWriter extends Writer {
  constructor(
    readonly session: Session,
    readonly sender: FlowSender,
  ) {
    super();
    this.reliable = sender.reliable;
  }

  private get live(): boolean {
    return !this.closed && !this.session.closed && !this.sender.done;
  }

  /** Any Flash message: `head` is the 5-byte type+time header, `body` is shared, never copied. */
  writeFlash(head: Buffer, body: Buffer): void {
    if (!this.live) return;
    if (this.sender.queuedBytes > MAX_WRITER_QUEUE) {
      this.session.close(`writer ${this.sender.id}: more than ${MAX_WRITER_QUEUE} bytes queued`);
      return;
    }
    this.sender.write(head, body, this.reliable);
    this.session.scheduleFlush();
  }

  invoke(name: string, transactionId: number, args: Value[]): void {
    this.writeFlash(ZERO_INVOKE_HEADER, invocationBody(name, transactionId, args));
  }

  writeInvocation(name: string, args: Value[]): void {
    this.invoke(name, 0, args);
  }

  writeMessage(args: Value[]): void {
    this.invoke('onMessage', 0, args);
  }

  writeRaw(data: Buffer): void {
    this.writeFlash(EMPTY, data);
  }

  writeStatusResponse(code: string, description = ''): void {
    const error = /Failed|Rejected|BadName|NotFound|Invalid|error/i.test(code);
    this.invoke('onStatus', 0, [statusInfo(error ? 'error' : 'status', code, description)]);
  }

  flush(): void {
    this.session.scheduleFlush();
  }

  newWriter(): Writer {
    return new FlowFlashWriter(this.session, this.session.newSender(this.sender.metadata, this.sender.associated));
  }

  /** bytes waiting for the congestion window (listener back-pressure) */
  get queuedBytes(): number {
    return this.sender.queuedBytes;
  }

  override close(): void {
    if (this.closed) return;
    this.sender.close();
    this.session.scheduleFlush();
    super.close();
  }
}
