/**
 * Bounded work per turn of the event loop for one connection. A peer can pack thousands of
 * requests (pipelined HTTP GETs, WebSocket RPCs) into one write; handling them all at once would
 * freeze every other client and queue all the answers. A TurnQueue handles at most `perTurn` units,
 * then yields (setImmediate) so other sockets get their turn; it waits for the output to drain
 * when the connection is congested; and it stops reading the peer while units wait, so what is
 * parsed ahead is bounded by one socket read.
 */
import type { Connection } from './connection';

/** Units (requests, messages) handled for one connection before yielding to others. */
export const WORK_PER_TURN = 64;

export class TurnQueue<T> {
  private items: Array<T | undefined> = [];
  private head = 0;
  private scheduled = false;
  private running = false;
  private blocked = false;
  private holding = false;

  /**
   * `handle` returns false when the unit is still being answered (a file streamed): the queue then
   * waits for resume().
   */
  constructor(
    private readonly conn: Connection,
    private readonly handle: (item: T) => boolean,
    private readonly perTurn = WORK_PER_TURN,
  ) {}

  get length(): number {
    return this.items.length - this.head;
  }

  /** Waiting for an answer that is still being written. */
  get isBlocked(): boolean {
    return this.blocked;
  }

  push(item: T): void {
    this.items.push(item);
  }

  /** The unit that returned false is answered: go on. */
  resume(): void {
    this.blocked = false;
    this.run();
  }

  /** Drops what waits (the connection ends). */
  clear(): void {
    this.items = [];
    this.head = 0;
    this.setHolding(false);
  }

  /** Handles what it may now; schedules the rest. */
  run(): void {
    if (this.running) return; // a handler resumed us from inside handle(): the loop goes on
    this.running = true;
    try {
      let n = 0;
      while (!this.blocked && this.head < this.items.length && !this.conn.closed) {
        if (n >= this.perTurn || this.conn.congested) break;
        const item = this.items[this.head] as T;
        this.items[this.head++] = undefined;
        n++;
        if (!this.handle(item)) this.blocked = true;
      }
    } finally {
      this.running = false;
    }
    if (this.head >= this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    this.conn.flush();
    if (this.conn.closed) {
      this.clear();
      return;
    }
    const pending = this.head < this.items.length;
    this.setHolding(pending);
    if (!pending || this.blocked || this.scheduled) return;
    this.scheduled = true;
    const next = () => {
      this.scheduled = false;
      this.run();
    };
    if (this.conn.congested) this.conn.whenWritable(next);
    else setImmediate(next);
  }

  private setHolding(on: boolean): void {
    if (on === this.holding) return;
    this.holding = on;
    if (on) this.conn.hold();
    else this.conn.release();
  }
}
