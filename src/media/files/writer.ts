/**
 * Append-mostly file writing for recorders: writes go to libuv's thread pool (never the event
 * loop), consecutive appends are coalesced into one writev, and what waits in memory is bounded:
 * `append` refuses (returns false) once `maxQueuedBytes` are queued, and the recorder decides what
 * to drop. Positioned patches (durations, sizes written when a recording ends) are ordered after
 * the appends queued before them. The first I/O error stops the writer and is kept in `error`.
 */
import { promises as fsp } from 'node:fs';

type Op = { kind: 'append'; data: Buffer[]; size: number } | { kind: 'patch'; data: Buffer; at: number } | { kind: 'truncate'; at: number };

const MAX_IOV = 512;

export class FileWriter {
  /** logical end of the file: what is written plus what is queued */
  position: number;
  queuedBytes = 0;
  error: Error | null = null;
  private readonly queue: Op[] = [];
  private written: number;
  private busy = false;
  private idle: Array<() => void> = [];
  private closed = false;

  private constructor(private readonly fh: fsp.FileHandle, readonly path: string, size: number, readonly maxQueuedBytes: number) {
    this.position = size;
    this.written = size;
  }

  /** Opens for writing: `truncate` starts empty, otherwise the file is kept (append/patch). */
  static async open(path: string, opts: { truncate: boolean; maxQueuedBytes?: number }): Promise<FileWriter> {
    const fh = await fsp.open(path, opts.truncate ? 'w+' : 'r+');
    const size = opts.truncate ? 0 : (await fh.stat()).size;
    return new FileWriter(fh, path, size, opts.maxQueuedBytes ?? 8 << 20);
  }

  /** Queues bytes at the end of the file; false (nothing queued) when over the bound or failed. */
  append(data: Buffer[]): boolean {
    if (this.error || this.closed) return false;
    const size = data.reduce((n, b) => n + b.length, 0);
    if (size === 0) return true;
    if (this.queuedBytes + size > this.maxQueuedBytes && this.queuedBytes > 0) return false;
    this.queue.push({ kind: 'append', data, size });
    this.queuedBytes += size;
    this.position += size;
    this.pump();
    return true;
  }

  /** Overwrites bytes at `at` (inside what is already written or queued), after queued appends. */
  patch(at: number, data: Buffer): void {
    if (this.error || this.closed) return;
    this.queue.push({ kind: 'patch', data, at });
    this.pump();
  }

  /** Cuts the file at `at` (and moves the end there), after what is queued. */
  truncate(at: number): void {
    if (this.error || this.closed) return;
    this.queue.push({ kind: 'truncate', at });
    this.position = at;
    this.pump();
  }

  /** Resolves once everything queued is on its way to disk (written, not synced). */
  drain(): Promise<void> {
    if (!this.busy && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Writes what is queued, optionally syncs, closes. Resolves even after an I/O error (see `error`). */
  async close(sync = false): Promise<void> {
    if (this.closed) return;
    await this.drain();
    this.closed = true;
    try {
      if (sync && !this.error) await this.fh.sync();
    } catch (e) {
      this.error ??= e as Error;
    }
    await this.fh.close().catch(() => undefined);
  }

  private pump(): void {
    if (this.busy) return;
    const op = this.queue.shift();
    if (!op) {
      const idle = this.idle;
      this.idle = [];
      for (const f of idle) f();
      return;
    }
    this.busy = true;
    let work: Promise<unknown>;
    if (op.kind === 'append') {
      // coalesce the appends that follow into one writev
      const buffers = [...op.data];
      let size = op.size;
      while (this.queue[0]?.kind === 'append' && buffers.length + this.queue[0].data.length <= MAX_IOV) {
        const next = this.queue.shift() as Extract<Op, { kind: 'append' }>;
        buffers.push(...next.data);
        size += next.size;
      }
      const at = this.written;
      work = writeAll(this.fh, buffers, at).then(() => {
        this.written += size;
        this.queuedBytes -= size;
      });
    } else if (op.kind === 'patch') work = this.fh.write(op.data, 0, op.data.length, op.at);
    else {
      work = this.fh.truncate(op.at).then(() => {
        this.written = op.at;
      });
    }
    work
      .catch((e: Error) => {
        this.error ??= e;
        this.queue.length = 0;
        this.queuedBytes = 0;
      })
      .finally(() => {
        this.busy = false;
        this.pump();
      });
  }
}

async function writeAll(fh: fsp.FileHandle, buffers: Buffer[], at: number): Promise<void> {
  let pos = at;
  let list = buffers;
  while (list.length) {
    const { bytesWritten } = await fh.writev(list, pos);
    pos += bytesWritten;
    let skip = bytesWritten;
    let i = 0;
    while (i < list.length && skip >= list[i].length) skip -= list[i++].length;
    list = list.slice(i);
    if (skip && list.length) list[0] = list[0].subarray(skip);
    if (bytesWritten === 0 && list.length) throw new Error('short write');
  }
}
