import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createHash } from 'node:crypto';
import { DataStore, DataStoreError, DataTableRef, typeStoredValue } from '../../src/scripting/data-store';
import { Level, Logger } from '../../src/logs/levels';
import { JOURNAL_NAME } from '../../src/scripting/data-journal';
import { tempDir } from '../helpers/temp';

class RecordingLogger implements Logger {
  level = Level.TRACE;
  readonly lines: Array<{ level: Level; message: string }> = [];
  readonly dumping = false;
  log(level: Level, _source: string, message: string): void {
    this.lines.push({ level, message });
  }
  fatal(s: string, m: string) { this.log(Level.FATAL, s, m); }
  critic(s: string, m: string) { this.log(Level.CRITIC, s, m); }
  error(s: string, m: string) { this.log(Level.ERROR, s, m); }
  warn(s: string, m: string) { this.log(Level.WARN, s, m); }
  note(s: string, m: string) { this.log(Level.NOTE, s, m); }
  info(s: string, m: string) { this.log(Level.INFO, s, m); }
  debug(s: string, m: string) { this.log(Level.DEBUG, s, m); }
  trace(s: string, m: string) { this.log(Level.TRACE, s, m); }
  enabled(level: Level) { return level <= this.level; }
  dump(): void {}
  warnings(): string[] {
    return this.lines.filter((l) => l.level === Level.WARN).map((l) => l.message);
  }
}

const md5 = (s: string | Buffer) => createHash('md5').update(s).digest('hex');

/**
 * Removed at the end of the file, not of the test: stores finish their background writes after a
 * test's last await, and a write into a folder removed under it would make it again.
 */
function tempData(_t: unknown): string {
  return path.join(tempDir('monats-data-'), 'data');
}

/** Writes a value the way MonaServer's PersistentData does: <key folders>/<md5 of content>. */
function writeMona(root: string, keys: string[], content: string | Buffer): void {
  const dir = path.join(root, ...keys);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, md5(content)), content);
}

/**
 * Every file under root as "relative/path" → content (folders listed with a trailing "/"), but
 * the store's own journal (tested on its own).
 */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string, rel: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      if (!rel && e.name === JOURNAL_NAME) continue;
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        out[r + '/'] = '';
        walk(path.join(dir, e.name), r);
      } else out[r] = fs.readFileSync(path.join(dir, e.name), 'latin1');
    }
  };
  if (fs.existsSync(root)) walk(root, '');
  return out;
}

test('a data folder written in MonaServer layout loads: booleans typed, the rest as text', (t) => {
  const root = tempData(t);
  // MonaServer's own functional-test fixture: data/.../init/b326b5062b2f0e69046810717534cb09 = "true"
  assert.equal(md5('true'), 'b326b5062b2f0e69046810717534cb09');
  writeMona(root, ['init'], 'true');
  writeMona(root, ['subdir', 'init'], 'true');
  writeMona(root, ['number'], '10');
  writeMona(root, ['hash', 'a'], 'one');
  writeMona(root, ['hash', 'c', 'c1'], 'three');
  const store = new DataStore(root, new RecordingLogger());
  store.load();
  assert.equal(store.get(['init']), true);
  assert.equal(store.get(['number']), '10');
  assert.equal(store.get(['subdir', 'init']), true);
  assert.ok(store.get(['hash']) instanceof DataTableRef);
  assert.deepEqual((store.get(['hash']) as DataTableRef).path, ['hash']);
  assert.equal(store.get(['hash', 'c', 'c1']), 'three');
  assert.equal(store.get(['missing']), null);
  assert.deepEqual(store.keys([]).sort(), ['hash', 'init', 'number', 'subdir']);
  assert.equal(store.count([]), 2, '# counts values only, like MonaServer');
  assert.equal(store.count(['hash']), 1);
  assert.equal(store.kind(['hash']), 'table');
  assert.equal(store.kind(['init']), 'value');
});

