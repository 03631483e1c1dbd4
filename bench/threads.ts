/**
 * Prototypes for `threads = N` (docs/cluster.md, "threads"): what a script call costs when the one
 * script VM lives in another thread or process than the protocol code that calls it, against the
 * call made in-process as today (threads = 1).
 *
 *   npx tsc -p . && node dist/bench/threads.js [calls] [runs]
 *
 * The call is a small RPC as a protocol makes it (a number, a string and a table in; two values
 * out) on a fengari VM. Shapes:
 *   direct        the VM in the caller's thread (threads = 1 today); values pushed as they are
 *   sab           the VM in a worker thread; the caller writes AMF into a SharedArrayBuffer and
 *                 blocks in Atomics.wait until the answer is there (one process)
 *   fifo          the VM in another process; the caller writes AMF to a named pipe and blocks in
 *                 readSync on the answer pipe (works across the cluster module's processes)
 *   ipc           the VM in another process; process.send round trips without blocking, one at a
 *                 time (latency) and 64 in flight (throughput), as per-session queues would allow
 *   socket        the same over a unix socket with length-prefixed AMF frames (no JSON)
 * Each shape also runs with 2 callers on 2 cores against the one VM, in calls/s all callers
 * together (the VM serialises them: the question is what the hop leaves of one core's worth).
 * Figures are medians of `runs` runs; the machine is shared, so compare within one run.
 */
