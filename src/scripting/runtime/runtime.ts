import type { ServerContext } from '../../core/context';
import type { Value } from '../../serialization/value';
import type { App } from './app';
import type { APP_FUNCTION, ArgWriter, CallResult } from './engine';
import type { DataBinding } from './data';
import type { GlobalFunction, ObjectClass } from './model';
import type { MonaObject } from './mona';
import type { ApiObjects } from './objects';

/** A script file found for require/dofile/loadfile. */
export interface ScriptFile {
  code: Buffer;
  /** the name errors give it: "www/Games/lib.lua" */
  chunkName: string;
}

/**
 * What the runtime offers an engine binding: the API object model to expose, the globals every app
 * sees, the `data` store, and the app tree services its language-side code calls.
 */
export interface Runtime {
  readonly ctx: ServerContext;
  /** client, writer, publication, listener, QoS and the collections */
  readonly objects: ApiObjects;
  /** the global `mona` */
  readonly mona: { readonly cls: ObjectClass<MonaObject>; readonly obj: MonaObject };
  /** other global functions (log functions) */
  readonly globals: Readonly<Record<string, GlobalFunction>>;
  readonly data: DataBinding;
  /**
   * The app `rel` below `app` ("name", or a nested path "a/b" as `children("a/b")` takes it),
   * loaded now with the apps between; null when no such folder (or a path leaving the tree).
   */
  descendant(app: App, rel: string): App | null;
  /**
   * `file` (relative to the folder of `app`, or absolute) for `requester`'s require/dofile/loadfile:
   * null when it cannot be read. A file in the www/ tree is watched: when it changes, `requester`
   * reloads like its main file.
   */
  readFile(app: App, file: string, requester: App): ScriptFile | null;
  /**
   * `app`'s global `name`, or else its nearest parent's, whatever their engines (an app of one
   * language reading `super.x` of another): undefined when none has it.
   */
  readApp(app: App, name: string): Value | typeof APP_FUNCTION | undefined;
  /**
   * Calls `app`'s global function `name`, or else its nearest parent's (whatever their engines),
   * with what `write` writes: its results, or null when none defines it. Throws ScriptError.
   */
  callApp<C>(app: App, name: string, write: ArgWriter<C> | null, ctx: C): CallResult;
  /** logs a script error (file:line as its source) */
  logError(e: unknown): void;
  /** a JS exception thrown inside a call from a script (a bug of ours, besides the script error it becomes) */
  nativeError(e: unknown): void;
}