test('what we write is MonaServer layout, byte for byte, and survives a restart', async (t) => {
  const root = tempData(t);
  const store = new DataStore(root, new RecordingLogger());
  store.load();
  store.set(['lastClientId'], 'a1b2');
  store.setTable(['clients']);
  store.set(['clients', '1'], 1416000000);
  store.set(['clients', '2'], 0.1);
  store.set(['flag'], false);
  store.set(['bin'], Buffer.from([0xff, 0x00]));
  store.setTable(['empty']);
  store.setTable(['live']); // a child app's store
  store.set(['live', 'count'], -3.5);
  await store.flush();
  const expected: Record<string, string> = {
    'lastClientId/': '', [`lastClientId/${md5('a1b2')}`]: 'a1b2',
    'clients/': '', 'clients/1/': '', [`clients/1/${md5('1416000000')}`]: '1416000000',
    'clients/2/': '', [`clients/2/${md5('0.1')}`]: '0.1',
    'flag/': '', [`flag/${md5('false')}`]: 'false',
    'bin/': '', [`bin/${md5(Buffer.from([0xff, 0]))}`]: '\xff\x00',
    'empty/': '',
    'live/': '', 'live/count/': '', [`live/count/${md5('-3.5')}`]: '-3.5',
  };
  assert.deepEqual(snapshot(root), expected);

  const again = new DataStore(root, new RecordingLogger(), { journal: false }); // the layout alone, read without writing anything
  again.load();
  assert.equal(again.get(['lastClientId']), 'a1b2');
  assert.equal(again.get(['clients', '1']), '1416000000');
  assert.equal(again.get(['clients', '2']), '0.1');
  assert.equal(again.get(['flag']), false);
  assert.deepEqual(again.get(['bin']), Buffer.from([0xff, 0]));
  assert.deepEqual(again.keys(['empty']), []);
  assert.equal(again.get(['live', 'count']), '-3.5');
});

test('values read back as MonaServer returns them: booleans typed, "null" absent, any other text as it is', (t) => {
  const cases: Array<[string, unknown]> = [
    ['true', true], ['TRUE', true], ['False', false], ['null', null], ['NULL', null], ['007', '007'], ['-12', '-12'],
    ['1.5', '1.5'], ['1e3', '1e3'], ['', ''], ['hello', 'hello'], ['truex', 'truex'],
  ];
  for (const [text, value] of cases) assert.deepEqual(typeStoredValue(Buffer.from(text)), value, JSON.stringify(text));
  assert.deepEqual(typeStoredValue(Buffer.from([0xc3, 0x28])), Buffer.from([0xc3, 0x28]), 'non-UTF-8 → bytes');

  const store = new DataStore(tempData(t), new RecordingLogger());
  store.load();
  // the same before a restart: what was stored is its text
  store.set(['n'], 10);
  assert.equal(store.get(['n']), '10');
  store.set(['s'], '10');
  assert.equal(store.get(['s']), '10');
  store.set(['b'], true);
  assert.equal(store.get(['b']), true);
  store.set(['x'], 'null');
  assert.equal(store.get(['x']), null);
  assert.deepEqual(store.keys([]).sort(), ['b', 'n', 's']);
  store.set(['third'], 1 / 3);
  assert.equal(store.get(['third']), '0.33333333333333', 'Lua prints 14 significant digits');
});

test('a corrupted file is reported with its path and never served', (t) => {
  const root = tempData(t);
  writeMona(root, ['good'], 'kept');
  fs.mkdirSync(path.join(root, 'bad'), { recursive: true });
  const badFile = path.join(root, 'bad', md5('original'));
  fs.writeFileSync(badFile, 'tampered');
  writeMona(root, ['half', 'ok'], 'yes');
  fs.writeFileSync(path.join(root, 'half', md5('x')), 'y'); // corrupted value beside a valid sub-key
  fs.writeFileSync(path.join(root, 'good', 'README'), 'not ours'); // foreign files are ignored
  const logger = new RecordingLogger();
  const store = new DataStore(root, logger);
  store.load();
  assert.equal(store.get(['bad']), null);
  assert.deepEqual(store.keys([]).sort(), ['good', 'half']);
  assert.equal(store.get(['good']), 'kept');
  assert.equal(store.get(['half', 'ok']), 'yes');
  const warnings = logger.warnings();
  assert.equal(warnings.length, 2);
  assert.ok(warnings.some((w) => w.includes(badFile)), warnings.join('\n'));
});

