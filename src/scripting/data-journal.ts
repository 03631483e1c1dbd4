/**
 * Write-ahead journal of the persistent `data` store: every change is appended here first, in one
 * file, with group commit: the changes of a few milliseconds are written together (in the event
 * loop: microseconds into the page cache, after which a killed process loses nothing) and
 * fdatasync'd together on the thread pool (after which a power loss loses nothing). So a change a
 * script made is safe within milliseconds whatever the number of keys it touched; MonaServer's
 * one-folder-per-key layout is then brought up to date in the background, at its own pace. At
 * start the store loads that layout and replays the journal on top.
 *
 * Format: a sequence of records `[u32 length][u32 crc32 of the body][body]`, body = op (1 byte),
 * key count (u16), each key (u16 length + UTF-8 bytes), then for `set` the value's bytes. A record
 * whose length or CRC does not check (a write torn by a crash) ends the journal: it and everything
 * after it are dropped (truncated) at open, never half-applied.
 *
 * Compaction: once the layout holds every change of the journal but those of a few paths, the
 * journal is replaced by records rebuilding just those paths (written to a temporary file renamed
 * over the journal); with nothing pending it is simply truncated.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Logger } from '../logs/levels';

export type JournalRecord =
  | { op: 'set'; path: string[]; bytes: Buffer }
  /** the path becomes an empty table (whatever it held) */
  | { op: 'table'; path: string[] }
  | { op: 'delete'; path: string[] };

const OP = { set: 1, table: 2, delete: 3 } as const;
const HEADER = 8;
/** a record longer than this is not ours (values are capped well below) */
const MAX_RECORD = 64 * 1024 * 1024;

export const JOURNAL_NAME = '.monats.journal';

export interface JournalOptions {
  /** how long changes gather before one write + fdatasync (group commit) */
  commitIntervalMs?: number;
  /** journal size beyond which it is compacted as soon as the store is idle enough */
  compactBytes?: number;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE 802.3, as zip and PNG use it) */
export function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export function encodeRecord(r: JournalRecord): Buffer {
  const keys = r.path.map((k) => Buffer.from(k, 'utf8'));
  let size = 1 + 2;
  for (const k of keys) size += 2 + k.length;
  if (r.op === 'set') size += r.bytes.length;
  const b = Buffer.allocUnsafe(HEADER + size);
  let o = HEADER;
  b[o++] = OP[r.op];
  b.writeUInt16BE(keys.length, o);
  o += 2;
  for (const k of keys) {
    b.writeUInt16BE(k.length, o);
    o += 2;
    k.copy(b, o);
    o += k.length;
  }
  if (r.op === 'set') r.bytes.copy(b, o);
  b.writeUInt32BE(size, 0);
  b.writeUInt32BE(crc32(b.subarray(HEADER)), 4);
  return b;
}

/** Decodes every complete, intact record; `end` is where the valid part stops. */
export function decodeRecords(data: Buffer): { records: JournalRecord[]; end: number } {
  const records: JournalRecord[] = [];
  let o = 0;
  while (o + HEADER <= data.length) {
    const size = data.readUInt32BE(o);
    if (size < 3 || size > MAX_RECORD || o + HEADER + size > data.length) break;
    const body = data.subarray(o + HEADER, o + HEADER + size);
    if (crc32(body) !== data.readUInt32BE(o + 4)) break;
    const r = decodeBody(body);
    if (!r) break;
    records.push(r);
    o += HEADER + size;
  }
  return { records, end: o };
}

function decodeBody(body: Buffer): JournalRecord | null {
  const op = body[0];
  const count = body.readUInt16BE(1);
  let o = 3;
  const p: string[] = [];
  for (let i = 0; i < count; i++) {
    if (o + 2 > body.length) return null;
    const n = body.readUInt16BE(o);
    o += 2;
    if (o + n > body.length) return null;
    p.push(body.toString('utf8', o, o + n));
    o += n;
  }
  switch (op) {
    case OP.set:
      return { op: 'set', path: p, bytes: Buffer.from(body.subarray(o)) };
    case OP.table:
      return o === body.length ? { op: 'table', path: p } : null;
    case OP.delete:
      return o === body.length ? { op: 'delete', path: p } : null;
    default:
      return null;
  }
}

export class DataJournal {
  readonly file: string;
  private fd = -1;
  /** bytes in the file */
  private size = 0;
  private buffer: Buffer[] = [];
  private buffered = 0;
  private timer: NodeJS.Timeout | null = null;
  /** waiting for the records appended before them to be written */
  private waitingWrite: Array<() => void> = [];
  /** written, waiting for an fdatasync that starts after their write */
  private waitingSync: Array<() => void> = [];
  /** an fdatasync on the thread pool (one at a time; another is asked for when it ends) */
  private syncing = false;
  private syncAgain = false;
  private readonly commitIntervalMs: number;
  readonly compactBytes: number;
  private failed = false;

  constructor(
    dir: string,
    private readonly logger: Logger,
    options: JournalOptions = {},
  ) {
    this.file = path.join(dir, JOURNAL_NAME);
    this.commitIntervalMs = options.commitIntervalMs ?? 5;
    this.compactBytes = options.compactBytes ?? 4 * 1024 * 1024;
  }

