/**
 * RFC 6455 framing. The decoder is incremental (bytes arrive in any cut), enforces the server-side
 * rules (client frames masked, control frames short and unfragmented, no reserved bits or
 * opcodes, fragments in order, text valid UTF-8) and bounds memory: a message larger than
 * `maxMessage` is refused before it is buffered, the fragments of a message are copied into one
 * growing buffer (an empty or 1-byte fragment costs its bytes, not an object), and a message may
 * have at most `maxFragments` fragments. A violation is a WSProtocolError carrying the close code
 * to send.
 */
import { PendingBytes } from '../pending-bytes';

export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;

export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  Unsupported: 1003,
  NoStatus: 1005,
  InvalidData: 1007,
  PolicyViolation: 1008,
  TooBig: 1009,
  InternalError: 1011,
} as const;

export class WSProtocolError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'WSProtocolError';
  }
}

export interface WSMessage {
  opcode: number; // Text, Binary, Close, Ping, Pong
  data: Buffer;
}

export const WS_LIMITS = {
  maxMessage: 16 * 1024 * 1024,
  /** fragments of one message: more is a peer making us parse frames for nothing */
  maxFragments: 65536,
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function isValidUTF8(b: Buffer): boolean {
  try {
    utf8.decode(b);
    return true;
  } catch {
    return false;
  }
}

export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  /** the data message being assembled from fragments: bytes [0, fragmentSize) of `assembly` */
  private assembly: Buffer = Buffer.alloc(0);
  private fragmentOpcode = -1;
  private fragmentSize = 0;
  private fragmentCount = 0;
  private failed = false;
  /** bytes the frame being received needs in total (0 = unknown yet) */
  private need = 0;
  private readonly pending = new PendingBytes();

  constructor(
    private readonly maxMessage = WS_LIMITS.maxMessage,
    /** servers require masked frames; a client-side decoder (tests) does not */
    private readonly requireMask = true,
    private readonly maxFragments = WS_LIMITS.maxFragments,
  ) {}

  /** Feeds bytes, returns complete messages (control frames may come between fragments). */
  push(data: Buffer): WSMessage[] {
    if (this.failed) return [];
    // a large frame arriving in many pieces is joined once, when complete
    const joined = this.pending.join(this.buf, data, this.need);
    if (!joined) return [];
    this.buf = joined;
    this.need = 0;
    const out: WSMessage[] = [];
    try {
      for (;;) {
        const m = this.frame();
        if (m === undefined) break;
        if (m) out.push(m);
      }
    } catch (e) {
      this.failed = true;
      this.buf = Buffer.alloc(0);
      this.assembly = Buffer.alloc(0);
      throw e;
    }
    return out;
  }

  /** undefined = needs more bytes; null = a fragment was stored. */
  private frame(): WSMessage | null | undefined {
    const b = this.buf;
    if (b.length < 2) return undefined;
    const fin = (b[0] & 0x80) !== 0;
    if (b[0] & 0x70) throw new WSProtocolError(CloseCode.ProtocolError, 'reserved bits set');
    const opcode = b[0] & 0x0f;
    const masked = (b[1] & 0x80) !== 0;
    let len = b[1] & 0x7f;
    let o = 2;
    if (this.requireMask && !masked) throw new WSProtocolError(CloseCode.ProtocolError, 'client frame not masked');
    const control = opcode >= 0x8;
    if (control) {
      if (opcode > 0xa) throw new WSProtocolError(CloseCode.ProtocolError, `unknown opcode ${opcode}`);
      if (!fin) throw new WSProtocolError(CloseCode.ProtocolError, 'fragmented control frame');
      if (len > 125) throw new WSProtocolError(CloseCode.ProtocolError, 'control frame too long');
    } else if (opcode > 0x2) throw new WSProtocolError(CloseCode.ProtocolError, `unknown opcode ${opcode}`);
    if (len === 126) {
      if (b.length < 4) return undefined;
      len = b.readUInt16BE(2);
      o = 4;
    } else if (len === 127) {
      if (b.length < 10) return undefined;
      const hi = b.readUInt32BE(2);
      if (hi & 0x80000000) throw new WSProtocolError(CloseCode.ProtocolError, 'length high bit set');
      if (hi > 0x1fffff) throw new WSProtocolError(CloseCode.TooBig, 'frame too big');
      len = hi * 0x100000000 + b.readUInt32BE(6);
      o = 10;
    }
    if (!control && this.fragmentSize + len > this.maxMessage) throw new WSProtocolError(CloseCode.TooBig, `message over ${this.maxMessage} bytes`);
    const maskAt = o;
    if (masked) o += 4;
    if (b.length < o + len) {
      this.need = o + len;
      return undefined;
    }
    const m0 = b[maskAt], m1 = b[maskAt + 1], m2 = b[maskAt + 2], m3 = b[maskAt + 3];
    const body = b.subarray(o, o + len);
    this.buf = b.subarray(o + len);

    if (opcode === Opcode.Continuation) {
      if (this.fragmentOpcode < 0) throw new WSProtocolError(CloseCode.ProtocolError, 'continuation without a message');
      if (++this.fragmentCount > this.maxFragments) throw new WSProtocolError(CloseCode.TooBig, `message in more than ${this.maxFragments} fragments`);
      this.append(body, masked, m0, m1, m2, m3);
      if (!fin) return null;
      const data = this.assembly.subarray(0, this.fragmentSize);
      const op = this.fragmentOpcode;
      this.assembly = Buffer.alloc(0);
      this.fragmentOpcode = -1;
      this.fragmentSize = 0;
      this.fragmentCount = 0;
      return this.message(op, data);
    }
    const payload = Buffer.from(body); // own copy: unmasked in place
    if (masked) unmask(payload, 0, m0, m1, m2, m3);
    if (control) return { opcode, data: payload };
    if (this.fragmentOpcode >= 0) throw new WSProtocolError(CloseCode.ProtocolError, 'new message inside a fragmented one');
    if (!fin) {
      this.fragmentOpcode = opcode;
      this.assembly = payload;
      this.fragmentSize = len;
      this.fragmentCount = 1;
      return null;
    }
    return this.message(opcode, payload);
  }

  /** Copies a fragment after the others, growing the buffer by doubling (bounded by maxMessage). */
  private append(body: Buffer, masked: boolean, m0: number, m1: number, m2: number, m3: number): void {
    const len = body.length;
    if (len === 0) return;
    const need = this.fragmentSize + len;
    if (need > this.assembly.length) {
      const grown = Buffer.allocUnsafe(Math.min(this.maxMessage, Math.max(need, this.assembly.length * 2, 1024)));
      this.assembly.copy(grown, 0, 0, this.fragmentSize);
      this.assembly = grown;
    }
    const at = this.fragmentSize;
    body.copy(this.assembly, at);
    // the mask restarts with each frame
    if (masked) unmask(this.assembly.subarray(at, at + len), 0, m0, m1, m2, m3);
    this.fragmentSize = need;
  }

  private message(opcode: number, data: Buffer): WSMessage {
    if (opcode === Opcode.Text && !isValidUTF8(data)) throw new WSProtocolError(CloseCode.InvalidData, 'text frame is not UTF-8');
    return { opcode, data };
  }
}

