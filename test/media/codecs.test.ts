/**
 * Codec headers: SPS picture sizes (cropping, sample aspect ratio) and codec strings checked
 * against ffprobe on ffmpeg-made streams; AudioSpecificConfig variants; FLV tag bodies in the
 * classic, legacy HEVC and enhanced RTMP forms; and seeded fuzzing of every parser (only
 * MediaFormatError may come out, never a RangeError or a wrong type).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { parseAVCRecord, parseAVCSPS } from '../../src/media/codecs/avc';
import { parseASC } from '../../src/media/codecs/aac';
import { BitReader, MediaFormatError, unescapeRBSP } from '../../src/media/codecs/bits';
import { aacTagBody, readAudioTag, readVideoTag, videoTagBody } from '../../src/media/codecs/flv-body';
import { hevcCodecString, parseHEVCRecord, parseHEVCSPS } from '../../src/media/codecs/hevc';
import { audioTrack, videoTrack } from '../../src/media/tracks';
import { openMediaFile } from '../../src/media/files/open';
import { mutate, prng, randomBuffer } from '../helpers/prng';
import { requireTool } from '../helpers/http-server';
import { fixture, flvFrames, tmpDir } from './helpers';

interface Stream {
  width: number;
  height: number;
  sample_aspect_ratio?: string;
  profile?: string;
  level?: number;
}

function ffprobeStream(file: string): Stream {
  const r = spawnSync('ffprobe', ['-v', 'error', '-select_streams', 'v', '-show_entries', 'stream=width,height,sample_aspect_ratio,profile,level', '-of', 'json', file]);
  return JSON.parse(r.stdout.toString()).streams[0];
}

function encode(file: string, args: string[]): void {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc2=size=322x242:rate=25:duration=0.2', ...args, file]);
  if (r.status !== 0) throw new Error(String(r.stderr));
}

test('SPS sizes, aspect ratios and codec strings match ffprobe (H.264 and H.265, cropped sizes)', async (t) => {
  if (!requireTool(t, 'ffmpeg') || !requireTool(t, 'ffprobe')) return;
  const dir = tmpDir('codecs');
  const cases: Array<[string, string[]]> = [
    ['h264-high.mp4', ['-c:v', 'libx264', '-preset', 'ultrafast', '-profile:v', 'high', '-pix_fmt', 'yuv420p']],
    ['h264-sar.mp4', ['-c:v', 'libx264', '-preset', 'ultrafast', '-vf', 'setsar=4/3', '-pix_fmt', 'yuv420p']],
    ['h264-444.mp4', ['-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv444p']],
    ['h265.mp4', ['-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', 'log-level=error', '-tag:v', 'hvc1', '-pix_fmt', 'yuv420p']],
    ['h265-sar.mp4', ['-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', 'log-level=error', '-vf', 'setsar=16/11', '-tag:v', 'hvc1', '-pix_fmt', 'yuv420p']],
  ];
  for (const [name, args] of cases) {
    const file = path.join(dir, name);
    encode(file, args);
    const want = ffprobeStream(file);
    const r = await openMediaFile(file);
    const v = r.video!;
    await r.close();
    assert.equal(v.width, want.width, name);
    assert.equal(v.height, want.height, name);
    const sar = want.sample_aspect_ratio && want.sample_aspect_ratio !== '0:1' ? want.sample_aspect_ratio : '1:1';
    assert.equal(`${v.sarWidth}:${v.sarHeight}`, sar, name);
    if (name.startsWith('h264')) {
      const rec = parseAVCRecord(v.config);
      assert.equal(v.codecString, `avc1.${[rec.profile, rec.compatibility, rec.level].map((n) => n.toString(16).padStart(2, '0')).join('')}`);
      assert.equal(rec.level, want.level, name);
      assert.equal(rec.profile, { High: 100, 'High 4:4:4 Predictive': 244, 'Constrained Baseline': 66, Main: 77 }[want.profile!], name);
    } else {
      // Main profile, tier L, the level ffprobe reports
      assert.match(v.codecString, new RegExp(`^hvc1\\.1\\.6\\.L${want.level}(\\.[0-9A-F]{1,2})*$`), name);
    }
  }
});

test('HEVC codec strings follow ISO 14496-15 Annex E', () => {
  const rec = Buffer.alloc(23);
  rec[0] = 1;
  rec[1] = 0x01; // space 0, tier 0, Main
  rec.writeUInt32BE(0x60000000, 2); // compatibility flags 1 and 2
  rec.set([0x90, 0, 0, 0, 0, 0], 6); // progressive, frame-only
  rec[12] = 93; // level 3.1
  rec[21] = 0x0f;
  assert.equal(hevcCodecString(parseHEVCRecord(rec)), 'hvc1.1.6.L93.90');
  rec[1] = 0x22; // space 0, tier 1 (High), Main 10
  rec.writeUInt32BE(0x20000000, 2);
  rec[12] = 120;
  rec.set([0xb0, 0, 0, 0, 0, 0], 6);
  assert.equal(hevcCodecString(parseHEVCRecord(rec)), 'hvc1.2.4.H120.B0');
});

test('AudioSpecificConfig: LC, explicit HE-AAC, 960-sample frames, explicit rate', () => {
  assert.deepEqual(parseASC(Buffer.from([0x12, 0x10])), { objectType: 2, sampleRate: 44100, rateIndex: 4, channels: 2, frameSamples: 1024 });
  assert.equal(parseASC(Buffer.from([0x11, 0x90])).sampleRate, 48000);
  // AOT 5 (SBR), 24 kHz core, stereo, extension 48 kHz, core AOT 2
  const he = parseASC(Buffer.from([0x2b, 0x11, 0x88, 0x00]));
  assert.equal(he.objectType, 5);
  assert.equal(audioTrack(Buffer.from([0x2b, 0x11, 0x88, 0x00])).codecString, 'mp4a.40.5');
  assert.equal(parseASC(Buffer.from([0x12, 0x14])).frameSamples, 960);
  // explicit 22050 Hz rate (index 15)
  const explicit = Buffer.from([0x17, 0x80, 0x2b, 0x11, 0x10]);
  assert.equal(parseASC(explicit).sampleRate, 0x5622);
  assert.throws(() => parseASC(Buffer.from([0x12])), MediaFormatError);
  assert.throws(() => parseASC(Buffer.from([0x16, 0x90])), MediaFormatError); // rate index 13
});

test('FLV video bodies: classic AVC, legacy HEVC (id 12), enhanced RTMP hvc1 with and without offsets', () => {
  const nalus = Buffer.from([0, 0, 0, 2, 0x65, 0x88]);
  const avc = videoTagBody('avc', 'frame', true, 40, nalus);
  assert.deepEqual([...avc.subarray(0, 5)], [0x17, 1, 0, 0, 40]);
  assert.deepEqual(readVideoTag(avc), { codec: 'avc', kind: 'frame', key: true, cts: 40, data: nalus });
  const legacy = videoTagBody('hevc', 'frame', false, -80, nalus, true);
  assert.deepEqual([...legacy.subarray(0, 2)], [0x2c, 1]);
  assert.deepEqual(readVideoTag(legacy), { codec: 'hevc', kind: 'frame', key: false, cts: -80, data: nalus });
  const enhanced = videoTagBody('hevc', 'frame', true, 33, nalus);
  assert.equal(enhanced[0], 0x80 | 0x10 | 1);
  assert.equal(enhanced.toString('latin1', 1, 5), 'hvc1');
  assert.deepEqual(readVideoTag(enhanced), { codec: 'hevc', kind: 'frame', key: true, cts: 33, data: nalus });
  const config = videoTagBody('hevc', 'config', true, 0, Buffer.from([1, 2, 3]));
  assert.equal(readVideoTag(config)?.kind, 'config');
  // CodedFramesX (type 3): no offset field
  const x = Buffer.concat([Buffer.from([0x80 | 0x20 | 3]), Buffer.from('hvc1'), nalus]);
  assert.deepEqual(readVideoTag(x), { codec: 'hevc', kind: 'frame', key: false, cts: 0, data: nalus });
  // enhanced AVC, sequence end, unknown FourCC, metadata packets, command frames, VP6: not muxed
  assert.equal(readVideoTag(Buffer.concat([Buffer.from([0x91]), Buffer.from('avc1'), Buffer.from([0, 0, 0]), nalus]))?.codec, 'avc');
  assert.equal(readVideoTag(Buffer.concat([Buffer.from([0x92]), Buffer.from('hvc1')]))?.kind, 'end');
  assert.equal(readVideoTag(Buffer.concat([Buffer.from([0x91]), Buffer.from('av01'), Buffer.alloc(4)])), null);
  assert.equal(readVideoTag(Buffer.concat([Buffer.from([0x94]), Buffer.from('hvc1'), Buffer.alloc(4)])), null);
  assert.equal(readVideoTag(Buffer.from([0x57, 1, 0, 0, 0])), null);
  assert.equal(readVideoTag(Buffer.from([0x14, 0, 1, 2, 3])), null);
  assert.equal(readVideoTag(Buffer.from([0x17, 1])), null);
  // audio
  const aac = aacTagBody('frame', Buffer.from([1, 2, 3]));
  assert.deepEqual(readAudioTag(aac), { codec: 'aac', kind: 'frame', data: Buffer.from([1, 2, 3]) });
  assert.equal(readAudioTag(Buffer.from([0x2f, 1, 2])), null); // MP3
});

test('bit reader: exp-Golomb codes, emulation prevention, truncation is a MediaFormatError', () => {
  const r = new BitReader(Buffer.from([0b10100110, 0b01000000]));
  assert.equal(r.ue(), 0);
  assert.equal(r.ue(), 1);
  assert.equal(r.ue(), 2);
  assert.equal(r.se(), 2);
  assert.throws(() => new BitReader(Buffer.alloc(1)).ue(), MediaFormatError);
  assert.deepEqual([...unescapeRBSP(Buffer.from([0x67, 0, 0, 3, 1, 0, 0, 3, 0]))], [0x67, 0, 0, 1, 0, 0, 0]);
});

test('codec parsers on random and mutated input: MediaFormatError or a value, nothing else', async (t) => {
  if (!requireTool(t, 'ffmpeg')) return;
  const rand = prng(42);
  const avcRecord = readVideoTag(flvFrames(fixture('av')).find((f) => f.config)!.payload)!.data;
  const hevc = await openMediaFile(fixture('hevc-mp4'));
  const hvcRecord = hevc.video!.config;
  await hevc.close();
  const seeds = [avcRecord, hvcRecord, Buffer.from([0x12, 0x10]), Buffer.concat([Buffer.from([0x1c, 0, 0, 0, 0]), avcRecord]), parseHEVCRecord(hvcRecord).arrays[1].nalus[0]];
  const parsers: Array<(b: Buffer) => unknown> = [
    parseAVCRecord, (b) => parseAVCSPS(b), parseHEVCRecord, (b) => parseHEVCSPS(b), parseASC,
    (b) => videoTrack('avc', b), (b) => videoTrack('hevc', b), audioTrack, readVideoTag, readAudioTag,
  ];
  for (let i = 0; i < 3000; i++) {
    const input = i % 3 === 0 ? randomBuffer(rand, (rand() * 64) | 0) : mutate(rand, seeds[i % seeds.length]);
    for (const parse of parsers) {
      try {
        parse(input);
      } catch (e) {
        assert.ok(e instanceof MediaFormatError, `${parse.name || 'parser'} on ${input.toString('hex')}: ${(e as Error).stack}`);
      }
    }
  }
  // the seeds themselves parse
  assert.equal(parseAVCSPS(parseAVCRecord(avcRecord).sps[0]).width, 320);
  assert.equal(parseHEVCSPS(parseHEVCRecord(hvcRecord).arrays[1].nalus[0]).height, 240);
});
