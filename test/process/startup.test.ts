/**
 * How the real executable starts and fails: an empty folder gets the bundled sample www/ (so
 * rtmp://host/live/<name> takes an ffmpeg publish at once); nothing listening is exit 1; a second
 * daemon on the ports of a first one says it could not start, exits 1 and leaves the first one's
 * pid file alone; the access log at INFO, TRACE lines at --log=8, and --log-format=json.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import { curl, requireTool } from '../helpers/http-server';
import { run, testFLV } from '../protocols/rtmp/helpers';
import { freePorts, isRunning, runCli, startCli, tempDir, waitUntil, writeIni, type RunningChild } from './helpers';

const SAMPLE = path.join(__dirname, '..', '..', '..', 'www');

function stopAfter(t: TestContext, server: RunningChild): void {
  t.after(async () => {
    server.child.kill('SIGTERM');
    const timer = setTimeout(() => server.kill(), 10_000);
    await server.exited;
    clearTimeout(timer);
  });
}

test('empty folder: www/ made from the bundled sample, the banner says where it serves from, rtmp://host/live/x takes a publish', async (t) => {
  const dir = tempDir();
  const ports = await freePorts();
  const ini = writeIni(dir, ports);
  const server = startCli([`--config=${ini}`], dir);
  stopAfter(t, server);
  await server.waitFor(/RTMP server started on/);
  const www = path.join(dir, 'www');
  assert.match(server.output(), new RegExp(`NOTE   Server  serving applications from ${www.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(new: a copy of the bundled sample, with live/`));
  for (const f of ['main.lua', 'live/main.lua', 'index.html'])
    assert.equal(fs.readFileSync(path.join(www, f), 'utf8'), fs.readFileSync(path.join(SAMPLE, f), 'utf8'), f);
  assert.match(server.output(), /Sample root application started/);

  if (!requireTool(t, 'ffmpeg')) return;
  const publish = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-i', testFLV(), '-t', '2', '-c', 'copy', '-f', 'flv', `rtmp://127.0.0.1:${ports.rtmp}/live/x`], 30_000);
  t.after(() => publish.kill());
  const done = await publish.done;
  assert.equal(done.code, 0, done.stderr);
  await server.waitFor(/INFO   RTMP  127\.0\.0\.1:\d+ publishes x\n/);
  await server.waitFor(/INFO   RTMP  127\.0\.0\.1:\d+ stopped publishing x after [\d.]+ s \([\d.]+ KB received\)\n/);
  await server.waitFor(/INFO   RTMP  127\.0\.0\.1:\d+ left \/live after [\d.]+ s: .* \([\d.]+ KB in, [\d.]+ (B|KB) out\)\n/);
});

test('an existing www/, even empty, is the user\'s: nothing is copied into it', async (t) => {
  const dir = tempDir();
  fs.mkdirSync(path.join(dir, 'www'));
  const ini = writeIni(dir, await freePorts());
  const server = startCli([`--config=${ini}`], dir);
  stopAfter(t, server);
  await server.waitFor(/RTMP server started on/);
  assert.deepEqual(fs.readdirSync(path.join(dir, 'www')), []);
  assert.match(server.output(), /serving applications from .*www\n/);
});

test('no protocol listening: exit 1 with the reason (every port 0, or every port taken)', async (t) => {
  const dir = tempDir();
  const ini = path.join(dir, 'off.ini');
  fs.writeFileSync(ini, `[application]\ndir=${dir}\n[RTMP]\nport=0\n[RTMFP]\nport=0\n[HTTP]\nport=0\n[admin]\nport=0\n`);
  const off = await runCli([`--config=${ini}`], dir);
  assert.equal(off.code, 1, off.output);
  assert.match(off.output, /FATAL  Server  start failed: no protocol is listening \(every protocol port is 0\)\n/);

  // every port held by someone else
  const ports = await freePorts();
  const blockers = [ports.rtmp, ports.http].map((port) => {
    const s = net.createServer();
    return new Promise<net.Server>((r) => s.listen(port, '0.0.0.0', () => r(s)));
  });
  const held = await Promise.all(blockers);
  t.after(() => held.forEach((s) => s.close()));
  const dgram = await import('node:dgram');
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((r) => udp.bind(ports.rtmfp, '0.0.0.0', () => r()));
  t.after(() => udp.close());
  const taken = await runCli([`--config=${writeIni(dir, ports)}`], dir);
  assert.equal(taken.code, 1, taken.output);
  assert.match(taken.output, new RegExp(`ERROR  RTMP  RTMP cannot listen on \\S+:${ports.rtmp} \\(address in use\\)`));
  assert.match(taken.output, /FATAL  Server  start failed: no protocol is listening \(RTMP cannot listen .*; RTMFP cannot listen .*; HTTP cannot listen .*\)\n/);
});

test('a second --daemon on the ports of a running one: says why, exits 1, the first pid file and daemon untouched', async (t) => {
  const dir = tempDir();
  const ini = writeIni(dir, await freePorts());
  const pidFile = path.join(dir, 'monats.pid');
  let pid = 0;
  t.after(() => {
    if (pid && isRunning(pid)) process.kill(pid, 'SIGKILL');
  });
  const first = await runCli(['--daemon', `--pidfile=${pidFile}`, `--config=${ini}`], dir);
  assert.equal(first.code, 0, first.output);
  pid = Number(fs.readFileSync(pidFile, 'utf8'));
  assert.match(first.output, new RegExp(`running as daemon, pid ${pid}\\n`));

  const second = await runCli(['--daemon', `--pidfile=${pidFile}`, `--config=${ini}`], dir);
  assert.equal(second.code, 1, second.output);
  assert.match(second.output, /daemon did not start: no protocol is listening \(RTMP cannot listen on \S+ \(address in use\)/);
  assert.equal(fs.readFileSync(pidFile, 'utf8'), `${pid}\n`, 'the running daemon\'s pid file is left alone');
  assert.ok(isRunning(pid), 'the first daemon still runs');

  // the same in the foreground: exit 1, pid file untouched
  const foreground = await runCli([`--pidfile=${pidFile}`, `--config=${ini}`], dir);
  assert.equal(foreground.code, 1, foreground.output);
  assert.equal(fs.readFileSync(pidFile, 'utf8'), `${pid}\n`);

  process.kill(pid, 'SIGTERM');
  await waitUntil(() => !isRunning(pid));
  assert.ok(!fs.existsSync(pidFile), 'removed by its own daemon at exit');
});

test('INFO access log of an HTTP request, TRACE request lines at --log=8, and --log-format=json', async (t) => {
  if (!requireTool(t, 'curl')) return;
  const dir = tempDir();
  const ports = await freePorts();
  const ini = writeIni(dir, ports);
  const server = startCli([`--config=${ini}`, '--log=8', '--log-format=json'], dir);
  stopAfter(t, server);
  await server.waitFor(/"message":"HTTP server started on/);
  const r = await curl([`http://127.0.0.1:${ports.http}/index.html`]);
  assert.equal(r.status, 200);
  assert.match(r.body.toString(), /monats is running/);
  await server.waitFor(/"event":"disconnect"/);
  const records = server
    .output()
    .trim()
    .split('\n')
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        throw new Error(`not a JSON line: ${line}`);
      }
    });
  for (const rec of records) {
    assert.equal(typeof rec.time, 'string');
    assert.ok(!Number.isNaN(Date.parse(rec.time as string)));
    assert.match(rec.level as string, /^(FATAL|CRITIC|ERROR|WARN|NOTE|INFO|DEBUG|TRACE)$/);
    assert.equal(typeof rec.source, 'string');
    assert.equal(typeof rec.message, 'string');
  }
  const trace = records.find((x) => x.level === 'TRACE' && x.source === 'HTTP');
  assert.match(String(trace?.message), /^127\.0\.0\.1:\d+ GET \/index\.html$/);
  const connect = records.find((x) => x.event === 'connect');
  assert.equal(connect?.level, 'INFO');
  assert.equal(connect?.protocol, 'HTTP');
  assert.equal(connect?.app, '/');
  assert.match(String(connect?.address), /^127\.0\.0\.1:\d+$/);
  const left = records.find((x) => x.event === 'disconnect');
  assert.equal(left?.level, 'INFO');
  assert.equal(left?.reason, 'connection closed');
  assert.ok((left?.bytesOut as number) > 1000, 'the page was sent');
  assert.ok((left?.bytesIn as number) > 50, 'the request was received');
});
