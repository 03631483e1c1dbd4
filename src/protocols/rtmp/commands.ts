/**
 * AMF command and data messages of RTMP: decoding what a client sends (type 20 AMF0, type 17 AMF3
 * = a format byte then AMF0 with 0x11 switches, data types 18/15) and encoding what we send
 * (type 20 for AMF0 clients; for objectEncoding 3 clients type 17 whose argument values go through
 * the AMF3 switch, which is what Flash expects).
 */
import { AMF0Reader, AMF0Writer } from '../../serialization/amf0';
import { DecodeError, Table, type Value } from '../../serialization/value';
import { MessageType } from './constants';

export interface Command {
  name: string;
  transaction: number;
  /** the command object (null for most calls) */
  object: Value;
  args: Value[];
}

/** Offset of the AMF body: AMF3 command/data messages start with a format byte (0). */
function bodyStart(type: number, payload: Buffer): number {
  return (type === MessageType.CommandAMF3 || type === MessageType.DataAMF3) && payload.length > 0 && payload[0] === 0 ? 1 : 0;
}

export function decodeCommand(type: number, payload: Buffer): Command {
  const r = new AMF0Reader(payload, bodyStart(type, payload), payload.length);
  const name = r.readString();
  const txn = r.available ? r.read() : 0;
  const object = r.available ? r.read() : null;
  const args = r.readAll();
  return { name, transaction: typeof txn === 'number' ? txn : 0, object, args };
}

/** Data message values (`@setDataFrame`, `onMetaData`, `|RtmpSampleAccess`, app data). */
export function decodeData(type: number, payload: Buffer): Value[] {
  const start = bodyStart(type, payload);
  const r = new AMF0Reader(payload, start, payload.length);
  const values = r.readAll();
  if (values.length === 0) throw new DecodeError('AMF0', 'empty data message');
  return values;
}

/** An invocation `name(txn, null, ...args)` as a type 20 or 17 payload. */
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

/** A status info object {level, code, description, ...extra}. */
export function statusInfo(level: 'status' | 'error' | 'warning', code: string, description: string, extra?: Table | null): Table {
  const t = Table.of({ level, code, description });
  if (extra) for (const [k, v] of extra.fields) if (!t.fields.has(k)) t.fields.set(k, v);
  return t;
}

/** level of a status code written by a script (writer:writeStatusResponse). */
export function levelOf(code: string): 'status' | 'error' {
  return /\.(Failed|Rejected|BadName|InvalidApp|StreamNotFound|Error)$/.test(code) || code.endsWith('Error') ? 'error' : 'status';
}

/** Strings of a command object (tcUrl, app...) as plain strings. */
export function text(v: Value | undefined): string {
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (typeof v === 'number') return String(v);
  return '';
}