  /**
   * Opens the journal (creating it), returns the intact records to replay, and drops a torn tail.
   * Synchronous: part of the store's load at start.
   */
  open(): JournalRecord[] {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    fs.rmSync(`${this.file}.~tmp`, { force: true }); // a compaction cut by a crash: the journal itself is intact
    let data: Buffer;
    try {
      data = fs.readFileSync(this.file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      data = Buffer.alloc(0);
    }
    const { records, end } = decodeRecords(data);
    this.fd = fs.openSync(this.file, fs.constants.O_RDWR | fs.constants.O_CREAT);
    if (end < data.length) {
      this.logger.warn('DataStore', `journal ${this.file}: ${data.length - end} bytes after the last intact record dropped (a write cut by a crash)`);
      fs.ftruncateSync(this.fd, end);
      fs.fsyncSync(this.fd);
    }
    this.size = end;
    return records;
  }

  get isOpen(): boolean {
    return this.fd >= 0;
  }

  /** bytes in the file plus bytes waiting for the next commit */
  get bytes(): number {
    return this.size + this.buffered;
  }

  /** Queues a record for the next group commit. */
  append(r: JournalRecord): void {
    if (this.fd < 0) return;
    const b = encodeRecord(r);
    this.buffer.push(b);
    this.buffered += b.length;
    if (!this.timer) this.timer = setTimeout(() => this.commit(), this.commitIntervalMs);
  }

  /** Resolves once every record appended so far is written and fdatasync'd. */
  committed(): Promise<void> {
    if (!this.buffered && !this.syncing && !this.waitingSync.length) return Promise.resolve();
    return new Promise((resolve) => {
      if (this.buffered) this.waitingWrite.push(resolve);
      else {
        this.waitingSync.push(resolve);
        this.requestSync();
      }
      if (this.buffered && !this.timer) this.timer = setTimeout(() => this.commit(), 0);
    });
  }

  /**
   * Writes what gathered since the last commit, in the event loop: a write into the page cache
   * takes microseconds, and once it is there a killed process loses nothing. (Handed to the thread
   * pool it would queue behind the layout's fsyncs, and a SIGKILL meanwhile would lose it.) The
   * fdatasync that makes it survive a power loss runs on the thread pool.
   */
  private commit(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.fd < 0 || !this.buffered) return;
    const data = this.buffer.length === 1 ? this.buffer[0] : Buffer.concat(this.buffer, this.buffered);
    this.buffer = [];
    this.buffered = 0;
    try {
      writeAllSync(this.fd, data, this.size);
      this.size += data.length;
    } catch (e) {
      this.fail(e as Error);
    }
    this.waitingSync.push(...this.waitingWrite);
    this.waitingWrite = [];
    this.requestSync();
  }

  private fail(e: Error): void {
    if (!this.failed) this.logger.error('DataStore', `journal ${this.file}: ${e.message}`);
    this.failed = true;
  }

  /** One fdatasync at a time; the writers waiting when it starts are released when it ends. */
  private requestSync(): void {
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    const waiting = this.waitingSync;
    this.waitingSync = [];
    this.syncing = true;
    this.syncAgain = false;
    const fd = this.fd;
    fs.fdatasync(fd, (err) => {
      this.syncing = false;
      if (err) this.fail(err);
      // a compaction replaced the file meanwhile: the old descriptor is ours to close now
      if (fd !== this.fd) closeQuietly(fd);
      for (const w of waiting) w();
      if (this.syncAgain || this.waitingSync.length) this.requestSync();
    });
  }

  /**
   * Replaces the journal's content by `records` (the records rebuilding the changes the layout
   * does not hold yet): every record appended before is covered by them, those appended after
   * follow them. Done in the event loop like commits (at most the compaction threshold's worth of
   * bytes, rarely), so no commit can land in the file being replaced.
   */
  compact(records: JournalRecord[]): void {
    if (this.fd < 0) return;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    // what was appended but not written is covered by the records
    this.buffer = [];
    this.buffered = 0;
    this.waitingSync.push(...this.waitingWrite);
    this.waitingWrite = [];
    try {
      if (records.length === 0) {
        fs.ftruncateSync(this.fd, 0);
        this.size = 0;
      } else {
        const data = Buffer.concat(records.map(encodeRecord));
        const tmp = `${this.file}.~tmp`;
        const fd = fs.openSync(tmp, 'w');
        try {
          writeAllSync(fd, data, 0);
          fs.renameSync(tmp, this.file);
        } catch (e) {
          fs.closeSync(fd);
          throw e;
        }
        const old = this.fd;
        this.fd = fd;
        this.size = data.length;
        if (!this.syncing) closeQuietly(old);
        syncFolder(path.dirname(this.file)); // the rename itself, on the thread pool
      }
    } catch (e) {
      this.fail(e as Error);
    }
    this.requestSync();
  }

  /** Writes and syncs what is buffered, blocking (process exit). */
  flushSync(): void {
    if (this.fd < 0) return;
    this.commit();
    fs.fdatasyncSync(this.fd);
  }

  async close(): Promise<void> {
    await this.committed();
    if (this.fd >= 0) closeQuietly(this.fd);
    this.fd = -1;
  }
}

function writeAllSync(fd: number, data: Buffer, position: number): void {
  let o = 0;
  while (o < data.length) o += fs.writeSync(fd, data, o, data.length - o, position + o);
}

function syncFolder(dir: string): void {
  fs.open(dir, 'r', (err, fd) => {
    if (err) return;
    fs.fsync(fd, () => fs.close(fd, () => {}));
  });
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // already closed
  }
}
