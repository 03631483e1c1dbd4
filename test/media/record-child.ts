/**
 * A recording process for the crash tests: records an FLV input to FLV or MP4 (argv: format,
 * input, output), writes the first half, waits until it is in the file, prints "half", then goes
 * on writing one frame every few ms until the parent kills it with SIGKILL.
 */
import { FLVRecorder } from '../../src/media/files/flv-recorder';
import { MP4Recorder } from '../../src/media/files/mp4-recorder';
import { flvFrames } from './helpers';

async function main(): Promise<void> {
  const [format, input, output] = process.argv.slice(2);
  const frames = flvFrames(input);
  const rec = format === 'mp4' ? await MP4Recorder.open(output, { fragmentMs: 500 }) : await FLVRecorder.open(output);
  const half = frames.length >> 1;
  for (const f of frames.slice(0, half)) rec.write(f);
  await rec.drained();
  process.stdout.write('half\n');
  for (const f of frames.slice(half)) {
    rec.write(f);
    await new Promise((r) => setTimeout(r, 5));
  }
  // never closed: the parent kills us first (and if it does not, a plain exit leaves the same file)
  await new Promise((r) => setTimeout(r, 60_000));
}

main().catch((e) => {
  process.stderr.write(String(e?.stack ?? e));
  process.exit(1);
});
