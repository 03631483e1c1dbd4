/**
 * The sample MonaServer.ini shipped in the package (etc/MonaServer.ini) documents every key with
 * its real default: each typed key (src/registry.ts KEYS: the process-level ones and every
 * registered section's) and the ones the loader and the listeners read themselves has a
 * ";key = default" line in its section with a comment above it, and the file with every such line
 * uncommented loads to exactly the defaults. A new key in a section fails this test until its
 * documented line is added.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../src/registry';
import { listenHost } from '../../src/config/listen';
import { KEYS, defaultConfig } from '../../src/registry';
import type { Config } from '../../src/config/types';
import { tempDir } from '../helpers/temp';

const SAMPLE = path.join(__dirname, '..', '..', '..', 'etc', 'MonaServer.ini');

/** keys read outside KEYS: the loader resolves these paths, listenHost reads each section's host */
const EXTRA = ['application.dir', 'logs.directory', 'rtmfp.host', 'rtmp.host', 'http.host', 'https.host', 'rtmps.host', 'rtsp.host'];

interface KeyLine {
  section: string;
  key: string;
  value: string;
  line: number;
  documented: boolean;
  /** the comment lines above it */
  doc: string;
}

function keyLines(text: string): KeyLine[] {
  const out: KeyLine[] = [];
  let section = '';
  let commentAbove = false;
  let doc = '';
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      section = header[1].toLowerCase();
      commentAbove = false;
      doc = '';
      return;
    }
    const key = /^;([A-Za-z][\w.]*)\s*=\s*(.*)$/.exec(line);
    if (key) {
      out.push({ section, key: key[1].toLowerCase(), value: key[2], line: i + 1, documented: commentAbove, doc });
      return;
    }
    if (line.startsWith('; ') || line === ';') {
      commentAbove = true;
      doc += line.slice(1) + ' ';
    } else if (line === '') {
      commentAbove = false;
      doc = '';
    }
    else assert.fail(`line ${i + 1} of the sample is neither a comment, a key line nor a section: "${raw}"`);
  });
  return out;
}

test('the sample documents every key, each in its section, under a comment', () => {
  const lines = keyLines(fs.readFileSync(SAMPLE, 'utf8'));
  const names = lines.map((l) => (l.section ? `${l.section}.${l.key}` : l.key));
  const expected = [...KEYS.map((k) => (k.section ? `${k.section}.${k.key}` : k.key)), ...EXTRA];
  for (const name of expected) assert.ok(names.includes(name), `the sample has no line for ${name}`);
  for (const name of names) assert.ok(expected.includes(name), `${name} in the sample is no key the server reads`);
  assert.equal(new Set(names).size, names.length, 'each key once');
  for (const l of lines) assert.ok(l.documented, `line ${l.line} (${l.key}) has no comment above it`);
  // a key the server reads but does not act on yet says so where it is documented
  for (const spec of KEYS.filter((k) => k.notInEffect)) {
    const l = lines.find((x) => x.section === spec.section && x.key === spec.key)!;
    assert.match(l.doc, /not in effect/i, `line ${l.line} (${spec.key}) must say it is not in effect yet`);
  }
});

test('the sample with every key uncommented loads to exactly the defaults, without a warning', () => {
  const dir = tempDir('monats-sample-ini-');
  const text = fs.readFileSync(SAMPLE, 'utf8').replace(/^;([A-Za-z][\w.]*\s*=)/gm, '$1');
  const file = path.join(dir, 'MonaServer.ini');
  fs.writeFileSync(file, text);
  const loaded = loadConfig(file, {}, { cwd: dir, required: true });
  assert.deepEqual(loaded.errors, []);
  // the only warnings: keys not in effect yet, reported as soon as the ini sets them
  const inert = KEYS.filter((k) => k.notInEffect).length;
  assert.equal(loaded.warnings.length, inert, loaded.warnings.join('\n'));
  for (const w of loaded.warnings) assert.match(w, /is not in effect: /);
  const strip = (c: Config) => ({ ...c, raw: {} });
  const defaults = defaultConfig(dir);
  defaults.logs.directory = path.join(dir, 'logs');
  assert.deepEqual(strip(loaded.config), strip(defaults));
  for (const section of ['RTMFP', 'RTMP', 'HTTP', 'HTTPS', 'RTMPS', 'RTSP']) assert.equal(listenHost(loaded.config, section), '0.0.0.0');

  // as shipped (everything commented out) it is the defaults too
  const asShipped = loadConfig(SAMPLE, {}, { cwd: dir, required: true });
  assert.deepEqual(asShipped.errors, []);
  // (its paths are from its own folder: the application dir, logs and the TLS files beside it)
  const tls = { ...asShipped.config.tls, certificat: defaults.tls.certificat, key: defaults.tls.key };
  assert.equal(asShipped.config.tls.certificat, path.join(path.dirname(SAMPLE), 'cert.pem'));
  assert.deepEqual(strip({ ...asShipped.config, application: { dir } , logs: { ...asShipped.config.logs, directory: defaults.logs.directory }, tls }), strip(defaults));
});
