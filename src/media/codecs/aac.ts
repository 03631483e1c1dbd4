/**
 * AAC: the AudioSpecificConfig (ISO 14496-3 1.6.2.1) that FLV's AAC sequence header and MP4's esds
 * carry, the fields containers need (sample rate for the track timescale, channels, samples per
 * frame) and the RFC 6381 codec string mp4a.40.<object type>.
 */
import { BitReader, MediaFormatError } from './bits';

export const AAC_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

export interface AACConfig {
  /** audio object type (2 = LC, 5 = SBR/HE-AAC, 29 = PS/HE-AACv2) */
  objectType: number;
  sampleRate: number;
  /** index in AAC_RATES, or 15 when the rate is explicit */
  rateIndex: number;
  channels: number;
  /** PCM samples per AAC frame at `sampleRate` (1024, or 960 with frameLengthFlag) */
  frameSamples: number;
}

export function parseASC(asc: Buffer): AACConfig {
  if (asc.length < 2) throw new MediaFormatError('AudioSpecificConfig truncated');
  const r = new BitReader(asc);
  let objectType = r.bits(5);
  if (objectType === 31) objectType = 32 + r.bits(6);
  const rateIndex = r.bits(4);
  const sampleRate = rateIndex === 15 ? r.bits(24) : AAC_RATES[rateIndex];
  if (!sampleRate) throw new MediaFormatError(`bad AAC sampling frequency index ${rateIndex}`);
  const channels = r.bits(4);
  let frameSamples = 1024;
  let core = objectType;
  if (objectType === 5 || objectType === 29) {
    // explicit SBR: extension rate then the core object type
    const ext = r.bits(4);
    if (ext === 15) r.skip(24);
    core = r.bits(5);
  }
  if ([1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22, 23].includes(core) && r.bitsLeft > 0) {
    if (r.bit()) frameSamples = 960; // GASpecificConfig frameLengthFlag
  }
  if (objectType === 0) throw new MediaFormatError('AAC object type 0 is invalid');
  return { objectType, sampleRate, rateIndex, channels, frameSamples };
}

export function aacCodecString(cfg: AACConfig): string {
  return `mp4a.40.${cfg.objectType}`;
}
