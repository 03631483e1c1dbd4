/**
 * Bit-level reading of codec headers (H.264/H.265 parameter sets, AAC AudioSpecificConfig).
 * Reads past the end throw MediaFormatError, so a truncated header is one clear error for that
 * stream and never a wrong value.
 */

/** A malformed or unsupported media input (one frame, one file): callers report it and go on. */
export class MediaFormatError extends Error {
  override readonly name = 'MediaFormatError';
}

export class BitReader {
  private pos = 0; // in bits

  constructor(private readonly data: Buffer) {}

  get bitsLeft(): number {
    return this.data.length * 8 - this.pos;
  }

  bit(): number {
    if (this.pos >= this.data.length * 8) throw new MediaFormatError('header truncated');
    const b = (this.data[this.pos >> 3] >> (7 - (this.pos & 7))) & 1;
    this.pos++;
    return b;
  }

  /** Up to 32 bits, unsigned. */
  bits(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + this.bit();
    return v;
  }

  skip(n: number): void {
    if (this.pos + n > this.data.length * 8) throw new MediaFormatError('header truncated');
    this.pos += n;
  }

  /** Exp-Golomb unsigned (ue(v)). */
  ue(): number {
    let zeros = 0;
    while (this.bit() === 0) {
      if (++zeros > 31) throw new MediaFormatError('bad exp-golomb code');
    }
    return zeros === 0 ? 0 : 2 ** zeros - 1 + this.bits(zeros);
  }

  /** Exp-Golomb signed (se(v)). */
  se(): number {
    const k = this.ue();
    return k & 1 ? (k + 1) / 2 : -(k / 2);
  }
}

/** A NAL unit's RBSP: the emulation prevention bytes (00 00 03) removed. */
export function unescapeRBSP(nal: Buffer): Buffer {
  let i = nal.indexOf(Buffer.from([0, 0, 3]));
  if (i < 0) return nal;
  const out = Buffer.allocUnsafe(nal.length);
  let o = 0;
  let zeros = 0;
  for (i = 0; i < nal.length; i++) {
    const b = nal[i];
    if (zeros >= 2 && b === 3) {
      zeros = 0;
      continue;
    }
    out[o++] = b;
    zeros = b === 0 ? zeros + 1 : 0;
  }
  return out.subarray(0, o);
}
