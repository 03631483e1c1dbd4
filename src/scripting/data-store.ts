/**
 * The persistent `data` store of Lua apps, on disk in MonaServer's layout so existing
 * `data/` folders carry over, written durably in the background.
 *
 * ## API (what the Lua bridge codes against)
 *   const store = new DataStore(dataDir, logger);   // dataDir: the server's "data" folder
 *   store.load();                  // once at start, synchronous: reads the whole tree
 *   store.get(path)                // string/Buffer/boolean | DataTableRef (a sub-table) | null (absent)
 *   store.kind(path)               // 'value' | 'table' | null
 *   store.keys(path)               // names of the direct entries of a table (values and tables)
 *   store.count(path)              // `#`: number of direct entries holding a VALUE (MonaServer)
 *   store.set(path, value)         // string | Buffer | number | boolean; null/undefined = delete
 *   store.setTable(path)           // makes path an empty table (the bridge then sets its fields)
 *   store.ensureTable(path)        // creates the missing tables along path (an app's own root)
 *   store.delete(path)             // removes a value or a whole sub-tree
 *   await store.flush()            // resolves when everything queued is on disk (shutdown)
 *   store.flushSync()              // same, synchronously (process 'exit' handlers)
 * A path is an array of key strings: the app's path segments then the keys, e.g. the root app's
 * `data.a.b` is ["a","b"] and app /live's `data.x` is ["live","x"] — which is also how MonaServer
 * lets a parent reach `data.childApp` (and `super.data`): one tree for the whole server.
 * Keys are strings (the bridge turns numbers into their text, as MonaServer did); a key cannot be
 * empty, ".", "..", contain "/", "\" or NUL, start with ".~" (reserved for our temporary
 * files) or exceed 200 bytes. Invalid keys and the rule violations below throw DataStoreError.
 *
 * ## Rules (MonaServer's, checked in its LUAPersistentTable/PersistentData source)
 *  - Assigning a value over a key that holds a table is refused ("delete it explicitly first");
 *    so is setTable over an existing table. setTable over a value replaces the value.
 *  - `#` counts only the entries holding a value, not sub-tables (MonaServer's count; its own
 *    functional test expects `#data == 1` with one value and one sub-app table).
 *  - Writing into a path whose parent does not exist or is a value is refused.
 * Deliberate differences: deleting a table deletes its children on disk too (MonaServer left
 * them behind); an empty table is kept as an empty folder (MonaServer kept nothing); a value reads
 * back the same before and after a restart: as the text it was stored as (MonaServer kept the
 * assigned value converted to its string in memory, `data.n = 10` reading "10", but typed numbers
 * as numbers when it loaded them at the next start).
 *
 * ## Layout (verified in MonaServer's PersistentData.cpp and MonaServer.cpp)
 *   <dataDir>/<key>/<key>/.../<md5>   — one folder per key, nested for sub-tables; a key holding a
 *   value has one file named by the lowercase hex MD5 of its bytes, the bytes as content.
 * Values are written as text: strings as UTF-8, numbers as Lua prints them (formatLuaNumber),
 * booleans "true"/"false". Read back: "true"/"false"/"null" (any case) → boolean/absent, any
 * other text → string (a Buffer when not UTF-8): a number reads back as its text, "10".
 * At load: a 32-hex file whose MD5 does not match its name is reported (logger.warn, with its
 * path) and never served (MonaServer deleted it; we leave it for inspection until that key is next
 * written); files with other names are not ours and are ignored (as MonaServer did), except our
 * leftover ".~" temporaries which are removed; if a folder holds several valid values (a crash
 * between rename and cleanup) the newest one wins; a folder with a value and sub-folders is a
 * value (its sub-keys are reported and ignored, as MonaServer did).
 *
 * ## Durability
 * Changes apply to memory at once and are appended to a write-ahead journal (data-journal.ts) in
 * the same data folder, committed (written + fdatasync) every few milliseconds for all the changes
 * of that time together: a change is durable within milliseconds, `committed()` tells when. At
 * load the journal is replayed over the layout. The layout itself catches up in the background:
 * the paths changes touch are queued (a path queued twice is
 * written once, with its latest state) and written on the libuv thread pool, never blocking the
 * event loop — up to 8 unrelated paths at a time, a path never alongside its ancestors or
 * descendants (each write brings a path to its current in-memory state, so this is all the
 * ordering the final state needs): temp file ".~tmp-…" + fsync + rename onto "<md5>" + fsync of the
 * folder; a removed tree is first renamed to a ".~del-…" tombstone (atomic) then erased. A crash
 * leaves either the old or the new value, never a torn one. Each queued path is brought to its
 * in-memory state (so a table's folder also loses sub-folders that are no longer in memory).
 * Once the layout holds everything but the paths still queued, the journal is rewritten with just
 * those (or emptied). A key folder with nothing in it (a crash between making the folder and
 * renaming the value in) loads as absent, never as a table; empty tables are therefore not kept
 * across a restart, as in MonaServer. The file operations themselves are in data-store-disk.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import type { Logger } from '../logs/levels';
import { formatLuaNumber } from '../serialization/text-values';
import { DiskWriter, Entry, Job, RESERVED_PREFIX } from './data-store-disk';
import { DataJournal, type JournalOptions, type JournalRecord } from './data-journal';

export type DataValue = string | number | boolean | Buffer;

/** A sub-table of the store, as returned by get(); the bridge wraps it in a proxy table. */
export class DataTableRef {
  constructor(readonly path: readonly string[]) {}
}

