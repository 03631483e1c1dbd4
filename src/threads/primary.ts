/**
 * The primary process of `threads = N` (N > 1): it runs the one script VM and `data` of the server,
 * the server link (other servers of the cluster) and the admin listener, and starts N worker
 * processes (node's `cluster`) that serve the protocols: the TCP ones (RTMP, HTTP, WebSocket) in
 * every worker, sharing their ports, RTMFP in worker 1 alone (its UDP port bound exclusively, so a
 * session's datagrams always reach the one process that has the session).
 *
 * Each worker gets a script channel (a UNIX socket pair on its fd 4, see channel.ts) whose messages
 * the ScriptBridge serves, and a link to every other process (mesh.ts) over which publications are
 * relayed and scripts' effects travel. Worker log lines come over the cluster's IPC channel and go
 * into the primary's console and log file. Live HLS is answered here for every worker (hls.ts).
 * A worker that dies is started again after a second; its clients are disconnected for the scripts
 * meanwhile.
 */
import cluster, { type Worker } from 'node:cluster';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Socket } from 'node:net';
import type { ServerContext } from '../core/context';
import type { ProtocolServer } from '../core/protocol';
import type { Value } from '../serialization/value';
import { MessageReader, frame } from './channel';
import { ScriptBridge, type WorkerEnd } from './bridge';
import { PROTOCOLS } from '../server';
import { PrimaryHLS } from './hls';
import { Mesh } from './mesh';
import { Status } from './messages';

/** What a worker tells the primary over the IPC channel. */
export type WorkerReport =
  | { log: string }
  | { started: true; lines: string[]; failures: string[]; listening: Array<{ protocol: string; addresses: string[] }> }
  | { started: false; error: string };

/** How long a worker may take to start (bind, link) before the server gives up on it. */
const START_TIMEOUT_MS = 30_000;
/** How long stopping workers may take before they are killed. */
const STOP_TIMEOUT_MS = 10_000;
const RESPAWN_MS = 1000;

export const WORKER_ENV = 'MONATS_WORKER';
export const DIR_ENV = 'MONATS_THREADS_DIR';
export const COUNT_ENV = 'MONATS_THREADS';

interface Slot extends WorkerEnd {
  worker: Worker | null;
  channel: Socket | null;
  started: boolean;
  lines: string[];
  listening: Array<{ protocol: string; addresses: string[] }>;
}

export class ThreadsPrimary implements ProtocolServer {
  readonly name = 'Workers';
  readonly mesh: Mesh;
  bridge: ScriptBridge | null = null;
  private readonly dir: string;
  private readonly slots: Slot[] = [];
  private stopping = false;
  /** what protocols of the workers could not do (each distinct line once) */
  private readonly failures = new Set<string>();

