/**
 * NetGroup bench, run by hand: `npx tsc -p . && node --expose-gc dist/bench/rtmfp-group.js [members]`
 * (members: 5000 by default).
 *  1. the registry alone (core Groups, in this process): joins per second as one group grows to
 *     `members` and to 10x that (a join costs a binary search, one array move and at most 10
 *     introductions, so the rate should barely move), leaves per second, heap per member;
 *  2. through the RTMFP server (child process, bench/rtmfp-server.ts): `members` connected
 *     sessions each open a NetGroup flow and join one group; joins per second seen by the server,
 *     server CPU per join against the same sessions each making one RPC (baseline), server heap
 *     and RSS the group costs on top of the sessions, introductions per member.
 * Each registry figure is the median of 5 runs after a warm-up run. No peer server runs beside it: MonaServer C++ is
 * the only other RTMFP server and it is not packaged.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { FolderHost } from '../src/core/app-host';
import { Groups, type GroupMember } from '../src/core/groups';
import { groupAddress } from '../src/protocols/rtmfp/group-message';
import { RtmfpTestClient } from '../test/helpers/rtmfp-client';

interface Mem {
  rss: number;
  heapUsed: number;
}

const gc = (globalThis as { gc?: () => void }).gc;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

function registry(members: number): { joins: number; leaves: number; heapPerMember: number; introductions: number } {
  const groups = new Groups(() => new FolderHost('/nonexistent'));
  groups.memberAddress = groupAddress;
  const peers = Array.from({ length: members }, (_, i) => createHash('sha256').update(`peer${i}`).digest());
  const gid = randomBytes(32);
  let introductions = 0;
  const sink = { introduce: () => void introductions++ };
  gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const made: GroupMember[] = [];
  const t0 = performance.now();
  for (const p of peers) made.push(groups.join(p, gid, null, sink));
  const t1 = performance.now();
  const joinIntroductions = introductions;
  gc?.();
  const heapPerMember = (process.memoryUsage().heapUsed - heap0) / members;
  for (const m of made) m.release();
  const t2 = performance.now();
  return { joins: members / ((t1 - t0) / 1000), leaves: members / ((t2 - t1) / 1000), heapPerMember, introductions: joinIntroductions / members };
}

interface State {
  mem: Mem;
  sessions: number;
  groups: number[];
  cpuMs: number;
}

function ask(child: ChildProcess): Promise<State> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as State));
    child.send('mem');
  });
}

function groupSizes(child: ChildProcess): Promise<number[]> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve((m as { groups: number[] }).groups));
    child.send('groups');
  });
}

async function throughServer(members: number): Promise<void> {
  const child = fork(path.join(__dirname, 'rtmfp-server.js'), ['0'], { execArgv: ['--expose-gc', ...(process.env.SERVER_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.SERVER_PROF}`] : [])] });
  const port = await new Promise<number>((resolve) => child.once('message', (m) => resolve((m as { port: number }).port)));
  const clients: RtmfpTestClient[] = [];
  try {
    const c0 = performance.now();
    for (let i = 0; i < members; i += 50) {
      const batch = Array.from({ length: Math.min(50, members - i) }, () => new RtmfpTestClient({ port }));
      await Promise.all(batch.map((c) => c.connect(`rtmfp://127.0.0.1:${port}/live`)));
      clients.push(...batch);
    }
    console.log(`through the server: ${members} sessions connected in ${((performance.now() - c0) / 1000).toFixed(1)} s`);
    await new Promise((r) => setTimeout(r, 500));
    // baseline: one RPC per session (a message in, an answer out), the same way
    const r0 = await ask(child);
    const rt0 = performance.now();
    await Promise.all(clients.map((c) => c.call('nothing').catch(() => undefined)));
    const rpcWall = (performance.now() - rt0) / 1000;
    await new Promise((r) => setTimeout(r, 1000));
    const r1 = await ask(child);
    const cpuPerRpc = ((r1.cpuMs - r0.cpuMs) * 1000) / members;
    console.log(`through the server: baseline ${members} RPCs in ${rpcWall.toFixed(2)} s, server CPU ${cpuPerRpc.toFixed(0)} µs/RPC`);
    const before = await ask(child);
    const told = new Map<RtmfpTestClient, number>();
    for (const c of clients) c.on('groupMember', () => told.set(c, (told.get(c) ?? 0) + 1));
    const gid = randomBytes(32);
    const t0 = performance.now();
    for (const c of clients) c.joinGroup(gid);
    let size = 0;
    while (size < members) {
      await new Promise((r) => setTimeout(r, 50));
      size = (await groupSizes(child))[0] ?? 0;
      if (performance.now() - t0 > 120_000) throw new Error(`only ${size} joined`);
    }
    const s = (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 1000));
    const after = await ask(child);
    const cpuPerJoin = ((after.cpuMs - before.cpuMs) * 1000) / members;
    const counts = [...told.values()];
    const total = counts.reduce((a, b) => a + b, 0);
    console.log(
      `through the server: ${members} joins in ${s.toFixed(2)} s = ${fmt(members / s)} joins/s (all sent at once, clients in this process), ` +
        `server CPU ${cpuPerJoin.toFixed(0)} µs/join (flow, registry, introductions and their acknowledgements) = ${fmt(1e6 / cpuPerJoin)} joins per CPU-second, ` +
        `${(cpuPerJoin / cpuPerRpc).toFixed(2)}x an RPC; ` +
        `group of ${after.groups[0]}: server heap +${((after.mem.heapUsed - before.mem.heapUsed) / members).toFixed(0)} B/member, ` +
        `rss +${((after.mem.rss - before.mem.rss) / 1048576).toFixed(1)} MB in all; introductions: ${(total / members).toFixed(1)}/member, at most ${Math.max(...counts)}`,
    );
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    child.send('stop');
  }
}

async function main(): Promise<void> {
  const members = Number(process.argv[2] ?? 5000);
  if (!gc) console.log('(run with --expose-gc for the memory figures)');
  registry(members); // warm-up (JIT)
  for (const n of [members, members * 10]) {
    const runs = Array.from({ length: 5 }, () => registry(n));
    console.log(
      `registry, one group of ${fmt(n)}: ${fmt(median(runs.map((r) => r.joins)))} joins/s, ${fmt(median(runs.map((r) => r.leaves)))} leaves/s, ` +
        `${median(runs.map((r) => r.heapPerMember)).toFixed(0)} B heap/member, ${median(runs.map((r) => r.introductions)).toFixed(1)} introductions/join (median of 5)`,
    );
  }
  await throughServer(members);
}

void main();
