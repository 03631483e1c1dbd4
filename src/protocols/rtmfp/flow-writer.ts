/**
 * A sending flow (RFC 7016 3.6.2): messages are cut into fragments that fit a packet, numbered,
 * kept until acknowledged and retransmitted on timeout (exponential back-off) or after three later
 * acknowledgements (fast retransmit). Unreliable flows abandon a late fragment instead: the next
 * chunk carries the abandon flag and the forward sequence number so the receiver skips it.
 * The session owns congestion control and asks each writer for fragments while the window allows.
 */
import { FRAG_BEGIN, FRAG_END, FRAG_MIDDLE, FRAG_WHOLE, UD_ABANDON, UD_FINAL, userDataOptions, userDataHeaderSize, writeUserData } from './user-data';

export interface Fragment {
  seq: number;
  flags: number;
  /** the fragment's bytes: a view of the message header (first fragment), then of its body */
  prefix: Buffer | null;
  body: Buffer;
  sentAt: number;
  sends: number;
  /** acknowledgements that passed over this fragment while it stayed missing */
  nacks: number;
  /** bytes of message this fragment carries (for accounting) */
  size: number;
  /** part of an unreliable message: abandoned rather than sent again */
  abandonable: boolean;
}

interface Queued {
  head: Buffer | null;
  body: Buffer;
  /** reliable = false: this message may be abandoned */
  reliable: boolean;
}

export class FlowSender {
  private nextSeq = 1;
  /** every sequence number up to this is acknowledged or abandoned */
  private forward = 0;
  private readonly queue: Queued[] = [];
  private queueOffset = 0;
  private queued = 0;
  readonly inFlight = new Map<number, Fragment>();
  inFlightBytes = 0;
  /** an acknowledgement passed over a fragment three times: the session should look for losses */
  lossSuspected = false;
  private readonly options: Buffer;
  /** options ride on every fragment until the peer acknowledges something: it may lose the first */
  private peerKnowsFlow = false;
  private closing = false;
  private finalSent = false;
  /** set when the peer acknowledged our final fragment, or rejected the flow */
  done = false;
  /** fragments found lost (sent again or abandoned): the player's QualityOfService.lostRate */
  lostFragments = 0;

  constructor(
    readonly id: number,
    readonly metadata: Buffer | null,
    readonly associated: number,
    public reliable: boolean,
  ) {
    this.options = userDataOptions(metadata, associated);
  }

  /** bytes queued and not yet sent (listener back-pressure: what waits for the window) */
  get queuedBytes(): number {
    return this.queued;
  }

  /** bytes queued or sent and not yet acknowledged */
  get pendingBytes(): number {
    return this.queued + this.inFlightBytes;
  }

  get hasQueued(): boolean {
    return this.queue.length > 0 || (this.closing && !this.finalSent);
  }

  /** Queues one message: `head` (e.g. the 5-byte Flash header) then `body`, sent as one message. */
  write(head: Buffer | null, body: Buffer, reliable = this.reliable): void {
    if (this.closing || this.done) return;
    this.queue.push({ head, body, reliable });
    this.queued += (head ? head.length : 0) + body.length;
  }

  /** No more messages: the last fragment carries the final flag. */
  close(): void {
    this.closing = true;
  }

  /**
   * Writes the next fragment into `buf` at `pos` as a 0x10 chunk body, at most `room` bytes.
   * Returns the chunk body end, or -1 when nothing fits / nothing to send.
   */
  nextFragment(buf: Buffer, pos: number, room: number, now: number): number {
    if (this.queue.length === 0) {
      if (this.closing && !this.finalSent && this.inFlight.size === 0) return this.writeFinal(buf, pos, room, now);
      return -1;
    }
    const m = this.queue[0];
    const seq = this.nextSeq;
    const options = this.peerKnowsFlow ? null : this.options;
    const header = userDataHeaderSize(this.id, seq, seq - this.forward, options);
    const headLen = m.head ? m.head.length : 0;
    const total = headLen + m.body.length;
    const left = total - this.queueOffset;
    if (room - header < Math.min(left, 64)) return -1; // keep fragments worth a chunk
    const take = Math.min(left, room - header);
    const first = this.queueOffset === 0;
    const last = take === left;
    const frag = first ? (last ? FRAG_WHOLE : FRAG_BEGIN) : last ? FRAG_END : FRAG_MIDDLE;
    const isFinal = last && this.queue.length === 1 && this.closing;
    const flags = frag | (isFinal ? UD_FINAL : 0);
    // views over the shared header and body: no copy until the bytes go into the packet
    let prefix: Buffer | null = null;
    let body: Buffer;
    if (m.head && this.queueOffset < headLen) {
      prefix = m.head.subarray(this.queueOffset, Math.min(headLen, this.queueOffset + take));
      body = m.body.subarray(0, take - prefix.length);
    } else {
      const s = this.queueOffset - headLen;
      body = m.body.subarray(s, s + take);
    }
    const end = writeUserData(buf, pos, flags, this.id, seq, seq - this.forward, options, prefix, body);
    this.nextSeq++;
    this.inFlight.set(seq, { seq, flags, prefix, body, sentAt: now, sends: 1, nacks: 0, size: take, abandonable: !m.reliable });
    this.inFlightBytes += take;
    this.queueOffset += take;
    this.queued -= take;
    if (last) {
      this.queue.shift();
      this.queueOffset = 0;
    }
    if (isFinal) this.finalSent = true;
    return end;
  }

