/**
 * Durable file operations of the persistent `data` store, run either synchronously (flushSync,
 * exit handlers) or on the libuv thread pool (normal operation), from one description of the work:
 * the store yields Steps from a generator, a driver here executes them and feeds results back.
 *
 * Crash safety: a value is written to a ".~tmp-…" file, fsync'd, renamed onto its final name and
 * its folder fsync'd; folders created are fsync'd into their parents; a tree is removed by renaming
 * it to a ".~del-…" tombstone (atomic, fsync'd) before erasing it. Names starting with ".~" are
 * never data: the loader removes them.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';

/** Prefix of our temporary files and tombstones. */
export const RESERVED_PREFIX = '.~';

/** One step of bringing a folder to its in-memory state. */
export type Step =
  | { op: 'mkdirp'; dir: string }
  | { op: 'list'; dir: string }
  | { op: 'write'; dir: string; name: string; data: Buffer }
  | { op: 'removeFile'; dir: string; name: string }
  | { op: 'removeTree'; dir: string; name: string };

export interface Entry {
  name: string;
  dir: boolean;
}

/** A unit of work: yields steps, receives a listing back for 'list' steps. */
export type Job = Generator<Step, void, Entry[] | null | void>;

export class DiskWriter {
  private counter = 0;

  /** Runs every step now, blocking (only for exit handlers and tests). */
  runSync(job: Job): void {
    let result: Entry[] | null | void = undefined;
    for (;;) {
      const next = job.next(result);
      if (next.done) return;
      result = this.stepSync(next.value);
    }
  }

  /** Runs the steps on the thread pool; before each one, stops if mayContinue() says so. */
  async runAsync(job: Job, mayContinue: () => boolean): Promise<void> {
    let result: Entry[] | null | void = undefined;
    for (;;) {
      const next = job.next(result);
      if (next.done) return;
      if (!mayContinue()) return;
      result = await this.stepAsync(next.value);
    }
  }

  private tempName(prefix: string, name: string): string {
    return `${RESERVED_PREFIX}${prefix}-${process.pid}-${++this.counter}-${name}`;
  }

  private stepSync(s: Step): Entry[] | null | void {
    switch (s.op) {
      case 'mkdirp': {
        const created = fs.mkdirSync(s.dir, { recursive: true });
        if (created) for (const d of createdChain(created, s.dir)) fsyncDirSync(path.dirname(d));
        return;
      }
      case 'list':
        try {
          return fs.readdirSync(s.dir, { withFileTypes: true }).map((e) => ({ name: e.name, dir: e.isDirectory() }));
        } catch {
          return null;
        }
      case 'write': {
        const tmp = path.join(s.dir, this.tempName('tmp', s.name));
        const fd = fs.openSync(tmp, 'w');
        try {
          fs.writeSync(fd, s.data);
          fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
        fs.renameSync(tmp, path.join(s.dir, s.name));
        fsyncDirSync(s.dir);
        return;
      }
      case 'removeFile':
        fs.rmSync(path.join(s.dir, s.name), { force: true });
        return;
      case 'removeTree': {
        const tomb = path.join(s.dir, this.tempName('del', ''));
        try {
          fs.renameSync(path.join(s.dir, s.name), tomb);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
          throw e;
        }
        fsyncDirSync(s.dir);
        fs.rmSync(tomb, { recursive: true, force: true });
        return;
      }
    }
  }

  private async stepAsync(s: Step): Promise<Entry[] | null | void> {
    switch (s.op) {
      case 'mkdirp': {
        const created = await fsp.mkdir(s.dir, { recursive: true });
        if (created) for (const d of createdChain(created, s.dir)) await fsyncDir(path.dirname(d));
        return;
      }
      case 'list':
        try {
          return (await fsp.readdir(s.dir, { withFileTypes: true })).map((e) => ({ name: e.name, dir: e.isDirectory() }));
        } catch {
          return null;
        }
      case 'write': {
        const tmp = path.join(s.dir, this.tempName('tmp', s.name));
        const fh = await fsp.open(tmp, 'w');
        try {
          await fh.writeFile(s.data);
          await fh.sync();
        } finally {
          await fh.close();
        }
        await fsp.rename(tmp, path.join(s.dir, s.name));
        await fsyncDir(s.dir);
        return;
      }
      case 'removeFile':
        await fsp.rm(path.join(s.dir, s.name), { force: true });
        return;
      case 'removeTree': {
        const tomb = path.join(s.dir, this.tempName('del', ''));
        try {
          await fsp.rename(path.join(s.dir, s.name), tomb);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
          throw e;
        }
        await fsyncDir(s.dir);
        await fsp.rm(tomb, { recursive: true, force: true });
        return;
      }
    }
  }
}

/** Folders mkdir -p created: from the first created one down to `dir`. */
function createdChain(first: string, dir: string): string[] {
  const out: string[] = [];
  for (let d = dir; ; d = path.dirname(d)) {
    out.push(d);
    if (d === first || path.dirname(d) === d) break;
  }
  return out.reverse();
}

function fsyncDirSync(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
