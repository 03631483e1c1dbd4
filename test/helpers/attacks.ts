/**
 * The hardening campaign: every attack the server was hardened against, each against the real
 * server executable in a child process (attack-kit.ts), with the same harness: the server's RSS
 * sampled from /proc, a healthy client (static file, RPC, RTMP play) timed while the attack runs,
 * the server alive and serving afterwards. Tests run one case each and assert on the result
 * (`problems` empty, then the case's own outcome); bench/attacks.ts runs them all and prints the
 * table (docs/limits.md). Loopback only, every loop bounded in time; the attacker stops early where
 * an unbounded server would cost the machine.
 */
import { spawnSync } from 'node:child_process';
import { getDiffieHellman, randomBytes } from 'node:crypto';
import * as dgram from 'node:dgram';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import WebSocket from 'ws';
import { MessageType } from '../../src/protocols/rtmp/constants';
import { encodeMessage, messageHeader, u32 } from '../../src/protocols/rtmp/chunk-writer';
import { RTMPClient, clientHello } from '../../src/protocols/rtmp/client';
import { DH_KEY_SIZE, FP_KEY_SHORT, LAYOUTS, SIG_SIZE, signPacket } from '../../src/protocols/rtmp/handshake-crypto';
import { Opcode } from '../../src/protocols/websocket/frames';
import { Level, type Logger } from '../../src/logs/levels';
import { DataStore, DataTableRef } from '../../src/scripting/data-store';
import {
  LATENCY_BOUND_MS,
  MEMORY_BOUND_MB,
  closedByServer,
  frame,
  healthProbe,
  pump,
  rawWebSocket,
  rpcClient,
  rssWatch,
  sleep,
  startTarget,
  timedGet,
  type Health,
  type ProbeOptions,
  type Target,
  type TargetOptions,
} from './attack-kit';
import { RtmfpTestClient } from './rtmfp-client';

export interface AttackContext {
  target: Target;
  /** the server's RSS growth over its baseline so far (MB) */
  grownMB(): number;
  /** the memory bound of this case (MB): an attacker stops once the server grew past it */
  boundMB: number;
  /** stops the healthy client now (before the attack kills the server); the harness uses this result */
  finishProbe(): Promise<Health>;
}

/** What an attack reports: `ok` is its own check (the attacker was closed, the data kept…). */
export interface Outcome {
  ok: boolean;
  /** one line for the table */
  summary: string;
}

export interface AttackCase<O extends Outcome = Outcome> {
  /** short id ("ws-fragments"), used by tests and `bench/attacks.ts --only` */
  name: string;
  /** what the attack is, for the table */
  title: string;
  /** the issue's case number (1-10) */
  issue: number;
  target?: TargetOptions;
  /** RSS growth allowed (MB), MEMORY_BOUND_MB unless tighter */
  memoryBoundMB?: number;
  probe?: ProbeOptions;
  /** the attack ends by killing the server (durability): no liveness check, no memory after */
  killsServer?: boolean;
  /** a test's time limit for this case */
  timeoutMs: number;
  run(ctx: AttackContext): Promise<O>;
}

export interface CaseResult<O extends Outcome = Outcome> {
  name: string;
  title: string;
  issue: number;
  baseMB: number;
  peakMB: number;
  memoryBoundMB: number;
  health: Health;
  alive: boolean;
  /** a static file fetched on a fresh connection after the attack (ms), null when refused */
  servedAfterMs: number | null;
  cpuSeconds: number;
  seconds: number;
  engine: string;
  outcome: O;
  /** server alive and serving afterwards (or, for a kill, the data kept) and the case's own check passed */
  survived: boolean;
  /** every bound missed, in words (empty: the case passed) */
  problems: string[];
  /** RSS over the baseline once settled, then after a forced collection (with `settleMs`) */
  afterMB?: number;
  afterGcMB?: number;
  /** RSS over the baseline after malloc_trim(0) (with `trim`) */
  afterTrimMB?: number;
  /** process.memoryUsage() of the server at baseline, once settled, and after the collection (with `inspect`) */
  memoryBase?: NodeJS.MemoryUsage;
  memorySettled?: NodeJS.MemoryUsage;
  memoryAfter?: NodeJS.MemoryUsage;
}

