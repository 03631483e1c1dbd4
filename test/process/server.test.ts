/**
 * Server wiring in-process (startServer), with small real TCP listeners defined here as protocols:
 * a port that cannot be bound is one error line and the others keep serving; stop() closes them and
 * stops the apps. The same checks against the real executable and the registered protocols are in
 * ports.test.ts.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { FolderHost } from '../../src/core/app-host';
import type { ServerContext } from '../../src/core/context';
import type { ProtocolServer } from '../../src/core/protocol';
import { bindFailure, startServer, type ProtocolEntry } from '../../src/server';
import { freeTcpPort, tcpAccepts, tempDir } from './helpers';

/** A plain TCP listener standing in for a protocol (the real ones are tested with real clients). */
class TcpTestServer implements ProtocolServer {
  private server = net.createServer((s) => s.end());
  constructor(readonly name: string, private readonly port: number) {}
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => resolve());
    });
  }
  addresses(): string[] {
    return [`127.0.0.1:${this.port} (TCP)`];
  }
  stop(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

test('a taken port is one error line naming protocol and port; the other protocol keeps serving', async (t) => {
  const dir = tempDir();
  const portA = await freeTcpPort();
  const portB = await freeTcpPort();
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(portA, '127.0.0.1', () => r()));
  t.after(() => blocker.close());

  const events: string[] = [];
  class RecordingHost extends FolderHost {
    override start(): void {
      events.push('start');
    }
    override async stop(): Promise<void> {
      events.push('stop');
    }
  }
  const protocols: ProtocolEntry[] = [
    { name: 'AAA', port: () => portA, create: () => new TcpTestServer('AAA', portA) },
    { name: 'BBB', port: () => portB, create: () => new TcpTestServer('BBB', portB) },
    { name: 'OFF', port: () => 0, create: () => assert.fail('a protocol with port 0 must not be created') },
  ];
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  const server = await startServer({
    cwd: dir,
    console: out,
    protocols,
    overrides: { 'admin.port': '0' },
    appHost: (ctx: ServerContext) => new RecordingHost(ctx.wwwDir),
  });
  t.after(() => server.stop());

  assert.deepEqual(server.failures, [`AAA cannot listen on 127.0.0.1:${portA} (address in use)`]);
  assert.equal(text.split('\n').filter((l) => l.includes('AAA')).length, 1, text);
  assert.match(text, new RegExp(`ERROR  AAA  AAA cannot listen on 127\\.0\\.0\\.1:${portA} \\(address in use\\)\\n`));
  assert.match(text, new RegExp(`NOTE   BBB  BBB server started on 127\\.0\\.0\\.1:${portB} \\(TCP\\)\\n`));
  assert.deepEqual(server.running.map((p) => p.name), ['BBB']);
  assert.equal(await tcpAccepts(portB), true);
  assert.ok(fs.statSync(path.join(dir, 'www')).isDirectory());
  assert.ok(fs.statSync(path.join(dir, 'data')).isDirectory());
  assert.deepEqual(events, ['start']);

  await server.stop();
  await server.stop(); // twice is harmless
  assert.deepEqual(events, ['start', 'stop']);
  assert.equal(await tcpAccepts(portB), false, 'stopped protocol no longer accepts');
  assert.match(text, /Server stopped\n$/);
  assert.match(fs.readFileSync(path.join(dir, 'logs', 'log.0'), 'utf8'), /AAA cannot listen on/);
});

test('bindFailure wording for the usual errno codes and plain errors', () => {
  const inUse = Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE', address: '0.0.0.0', port: 1935 });
  assert.equal(bindFailure('RTMP', 1935, inUse), 'RTMP cannot listen on 0.0.0.0:1935 (address in use)');
  const denied = Object.assign(new Error('bind EACCES'), { code: 'EACCES', address: '0.0.0.0', port: 80 });
  // a port below 1024 refused to a non-root user: the line says what to do
  assert.match(bindFailure('HTTP', 80, denied), /^HTTP cannot listen on 0\.0\.0\.0:80 \(permission denied: ports below 1024 need root; .*port of 1024 or more.*CAP_NET_BIND_SERVICE.*\)$/);
  const deniedHigh = Object.assign(new Error('bind EACCES'), { code: 'EACCES', address: '0.0.0.0', port: 8080 });
  assert.equal(bindFailure('HTTP', 8080, deniedHigh), 'HTTP cannot listen on 0.0.0.0:8080 (permission denied)');
  assert.equal(bindFailure('RTSP', 554, new Error('certificate missing')), 'RTSP cannot listen on port 554 (certificate missing)');
});
