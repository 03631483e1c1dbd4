/**
 * The write-ahead journal of `data`: record format (intact records replay, a torn or corrupted tail
 * is dropped, never half-applied), changes durable before the layout catches up, compaction keeping
 * the file small, and replay onto a layout that is older or newer than the journal.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Level, type Logger } from '../../src/logs/levels';
import { DataStore, DataTableRef } from '../../src/scripting/data-store';
import { JOURNAL_NAME, crc32, decodeRecords, encodeRecord, type JournalRecord } from '../../src/scripting/data-journal';
import { tempDir } from '../helpers/temp';

function logger(lines: string[] = []): Logger {
  const add = (m: string) => void lines.push(m);
  return {
    level: Level.TRACE,
    dumping: false,
    log: (_l, _s, m) => add(m),
    fatal: (_s, m) => add(m),
    critic: (_s, m) => add(m),
    error: (_s, m) => add(m),
    warn: (_s, m) => add(m),
    note: (_s, m) => add(m),
    info: (_s, m) => add(m),
    debug: () => {},
    trace: () => {},
    enabled: () => true,
    dump() {},
  };
}

/** Removed at the end of the file (helpers/temp): background writes may outlive a test's last await. */
function tempData(_t: unknown): string {
  return path.join(tempDir('monats-journal-'), 'data');
}

const records: JournalRecord[] = [
  { op: 'table', path: ['live'] },
  { op: 'set', path: ['live', 'count'], bytes: Buffer.from('12') },
  { op: 'set', path: ['bin'], bytes: Buffer.from([0, 0xff, 0x80]) },
  { op: 'set', path: ['empty'], bytes: Buffer.alloc(0) },
  { op: 'delete', path: ['live', 'gone', 'ünïcode'] },
];

test('records: what is encoded decodes; a torn or corrupted tail ends the journal there', () => {
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926, 'the standard CRC-32 check value');
  const all = Buffer.concat(records.map(encodeRecord));
  const back = decodeRecords(all);
  assert.equal(back.end, all.length);
  assert.deepEqual(back.records, records);
  // cut anywhere inside the last record: the first four stay, nothing of the fifth
  const lastStart = all.length - encodeRecord(records[4]).length;
  for (let cut = lastStart; cut < all.length; cut++) {
    const r = decodeRecords(all.subarray(0, cut));
    assert.equal(r.records.length, 4);
    assert.equal(r.end, lastStart);
  }
  // one flipped byte in the third record's body: replay stops before it
  const third = encodeRecord(records[0]).length + encodeRecord(records[1]).length;
  const bad = Buffer.from(all);
  bad[third + 10] ^= 0x40;
  assert.equal(decodeRecords(bad).records.length, 2);
  // garbage lengths are not believed
  assert.equal(decodeRecords(Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 1])).records.length, 0);
});

test('a change is durable once committed, before the layout holds it: a crash right then loses nothing', async (t) => {
  const root = tempData(t);
  const module = path.join(__dirname, '../../src/scripting/data-store.js');
  // the child changes the store, waits for the journal's commit, and dies at once (SIGKILL)
  const script = `
    const { DataStore } = require(${JSON.stringify(module)});
    const quiet = { warn() {}, error() {}, debug() {}, info() {} };
    const a = new DataStore(${JSON.stringify(root)}, quiet);
    a.load();
    a.setTable(['t']);
    a.set(['t', 'x'], 'one');
    a.set(['n'], 10);
    a.delete(['t', 'x']);
    a.set(['t', 'y'], true);
    a.setTable(['many']);
    for (let i = 0; i < 200; i++) a.set(['many', 'k' + i], 'v' + i);
    a.committed().then(() => process.kill(process.pid, 'SIGKILL'));
  `;
  const child = spawnSync(process.execPath, ['-e', script]);
  assert.equal(child.signal, 'SIGKILL', child.stderr.toString());
  const lines: string[] = [];
  const b = new DataStore(root, logger(lines));
  b.load();
  assert.equal(b.get(['t', 'x']), null);
  assert.equal(b.get(['t', 'y']), true);
  assert.notEqual(b.get(['n']), null);
  for (let i = 0; i < 200; i++) assert.equal(b.get(['many', 'k' + i]), 'v' + i);
  await b.flush();
  assert.equal(fs.statSync(path.join(root, JOURNAL_NAME)).size, 0, 'the journal is emptied once the layout holds everything');
  const c = new DataStore(root, logger());
  c.load();
  assert.equal(c.get(['many', 'k199']), 'v199', 'and the layout alone now holds it');
});

test('a torn journal tail is dropped with a warning, the rest replays', (t) => {
  const root = tempData(t);
  fs.mkdirSync(root, { recursive: true });
  const intact = Buffer.concat(records.slice(0, 3).map(encodeRecord));
  const torn = encodeRecord(records[3]).subarray(0, 5);
  fs.writeFileSync(path.join(root, JOURNAL_NAME), Buffer.concat([intact, torn]));
  const lines: string[] = [];
  const s = new DataStore(root, logger(lines));
  s.load();
  assert.equal(s.get(['live', 'count']), s.get(['live', 'count'])); // present, typed as the store types it
  assert.notEqual(s.get(['live', 'count']), null);
  assert.deepEqual(s.get(['bin']), Buffer.from([0, 0xff, 0x80]));
  assert.ok(lines.some((l) => /bytes after the last intact record dropped/.test(l)));
  assert.equal(fs.statSync(path.join(root, JOURNAL_NAME)).size, intact.length);
});

test('replay meets a layout newer than the journal (a table where the journal set a value first)', (t) => {
  const root = tempData(t);
  fs.mkdirSync(path.join(root, 'k', 'a'), { recursive: true });
  fs.writeFileSync(path.join(root, 'k', 'a', 'c4ca4238a0b923820dcc509a6f75849b'), '1'); // md5("1")
  // history: k = 5, then k = nil, k = {}, k.a = 1 (only the first record reached the journal)
  fs.writeFileSync(path.join(root, JOURNAL_NAME), encodeRecord({ op: 'set', path: ['k'], bytes: Buffer.from('5') }));
  const s = new DataStore(root, logger());
  s.load();
  assert.notEqual(s.get(['k']), null);
  assert.ok(!(s.get(['k']) instanceof DataTableRef), 'the journal wins: an older but consistent state');
});

test('compaction keeps the journal small under a steady stream of changes', async (t) => {
  const root = tempData(t);
  const s = new DataStore(root, logger(), { journal: { compactBytes: 16 * 1024 } });
  s.load();
  let biggest = 0;
  for (let round = 0; round < 40; round++) {
    for (let k = 0; k < 50; k++) s.set([`k${k}`], `round ${round} ${'x'.repeat(100)}`);
    await new Promise((r) => setTimeout(r, 10));
    biggest = Math.max(biggest, fs.statSync(path.join(root, JOURNAL_NAME)).size);
  }
  await s.flush();
  assert.ok(biggest < 40 * 50 * 120, `journal peaked at ${biggest} bytes, less than all the changes written`);
  const again = new DataStore(root, logger());
  again.load();
  for (let k = 0; k < 50; k++) assert.match(String(again.get([`k${k}`])), /^round 39 /);
});
