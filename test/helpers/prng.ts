/**
 * Seeded pseudo-random generators for tests, so fuzz runs are repeatable and a failing seed can be
 * replayed. Two algorithms because existing corpora were generated with both: changing either one
 * would silently change which inputs those tests cover.
 */

/** mulberry32: uniform floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** xorshift32: unsigned 32-bit integers (callers take `% n`); seed 0 is replaced by 1. */
export function xorshift32(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>>= 0);
  };
}

/** `n` random bytes drawn from a [0, 1) generator. */
export function randomBuffer(rand: () => number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (rand() * 256) | 0;
  return b;
}

/** Flips, overwrites, inserts or deletes a few bytes of `input` (never touching `keep` first bytes). */
export function mutate(rand: () => number, input: Buffer, keep = 0): Buffer {
  let b = Buffer.from(input);
  const edits = 1 + ((rand() * 6) | 0);
  for (let e = 0; e < edits; e++) {
    if (b.length <= keep) break;
    const at = keep + ((rand() * (b.length - keep)) | 0);
    const kind = (rand() * 4) | 0;
    if (kind === 0) b[at] ^= 1 << ((rand() * 8) | 0);
    else if (kind === 1) b[at] = [0, 0xff, 0x7f, 0x80, 0x3f, 0xc0][(rand() * 6) | 0];
    else if (kind === 2) b = Buffer.concat([b.subarray(0, at), randomBuffer(rand, 1 + ((rand() * 8) | 0)), b.subarray(at)]);
    else b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + ((rand() * 8) | 0)))]);
  }
  return b;
}
