/**
 * `data` write rate with and without the write-ahead journal, one run, same machine:
 * bursts of assignments as scripts make them (100 keys per event-loop turn, 2,000 distinct keys,
 * ~100-byte values), measured as (a) how long until a burst is durable (journal committed, or
 * written to the layout without a journal) — medians and 99th percentiles — and (b) the sustained
 * rate of durable writes, and (c) how long the layout takes to catch up.
 *
 *   npx tsc -p . && node dist/bench/data-journal.js [bursts=200]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Level, type Logger } from '../src/logs/levels';
import { DataStore } from '../src/scripting/data-store';

const quiet: Logger = {
  level: Level.ERROR, dumping: false, log() {}, fatal() {}, critic() {}, error: (_s, m) => console.error(m), warn() {},
  note() {}, info() {}, debug() {}, trace() {}, enabled: () => false, dump() {},
};

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

async function run(journal: boolean, bursts: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-data-'));
  try {
    const store = new DataStore(path.join(dir, 'data'), quiet, { journal });
    store.load();
    store.setTable(['app']);
    await store.flush();
    const lags: number[] = [];
    const started = performance.now();
    let pending: Array<Promise<void>> = [];
    for (let b = 0; b < bursts; b++) {
      for (let i = 0; i < 100; i++) store.set(['app', `k${(b * 100 + i) % 2000}`], `burst ${b} item ${i} `.padEnd(100, '.'));
      const t0 = performance.now();
      pending.push(store.committed().then(() => void lags.push(performance.now() - t0)));
      // at most 8 bursts waiting to be durable, as 8 clients each waiting for their answer
      if (pending.length >= 8) {
        await Promise.all(pending);
        pending = [];
      }
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(pending);
    const durable = performance.now() - started;
    await store.flush();
    const layout = performance.now() - started;
    lags.sort((a, b) => a - b);
    const writes = bursts * 100;
    console.log(
      [
        journal ? 'journal   ' : 'no journal',
        `${Math.round(writes / (durable / 1000)).toLocaleString('en-US').padStart(9)} durable writes/s`,
        `burst durable after p50 ${percentile(lags, 50).toFixed(1)} ms, p99 ${percentile(lags, 99).toFixed(1)} ms`,
        `layout complete after ${(layout / 1000).toFixed(2)} s`,
      ].join(' | '),
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const bursts = Number(process.argv[2] ?? 200);
  console.log(`${bursts} bursts of 100 assignments over 2,000 keys`);
  for (let i = 0; i < 2; i++) {
    await run(true, bursts);
    await run(false, bursts);
  }
}

void main();
