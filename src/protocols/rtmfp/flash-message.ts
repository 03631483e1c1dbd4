/**
 * Flash messages as they travel in RTMFP flows (the RTMP message types without chunking): one type
 * byte, a 32-bit time, then the body — AMF0 invocations (0x14), AMF3 invocations (0x11, one 0x00
 * byte then AMF0), data (0x12 / AMF3 0x0f), audio (0x08), video (0x09), user control (0x04).
 */
import { AMF0Reader, AMF0Writer } from '../../serialization/amf0';
import { Table, type Value } from '../../serialization/value';
import { RtmfpFormatError } from './binary';

export const MSG = {
  Raw: 0x04,
  Audio: 0x08,
  Video: 0x09,
  DataAMF3: 0x0f,
  InvocationAMF3: 0x11,
  Data: 0x12,
  Invocation: 0x14,
} as const;

export interface FlashMessage {
  type: number;
  time: number;
  /** body view after the header (and after the AMF3 marker byte for 0x0f/0x11) */
  body: Buffer;
}

export function parseFlashMessage(m: Buffer): FlashMessage {
  if (m.length < 5) throw new RtmfpFormatError('flash message shorter than its header');
  const type = m[0];
  let start = 5;
  if ((type === MSG.InvocationAMF3 || type === MSG.DataAMF3) && m.length > 5 && m[5] === 0) start = 6;
  return { type, time: m.readUInt32BE(1), body: m.subarray(start) };
}

export function header(type: number, time: number): Buffer {
  const h = Buffer.allocUnsafe(5);
  h[0] = type;
  h.writeUInt32BE(time >>> 0, 1);
  return h;
}

export interface Invocation {
  name: string;
  transactionId: number;
  /** values after the transaction id (command object or null first) */
  args: Value[];
}

export function readInvocation(body: Buffer): Invocation {
  const r = new AMF0Reader(body);
  const name = r.readString();
  const transactionId = r.available > 0 ? r.readNumber() : 0;
  return { name, transactionId, args: r.readAll() };
}

/** Body of an invocation: name, transaction id, null command object, args. */
export function invocationBody(name: string, transactionId: number, args: Value[]): Buffer {
  const w = new AMF0Writer();
  w.write(name).write(transactionId).write(null);
  for (const a of args) w.write(a);
  return w.toBuffer();
}

export function statusInfo(level: 'status' | 'error', code: string, description: string, extra?: Table | null): Table {
  const t = Table.of({ level, code, description });
  if (extra) for (const [k, v] of extra.fields) if (!t.fields.has(k)) t.fields.set(k, v);
  return t;
}

/** User control event (type 0x04) body: 16-bit event then 32-bit values. */
export function userControl(event: number, ...values: number[]): Buffer {
  const b = Buffer.allocUnsafe(2 + 4 * values.length);
  b.writeUInt16BE(event, 0);
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, 2 + 4 * i));
  return b;
}
