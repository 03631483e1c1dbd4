/**
 * `data` keeps what it acknowledged: a script assigns `data[k]` in an RPC, the RPC's answer reaches
 * the client, then the server process is killed (SIGKILL, no chance to flush). At the next start
 * every key whose answer came more than 50 ms before the kill is there with its value, and no key
 * came back as a table or a corrupted value. Through the real executable, over WebSocket (`ws`).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import WebSocket from 'ws';
import { Level, type Logger } from '../../src/logs/levels';
import { DataStore, DataTableRef } from '../../src/scripting/data-store';
import { freePorts, startCli, tempDir, writeIni } from '../process/helpers';

const APP = `
function onConnection(client)
  function client:put(k, v) data[k] = v; return k end
end
`;

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

test('every write acknowledged 50 ms before a SIGKILL is there after a restart, nothing is corrupted', async (t) => {
  const dir = tempDir('monats-durable-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'www', 'store'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'www', 'store', 'main.lua'), APP);
  const ports = await freePorts();
  writeIni(dir, ports);
  const server = startCli([`--config=${path.join(dir, 'MonaServer.ini')}`], dir);
  t.after(() => server.kill());
  await server.waitFor(/HTTP server started/);

  // 4 WebSocket clients in closed loops, each RPC a new key; acknowledgements timestamped on arrival
  const acked = new Map<string, { value: string; at: number }>();
  let stop = false;
  const loop = (n: number) =>
    new Promise<void>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${ports.http}/store`);
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
  while (acked.size < 400 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 200));
  const killedAt = Date.now();
  server.kill();
  stop = true;
  await server.exited;
  await Promise.all(loops);
  assert.ok(acked.size > 200, `only ${acked.size} writes acknowledged before the kill`);

  const store = new DataStore(path.join(dir, 'data'), quiet);
  store.load();
  let checked = 0;
  for (const [key, { value, at }] of acked) {
    const v = store.get(['store', key]);
    assert.ok(!(v instanceof DataTableRef), `${key} came back as a table`);
    if (at < killedAt - 50) {
      checked++;
      assert.equal(v, value, `${key}, acknowledged ${killedAt - at} ms before the kill`);
    } else if (v !== null) assert.equal(v, value, `${key} came back with another value`);
  }
  assert.ok(checked > 50, `${checked} writes old enough to check`);
  await store.flush();
});
