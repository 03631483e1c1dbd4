/**
 * The bundled sample www/ served by the real executable: root onStart logs, client:hello answers
 * over RTMFP (our TS client), and the live/ folder takes an ffmpeg publish that ffmpeg plays back
 * over RTMP (rtmp://host/live/name out of the box).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import { RtmfpTestClient } from '../helpers/rtmfp-client';
import { testFLV } from '../protocols/rtmp/helpers';
import { freePorts, startCli, tempDir, writeIni, type Ports } from './helpers';

const WWW = path.join(__dirname, '..', '..', '..', 'www');

async function startSample(t: TestContext): Promise<{ dir: string; ports: Ports; output: () => string }> {
  const dir = tempDir();
  fs.cpSync(WWW, path.join(dir, 'www'), { recursive: true });
  const ports = await freePorts();
  const ini = writeIni(dir, ports);
  const server = startCli([`--config=${ini}`], dir);
  t.after(async () => {
    server.child.kill('SIGTERM');
    const timer = setTimeout(() => server.kill(), 10_000);
    await server.exited;
    clearTimeout(timer);
  });
  await server.waitFor(/RTMP server started on/);
  await server.waitFor(/RTMFP server started on/);
  return { dir, ports, output: server.output };
}

function toolMissing(t: TestContext, tool: string): boolean {
  const found = (process.env.PATH ?? '').split(':').some((d) => fs.existsSync(path.join(d, tool)));
  if (found) return false;
  if (process.env.CI) assert.fail(`${tool} is required in CI`);
  t.skip(`${tool} not installed`);
  return true;
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.pid && process.kill(child.pid, 'SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

test('sample www: root onStart logs, client:hello over RTMFP, /live exists', async (t) => {
  const { ports, output } = await startSample(t);
  assert.match(output(), /NOTE   www\/main\.lua:\d+  Sample root application started\n/);

  const client = new RtmfpTestClient({ port: ports.rtmfp });
  t.after(() => client.close());
  const info = await client.connect(`rtmfp://127.0.0.1:${ports.rtmfp}/`);
  assert.equal(info.get('code'), 'NetConnection.Connect.Success');
  assert.deepEqual(await client.call('hello', 'Bob'), ['Hello Bob']);

  const live = new RtmfpTestClient({ port: ports.rtmfp });
  t.after(() => live.close());
  assert.equal((await live.connect(`rtmfp://127.0.0.1:${ports.rtmfp}/live`)).get('code'), 'NetConnection.Connect.Success');
  // /live has no onConnection of its own: the root's gives it hello too
  assert.deepEqual(await live.call('hello', 'Live'), ['Hello Live']);
});

test('sample www: ffmpeg publishes rtmp://host/live/sample and ffmpeg plays it back', async (t) => {
  if (toolMissing(t, 'ffmpeg')) return;
  const { ports } = await startSample(t);
  const url = `rtmp://127.0.0.1:${ports.rtmp}/live/sample`;
  const publish = run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-i', testFLV(), '-c', 'copy', '-f', 'flv', url], 30_000);
  await new Promise((r) => setTimeout(r, 1500));
  const play = await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-i', url, '-t', '2', '-f', 'null', '-'], 20_000);
  assert.equal(play.code, 0, play.stderr);
  const published = await publish;
  assert.equal(published.code, 0, published.stderr);
});
