/**
 * Sections composed from registrations: src/config reads exactly the sections it is given (besides
 * its own process-level keys), so a folder's section needs no edit in src/config; the registry's
 * list is coherent (each section, protocol and key once).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { readConfig } from '../../src/config/load';
import { composeDefaults } from '../../src/config/schema';
import type { ConfigSection } from '../../src/config/section';
import { KEYS, PROTOCOLS, SECTIONS, defaultConfig } from '../../src/registry';
import { tempDir } from '../helpers/temp';

function ini(text: string): { dir: string; file: string } {
  const dir = tempDir('monats-section-');
  const file = path.join(dir, 'MonaServer.ini');
  fs.writeFileSync(file, text);
  return { dir, file };
}

test('the loader reads the sections it is given and no other', () => {
  const { dir, file } = ini('[RTMP]\nport = 1936\n[logs]\nrotation = 3\n');
  const bare = readConfig([], file, {}, { cwd: dir, required: true });
  assert.deepEqual(bare.errors, []);
  assert.equal((bare.config as unknown as Record<string, unknown>).rtmp, undefined, 'no section given: no slice');
  assert.equal(bare.config.logs.rotation, 3, 'process-level sections are always read');
  assert.deepEqual(bare.config.raw.RTMP, { port: '1936' }, 'still in mona.configs');

  // a section of a folder config/ has never heard of: typed, validated, its notInEffect reported
  const section: ConfigSection<'rtmp'> = {
    name: 'rtmp',
    defaults: () => ({ port: 7, rtmpeRate: 0 }),
    keys: [{ key: 'port', kind: 'port', set: (s, v) => (s.port = v as number), notInEffect: 'testing' }],
  };
  const read = readConfig([section], file, { 'rtmp.rtmpeRate': '5' }, { cwd: dir, required: true });
  assert.deepEqual(read.config.rtmp, { port: 1936, rtmpeRate: 0 }, 'a key the section does not declare is not typed');
  assert.deepEqual(read.warnings, [`MonaServer.ini:2: RTMP.port is not in effect: testing`]);
  const bad = readConfig([section], file, { 'RTMP.port': 'x' }, { cwd: dir, required: true });
  assert.equal(bad.config.rtmp.port, 7, 'the last value wins, a bad one leaves the section\'s default');
  assert.match(bad.errors.join('\n'), /override RTMP\.port: RTMP\.port: "x" is not a port number .*default kept/);
});

test('a section\'s paths are resolved from the ini\'s folder, an override\'s from the working directory', () => {
  const { dir, file } = ini('[TLS]\ncertificat = certs/site.pem\n');
  const cwd = tempDir('monats-section-cwd-');
  const tls = SECTIONS.find((s) => s.name === 'tls')!;
  const r = readConfig([tls], file, { 'tls.key': 'k.pem' }, { cwd, required: true });
  assert.equal(r.config.tls.certificat, path.join(dir, 'certs', 'site.pem'));
  assert.equal(r.config.tls.key, path.join(cwd, 'k.pem'));
  assert.equal(r.config.tls.ca, '', 'empty stays empty');
  const unwritten = readConfig([tls], file, {}, { cwd, required: true });
  assert.equal(unwritten.config.tls.key, path.join(dir, 'key.pem'), 'a default file beside the ini');
});

test('a section registered twice, or named like a process-level one, is refused', () => {
  const logs = { name: 'logs', defaults: () => ({ directory: 'x', name: 'x', rotation: 0 }), keys: [] } as ConfigSection<'logs'>;
  assert.throws(() => composeDefaults('/tmp', [logs]), /section logs is registered twice/);
  const rtmp = SECTIONS.find((s) => s.name === 'rtmp')!;
  assert.throws(() => composeDefaults('/tmp', [rtmp, rtmp]), /section rtmp is registered twice/);
});

test('the registry: each section, protocol and key once, every slice defaulted', () => {
  const names = SECTIONS.map((s) => s.name);
  assert.equal(new Set(names).size, names.length);
  const protocols = PROTOCOLS.map((p) => p.name);
  assert.equal(new Set(protocols).size, protocols.length);
  assert.deepEqual(protocols, ['RTMP', 'RTMPS', 'RTMFP', 'HTTP', 'HTTPS', 'Servers'], 'start order');
  const keys = KEYS.map((k) => `${k.section}.${k.key}`);
  assert.equal(new Set(keys).size, keys.length);
  const config = defaultConfig('/srv/mona') as unknown as Record<string, unknown>;
  for (const name of names) assert.equal(typeof config[name], 'object', name);
  for (const k of KEYS) assert.equal(k.key, k.key.toLowerCase(), `${k.section}.${k.key} is matched lower-cased`);
});
