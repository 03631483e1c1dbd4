import { randomInt } from 'node:crypto';

/** where an item is: block and index in it */
export interface RingPosition {
  b: number;
  i: number;
}

/** a block splits in two halves past this many items */
const MAX_BLOCK = 512;

/**
 * Items kept sorted by a Buffer key (unique per item) and seen as a ring: the last one is followed
 * by the first. Stored in blocks of at most MAX_BLOCK so that an insertion or a removal moves at
 * most one block's items, whatever the size (a flat array moves half of them on average: at tens
 * of thousands of items that dominates a group join). Lookups are two binary searches.
 */
export interface RingItem {
  /** the key (unique per item) */
  readonly address: Buffer;
  /** its first 6 bytes as a number: most comparisons end there, without a call into Buffer */
  readonly rank: number;
}

/** the rank of a key: its first 48 bits */
export function rankOf(key: Buffer): number {
  return key.readUIntBE(0, 6);
}

function before(a: RingItem, b: RingItem): boolean {
  return a.rank < b.rank || (a.rank === b.rank && a.address.compare(b.address) < 0);
}

export class KeyRing<T extends RingItem> {
  private readonly blocks: T[][] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** the position of the first item whose key is >= `key`'s; b === blocks.length past the end */
  private lower(key: RingItem): RingPosition {
    const blocks = this.blocks;
    let lo = 0;
    let hi = blocks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const block = blocks[mid];
      if (before(block[block.length - 1], key)) lo = mid + 1;
      else hi = mid;
    }
    if (lo === blocks.length) return { b: lo, i: 0 };
    const block = blocks[lo];
    let a = 0;
    let z = block.length;
    while (a < z) {
      const mid = (a + z) >>> 1;
      if (before(block[mid], key)) a = mid + 1;
      else z = mid;
    }
    return { b: lo, i: a };
  }

  insert(item: T): void {
    this.count++;
    if (this.blocks.length === 0) {
      this.blocks.push([item]);
      return;
    }
    let { b, i } = this.lower(item);
    if (b === this.blocks.length) {
      b--;
      i = this.blocks[b].length;
    }
    const block = this.blocks[b];
    block.splice(i, 0, item);
    if (block.length > MAX_BLOCK) this.blocks.splice(b + 1, 0, block.splice(block.length >>> 1));
  }

  /** where `item` is, or null */
  find(item: T): RingPosition | null {
    const p = this.lower(item);
    return p.b < this.blocks.length && this.blocks[p.b][p.i] === item ? p : null;
  }

  /** Removes `item`; returns where its successor now is (null if it was absent or the ring is now empty). */
  remove(item: T): RingPosition | null {
    const p = this.find(item);
    if (!p) return null;
    this.count--;
    const block = this.blocks[p.b];
    block.splice(p.i, 1);
    if (this.count === 0) {
      this.blocks.length = 0;
      return null;
    }
    let { b, i } = p;
    if (block.length === 0) {
      this.blocks.splice(b, 1);
      i = 0;
    } else if (i >= block.length) {
      b++;
      i = 0;
    }
    return b < this.blocks.length ? { b, i } : { b: 0, i: 0 };
  }

  at(p: RingPosition): T {
    return this.blocks[p.b][p.i];
  }

  /** the item `k` steps from `p` (negative: before it), around the ring */
  step(p: RingPosition, k: number): T {
    const blocks = this.blocks;
    let { b, i } = p;
    for (; k > 0; k--) {
      if (++i >= blocks[b].length) {
        b = (b + 1) % blocks.length;
        i = 0;
      }
    }
    for (; k < 0; k++) {
      if (--i < 0) {
        b = (b - 1 + blocks.length) % blocks.length;
        i = blocks[b].length - 1;
      }
    }
    return blocks[b][i];
  }

  /** an item drawn uniformly */
  random(): T {
    let r = randomInt(this.count);
    for (const block of this.blocks) {
      if (r < block.length) return block[r];
      r -= block.length;
    }
    throw new Error('empty ring');
  }

  *[Symbol.iterator](): Iterator<T> {
    for (const block of this.blocks) yield* block;
  }
}