test('deleting a table deletes its sub-tree on disk', async (t) => {
  const root = tempData(t);
  const store = new DataStore(root, new RecordingLogger());
  store.load();
  store.setTable(['hash']);
  store.set(['hash', 'a'], 'one');
  store.setTable(['hash', 'c']);
  store.set(['hash', 'c', 'c1'], 'three');
  store.set(['other'], 1);
  await store.flush();
  assert.ok(fs.existsSync(path.join(root, 'hash', 'c', 'c1', md5('three'))));
  store.delete(['hash']);
  assert.equal(store.get(['hash']), null);
  assert.equal(store.get(['hash', 'c', 'c1']), null);
  await store.flush();
  assert.deepEqual(snapshot(root), { 'other/': '', [`other/${md5('1')}`]: '1' });

  // re-creating a table that existed: old children do not come back
  store.setTable(['t']);
  store.set(['t', 'old'], 'x');
  await store.flush();
  store.delete(['t']);
  store.setTable(['t']);
  store.set(['t', 'new'], 'y');
  await store.flush();
  const again = new DataStore(root, new RecordingLogger(), { journal: false }); // the layout alone, read without writing anything
  again.load();
  assert.deepEqual(again.keys(['t']), ['new']);
});

test('MonaServer rules: no value over a table, no table over a table, parents must be tables, keys checked', (t) => {
  const store = new DataStore(tempData(t), new RecordingLogger());
  store.load();
  store.setTable(['t']);
  assert.throws(() => store.set(['t'], 1), DataStoreError);
  assert.throws(() => store.setTable(['t']), DataStoreError);
  store.set(['v'], 1);
  store.setTable(['v']); // a table replaces a value
  assert.equal(store.kind(['v']), 'table');
  store.set(['s'], 'x');
  assert.throws(() => store.set(['s', 'child'], 1), /not a table/);
  assert.throws(() => store.set(['nope', 'child'], 1), /not a table/);
  for (const bad of ['', '.', '..', 'a/b', 'a\\b', 'nul\0', '.~tmp', 'x'.repeat(201)]) {
    assert.throws(() => store.set([bad], 1), DataStoreError, JSON.stringify(bad));
  }
  assert.throws(() => store.set([], 1), DataStoreError);
  store.set(['s'], null); // nil deletes
  assert.equal(store.get(['s']), null);
  store.ensureTable(['apps', 'live']);
  store.ensureTable(['apps', 'live']); // idempotent
  assert.equal(store.kind(['apps', 'live']), 'table');
  store.set(['apps', 'x'], 1);
  assert.throws(() => store.ensureTable(['apps', 'x', 'y']), /holds a value/);
});

test('writes are queued, coalesced and asynchronous; flushSync writes everything', async (t) => {
  const root = tempData(t);
  const store = new DataStore(root, new RecordingLogger());
  store.load();
  for (let i = 0; i < 1000; i++) store.set(['counter'], i);
  assert.equal(fs.existsSync(path.join(root, 'counter')), false, 'nothing written synchronously');
  assert.equal(store.pending, 1, 'repeated writes to one key are coalesced');
  await store.flush();
  assert.deepEqual(snapshot(root), { 'counter/': '', [`counter/${md5('999')}`]: '999' });

  // flushSync while an async job may be in flight: the disk ends equal to memory
  for (let i = 0; i < 50; i++) store.set([`k${i}`], `v${i}`);
  await new Promise((r) => setImmediate(r));
  store.set(['k0'], 'changed');
  store.flushSync();
  const check = () => {
    const again = new DataStore(root, new RecordingLogger(), { journal: false }); // the layout alone, read without writing anything
    again.load();
    assert.equal(again.get(['k0']), 'changed');
    for (let i = 1; i < 50; i++) assert.equal(again.get([`k${i}`]), `v${i}`);
    assert.equal(again.get(['counter']), '999');
  };
  check(); // on disk as soon as flushSync returns
  await store.flush(); // the interrupted async jobs stop without undoing anything
  check();
  assert.deepEqual(Object.keys(snapshot(root)).filter((f) => f.includes('.~')), [], 'no temporary left');
});

test('crash durability: leftover temporaries and tombstones are ignored and cleaned, newest value wins', (t) => {
  const root = tempData(t);
  writeMona(root, ['k'], 'old');
  // a crash after the temp write but before the rename
  fs.writeFileSync(path.join(root, 'k', `.~tmp-1234-1-${md5('new')}`), 'ne');
  // a crash after a tree was renamed to its tombstone but before it was erased
  writeMona(root, ['.~del-1234-2-', 'x'], 'gone');
  // a crash after the rename but before the old value was removed
  writeMona(root, ['two'], 'first');
  const older = new Date(Date.now() - 60_000);
  fs.utimesSync(path.join(root, 'two', md5('first')), older, older);
  writeMona(root, ['two'], 'second');
  const logger = new RecordingLogger();
  const store = new DataStore(root, logger);
  store.load();
  assert.equal(store.get(['k']), 'old');
  assert.equal(store.get(['two']), 'second');
  assert.deepEqual(store.keys([]).sort(), ['k', 'two']);
  assert.equal(fs.existsSync(path.join(root, 'k', `.~tmp-1234-1-${md5('new')}`)), false);
  assert.equal(fs.existsSync(path.join(root, '.~del-1234-2-')), false);
  assert.ok(logger.warnings().some((w) => w.includes('2 values')));
});

