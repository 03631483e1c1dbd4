/**
 * H.265: the HEVCDecoderConfigurationRecord (hvcC, ISO 14496-15 8.3.3.1) carried by FLV's HEVC
 * sequence header (legacy codec id 12 and enhanced RTMP `hvc1`) and by MP4's hvcC box; the SPS
 * fields a container needs; the RFC 6381 / ISO 14496-15 Annex E codec string.
 */
import { BitReader, MediaFormatError, unescapeRBSP } from './bits';
import { SAR_TABLE, type VideoGeometry } from './avc';

export const HEVC_NAL_VPS = 32;
export const HEVC_NAL_SPS = 33;
export const HEVC_NAL_PPS = 34;
export const HEVC_NAL_AUD = 35;

export interface HEVCRecord {
  profileSpace: number;
  tier: number;
  profile: number;
  compatibility: number; // 32 bits
  constraints: Buffer; // 6 bytes
  level: number;
  lengthSize: number;
  /** parameter sets by NAL type (VPS, SPS, PPS, SEI…), in record order */
  arrays: Array<{ type: number; nalus: Buffer[] }>;
}

export function parseHEVCRecord(rec: Buffer): HEVCRecord {
  if (rec.length < 23 || rec[0] !== 1) throw new MediaFormatError('not an HEVC decoder configuration record');
  const lengthSize = (rec[21] & 3) + 1;
  if (lengthSize === 3) throw new MediaFormatError('HEVC NAL length size 3 is invalid');
  const arrays: HEVCRecord['arrays'] = [];
  let o = 23;
  const count = rec[22];
  for (let a = 0; a < count; a++) {
    if (o + 3 > rec.length) throw new MediaFormatError('HEVC record truncated');
    const type = rec[o] & 0x3f;
    const n = rec.readUInt16BE(o + 1);
    o += 3;
    const nalus: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      if (o + 2 > rec.length) throw new MediaFormatError('HEVC record truncated');
      const len = rec.readUInt16BE(o);
      o += 2;
      if (o + len > rec.length) throw new MediaFormatError('HEVC record truncated');
      nalus.push(rec.subarray(o, o + len));
      o += len;
    }
    arrays.push({ type, nalus });
  }
  return {
    profileSpace: rec[1] >> 6,
    tier: (rec[1] >> 5) & 1,
    profile: rec[1] & 0x1f,
    compatibility: rec.readUInt32BE(2),
    constraints: rec.subarray(6, 12),
    level: rec[12],
    lengthSize,
    arrays,
  };
}

export function hevcParameterSets(rec: HEVCRecord, type: number): Buffer[] {
  return rec.arrays.filter((a) => a.type === type).flatMap((a) => a.nalus);
}

/** Picture size (after the conformance window) and sample aspect ratio from an H.265 SPS NAL unit. */
export function parseHEVCSPS(nal: Buffer): VideoGeometry {
  const r = new BitReader(unescapeRBSP(nal.subarray(2)));
  r.skip(4); // sps_video_parameter_set_id
  const maxSubLayersMinus1 = r.bits(3);
  r.skip(1);
  skipProfileTierLevel(r, maxSubLayersMinus1);
  r.ue(); // sps_seq_parameter_set_id
  const chroma = r.ue();
  if (chroma === 3) r.bit(); // separate_colour_plane_flag
  let width = r.ue();
  let height = r.ue();
  if (r.bit()) {
    const left = r.ue();
    const right = r.ue();
    const top = r.ue();
    const bottom = r.ue();
    const subW = chroma === 1 || chroma === 2 ? 2 : 1;
    const subH = chroma === 1 ? 2 : 1;
    width -= subW * (left + right);
    height -= subH * (top + bottom);
  }
  if (width <= 0 || height <= 0) throw new MediaFormatError('bad HEVC SPS picture size');
  const sar = readHEVCSar(r, maxSubLayersMinus1);
  return { width, height, sarWidth: sar[0], sarHeight: sar[1] };
}

function skipProfileTierLevel(r: BitReader, maxSubLayersMinus1: number): void {
  r.skip(96); // general profile/tier/level
  const profilePresent: number[] = [];
  const levelPresent: number[] = [];
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    profilePresent.push(r.bit());
    levelPresent.push(r.bit());
  }
  if (maxSubLayersMinus1 > 0) for (let i = maxSubLayersMinus1; i < 8; i++) r.skip(2);
  for (let i = 0; i < maxSubLayersMinus1; i++) {
    if (profilePresent[i]) r.skip(88);
    if (levelPresent[i]) r.skip(8);
  }
}

