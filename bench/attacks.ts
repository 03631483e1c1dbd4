/**
 * The hardening campaign, run by hand: `npx tsc -p . && node dist/bench/attacks.js [options]`.
 * Every attack of test/helpers/attacks.ts (the same code the tests run) against the real server
 * executable in a child process, one fresh server per attack, loopback only; prints a Markdown
 * table: attack, peak RSS growth, worst latency the healthy client saw (static file on a fresh
 * connection, RPC over WebSocket, RTMP play; the slowest of the three), survived, and RSS over the
 * baseline after a settle period, then after a full collection forced through node's inspector
 * (the server runs with --inspect on 127.0.0.1; no flag of the server itself). With --repeat N each
 * figure is the median of N runs. A second table splits what stayed: V8 heap, external (Buffers),
 * and the rest (malloc'd by Node, libuv, OpenSSL, LuaJIT, glibc's free lists).
 *
 * Options: --only=name,name  --repeat=N (1)  --settle=ms (10000)  --env=K=V (repeatable: the
 * server's environment, e.g. --env=MALLOC_ARENA_MAX=2)  --trim (then call glibc's malloc_trim(0)
 * in the server through gdb and read RSS again: what of the rest is free memory glibc keeps)
 * --repeat=0 --rounds=N (then each attack N times on one server, RSS after each round once
 * settled, then after a forced collection: what stays is reused, not leaked, if it does not grow
 * round after round)
 * --json=file (every result)  --from-json=file (prints the tables of a saved run, runs nothing).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { CAMPAIGN, rssAcrossRounds, runCase, type CaseResult } from '../test/helpers/attacks';
import { LATENCY_BOUND_MS, MEMORY_BOUND_MB } from '../test/helpers/attack-kit';

const args = process.argv.slice(2);
const option = (name: string) => args.filter((a) => a.startsWith(`--${name}=`)).map((a) => a.slice(name.length + 3));
const only = option('only')[0]?.split(',');
const repeat = Number(option('repeat')[0] ?? 1);
const settleMs = Number(option('settle')[0] ?? 10_000);
const env = Object.fromEntries(option('env').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
const jsonFile = option('json')[0];
const trim = args.includes('--trim');
const rounds = Number(option('rounds')[0] ?? 0);
const fromJson = option('from-json')[0];

function median(xs: number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const mb = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(1));
const MiB = 1024 * 1024;

async function main(): Promise<void> {
  const cases = CAMPAIGN.filter((c) => !only || only.includes(c.name));
  const results = new Map<string, CaseResult[]>();
  if (fromJson) {
    for (const r of JSON.parse(fs.readFileSync(fromJson, 'utf8')) as CaseResult[]) results.set(r.name, [...(results.get(r.name) ?? []), r]);
    printTables(
      cases.filter((c) => results.has(c.name)),
      results,
    );
    return;
  }
  for (let r = 0; r < repeat; r++) {
    for (const c of cases) {
      process.stderr.write(`run ${r + 1}/${repeat}: ${c.name}… `);
      const result = await runCase(c, { settleMs, inspect: true, env, trim });
      process.stderr.write(`${result.survived ? 'survived' : 'FAILED'}${result.problems.length ? ' — ' + result.problems.join('; ') : ''}\n`);
      results.set(c.name, [...(results.get(c.name) ?? []), result]);
    }
  }
  if (jsonFile) fs.writeFileSync(jsonFile, JSON.stringify([...results.values()].flat(), null, 2));

  if (repeat > 0) printTables(cases, results);

  if (rounds > 0) {
    console.log(`\nThe same attack ${rounds} times on one server, RSS over its baseline (MB) after each round and ${settleMs / 1000} s of quiet, then after a forced collection (settled / after GC):\n`);
    console.log(`| attack | ${Array.from({ length: rounds }, (_, i) => `round ${i + 1}`).join(' | ')} |`);
    console.log(`|---|${'---:|'.repeat(rounds)}`);
    for (const c of cases) {
      if (c.killsServer) continue;
      process.stderr.write(`${rounds} rounds on one server: ${c.name}…\n`);
      const rss = await rssAcrossRounds(c, rounds, settleMs, { env, inspect: true });
      console.log(`| ${c.name} | ${rss.map((r) => `${mb(r.settledMB)} / ${mb(r.afterGcMB)}`).join(' | ')} |`);
    }
  }
}

function printTables(cases: typeof CAMPAIGN, results: Map<string, CaseResult[]>): void {
  const load = os.loadavg()[0].toFixed(1);
  const runs = Math.max(...[...results.values()].map((r) => r.length));
  const trimmed = [...results.values()].flat().some((r) => r.afterTrimMB !== undefined);
  console.log(`\n${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} × ${os.cpus()[0]?.model.trim()}, node ${process.version}, load ${load} at the end, ${runs} run(s) each (medians), settle ${settleMs / 1000} s${Object.keys(env).length ? ', env ' + JSON.stringify(env) : ''}; bounds: RSS +${MEMORY_BOUND_MB} MB (RTMP chunks +64), healthy latency ${LATENCY_BOUND_MS} ms\n`);
  console.log('| # | attack | peak RSS growth (MB) | worst healthy latency (ms): file / RPC / RTMP | survived | RSS after settle (MB over baseline) | after a forced GC | server CPU (s) | outcome |');
  console.log('|---|---|---:|---|---|---:|---:|---:|---|');
  for (const c of cases) {
    const rs = results.get(c.name)!;
    const med = (f: (x: CaseResult) => number | undefined) => median(rs.map((x) => f(x) ?? NaN));
    const survived = rs.filter((x) => x.survived && x.problems.length === 0).length;
    // a case that holds every descriptor: the file is fetched once the attack let go
    const file = c.probe?.fileDuringAttack === false ? `${med((x) => x.servedAfterMs ?? NaN).toFixed(0)} (after)` : med((x) => x.health.file).toFixed(0);
    const latency = `**${med((x) => x.health.worst).toFixed(0)}**: ${file} / ${med((x) => x.health.rpc).toFixed(0)} / ${med((x) => x.health.rtmp).toFixed(0)}`;
    const last = rs[rs.length - 1];
    console.log(
      `| ${c.issue} | ${c.title} | ${mb(med((x) => x.peakMB))} | ${latency} | ${survived === rs.length ? 'yes' : `${survived}/${rs.length}`} | ${c.killsServer ? '—' : mb(med((x) => x.afterMB))} | ${c.killsServer ? '—' : mb(med((x) => x.afterGcMB))} | ${c.killsServer ? '—' : med((x) => x.cpuSeconds).toFixed(1)} | ${last.outcome.summary}${last.problems.length ? ' — ' + last.problems.join('; ') : ''} |`,
    );
  }

  console.log(
    '\nWhat stayed (MB over the baseline, medians), once settled and after the forced collection: V8 heap reserved (heapTotal), external memory (Buffers and other off-heap data V8 accounts for) and the rest of RSS (what Node, libuv, OpenSSL and the Lua VM took from glibc malloc and glibc keeps; code pages).\n',
  );
  console.log(`| attack | settled: RSS | heapTotal | external | rest | after GC: RSS | heapTotal | external | rest |${trimmed ? ' after malloc_trim: RSS |' : ''}`);
  console.log(`|---|---:|---:|---:|---:|---:|---:|---:|---:|${trimmed ? '---:|' : ''}`);
  for (const c of cases) {
    if (c.killsServer) continue;
    const rs = results.get(c.name)!.filter((x) => x.memoryBase && x.memorySettled && x.memoryAfter);
    if (!rs.length) continue;
    const d = (at: (x: CaseResult) => NodeJS.MemoryUsage, f: (m: NodeJS.MemoryUsage) => number) => median(rs.map((x) => (f(at(x)) - f(x.memoryBase!)) / MiB));
    const split = (at: (x: CaseResult) => NodeJS.MemoryUsage) => {
      const rss = d(at, (m) => m.rss);
      const heap = d(at, (m) => m.heapTotal);
      const external = d(at, (m) => m.external);
      return `${mb(rss)} | ${mb(heap)} | ${mb(external)} | ${mb(rss - heap - external)}`;
    };
    console.log(`| ${c.name} | ${split((x) => x.memorySettled!)} | ${split((x) => x.memoryAfter!)} |${trimmed ? ` ${mb(median(rs.map((x) => x.afterTrimMB ?? NaN)))} |` : ''}`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
