/**
 * NetGroup messages between a Flash-profile client and its server, on a flow whose metadata starts
 * with "GC" (the server answers on a flow with the same metadata). They carry no Flash message
 * header: one type byte, then the body.
 *   join (client → server): 0x01, then one option (RFC 7016 option format): type 0x15 with the
 *     32-byte group id, or type 0x10 with the group specifier text, whose SHA-256 is the id;
 *   member (server → client): 0x0b, then a 32-byte peer id the client should connect to.
 * A member's place on the group ring ("group address") is the SHA-256 of its peer id written as an
 * endpoint discriminator option (0x21 0x0f + id), the value Flash and librtmfp peers use to choose
 * their neighbours.
 */
import { createHash } from 'node:crypto';
import { Reader, RtmfpFormatError } from './binary';

export const GROUP_METADATA = Buffer.from('GC', 'latin1');
export const GROUP_JOIN = 0x01;
export const GROUP_MEMBER = 0x0b;
const OPT_GROUP_ID = 0x15;
const OPT_GROUP_SPECIFIER = 0x10;
/** a group specifier is a short text ("G:0101…"); anything longer is not a join */
const MAX_JOIN = 2048;
const PEER_ID_OPTION = Buffer.from([0x21, 0x0f]);

/** true for the per-flow metadata of a NetGroup flow */
export function isGroupMetadata(metadata: Buffer | null): boolean {
  return !!metadata && metadata.length >= 2 && metadata[0] === 0x47 && metadata[1] === 0x43;
}

/** The group id a join message names. Throws RtmfpFormatError for anything else. */
export function parseGroupJoin(message: Buffer): Buffer {
  if (message.length > MAX_JOIN) throw new RtmfpFormatError(`group join of ${message.length} bytes`);
  const r = new Reader(message);
  if (r.u8() !== GROUP_JOIN) throw new RtmfpFormatError(`group message 0x${message[0].toString(16)} is not a join`);
  // the first option names the group; what may follow it is not ours to judge
  const len = r.vlu();
  const end = r.pos + len;
  if (len === 0 || end > r.end) throw new RtmfpFormatError('group join option overruns the message');
  const first = { type: r.vlu(), value: r.bytes(Math.max(0, end - r.pos)) };
  if (first.type === OPT_GROUP_ID) {
    if (first.value.length !== 32) throw new RtmfpFormatError(`group id of ${first.value.length} bytes`);
    return Buffer.from(first.value);
  }
  if (first.type === OPT_GROUP_SPECIFIER) {
    if (first.value.length === 0) throw new RtmfpFormatError('empty group specifier');
    return createHash('sha256').update(first.value).digest();
  }
  throw new RtmfpFormatError(`group join option 0x${first.type.toString(16)}`);
}

/** A join message for group `groupId` (32 bytes), as librtmfp writes it. */
export function groupJoin(groupId: Buffer): Buffer {
  return Buffer.concat([Buffer.from([GROUP_JOIN, 0x21, OPT_GROUP_ID]), groupId]);
}

/** The member message introducing `peerId`. */
export function groupMember(peerId: Buffer): Buffer {
  const m = Buffer.allocUnsafe(33);
  m[0] = GROUP_MEMBER;
  peerId.copy(m, 1, 0, 32);
  return m;
}

/** The peer id a member message carries. */
export function parseGroupMember(message: Buffer): Buffer {
  if (message.length !== 33 || message[0] !== GROUP_MEMBER) throw new RtmfpFormatError('not a group member message');
  return message.subarray(1);
}

/** A peer's group address: SHA-256 of its peer id as an endpoint discriminator option. */
export function groupAddress(peerId: Buffer): Buffer {
  return createHash('sha256').update(PEER_ID_OPTION).update(peerId).digest();
}

/**
 * The group id a client derives from a group specifier ("G:" then hex option bytes, as AS3's
 * GroupSpecifier writes it): SHA-256 of the text up to its end marker (a zero size byte), applied
 * twice when the version option (0x7f) says 2. Returns null for a malformed specifier.
 */
export function groupIdOfSpecifier(spec: string): Buffer | null {
  if (!spec.startsWith('G:')) return null;
  const bytes = Buffer.from(spec.slice(2), 'hex');
  let pos = 0;
  let v2 = false;
  while (pos < bytes.length) {
    const size = bytes[pos];
    if (size === 0) {
      const text = Buffer.from(spec.slice(0, 2 + 2 * pos), 'latin1');
      const once = createHash('sha256').update(text).digest();
      return v2 ? createHash('sha256').update(once).digest() : once;
    }
    if (pos + 1 + size > bytes.length) return null;
    if (bytes[pos + 1] === 0x7f && size === 2 && bytes[pos + 2] === 2) v2 = true;
    pos += 1 + size;
  }
  return null;
}