  private writeFinal(buf: Buffer, pos: number, room: number, now: number): number {
    const seq = this.nextSeq;
    const options = this.peerKnowsFlow ? null : this.options;
    if (room < userDataHeaderSize(this.id, seq, seq - this.forward, options)) return -1;
    // an empty abandoned fragment with the final flag: nothing is lost, the flow just ends
    const end = writeUserData(buf, pos, UD_ABANDON | UD_FINAL, this.id, seq, seq - this.forward, options, null, EMPTY);
    this.nextSeq++;
    this.finalSent = true;
    this.inFlight.set(seq, { seq, flags: UD_ABANDON | UD_FINAL, prefix: null, body: EMPTY, sentAt: now, sends: 1, nacks: 0, size: 0, abandonable: false });
    return end;
  }

  /** Size of a retransmission of `f` as a 0x10 chunk body. */
  retransmitSize(f: Fragment): number {
    const options = this.peerKnowsFlow ? null : this.options;
    return userDataHeaderSize(this.id, f.seq, f.seq - this.forward, options) + f.size;
  }

  /** Writes fragment `f` again (same sequence number, current forward sequence number). */
  writeRetransmit(f: Fragment, buf: Buffer, pos: number, now: number): number {
    const options = this.peerKnowsFlow ? null : this.options;
    f.sentAt = now;
    f.sends++;
    f.nacks = 0;
    return writeUserData(buf, pos, f.flags, this.id, f.seq, f.seq - this.forward, options, f.prefix, f.body);
  }

  /** Abandons an unreliable fragment: forget it, the next chunk tells the peer to skip it. */
  canAbandon(f: Fragment): boolean {
    return f.abandonable;
  }

  /**
   * Abandon up to `seq`: every unacknowledged fragment at or below it is dropped and an empty
   * abandon chunk at `seq` is written (librtmfp and Flash skip to it; RFC peers read the forward
   * sequence number).
   */
  writeAbandon(seq: number, buf: Buffer, pos: number): number {
    for (const [s, f] of this.inFlight) {
      if (s > seq) continue;
      this.inFlight.delete(s);
      this.inFlightBytes -= f.size;
    }
    if (seq > this.forward) this.forward = seq;
    return writeUserData(buf, pos, UD_ABANDON, this.id, seq, 0, this.peerKnowsFlow ? null : this.options, null, EMPTY);
  }

  abandonSize(seq: number): number {
    return userDataHeaderSize(this.id, seq, 0, this.peerKnowsFlow ? null : this.options);
  }

  /**
   * Applies a range acknowledgement (cumulative + (holes-1, received-1) pairs). Returns the bytes
   * newly acknowledged (for the congestion window) and whether some fragment looks lost.
   */
  acknowledge(cumulative: number, ranges: number[]): number {
    let acked = 0;
    /** latest send time among fragments this ack covers: older missing ones were passed over */
    let newestAckedSend = 0;
    this.peerKnowsFlow = true;
    const drop = (s: number) => {
      const f = this.inFlight.get(s);
      if (!f) return;
      this.inFlight.delete(s);
      this.inFlightBytes -= f.size;
      acked += f.size + 1;
      if (f.sentAt > newestAckedSend) newestAckedSend = f.sentAt;
      if (f.flags & UD_FINAL) this.done = true;
    };
    // the map is in sequence order (fragments are added with growing numbers): stop early
    for (const s of this.inFlight.keys()) {
      if (s > cumulative) break;
      drop(s);
    }
    if (cumulative > this.forward) this.forward = Math.min(cumulative, this.nextSeq - 1);
    let top = cumulative;
    let prev = cumulative;
    for (let i = 0; i + 1 < ranges.length; i += 2) {
      const start = prev + ranges[i] + 2;
      const end = start + ranges[i + 1];
      if (end >= this.nextSeq || end - start > 65536) break; // nonsense: ignore the rest
      for (let s = start; s <= end; s++) drop(s);
      prev = top = end;
    }
    // a missing fragment counts a nack only when something sent after its last transmission
    // arrived: reordering within one round trip, or a retransmission in flight, is not a loss
    for (const f of this.inFlight.values()) {
      if (f.seq >= top) break;
      if (f.sentAt < newestAckedSend && ++f.nacks >= 3) this.lossSuspected = true;
    }
    return acked;
  }

  /** The peer rejected or closed the flow (flow exception): nothing more is sent. */
  reject(): void {
    this.queue.length = 0;
    this.queued = 0;
    this.inFlight.clear();
    this.inFlightBytes = 0;
    this.done = true;
  }
}

const EMPTY = Buffer.alloc(0);

