/**
 * What a container needs to know about a publication's audio and video tracks, built once from
 * their FLV sequence headers: codec, decoder configuration, picture size, sample rate, timescale
 * and the RFC 6381 codec string for HLS `CODECS`.
 */
import { avcCodecString, parseAVCRecord, parseAVCSPS, type VideoGeometry } from './codecs/avc';
import { aacCodecString, parseASC } from './codecs/aac';
import { MediaFormatError } from './codecs/bits';
import { hevcCodecString, hevcParameterSets, HEVC_NAL_PPS, HEVC_NAL_SPS, HEVC_NAL_VPS, parseHEVCRecord, parseHEVCSPS } from './codecs/hevc';
import type { VideoCodec } from './codecs/flv-body';

export const VIDEO_TIMESCALE = 90000;

export interface VideoTrackInfo extends VideoGeometry {
  kind: 'video';
  codec: VideoCodec;
  /** avcC or hvcC record, as FLV and MP4 carry it */
  config: Buffer;
  lengthSize: number;
  /** parameter sets (VPS, SPS, PPS) as NAL units, for Annex B streams (MPEG-TS) */
  parameterSets: Buffer[];
  codecString: string;
  timescale: number;
}

export interface AudioTrackInfo {
  kind: 'audio';
  codec: 'aac';
  /** AudioSpecificConfig */
  config: Buffer;
  objectType: number;
  sampleRate: number;
  /** sampling frequency index of the AudioSpecificConfig (15: explicit rate, no ADTS form) */
  rateIndex: number;
  channels: number;
  /** PCM samples per frame: the nominal sample duration in the track timescale */
  frameSamples: number;
  codecString: string;
  timescale: number;
}

export type TrackInfo = VideoTrackInfo | AudioTrackInfo;

/** Track info from a video decoder configuration record; throws MediaFormatError if unusable. */
export function videoTrack(codec: VideoCodec, record: Buffer): VideoTrackInfo {
  if (codec === 'avc') {
    const rec = parseAVCRecord(record);
    return {
      kind: 'video', codec, config: Buffer.from(record), lengthSize: rec.lengthSize,
      parameterSets: [...rec.sps, ...rec.pps].map((b) => Buffer.from(b)),
      codecString: avcCodecString(rec), timescale: VIDEO_TIMESCALE, ...parseAVCSPS(rec.sps[0]),
    };
  }
  const rec = parseHEVCRecord(record);
  const sps = hevcParameterSets(rec, HEVC_NAL_SPS);
  if (!sps.length) throw new MediaFormatError('HEVC record without SPS');
  return {
    kind: 'video', codec, config: Buffer.from(record), lengthSize: rec.lengthSize,
    parameterSets: [...hevcParameterSets(rec, HEVC_NAL_VPS), ...sps, ...hevcParameterSets(rec, HEVC_NAL_PPS)].map((b) => Buffer.from(b)),
    codecString: hevcCodecString(rec), timescale: VIDEO_TIMESCALE, ...parseHEVCSPS(sps[0]),
  };
}

export function audioTrack(asc: Buffer): AudioTrackInfo {
  const cfg = parseASC(asc);
  return {
    kind: 'audio', codec: 'aac', config: Buffer.from(asc), objectType: cfg.objectType, sampleRate: cfg.sampleRate, rateIndex: cfg.rateIndex,
    channels: cfg.channels, frameSamples: cfg.frameSamples, codecString: aacCodecString(cfg), timescale: cfg.sampleRate,
  };
}

export function sameTrack(a: TrackInfo | null, b: TrackInfo | null): boolean {
  if (!a || !b) return a === b;
  return a.kind === b.kind && a.codec === b.codec && a.config.equals(b.config);
}
