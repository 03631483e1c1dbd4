/**
 * The real executable with the protocols registered in src/server.ts: the RTMP TCP port is taken
 * before start, RTMP reports ONE error line naming itself and the port, and every other protocol
 * still listens (HTTP and RTMFP clients also connect). Skipped while RTMP is not registered yet.
 */
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { test } from 'node:test';
import { loadConfig } from '../../src/registry';
import { PROTOCOLS, protocolEnabled } from '../../src/server';
import { RtmfpTestClient } from '../helpers/rtmfp-client';
import { freePorts, startCli, tcpAccepts, tempDir, writeIni } from './helpers';

/** true if someone (the server) holds `port` on 127.0.0.1 for TCP or UDP */
async function held(port: number): Promise<boolean> {
  const tcp = await new Promise<boolean>((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(true));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(false)));
  });
  if (tcp) return true;
  return new Promise<boolean>((resolve) => {
    const u = dgram.createSocket('udp4');
    u.once('error', () => resolve(true));
    u.bind(port, '127.0.0.1', () => u.close(() => resolve(false)));
  });
}

test('RTMP port taken: one error line naming RTMP and the port, the other protocols keep running', async (t) => {
  if (!PROTOCOLS.some((p) => p.name === 'RTMP')) {
    t.skip('RTMP is not registered in src/server.ts PROTOCOLS yet');
    return;
  }
  const dir = tempDir();
  const ports = await freePorts();
  const ini = writeIni(dir, ports);
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(ports.rtmp, '127.0.0.1', () => r()));
  t.after(() => blocker.close());

  const server = startCli([`--config=${ini}`], dir);
  t.after(() => server.kill());
  await server.waitFor(/MonaServer-compatible/);
  const config = loadConfig(ini, {}, { required: true }).config;
  const others = PROTOCOLS.filter((p) => p.name !== 'RTMP' && protocolEnabled(p, config));
  for (const p of others) await server.waitFor(new RegExp(`(${p.name} server started on|${p.name} cannot listen)`));
  await server.waitFor(/RTMP cannot listen/);

  const out = server.output();
  const rtmpLines = out.split('\n').filter((l) => /\bRTMP\b/.test(l) && !/MonaServer-compatible/.test(l));
  assert.equal(rtmpLines.length, 1, out);
  assert.match(rtmpLines[0], new RegExp(`ERROR  RTMP  RTMP cannot listen on \\S+:${ports.rtmp} \\(address in use\\)$`));
  for (const p of others) {
    const port = p.port(config);
    assert.match(out, new RegExp(`${p.name} server started on \\S+:${port}\\b`), `${p.name} still starts`);
    assert.equal(await held(port), true, `${p.name} holds its port ${port}`);
  }
  if (others.some((p) => p.name === 'HTTP')) assert.equal(await tcpAccepts(ports.http), true, 'HTTP accepts connections');
  if (others.some((p) => p.name === 'RTMFP')) {
    const client = new RtmfpTestClient({ port: ports.rtmfp });
    t.after(() => client.close());
    const info = await client.connect(`rtmfp://127.0.0.1:${ports.rtmfp}/`);
    assert.equal(info.get('code'), 'NetConnection.Connect.Success', 'an RTMFP client connects while RTMP is down');
  }

  server.child.kill('SIGTERM');
  assert.equal(await server.exited, 0);
});