test('a missing data folder is an empty store, created on first write', async (t) => {
  const root = tempData(t);
  const store = new DataStore(root, new RecordingLogger());
  store.load();
  assert.deepEqual(store.keys([]), []);
  store.set(['a'], 'b');
  await store.flush();
  assert.ok(fs.existsSync(path.join(root, 'a', md5('b'))));
});

test('random operations with concurrent background writes: the disk always ends equal to memory', async (t) => {
  const root = tempData(t);
  const store = new DataStore(root, new RecordingLogger());
  store.load();
  let x = 4242;
  const rand = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>>= 0);
  };
  const names = ['a', 'b', 'c'];
  const randomPath = () => Array.from({ length: 1 + (rand() % 3) }, () => names[rand() % names.length]);
  // tables left empty are not kept across a restart (an empty key folder is not a table): compare without them
  const dump = (s: DataStore, p: string[] = []): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const k of s.keys(p).sort()) {
      const v = s.get([...p, k]);
      if (!(v instanceof DataTableRef)) out[k] = v;
      else {
        const sub = dump(s, [...p, k]);
        if (Object.keys(sub).length) out[k] = sub;
      }
    }
    return out;
  };
  for (let round = 0; round < 6; round++) {
    for (let i = 0; i < 300; i++) {
      const p = randomPath();
      const op = rand() % 4;
      try {
        if (op === 0) store.setTable(p);
        else if (op === 1) store.delete(p);
        else store.set(p, rand() % 2 ? `s${rand() % 5}` : rand() % 7);
      } catch (e) {
        if (!(e instanceof DataStoreError)) throw e; // rule violations are expected here
      }
      if (rand() % 20 === 0) await new Promise((r) => setImmediate(r));
    }
    if (round % 2) store.flushSync();
    else await store.flush();
    await store.flush();
    const again = new DataStore(root, new RecordingLogger(), { journal: false }); // the layout alone, read without writing anything
    again.load();
    assert.deepEqual(dump(again), dump(store), `round ${round}`);
  }
});

test('a process killed (SIGKILL) while writing leaves only complete values', async (t) => {
  const root = tempData(t);
  const module = path.join(__dirname, '../../src/scripting/data-store.js');
  // the child rewrites 20 keys with growing values as fast as it can and reports each durable round
  const script = `
    const { DataStore } = require(${JSON.stringify(module)});
    const quiet = { warn() {}, error() {}, debug() {}, info() {} };
    const store = new DataStore(${JSON.stringify(root)}, quiet);
    store.load();
    let round = 0;
    (async function loop() {
      for (;;) {
        round++;
        for (let k = 0; k < 20; k++) store.set(['k' + k], 'round ' + round + ' ' + 'x'.repeat(round * 50));
        await store.flush();
        process.stdout.write(round + '\\n');
      }
    })();
  `;
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  let durable = 0;
  await new Promise<void>((resolve) => {
    child.stdout.on('data', (d: Buffer) => {
      const rounds = d.toString().trim().split('\n').map(Number);
      durable = rounds[rounds.length - 1];
      if (durable >= 3) {
        child.kill('SIGKILL'); // in the middle of the next round's writes
        resolve();
      }
    });
  });
  await new Promise((r) => child.once('exit', r));
  const logger = new RecordingLogger();
  const store = new DataStore(root, logger);
  store.load();
  assert.deepEqual(logger.warnings(), [], 'no torn or corrupted file');
  assert.deepEqual(Object.keys(snapshot(root)).filter((f) => f.includes('.~')), [], 'leftover temporaries cleaned at load');
  for (let k = 0; k < 20; k++) {
    const v = store.get([`k${k}`]);
    assert.equal(typeof v, 'string');
    const m = /^round (\d+) (x*)$/.exec(v as string);
    assert.ok(m, `k${k} holds a complete value`);
    const round = Number(m[1]);
    assert.ok(round >= durable, `k${k} is at least as new as the last durable round (${round} >= ${durable})`);
    assert.equal(m[2].length, round * 50);
  }
});
