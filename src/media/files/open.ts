/**
 * Opens a recorded (or any) FLV or MP4 file for VOD, recognised by its first bytes rather than its
 * name (`mp4:name` plays a file whatever its extension, as Flash servers do).
 */
import { promises as fsp } from 'node:fs';
import { MediaFormatError } from '../codecs/bits';
import { FLVFileReader } from './flv-reader';
import { MP4FileReader } from './mp4-reader';
import type { MediaFileReader } from './reader';

export async function openMediaFile(path: string): Promise<MediaFileReader> {
  const fh = await fsp.open(path, 'r');
  const head = Buffer.alloc(8);
  try {
    await fh.read(head, 0, 8, 0);
  } finally {
    await fh.close();
  }
  if (head.toString('latin1', 0, 3) === 'FLV') return FLVFileReader.open(path);
  if (/^(ftyp|moov|styp|free|skip|mdat|wide)$/.test(head.toString('latin1', 4, 8))) return MP4FileReader.open(path);
  throw new MediaFormatError(`${path}: neither FLV nor MP4`);
}