export interface RunOptions {
  /** wait this long after the attack, then read RSS again (and after a collection when inspecting) */
  settleMs?: number;
  /** node's inspector in the server (loopback): process.memoryUsage() and a forced collection */
  inspect?: boolean;
  /** environment for the server (MALLOC_ARENA_MAX=2…) */
  env?: Record<string, string>;
  /**
   * after the collection, make glibc give back what it keeps (malloc_trim(0) called in the server
   * through gdb, a diagnostic of the benchmark: how much of what stayed is free memory glibc holds)
   */
  trim?: boolean;
}

/** Runs one case on a fresh server and stops it; failures of the bounds are reported in `problems`, not thrown. */
export async function runCase<O extends Outcome>(c: AttackCase<O>, options: RunOptions = {}): Promise<CaseResult<O>> {
  const target = await startTarget({ ...c.target, inspect: options.inspect, env: { ...c.target?.env, ...options.env } });
  try {
    await sleep(500);
    // inspected (the benchmark): the baseline is taken after a full collection, as the figure after
    if (target.inspector) {
      await target.inspector.collect();
      await sleep(500);
    }
    const memoryBase = await target.inspector?.memoryUsage();
    const probe = await healthProbe(target, c.probe);
    const baseMB = target.rssMB();
    const watch = rssWatch(target);
    const cpu0 = target.cpuSeconds();
    const started = Date.now();
    let health: Promise<Health> | null = null;
    const finishProbe = () => (health ??= probe.stop());
    const boundMB = c.memoryBoundMB ?? MEMORY_BOUND_MB;
    let outcome: O;
    try {
      outcome = await c.run({ target, grownMB: () => watch.grown(), boundMB, finishProbe });
    } finally {
      await finishProbe().catch(() => {});
    }
    const peakMB = watch.stop();
    const seconds = (Date.now() - started) / 1000;
    const cpuSeconds = target.alive() ? target.cpuSeconds() - cpu0 : NaN;
    const h = await finishProbe();
    const alive = target.alive();
    let servedAfterMs: number | null = null;
    if (!c.killsServer) servedAfterMs = await timedGet(target.ports.http, '/a.txt', 10_000).catch(() => null);
    const problems: string[] = [];
    if (!c.killsServer && !alive) problems.push(`the server died (${target.proc.child.exitCode ?? target.proc.child.signalCode})`);
    if (!c.killsServer && servedAfterMs === null) problems.push('a static file was not served after the attack');
    if (peakMB >= boundMB) problems.push(`RSS grew by ${peakMB.toFixed(0)} MB (bound ${boundMB} MB)`);
    if (h.failures.length) problems.push(`the healthy client failed: ${h.failures.slice(0, 3).join('; ')}`);
    if (h.rounds < 1) problems.push('the healthy client was never answered');
    if (h.frames < 1) problems.push('the healthy RTMP player got no frame');
    if (h.worst >= LATENCY_BOUND_MS) problems.push(`the healthy client waited ${h.worst} ms (file ${h.file}, RPC ${h.rpc}, RTMP ${h.rtmp}; bound ${LATENCY_BOUND_MS} ms)`);
    if (!outcome.ok) problems.push(`its own check failed: ${outcome.summary}`);
    const result: CaseResult<O> = {
      name: c.name,
      title: c.title,
      issue: c.issue,
      baseMB,
      peakMB,
      memoryBoundMB: boundMB,
      health: h,
      alive,
      servedAfterMs,
      cpuSeconds,
      seconds,
      engine: target.engine(),
      outcome,
      survived: (c.killsServer || (alive && servedAfterMs !== null)) && outcome.ok,
      problems,
      memoryBase,
    };
    if (options.settleMs && alive && !c.killsServer) {
      await sleep(options.settleMs);
      result.afterMB = target.rssMB() - baseMB;
      if (target.inspector) {
        result.memorySettled = await target.inspector.memoryUsage();
        await target.inspector.collect();
        await sleep(1000);
        result.afterGcMB = target.rssMB() - baseMB;
        result.memoryAfter = await target.inspector.memoryUsage();
      }
      if (options.trim) {
        const gdb = spawnSync('gdb', ['-p', String(target.pid), '-batch', '-ex', 'call (int) malloc_trim(0)'], { encoding: 'utf8', timeout: 60_000 });
        if (gdb.status === 0) result.afterTrimMB = target.rssMB() - baseMB;
      }
    }
    return result;
  } finally {
    await target.stop();
  }
}

/**
 * The same attack `rounds` times on one server, each followed by `settleMs` of quiet: RSS over the
 * baseline after each round, then (with `inspect`) after a forced full collection. Memory an
 * allocator keeps is reused by the next round: a leak would grow round after round.
 */