export class DataStoreError extends Error {
  override name = 'DataStoreError';
}

interface ValueNode {
  kind: 'value';
  bytes: Buffer;
  md5: string;
  typed: DataValue | null;
}
interface TableNode {
  kind: 'table';
  children: Map<string, Node>;
}
type Node = ValueNode | TableNode;

const SOURCE = 'DataStore';
/** fsyncs of unrelated folders overlap on the thread pool; related paths are written one at a time */
const MAX_PARALLEL_WRITES = 8;
const MD5_NAME = /^[0-9a-f]{32}$/;
/** a failed write of a path is tried again after this long */
const RETRY_MS = 5000;
const RESERVED = RESERVED_PREFIX;

/** Text → what a script reads: booleans typed, "null" absent, anything else the text itself. */
export function typeStoredValue(bytes: Buffer): DataValue | null {
  if (bytes.length === 4 || bytes.length === 5) {
    const l = bytes.toString('latin1').toLowerCase();
    if (l === 'true') return true;
    if (l === 'false') return false;
    if (l === 'null') return null;
  }
  return isUtf8(bytes) ? bytes.toString('utf8') : Buffer.from(bytes);
}

/** What a value is written as. */
export function serializeValue(v: DataValue): Buffer {
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (typeof v === 'number') return Buffer.from(formatLuaNumber(v), 'latin1');
  if (typeof v === 'boolean') return Buffer.from(v ? 'true' : 'false', 'latin1');
  if (Buffer.isBuffer(v)) return Buffer.from(v);
  throw new DataStoreError(`a ${typeof v} cannot be stored in data`);
}

function md5(bytes: Buffer): string {
  return createHash('md5').update(bytes).digest('hex');
}

function valueNode(bytes: Buffer): ValueNode {
  return { kind: 'value', bytes, md5: md5(bytes), typed: typeStoredValue(bytes) };
}

export function checkKey(key: string): void {
  if (typeof key !== 'string' || key === '' || key === '.' || key === '..' || /[/\\\0]/.test(key) ||
      key.startsWith(RESERVED) || Buffer.byteLength(key) > 200) {
    throw new DataStoreError(`invalid data key ${JSON.stringify(key)}`);
  }
}

