/**
 * Bounded cursor over a Buffer and the RTMFP variable length unsigned integer (VLU, RFC 7016
 * section 2.1.2: 7 bits per byte, high bit = more follows). Reading past the end throws
 * RtmfpFormatError, which the UDP handler catches: a truncated chunk costs one dropped datagram.
 */
export class RtmfpFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RtmfpFormatError';
  }
}

export class Reader {
  constructor(
    readonly buf: Buffer,
    public pos = 0,
    public end = buf.length,
  ) {}

  get available(): number {
    return this.end - this.pos;
  }

  private need(n: number): void {
    if (this.pos + n > this.end) throw new RtmfpFormatError(`truncated: need ${n} bytes, ${this.end - this.pos} left`);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }

  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  /** VLU; at most 8 bytes (values up to 2^56 fit a JS number exactly enough for ids/sequences) */
  vlu(): number {
    let v = 0;
    for (let i = 0; i < 8; i++) {
      const b = this.u8();
      v = v * 128 + (b & 0x7f);
      if ((b & 0x80) === 0) return v;
    }
    throw new RtmfpFormatError('VLU longer than 8 bytes');
  }

  /** a view (no copy) of the next n bytes */
  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }

  rest(): Buffer {
    const b = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    return b;
  }
}

export function vluSize(v: number): number {
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** Writes v as a VLU at buf[pos]; returns the position after it. */
export function writeVlu(buf: Buffer, pos: number, v: number): number {
  const n = vluSize(v);
  for (let i = n - 1; i >= 0; i--) {
    const b = v % 128;
    buf[pos + i] = i === n - 1 ? b : b | 0x80;
    v = Math.floor(v / 128);
  }
  return pos + n;
}

export function vlu(v: number): Buffer {
  const b = Buffer.allocUnsafe(vluSize(v));
  writeVlu(b, 0, v);
  return b;
}

/** An option list element (RFC 7016 2.1.3): VLU length, VLU type, value. */
export function option(type: number, value: Buffer): Buffer {
  const t = vlu(type);
  return Buffer.concat([vlu(t.length + value.length), t, value]);
}

export interface RtmfpOption {
  type: number;
  value: Buffer;
}

/** Parses an option list up to `end` (a zero length marker ends it early, as in user data). */
export function readOptions(r: Reader, end = r.end, stopAtMarker = false): RtmfpOption[] {
  const out: RtmfpOption[] = [];
  while (r.pos < end) {
    const len = r.vlu();
    if (len === 0) {
      if (stopAtMarker) return out;
      continue;
    }
    const stop = r.pos + len;
    if (stop > end) throw new RtmfpFormatError('option overruns its list');
    const type = r.vlu();
    if (r.pos > stop) throw new RtmfpFormatError('option type overruns its length');
    out.push({ type, value: r.buf.subarray(r.pos, stop) });
    r.pos = stop;
    if (out.length > 64) throw new RtmfpFormatError('too many options');
  }
  if (stopAtMarker) throw new RtmfpFormatError('option list without end marker');
  return out;
}