/** The VUI aspect ratio, reached by walking the SPS fields between; 1:1 if absent or unreadable. */
function readHEVCSar(r: BitReader, maxSubLayersMinus1: number): [number, number] {
  try {
    r.ue(); // bit_depth_luma_minus8
    r.ue(); // bit_depth_chroma_minus8
    const log2MaxPocLsb = r.ue() + 4;
    const subLayerOrdering = r.bit();
    for (let i = subLayerOrdering ? 0 : maxSubLayersMinus1; i <= maxSubLayersMinus1; i++) {
      r.ue();
      r.ue();
      r.ue();
    }
    r.ue(); // log2_min_luma_coding_block_size_minus3
    r.ue();
    r.ue();
    r.ue();
    r.ue(); // max_transform_hierarchy_depth_inter
    r.ue(); // max_transform_hierarchy_depth_intra
    if (r.bit()) {
      // scaling_list_enabled_flag
      if (r.bit()) skipScalingListData(r);
    }
    r.bit(); // amp_enabled_flag
    r.bit(); // sample_adaptive_offset_enabled_flag
    if (r.bit()) {
      // pcm_enabled_flag
      r.skip(8);
      r.ue();
      r.ue();
      r.bit();
    }
    const numShortTermRefPicSets = r.ue();
    if (numShortTermRefPicSets > 64) return [1, 1];
    const deltaPocs: number[] = [];
    for (let i = 0; i < numShortTermRefPicSets; i++) deltaPocs.push(skipShortTermRefPicSet(r, i, deltaPocs));
    if (r.bit()) {
      // long_term_ref_pics_present_flag
      const n = r.ue();
      for (let i = 0; i < n; i++) {
        r.skip(log2MaxPocLsb);
        r.bit();
      }
    }
    r.bit(); // sps_temporal_mvp_enabled_flag
    r.bit(); // strong_intra_smoothing_enabled_flag
    if (!r.bit()) return [1, 1]; // vui_parameters_present_flag
    if (!r.bit()) return [1, 1]; // aspect_ratio_info_present_flag
    const idc = r.bits(8);
    if (idc === 255) {
      const w = r.bits(16);
      const h = r.bits(16);
      return w && h ? [w, h] : [1, 1];
    }
    return idc > 0 && idc < SAR_TABLE.length ? [SAR_TABLE[idc][0], SAR_TABLE[idc][1]] : [1, 1];
  } catch {
    return [1, 1];
  }
}

function skipScalingListData(r: BitReader): void {
  for (let size = 0; size < 4; size++) {
    for (let matrix = 0; matrix < 6; matrix += size === 3 ? 3 : 1) {
      if (!r.bit()) r.ue();
      else {
        const coefs = Math.min(64, 1 << (4 + (size << 1)));
        if (size > 1) r.se();
        for (let i = 0; i < coefs; i++) r.se();
      }
    }
  }
}

/** Returns the number of delta POCs of this set (needed to parse the sets that predict from it). */
function skipShortTermRefPicSet(r: BitReader, idx: number, deltaPocs: number[]): number {
  if (idx > 0 && r.bit()) {
    // inter_ref_pic_set_prediction_flag (idx == num sets only in slice headers)
    r.bit(); // delta_rps_sign
    r.ue(); // abs_delta_rps_minus1
    const ref = deltaPocs[idx - 1];
    let count = 0;
    for (let j = 0; j <= ref; j++) {
      const used = r.bit();
      const useDelta = used ? 1 : r.bit();
      if (used || useDelta) count++;
    }
    return count;
  }
  const neg = r.ue();
  const pos = r.ue();
  if (neg > 32 || pos > 32) throw new MediaFormatError('bad HEVC SPS');
  for (let i = 0; i < neg + pos; i++) {
    r.ue();
    r.bit();
  }
  return neg + pos;
}

/**
 * Codec string of ISO 14496-15 Annex E: hvc1.<space><profile>.<compat, bit-reversed hex>.
 * <L|H><level>[.<constraint bytes, trailing zero bytes dropped>].
 */
export function hevcCodecString(rec: HEVCRecord, sampleEntry = 'hvc1'): string {
  const space = ['', 'A', 'B', 'C'][rec.profileSpace];
  let reversed = 0;
  for (let i = 0; i < 32; i++) if (rec.compatibility & (1 << i)) reversed |= 1 << (31 - i);
  const parts = [sampleEntry, `${space}${rec.profile}`, (reversed >>> 0).toString(16), `${rec.tier ? 'H' : 'L'}${rec.level}`];
  let last = rec.constraints.length;
  while (last > 0 && rec.constraints[last - 1] === 0) last--;
  for (let i = 0; i < last; i++) parts.push(rec.constraints[i].toString(16).toUpperCase());
  return parts.join('.');
}

/** NAL unit type of an H.265 NAL header's first byte. */
export function hevcNalType(firstByte: number): number {
  return (firstByte >> 1) & 0x3f;
}
