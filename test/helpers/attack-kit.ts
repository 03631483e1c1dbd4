/**
 * What the attack campaign (test/helpers/attacks.ts) runs on: the real server executable in a child
 * process (its memory and CPU are its own, read from /proc), a healthy client timed while an attack
 * runs (a static file over HTTP on a fresh connection, an RPC over WebSocket, an RTMP play of a
 * publication fed from this process), raw sockets and frames for the attackers. Loopback only.
 * Nothing here imports node:test: bench/attacks.ts runs the same code.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import WebSocket from 'ws';
import { encodeMaskedFrame } from '../../src/protocols/websocket/frames';
import { RTMPClient } from '../../src/protocols/rtmp/client';
import { MessageType } from '../../src/protocols/rtmp/constants';
import { freePorts, startCli, writeIni, type Ports, type RunningChild } from './cli';

/** RSS growth an attack may cost the server (the figure). */
export const MEMORY_BOUND_MB = 150;
/** Slowest answer the healthy client may see during an attack: generous for a loaded 2-core machine; the servers these attacks froze took minutes. */
export const LATENCY_BOUND_MS = 5000;

/**
 * The application every attack target serves at /app: echo/set/get for the RPC probe and the RPC
 * batch, runaway calls for the script attack, `put` for the durability attack.
 */
export const APP_LUA = `
function onConnection(client)
  function client:echo(x) return x end
  function client:set(v) stored = v end
  function client:get() return stored end
  function client:put(k, v) data[k] = v; return k end
  function client:spin() while true do end end
  function client:swallow() pcall(function() while true do end end) return "unreachable" end
  function client:nested() while true do pcall(function() local x = 0 for i = 1, 1e12 do x = x + i end end) end end
  function client:hog() local s = string.rep("x", 2^30) return #s end
  function client:grow() local s = "x" for i = 1, 40 do s = s .. s end return #s end
  function client:pattern() return string.find(("a"):rep(60), ("a-"):rep(30) .. "b") end
end
`;

export interface TargetOptions {
  /** ini lines added after the ports */
  ini?: string;
  /** a shell line run before the server (`ulimit -n 256`) */
  shell?: string;
  /** RTMFP on (UDP, same port number as RTMP's free port pick) */
  rtmfp?: boolean;
  /** node's inspector on a loopback port: process.memoryUsage() and a forced collection (the benchmark) */
  inspect?: boolean;
  /** environment added (MALLOC_ARENA_MAX, MONATS_LUA_ENGINE) */
  env?: Record<string, string>;
}

export interface Target {
  dir: string;
  ports: Ports;
  proc: RunningChild;
  pid: number;
  /** the server's resident memory now (MB), 0 once it is gone */
  rssMB(): number;
  /** CPU seconds the server used so far (user + system) */
  cpuSeconds(): number;
  alive(): boolean;
  /** the Lua engine the server opened ("LuaJIT 2.1…", "fengari…") */
  engine(): string;
  inspector: Inspector | null;
  /** kills the server (SIGKILL) and waits for it to be gone */
  kill(): Promise<void>;
  /** kill(), then the temp folder removed */
  stop(): Promise<void>;
}

const live = new Set<Target>();
process.on('exit', () => {
  for (const t of live) {
    t.proc.kill();
    fs.rmSync(t.dir, { recursive: true, force: true });
  }
});

