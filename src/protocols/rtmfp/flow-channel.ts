/**
 * RTMFP as a channel of the Flash layer (src/protocols/flash): one sending flow carrying Flash
 * messages (5-byte header + body). A message written unreliable may be abandoned when late
 * (partial reliability); a NetStream's flow carries the stream's signature and answers the
 * NetConnection's flow.
 */
import type { MediaFrame } from '../../core/media';
import type { FlashChannel } from '../flash/transport';
import { header } from './flash-message';
import type { FlowSender } from './flow-writer';
import type { Session } from './session';

const ZERO_HEADERS = new Map<number, Buffer>();
/** the 5-byte header of a time-0 message (commands, statuses): one shared buffer per type */
function zeroHeader(type: number): Buffer {
  let h = ZERO_HEADERS.get(type);
  if (!h) ZERO_HEADERS.set(type, (h = header(type, 0)));
  return h;
}

/** a flow whose peer does not drain this much is dead weight: the session is closed */
export const MAX_FLOW_QUEUE = 16 * 1024 * 1024;

export class FlowChannel implements FlashChannel {
  private closed = false;
  /** sender.lostFragments as of the last takeLost() */
  private lostTaken = 0;

  constructor(
    readonly session: Session,
    readonly sender: FlowSender,
  ) {}

  private get live(): boolean {
    return !this.closed && !this.session.closed && !this.sender.done;
  }

  /** One message: `head` then `body`, the body shared and never copied. */
  private write(head: Buffer | null, body: Buffer, reliable: boolean): void {
    if (!this.live) return;
    if (this.sender.queuedBytes > MAX_FLOW_QUEUE) {
      this.session.close(`flow ${this.sender.id}: more than ${MAX_FLOW_QUEUE} bytes queued`);
      return;
    }
    this.sender.write(head, body, reliable);
    this.session.scheduleFlush();
  }

  send(type: number, time: number, payload: Buffer, reliable: boolean): void {
    this.write(time === 0 ? zeroHeader(type) : header(type, time), payload, reliable);
  }

  sendMedia(type: number, time: number, _frame: MediaFrame, payload: Buffer, reliable: boolean): void {
    // the shared payload is handed as is; only the 5-byte header is this player's
    this.write(header(type, time), payload, reliable);
  }

  /** writer:writeRaw: the bytes are the whole flow message (no Flash header), as MonaServer sends them */
  sendRaw(data: Buffer, reliable: boolean): void {
    this.write(null, data, reliable);
  }

  flush(): void {
    this.session.scheduleFlush();
  }

  queuedBytes(): number {
    return this.sender.queuedBytes;
  }

  takeLost(): number {
    const n = this.sender.lostFragments - this.lostTaken;
    this.lostTaken = this.sender.lostFragments;
    return n;
  }

  /** A sibling flow: same signature, answering the same flow. */
  open(): FlashChannel {
    return new FlowChannel(this.session, this.session.newSender(this.sender.metadata, this.sender.associated));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sender.close();
    this.session.scheduleFlush();
  }
}
