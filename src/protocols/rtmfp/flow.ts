/**
 * A receiving flow (RFC 7016 3.6.3): puts fragments back in sequence order, honours the sender's
 * forward sequence number and abandon flags (partial reliability), reassembles messages and builds
 * the range acknowledgement. Out-of-order fragments are kept within a byte budget shared by the
 * session so a hostile peer cannot grow memory: beyond it the fragment is dropped unacknowledged
 * (the sender retransmits later) — never buffered.
 */
import { vluSize, writeVlu } from './binary';
import { FRAG_BEGIN, FRAG_END, FRAG_MIDDLE, FRAG_WHOLE, UD_ABANDON, UD_FINAL, UD_FRAGMENT_MASK, type UserData } from './user-data';

/** Bytes of out-of-order fragments and partial messages one session may hold. */
export interface ReceiveBudget {
  used: number;
  readonly limit: number;
}

/** bytes one buffered fragment costs beyond its data (map entry, record): tiny fragments add up */
const ENTRY_COST = 64;

/** Largest message a flow reassembles (a 4K video key frame fits; anything larger is a hostile peer). */
export const MAX_MESSAGE = 8 * 1024 * 1024;

interface Stored {
  flags: number;
  data: Buffer;
}

export class IncomingFlow {
  /** highest sequence number such that every number up to it was processed (cumulative ack) */
  private delivered = 0;
  private readonly pending = new Map<number, Stored>();
  private partial: Buffer[] | null = null;
  private partialSize = 0;
  private finalSeq = -1;
  /** true once the sender finished the flow and everything up to its final fragment was processed */
  complete = false;
  /** fragments lost by abandonment (for QoS) */
  lost = 0;
  /** `lost` as of the last takeLost() */
  private lostTaken = 0;

  constructor(
    readonly id: number,
    readonly metadata: Buffer | null,
    readonly associatedFlow: number,
    private readonly budget: ReceiveBudget,
    private readonly onMessage: (message: Buffer, flow: IncomingFlow) => void,
  ) {}

  /** Accepts one user data fragment (already parsed). */
  receive(ud: UserData): void {
    if (this.complete) return;
    const fsn = Math.max(ud.sequence - ud.fsnOffset, ud.flags & UD_ABANDON ? ud.sequence : 0);
    if (ud.flags & UD_FINAL) this.finalSeq = ud.sequence;
    if (fsn > this.delivered) this.skipTo(fsn);
    const seq = ud.sequence;
    if (seq <= this.delivered) {
      this.checkComplete();
      return;
    }
    if (seq === this.delivered + 1) {
      this.process(seq, ud.flags, ud.data);
      this.drain();
    } else if (!this.pending.has(seq)) {
      const cost = ud.data.length + ENTRY_COST;
      if (this.budget.used + cost > this.budget.limit || this.pending.size >= 4096) return; // not acked: resent later
      // a copy: a view would pin the whole datagram, which the budget would not see
      this.pending.set(seq, { flags: ud.flags, data: Buffer.from(ud.data) });
      this.budget.used += cost;
    }
    this.checkComplete();
  }

  /** The sender gave up on everything up to `fsn`: forget partial data, jump ahead. */
  private skipTo(fsn: number): void {
    for (let s = this.delivered + 1; s <= fsn; s++) {
      const p = this.pending.get(s);
      if (p) {
        this.budget.used -= p.data.length + ENTRY_COST;
        this.pending.delete(s);
      } else this.lost++;
    }
    this.dropPartial();
    this.delivered = fsn;
    this.drain();
  }

  private drain(): void {
    for (;;) {
      const next = this.pending.get(this.delivered + 1);
      if (!next) return;
      this.pending.delete(this.delivered + 1);
      this.budget.used -= next.data.length + ENTRY_COST;
      this.process(this.delivered + 1, next.flags, next.data);
    }
  }

  private process(seq: number, flags: number, data: Buffer): void {
    this.delivered = seq;
    if (flags & UD_ABANDON) {
      // the sender gave this fragment up: its message is lost
      this.lost++;
      this.dropPartial();
      return;
    }
    switch (flags & UD_FRAGMENT_MASK) {
      case FRAG_WHOLE:
        this.losePartial();
        if (data.length) this.onMessage(data, this);
        return;
      case FRAG_BEGIN:
        this.losePartial();
        this.partial = [Buffer.from(data)];
        this.partialSize = data.length;
        this.budget.used += data.length;
        return;
      case FRAG_MIDDLE:
      case FRAG_END: {
        if (!this.partial) return; // its beginning was abandoned: nothing to rebuild
        this.partialSize += data.length;
        this.budget.used += data.length;
        if (this.partialSize > MAX_MESSAGE || this.budget.used > this.budget.limit) {
          this.dropPartial();
          this.lost++;
          return;
        }
        this.partial.push(Buffer.from(data));
        if ((flags & UD_FRAGMENT_MASK) === FRAG_END) {
          const message = Buffer.concat(this.partial, this.partialSize);
          this.dropPartial();
          this.onMessage(message, this);
        }
        return;
      }
    }
  }

  /** A message begins while another was not finished: that one is lost. */
  private losePartial(): void {
    if (this.partial) this.lost++;
    this.dropPartial();
  }

  private dropPartial(): void {
    if (!this.partial) return;
    this.budget.used -= this.partialSize;
    this.partial = null;
    this.partialSize = 0;
  }

  private checkComplete(): void {
    if (this.finalSeq > 0 && this.delivered >= this.finalSeq) this.complete = true;
  }

  /** Fragments lost since the previous call: what the next message delivered follows (QualityOfService.lostRate). */
  takeLost(): number {
    const n = this.lost - this.lostTaken;
    this.lostTaken = this.lost;
    return n;
  }

  /** Releases buffered bytes (flow closed by us or the session ends). */
  release(): void {
    for (const p of this.pending.values()) this.budget.used -= p.data.length + ENTRY_COST;
    this.pending.clear();
    this.dropPartial();
  }

  /**
   * The 0x51 range acknowledgement body: flow id, buffer available (1024-byte blocks, never 0: some
   * peers treat 0 as a dead flow), cumulative ack, then (holes-1, received-1) pairs.
   */
  ack(): Buffer {
    const ranges: number[] = [];
    if (this.pending.size) {
      const seqs = [...this.pending.keys()].sort((a, b) => a - b);
      let prev = this.delivered;
      for (let i = 0; i < seqs.length && ranges.length < 40; ) {
        const start = seqs[i];
        let end = start;
        while (i + 1 < seqs.length && seqs[i + 1] === end + 1) end = seqs[++i];
        i++;
        ranges.push(start - prev - 2, end - start);
        prev = end;
      }
    }
    const blocks = Math.max(1, Math.floor((this.budget.limit - this.budget.used) / 1024));
    let size = vluSize(this.id) + vluSize(blocks) + vluSize(this.delivered);
    for (const r of ranges) size += vluSize(r);
    const out = Buffer.allocUnsafe(size);
    let p = writeVlu(out, 0, this.id);
    p = writeVlu(out, p, blocks);
    p = writeVlu(out, p, this.delivered);
    for (const r of ranges) p = writeVlu(out, p, r);
    return out;
  }
}
