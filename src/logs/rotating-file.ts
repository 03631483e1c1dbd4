/**
 * Append-only log file with size-based rotation, written asynchronously so logging never waits on
 * the disk in the event loop (lines queue in memory; one fs.write in flight at a time).
 *
 * Naming is MonaServer's: with rotation N > 0 the file being written is `<name>.0`; when it would
 * pass maxSize it becomes `<name>.1`, `.1` becomes `.2` … and `.N` is dropped, so N older files are
 * kept beside the current one. With rotation 0 a single `<name>` file is emptied when full.
 * Unlike MonaServer (which checks after writing), a file never exceeds maxSize unless one line is
 * bigger than maxSize by itself.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface RotatingFileOptions {
  directory: string;
  name: string;
  rotation: number;
  /** bytes per file, 0 = unlimited */
  maxSize: number;
  /** queued bytes beyond which new lines are dropped (and the drop counted) while the disk lags */
  maxQueued?: number;
  /** told once when the file cannot be opened or written (logging then goes on console only) */
  onError?: (message: string) => void;
}

export class RotatingFile {
  readonly currentPath: string;
  private fd = -1;
  private size = 0;
  private queue: Buffer[] = [];
  private queued = 0;
  private dropped = 0;
  private writing = false;
  private failed = false;
  private closed = false;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly options: RotatingFileOptions) {
    this.currentPath = this.pathOf(options.rotation > 0 ? 0 : -1);
    try {
      fs.mkdirSync(options.directory, { recursive: true });
      this.fd = fs.openSync(this.currentPath, 'a');
      this.size = fs.fstatSync(this.fd).size;
    } catch (err) {
      this.fail(`cannot open log file ${this.currentPath}: ${(err as Error).message}`);
    }
  }

  get ok(): boolean {
    return !this.failed;
  }

  write(text: string): void {
    if (this.failed || this.closed) return;
    const limit = this.options.maxQueued ?? 16 * 1024 * 1024;
    if (this.queued > limit) {
      this.dropped++;
      return;
    }
    if (this.dropped > 0) {
      this.push(Buffer.from(`(${this.dropped} log lines dropped: disk too slow)\n`));
      this.dropped = 0;
    }
    this.push(Buffer.from(text));
    if (!this.writing) this.pump();
  }

  /** Resolves once every queued line is on disk (in the OS's hands). */
  flush(): Promise<void> {
    if (!this.writing && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** For process exit paths that cannot wait: writes what is queued synchronously. */
  flushSync(): void {
    if (this.failed || this.fd < 0) return;
    while (this.queue.length) {
      if (this.needsRotation(this.queue[0].length)) this.rotate();
      const chunk = this.queue.shift()!;
      this.queued -= chunk.length;
      try {
        fs.writeSync(this.fd, chunk);
        this.size += chunk.length;
      } catch (err) {
        this.fail(`cannot write log file ${this.currentPath}: ${(err as Error).message}`);
        return;
      }
    }
  }

  async close(): Promise<void> {
    // lines logged while the last flush was resolving may have started another write
    while (this.writing || (this.queue.length && !this.failed)) await this.flush();
    if (this.fd >= 0) fs.closeSync(this.fd);
    this.fd = -1;
    this.closed = true; // later writes are ignored
  }

  private push(buf: Buffer): void {
    this.queue.push(buf);
    this.queued += buf.length;
  }

  private needsRotation(bytes: number): boolean {
    const max = this.options.maxSize;
    return max > 0 && this.size > 0 && this.size + bytes > max;
  }

  private pump(): void {
    if (this.failed || this.closed || this.fd < 0 || this.queue.length === 0) {
      this.writing = false;
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
      return;
    }
    if (this.needsRotation(this.queue[0].length)) this.rotate();
    if (this.failed) return this.pump();
    // take as many queued lines as fit in the current file, in one write
    const max = this.options.maxSize;
    let count = 0;
    let bytes = 0;
    while (count < this.queue.length) {
      const len = this.queue[count].length;
      if (count > 0 && max > 0 && this.size + bytes + len > max) break;
      bytes += len;
      count++;
    }
    const chunk = count === 1 ? this.queue[0] : Buffer.concat(this.queue.slice(0, count), bytes);
    this.queue.splice(0, count);
    this.queued -= bytes;
    this.writing = true;
    this.writeChunk(chunk, 0);
  }

  private writeChunk(chunk: Buffer, offset: number): void {
    fs.write(this.fd, chunk, offset, chunk.length - offset, null, (err, written) => {
      if (err) {
        this.fail(`cannot write log file ${this.currentPath}: ${err.message}`);
        return this.pump();
      }
      this.size += written;
      if (offset + written < chunk.length) return this.writeChunk(chunk, offset + written);
      this.pump();
    });
  }

  /** Synchronous renames: a few syscalls once per maxSize bytes, and nothing else may write meanwhile. */
  private rotate(): void {
    const { rotation } = this.options;
    try {
      fs.closeSync(this.fd);
      this.fd = -1;
      if (rotation > 0) {
        fs.rmSync(this.pathOf(rotation), { force: true });
        for (let n = rotation - 1; n >= 0; n--) {
          try {
            fs.renameSync(this.pathOf(n), this.pathOf(n + 1));
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
          }
        }
        this.fd = fs.openSync(this.currentPath, 'a');
      } else this.fd = fs.openSync(this.currentPath, 'w');
      this.size = 0;
    } catch (err) {
      this.fail(`cannot rotate log file ${this.currentPath}: ${(err as Error).message}`);
    }
  }

  private pathOf(n: number): string {
    const base = path.join(this.options.directory, this.options.name);
    return n < 0 ? base : `${base}.${n}`;
  }

  private fail(message: string): void {
    if (this.failed) return;
    this.failed = true;
    this.queue = [];
    this.queued = 0;
    this.options.onError?.(message);
  }
}
