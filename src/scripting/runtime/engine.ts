/**
 * The contract between the script runtime (engine-neutral: app tree, dispatch, refusals, the API
 * object model) and a script engine binding (Lua today, JavaScript next). A binding implements
 * `ScriptEngine` and `AppInstance`; it reads method arguments through `Args` and writes values
 * through `Out`, which it implements for its own VM. Everything the scripts see as API objects is
 * declared once, as `ObjectClass` descriptors (model.ts), that a binding exposes generically.
 *
 * Performance rules every binding keeps, because media and RPC go through here per packet:
 *  - `Args` converts nothing it is not asked for: bytes are read as bytes (never through UTF-8),
 *    a number as a number; whole Values only when a method asks for `value()`.
 *  - `callMethod`/`callEvent` take a static argument writer plus its context (no closure per call)
 *    and build no result array when results are not wanted.
 */
import type { Value } from '../../serialization/value';
import type { App } from './app';
import type { ObjectClass } from './model';

/** A script failed (error raised, runtime error, interrupted): message "file:line: text" when it has a position. */
export class ScriptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScriptError';
  }
}

/** What an argument is, without converting it. */
export type ArgKind = 'none' | 'nil' | 'boolean' | 'number' | 'string' | 'table' | 'function' | 'object' | 'other';

/**
 * A call's arguments as a method or global function of the API receives them. Indices start at 1
 * and do not count `self` (for `mona:split(a, b)`, `a` is 1). Reading an index past the last
 * argument gives 'none' / undefined / null.
 */
export interface Args {
  /** number of arguments */
  count(): number;
  kind(i: number): ArgKind;
  /** a number argument (no coercion of strings); undefined otherwise */
  number(i: number): number | undefined;
  /** the argument's truth in the script language (nil and false are false) */
  boolean(i: number): boolean;
  /** a string argument as text (decoded as UTF-8), a number as the language prints it; null otherwise */
  text(i: number): string | null;
  /** a string argument's bytes, exactly (a number as its text); null otherwise. Never decoded. */
  bytes(i: number): Buffer | null;
  /** the argument as a wire Value (tables converted deeply, API objects and functions are null) */
  value(i: number): Value;
  /** arguments `from`..count() as Values */
  values(from: number): Value[];
  /** the JS object behind an API object argument of class `cls`, undefined otherwise */
  object<T extends object>(i: number, cls: ObjectClass<T>): T | undefined;
  /** the argument as the language's `tostring` prints it (log functions) */
  display(i: number): string;
  /** calls the function argument `i` with one string (MonaServer's optional error callbacks) */
  callback(i: number, message: string): void;
  /** "file:line" of the calling script, "" when unknown */
  where(): string;
  /** raises a script error in the caller, prefixed with its position; never returns */
  error(message: string): never;
}

/**
 * Writes values into the script: property values, method results, event arguments, pairs entries.
 * A writer of more than a handful of values (an unbounded list) reserves room for them first.
 */
export interface Out {
  /** makes room for `n` more values (a VM stack grows; a call with 15,000 arguments must work) */
  reserve(n: number): void;
  nil(): void;
  boolean(b: boolean): void;
  number(n: number): void;
  /** a JS string, as text */
  text(s: string): void;
  /** bytes as they are (the engine copies them if it must keep them) */
  bytes(b: Uint8Array): void;
  /**
   * bytes that nobody modifies afterwards (media payloads, shared by every listener): the engine
   * may keep them without a copy where its VM allows it
   */
  sharedBytes(b: Buffer): void;
  /** a wire Value: Tables become script tables (a `__time` Date gains MonaServer's date fields) */
  value(v: Value): void;
  /** the script object mirroring `obj` (the same one every time while the engine knows it) */
  object<T extends object>(cls: ObjectClass<T>, obj: T): void;
}

/** Writes a call's arguments: a static function plus its context, so that no closure is made per call. */
export type ArgWriter<C> = (out: Out, ctx: C) => void;

/** A call's results: the Values (when asked for), or null when the script defines no such function. */
export type CallResult = Value[] | null;

