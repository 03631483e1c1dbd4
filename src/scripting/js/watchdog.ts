/**
 * Bounds the time a synchronous JavaScript handler may run (an infinite loop in an RPC), at the
 * cost of two stores in shared memory per call: a worker thread watches which call is running and,
 * when the same one has run for longer than the budget, pauses the main thread through the
 * inspector (at a JavaScript statement, wherever it is) and, if it is then in script code (not in
 * the server's code a script called), terminates that JavaScript execution. V8 unwinds the whole
 * stack of the current event-loop callback (the handler and the server's code that called it) and
 * the server goes on with the next event. vm's `timeout` option would do the same but starts a
 * thread per call (more than 100 µs each); Lua's budget works from the VM's own hook instead.
 *
 * What stays unbounded: code after an `await` (promise continuations run outside any call), and
 * callbacks a script hands to Node's APIs directly (sockets, fs); the app's timers are bounded.
 */
import type { Logger } from '../../logs/levels';

/** Shared cells: the call being watched (0: none), the budget in ms, the last call stopped. */
const ARMED = 0;
const BUDGET = 1;
const STOPPED = 2;

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const inspector = require('node:inspector');
const cells = new Int32Array(workerData.sab);
const session = new inspector.Session();
session.connectToMainThread();
const post = (method, params) => new Promise((resolve) => session.post(method, params || {}, (err, r) => resolve(err ? null : r)));
let seen = 0, since = 0, busy = false;
async function interrupt(seq) {
  busy = true;
  try {
    const paused = new Promise((resolve) => session.once('Debugger.paused', resolve));
    await post('Debugger.enable');
    await post('Debugger.pause');
    await paused;
    // the main thread is stopped at a statement: in script code exactly when the call is still armed
    const inScript = Atomics.load(cells, ${ARMED}) === seq;
    if (inScript) {
      Atomics.store(cells, ${STOPPED}, seq);
      await post('Runtime.terminateExecution');
    }
    await post('Debugger.resume');
    await post('Debugger.disable');
    if (inScript) parentPort.postMessage(seq);
  } finally {
    busy = false;
  }
}
setInterval(() => {
  const armed = Atomics.load(cells, ${ARMED});
  const budget = Atomics.load(cells, ${BUDGET});
  const now = Date.now();
  if (armed === 0 || armed !== seen) {
    seen = armed;
    since = now;
    return;
  }
  if (budget > 0 && !busy && armed !== Atomics.load(cells, ${STOPPED}) && now - since >= budget) interrupt(armed);
}, workerData.tick);
`;

export class Watchdog {
  private readonly cells = new Int32Array(new SharedArrayBuffer(12));
  private worker: import('node:worker_threads').Worker | null = null;
  private failed = false;
  private seq = 0;
  /** the call armed now (0: none; script code runs only while armed) */
  private armed = 0;
  /** what the armed call is ("onConnection", "client.test"...) */
  private what = '';
  private budget = 10_000;

  constructor(
    private readonly logger: Logger,
    /** a call was stopped: what it was */
    private readonly onInterrupt: (what: string) => void,
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
    this.settle();
    const outer = this.armed;
    const outerWhat = this.what;
    this.seq = (this.seq % 0x7ffffffe) + 1;
    this.armed = this.seq;
    this.what = what;
    Atomics.store(this.cells, ARMED, this.armed);
    try {
      return fn();
    } finally {
      this.armed = outer;
      this.what = outerWhat;
      Atomics.store(this.cells, ARMED, outer);
    }
  }

  /** Runs the server's code a script called (API methods, other engines): never interrupted. */
  outside<R>(fn: () => R): R {
    this.settle();
    const armed = this.armed;
    if (armed === 0) return fn();
    this.armed = 0;
    Atomics.store(this.cells, ARMED, 0);
    try {
      return fn();
    } finally {
      this.armed = armed;
      Atomics.store(this.cells, ARMED, armed);
    }
  }

  /** A call the worker stopped left its mark (its `finally` never ran): nothing is armed since. */
  private settle(): void {
    if (this.armed !== 0 && this.armed === Atomics.load(this.cells, STOPPED)) {
      this.armed = 0;
      Atomics.store(this.cells, ARMED, 0);
    }
  }

  private start(): void {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { Worker } = require('node:worker_threads') as typeof import('node:worker_threads');
      Atomics.store(this.cells, BUDGET, this.budget);
      const tick = Math.max(10, Math.min(250, Math.floor(this.budget / 4)));
      const worker = new Worker(WORKER, { eval: true, workerData: { sab: this.cells.buffer, tick } });
      worker.unref();
      worker.on('message', (seq: number) => {
        // the terminated stack never ran its `finally` blocks: nothing is armed any more
        const what = this.what;
        this.armed = 0;
        this.what = '';
        Atomics.store(this.cells, ARMED, 0);
        if (seq) this.onInterrupt(what || 'call');
      });
      worker.on('error', (e) => {
        this.failed = true;
        this.worker = null;
        this.logger.warn('Scripts', `JavaScript calls are not bounded in time: ${e.message}`);
      });
      this.worker = worker;
    } catch (e) {
      this.failed = true;
      this.logger.warn('Scripts', `JavaScript calls are not bounded in time: ${(e as Error).message}`);
    }
  }

  close(): void {
    this.worker?.terminate().catch(() => undefined);
    this.worker = null;
  }
}