import { fork, execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { decodeArgs, encodeArgs } from '../src/cluster/codec';
import { Table, type Value } from '../src/serialization/value';

/* eslint-disable @typescript-eslint/no-explicit-any */
const fengari = require('fengari');
const { lua, lauxlib, lualib } = fengari;

const SCRIPT = `
calls = 0
function rpc(n, s, t)
  calls = calls + 1
  return n + t.a, s .. "!"
end
`;
const ARGS: Value[] = [41, 'hello', new Table([], { a: 1, b: 'x' })];

// ---- the VM side, shared by every shape ----

class VM {
  private L: any;
  constructor() {
    this.L = lauxlib.luaL_newstate();
    lualib.luaL_openlibs(this.L);
    if (lauxlib.luaL_dostring(this.L, fengari.to_luastring(SCRIPT)) !== 0) throw new Error('script');
  }

  private push(v: Value): void {
    const L = this.L;
    if (v === null) lua.lua_pushnil(L);
    else if (typeof v === 'number') lua.lua_pushnumber(L, v);
    else if (typeof v === 'boolean') lua.lua_pushboolean(L, v);
    else if (typeof v === 'string') lua.lua_pushstring(L, fengari.to_luastring(v));
    else if (Buffer.isBuffer(v)) lua.lua_pushstring(L, v);
    else {
      lua.lua_createtable(L, v.items.length, v.fields.size);
      v.items.forEach((item, i) => {
        this.push(item);
        lua.lua_rawseti(L, -2, i + 1);
      });
      for (const [k, item] of v.fields) {
        this.push(k as Value);
        this.push(item);
        lua.lua_rawset(L, -3);
      }
    }
  }

  private read(i: number): Value {
    const L = this.L;
    switch (lua.lua_type(L, i)) {
      case lua.LUA_TNUMBER:
        return lua.lua_tonumber(L, i);
      case lua.LUA_TSTRING:
        return fengari.to_jsstring(lua.lua_tostring(L, i));
      case lua.LUA_TBOOLEAN:
        return lua.lua_toboolean(L, i);
      default:
        return null;
    }
  }

  call(args: Value[]): Value[] {
    const L = this.L;
    lua.lua_getglobal(L, fengari.to_luastring('rpc'));
    for (const a of args) this.push(a);
    if (lua.lua_pcall(L, args.length, 2, 0) !== 0) throw new Error('rpc failed');
    const out = [this.read(-2), this.read(-1)];
    lua.lua_pop(L, 2);
    return out;
  }
}

function check(out: Value[]): void {
  if (out[0] !== 42 || out[1] !== 'hello!') throw new Error(`wrong answer ${JSON.stringify(out)}`);
}

// ---- SharedArrayBuffer slots: [state, length] + data per caller ----

const SLOT_BYTES = 4096;
const enum Slot {
  Idle = 0,
  Request = 1,
  Answer = 2,
}
/** control words: [0] = doorbell (bumped by callers), then per slot: state, length */
function slotViews(sab: SharedArrayBuffer, callers: number) {
  const ctrl = new Int32Array(sab, 0, 1 + callers * 2);
  const dataStart = Math.ceil(((1 + callers * 2) * 4) / 8) * 8;
  const data = (i: number) => Buffer.from(sab, dataStart + i * SLOT_BYTES, SLOT_BYTES);
  return { ctrl, data };
}

function sabCall(ctrl: Int32Array, data: Buffer, slot: number, args: Value[]): Value[] {
  const req = encodeArgs(args);
  req.copy(data);
  Atomics.store(ctrl, 2 + slot * 2, req.length);
  Atomics.store(ctrl, 1 + slot * 2, Slot.Request);
  Atomics.add(ctrl, 0, 1);
  Atomics.notify(ctrl, 0);
  while (Atomics.load(ctrl, 1 + slot * 2) !== Slot.Answer) Atomics.wait(ctrl, 1 + slot * 2, Slot.Request);
  const out = decodeArgs(Buffer.from(data.subarray(0, Atomics.load(ctrl, 2 + slot * 2))));
  Atomics.store(ctrl, 1 + slot * 2, Slot.Idle);
  return out;
}

function sabVMThread(sab: SharedArrayBuffer, callers: number): void {
  const { ctrl, data } = slotViews(sab, callers);
  const vm = new VM();
  const slots = Array.from({ length: callers }, (_, i) => data(i));
  for (;;) {
    const bell = Atomics.load(ctrl, 0);
    let served = false;
    for (let i = 0; i < callers; i++) {
      if (Atomics.load(ctrl, 1 + i * 2) !== Slot.Request) continue;
      const len = Atomics.load(ctrl, 2 + i * 2);
      if (len < 0) return; // stop
      const out = encodeArgs(vm.call(decodeArgs(Buffer.from(slots[i].subarray(0, len)))));
      out.copy(slots[i]);
      Atomics.store(ctrl, 2 + i * 2, out.length);
      Atomics.store(ctrl, 1 + i * 2, Slot.Answer);
      Atomics.notify(ctrl, 1 + i * 2);
      served = true;
    }
    if (!served) Atomics.wait(ctrl, 0, bell);
  }
}

// ---- named pipes: [u32 length][AMF] each way ----

function readExactly(fd: number, n: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  for (let pos = 0; pos < n; ) {
    const k = fs.readSync(fd, out, pos, n - pos, null);
    if (k === 0) throw new Error('pipe closed');
    pos += k;
  }
  return out;
}

function fifoCall(reqFd: number, resFd: number, args: Value[]): Value[] {
  const body = encodeArgs(args);
  const frame = Buffer.allocUnsafe(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  fs.writeSync(reqFd, frame);
  const len = readExactly(resFd, 4).readUInt32BE(0);
  return decodeArgs(readExactly(resFd, len));
}

/** The VM process for fifo and ipc: serves every caller's pipe pair asynchronously, one call at a time. */
function vmProcess(): void {
  const vm = new VM();
  process.on('message', (m: any) => {
    if (m.ipc) {
      process.send!({ id: m.id, out: encodeArgs(vm.call(decodeArgs(Buffer.from(m.ipc, 'base64')))).toString('base64') });
      return;
    }
    if (m.unix) {
      net
        .createServer((c) => {
          let pending: Buffer = Buffer.alloc(0);
          c.on('data', (chunk: Buffer) => {
            pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
            const outs: Buffer[] = [];
            while (pending.length >= 4 && pending.length >= 4 + pending.readUInt32BE(0)) {
              const len = pending.readUInt32BE(0);
              const out = encodeArgs(vm.call(decodeArgs(pending.subarray(4, 4 + len))));
              pending = Buffer.from(pending.subarray(4 + len));
              const head = Buffer.allocUnsafe(4);
              head.writeUInt32BE(out.length, 0);
              outs.push(head, out);
            }
            if (outs.length) c.write(Buffer.concat(outs));
          });
        })
        .listen(m.unix, () => process.send!({ listening: m.unix }));
      return;
    }
    if (m.fifo) {
      // acknowledge first: opening a pipe blocks until the other end opens it
      process.send!({ fifoAck: m.fifo[0] });
      setTimeout(() => serveFifo(vm, m.fifo[0], m.fifo[1]), 10);
    }
  });
  process.send!({ ready: true });
}

function serveFifo(vm: VM, reqPath: string, resPath: string): void {
  // the request pipe opens in the thread pool (it waits for the caller), the answer pipe after it
  fs.open(reqPath, 'r', (err, reqFd) => {
    if (err) throw err;
    {
      const stream = fs.createReadStream('', { fd: reqFd });
      const resFd = fs.openSync(resPath, 'w');
      let pending: Buffer = Buffer.alloc(0);
      stream.on('data', (chunk) => {
        pending = pending.length ? Buffer.concat([pending, chunk as Buffer]) : (chunk as Buffer);
        while (pending.length >= 4 && pending.length >= 4 + pending.readUInt32BE(0)) {
          const len = pending.readUInt32BE(0);
          const out = encodeArgs(vm.call(decodeArgs(pending.subarray(4, 4 + len))));
          pending = pending.subarray(4 + len);
          const frame = Buffer.allocUnsafe(4 + out.length);
          frame.writeUInt32BE(out.length, 0);
          out.copy(frame, 4);
          fs.writeSync(resFd, frame);
        }
      });
      stream.on('end', () => fs.closeSync(resFd));
    }
  });
}

/** A caller process for the 2-caller fifo run: blocks on its own pipe pair, reports calls/s. */
function fifoCallerProcess(reqPath: string, resPath: string, calls: number): void {
  const reqFd = fs.openSync(reqPath, 'w');
  const resFd = fs.openSync(resPath, 'r');
  for (let i = 0; i < calls / 5; i++) check(fifoCall(reqFd, resFd, ARGS)); // warm-up
  process.on('message', (m: any) => {
    if (m !== 'go') return;
    const t = performance.now();
    for (let i = 0; i < calls; i++) check(fifoCall(reqFd, resFd, ARGS));
    process.send!({ ms: performance.now() - t });
  });
  process.send!({ ready: true });
}

// ---- the harness ----

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function waitMessage(p: ChildProcess | Worker, pred: (m: any) => boolean): Promise<any> {
  return new Promise((resolve) => {
    const on = (m: any) => {
      if (!pred(m)) return;
      p.off('message', on);
      resolve(m);
    };
    p.on('message', on);
  });
}

interface Shape {
  name: string;
  /** calls made by one run (all callers together) */
  calls: number;
  /** one run; resolves with its wall time in ms */
  run(): Promise<number>;
  close(): Promise<void> | void;
}

function framed(body: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(4 + body.length);
  frame.writeUInt32BE(body.length, 0);
  body.copy(frame, 4);
  return frame;
}

async function vmChild(): Promise<ChildProcess> {
  const vm = fork(__filename, ['--role=vm'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await waitMessage(vm, (m) => m.ready);
  return vm;
}

async function directShapes(calls: number): Promise<Shape[]> {
  const vm = new VM();
  const loop = (fn: () => void) => async () => {
    const t = performance.now();
    for (let i = 0; i < calls; i++) fn();
    return performance.now() - t;
  };
  return [
    { name: 'direct (threads = 1)', calls, run: loop(() => check(vm.call(ARGS))), close() {} },
    // what any hop adds before anything crosses: AMF both ways around the same call
    { name: 'direct + AMF both ways', calls, run: loop(() => check(decodeArgs(encodeArgs(vm.call(decodeArgs(encodeArgs(ARGS))))))), close() {} },
  ];
}

async function sabShape(calls: number, callers: number): Promise<Shape> {
  const sab = new SharedArrayBuffer(64 + callers * SLOT_BYTES + 64);
  const vmThread = new Worker(__filename, { workerData: { role: 'sab-vm', sab, callers } });
  const name = `sab, ${callers} caller${callers > 1 ? 's' : ''}`;
  if (callers === 1) {
    const { ctrl, data } = slotViews(sab, 1);
    const slot = data(0);
    return {
      name,
      calls,
      async run() {
        const t = performance.now();
        for (let i = 0; i < calls; i++) check(sabCall(ctrl, slot, 0, ARGS));
        return performance.now() - t;
      },
      close: () => vmThread.terminate().then(() => undefined),
    };
  }
  const workers = Array.from({ length: callers }, (_, i) => new Worker(__filename, { workerData: { role: 'sab-caller', sab, callers, slot: i, calls } }));
  await Promise.all(workers.map((w) => waitMessage(w, (m) => m.ready)));
  return {
    name,
    calls: calls * callers,
    async run() {
      const done = workers.map((w) => waitMessage(w, (m) => m.ms !== undefined));
      for (const w of workers) w.postMessage('go');
      return Math.max(...(await Promise.all(done)).map((m) => m.ms as number));
    },
    async close() {
      await Promise.all([...workers, vmThread].map((w) => w.terminate()));
    },
  };
}

async function fifoShape(calls: number, callers: number, dir: string): Promise<Shape> {
  const vm = await vmChild();
  const pairs = Array.from({ length: callers }, (_, i) => {
    const req = path.join(dir, `req-${callers}-${i}`);
    const res = path.join(dir, `res-${callers}-${i}`);
    execFileSync('mkfifo', [req, res]);
    return [req, res] as [string, string];
  });
  for (const p of pairs) {
    const acked = waitMessage(vm, (m) => m.fifoAck === p[0]);
    vm.send({ fifo: p });
    await acked;
  }
  const name = `fifo, ${callers} caller${callers > 1 ? 's' : ''}`;
  if (callers === 1) {
    const reqFd = fs.openSync(pairs[0][0], 'w');
    const resFd = fs.openSync(pairs[0][1], 'r');
    return {
      name,
      calls,
      async run() {
        const t = performance.now();
        for (let i = 0; i < calls; i++) check(fifoCall(reqFd, resFd, ARGS));
        return performance.now() - t;
      },
      close() {
        fs.closeSync(reqFd);
        fs.closeSync(resFd);
        vm.kill();
      },
    };
  }
  const procs = pairs.map(([req, res]) => fork(__filename, ['--role=fifo-caller', req, res, String(calls)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  await Promise.all(procs.map((p) => waitMessage(p, (m) => m.ready)));
  return {
    name,
    calls: calls * callers,
    async run() {
      const done = procs.map((p) => waitMessage(p, (m) => m.ms !== undefined));
      for (const p of procs) p.send('go');
      return Math.max(...(await Promise.all(done)).map((m) => m.ms as number));
    },
    close() {
      for (const p of [...procs, vm]) p.kill();
    },
  };
}

async function ipcShape(calls: number, inFlight: number): Promise<Shape> {
  const vm = await vmChild();
  const req = encodeArgs(ARGS).toString('base64');
  return {
    name: `ipc, ${inFlight} in flight`,
    calls,
    run: () =>
      new Promise<number>((resolve) => {
        const t = performance.now();
        let sent = 0;
        let done = 0;
        const on = (m: any) => {
          check(decodeArgs(Buffer.from(m.out, 'base64')));
          if (++done === calls) {
            vm.off('message', on);
            resolve(performance.now() - t);
          } else if (sent < calls) vm.send({ id: sent++, ipc: req });
        };
        vm.on('message', on);
        for (; sent < Math.min(inFlight, calls); ) vm.send({ id: sent++, ipc: req });
      }),
    close: () => void vm.kill(),
  };
}

async function socketShape(calls: number, inFlight: number, dir: string): Promise<Shape> {
  const vm = await vmChild();
  const sockPath = path.join(dir, `vm-${inFlight}.sock`);
  const listening = waitMessage(vm, (m) => m.listening === sockPath);
  vm.send({ unix: sockPath });
  await listening;
  const sock = net.connect(sockPath);
  await new Promise((r) => sock.once('connect', r));
  const frame = framed(encodeArgs(ARGS));
  return {
    name: `socket, ${inFlight} in flight`,
    calls,
    run: () =>
      new Promise<number>((resolve) => {
        const t = performance.now();
        let sent = 0;
        let done = 0;
        let pending: Buffer = Buffer.alloc(0);
        const on = (chunk: Buffer) => {
          pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
          let answers = 0;
          while (pending.length >= 4 && pending.length >= 4 + pending.readUInt32BE(0)) {
            const len = pending.readUInt32BE(0);
            check(decodeArgs(pending.subarray(4, 4 + len)));
            pending = Buffer.from(pending.subarray(4 + len));
            answers++;
          }
          done += answers;
          if (done === calls) {
            sock.off('data', on);
            resolve(performance.now() - t);
            return;
          }
          const more = Math.min(answers, calls - sent);
          if (more > 0) {
            sock.write(more === 1 ? frame : Buffer.concat(Array(more).fill(frame)));
            sent += more;
          }
        };
        sock.on('data', on);
        sent = Math.min(inFlight, calls);
        sock.write(Buffer.concat(Array(sent).fill(frame)));
      }),
    close() {
      sock.destroy();
      vm.kill();
    },
  };
}

async function main(): Promise<void> {
  const calls = Number(process.argv[2] ?? 20_000);
  const runs = Number(process.argv[3] ?? 5);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'threads-bench-'));
  const shapes: Shape[] = [];
  try {
    shapes.push(...(await directShapes(calls)));
    for (const callers of [1, 2]) shapes.push(await sabShape(calls, callers));
    for (const callers of [1, 2]) shapes.push(await fifoShape(calls, callers, dir));
    for (const n of [1, 64]) shapes.push(await ipcShape(calls, n));
    for (const n of [1, 64]) shapes.push(await socketShape(calls, n, dir));
    // runs interleaved across shapes, so that the machine's load moves every shape alike; the
    // first run of each warms the JIT up and is dropped
    const times = shapes.map(() => [] as number[]);
    for (let r = 0; r <= runs; r++) {
      for (let i = 0; i < shapes.length; i++) {
        const ms = await shapes[i].run();
        if (r > 0) times[i].push(ms);
        if (process.env.BENCH_TRACE) console.error(shapes[i].name, ms.toFixed(1));
      }
    }
    const us = shapes.map((sh, i) => (median(times[i]) * 1000) / sh.calls);
    console.log(`${calls} calls a caller x ${runs} runs interleaved, median; ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)}`);
    console.log('| shape | µs per call | calls/s | cost vs direct |');
    console.log('|---|---:|---:|---:|');
    shapes.forEach((sh, i) =>
      console.log(`| ${sh.name} | ${us[i].toFixed(2)} | ${Math.round(1e6 / us[i]).toLocaleString('en')} | ${(us[i] / us[0]).toFixed(1)}x |`),
    );
  } finally {
    for (const sh of shapes) await sh.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (!isMainThread) {
  const { role, sab, callers, slot, calls } = workerData as { role: string; sab: SharedArrayBuffer; callers: number; slot: number; calls: number };
  if (role === 'sab-vm') sabVMThread(sab, callers);
  else {
    const { ctrl, data } = slotViews(sab, callers);
    const mine = data(slot);
    for (let i = 0; i < calls / 5; i++) check(sabCall(ctrl, mine, slot, ARGS)); // warm-up
    parentPort!.on('message', () => {
      const t = performance.now();
      for (let i = 0; i < calls; i++) check(sabCall(ctrl, mine, slot, ARGS));
      parentPort!.postMessage({ ms: performance.now() - t });
    });
    parentPort!.postMessage({ ready: true });
  }
} else if (process.argv[2] === '--role=vm') vmProcess();
else if (process.argv[2] === '--role=fifo-caller') fifoCallerProcess(process.argv[3], process.argv[4], Number(process.argv[5]));
else
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
