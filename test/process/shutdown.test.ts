/**
 * SIGTERM with clients connected: sessions are closed, every app's onStop runs and what it wrote to
 * `data` is on disk, the process exits 0.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { test } from 'node:test';
import { RtmfpTestClient } from '../helpers/rtmfp-client';
import { freePorts, startCli, tempDir, writeIni } from './helpers';

/** every file under `dir` whose content is `text`, as paths relative to dir */
function filesHolding(dir: string, text: string): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      if (e.isDirectory()) walk(full);
      else if (fs.readFileSync(full, 'utf8') === text) found.push(path.relative(dir, full));
    }
  };
  if (fs.existsSync(dir)) walk(dir);
  return found;
}

test('SIGTERM with an RTMFP and an RTMP client: onDisconnection, onStop, data flushed, exit 0', async (t) => {
  const dir = tempDir();
  fs.mkdirSync(path.join(dir, 'www'));
  fs.writeFileSync(
    path.join(dir, 'www', 'main.lua'),
    [
      'function onConnection(client) NOTE("connected ", client.protocol) end',
      'function onDisconnection(client) NOTE("disconnected ", client.protocol) end',
      'function onStop(path) data.stoppedAt = "shutdown-marker" NOTE("onStop ran") end',
    ].join('\n'),
  );
  const ports = await freePorts();
  const ini = writeIni(dir, ports);
  const server = startCli([`--config=${ini}`], dir);
  t.after(() => server.kill());
  await server.waitFor(/RTMFP server started on/);

  const client = new RtmfpTestClient({ port: ports.rtmfp });
  t.after(() => client.close());
  await client.connect(`rtmfp://127.0.0.1:${ports.rtmfp}/`);
  await server.waitFor(/connected RTMFP/);

  const rtmp = net.connect(ports.rtmp, '127.0.0.1');
  t.after(() => rtmp.destroy());
  const rtmpClosed = new Promise<void>((r) => rtmp.once('close', () => r()));
  rtmp.on('error', () => {});
  await new Promise<void>((r) => rtmp.once('connect', () => r()));

  server.child.kill('SIGTERM');
  assert.equal(await server.exited, 0);
  await rtmpClosed; // the server closed the RTMP socket
  const out = server.output();
  assert.match(out, /disconnected RTMFP[\s\S]*onStop ran[\s\S]*Server stopped\n$/);
  assert.deepEqual(filesHolding(path.join(dir, 'data'), 'shutdown-marker').length, 1, 'onStop data write flushed');
});