export async function rssAcrossRounds(
  c: AttackCase,
  rounds: number,
  settleMs: number,
  options: { env?: Record<string, string>; inspect?: boolean } = {},
): Promise<Array<{ settledMB: number; afterGcMB?: number }>> {
  if (c.killsServer) throw new Error(`${c.name} kills its server`);
  const target = await startTarget({ ...c.target, inspect: options.inspect, env: { ...c.target?.env, ...options.env } });
  try {
    await sleep(500);
    await target.inspector?.collect();
    const baseMB = target.rssMB();
    const out: Array<{ settledMB: number; afterGcMB?: number }> = [];
    const idle: Health = { worst: 0, file: 0, rpc: 0, rtmp: 0, rounds: 0, frames: 0, failures: [] };
    for (let r = 0; r < rounds && target.alive(); r++) {
      const watch = rssWatch(target);
      await c.run({ target, grownMB: () => watch.grown(), boundMB: c.memoryBoundMB ?? MEMORY_BOUND_MB, finishProbe: async () => idle });
      watch.stop();
      await sleep(settleMs);
      const round: { settledMB: number; afterGcMB?: number } = { settledMB: target.rssMB() - baseMB };
      if (target.inspector) {
        await target.inspector.collect();
        await sleep(1000);
        round.afterGcMB = target.rssMB() - baseMB;
      }
      out.push(round);
    }
    return out;
  } finally {
    await target.stop();
  }
}

// ---- RTMP ---------------------------------------------------------------------------------

/** A raw TCP peer done with the plain RTMP handshake. */
export async function rawRtmpPeer(port: number): Promise<net.Socket> {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    s.once('connect', () => s.write(clientHello(false)));
    let got = 0;
    const onData = (d: Buffer) => {
      got += d.length;
      if (got >= 1 + 2 * SIG_SIZE) {
        s.off('data', onData);
        s.write(Buffer.alloc(SIG_SIZE)); // C2: the server tolerates any
        resolve();
      }
    };
    s.on('data', onData);
    s.once('close', () => reject(new Error('closed during handshake')));
  });
  return s;
}

/** Writes `buf` and waits for the socket to drain (so the attacker measures what the server took). */
function writeDrained(s: net.Socket, buf: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    if (s.destroyed) return resolve(false);
    if (s.write(buf)) return resolve(true);
    const done = () => {
      s.off('close', done);
      resolve(!s.destroyed);
    };
    s.once('drain', done);
    s.once('close', done);
  });
}

export const rtmpChunks: AttackCase<Outcome & { sentMB: number; cutOff: boolean }> = {
  name: 'rtmp-chunks',
  title: 'RTMP: 8 MB of never-finished messages in 1-byte chunks on 100 chunk streams',
  issue: 1,
  // one connection's partial messages are bounded well below the campaign's bound
  memoryBoundMB: 64,
  timeoutMs: 120_000,
  async run({ target, grownMB, boundMB }) {
    const attacker = await rawRtmpPeer(target.ports.rtmp);
    try {
      // chunk size 1, then on each of 100 chunk streams a message announcing 1 MB
      await writeDrained(attacker, Buffer.concat(encodeMessage(2, MessageType.SetChunkSize, 0, 0, u32(1), 128)));
      const streams = 100;
      const opening: Buffer[] = [];
      for (let cs = 3; cs < 3 + streams; cs++) opening.push(messageHeader(cs, MessageType.Audio, 1, 0, 1024 * 1024), Buffer.from([cs]));
      await writeDrained(attacker, Buffer.concat(opening));
      // then rounds of one 1-byte chunk per stream (type-3 header + 1 byte): 80 KB of payload a batch
      const round: number[] = [];
      for (let cs = 3; cs < 3 + streams; cs++) {
        if (cs < 64) round.push(0xc0 | cs, cs);
        else round.push(0xc0, cs - 64, cs); // two-byte basic header for csid 64..319
      }
      const batch = Buffer.concat(Array.from({ length: 800 }, () => Buffer.from(round)));
      const target8 = 8 * 1024 * 1024;
      let sent = 0;
      while (sent < target8) {
        if (!(await writeDrained(attacker, batch))) break;
        sent += 800 * streams;
        if (grownMB() > boundMB) break; // not bounded: stop before it costs the machine
      }
      await sleep(500);
      const cutOff = attacker.destroyed;
      return {
        ok: sent >= target8 || cutOff,
        summary: `${(sent / 1048576).toFixed(1)} MB of partial payload sent${cutOff ? ', then cut off' : ''}`,
        sentMB: sent / 1048576,
        cutOff,
      };
    } finally {
      attacker.destroy();
    }
  },
};

