/**
 * How RTMFP frames a Flash message in a flow (the Flash profile of RFC 7425): one type byte (the
 * RTMP message type, see flash/messages.ts), a 32-bit time, then the body exactly as RTMP carries
 * it (an AMF3 command or data body keeps its leading format byte).
 */
import { RtmfpFormatError } from './binary';

export interface FlashMessage {
  type: number;
  time: number;
  /** view of the body after the 5-byte header */
  body: Buffer;
}

export function parseFlashMessage(m: Buffer): FlashMessage {
  if (m.length < 5) throw new RtmfpFormatError('flash message shorter than its header');
  return { type: m[0], time: m.readUInt32BE(1), body: m.subarray(5) };
}

/** The 5-byte header of a Flash message (written before a shared body, never copied into it). */
export function header(type: number, time: number): Buffer {
  const h = Buffer.allocUnsafe(5);
  h[0] = type;
  h.writeUInt32BE(time >>> 0, 1);
  return h;
}
