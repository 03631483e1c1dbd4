/**
 * User data chunks (RFC 7016 2.3.11/2.3.12): 0x10 carries flags, flow id, sequence number, forward
 * sequence number offset and, on a flow's first fragment, options (per-flow metadata, return flow
 * association); 0x11 continues the previous chunk's flow with the next sequence number.
 */
import { Reader, RtmfpFormatError, option, readOptions, vlu, vluSize, writeVlu } from './binary';

export const UD_OPTIONS = 0x80;
export const UD_FRAGMENT_MASK = 0x30;
export const FRAG_WHOLE = 0x00;
export const FRAG_BEGIN = 0x10;
export const FRAG_END = 0x20;
export const FRAG_MIDDLE = 0x30;
export const UD_ABANDON = 0x02;
export const UD_FINAL = 0x01;

export const OPT_FLOW_METADATA = 0x00;
export const OPT_RETURN_ASSOCIATION = 0x0a;

export interface UserData {
  flags: number;
  flowId: number;
  sequence: number;
  /** forward sequence number offset: sequence - fsnOffset = highest seq the sender gave up on or had acked */
  fsnOffset: number;
  /** per-flow metadata (Flash: "TC\x04" + stream id for NetConnection/NetStream) */
  metadata: Buffer | null;
  /** flow id of ours this flow answers (return association), -1 if none */
  associatedFlow: number;
  data: Buffer;
}

/** `previous` is the chunk before in the same packet, required for 0x11. */
export function parseUserData(chunk: Buffer, next: boolean, previous?: UserData): UserData {
  const r = new Reader(chunk);
  const flags = r.u8();
  let flowId: number, sequence: number, fsnOffset: number;
  if (next) {
    if (!previous) throw new RtmfpFormatError('next user data without a previous user data chunk');
    flowId = previous.flowId;
    sequence = previous.sequence + 1;
    fsnOffset = previous.fsnOffset + 1;
  } else {
    flowId = r.vlu();
    sequence = r.vlu();
    fsnOffset = r.vlu();
  }
  let metadata: Buffer | null = null;
  let associatedFlow = -1;
  if (flags & UD_OPTIONS) {
    for (const o of readOptions(r, r.end, true)) {
      if (o.type === OPT_FLOW_METADATA) metadata = o.value;
      else if (o.type === OPT_RETURN_ASSOCIATION) associatedFlow = new Reader(o.value).vlu();
    }
  }
  if (sequence === 0 || fsnOffset > sequence) throw new RtmfpFormatError('bad sequence numbers');
  return { flags, flowId, sequence, fsnOffset, metadata, associatedFlow, data: r.rest() };
}

/** The option bytes of a flow's first fragment (empty when it has none). */
export function userDataOptions(metadata: Buffer | null, associatedFlow: number): Buffer {
  const parts: Buffer[] = [];
  if (metadata) parts.push(option(OPT_FLOW_METADATA, metadata));
  if (associatedFlow >= 0) parts.push(option(OPT_RETURN_ASSOCIATION, vlu(associatedFlow)));
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/** Header size of a 0x10 chunk body before the data. */
export function userDataHeaderSize(flowId: number, sequence: number, fsnOffset: number, options: Buffer | null): number {
  return 1 + vluSize(flowId) + vluSize(sequence) + vluSize(fsnOffset) + (options ? options.length : 0);
}

/** Writes a 0x10 body at buf[pos] (data = prefix then data); returns the end position. */
export function writeUserData(buf: Buffer, pos: number, flags: number, flowId: number, sequence: number, fsnOffset: number, options: Buffer | null, prefix: Buffer | null, data: Buffer): number {
  buf[pos++] = flags | (options ? UD_OPTIONS : 0);
  pos = writeVlu(buf, pos, flowId);
  pos = writeVlu(buf, pos, sequence);
  pos = writeVlu(buf, pos, fsnOffset);
  if (options) pos += options.copy(buf, pos);
  if (prefix) pos += prefix.copy(buf, pos);
  pos += data.copy(buf, pos);
  return pos;
}
