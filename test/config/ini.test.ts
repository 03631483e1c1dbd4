import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseIni } from '../../src/config/ini';
import { prng } from '../helpers/prng';

test('sections, comments, trimming, case kept as written', () => {
  const doc = parseIni(
    [
      '; MonaServer.ini',
      '# our extension: hash comments',
      'socketBufferSize = 114688',
      '  [ RTMFP ]  ',
      'port = 1985',
      'keepAlivePeer=10   ',
      '',
      '[logs] ; trailing comment after a header',
      'name=log',
    ].join('\r\n'),
  );
  assert.deepEqual(doc.problems, []);
  assert.deepEqual(doc.sections, ['RTMFP', 'logs']);
  assert.deepEqual(
    doc.entries.map((e) => [e.section, e.key, e.value, e.line]),
    [
      ['', 'socketBufferSize', '114688', 3],
      ['RTMFP', 'port', '1985', 5],
      ['RTMFP', 'keepAlivePeer', '10', 6],
      ['logs', 'name', 'log', 9],
    ],
  );
});

test('values keep ";", "#", quotes and "=" as MonaServer does (no inline comments)', () => {
  const doc = parseIni('[servers]\ntargets=192.168.0.2:1936?name=master&arg=val;192.168.0.3:1936\nx = "quoted" # not a comment\n');
  assert.equal(doc.entries[0].value, '192.168.0.2:1936?name=master&arg=val;192.168.0.3:1936');
  assert.equal(doc.entries[1].value, '"quoted" # not a comment');
});

test('empty value, BOM, no trailing newline', () => {
  const doc = parseIni('\ufeffhost=\n[HTTP]\nindex=index.html');
  assert.deepEqual(doc.problems, []);
  assert.deepEqual(doc.entries.map((e) => [e.key, e.value]), [['host', ''], ['index', 'index.html']]);
});

test('malformed lines are reported with their line number and skipped', () => {
  const doc = parseIni(['[RTMP', 'port=1', 'junk under a broken header', '[x]', 'just words', '= 3', '[]', '[HTTP] port=80', '[ok]', 'a=b'].join('\n'));
  assert.deepEqual(
    doc.problems.map((p) => p.line),
    [1, 3, 5, 6, 7, 8],
  );
  assert.match(doc.problems[0].message, /no closing/);
  assert.match(doc.problems[1].message, /not "key = value"/);
  assert.match(doc.problems[2].message, /not "key = value"/);
  // keys under a broken header are skipped with it (not put in the previous section)
  assert.deepEqual(doc.entries.map((e) => [e.section, e.key, e.line]), [['ok', 'a', 10]]);
});

test('fuzz: random and mutated files never throw; problems point at real lines', () => {
  const rand = prng(12345);
  const alphabet = '[]=;#\n\r \tabcXYZ019."\u00e9\ufeff';
  const base = '[RTMFP]\nport=1935\nkeepaliveServer=15\n[logs]\nname=log\n';
  for (let i = 0; i < 2000; i++) {
    let text: string;
    if (i % 2) {
      text = '';
      const n = Math.floor(rand() * 200);
      for (let j = 0; j < n; j++) text += alphabet[Math.floor(rand() * alphabet.length)];
    } else {
      const chars = base.split('');
      for (let k = 0; k < 5; k++) chars[Math.floor(rand() * chars.length)] = alphabet[Math.floor(rand() * alphabet.length)];
      text = chars.join('');
    }
    const doc = parseIni(text);
    const lines = text.split('\n').length;
    for (const p of doc.problems) assert.ok(p.line >= 1 && p.line <= lines);
    for (const e of doc.entries) {
      assert.ok(e.line >= 1 && e.line <= lines);
      assert.notEqual(e.key, '');
      assert.equal(e.key, e.key.trim());
    }
  }
});
