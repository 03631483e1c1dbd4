/**
 * The relay's media frames on the server link, pure: a publication's frame in, bytes out, and back.
 *
 * A relay's media travels as frames of one handler of ours (RELAY_HANDLERS.media), whose payload is
 * not AMF but:
 *   relay id      LEB128 (7 bits a byte, low bits first), chosen by the side that asked to play
 *   kind          1 byte: 8 audio, 9 video, 18 data, 0x40 metadata, 0x41 metadata cleared
 *   time          4 bytes big-endian: the publication's time in ms (modulo 2^32)
 *   data type     1 byte, data frames only: the index of the frame's DataType (AMF0, AMF3, JSON…)
 *   body          the frame's bytes as the publication holds them (an FLV tag body; for metadata
 *                 the AMF0 `onMetaData` data frame), to the end of the link frame
 * The head is made per frame and relay; the body is written after it without being copied.
 * Everything else a relay says (want, has, play, stop…) is ordinary handler calls with AMF
 * arguments.
 */
import { DataType, MediaType } from '../core/media';
import { DecodeError } from '../serialization/value';
import { lebSize, writeLEB } from './codec';

/** Our handler names on the link. A MonaServer peer never receives them (see relay.ts). */
export const RELAY_HANDLERS = {
  /** (name): the sender wants `name` while it has players for it */
  want: 'monats.relay.want',
  /** (name): no longer */
  unwant: 'monats.relay.unwant',
  /** (name): the sender has `name` running and may relay it */
  has: 'monats.relay.has',
  /** (name): the sender's `name` stopped (its publisher left); a relay of it ends */
  gone: 'monats.relay.gone',
  /** (name, id): start relaying `name` under relay id `id` */
  play: 'monats.relay.play',
  /** (id): stop relay `id` */
  stop: 'monats.relay.stop',
  /** (id, reason): the origin ended relay `id` (too slow, not published any more…) */
  end: 'monats.relay.end',
  /** raw: media of a relay (the format above) */
  media: 'monats.relay.media',
} as const;

export const enum RelayKind {
  Audio = MediaType.Audio,
  Video = MediaType.Video,
  Data = MediaType.Data,
  Metadata = 0x40,
  MetadataCleared = 0x41,
}

const DATA_TYPES: readonly DataType[] = [DataType.AMF0, DataType.AMF3, DataType.JSON, DataType.XMLRPC, DataType.QUERY, DataType.RAW];
const DATA_INDEX = new Map<DataType, number>(DATA_TYPES.map((t, i) => [t, i]));

/** Relay ids stay below 2^31 (5 LEB128 bytes at most). */
export const MAX_RELAY_ID = 0x7fffffff;

/** The head of a media frame of relay `id`; the frame's body follows it. */
export function encodeMediaHead(id: number, kind: RelayKind, time: number, dataType: DataType = DataType.AMF0): Buffer {
  const out = Buffer.allocUnsafe(lebSize(id) + 1 + 4 + (kind === RelayKind.Data ? 1 : 0));
  let pos = writeLEB(out, 0, id);
  out[pos++] = kind;
  out.writeUInt32BE(time >>> 0, pos);
  pos += 4;
  if (kind === RelayKind.Data) out[pos] = DATA_INDEX.get(dataType) ?? 0;
  return out;
}

export interface RelayMedia {
  id: number;
  kind: RelayKind;
  time: number;
  dataType: DataType;
  /** a view into the link frame: no copy */
  body: Buffer;
}

/** A media frame's payload; throws DecodeError when it is malformed. */
export function decodeMedia(payload: Buffer): RelayMedia {
  let id = 0;
  let pos = 0;
  for (let shift = 0; ; shift += 7) {
    if (pos >= payload.length || shift > 28) throw new DecodeError('relay media', 'bad relay id');
    const c = payload[pos++];
    id += (c & 0x7f) * 2 ** shift;
    if ((c & 0x80) === 0) break;
  }
  if (pos + 5 > payload.length) throw new DecodeError('relay media', 'truncated head');
  const kind = payload[pos++] as RelayKind;
  if (kind !== RelayKind.Audio && kind !== RelayKind.Video && kind !== RelayKind.Data && kind !== RelayKind.Metadata && kind !== RelayKind.MetadataCleared)
    throw new DecodeError('relay media', `unknown kind ${kind}`);
  const time = payload.readUInt32BE(pos);
  pos += 4;
  let dataType = DataType.AMF0;
  if (kind === RelayKind.Data) {
    if (pos >= payload.length) throw new DecodeError('relay media', 'data frame without its type');
    const t = DATA_TYPES[payload[pos++]];
    if (t === undefined) throw new DecodeError('relay media', `unknown data type ${payload[pos - 1]}`);
    dataType = t;
  }
  return { id, kind, time, dataType, body: payload.subarray(pos) };
}
