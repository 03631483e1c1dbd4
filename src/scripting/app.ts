import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * One server application as the JS side tracks it (SPEC S2): its folder, its Lua record (the
 * environment and proxy made by apps-lua.ts, held by a registry reference) and the state of its
 * main.lua for hot reload.
 */
export class App {
  readonly children = new Map<string, App>();
  /** registry reference of the Lua app record */
  recordRef = -1;
  /** registry reference of the app's environment table */
  envRef = -1;
  /** "mtime:size" of main.lua when it last ran, null when the app has no main.lua */
  stamp: string | null = null;
  /**
   * Lua files this app loaded with require/dofile/loadfile from its folder or a parent's, with
   * their "mtime:size" when loaded (null: missing): a change reloads the app like main.lua's.
   * Emptied when main.lua reruns, which loads them again.
   */
  readonly deps = new Map<string, string | null>();
  /** Date.now() of the last look at main.lua */
  lastCheck = 0;
  /** false once unloaded (folder deleted): late references are ignored */
  alive = true;

  constructor(
    /** "" for root, "/live", "/Games/myGame" */
    readonly path: string,
    readonly dir: string,
    readonly parent: App | null,
  ) {}

  /** last path segment ("" for root) */
  get name(): string {
    return this.path.slice(this.path.lastIndexOf('/') + 1);
  }

  get mainFile(): string {
    return path.join(this.dir, 'main.lua');
  }

  /** The current "mtime:size" of main.lua, null if it is missing. */
  readStamp(): string | null {
    return fileStamp(this.mainFile);
  }

  /** The first loaded file whose stamp changed since it was loaded, or null. */
  changedDep(): string | null {
    for (const [file, stamp] of this.deps) if (fileStamp(file) !== stamp) return file;
    return null;
  }

  folderExists(): boolean {
    try {
      return fs.statSync(this.dir).isDirectory();
    } catch {
      return false;
    }
  }
}

/** "mtime:size" of a file, null if it is missing or not a file: what hot reload compares. */
export function fileStamp(file: string): string | null {
  try {
    const st = fs.statSync(file);
    return st.isFile() ? `${st.mtimeMs}:${st.size}` : null;
  } catch {
    return null;
  }
}
