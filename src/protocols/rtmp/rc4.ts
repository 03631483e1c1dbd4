/**
 * RC4 stream cipher for RTMPE. OpenSSL 3 only offers RC4 through its legacy provider, which Node
 * does not load by default, so this small implementation is used instead. One instance per
 * direction keeps its keystream position across calls.
 */
export class RC4 {
  private readonly s = new Uint8Array(256);
  private i = 0;
  private j = 0;

  constructor(key: Buffer) {
    const s = this.s;
    for (let k = 0; k < 256; k++) s[k] = k;
    let j = 0;
    for (let k = 0; k < 256; k++) {
      j = (j + s[k] + key[k % key.length]) & 0xff;
      const t = s[k];
      s[k] = s[j];
      s[j] = t;
    }
  }

  /** XORs the keystream into src[start, end) and writes it to dst at dstOffset (may be src). */
  process(src: Buffer, start: number, end: number, dst: Buffer, dstOffset: number): void {
    const s = this.s;
    let i = this.i;
    let j = this.j;
    for (let k = start, o = dstOffset; k < end; k++, o++) {
      i = (i + 1) & 0xff;
      const si = s[i];
      j = (j + si) & 0xff;
      const sj = s[j];
      s[i] = sj;
      s[j] = si;
      dst[o] = src[k] ^ s[(si + sj) & 0xff];
    }
    this.i = i;
    this.j = j;
  }

  /** A new buffer holding data transformed (the input stays untouched: it may be shared). */
  transform(data: Buffer): Buffer {
    const out = Buffer.allocUnsafe(data.length);
    this.process(data, 0, data.length, out, 0);
    return out;
  }

  /** Advances the keystream by n bytes (RTMPE skips the handshake's 1536 bytes). */
  skip(n: number): void {
    const scratch = Buffer.alloc(n);
    this.process(scratch, 0, n, scratch, 0);
  }
}
