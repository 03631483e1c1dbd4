/**
 * MonaServer2's publication settings: `[publication]` keys, `[name=Publication]` sections with
 * their own settings and `OUT file` lines (no `=`), what is reported as not supported.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseIni } from '../../src/config/ini';
import { loadConfig } from '../../src/registry';
import { tempDir } from '../helpers/temp';

test('OUT and IN lines are entries of their section; other lines without = are still problems', () => {
  const doc = parseIni('[cam=Publication]\nOUT  cam.mp4\nIN x.ts\nOUT srt://h:1?passphrase=abc\nnonsense\n');
  assert.deepEqual(doc.entries.map((e) => [e.section, e.key, e.value]), [
    ['cam=Publication', 'OUT cam.mp4', ''],
    ['cam=Publication', 'IN x.ts', ''],
    ['cam=Publication', 'OUT srt://h:1?passphrase', 'abc'],
  ]);
  assert.equal(doc.problems.length, 1);
});

test('[publication] and [name=Publication] load typed; IN lines and properties are reported', () => {
  const dir = tempDir('monats-pub-ini-');
  const file = path.join(dir, 'MonaServer.ini');
  fs.writeFileSync(file, [
    '[publication]', 'segments=', 'duration=4000', 'append=yes', 'partDuration=0',
    '[cam=Publication]', 'segments=8', 'OUT cam.mp4', 'OUT archive/cam.flv', 'IN source.ts', 'description=my cam',
    '[other=publication]', 'duration=abc',
  ].join('\n'));
  const c = loadConfig(file, {}, { cwd: dir, required: true });
  assert.deepEqual(c.config.publication, { segments: 4, duration: 4000, partDuration: 0, hlsMemory: 64 << 20, append: true });
  assert.deepEqual(c.config.publications.cam, { segments: 8, outputs: ['cam.mp4', 'archive/cam.flv'] });
  assert.deepEqual(c.config.publications.other, { outputs: [] });
  assert.equal(c.errors.length, 1);
  assert.match(c.errors[0], /other=publication\.duration: "abc" is not an integer/);
  assert.equal(c.warnings.length, 2);
  assert.match(c.warnings[0], /IN source\.ts: reading a publication from a file or a socket is not supported/);
  assert.match(c.warnings[1], /description: publication properties from the ini are not applied/);
});
