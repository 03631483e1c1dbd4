/**
 * Throughput of the text codecs (JSON, query, XML, XML-RPC) against V8's JSON as a yardstick, and
 * of the persistent data store (writes/s to disk, event-loop delay while it writes).
 * Run: npx tsc -p . && node dist/bench/text-codecs.js
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { decodeJSON, encodeJSON } from '../src/serialization/json';
import { decodeQuery, encodeQuery } from '../src/serialization/query';
import { decodeXML, encodeXML } from '../src/serialization/xml';
import { decodeXMLRPC, encodeXMLRPCResponse } from '../src/serialization/xmlrpc';
import { DataStore } from '../src/scripting/data-store';
import { Level, Logger } from '../src/logs/levels';
import { Table, Value, fromJS } from '../src/serialization/value';

function time(label: string, bytes: number, iterations: number, fn: () => void): void {
  for (let i = 0; i < Math.min(50, iterations); i++) fn(); // warm-up
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const mbps = (bytes * iterations) / 1e6 / (ms / 1000);
  console.log(`${label.padEnd(34)} ${(ms / iterations * 1000).toFixed(1).padStart(8)} µs/op  ${mbps.toFixed(1).padStart(7)} MB/s`);
}

const sample = {
  method: 'chat',
  user: { id: 'c0ffee'.repeat(10), name: 'Jérôme', admin: false, score: 1234.5 },
  messages: Array.from({ length: 50 }, (_, i) => ({ id: i, text: `message number ${i} with some text`, at: 1416000000 + i })),
};
const values: Value[] = [fromJS(sample)];
const json = encodeJSON(values);
const jsonBuf = Buffer.from(json);
time('JSON decode (ours)', jsonBuf.length, 2000, () => decodeJSON(jsonBuf));
time('JSON.parse (V8, yardstick)', jsonBuf.length, 2000, () => JSON.parse(json));
time('JSON encode (ours)', json.length, 2000, () => encodeJSON(values));
time('JSON.stringify (V8, yardstick)', json.length, 2000, () => JSON.stringify([sample]));

const query = encodeQuery([Table.of(Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`key${i}`, `value ${i} é&=`])))]);
time('query decode', query.length, 5000, () => decodeQuery(query));
const queryValues = decodeQuery(query);
time('query encode', query.length, 5000, () => encodeQuery(queryValues));

const xmlrpc = encodeXMLRPCResponse(values);
time('XML-RPC decode', xmlrpc.length, 500, () => decodeXMLRPC(xmlrpc));
time('XML-RPC encode', xmlrpc.length, 500, () => encodeXMLRPCResponse(values));
const xml = xmlrpc; // any XML document will do for the generic mapping
time('XML decode (fromXML)', xml.length, 500, () => decodeXML(xml));
const xmlDoc = decodeXML(xml);
time('XML encode (toXML)', xml.length, 500, () => encodeXML(xmlDoc));

const silent: Logger = {
  level: Level.NONE, dumping: false, log() {}, fatal() {}, critic() {}, error() {}, warn() {}, note() {}, info() {},
  debug() {}, trace() {}, enabled: () => false, dump() {},
};

async function dataStore(): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'monats-bench-data-'));
  const store = new DataStore(path.join(dir, 'data'), silent);
  store.load();
  const keys = 2000;
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const start = process.hrtime.bigint();
  for (let i = 0; i < keys; i++) {
    store.set([`k${i}`], `value ${i}`);
    if (i % 100 === 99) await new Promise((r) => setImmediate(r));
  }
  const queued = Number(process.hrtime.bigint() - start) / 1e6;
  await store.flush();
  const total = Number(process.hrtime.bigint() - start) / 1e6;
  delay.disable();
  console.log(`data store: ${keys} new keys queued in ${queued.toFixed(0)} ms, durable after ${total.toFixed(0)} ms ` +
    `(${Math.round(keys / (total / 1000))} fsync'd writes/s)`);
  console.log(`  event loop delay meanwhile: p50 ${(delay.percentile(50) / 1e6).toFixed(2)} ms, p99 ${(delay.percentile(99) / 1e6).toFixed(2)} ms, max ${(delay.max / 1e6).toFixed(2)} ms`);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < 100_000; i++) store.set(['hot'], i);
  await store.flush();
  console.log(`  100000 writes to one key coalesced and durable in ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(0)} ms`);
  const t1 = process.hrtime.bigint();
  const again = new DataStore(path.join(dir, 'data'), silent);
  again.load();
  console.log(`  load of ${again.keys([]).length} keys at start: ${(Number(process.hrtime.bigint() - t1) / 1e6).toFixed(0)} ms`);
  fs.rmSync(dir, { recursive: true, force: true });
}

void dataStore();