/**
 * A method's results that are not known yet: a JavaScript function that returned a Promise (an
 * async RPC). Only `ScriptEngine.callMethod` gives one; the runtime answers RPCs from it when it
 * settles, and logs the rejection of any other.
 */
export type PendingResult = Promise<Value[]>;

/** What an app's global holds when it is a function (`AppInstance.global`): call it with `callEvent`. */
export const APP_FUNCTION: unique symbol = Symbol('app function');

/** Results of a call whose results were not asked for (shared, never filled). */
export const NO_RESULTS: Value[] = Object.freeze([]) as unknown as Value[];

/**
 * One app in one engine: its environment of globals, linked to its parent's when the parent runs
 * in the same engine. Created by `ScriptEngine.createApp`, dropped with `unlink()`.
 */
export interface AppInstance {
  readonly engine: ScriptEngine;
  /**
   * Runs the app's main file in a clean environment (every global it set before is gone, modules
   * it required are forgotten). Throws ScriptError (syntax or runtime error).
   */
  run(code: Buffer, chunkName: string): void;
  /**
   * Calls the app's own global function `name` (defined by this app itself, not inherited: the
   * runtime walks the parents, across engines) with the arguments `write` writes. Returns its
   * results (NO_RESULTS when `results` is false), or null when this app defines no such function.
   * Throws ScriptError.
   */
  callEvent<C>(name: string, write: ArgWriter<C> | null, ctx: C, results: boolean): CallResult;
  /**
   * Runs a piece of code of this language in the app's environment and returns its results
   * (tests, consoles). Throws ScriptError.
   */
  evaluate(code: string, chunkName: string): Value[];
  /**
   * The app's own global `name` (not inherited) as apps of other engines read it (`super.x`): a
   * Value (tables copied; functions and API objects inside read as null), APP_FUNCTION when it is
   * a function, undefined when the app has no such global.
   */
  global(name: string): Value | typeof APP_FUNCTION | undefined;
  /** the app is unloaded: it leaves its parent's children and its environment is released */
  unlink(): void;
}

/**
 * A script engine binding: one VM (or realm) holding every app of its language. The runtime creates
 * it once through its `EngineEntry`, hands it the `Runtime` services, and talks to it only through
 * this interface.
 */
export interface ScriptEngine {
  /** "lua", "js" */
  readonly name: string;
  /** what runs the VM ("LuaJIT 2.1.0-beta3", "fengari (Lua 5.3)") */
  readonly version: string;
  /** ms one call from the server into scripts may run before it is interrupted (0 = no limit) */
  callBudgetMs: number;
  /** a new app instance; `parent` is the parent app's instance (maybe of another engine), null for the root */
  createApp(app: App, parent: AppInstance | null): AppInstance;
  /**
   * Calls `obj:name(...)` where `name` is a function scripts stored on obj's script object itself
   * (`function client:test()`, `function publication:onVideo()`): properties and methods of the
   * API are never called this way. Returns null when there is no such function, or when scripts
   * of this engine never saw obj. Throws ScriptError.
   */
  callMethod<T extends object, C>(cls: ObjectClass<T>, obj: T, name: string, write: ArgWriter<C> | null, ctx: C, results: boolean): CallResult | PendingResult;
  /**
   * true when callMethod(cls, obj, name) would find a function. Optional: an engine without it is
   * taken to have every method (callers that skip work on a false answer then never skip).
   */
  hasMethod?<T extends object>(cls: ObjectClass<T>, obj: T, name: string): boolean;
  /** true while obj has a script object in this engine */
  knows(obj: object): boolean;
  /** obj ends: its script object (scripts may still hold it) stops mirroring it */
  release(obj: object): void;
  close(): void;
}

/** One language: the main file that selects it and how its engine is made (one registration per language). */
export interface EngineEntry {
  name: string;
  /** "main.lua", "main.js"... an app folder holding it runs in this engine */
  mainFile: string;
  /** other main file names of the language, looked for after `mainFile` ("main.ts" for JavaScript) */
  otherMainFiles?: readonly string[];
  create(runtime: import('./runtime').Runtime): ScriptEngine;
}
