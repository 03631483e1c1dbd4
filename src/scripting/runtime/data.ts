/**
 * The `data` global, engine-neutral part: every app's `data` is a view of its place in the
 * one server-wide DataStore tree (root app: the top, app /live: ["live"]), so `super.data` and
 * `data.childApp` reach the parent's and children's stores. A binding makes the views (Lua proxy
 * tables, JS proxies) and calls this for every read, write, `#` and `pairs`.
 *
 * Values read back as MonaServer returns them: what was assigned is stored as its string form and
 * reads back as that string (`data.n = 10` → `data.n == "10"`), in the same run and after a restart;
 * "true"/"false" read back as booleans. Keys are strings. The binding turns numbers (keys and
 * values) into text as its language prints them (`data.t[1]` is `data.t["1"]`), since "the string
 * form" of a number is the language's.
 */
import type { Logger } from '../../logs/levels';
import { DataStore, DataTableRef, type DataValue } from '../data-store';

/** A value assigned to a data key, as a binding hands it over: numbers already as text, a script table as `DataInputTable`. */
export type DataInput = string | Buffer | boolean | null | DataInputTable;

/** A script table being assigned: its entries with keys already in store form, or another data view. */
export class DataInputTable {
  constructor(
    readonly entries: Array<[string, DataInput]>,
    /** when the assigned table is itself a data view: its path (`data.copy = data.orig`) */
    readonly view: readonly string[] | null = null,
  ) {}
}

/** How deep an assigned table may nest. */
const MAX_DEPTH = 64;

export class DataBinding {
  readonly store: DataStore;

  constructor(dataDir: string, private readonly logger: Logger) {
    this.store = new DataStore(dataDir, logger);
  }

  load(): void {
    try {
      this.store.load();
    } catch (e) {
      this.logger.error('DataStore', `data not loaded: ${(e as Error).message}`);
    }
  }

  flush(): Promise<void> {
    return this.store.flush();
  }

  flushSync(): void {
    this.store.flushSync();
  }

  /** The path of an app's `data` ("" root, "/live"...). */
  appPath(appPath: string): readonly string[] {
    return appPath.split('/').filter((s) => s !== '');
  }

  /** `view[key]`: a string (a Buffer when the bytes are not UTF-8), a boolean, a sub-view, or null. */
  get(view: readonly string[], key: string): DataValue | DataTableRef | null {
    return this.store.get([...view, key]);
  }

  /** `view[key] = value`; throws DataStoreError (or Error) for what MonaServer's rules refuse. */
  set(view: readonly string[], key: string, value: DataInput): void {
    if (value !== null) this.store.ensureTable(view);
    else if (this.store.kind(view) !== 'table') return;
    this.assign([...view, key], value, 0);
  }

  /** `#view`: entries holding a value (MonaServer does not count sub-tables). */
  count(view: readonly string[]): number {
    return this.store.count(view);
  }

  /** `pairs(view)`: the entries, sub-tables as DataTableRef. */
  entries(view: readonly string[]): Array<[string, DataValue | DataTableRef]> {
    const out: Array<[string, DataValue | DataTableRef]> = [];
    for (const k of this.store.keys(view)) {
      const v = this.store.get([...view, k]);
      if (v !== null) out.push([k, v]);
    }
    return out;
  }

  private assign(p: string[], value: DataInput, depth: number): void {
    if (!(value instanceof DataInputTable)) {
      this.store.set(p, value);
      return;
    }
    if (depth > MAX_DEPTH) throw new Error('data: table nested too deep');
    if (value.view) {
      if (value.view.join('/') === p.join('/')) return; // data.x = data.x
      // another view is copied from the store as it is now
      this.assign(p, this.snapshot(value.view, depth), depth);
      return;
    }
    if (this.store.kind(p) === 'table') this.store.delete(p);
    this.store.setTable(p);
    for (const [k, v] of value.entries) this.assign([...p, k], v, depth + 1);
  }

  private snapshot(view: readonly string[], depth: number): DataInputTable {
    if (depth > MAX_DEPTH) throw new Error('data: table nested too deep');
    const entries: Array<[string, DataInput]> = [];
    for (const [k, v] of this.entries(view)) {
      if (v instanceof DataTableRef) entries.push([k, this.snapshot(v.path, depth + 1)]);
      else entries.push([k, typeof v === 'number' ? String(v) : v]);
    }
    return new DataInputTable(entries);
  }
}
