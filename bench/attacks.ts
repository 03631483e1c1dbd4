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
 * server's environment, e.g. --env=MALLOC_ARENA_MAX=2)  --json=file (every result).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { CAMPAIGN, runCase, type CaseResult } from '../test/helpers/attacks';
import { LATENCY_BOUND_MS, MEMORY_BOUND_MB } from '../test/helpers/attack-kit';

const args = process.argv.slice(2);
const option = (name: string) => args.filter((a) => a.startsWith(`--${name}=`)).map((a) => a.slice(name.length + 3));
const only = option('only')[0]?.split(',');
const repeat = Number(option('repeat')[0] ?? 1);
const settleMs = Number(option('settle')[0] ?? 10_000);
const env = Object.fromEntries(option('env').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
const jsonFile = option('json')[0];

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
  for (let r = 0; r < repeat; r++) {
    for (const c of cases) {
      process.stderr.write(`run ${r + 1}/${repeat}: ${c.name}… `);
      const result = await runCase(c, { settleMs, inspect: true, env });
      process.stderr.write(`${result.survived ? 'survived' : 'FAILED'}${result.problems.length ? ' — ' + result.problems.join('; ') : ''}\n`);
      results.set(c.name, [...(results.get(c.name) ?? []), result]);
    }
  }
  if (jsonFile) fs.writeFileSync(jsonFile, JSON.stringify([...results.values()].flat(), null, 2));

  const load = os.loadavg()[0].toFixed(1);
  console.log(`\n${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} × ${os.cpus()[0]?.model.trim()}, node ${process.version}, load ${load} at the end, ${repeat} run(s) each (medians), settle ${settleMs / 1000} s${Object.keys(env).length ? ', env ' + JSON.stringify(env) : ''}; bounds: RSS +${MEMORY_BOUND_MB} MB (RTMP chunks +64), healthy latency ${LATENCY_BOUND_MS} ms\n`);
  console.log('| # | attack | peak RSS growth (MB) | worst healthy latency (ms): file / RPC / RTMP | survived | RSS after settle (MB over baseline) | after a forced GC | server CPU (s) | outcome |');
  console.log('|---|---|---:|---|---|---:|---:|---:|---|');
  for (const c of cases) {
    const rs = results.get(c.name)!;
    const med = (f: (x: CaseResult) => number | undefined) => median(rs.map((x) => f(x) ?? NaN));
    const survived = rs.filter((x) => x.survived && x.problems.length === 0).length;
    const latency = `**${med((x) => x.health.worst).toFixed(0)}**: ${c.probe?.fileDuringAttack === false ? '(after) ' : ''}${med((x) => x.health.file).toFixed(0)} / ${med((x) => x.health.rpc).toFixed(0)} / ${med((x) => x.health.rtmp).toFixed(0)}`;
    const last = rs[rs.length - 1];
    console.log(
      `| ${c.issue} | ${c.title} | ${mb(med((x) => x.peakMB))} | ${latency} | ${survived === rs.length ? 'yes' : `${survived}/${rs.length}`} | ${c.killsServer ? '—' : mb(med((x) => x.afterMB))} | ${c.killsServer ? '—' : mb(med((x) => x.afterGcMB))} | ${med((x) => x.cpuSeconds).toFixed(1)} | ${last.outcome.summary}${last.problems.length ? ' — ' + last.problems.join('; ') : ''} |`,
    );
  }

  console.log('\nWhat stayed after the forced collection (MB over the baseline; medians): V8 heap reserved (heapTotal), of it in use, external memory (Buffers and other off-heap data V8 knows of), and the rest of RSS (glibc malloc arenas of Node, libuv, OpenSSL, the Lua VM; code pages).\n');
  console.log('| attack | RSS | V8 heapTotal | V8 heapUsed | external | rest |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const c of cases) {
    if (c.killsServer) continue;
    const rs = results.get(c.name)!.filter((x) => x.memoryBase && x.memoryAfter);
    if (!rs.length) continue;
    const d = (f: (m: NodeJS.MemoryUsage) => number) => median(rs.map((x) => (f(x.memoryAfter!) - f(x.memoryBase!)) / MiB));
    const rss = d((m) => m.rss);
    const heap = d((m) => m.heapTotal);
    const external = d((m) => m.external);
    console.log(`| ${c.name} | ${mb(rss)} | ${mb(heap)} | ${mb(d((m) => m.heapUsed))} | ${mb(external)} | ${mb(rss - heap - external)} |`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