function procStatus(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/status`, 'latin1');
  } catch {
    return '';
  }
}

export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(procStatus(pid));
  return m ? Number(m[1]) / 1024 : 0;
}

export function cpuOf(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime, fields 14 and 15, in clock ticks (100 a second on Linux)
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** The server executable on free loopback ports with /app (APP_LUA), /a.txt ("hello"), /big.bin (60 KB). */
export async function startTarget(options: TargetOptions = {}): Promise<Target> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'monats-attack-'));
  fs.mkdirSync(path.join(dir, 'www', 'app'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'www', 'app', 'main.lua'), APP_LUA);
  fs.writeFileSync(path.join(dir, 'www', 'a.txt'), 'hello');
  fs.writeFileSync(path.join(dir, 'www', 'big.bin'), Buffer.alloc(60 * 1024, 7));
  const ports = await freePorts();
  const ini = writeIni(dir, { ...ports, rtmfp: options.rtmfp ? ports.rtmfp : 0, rtsp: 0 }, options.ini ?? '');
  const nodeArgs = options.inspect ? ['--inspect=127.0.0.1:0'] : [];
  const proc = startCli(['--config=' + ini], dir, undefined, options.shell, { nodeArgs, env: options.env });
  const pid = proc.child.pid!;
  let gone = false;
  const target: Target = {
    dir,
    ports,
    proc,
    pid,
    rssMB: () => (gone ? 0 : rssOf(pid)),
    cpuSeconds: () => cpuOf(pid),
    alive: () => proc.child.exitCode === null && proc.child.signalCode === null,
    engine: () => /apps run on (.+)/.exec(proc.output())?.[1]?.trim() ?? '?',
    inspector: null,
    kill: async () => {
      target.inspector?.close();
      proc.kill();
      await proc.exited;
      gone = true;
    },
    stop: async () => {
      await target.kill();
      live.delete(target);
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
    },
  };
  live.add(target);
  try {
    await proc.waitFor(/HTTP server started on/);
    await proc.waitFor(/RTMP server started on/);
    if (options.rtmfp) await proc.waitFor(/RTMFP server started on/);
    if (options.inspect) {
      const url = /Debugger listening on (ws:\/\/\S+)/.exec(await proc.waitFor(/Debugger listening on ws:\/\/\S+/))![1];
      target.inspector = await Inspector.open(url);
    }
  } catch (e) {
    await target.stop();
    throw e;
  }
  return target;
}

/**
 * A client of node's inspector protocol (the benchmark starts the server with --inspect on
 * loopback): reads process.memoryUsage() and forces a full collection, without a flag in the server.
 */
export class Inspector {
  private next = 1;
  private readonly pending = new Map<number, (result: unknown) => void>();
  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (m) => {
      const msg = JSON.parse(m.toString()) as { id?: number; result?: unknown };
      if (msg.id === undefined) return;
      this.pending.get(msg.id)?.(msg.result);
      this.pending.delete(msg.id);
    });
    ws.on('error', () => {});
  }

  static open(url: string): Promise<Inspector> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.once('open', () => resolve(new Inspector(ws)));
      ws.once('error', reject);
    });
  }

  send(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`inspector: no answer to ${method}`)), 30_000);
      this.pending.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  async memoryUsage(): Promise<NodeJS.MemoryUsage> {
    const r = (await this.send('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true })) as { result: { value: string } };
    return JSON.parse(r.result.value) as NodeJS.MemoryUsage;
  }

  /** A full garbage collection in the server (what an idle V8 would do eventually). */
  async collect(): Promise<void> {
    await this.send('HeapProfiler.collectGarbage');
  }

  close(): void {
    this.ws.terminate();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Samples the server's RSS every 100 ms until stop(); stop() gives the peak growth over the baseline (MB). */
export function rssWatch(target: Target): { grown(): number; stop(): number } {
  const base = target.rssMB();
  let peak = base;
  const sample = () => {
    if (target.alive()) peak = Math.max(peak, target.rssMB());
  };
  const timer = setInterval(sample, 100);
  return {
    grown: () => {
      sample();
      return peak - base;
    },
    stop: () => {
      clearInterval(timer);
      sample();
      return peak - base;
    },
  };
}

/** One GET on a fresh connection from `localAddress`; resolves with the milliseconds it took (rejects past `timeoutMs`). */
export function timedGet(port: number, file = '/a.txt', timeoutMs = 30_000, localAddress = '127.0.0.1'): Promise<number> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress });
    let text = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`GET ${file}: no answer in ${timeoutMs} ms`));
    }, timeoutMs);
    s.on('data', (d) => {
      text += d.toString('latin1');
      if (/\r\n\r\nhello$/.test(text)) {
        clearTimeout(timer);
        s.destroy();
        resolve(Date.now() - started);
      }
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on('close', () => {
      clearTimeout(timer);
      reject(new Error(`GET ${file}: closed without an answer (${JSON.stringify(text.slice(0, 80))})`));
    });
    s.write(`GET ${file} HTTP/1.1\r\nHost: t\r\n\r\n`);
  });
}

export interface RPCClient {
  /** one `["echo", n]` round trip; resolves with its milliseconds */
  echo(): Promise<number>;
  /** one call, resolves with the answer (an array, `["__error", text]` for a failure) */
  call(...call: unknown[]): Promise<unknown[]>;
  ws: WebSocket;
  close(): void;
}

/** A WebSocket client of /app: one call at a time, answers in order. */
export async function rpcClient(port: number, timeoutMs = 30_000, localAddress = '127.0.0.1'): Promise<RPCClient> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/app/`, { localAddress });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.on('error', () => {});
  let n = 0;
  const call = (...args: unknown[]) =>
    new Promise<unknown[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.off('message', onMessage);
        reject(new Error(`RPC ${String(args[0])} over WebSocket: no answer in ${timeoutMs} ms`));
      }, timeoutMs);
      const onMessage = (d: WebSocket.RawData) => {
        clearTimeout(timer);
        ws.off('message', onMessage);
        resolve(JSON.parse(d.toString()) as unknown[]);
      };
      ws.on('message', onMessage);
      ws.send(JSON.stringify(args));
    });
  return {
    ws,
    call,
    echo: async () => {
      const started = Date.now();
      const id = ++n;
      const answer = await call('echo', id);
      if (JSON.stringify(answer) !== `[${id}]`) throw new Error(`echo ${id} answered ${JSON.stringify(answer)}`);
      return Date.now() - started;
    },
    close: () => ws.terminate(),
  };
}

