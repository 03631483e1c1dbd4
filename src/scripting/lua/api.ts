/**
 * The Lua engine as the Lua binding sees it: the subset of the Lua C API our binding uses, on one
 * Lua state, implemented twice: by LuaJIT through our native addon (the engine of choice: the VM
 * MonaServer embeds) and by fengari (pure JavaScript, the fallback where the addon cannot be built).
 * Everything above this interface (value conversion, script objects, the app tree's Lua side, the
 * `data` proxies) is written once against it.
 *
 * Conventions, identical on both engines:
 *  - Stack indices as in C: positive from the bottom of the current frame, negative from the top.
 *  - Type codes are Lua 5.1's, which Lua 5.3 kept: NONE -1, NIL 0, BOOLEAN 1, LIGHTUSERDATA 2,
 *    NUMBER 3, STRING 4, TABLE 5, FUNCTION 6, USERDATA 7, THREAD 8 (see LuaType).
 *  - Strings cross as bytes. Arguments typed `LuaText` accept a JS string (pushed as UTF-8) or
 *    bytes (pushed as they are); strings read back are `Uint8Array` views (a `Buffer` on LuaJIT)
 *    that the caller must not modify and must copy if it keeps them beyond the current call.
 *  - Numbers are doubles (LuaJIT has no integer subtype; the fengari adapter keeps floats too).
 *  - A JS function pushed with `pushfunction` receives this API object, reads its arguments from
 *    the stack (1..gettop()), pushes its results and returns their count. While it runs, every
 *    call on the API object works on the thread that called it (a coroutine's stack when it is
 *    called from inside a coroutine), and the caller's thread is current again when it returns. To raise a Lua error it
 *    calls `error()` (error value on the top) or `errorMessage(text)`, which throw a JS exception
 *    that the engine turns into the Lua error: no longjmp ever crosses JavaScript frames. Any
 *    other JS exception thrown by such a function becomes a Lua error whose value is the
 *    exception's message (and is reported to `onNativeError`).
 *  - `pcall` from JavaScript is the only way into Lua code. The outermost one (depth 0) starts the
 *    call budget: once a call runs longer than `callBudgetMs`, the engine interrupts it with an
 *    error that `pcall` inside Lua cannot swallow (status ERRRUN, message
 *    "script interrupted: still running after N ms", prefixed with "file:line: " of the
 *    interrupted code when known), including inside JIT-compiled loops. The budget in force is
 *    read when the outermost call starts and counts time spent in JS functions Lua calls. A nested
 *    pcall made while the call is being interrupted returns ERRRUN too, and once the interrupt has
 *    been raised the outermost pcall reports it (ERRRUN, that message) even if something on the
 *    way out turned it into a value (a JS function catching it, load returning it).
 *  - Allocation beyond `memoryLimit` bytes fails inside Lua with "not enough memory" (status
 *    ERRMEM when it reaches the outermost pcall). fengari cannot enforce it (a JS VM has no
 *    allocator hook) and reports the process's JS heap as `memoryUsed()`.
 *  - A new state has Lua's standard libraries plus what LuaJIT has natively: the `bit` library,
 *    `collectgarbage` with every LuaJIT option ("collect", "count", "step", "stop", "restart",
 *    "setpause", "setstepmul", "isrunning"; an unknown option is an error), and a `table.pack`
 *    whose `#` is LuaJIT's (`#table.pack(3.7, {}, nil, "hello") == 4`), and Lua 5.2's metamethods
 *    on tables: `pairs` honouring `__pairs`, `#` honouring `__len` (as MonaServer's LuaJIT, built
 *    with its 5.2 switch; the binding's API objects and `data` rely on them). The 5.1/5.2 functions
 *    written in Lua (unpack, loadstring, module...) are the binding's (compat.ts), on both engines.
 *
 * Errors of the operations themselves:
 *  - Both engines: an operation that runs into a Lua error (out of memory, an error raised by a
 *    metamethod that getfield/setfield/getglobal/setglobal/tostring triggered, a nil or NaN table
 *    index, an invalid key given to next) throws out of the operation; inside a JS function called
 *    from Lua, letting it propagate out of the function raises that same Lua error (same value,
 *    same status) in Lua, and catching it in JS swallows it, as pcall would. A JS function returns
 *    an integer from 0 to gettop() (LuaJIT makes anything else a Lua error).
 *  - LuaJIT (checked by its tests and fuzzing): the thrown Error's message is the error's text
 *    ("(error object is a table value)" for non-strings), its `luaStatus` the LuaStatus, and the
 *    stack is as it was before the operation. An index that names no stack slot (0, past the top,
 *    below the bottom) throws a RangeError (`type()` answers NONE), a wrong argument type (a
 *    non-number index, a key neither string nor Uint8Array) a TypeError, raw access
 *    (rawget/rawset/rawgeti/rawseti/next) to a non-table a TypeError; the stack is unchanged. The
 *    five operations that may run metamethods are under the call budget like a pcall when they
 *    run outside any call.
 *  - fengari: indices are not checked (an invalid one is undefined behaviour), and an operation's
 *    Lua error outside any call throws fengari's "PANIC: unprotected error in call to Lua API (...)"
 *    with the stack left as it was when the error happened. Binding code therefore keeps its
 *    indices valid and runs anything that may fail inside pcall.
 */

