/**
 * Media as publications carry it: one frame = one FLV tag body (the same bytes an RTMP audio/video/
 * data message carries). Every protocol converts to and from that form at its edge, so a frame is
 * created once per publisher packet and shared by every listener.
 */
export enum MediaType {
  Audio = 8,
  Video = 9,
  Data = 18,
}

/** How a data frame's payload is encoded (MonaServer's data types). */
export enum DataType {
  AMF0 = 'AMF0',
  AMF3 = 'AMF3',
  JSON = 'JSON',
  XMLRPC = 'XMLRPC',
  QUERY = 'QUERY',
  RAW = 'RAW',
}

export class MediaFrame {
  /** memo of serialized forms: format name → bytes/object (e.g. 'rtmp' chunk body, 'json' text) */
  private cache: Map<string, unknown> | undefined;
  readonly key: boolean;
  readonly config: boolean;

  constructor(
    readonly type: MediaType,
    /** publication time in ms (absolute, as pushed by the publisher) */
    readonly time: number,
    readonly payload: Buffer,
    readonly dataType: DataType = DataType.AMF0,
  ) {
    if (type === MediaType.Video) {
      this.key = isVideoKeyFrame(payload);
      this.config = isVideoConfig(payload);
    } else if (type === MediaType.Audio) {
      this.key = true;
      this.config = isAudioConfig(payload);
    } else {
      this.key = true;
      this.config = false;
    }
  }

  /**
   * The frame serialized for one wire format, made once and shared by every listener of that
   * format (the same bytes handed to every socket).
   */
  serialized<T>(format: string, make: (frame: MediaFrame) => T): T {
    let cache = this.cache;
    if (cache === undefined) cache = this.cache = new Map();
    else {
      const hit = cache.get(format);
      if (hit !== undefined) return hit as T;
    }
    const value = make(this);
    cache.set(format, value);
    return value;
  }
}

/** FLV video tag: frame type in the high nibble (1 = key frame); enhanced RTMP sets bit 7. */
export function isVideoKeyFrame(p: Buffer): boolean {
  if (p.length < 1) return false;
  const b = p[0];
  return ((b & 0x80 ? (b >> 4) & 7 : b >> 4)) === 1;
}

/** AVC/HEVC sequence header (decoder configuration record). */
export function isVideoConfig(p: Buffer): boolean {
  if (p.length < 2) return false;
  const b = p[0];
  if (b & 0x80) return (b & 0x0f) === 0; // enhanced RTMP: PacketTypeSequenceStart
  const codec = b & 0x0f;
  return (codec === 7 || codec === 12) && p[1] === 0;
}

/** AAC AudioSpecificConfig (sound format 10, packet type 0). */
export function isAudioConfig(p: Buffer): boolean {
  return p.length >= 2 && p[0] >> 4 === 10 && p[1] === 0;
}
