import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { Level } from '../../src/logs/levels';
import { hexDump } from '../../src/logs/format';
import { ServerLogger } from '../../src/logs/logger';
import { tempDir as makeTempDir } from '../helpers/temp';

function tempDir(): string {
  return makeTempDir('monats-logs-');
}

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString() };
}

const fixed = () => new Date(2026, 10, 23, 21, 5, 7, 42);

test('a line is time, level, source, message; console and file both; level filter', async () => {
  const dir = tempDir();
  const out = capture();
  const logger = new ServerLogger({
    level: Level.INFO,
    console: out.stream,
    colors: false,
    file: { directory: path.join(dir, 'logs'), name: 'log', rotation: 2 },
    now: fixed,
  });
  logger.info('RTMP', 'hello');
  logger.error('main.lua:12', 'boom');
  logger.debug('RTMP', 'hidden at level 6');
  assert.equal(logger.enabled(Level.DEBUG), false);
  assert.equal(logger.enabled(Level.NONE), false);
  await logger.close();
  const expected = '23/11 21:05:07.042 INFO   RTMP  hello\n23/11 21:05:07.042 ERROR  main.lua:12  boom\n';
  assert.equal(out.text(), expected);
  assert.equal(fs.readFileSync(path.join(dir, 'logs', 'log.0'), 'utf8'), expected);
  logger.level = Level.NONE;
});

test('level 0 logs nothing, level 8 everything', () => {
  const out = capture();
  const logger = new ServerLogger({ level: Level.NONE, console: out.stream, colors: false, now: fixed });
  logger.fatal('x', 'no');
  logger.level = Level.TRACE;
  logger.trace('x', 'yes');
  assert.equal(out.text(), '23/11 21:05:07.042 TRACE  x  yes\n');
});

test('rotation: files never pass maxSize, log.0 is current, N older kept, oldest dropped (>1 MB written)', async () => {
  const dir = tempDir();
  const logger = new ServerLogger({
    level: Level.TRACE,
    console: null,
    file: { directory: dir, name: 'log', rotation: 3, maxSize: 1_000_000 },
  });
  const line = 'x'.repeat(200);
  const count = 25_000; // ~5.6 MB of lines: several rotations
  for (let i = 0; i < count; i++) logger.info('Test', `${i} ${line}`);
  await logger.close();
  const files = fs.readdirSync(dir).sort();
  assert.deepEqual(files, ['log.0', 'log.1', 'log.2', 'log.3']);
  const sizes = files.map((f) => fs.statSync(path.join(dir, f)).size);
  for (const s of sizes) assert.ok(s <= 1_000_000, `size ${s}`);
  for (const s of sizes.slice(1)) assert.ok(s > 1_000_000 - 300, `rotated file nearly full: ${s}`);
  // the newest line is the last of log.0, lines are contiguous across log.3 → log.0, no line split
  const all = ['log.3', 'log.2', 'log.1', 'log.0'].map((f) => fs.readFileSync(path.join(dir, f), 'utf8')).join('');
  const numbers = all.trimEnd().split('\n').map((l) => Number(/Test {2}(\d+) x+$/.exec(l)![1]));
  assert.equal(numbers[numbers.length - 1], count - 1);
  for (let i = 1; i < numbers.length; i++) assert.equal(numbers[i], numbers[i - 1] + 1);
  assert.ok(numbers[0] > 0, 'oldest lines were dropped');
});

test('rotation 0: a single "log" file emptied when full', async () => {
  const dir = tempDir();
  const logger = new ServerLogger({ console: null, file: { directory: dir, name: 'log', rotation: 0, maxSize: 10_000 } });
  for (let i = 0; i < 500; i++) logger.info('T', 'y'.repeat(50));
  await logger.close();
  assert.deepEqual(fs.readdirSync(dir), ['log']);
  assert.ok(fs.statSync(path.join(dir, 'log')).size <= 10_000);
});

test('appends to an existing log.0 and rotates it by its real size', async () => {
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, 'log.0'), 'z'.repeat(990));
  const logger = new ServerLogger({ console: null, file: { directory: dir, name: 'log', rotation: 1, maxSize: 1000 } });
  logger.info('T', 'this line does not fit in the 10 bytes left');
  await logger.close();
  assert.equal(fs.readFileSync(path.join(dir, 'log.1'), 'utf8'), 'z'.repeat(990));
  assert.match(fs.readFileSync(path.join(dir, 'log.0'), 'utf8'), /does not fit/);
});