function unmask(p: Buffer, from: number, m0: number, m1: number, m2: number, m3: number): void {
  const len = p.length;
  for (let i = from; i < len; i += 4) {
    p[i] ^= m0;
    if (i + 1 < len) p[i + 1] ^= m1;
    if (i + 2 < len) p[i + 2] ^= m2;
    if (i + 3 < len) p[i + 3] ^= m3;
  }
}

/** The frame header for an unmasked server frame of `length` bytes. */
export function frameHeader(opcode: number, length: number, fin = true): Buffer {
  const first = (fin ? 0x80 : 0) | opcode;
  if (length < 126) return Buffer.from([first, length]);
  if (length < 0x10000) {
    const h = Buffer.allocUnsafe(4);
    h[0] = first;
    h[1] = 126;
    h.writeUInt16BE(length, 2);
    return h;
  }
  const h = Buffer.allocUnsafe(10);
  h[0] = first;
  h[1] = 127;
  h.writeUInt32BE(Math.floor(length / 0x100000000), 2);
  h.writeUInt32BE(length >>> 0, 6);
  return h;
}

/** A whole unmasked frame in one buffer. */
export function encodeFrame(opcode: number, payload: Buffer | string): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const h = frameHeader(opcode, data.length);
  return Buffer.concat([h, data], h.length + data.length);
}

/** A masked client frame (tests, our own TS client). */
export function encodeMaskedFrame(opcode: number, payload: Buffer, fin = true, mask = Buffer.from([1, 2, 3, 4])): Buffer {
  const len = payload.length;
  let h: Buffer;
  if (len < 126) h = Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | len]);
  else if (len < 0x10000) {
    h = Buffer.allocUnsafe(4);
    h[0] = (fin ? 0x80 : 0) | opcode;
    h[1] = 0xfe;
    h.writeUInt16BE(len, 2);
  } else {
    h = Buffer.allocUnsafe(10);
    h[0] = (fin ? 0x80 : 0) | opcode;
    h[1] = 0xff;
    h.writeUInt32BE(Math.floor(len / 0x100000000), 2);
    h.writeUInt32BE(len >>> 0, 6);
  }
  const body = Buffer.from(payload);
  for (let i = 0; i < len; i++) body[i] ^= mask[i & 3];
  return Buffer.concat([h, mask, body]);
}

export function closePayload(code: number, reason = ''): Buffer {
  const r = Buffer.from(reason).subarray(0, 123);
  const b = Buffer.allocUnsafe(2 + r.length);
  b.writeUInt16BE(code, 0);
  r.copy(b, 2);
  return b;
}

/** Codes a peer may send in a close frame (RFC 6455 7.4). */
export function isValidCloseCode(code: number): boolean {
  if (code >= 3000 && code <= 4999) return true;
  return code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006;
}