/** A publisher sending a small key frame every 40 ms, numbered, and a player of it timing each frame's trip. */
export async function rtmpProbe(port: number, stream = 'healthy'): Promise<{ worst(): number; frames(): number; stop(): Promise<void> }> {
  const publisher = new RTMPClient({ port });
  const player = new RTMPClient({ port });
  try {
    await publisher.connect('app');
    const pid = await publisher.createStream();
    publisher.command('publish', [stream], pid);
    await publisher.status(pid, 'NetStream.Publish.Start');
    await player.connect('app');
    const vid = await player.createStream();
    player.command('play', [stream], vid);
    await player.status(vid, 'NetStream.Play.Start');
    const sent: number[] = [];
    let first = -1;
    let last = -1;
    let worst = 0;
    let frames = 0;
    player.onMessage = (m) => {
      player.messages.length = 0; // counted here, not kept
      if (m.type !== MessageType.Video || m.payload.length < 9) return;
      const seq = m.payload.readUInt32BE(5);
      if (first < 0) first = seq;
      if (seq <= last) return;
      last = seq;
      frames++;
      worst = Math.max(worst, Date.now() - sent[seq]);
    };
    const timer = setInterval(() => {
      const payload = Buffer.alloc(9);
      payload.set([0x17, 1, 0, 0, 0]);
      payload.writeUInt32BE(sent.length, 5);
      sent.push(Date.now());
      publisher.messages.length = 0;
      publisher.sendVideo(pid, sent.length * 40, payload);
    }, 40);
    await player.until(() => first >= 0, 10_000, 'the first frame of the healthy RTMP stream');
    /** the slowest trip so far, counting the wait of a frame sent and not yet received */
    const lagging = () => {
      const next = last + 1;
      return next < sent.length ? Date.now() - sent[next] : 0;
    };
    return {
      worst: () => Math.max(worst, lagging()),
      frames: () => frames,
      stop: async () => {
        clearInterval(timer);
        await Promise.all([publisher.close(), player.close()]);
      },
    };
  } catch (e) {
    await Promise.all([publisher.close(), player.close()]);
    throw e;
  }
}