/** C0+C1 of an RTMPE client (type 6): version 9.0.124.2, a DH public key, signed in layout 0. */
export function rtmpeHello(): Buffer {
  const c1 = randomBytes(SIG_SIZE);
  Buffer.from([9, 0, 124, 2]).copy(c1, 4);
  const dh = getDiffieHellman('modp2');
  dh.generateKeys();
  const pub = dh.getPublicKey();
  pub.copy(c1, LAYOUTS[0].dhOffset(c1) + DH_KEY_SIZE - pub.length);
  signPacket(c1, LAYOUTS[0], FP_KEY_SHORT);
  return Buffer.concat([Buffer.from([6]), c1]);
}

/** Sends `hello` from `localAddress`; resolves true when S0+S1+S2 came back, false when closed without. */
export function tryHandshake(port: number, localAddress: string, hello: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress });
    let got = 0;
    const timer = setTimeout(() => done(false), 10_000);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    s.on('connect', () => s.write(hello));
    s.on('data', (d) => {
      got += d.length;
      if (got >= 1 + 2 * SIG_SIZE) done(true);
    });
    s.on('error', () => done(false));
    s.on('close', () => done(got >= 1 + 2 * SIG_SIZE));
  });
}

/** `loops` handshake loops per address, one replayed C0+C1, for `ms`; counts attempts and answers. */
async function rtmpeFlood(port: number, addresses: string[], loops: number, ms: number): Promise<{ attempts: number; answered: number; seconds: number }> {
  const hello = rtmpeHello();
  const end = Date.now() + ms;
  const started = Date.now();
  let attempts = 0;
  let answered = 0;
  const loop = async (address: string) => {
    while (Date.now() < end) {
      attempts++;
      if (await tryHandshake(port, address, hello)) answered++;
    }
  };
  await Promise.all(addresses.flatMap((a) => Array.from({ length: loops }, () => loop(a))));
  return { attempts, answered, seconds: (Date.now() - started) / 1000 };
}

const RTMPE_RATE = 10;

export const rtmpeReplay: AttackCase<Outcome & { attempts: number; answered: number; seconds: number }> = {
  name: 'rtmpe-replay',
  title: 'RTMPE: one signed C0+C1 replayed by 20 connections in a loop from one IP, 6 s',
  issue: 7,
  target: { ini: `[RTMP]\nrtmpeRate=${RTMPE_RATE}\n` },
  timeoutMs: 60_000,
  async run({ target }) {
    const r = await rtmpeFlood(target.ports.rtmp, ['127.0.0.2'], 20, 6000);
    // a burst of twice the rate, then the rate
    const allowed = 2 * RTMPE_RATE + Math.ceil(RTMPE_RATE * r.seconds) + 1;
    return {
      ok: r.answered >= RTMPE_RATE && r.answered <= allowed,
      summary: `${r.answered} of ${r.attempts} handshakes answered (at most ${allowed} allowed)`,
      ...r,
    };
  },
};

export const rtmpeFloodIPs: AttackCase<Outcome & { attempts: number; answered: number; seconds: number }> = {
  name: 'rtmpe-flood',
  title: 'RTMPE: handshake CPU flood from 100 IPs (4 connections each in a loop), 6 s',
  issue: 7,
  target: { ini: `[RTMP]\nrtmpeRate=${RTMPE_RATE}\n` },
  timeoutMs: 60_000,
  async run({ target }) {
    const addresses = Array.from({ length: 100 }, (_, i) => `127.0.1.${i + 1}`);
    const r = await rtmpeFlood(target.ports.rtmp, addresses, 4, 6000);
    return {
      ok: r.answered > 0,
      summary: `${r.answered} of ${r.attempts} handshakes answered (${(r.answered / r.seconds).toFixed(0)}/s)`,
      ...r,
    };
  },
};

// ---- WebSocket and HTTP ---------------------------------------------------------------------

const STALL = '[TCP]\nstallTimeout=3\n';

export const wsFragments: AttackCase<Outcome & { closed: boolean }> = {
  name: 'ws-fragments',
  title: 'WebSocket: 2M empty continuation frames',
  issue: 2,
  target: { ini: STALL },
  timeoutMs: 90_000,
  async run({ target }) {
    const s = await rawWebSocket(target.ports.http);
    s.write(frame(Opcode.Text, '[', false));
    const empty = frame(Opcode.Continuation, Buffer.alloc(0), false);
    const batch = Buffer.concat(Array(10_000).fill(empty));
    let frames = 0;
    await pump(s, () => (frames >= 2_000_000 ? null : ((frames += 10_000), batch)), 30_000);
    await sleep(1000);
    const end = await closedByServer(s, 5000);
    return { ok: end.closed, summary: end.closed ? `closed after at most ${frames} frames (fragment cap)` : `not closed after ${frames} frames`, closed: end.closed };
  },
};