export interface DataStoreOptions {
  /**
   * The write-ahead journal (on by default): every change is durable within a few milliseconds
   * through one appended file, before MonaServer's layout catches up in the background. false =
   * only the layout, written in the background (a crash loses what was not written yet).
   */
  journal?: boolean | JournalOptions;
}

export class DataStore {
  private root: TableNode = { kind: 'table', children: new Map() };
  private readonly journal: DataJournal | null;
  /** paths whose last write failed: retried, and kept in the journal until they succeed */
  private readonly failed = new Map<string, string[]>();
  private retryTimer: NodeJS.Timeout | null = null;
  /** queued paths, by their joined key, in first-queued order */
  private readonly dirty = new Map<string, string[]>();
  /** paths being written now, by joined key */
  private readonly inFlight = new Map<string, string[]>();
  private draining: Promise<void> | null = null;
  /** bumped by flushSync so that an interrupted async job stops before undoing its work */
  private generation = 0;
  private readonly disk = new DiskWriter();

  constructor(
    readonly dir: string,
    private readonly logger: Logger,
    options: DataStoreOptions = {},
  ) {
    const j = options.journal ?? true;
    this.journal = j === false ? null : new DataJournal(dir, logger, j === true ? {} : j);
  }

  // ---------------------------------------------------------------- reading

  load(): void {
    this.root = { kind: 'table', children: new Map() };
    let stat: fs.Stats | null = null;
    try {
      stat = fs.statSync(this.dir);
    } catch {
      // no data yet: created on first write (or now, for the journal)
    }
    if (stat && !stat.isDirectory()) throw new DataStoreError(`${this.dir} is not a folder`);
    if (stat) {
      const loaded = this.loadFolder(this.dir, 0);
      if (loaded?.kind === 'table') this.root = loaded;
      else if (loaded) this.logger.warn(SOURCE, `value file at the root of ${this.dir} ignored`);
    }
    if (!this.journal) return;
    // changes made before a stop or a crash that the layout may not hold yet
    const records = this.journal.open();
    for (const r of records) this.replay(r);
    if (records.length) {
      this.logger.info(SOURCE, `${records.length} changes replayed from ${this.journal.file}`);
      this.queue(this.dirty.values().next().value as string[]);
    }
  }

  /** A journal record applied whatever the state it meets (the layout may be older or newer). */
  private replay(r: JournalRecord): void {
    const p = r.path;
    try {
      for (const key of p) checkKey(key);
    } catch {
      return;
    }
    let parent: TableNode = this.root;
    for (const key of p.slice(0, -1)) {
      let next = parent.children.get(key);
      if (next?.kind !== 'table') {
        // its parent was a value or absent at this point of the replay: the record implies a table
        next = { kind: 'table', children: new Map() };
        parent.children.set(key, next);
      }
      parent = next;
    }
    const key = p[p.length - 1];
    if (key === undefined) return;
    if (r.op === 'set') parent.children.set(key, valueNode(r.bytes));
    else if (r.op === 'table') parent.children.set(key, { kind: 'table', children: new Map() });
    else parent.children.delete(key);
    this.queue(p, false);
  }

