/** Seeded PRNG (mulberry32) so that fuzz runs are repeatable. */
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