export const httpPipeline: AttackCase<Outcome & { closed: boolean; bytes: number }> = {
  name: 'http-pipeline',
  title: 'HTTP: 20,000 pipelined GETs of a 60 KB file, never read',
  issue: 3,
  target: { ini: STALL },
  timeoutMs: 90_000,
  async run({ target }) {
    const s = net.connect(target.ports.http, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    s.pause(); // never reads
    const batch = Buffer.from('GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n'.repeat(1000));
    let sent = 0;
    await pump(s, () => (sent >= 20 ? null : (sent++, batch)), 10_000);
    await sleep(5000); // past the stall timeout
    const end = await closedByServer(s, 5000);
    const ok = end.closed && end.bytes < 100 * 1024 * 1024;
    return { ok, summary: `${end.closed ? 'dropped' : 'not dropped'}; ${(end.bytes / 1048576).toFixed(1)} MB sent of 1.2 GB asked`, ...end };
  },
};

export const wsPingFlood: AttackCase<Outcome & { closed: boolean }> = {
  name: 'ws-ping-flood',
  title: 'WebSocket: 1.5M pings, pongs never read',
  issue: 3,
  target: { ini: STALL },
  timeoutMs: 90_000,
  async run({ target }) {
    const s = await rawWebSocket(target.ports.http);
    s.pause();
    const batch = Buffer.concat(Array(500).fill(frame(Opcode.Ping, Buffer.alloc(125, 1))));
    let pings = 0;
    await pump(s, () => (pings >= 1_500_000 ? null : ((pings += 500), batch)), 15_000);
    await sleep(4000);
    const end = await closedByServer(s, 5000);
    return { ok: end.closed, summary: `${end.closed ? 'paused then dropped' : 'not dropped'} after ${pings} pings written`, closed: end.closed };
  },
};

export const wsRpcBatch: AttackCase<Outcome & { closed: boolean }> = {
  name: 'ws-rpc-batch',
  title: 'WebSocket: one write of 3,449 RPCs each answering 1 MB, never read',
  issue: 4,
  target: { ini: STALL },
  timeoutMs: 90_000,
  async run({ target }) {
    const s = await rawWebSocket(target.ports.http);
    s.write(frame(Opcode.Text, JSON.stringify(['set', 'x'.repeat(1024 * 1024)])));
    await sleep(500);
    s.pause(); // asks, never reads
    s.write(Buffer.concat(Array(3449).fill(frame(Opcode.Text, '["get"]'))));
    await sleep(6000);
    const end = await closedByServer(s, 5000);
    return { ok: end.closed, summary: end.closed ? 'paused then dropped' : 'not dropped', closed: end.closed };
  },
};

export const httpDribble: AttackCase<Outcome & { open: number; timedOut: number; refused: number; capLines: number }> = {
  name: 'http-dribble',
  title: 'HTTP: 200 connections from one IP dribbling a header byte a second (cap 100 per IP)',
  issue: 6,
  target: { ini: '[HTTP]\nheaderTimeout=2\ntimeout=7\n[TCP]\nmaxConnectionsPerIP=100\n' },
  timeoutMs: 60_000,
  async run({ target }) {
    const attackers: Array<{ s: net.Socket; closedAt: number; text: string }> = [];
    try {
      for (let i = 0; i < 200; i++) {
        // another loopback address than the healthy client's, so the per-IP cap is the attacker's
        const a = { s: net.connect({ port: target.ports.http, host: '127.0.0.1', localAddress: '127.0.0.2' }), closedAt: 0, text: '' };
        a.s.on('data', (d) => (a.text += d.toString('latin1')));
        a.s.on('error', () => {});
        a.s.once('close', () => (a.closedAt = Date.now()));
        a.s.once('connect', () => a.s.write('GET /a.txt HTTP/1.1\r\n'));
        attackers.push(a);
      }
      // one header byte a second: the idle timeout (7 s) never fires, the head deadline (2 s) does
      for (let second = 0; second < 8 && attackers.some((a) => !a.closedAt); second++) {
        await sleep(1000);
        for (const a of attackers) if (!a.closedAt && !a.s.destroyed) a.s.write('X');
      }
      const open = attackers.filter((a) => !a.closedAt).length;
      const timedOut = attackers.filter((a) => a.text.startsWith('HTTP/1.1 408')).length;
      const refused = attackers.filter((a) => a.text === '').length;
      const capLines = target.proc.output().split('\n').filter((l) => l.includes('TCP.maxConnectionsPerIP=100')).length;
      return {
        ok: open === 0 && timedOut === 100 && refused === 100 && capLines === 1,
        summary: `${timedOut} got 408 at the head deadline, ${refused} refused at accept, ${open} still open; the cap logged ${capLines} time(s)`,
        open,
        timedOut,
        refused,
        capLines,
      };
    } finally {
      attackers.forEach((a) => a.s.destroy());
    }
  },
};

export const emfile: AttackCase<Outcome & { descriptorLines: number }> = {
  name: 'emfile',
  title: 'TCP: 400 connections held with `ulimit -n 256` and a connection cap above it (EMFILE)',
  issue: 6,
  target: { shell: 'ulimit -n 256', ini: '[TCP]\nmaxConnections=100000\nmaxConnectionsPerIP=0\n' },
  // new connections cannot be served while every descriptor is held: the file is fetched after
  probe: { fileDuringAttack: false },
  timeoutMs: 60_000,
  async run({ target }) {
    const held: net.Socket[] = [];
    try {
      for (let i = 0; i < 400; i++) {
        const s = net.connect({ port: target.ports.http, host: '127.0.0.1', localAddress: '127.0.0.2' });
        s.on('error', () => {});
        held.push(s);
      }
      const said = await target.proc.waitFor(/out of file descriptors \(EMFILE.*raise the limit \(ulimit -n/, 10_000).then(
        () => true,
        () => false,
      );
      await sleep(2500);
      const descriptorLines = target.proc.output().split('\n').filter((l) => l.includes('out of file descriptors')).length;
      return { ok: said && descriptorLines === 1, summary: `EMFILE said ${descriptorLines} time(s); established clients served meanwhile`, descriptorLines };
    } finally {
      held.forEach((s) => s.destroy());
      await sleep(500);
    }
  },
};

// ---- scripts ----------------------------------------------------------------------------------

export const luaRunaway: AttackCase<Outcome & { calls: number; slowestMs: number; engine: string }> = {
  name: 'lua-runaway',
  title: 'Lua: runaway RPCs in a loop for 8 s (while true, pcall swallowing it, 1 GB string.rep, s..s, a pathological pattern)',
  issue: 5,
  // the budget at its default (500 ms); the VM capped below the campaign's memory bound
  target: { ini: '[scripts]\nmemory=64\n' },
  timeoutMs: 90_000,
  async run({ target }) {
    const engine = target.engine();
    // fengari: no allocator hook (the cap is not enforced) and its pattern matcher runs in
    // JavaScript where no hook reaches (docs/limits.md): those calls would not be bounded there
    const fengari = engine.startsWith('fengari');
    const methods = fengari ? ['spin', 'swallow', 'nested'] : ['spin', 'swallow', 'nested', 'hog', 'grow', 'pattern'];
    const c = await rpcClient(target.ports.http, 30_000, '127.0.0.2');
    const wrong: string[] = [];
    let calls = 0;
    let slowestMs = 0;
    try {
      const end = Date.now() + 8000;
      while (Date.now() < end) {
        for (const m of methods) {
          const started = Date.now();
          const answer = await c.call(m);
          slowestMs = Math.max(slowestMs, Date.now() - started);
          calls++;
          const expected = m === 'hog' || m === 'grow' ? /not enough memory/ : /interrupted/;
          if (answer[0] !== '__error' || !expected.test(String(answer[1]))) wrong.push(`${m}: ${JSON.stringify(answer).slice(0, 200)}`);
        }
      }
    } finally {
      c.close();
    }
    return {
      ok: wrong.length === 0 && calls > 0,
      summary: `${calls} runaway calls (${methods.join(', ')}) on ${engine.split(' ')[0]}, each failed alone, slowest answer ${slowestMs} ms${wrong.length ? '; wrong: ' + wrong.slice(0, 2).join('; ') : ''}`,
      calls,
      slowestMs,
      engine,
    };
  },
};

const quiet: Logger = {
  level: Level.ERROR,
  dumping: false,
  log() {},
  fatal() {},
  critic() {},
  error() {},
  warn() {},
  note() {},
  info() {},
  debug() {},
  trace() {},
  enabled: () => false,
  dump() {},
};

export const dataKill: AttackCase<Outcome & { acked: number; checked: number; lost: string[] }> = {
  name: 'data-kill9',
  title: 'data: 4 clients writing data[k] in closed loops, the server killed with SIGKILL',
  issue: 9,
  killsServer: true,
  timeoutMs: 60_000,
  async run({ target, finishProbe }) {
    // each RPC a new key; acknowledgements timestamped on arrival
    const acked = new Map<string, { value: string; at: number }>();
    let stop = false;
    const loop = (n: number) =>
      new Promise<void>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${target.ports.http}/app/`);
        let i = 0;
        const pending = new Map<string, string>();
        const next = () => {
          if (stop) return;
          const key = `c${n}k${i++}`;
          const value = `value of ${key} `.repeat(1 + (i % 7));
          pending.set(key, value);
          ws.send(JSON.stringify(['put', key, value]));
        };
        ws.on('open', next);
        ws.on('message', (m) => {
          const [key] = JSON.parse(m.toString()) as [string];
          const value = pending.get(key);
          if (value !== undefined) acked.set(key, { value, at: Date.now() });
          pending.delete(key);
          next();
        });
        ws.on('close', () => resolve());
        ws.on('error', () => resolve());
      });
    const loops = [0, 1, 2, 3].map(loop);
    // enough acknowledged writes, however slow the machine is today
    const until = Date.now() + 20_000;
    while (acked.size < 400 && Date.now() < until) await sleep(50);
    await sleep(200);
    await finishProbe();
    const killedAt = Date.now();
    await target.kill();
    stop = true;
    await Promise.all(loops);
    const store = new DataStore(path.join(target.dir, 'data'), quiet);
    store.load();
    let checked = 0;
    const lost: string[] = [];
    for (const [key, { value, at }] of acked) {
      const v = store.get(['app', key]);
      if (v instanceof DataTableRef) lost.push(`${key} came back as a table`);
      else if (at < killedAt - 50) {
        checked++;
        if (v !== value) lost.push(`${key}, acknowledged ${killedAt - at} ms before the kill, reads ${JSON.stringify(v)}`);
      } else if (v !== null && v !== value) lost.push(`${key} came back with another value`);
    }
    await store.flush();
    return {
      ok: lost.length === 0 && acked.size > 200 && checked > 50,
      summary: `${lost.length} of ${checked} writes acknowledged >50 ms before the kill lost (${acked.size} acknowledged)`,
      acked: acked.size,
      checked,
      lost,
    };
  },
};

// ---- RTMFP ------------------------------------------------------------------------------------

function adminClients(port: number): Promise<Array<{ protocol: string; address: string }>> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/v1/clients' }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          try {
            const body = JSON.parse(text) as { clients?: Array<{ protocol: string; address: string }> } | Array<{ protocol: string; address: string }>;
            resolve(Array.isArray(body) ? body : body.clients ?? []);
          } catch (e) {
            reject(e);
          }
        });
      })
      .on('error', reject);
  });
}

export const rtmfpReplay: AttackCase<Outcome & { replayed: number; probes: number; moved: boolean }> = {
  name: 'rtmfp-replay',
  title: "RTMFP: a session's captured packets replayed from 200 other ports, 40,000 datagrams in 5 s",
  issue: 8,
  target: { rtmfp: true },
  timeoutMs: 60_000,
  async run({ target }) {
    const port = target.ports.rtmfp;
    const client = new RtmfpTestClient({ port });
    const sent: Buffer[] = [];
    client.onSend = (d) => sent.push(d);
    const attackers: dgram.Socket[] = [];
    let probes = 0;
    try {
      await client.connect(`rtmfp://127.0.0.1:${port}/app`);
      for (let i = 0; i < 3; i++) await client.call('echo', i);
      const home = `127.0.0.1:${client.socket.address().port}`;
      const captured = sent.slice(-8);
      for (let i = 0; i < 200; i++) {
        const s = dgram.createSocket('udp4');
        s.on('message', () => probes++);
        s.on('error', () => {});
        await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
        attackers.push(s);
      }
      let replayed = 0;
      const end = Date.now() + 5000;
      for (let round = 0; round < 25 && Date.now() < end; round++) {
        for (const s of attackers) for (const d of captured) (s.send(d, port, '127.0.0.1'), replayed++);
        // the real peer goes on meanwhile, so its captured packets become old
        if (round % 5 === 0) await client.call('echo', round);
        await sleep(200);
      }
      const answered = (await client.call('echo', 'after')) as unknown[];
      const clients = await adminClients(target.ports.admin);
      const rtmfp = clients.filter((c) => c.protocol === 'RTMFP');
      const moved = !(rtmfp.length === 1 && rtmfp[0].address === home);
      await sleep(200);
      return {
        // at most one probe per replayed datagram: no amplification towards a spoofed address
        ok: !moved && answered[0] === 'after' && probes <= replayed,
        summary: `session ${moved ? 'MOVED' : 'stayed'} at its address; ${probes} probes sent to ${replayed} replays; its calls answered`,
        replayed,
        probes,
        moved,
      };
    } finally {
      attackers.forEach((s) => s.close());
      await client.close();
    }
  },
};

// ---- live players -----------------------------------------------------------------------------

export const flvStall: AttackCase<Outcome & { dropped: number; players: number; dropSeconds: number }> = {
  name: 'flv-stall',
  title: 'HTTP-FLV and WebSocket-FLV: 40 + 40 players of an 8 Mbit/s stream that stop reading',
  issue: 10,
  target: { ini: STALL },
  timeoutMs: 90_000,
  async run({ target }) {
    const publisher = new RTMPClient({ port: target.ports.rtmp });
    const sockets: net.Socket[] = [];
    let timer: NodeJS.Timeout | null = null;
    try {
      await publisher.connect('app');
      const sid = await publisher.createStream();
      publisher.command('publish', ['big'], sid);
      await publisher.status(sid, 'NetStream.Publish.Start');
      // 25 frames a second of 40 KB, a key frame a second: 8 Mbit/s, the kernel's buffers fill in a second
      let n = 0;
      const body = randomBytes(40 * 1024);
      timer = setInterval(() => {
        const key = n % 25 === 0;
        const payload = Buffer.concat([Buffer.from([key ? 0x17 : 0x27, 1, 0, 0, 0]), body]);
        publisher.messages.length = 0;
        publisher.sendVideo(sid, n++ * 40, payload);
      }, 40);
      // a healthy HTTP-FLV player of the same stream
      let healthyBytes = 0;
      const healthy = net.connect(target.ports.http, '127.0.0.1');
      healthy.on('data', (d) => (healthyBytes += d.length));
      healthy.on('error', () => {});
      healthy.write('GET /app/big.flv HTTP/1.1\r\nHost: t\r\n\r\n');
      sockets.push(healthy);
      const players: net.Socket[] = [];
      for (let i = 0; i < 40; i++) {
        const s = net.connect({ port: target.ports.http, host: '127.0.0.1', localAddress: '127.0.0.2' });
        s.on('error', () => {});
        s.once('data', () => s.pause()); // the head, then never again
        s.write('GET /app/big.flv HTTP/1.1\r\nHost: t\r\n\r\n');
        players.push(s);
      }
      for (let i = 0; i < 40; i++) {
        const s = await rawWebSocket(target.ports.http, '127.0.0.2', '/app/big.flv');
        s.pause();
        players.push(s);
      }
      sockets.push(...players);
      // a paused socket never sees the server's FIN: the server's own list of clients tells
      const stalledLeft = async () => (await adminClients(target.ports.admin)).filter((c) => c.address.startsWith('127.0.0.2:')).length;
      const started = Date.now();
      let left = players.length;
      while (left > 0 && Date.now() - started < 30_000) {
        await sleep(500);
        left = await stalledLeft();
      }
      const dropSeconds = (Date.now() - started) / 1000;
      const before = healthyBytes;
      await sleep(1000);
      const flowing = healthyBytes > before && !healthy.destroyed && !publisher.closed;
      return {
        ok: left === 0 && flowing,
        summary: `${players.length - left} of ${players.length} stalled players dropped within ${dropSeconds.toFixed(1)} s; the reading player ${flowing ? 'kept receiving' : 'STOPPED'}`,
        dropped: players.length - left,
        players: players.length,
        dropSeconds,
      };
    } finally {
      if (timer) clearInterval(timer);
      sockets.forEach((s) => s.destroy());
      await publisher.close();
    }
  },
};

/** The whole campaign, in the issue's order. */
export const CAMPAIGN: AttackCase[] = [
  rtmpChunks,
  wsFragments,
  httpPipeline,
  wsPingFlood,
  wsRpcBatch,
  luaRunaway,
  httpDribble,
  emfile,
  rtmpeReplay,
  rtmpeFloodIPs,
  rtmfpReplay,
  dataKill,
  flvStall,
];