  /** A folder → its node, or null when it holds nothing usable (only corrupted values). */
  private loadFolder(dir: string, depth: number): Node | null {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch (e) {
      this.logger.error(SOURCE, `cannot read ${dir}: ${(e as Error).message}`);
      return null;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const values: Array<{ node: ValueNode; mtime: number; file: string }> = [];
    const children = new Map<string, Node>();
    let corrupted = false;
    for (const e of entries) {
      const full = path.join(dir, e.name);
      if (e.name.startsWith(RESERVED)) {
        // our temporary file or tombstone left by a crash: never data
        fs.rmSync(full, { recursive: true, force: true });
        this.logger.debug(SOURCE, `removed leftover ${full}`);
      } else if (e.isDirectory()) {
        if (depth >= 1000) {
          this.logger.warn(SOURCE, `${full} nested too deep, ignored`);
          continue;
        }
        const child = this.loadFolder(full, depth + 1);
        if (child) children.set(e.name, child);
      } else if (e.isFile() && MD5_NAME.test(e.name)) {
        const bytes = fs.readFileSync(full);
        if (md5(bytes) !== e.name) {
          corrupted = true;
          this.logger.warn(SOURCE, `corrupted data file ${full} (MD5 does not match its name), skipped`);
          continue;
        }
        values.push({ node: valueNode(bytes), mtime: 0, file: full });
      }
    }
    if (values.length) {
      if (values.length > 1) {
        for (const v of values) v.mtime = fs.statSync(v.file).mtimeMs;
        values.sort((a, b) => b.mtime - a.mtime);
      }
      if (values.length > 1) this.logger.warn(SOURCE, `${dir} holds ${values.length} values, the newest (${values[0].file}) wins`);
      if (children.size) this.logger.warn(SOURCE, `${dir} holds a value, its sub-keys are ignored`);
      return values[0].node;
    }
    // a key folder with nothing in it is not a table: a crash between making a key's folder and
    // renaming its value in leaves exactly that (the store's own empty tables are not kept either)
    if (!children.size && depth > 0) return null;
    return { kind: 'table', children };
  }

  private node(p: readonly string[]): Node | null {
    let n: Node = this.root;
    for (const key of p) {
      if (n.kind !== 'table') return null;
      const next = n.children.get(key);
      if (!next) return null;
      n = next;
    }
    return n;
  }

  /** The typed value, a DataTableRef for a sub-table, or null when absent (a stored "null" too). */
  get(p: readonly string[]): DataValue | DataTableRef | null {
    const n = this.node(p);
    if (!n) return null;
    return n.kind === 'table' ? new DataTableRef([...p]) : n.typed;
  }

  kind(p: readonly string[]): 'value' | 'table' | null {
    const n = this.node(p);
    if (!n || (n.kind === 'value' && n.typed === null)) return null;
    return n.kind;
  }

  /** Direct entries of the table at p (empty when p is not a table); "null" values are absent. */
  keys(p: readonly string[]): string[] {
    const n = this.node(p);
    if (!n || n.kind !== 'table') return [];
    const out: string[] = [];
    for (const [k, c] of n.children) if (c.kind === 'table' || c.typed !== null) out.push(k);
    return out;
  }

  /** `#`: direct entries holding a value (MonaServer does not count sub-tables). */
  count(p: readonly string[]): number {
    const n = this.node(p);
    if (!n || n.kind !== 'table') return 0;
    let c = 0;
    for (const child of n.children.values()) if (child.kind === 'value' && child.typed !== null) c++;
    return c;
  }

  // ---------------------------------------------------------------- writing

  private parentOf(p: readonly string[]): TableNode {
    if (!p.length) throw new DataStoreError('the data root itself cannot be assigned');
    for (const key of p) checkKey(key);
    const parent = this.node(p.slice(0, -1));
    if (!parent || parent.kind !== 'table') {
      throw new DataStoreError(`data.${p.slice(0, -1).join('.')} is not a table`);
    }
    return parent;
  }

  set(p: readonly string[], value: DataValue | null | undefined): void {
    if (value === null || value === undefined) {
      this.delete(p);
      return;
    }
    const parent = this.parentOf(p);
    const key = p[p.length - 1];
    const old = parent.children.get(key);
    if (old?.kind === 'table') {
      throw new DataStoreError(`data.${p.join('.')} holds a table: assign nil to it before replacing it`);
    }
    const node = valueNode(serializeValue(value));
    if (old?.kind === 'value' && old.md5 === node.md5) return;
    parent.children.set(key, node);
    this.journal?.append({ op: 'set', path: [...p], bytes: node.bytes });
    this.queue(p);
  }

  setTable(p: readonly string[]): void {
    const parent = this.parentOf(p);
    const key = p[p.length - 1];
    if (parent.children.get(key)?.kind === 'table') {
      throw new DataStoreError(`data.${p.join('.')} holds a table already: assign nil to it before replacing it`);
    }
    parent.children.set(key, { kind: 'table', children: new Map() });
    this.journal?.append({ op: 'table', path: [...p] });
    this.queue(p);
  }

  /**
   * Makes every missing table along p (e.g. an app's ["live"] before its script first writes);
   * existing tables are kept, a value in the way throws.
   */
  ensureTable(p: readonly string[]): void {
    for (let i = 1; i <= p.length; i++) {
      const sub = p.slice(0, i);
      const kind = this.node(sub)?.kind;
      if (kind === 'value') throw new DataStoreError(`data.${sub.join('.')} holds a value, not a table`);
      if (!kind) this.setTable(sub);
    }
  }

  delete(p: readonly string[]): void {
    const parent = this.parentOf(p);
    if (!parent.children.delete(p[p.length - 1])) return;
    this.journal?.append({ op: 'delete', path: [...p] });
    this.queue(p);
  }

  // ---------------------------------------------------------------- persistence

  /** Paths waiting to be written (plus the one being written). */
  get pending(): number {
    return this.dirty.size + this.inFlight.size;
  }

  private queue(p: readonly string[], start = true): void {
    const id = p.join('/');
    if (!this.dirty.has(id)) this.dirty.set(id, [...p]);
    if (start && !this.draining) {
      this.draining = new Promise<void>((resolve) => setImmediate(resolve))
        .then(() => this.drain())
        .finally(() => {
          this.draining = null;
          if (this.dirty.size) this.queue(this.dirty.values().next().value as string[]);
          else {
            this.compactJournal();
            this.retryFailed();
          }
        });
    }
  }

  /** Paths whose write failed (disk full, permissions…) are tried again a little later. */
  private retryFailed(): void {
    if (!this.failed.size || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      for (const [id, p] of this.failed) if (!this.dirty.has(id)) this.dirty.set(id, p);
      if (this.dirty.size && !this.draining) this.queue(this.dirty.values().next().value as string[]);
    }, RETRY_MS);
    this.retryTimer.unref();
  }