export interface Health {
  /** slowest of the three (ms) */
  worst: number;
  file: number;
  rpc: number;
  rtmp: number;
  /** rounds of the file and RPC checks done */
  rounds: number;
  /** RTMP frames received */
  frames: number;
  failures: string[];
}

export interface ProbeOptions {
  /** the static file is also fetched while the attack runs (false: the attack holds every descriptor) */
  fileDuringAttack?: boolean;
}

/**
 * The healthy client: the static file (fresh connection) and an RPC every 300 ms, an RTMP play all
 * along. stop() resolves with the slowest answers; failures are collected, not thrown.
 */
export async function healthProbe(target: Target, options: ProbeOptions = {}): Promise<{ stop(): Promise<Health> }> {
  const port = target.ports.http;
  const rpc = await rpcClient(port);
  const rtmp = await rtmpProbe(target.ports.rtmp);
  const h: Health = { worst: 0, file: 0, rpc: 0, rtmp: 0, rounds: 0, frames: 0, failures: [] };
  let running = true;
  const fileDuring = options.fileDuringAttack !== false;
  const loop = (async () => {
    while (running) {
      try {
        if (fileDuring) h.file = Math.max(h.file, await timedGet(port));
        h.rpc = Math.max(h.rpc, await rpc.echo());
        h.rounds++;
      } catch (e) {
        h.failures.push((e as Error).message);
        if (h.failures.length > 20) break;
      }
      await sleep(300);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      h.rtmp = rtmp.worst();
      h.frames = rtmp.frames();
      rpc.close();
      await rtmp.stop();
      h.worst = Math.max(h.file, h.rpc, h.rtmp);
      return h;
    },
  };
}

/** A raw WebSocket connection to /app (handshake done); the caller writes frames and reads or not. */
export function rawWebSocket(port: number, localAddress = '127.0.0.1', resource = '/app/'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress });
    let head = '';
    const onData = (d: Buffer) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      s.off('data', onData);
      if (!head.startsWith('HTTP/1.1 101')) reject(new Error(head));
      else resolve(s);
    };
    s.on('data', onData);
    s.once('error', reject);
    s.write(`GET ${resource} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  });
}

export const frame = (opcode: number, payload: Buffer | string, fin = true): Buffer => encodeMaskedFrame(opcode, Buffer.from(payload), fin);

/** Writes `chunks()` until it returns null, the socket closes, or `untilMs` passes; resolves with bytes written. */
export async function pump(s: net.Socket, chunks: () => Buffer | null, untilMs: number): Promise<number> {
  let written = 0;
  let closed = s.destroyed;
  s.once('close', () => (closed = true));
  s.on('error', () => (closed = true));
  const end = Date.now() + untilMs;
  while (!closed && Date.now() < end) {
    const c = chunks();
    if (!c) break;
    written += c.length;
    if (!s.write(c)) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, end - Date.now()));
        const done = () => {
          clearTimeout(timer);
          s.off('drain', done);
          s.off('close', done);
          resolve();
        };
        s.once('drain', done);
        s.once('close', done);
      });
    }
  }
  return written;
}

/** After an attacker stopped writing: reads what it was sent; resolves when the server closed it, or after `withinMs`. */
export function closedByServer(s: net.Socket, withinMs: number): Promise<{ closed: boolean; bytes: number }> {
  return new Promise((resolve) => {
    let bytes = 0;
    if (s.destroyed) return resolve({ closed: true, bytes });
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ closed: false, bytes });
    }, withinMs);
    s.on('data', (d) => (bytes += d.length));
    s.once('close', () => {
      clearTimeout(timer);
      resolve({ closed: true, bytes });
    });
    s.on('error', () => {});
    s.resume();
  });
}
