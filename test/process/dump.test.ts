/**
 * --dump / --dumplimit on the real executable: packets of the filtered protocol are hex-dumped in
 * and out (console and log file), others are not, each dump cut at --dumplimit bytes.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { test } from 'node:test';
import { RtmfpTestClient } from '../helpers/rtmfp-client';
import { PROTOCOLS } from '../../src/server';
import { freePorts, startCli, tempDir, writeIni } from './helpers';

test('--dump=rtmfp --dumplimit=16: RTMFP packets dumped both ways, RTMP bytes not', async (t) => {
  if (!PROTOCOLS.some((p) => p.name === 'RTMFP') || !PROTOCOLS.some((p) => p.name === 'RTMP')) {
    t.skip('needs RTMFP and RTMP registered in src/server.ts');
    return;
  }
  const dir = tempDir();
  const ports = await freePorts();
  const ini = writeIni(dir, ports);
  const server = startCli([`--config=${ini}`, '--dump=rtmfp', '--dumplimit=16'], dir);
  t.after(() => server.kill());
  await server.waitFor(/RTMFP server started on/);
  await server.waitFor(/RTMP server started on/);

  // RTMP: a plain handshake start (C0 + C1) that must not be dumped
  const rtmp = net.connect(ports.rtmp, '127.0.0.1');
  t.after(() => rtmp.destroy());
  await new Promise<void>((r) => rtmp.once('connect', () => r()));
  rtmp.write(Buffer.concat([Buffer.from([3]), Buffer.alloc(1536, 7)]));
  await new Promise<void>((r) => rtmp.once('data', () => r()));

  const client = new RtmfpTestClient({ port: ports.rtmfp });
  t.after(() => client.close());
  await client.connect(`rtmfp://127.0.0.1:${ports.rtmfp}/`);
  const out = await server.waitFor(/RTMFP out to 127\.0\.0\.1:\d+ \(\d+ bytes\)\n/);
  assert.match(out, /\d\d:\d\d:\d\d\.\d{3} RTMFP in from 127\.0\.0\.1:\d+ \(\d+ bytes\)\n {2}00000000 {2}([0-9A-F]{2} ){8} ([0-9A-F]{2} ){8} .{16}\n {2}… \d+ more bytes \(--dumplimit=16\)\n/);
  assert.doesNotMatch(out, /RTMP (in from|out to)/);

  server.child.kill('SIGTERM');
  assert.equal(await server.exited, 0);
  assert.match(fs.readFileSync(path.join(dir, 'logs', 'log.0'), 'utf8'), /RTMFP in from 127\.0\.0\.1:\d+/);
});