  /** Resolves once every change made so far is durable (in the journal, or in the layout without one). */
  committed(): Promise<void> {
    return this.journal ? this.journal.committed() : this.flush();
  }

  /** Resolves once everything changed so far is in MonaServer's layout on disk (journal emptied). */
  async flush(): Promise<void> {
    if (this.dirty.size && !this.draining) this.queue(this.dirty.values().next().value as string[]);
    while (this.draining) await this.draining;
    if (this.journal?.isOpen) {
      this.journal.compact(this.journalSnapshot());
      await this.journal.committed();
    }
  }

  /**
   * Once the layout holds every change but those still queued (or failed), the journal needs
   * only the records that rebuild those paths: it is rewritten when idle, or when it grows big.
   */
  private compactJournal(): void {
    const j = this.journal;
    if (!j?.isOpen || j.bytes === 0) return;
    if ((this.dirty.size || this.inFlight.size) && j.bytes < j.compactBytes) return;
    j.compact(this.journalSnapshot());
  }

  /** Records rebuilding the current state of every path the layout may not hold yet. */
  private journalSnapshot(): JournalRecord[] {
    const paths = new Map<string, string[]>([...this.dirty, ...this.inFlight, ...this.failed]);
    const out: JournalRecord[] = [];
    const emit = (p: string[]): void => {
      const n = this.node(p);
      if (!n) {
        out.push({ op: 'delete', path: p });
        return;
      }
      if (n.kind === 'value') {
        out.push({ op: 'set', path: p, bytes: n.bytes });
        return;
      }
      out.push({ op: 'table', path: p });
      for (const k of n.children.keys()) emit([...p, k]);
    };
    for (const p of paths.values()) emit(p);
    return out;
  }

