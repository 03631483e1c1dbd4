/**
 * Logger throughput: lines/s through ServerLogger to a rotating file (no console), and how long the
 * event loop is held per call. Run: npx tsc -p . && node dist/bench/logs.js
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Level } from '../src/logs/levels';
import { ServerLogger } from '../src/logs/logger';

async function main(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'monats-bench-logs-'));
  const logger = new ServerLogger({ level: Level.TRACE, console: null, file: { directory: dir, name: 'log', rotation: 5 } });
  const lines = 200_000;
  const message = 'RTMP session 127.0.0.1:53412 NetStream.Play.Start live/stream1 '.repeat(2);
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const start = process.hrtime.bigint();
  // in bursts of 1000 with a yield between, like a busy server
  for (let i = 0; i < lines; i += 1000) {
    for (let j = 0; j < 1000; j++) logger.info('RTMP', message + (i + j));
    await new Promise((r) => setImmediate(r));
  }
  const queued = Number(process.hrtime.bigint() - start) / 1e6;
  await logger.close();
  const total = Number(process.hrtime.bigint() - start) / 1e6;
  delay.disable();
  const bytes = fs.readdirSync(dir).reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);
  console.log(`${lines} lines: queued in ${queued.toFixed(0)} ms, on disk after ${total.toFixed(0)} ms ` +
    `(${Math.round(lines / (total / 1000))} lines/s, ${(bytes / 1e6).toFixed(1)} MB kept in ${fs.readdirSync(dir).length} files)`);
  console.log(`event loop delay: p50 ${(delay.percentile(50) / 1e6).toFixed(2)} ms, p99 ${(delay.percentile(99) / 1e6).toFixed(2)} ms, max ${(delay.max / 1e6).toFixed(2)} ms`);
  fs.rmSync(dir, { recursive: true, force: true });
}

void main();