test('unwritable log directory: one console error, logging goes on on the console', () => {
  const dir = tempDir();
  const blocker = path.join(dir, 'file');
  fs.writeFileSync(blocker, '');
  const out = capture();
  const logger = new ServerLogger({ console: out.stream, colors: false, file: { directory: path.join(blocker, 'logs'), name: 'log', rotation: 1 } });
  logger.info('T', 'still here');
  assert.match(out.text(), /ERROR  Logs  cannot open log file .*\n.*INFO   T  still here\n/);
});

test('dump: off by default, filter by protocol or address substring, --dumplimit', async () => {
  const out = capture();
  const logger = new ServerLogger({ console: out.stream, colors: false, now: fixed });
  const packet = Buffer.from('0123456789abcdefXYZ\x00\x01', 'latin1');
  assert.equal(logger.dumping, false);
  logger.dump('RTMP', 'in', '127.0.0.1:5000', packet);
  assert.equal(out.text(), '');

  logger.dumpFilter = 'rtmfp';
  logger.dump('RTMP', 'in', '127.0.0.1:5000', packet);
  logger.dump('RTMFP', 'out', '127.0.0.1:6000', packet);
  logger.dumpFilter = ':5000';
  logger.dumpLimit = 4;
  logger.dump('RTMP', 'in', '127.0.0.1:5000', packet);
  const text = out.text();
  assert.equal(text.split('RTMP in from').length, 2, 'only the dump made with the ":5000" filter');

  assert.ok(text.includes('21:05:07.042 RTMFP out to 127.0.0.1:6000 (21 bytes)\n'), text);
  assert.ok(text.includes('  00000000  30 31 32 33 34 35 36 37  38 39 61 62 63 64 65 66  0123456789abcdef\n'), text);
  assert.ok(text.includes('  00000010  58 59 5A 00 01'), text);
  assert.ok(text.includes('RTMP in from 127.0.0.1:5000 (21 bytes)\n  00000000  30 31 32 33 '), text);
  assert.ok(text.endsWith('  … 17 more bytes (--dumplimit=4)\n'), text);
});

test('hexDump of empty and exact rows', () => {
  assert.equal(hexDump(Buffer.alloc(0)), '');
  assert.equal(hexDump(Buffer.alloc(16, 0x41)).split('\n').length, 2);
});

test('--log-format=json: one JSON object per line (time, level, source, message, fields), console and file', async () => {
  const dir = tempDir();
  const out = capture();
  const logger = new ServerLogger({
    level: Level.DEBUG,
    console: out.stream,
    colors: true, // ignored in JSON: a shipper must get plain JSON
    file: { directory: dir, name: 'log', rotation: 1 },
    now: fixed,
    format: 'json',
  });
  logger.info('RTMP', '127.0.0.1:5000 connected to /live', { event: 'connect', protocol: 'RTMP', app: '/live', skipped: undefined });
  logger.warn('main.lua:3', 'line "one"\nline two', { message: 'not overwritten', bytes: 12, ok: true, none: null });
  logger.trace('x', 'below the level');
  logger.dumpFilter = '';
  logger.dump('RTMFP', 'out', '127.0.0.1:6000', Buffer.from('AB'));
  await logger.close();
  const lines = out.text().split('\n');
  assert.equal(lines.pop(), '', 'ends with a line feed');
  assert.equal(lines.length, 3, out.text());
  const [a, b, d] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(a, {
    time: fixed().toISOString(), level: 'INFO', source: 'RTMP', message: '127.0.0.1:5000 connected to /live',
    event: 'connect', protocol: 'RTMP', app: '/live',
  });
  assert.deepEqual(b, { time: fixed().toISOString(), level: 'WARN', source: 'main.lua:3', message: 'line "one"\nline two', bytes: 12, ok: true, none: null });
  assert.equal(d.level, 'DUMP');
  assert.equal(d.source, 'RTMFP');
  assert.equal(d.direction, 'out');
  assert.equal(d.bytes, 2);
  assert.match(String(d.dump), /00000000 {2}41 42/);
  assert.equal(fs.readFileSync(path.join(dir, 'log.0'), 'utf8'), out.text(), 'the file gets the same JSON lines');
  assert.ok(!out.text().includes('\x1b['), 'no colour codes');
});