  /** Makes every pending change durable now, blocking (process exit): journal first, then the layout. */
  flushSync(): void {
    this.journal?.flushSync();
    this.flushLayoutSync();
  }

  /** Writes everything still queued into the layout, synchronously. */
  private flushLayoutSync(): void {
    this.generation++; // an async job in progress stops at its next step
    for (const [id, p] of this.inFlight) if (!this.dirty.has(id)) this.dirty.set(id, p);
    while (this.dirty.size) {
      const [id, p] = this.dirty.entries().next().value as [string, string[]];
      this.dirty.delete(id);
      try {
        this.disk.runSync(this.reconcile(p));
        this.failed.delete(id);
      } catch (e) {
        this.failed.set(id, p);
        this.logger.error(SOURCE, `writing data.${p.join('.')}: ${(e as Error).message}`);
      }
    }
  }

  private async drain(): Promise<void> {
    const running = new Set<Promise<void>>();
    for (;;) {
      // start every queued path not related to one being written, in queue order, up to the limit;
      // each job writes the path's CURRENT state, so only related paths need to wait for each other
      for (const [id, p] of this.dirty) {
        if (this.inFlight.size >= MAX_PARALLEL_WRITES) break;
        let blocked = false;
        for (const q of this.inFlight.values()) if (related(p, q)) blocked = true;
        if (blocked) continue;
        this.dirty.delete(id);
        this.inFlight.set(id, p);
        const job: Promise<void> = this.write(id, p).finally(() => {
          this.inFlight.delete(id);
          running.delete(job);
        });
        running.add(job);
      }
      if (!running.size) return;
      await Promise.race(running);
      this.compactJournal();
    }
  }

  private async write(id: string, p: string[]): Promise<void> {
    const generation = this.generation;
    try {
      // stop when the path changed again (it is queued anew) or flushSync took over
      await this.disk.runAsync(this.reconcile(p), () => generation === this.generation && !this.dirty.has(id));
      this.failed.delete(id);
    } catch (e) {
      // the journal keeps this change (see journalSnapshot) until a later write of the path succeeds
      this.failed.set(id, p);
      this.logger.error(SOURCE, `writing data.${p.join('.')}: ${(e as Error).message}`);
    }
    // flushSync ran while this job had a step in the thread pool: that step may have landed after
    // the synchronous write (e.g. an older value file renamed in beside the new one). Reconcile the
    // path once more so the folder ends with exactly the value in memory.
    if (generation !== this.generation && !this.dirty.has(id)) this.dirty.set(id, p);
  }

  /** Steps that bring the folder of p to the in-memory state of p. */
  private *reconcile(p: string[]): Job {
    const dir = path.join(this.dir, ...p);
    const n = this.node(p);
    if (!n) {
      yield { op: 'removeTree', dir: path.dirname(dir), name: path.basename(dir) };
      return;
    }
    yield { op: 'mkdirp', dir };
    if (n.kind === 'value') yield { op: 'write', dir, name: n.md5, data: n.bytes };
    const entries = (yield { op: 'list', dir }) as Entry[] | null;
    for (const e of entries ?? []) {
      if (e.dir) {
        // a value has no sub-keys; a table keeps only the sub-tables/values it has in memory
        if (n.kind === 'value' || !n.children.has(e.name) || e.name.startsWith(RESERVED)) {
          yield { op: 'removeTree', dir, name: e.name };
        }
      } else if (MD5_NAME.test(e.name) && (n.kind === 'table' || e.name !== n.md5)) {
        yield { op: 'removeFile', dir, name: e.name };
      }
    }
  }
}

/** One path is the other or an ancestor of it. */
function related(a: readonly string[], b: readonly string[]): boolean {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}