/** A string argument: JS text (UTF-8) or raw bytes. */
export type LuaText = string | Uint8Array;

/** A JavaScript function callable from Lua. */
export type LuaJSFunction = (api: LuaAPI) => number;

export const LuaType = {
  NONE: -1,
  NIL: 0,
  BOOLEAN: 1,
  LIGHTUSERDATA: 2,
  NUMBER: 3,
  STRING: 4,
  TABLE: 5,
  FUNCTION: 6,
  USERDATA: 7,
  THREAD: 8,
} as const;

/** pcall/load status codes (0 = success); the numbers differ between 5.1 and 5.3, so compare to these. */
export const LuaStatus = {
  OK: 0,
  /** a runtime error (including an interrupted call) */
  ERRRUN: 2,
  ERRSYNTAX: 3,
  ERRMEM: 4,
  /** error in the error handler */
  ERRERR: 5,
} as const;

/** pcall's nresults for "all of them". */
export const LUA_MULTRET = -1;

export interface LuaAPI {
  /** "luajit" or "fengari", and the VM's own version text ("LuaJIT 2.1.0-beta3", "Lua 5.3") */
  readonly engine: 'luajit' | 'fengari';
  readonly version: string;

  /** ms an outermost pcall may run before it is interrupted; 0 = no limit */
  callBudgetMs: number;
  /** bytes the state may allocate; 0 = no limit */
  memoryLimit: number;
  /** bytes currently allocated by the state */
  memoryUsed(): number;
  /** where JS exceptions thrown by pushed functions are reported (besides becoming Lua errors) */
  onNativeError: (e: unknown) => void;

  // ---- stack ----
  gettop(): number;
  settop(index: number): void;
  pushvalue(index: number): void;
  remove(index: number): void;
  /** moves the top element to `index`, shifting up the elements above */
  insert(index: number): void;
  absindex(index: number): number;
  /** makes room for `n` more slots (a call with 15,000 arguments must work; up to about 60,000 slots in all); false if impossible */
  checkstack(n: number): boolean;
  /**
   * LuaType code of the value at `index` (NONE for an invalid index). LuaJIT also answers 10 for
   * its FFI "cdata" (64-bit integer literals such as `1LL`), which binding code treats as opaque.
   */
  type(index: number): number;
  typename(type: number): string;

  // ---- push ----
  pushnil(): void;
  pushnumber(n: number): void;
  pushboolean(b: boolean): void;
  pushstring(s: LuaText): void;
  /**
   * Pushes bytes as a Lua string; the caller guarantees they are never modified afterwards (media
   * payloads), so the engine may keep them without a copy where its VM allows (fengari does;
   * LuaJIT interns strings and copies, like pushstring).
   */
  pushsharedstring(bytes: Uint8Array): void;
  pushfunction(fn: LuaJSFunction): void;
  createtable(narr: number, nrec: number): void;

  // ---- read ----
  tonumber(index: number): number;
  toboolean(index: number): boolean;
  /**
   * Bytes of a string, or of a number converted in place to a string as lua_tolstring does (so
   * never on a key during `next`); null for other types.
   */
  tolstring(index: number): Uint8Array | null;
  /** lua_objlen / lua_rawlen: length of a string, border of a table (no __len) */
  rawlen(index: number): number;
  /** identity of a table/function for the duration of one conversion (cycle detection); never stored */
  topointer(index: number): unknown;
  /** `tostring(v)` as Lua's tostring would produce it (honours __tostring), as JS text */
  tostring(index: number): string;

  // ---- tables ----
  getfield(index: number, key: LuaText): void;
  setfield(index: number, key: LuaText): void;
  rawget(index: number): void;
  rawset(index: number): void;
  rawgeti(index: number, n: number): void;
  rawseti(index: number, n: number): void;
  /** pops a key, pushes the next key and value; false (pushing nothing) at the end */
  next(index: number): boolean;
  /** pops a table and sets it as the metatable of the value at `index` */
  setmetatable(index: number): void;
  /** pushes the metatable of the value at `index` and returns true, or pushes nothing and returns false */
  getmetatable(index: number): boolean;
  getglobal(name: LuaText): void;
  setglobal(name: LuaText): void;

  // ---- durable identity of the tables that mirror JS objects ----
  /** tags the table at `index` with a positive integer id (0 clears it) */
  settag(index: number, id: number): void;
  /** the id the table at `index` was tagged with, 0 if none or not a table */
  gettag(index: number): number;

  // ---- registry references ----
  /** pops the top value into the registry, returns its reference */
  ref(): number;
  pushref(ref: number): void;
  unref(ref: number): void;

  // ---- calls ----
  /** protected call of the function below `nargs` arguments; returns a LuaStatus code, error value on the top */
  pcall(nargs: number, nresults: number): number;
  /** compiles a chunk (text or bytecode), pushes the function or the error message; returns a LuaStatus code */
  load(code: Uint8Array, chunkName: string): number;
  /** raises the value on the top as a Lua error (only inside a function pushed with pushfunction) */
  error(): never;
  /** raises `message` prefixed with the calling script's "file:line: " position */
  errorMessage(message: string): never;
  /** "file:line" of the Lua function `level` levels up the stack (0 = current), "" if none */
  where(level: number): string;

  /** runs a full garbage collection and returns the bytes in use after it */
  gc(): number;
  close(): void;
}
