/**
 * The Lua `data` table on the real store: values survive a restart as MonaServer returns
 * them (the text of what was assigned, booleans typed), MonaServer's on-disk layout (folder per key,
 * file named by the MD5 of the value), sub-tables, `#`/pairs, super.data and data.childApp, a
 * corrupted file detected and skipped.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { Level } from '../../src/logs/levels';
import { toJS } from '../../src/serialization/value';
import { evalIn, evalRoot, FakeClient, makeAppDir, startLua, writeFile } from './lua-fixtures';

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');

test('data survives a restart as the text it was stored as, in MonaServer layout', async () => {
  const dir = makeAppDir({
    'www/main.lua': `
      function save()
        data.count = 41
        data.count = data.count + 1
        data.name = "mona"
        data.flag = true
        data.numeric = "12.5"
        data.user = { login = "tom", age = 30, tags = { "a", "b" } }
        data.gone = "x"
        data.gone = nil
        return data.count, #data
      end
    `,
  });
  let s = await startLua(dir);
  try {
    assert.deepEqual(evalRoot(s, 'return save()'), ['42', 4]);
  } finally {
    await s.close(); // flushes to disk
  }
  // on disk: data/<key>/<md5 of value>
  assert.equal(fs.readFileSync(path.join(dir, 'data', 'count', md5('42')), 'utf8'), '42');
  assert.equal(fs.readFileSync(path.join(dir, 'data', 'user', 'login', md5('tom')), 'utf8'), 'tom');
  assert.ok(fs.existsSync(path.join(dir, 'data', 'user', 'tags', '1', md5('a'))));
  assert.ok(!fs.existsSync(path.join(dir, 'data', 'gone')));
  s = await startLua(dir);
  try {
    assert.deepEqual(evalRoot(s, 'return data.count, data.name, data.flag, data.numeric, data.user.login, data.user.age, data.user.tags[2], data.gone'), [
      '42', 'mona', true, '12.5', 'tom', '30', 'b', null,
    ]);
    const keys = evalRoot(s, 'local k = {} for key in pairs(data.user) do k[#k+1] = key end table.sort(k) return table.concat(k, ",")');
    assert.deepEqual(keys, ['age,login,tags']);
    // deleting a sub-table deletes its children too
    evalRoot(s, 'data.user = nil');
  } finally {
    await s.close();
  }
  assert.ok(!fs.existsSync(path.join(dir, 'data', 'user')));
});

test('super.data and data.childApp reach the same tree', async () => {
  const dir = makeAppDir({
    'www/main.lua': 'function readChild() return data.child and data.child.score end',
    'www/child/main.lua': 'function onConnection(c) data.score = 7 super.data.fromChild = "yes" end',
  });
  const s = await startLua(dir);
  try {
    s.ctx.connect(new FakeClient('/child'), []);
    assert.deepEqual(evalRoot(s, 'return readChild(), data.fromChild'), ['7', 'yes']);
    assert.deepEqual(evalIn(s, '/child', 'return data.score, super.data.fromChild'), ['7', 'yes']);
  } finally {
    await s.close();
  }
  assert.equal(fs.readFileSync(path.join(dir, 'data', 'child', 'score', md5('7')), 'utf8'), '7');
});

test('a corrupted data file is reported and skipped at load, the rest loads', async () => {
  const dir = makeAppDir({ 'www/main.lua': '' });
  writeFile(dir, `data/good/${md5('fine')}`, 'fine');
  writeFile(dir, `data/bad/${md5('original')}`, 'tampered');
  const s = await startLua(dir);
  try {
    assert.deepEqual(evalRoot(s, 'return data.good, data.bad'), ['fine', null]);
    const warnings = s.logger.at(Level.WARN);
    assert.ok(warnings.some((w) => w.includes('corrupted') && w.includes(path.join('data', 'bad'))), warnings.join('\n'));
  } finally {
    await s.close();
  }
});

test('data errors are Lua errors in the assigning script', async () => {
  const s = await startLua(makeAppDir({ 'www/main.lua': '' }));
  try {
    assert.throws(() => evalRoot(s, 'data.t = { x = 1 } data.t = 5'), /holds a table/);
    assert.throws(() => evalRoot(s, 'data.f = function() end'), /cannot be stored/);
    assert.deepEqual(evalRoot(s, 'return data.t.x').map(toJS), ['1']);
  } finally {
    await s.close();
  }
});

test('data queued when the process exits without a clean stop is still written', () => {
  const dir = makeAppDir({ 'www/main.lua': 'data.x = "saved on exit"' });
  const fixtures = path.join(__dirname, 'lua-fixtures.js');
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(fixtures)}).startLua(${JSON.stringify(dir)}).then(() => process.exit(3))`], { timeout: 30_000 });
  assert.equal(r.status, 3, String(r.stderr));
  assert.equal(fs.readFileSync(path.join(dir, 'data', 'x', md5('saved on exit')), 'utf8'), 'saved on exit');
});
