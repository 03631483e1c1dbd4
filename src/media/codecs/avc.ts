/**
 * H.264: the AVCDecoderConfigurationRecord (avcC, ISO 14496-15 5.3.3.1) that FLV's sequence header
 * and MP4's avcC box both carry, and the few SPS fields a container needs (picture size for the
 * sample entry and RESOLUTION, profile/level for the RFC 6381 codec string).
 */
import { BitReader, MediaFormatError, unescapeRBSP } from './bits';

export interface AVCRecord {
  profile: number;
  compatibility: number;
  level: number;
  /** bytes of each NAL unit length prefix (1, 2 or 4) */
  lengthSize: number;
  sps: Buffer[];
  pps: Buffer[];
  /** other parameter-set arrays of high profiles (SPS extensions), kept as they come */
  spsExt: Buffer[];
}

/** Parses an avcC record; throws MediaFormatError on a truncated or foreign record. */
export function parseAVCRecord(rec: Buffer): AVCRecord {
  if (rec.length < 7 || rec[0] !== 1) throw new MediaFormatError('not an AVC decoder configuration record');
  const lengthSize = (rec[4] & 3) + 1;
  if (lengthSize === 3) throw new MediaFormatError('AVC NAL length size 3 is invalid');
  let o = 5;
  const read = (count: number, out: Buffer[]) => {
    for (let i = 0; i < count; i++) {
      if (o + 2 > rec.length) throw new MediaFormatError('AVC record truncated');
      const len = rec.readUInt16BE(o);
      o += 2;
      if (o + len > rec.length) throw new MediaFormatError('AVC record truncated');
      out.push(rec.subarray(o, o + len));
      o += len;
    }
  };
  const sps: Buffer[] = [];
  const pps: Buffer[] = [];
  const spsExt: Buffer[] = [];
  read(rec[o++] & 0x1f, sps);
  if (o >= rec.length) throw new MediaFormatError('AVC record truncated');
  read(rec[o++], pps);
  if (!sps.length) throw new MediaFormatError('AVC record without SPS');
  // High profiles may append chroma/bit-depth bytes and SPS extensions; older encoders omit them.
  if ([100, 110, 122, 144].includes(rec[1]) && o + 4 <= rec.length) {
    o += 3;
    try {
      read(rec[o++], spsExt);
    } catch {
      spsExt.length = 0;
    }
  }
  return { profile: rec[1], compatibility: rec[2], level: rec[3], lengthSize, sps, pps, spsExt };
}

export interface VideoGeometry {
  width: number;
  height: number;
  /** sample aspect ratio, 1:1 when the stream says nothing */
  sarWidth: number;
  sarHeight: number;
}

const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

/** Picture size (after cropping) and sample aspect ratio from an H.264 SPS NAL unit. */
export function parseAVCSPS(nal: Buffer): VideoGeometry {
  const r = new BitReader(unescapeRBSP(nal.subarray(1)));
  const profile = r.bits(8);
  r.skip(16); // constraint flags, level
  r.ue(); // seq_parameter_set_id
  let chroma = 1;
  let separatePlanes = 0;
  if (HIGH_PROFILES.has(profile)) {
    chroma = r.ue();
    if (chroma === 3) separatePlanes = r.bit();
    r.ue(); // bit_depth_luma_minus8
    r.ue(); // bit_depth_chroma_minus8
    r.bit(); // qpprime_y_zero_transform_bypass_flag
    if (r.bit()) {
      // seq_scaling_matrix_present_flag: skip the scaling lists
      const lists = chroma !== 3 ? 8 : 12;
      for (let i = 0; i < lists; i++) {
        if (!r.bit()) continue;
        const size = i < 6 ? 16 : 64;
        let last = 8;
        let next = 8;
        for (let j = 0; j < size; j++) {
          if (next !== 0) next = (last + r.se() + 256) % 256;
          last = next === 0 ? last : next;
        }
      }
    }
  }
  r.ue(); // log2_max_frame_num_minus4
  const pocType = r.ue();
  if (pocType === 0) r.ue();
  else if (pocType === 1) {
    r.bit();
    r.se();
    r.se();
    const n = r.ue();
    if (n > 255) throw new MediaFormatError('bad SPS');
    for (let i = 0; i < n; i++) r.se();
  }
  r.ue(); // max_num_ref_frames
  r.bit(); // gaps_in_frame_num_value_allowed_flag
  const widthMbs = r.ue() + 1;
  const heightMapUnits = r.ue() + 1;
  const frameMbsOnly = r.bit();
  if (!frameMbsOnly) r.bit(); // mb_adaptive_frame_field_flag
  r.bit(); // direct_8x8_inference_flag
  let width = widthMbs * 16;
  let height = (2 - frameMbsOnly) * heightMapUnits * 16;
  if (r.bit()) {
    const left = r.ue();
    const right = r.ue();
    const top = r.ue();
    const bottom = r.ue();
    const arrayType = separatePlanes ? 0 : chroma;
    const cropX = arrayType === 0 ? 1 : arrayType === 3 ? 1 : 2;
    const cropY = (arrayType === 0 ? 1 : arrayType === 1 ? 2 : 1) * (2 - frameMbsOnly);
    width -= cropX * (left + right);
    height -= cropY * (top + bottom);
  }
  let sarWidth = 1;
  let sarHeight = 1;
  if (r.bitsLeft > 0 && r.bit()) {
    // vui_parameters_present_flag → aspect_ratio_info
    if (r.bit()) {
      const idc = r.bits(8);
      if (idc === 255) {
        sarWidth = r.bits(16);
        sarHeight = r.bits(16);
      } else if (idc > 0 && idc < SAR_TABLE.length) [sarWidth, sarHeight] = SAR_TABLE[idc];
    }
  }
  if (width <= 0 || height <= 0) throw new MediaFormatError('bad SPS picture size');
  return { width, height, sarWidth: sarWidth || 1, sarHeight: sarHeight || 1 };
}

/** Table E-1 of H.264/H.265: aspect_ratio_idc → sample aspect ratio. */
export const SAR_TABLE: ReadonlyArray<[number, number]> = [
  [1, 1], [1, 1], [12, 11], [10, 11], [16, 11], [40, 33], [24, 11], [20, 11], [32, 11],
  [80, 33], [18, 11], [15, 11], [64, 33], [160, 99], [4, 3], [3, 2], [2, 1],
];

/** RFC 6381 codec string: avc1.PPCCLL (profile, constraint flags, level in hex). */
export function avcCodecString(rec: AVCRecord): string {
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  return `avc1.${hex(rec.profile)}${hex(rec.compatibility)}${hex(rec.level)}`;
}

/** NAL unit type of an H.264 NAL header byte. */
export function avcNalType(firstByte: number): number {
  return firstByte & 0x1f;
}
