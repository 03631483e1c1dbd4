/**
 * The time bound of synchronous JavaScript handlers (an infinite loop in an RPC), at the cost of
 * a few stores in shared memory per call. A worker thread watches which call from the server is
 * running; when the same one has run for longer than the budget, it pauses the main thread through
 * the inspector (at the JavaScript statement it is at), and if that is script code, has the main
 * thread log the script's file:line at FATAL and exit (code 70, the exit handlers run: the log and
 * the data store are flushed) so that the service manager restarts the server. A stuck server
 * would otherwise stop serving everyone, silently, for good.
 *
 * Why not stop the handler and go on, as the Lua engines do from their VM's hook: V8 can only
 * *terminate* the JavaScript of the whole event-loop callback, and Node's own callback machinery
 * above the handler (timers, async hooks) then aborts the process anyway; vm's `timeout` unwinds
 * cleanly but starts a thread per call (more than 100 µs each, per RPC and per media packet).
 *
 * Not watched: code after an `await` (promise continuations run outside any call) and callbacks a
 * script hands to Node's APIs directly (sockets, fs); the app's timers are watched.
 */
import type { Logger } from '../../logs/levels';

/** Shared cells: the call being watched (0: none), nesting in server code, the budget in ms. */
const CALL = 0;
const INSIDE = 1;
const BUDGET = 2;

/** Exit code when a handler runs away (as an uncaught exception: an internal software error). */
export const RUNAWAY_EXIT_CODE = 70;

const WORKER = `
const { workerData } = require('node:worker_threads');
const inspector = require('node:inspector');
const cells = new Int32Array(workerData.sab);
const session = new inspector.Session();
session.connectToMainThread();
const post = (method, params) => new Promise((resolve) => session.post(method, params || {}, (err, r) => resolve(err ? null : r)));
let seen = 0, since = 0, busy = false;
const urls = new Map();
session.on('Debugger.scriptParsed', (e) => urls.set(e.params.scriptId, e.params.url));
async function probe(call, overdue) {
  busy = true;
  try {
    const paused = new Promise((resolve) => session.once('Debugger.paused', resolve));
    await post('Debugger.enable');
    await post('Debugger.pause');
    const frames = (await paused).params.callFrames;
    // the main thread is stopped at a statement: script code when not inside the server's code
    const inScript = Atomics.load(cells, ${INSIDE}) === 0;
    if (Atomics.load(cells, ${CALL}) === call && (inScript || overdue)) {
      const f = frames[0];
      const stack = frames.slice(0, 16).map((x) => ({ fn: x.functionName, file: urls.get(x.location.scriptId) || x.url || '?', line: x.location.lineNumber + 1 }));
      const expression = 'globalThis[Symbol.for(' + JSON.stringify(workerData.key) + ')](' + JSON.stringify(stack) + ', ' + inScript + ')';
      await post('Debugger.evaluateOnCallFrame', { callFrameId: f.callFrameId, expression });
    }
    await post('Debugger.resume');
    await post('Debugger.disable');
  } finally {
    busy = false;
  }
}
setInterval(() => {
  const call = Atomics.load(cells, ${CALL});
  const budget = Atomics.load(cells, ${BUDGET});
  const now = Date.now();
  if (call === 0 || call !== seen) {
    seen = call;
    since = now;
    return;
  }
  // past the budget; in server code (a Lua call has its own bound), given as long again
  if (budget > 0 && !busy && now - since >= budget) probe(call, now - since >= 2 * budget);
}, workerData.tick);
`;

let instances = 0;

/** A frame of the main thread's stack where the runaway handler was stopped. */
export interface StackFrame {
  fn: string;
  file: string;
  line: number;
}

export class Watchdog {
  private readonly cells = new Int32Array(new SharedArrayBuffer(12));
  private worker: import('node:worker_threads').Worker | null = null;
  private failed = false;
  private seq = 0;
  /** the outermost call from the server (0: none) and what it is ("client.test", "onConnection"...) */
  private call = 0;
  private what = '';
  private inside = 0;
  private budget = 10_000;
  private readonly key = `monats.watchdog.${process.pid}.${++instances}`;

  constructor(
    private readonly logger: Logger,
    /** a handler ran away: log it; the process exits after */
    private readonly onRunaway: (what: string, stack: StackFrame[], inScript: boolean) => void,
  ) {}

  get budgetMs(): number {
    return this.budget;
  }

  set budgetMs(ms: number) {
    this.budget = ms;
    Atomics.store(this.cells, BUDGET, ms);
  }

  /** Runs script code called from the server (`fn` calls into the script), watched. */
  run<R>(what: string, fn: () => R): R {
    if (this.budget <= 0) return fn();
    if (!this.worker && !this.failed) this.start();
    const outer = this.call === 0;
    if (outer) {
      this.seq = (this.seq % 0x7ffffffe) + 1;
      this.call = this.seq;
      this.what = what;
      Atomics.store(this.cells, CALL, this.call);
    }
    const inside = this.inside;
    if (inside) {
      // server code a script called has called into scripts again: script code runs
      this.inside = 0;
      Atomics.store(this.cells, INSIDE, 0);
    }
    try {
      return fn();
    } finally {
      if (inside) {
        this.inside = inside;
        Atomics.store(this.cells, INSIDE, inside);
      }
      if (outer) {
        this.call = 0;
        Atomics.store(this.cells, CALL, 0);
      }
    }
  }

  /** Runs the server's code a script called (API methods, other engines). */
  outside<R>(fn: () => R): R {
    if (this.call === 0) return fn();
    this.inside++;
    Atomics.store(this.cells, INSIDE, this.inside);
    try {
      return fn();
    } finally {
      this.inside--;
      Atomics.store(this.cells, INSIDE, this.inside);
    }
  }

  private start(): void {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    if ((require('node:inspector') as typeof import('node:inspector')).url()) {
      // a debugger may stop a handler at a breakpoint for as long as it likes
      this.failed = true;
      this.logger.info('Scripts', 'JavaScript handlers are not bounded in time while the inspector listens (--inspect)');
      return;
    }
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { Worker } = require('node:worker_threads') as typeof import('node:worker_threads');
      Atomics.store(this.cells, BUDGET, this.budget);
      // called by the worker on the main thread, stopped in the runaway handler
      (globalThis as Record<symbol, unknown>)[Symbol.for(this.key)] = (stack: StackFrame[], inScript: boolean) => {
        this.onRunaway(this.what || 'call', stack, inScript);
        process.exit(RUNAWAY_EXIT_CODE);
      };
      const tick = Math.max(10, Math.min(250, Math.floor(this.budget / 4)));
      const worker = new Worker(WORKER, { eval: true, workerData: { sab: this.cells.buffer, tick, key: this.key } });
      worker.unref();
      worker.on('error', (e) => {
        this.failed = true;
        this.worker = null;
        this.logger.warn('Scripts', `JavaScript handlers are not bounded in time: ${e.message}`);
      });
      this.worker = worker;
    } catch (e) {
      this.failed = true;
      this.logger.warn('Scripts', `JavaScript handlers are not bounded in time: ${(e as Error).message}`);
    }
  }

  close(): void {
    this.worker?.terminate().catch(() => undefined);
    this.worker = null;
    delete (globalThis as Record<symbol, unknown>)[Symbol.for(this.key)];
  }
}
