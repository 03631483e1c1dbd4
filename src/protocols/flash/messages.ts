/**
 * Flash messages: the RTMP message types and bodies that both RTMP (inside chunks) and RTMFP (one
 * type byte and a 32-bit time before the body, in flows) carry. AMF command messages are type 20
 * (AMF0) or 17 (a format byte 0, then AMF0 whose values may switch to AMF3); data messages type 18
 * or 15 the same way. Pure codecs: bytes in, values out.
 */
import { AMF0Reader, AMF0Writer } from '../../serialization/amf0';
import { DecodeError, type Value } from '../../serialization/value';

/** RTMP message types; RTMFP's Flash messages reuse the same numbers (4 and up). */
export const enum MessageType {
  SetChunkSize = 1,
  Abort = 2,
  Acknowledgement = 3,
  UserControl = 4,
  WindowAckSize = 5,
  SetPeerBandwidth = 6,
  Audio = 8,
  Video = 9,
  DataAMF3 = 15,
  SharedObjectAMF3 = 16,
  CommandAMF3 = 17,
  DataAMF0 = 18,
  SharedObjectAMF0 = 19,
  CommandAMF0 = 20,
  Aggregate = 22,
}

/** User control events (the 16-bit event type that starts a type-4 message). */
export const enum UserControl {
  StreamBegin = 0,
  StreamEOF = 1,
  StreamDry = 2,
  SetBufferLength = 3,
  StreamIsRecorded = 4,
  PingRequest = 6,
  PingResponse = 7,
  /** RTMFP: the server's keepalive periods, answering setPeerInfo */
  KeepAlives = 0x29,
}

export function isCommand(type: number): boolean {
  return type === MessageType.CommandAMF0 || type === MessageType.CommandAMF3;
}

export function isData(type: number): boolean {
  return type === MessageType.DataAMF0 || type === MessageType.DataAMF3;
}

export interface Command {
  name: string;
  transaction: number;
  /** the command object (null for most calls; connect's properties) */
  object: Value;
  args: Value[];
}

/** Offset of the AMF body: AMF3 command/data messages start with a format byte (0). */
function bodyStart(type: number, payload: Buffer): number {
  return (type === MessageType.CommandAMF3 || type === MessageType.DataAMF3) && payload.length > 0 && payload[0] === 0 ? 1 : 0;
}

/** A command message body (type 20 or 17). Throws DecodeError. */
export function decodeCommand(type: number, payload: Buffer): Command {
  const r = new AMF0Reader(payload, bodyStart(type, payload), payload.length);
  const name = r.readString();
  const txn = r.available ? r.read() : 0;
  const object = r.available ? r.read() : null;
  const args = r.readAll();
  return { name, transaction: typeof txn === 'number' ? txn : 0, object, args };
}

/** Data message values (`@setDataFrame`, `onMetaData`, `|RtmpSampleAccess`, app data). Throws DecodeError. */
export function decodeData(type: number, payload: Buffer): Value[] {
  const r = new AMF0Reader(payload, bodyStart(type, payload), payload.length);
  const values = r.readAll();
  if (values.length === 0) throw new DecodeError('AMF0', 'empty data message');
  return values;
}

/**
 * An invocation `name(transaction, object, ...args)`: type 20 for AMF0 clients; for objectEncoding 3
 * clients type 17 whose argument values go through the AMF3 switch, which is what Flash expects.
 */
export function encodeCommand(amf3: boolean, name: string, transaction: number, object: Value, args: Value[]): { type: number; payload: Buffer } {
  const w = new AMF0Writer();
  w.writeString(name).writeNumber(transaction);
  w.write(object);
  for (const a of args) {
    if (amf3) w.writeAMF3(a);
    else w.write(a);
  }
  if (!amf3) return { type: MessageType.CommandAMF0, payload: w.toBuffer() };
  const body = w.toBuffer();
  const payload = Buffer.allocUnsafe(body.length + 1);
  payload[0] = 0;
  body.copy(payload, 1);
  return { type: MessageType.CommandAMF3, payload };
}

/** A user control message body: 16-bit event then 32-bit values. */
export function userControl(event: number, ...values: number[]): Buffer {
  const b = Buffer.allocUnsafe(2 + 4 * values.length);
  b.writeUInt16BE(event, 0);
  for (let i = 0; i < values.length; i++) b.writeUInt32BE(values[i] >>> 0, 2 + 4 * i);
  return b;
}

/** Strings of a command object or argument (tcUrl, app, stream names) as plain strings. */
export function text(v: Value | undefined): string {
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (typeof v === 'number') return String(v);
  return '';
}
