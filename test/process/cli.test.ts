/**
 * The real executable (node dist/src/cli.js) in a temp application folder, every port free and
 * non-default: banner, log file, rotation, ini errors, --help, --daemon/--pidfile, SIGTERM.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { OPTIONS } from '../../src/cli/options';
import { loadConfig } from '../../src/registry';
import { PROTOCOLS, protocolEnabled } from '../../src/server';
import { freePorts, isRunning, runCli, startCli, tempDir, waitUntil, writeIni } from './helpers';

test('start-up banner, log file, clean exit 0 on SIGTERM', async (t) => {
  const dir = tempDir();
  const ini = writeIni(dir, await freePorts());
  const server = startCli([`--config=${ini}`], dir);
  t.after(() => server.kill());
  const config = loadConfig(ini, {}, { required: true }).config;
  const enabled = PROTOCOLS.filter((p) => protocolEnabled(p, config));
  await server.waitFor(/MonaServer-compatible/);
  if (enabled.length === 0) await server.waitFor(/no protocol is listening/);
  for (const entry of enabled) {
    const port = entry.port(config);
    await server.waitFor(new RegExp(`${entry.name} (server started on|cannot listen)`));
    assert.match(server.output(), new RegExp(`${entry.name} server started on \\S+:${port}\\b`), `${entry.name} in banner`);
  }
  assert.match(server.output(), /NOTE   Server  monats \d+\.\d+\.\d+ \(MonaServer-compatible\), application dir .*, configuration .*MonaServer\.ini\n/);
  assert.ok(fs.statSync(path.join(dir, 'www')).isDirectory(), 'www/ created');
  assert.ok(fs.statSync(path.join(dir, 'data')).isDirectory(), 'data/ created');

  server.child.kill('SIGTERM');
  assert.equal(await server.exited, 0);
  const log = fs.readFileSync(path.join(dir, 'logs', 'log.0'), 'utf8');
  assert.match(log, /^\d\d\/\d\d \d\d:\d\d:\d\d\.\d{3} NOTE {3}Server {2}monats .*\(MonaServer-compatible\)/m);
  assert.match(log, /NOTE {3}Server {2}SIGTERM received, stopping\n/);
  assert.match(log, /NOTE {3}Server {2}Server stopped\n$/);
});

test('no argument, no MonaServer.ini: defaults (ports 1935/80/554), logs/ and www/ in the working directory', async (t) => {
  const dir = tempDir();
  const server = startCli([], dir);
  t.after(() => server.kill());
  await server.waitFor(/MonaServer-compatible/);
  assert.match(server.output(), /configuration .*MonaServer\.ini not found, defaults used\n/);
  const defaults = loadConfig(undefined, {}, { cwd: dir }).config;
  for (const entry of PROTOCOLS) {
    const port = entry.port(defaults);
    if (!protocolEnabled(entry, defaults)) continue;
    // a default port may be busy on a test machine: then it must be the one clear error line
    await server.waitFor(new RegExp(`${entry.name} (server started on \\S+:${port}\\b|cannot listen on \\S+:${port}\\b)`));
  }
  server.child.kill('SIGTERM');
  assert.equal(await server.exited, 0);
  assert.ok(fs.statSync(path.join(dir, 'www')).isDirectory());
  assert.match(fs.readFileSync(path.join(dir, 'logs', 'log.0'), 'utf8'), /defaults used/);
});

test('SIGINT exits 0 too; --log=0 prints nothing', async (t) => {
  const dir = tempDir();
  const ini = writeIni(dir, await freePorts());
  const server = startCli([`--config=${ini}`, '--log=0'], dir);
  t.after(() => server.kill());
  // the log file exists once the logger is up; give the process time to finish starting
  await waitUntil(() => fs.existsSync(path.join(dir, 'logs', 'log.0')));
  await new Promise((r) => setTimeout(r, 500));
  server.child.kill('SIGINT');
  assert.equal(await server.exited, 0);
  assert.equal(server.output(), '');
});

test('a malformed ini line is reported with its line number and the server still starts', async (t) => {
  const dir = tempDir();
  const ini = writeIni(dir, await freePorts(), 'name=journal\n[RTMFP\nkeepalivePeer = 1\nnot a key value line\n');
  const server = startCli([`--config=${ini}`], dir);
  t.after(() => server.kill());
  const out = await server.waitFor(/MonaServer-compatible/);
  const lines = fs.readFileSync(ini, 'utf8').split('\n');
  const broken = lines.indexOf('[RTMFP') + 1;
  const words = lines.indexOf('not a key value line') + 1;
  assert.match(out, new RegExp(`ERROR  Config  MonaServer\\.ini:${broken}: section header "\\[RTMFP" has no closing '\\]'`));
  assert.match(out, new RegExp(`ERROR  Config  MonaServer\\.ini:${words}: "not a key value line" is not "key = value"`));
  server.child.kill('SIGTERM');
  assert.equal(await server.exited, 0);
  // the lines before the error were applied: logs.name=journal
  assert.match(fs.readFileSync(path.join(dir, 'logs', 'journal.0'), 'utf8'), /is not "key = value"/);
});

test('explicit --config that does not exist: exit 1 with the reason', async () => {
  const dir = tempDir();
  const r = await runCli(['--config=missing.ini'], dir);
  assert.equal(r.code, 1);
  assert.match(r.output, /cannot read configuration .*missing\.ini \(no such file\)/);
});

test('log file rotates at 1 MB in the real process (volume from 30000 bad ini lines)', async (t) => {
  const dir = tempDir();
  let junk = '';
  for (let i = 0; i < 30_000; i++) junk += `junk line number ${i} without any equal sign to make a long error\n`;
  const ini = writeIni(dir, await freePorts(), `rotation=2\n${junk}`);
  const server = startCli([`--config=${ini}`, '--log=8'], dir);
  t.after(() => server.kill());
  await server.waitFor(/MonaServer-compatible/, 40_000);
  server.child.kill('SIGTERM');
  assert.equal(await server.exited, 0);
  const logs = path.join(dir, 'logs');
  assert.deepEqual(fs.readdirSync(logs).sort(), ['log.0', 'log.1', 'log.2']);
  for (const f of ['log.1', 'log.2']) {
    const size = fs.statSync(path.join(logs, f)).size;
    assert.ok(size <= 1_000_000 && size > 990_000, `${f} is ${size} bytes`);
  }
  // the newest lines are in log.0, and the oldest junk was dropped with the third rotated file
  assert.match(fs.readFileSync(path.join(logs, 'log.0'), 'utf8'), /Server stopped\n$/);
  assert.doesNotMatch(fs.readFileSync(path.join(logs, 'log.2'), 'utf8'), /junk line number 0 without/);
});

test('--help lists every option; --version; unknown option → usage and exit 2', async () => {
  const dir = tempDir();
  const help = await runCli(['--help'], dir);
  assert.equal(help.code, 0);
  for (const o of OPTIONS) assert.match(help.output, new RegExp(`--${o.name}\\b`), `--${o.name} in help`);
  for (const name of ['log', 'dump', 'dumplimit', 'daemon', 'pidfile', 'config', 'help', 'version'])
    assert.ok(OPTIONS.some((o) => o.name === name), `option ${name} exists`);

  const version = await runCli(['--version'], dir);
  assert.equal(version.code, 0);
  assert.match(version.output, /^monats \d+\.\d+\.\d+\n$/);

  const bad = await runCli(['--frobnicate'], dir);
  assert.equal(bad.code, 2);
  assert.match(bad.output, /unknown option "--frobnicate"/);
  assert.match(bad.output, /usage: monats \[options\]/);

  const badLevel = await runCli(['--log=9'], dir);
  assert.equal(badLevel.code, 2);
  assert.match(badLevel.output, /--log=9: must be between 0 and 8/);
});

test('--daemon --pidfile: parent exits 0, the pid in the file runs the server, SIGTERM stops it', async (t) => {
  const dir = tempDir();
  const ini = writeIni(dir, await freePorts());
  const pidFile = path.join(dir, 'mona.pid');
  let pid = 0;
  t.after(() => {
    if (pid && isRunning(pid)) process.kill(pid, 'SIGKILL');
  });
  const parent = await runCli(['--daemon', `--pidfile=${pidFile}`, `--config=${ini}`], dir);
  assert.equal(parent.code, 0, parent.output);
  pid = Number(fs.readFileSync(pidFile, 'utf8').trim());
  assert.ok(Number.isInteger(pid) && pid > 0);
  assert.match(parent.output, new RegExp(`running as daemon, pid ${pid}\\n`));
  assert.ok(isRunning(pid), 'daemon alive after its parent exited');
  const logFile = path.join(dir, 'logs', 'log.0');
  await waitUntil(() => fs.existsSync(logFile) && fs.readFileSync(logFile, 'utf8').includes('MonaServer-compatible'));
  process.kill(pid, 'SIGTERM');
  await waitUntil(() => !isRunning(pid));
  assert.ok(!fs.existsSync(pidFile), 'pid file removed at exit');
  assert.match(fs.readFileSync(logFile, 'utf8'), /Server stopped\n$/);
});

test('--daemon whose server cannot start: the parent exits 1 with the reason, no pid file', async () => {
  const dir = tempDir();
  const pidFile = path.join(dir, 'mona.pid');
  const r = await runCli(['--daemon', `--pidfile=${pidFile}`, '--config=missing.ini'], dir);
  assert.equal(r.code, 1);
  assert.match(r.output, /daemon did not start: cannot read configuration .*missing\.ini \(no such file\)/);
  assert.ok(!fs.existsSync(pidFile));
});
