import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AppInstance, EngineEntry } from './engine';

/**
 * One server application as the runtime tracks it, whatever its language: its folder, its
 * place in the tree, its instance in the engine its main file selects, and the state of its main
 * file and of the files it loaded, for hot reload.
 */
export class App {
  readonly children = new Map<string, App>();
  /** the app's environment in its engine (null until created, and after unload) */
  instance: AppInstance | null = null;
  /** the main file that ran ("main.lua"), null when the folder has none */
  mainName: string | null = null;
  /** "mtime:size" of that main file when it last ran, null when there was none */
  stamp: string | null = null;
  /**
   * Script files this app loaded (require/dofile/loadfile) from its folder or a parent's, with
   * their "mtime:size" when loaded (null: missing): a change reloads the app like its main file's.
   * Emptied when the main file reruns, which loads them again.
   */
  readonly deps = new Map<string, string | null>();
  /** Date.now() of the last look at the main file */
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

  /** The engine of the first main file (engines in registration order, each's names in order) in the folder, or null. */
  findMain(engines: readonly EngineEntry[]): EngineEntry | null {
    return this.mainFile(engines)?.entry ?? null;
  }

  /** The first main file in the folder and its engine, or null; `others` receives main files it hides. */
  mainFile(engines: readonly EngineEntry[], others?: string[]): { entry: EngineEntry; file: string } | null {
    let found: { entry: EngineEntry; file: string } | null = null;
    for (const entry of engines) {
      for (const file of [entry.mainFile, ...(entry.otherMainFiles ?? [])]) {
        if (fileStamp(path.join(this.dir, file)) === null) continue;
        if (!found) found = { entry, file };
        else if (others) others.push(file);
        else return found;
      }
    }
    return found;
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