  constructor(
    private readonly context: ServerContext,
    readonly count: number,
  ) {
    // a private folder for the link sockets: nobody else may connect to them
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'monats-threads-'));
    fs.chmodSync(this.dir, 0o700);
    this.mesh = new Mesh(context, this.dir, 0);
  }

  async start(): Promise<void> {
    await this.mesh.start();
    this.bridge = new ScriptBridge(this.context, this.mesh.relays!);
    new PrimaryHLS(this.context, this.mesh);
    this.mesh.peers.subscribe({ onServerConnection: (peer) => this.bridge?.linked(Mesh.placeOf(peer)) });
    cluster.setupPrimary({ stdio: ['inherit', 'inherit', 'inherit', 'ipc', 'pipe'] });
    const starts: Promise<void>[] = [];
    for (let i = 1; i <= this.count; i++) {
      const slot: Slot = {
        index: i,
        worker: null,
        channel: null,
        started: false,
        lines: [],
        listening: [],
        peer: () => this.mesh.peer(i),
        answer: (values) => this.answer(slot, values),
      };
      this.slots.push(slot);
      this.bridge.attach(slot);
      starts.push(this.spawn(slot));
    }
    const results = await Promise.allSettled(starts);
    const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    const { logger } = this.context;
    if (failed.length === this.count) {
      this.stopping = true;
      // the protocols' own failures, as one process says them (every worker met the same ones)
      const error = new Error(`no worker started: ${(failed[0].reason as Error).message}`) as Error & { failures: string[] };
      error.failures = this.failureLines();
      throw error;
    }
    for (const f of failed) logger.error('Threads', (f.reason as Error).message);
    for (const line of this.failureLines()) logger.error(line.slice(0, line.indexOf(' ')) || 'Threads', line);
    const first = this.slots.find((s) => s.started);
    for (const line of first?.lines ?? []) logger.note('Server', `${line}, ${this.count} workers`);
    logger.info('Threads', `${this.count} worker processes serve the protocols; scripts and data run in this process (${process.pid})`);
  }

  addresses(): string[] {
    return [];
  }

  /** What the workers listen on (every worker the same), for the admin API. */
  listening(): Array<{ protocol: string; addresses: string[] }> {
    return this.slots.find((s) => s.started)?.listening ?? [];
  }

  /** warnings and errors lately written, by their text without the time: the worker and when */
  private readonly recent = new Map<string, { worker: number; at: number }>();

  /**
   * true for a warning or error another worker wrote within a minute: what each process warns
   * about once (a cap reached, descriptors exhausted) is said once for the server, as one process
   * says it.
   */
  private repeated(worker: number, text: string): boolean {
    const key = text.replace(/^\S+ \S+ /, '').replace(/"time":"[^"]*",?/, '');
    if (!/^(WARN|ERROR|CRITIC|FATAL)\b|"level":"(WARN|ERROR|CRITIC|FATAL)"/.test(key)) return false;
    const now = Date.now();
    const seen = this.recent.get(key);
    if (seen && seen.worker !== worker && now - seen.at < 60_000) return true;
    if (this.recent.size >= 1000) for (const [k, v] of this.recent) if (now - v.at >= 60_000) this.recent.delete(k);
    if (this.recent.size >= 1000) this.recent.clear();
    this.recent.set(key, { worker, at: now });
    return false;
  }

  /** The workers' failures, in the order of the server's protocol list. */
  private failureLines(): string[] {
    const rank = (line: string) => {
      const i = PROTOCOLS.findIndex((p) => line.startsWith(`${p.name} `));
      return i < 0 ? PROTOCOLS.length : i;
    };
    return [...this.failures].sort((a, b) => rank(a) - rank(b));
  }

  /** Starts a worker; resolves once it reported that it listens. */
  private spawn(slot: Slot): Promise<void> {
    const { logger } = this.context;
    const worker = cluster.fork({ [WORKER_ENV]: String(slot.index), [DIR_ENV]: this.dir, [COUNT_ENV]: String(this.count) });
    slot.worker = worker;
    slot.started = false;
    const channel = worker.process.stdio?.[4] as Socket | undefined;
    if (!channel) return Promise.reject(new Error(`worker ${slot.index}: no script channel`));
    slot.channel = channel;
    const reader = new MessageReader();
    channel.on('data', (chunk: Buffer) => {
      let messages: Value[][];
      try {
        messages = reader.push(chunk);
      } catch (e) {
        logger.error('Threads', `worker ${slot.index}: ${(e as Error).message}; stopping it`);
        worker.kill();
        return;
      }
      for (const m of messages) this.bridge!.handle(slot, m);
    });
    channel.on('error', () => {});
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`worker ${slot.index} did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
      worker.on('message', (m: WorkerReport) => {
        if ('log' in m) {
          const out = logger as { raw?: (text: string) => void };
          if (out.raw && !this.repeated(slot.index, m.log)) out.raw(m.log);
          return;
        }
        clearTimeout(timer);
        if (m.started) for (const f of m.failures) this.failures.add(f);
        if (m.started && m.lines.length === 0) {
          reject(new Error(`worker ${slot.index}: no protocol is listening (${m.failures.join('; ') || 'every protocol port is 0'})`));
          worker.kill();
        } else if (m.started) {
          slot.started = true;
          slot.lines = m.lines;
          slot.listening = m.listening;
          logger.debug('Threads', `worker ${slot.index} started (pid ${worker.process.pid})`);
          resolve();
        } else reject(new Error(`worker ${slot.index}: ${m.error}`));
      });
      worker.on('exit', (code, signal) => {
        clearTimeout(timer);
        const wasRunning = slot.started;
        slot.started = false;
        slot.channel = null;
        this.bridge?.workerGone(slot.index);
        reject(new Error(`worker ${slot.index} exited during start-up (${signal ?? `code ${code}`})`));
        // one that could not start would fail again: only a worker that ran is started again
        if (this.stopping || !wasRunning) return;
        logger.error('Threads', `worker ${slot.index} exited (${signal ?? `code ${code}`}); starting it again`);
        setTimeout(() => {
          if (this.stopping) return;
          this.bridge?.attach(slot);
          this.spawn(slot).catch((e: Error) => logger.error('Threads', e.message));
        }, RESPAWN_MS).unref();
      });
    });
  }

  private answer(slot: Slot, values: Value[]): void {
    let data: Buffer;
    try {
      data = frame(values);
    } catch (e) {
      // an answer that cannot be sent still has to unblock the worker
      data = frame([Status.CallFailed, (e as Error).message, null]);
    }
    slot.channel?.write(data);
  }

  /** Stops every worker (they close their sessions, whose scripts events still come here), then the links. */
  async stop(): Promise<void> {
    this.stopping = true;
    const exits = this.slots.map(
      (s) =>
        new Promise<void>((resolve) => {
          const w = s.worker;
          if (!w || w.isDead()) return resolve();
          const timer = setTimeout(() => {
            w.process.kill('SIGKILL');
          }, STOP_TIMEOUT_MS);
          w.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          try {
            w.send({ stop: true });
          } catch {
            w.process.kill('SIGTERM');
          }
        }),
    );
    await Promise.all(exits);
    this.bridge?.close();
    await this.mesh.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
