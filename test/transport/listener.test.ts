/**
 * The transport listener and connection on their own: IPv4 + IPv6 on one port, the banner
 * addresses, caps and blacklist at accept, coalesced output, back-pressure and the stall timeout.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import * as os from 'node:os';
import { FolderHost } from '../../src/core/app-host';
import { ServerContext } from '../../src/core/context';
import { defaultConfig } from '../../src/registry';
import { Level } from '../../src/logs/levels';
import { ServerLogger } from '../../src/logs/logger';
import type { Connection } from '../../src/transport/connection';
import type { TransportLimits } from '../../src/transport/limits';
import { TCPListener, hasIPv6 } from '../../src/transport/listener';
import { sleep } from '../helpers/attack-kit';

function context(blacklisted: string[] = []): ServerContext {
  const dir = os.tmpdir();
  const logger = new ServerLogger({ level: Level.FATAL, console: null, file: null });
  const ctx = new ServerContext(defaultConfig(dir), logger, new FolderHost(dir), 'test');
  for (const ip of blacklisted) ctx.blacklist.add(ip);
  return ctx;
}

async function listen(t: TestContext, options: { host?: string; limits?: Partial<TransportLimits>; blacklisted?: string[] }, onConnection: (c: Connection) => void): Promise<TCPListener> {
  const l = new TCPListener(context(options.blacklisted), { name: 'T', port: 0, host: options.host ?? '127.0.0.1', limits: options.limits, onConnection });
  await l.start();
  t.after(() => l.stop());
  return l;
}

function connect(port: number, host = '127.0.0.1', localAddress?: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host, localAddress });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** Resolves true if the server closed the socket within `ms`. */
function closedWithin(s: net.Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (s.destroyed) return resolve(true);
    const timer = setTimeout(() => resolve(false), ms);
    s.on('error', () => {});
    s.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
    s.resume();
  });
}

test('0.0.0.0 also listens on [::] (same port) where the machine has IPv6; addresses() for the banner', async (t) => {
  const seen: string[] = [];
  const l = await listen(t, { host: '0.0.0.0' }, (c) => {
    seen.push(c.address);
    c.handler = { onData: () => {}, onClose: () => {} };
  });
  const port = l.port;
  if (!hasIPv6()) {
    assert.deepEqual(l.addresses(), [`0.0.0.0:${port}`]);
    t.skip('no IPv6 on this machine');
    return;
  }
  assert.deepEqual(l.addresses(), [`0.0.0.0:${port}`, `[::]:${port}`]);
  const v4 = await connect(port, '127.0.0.1');
  const v6 = await connect(port, '::1');
  t.after(() => [v4, v6].forEach((s) => s.destroy()));
  await sleep(100);
  assert.deepEqual(seen, [`127.0.0.1:${v4.localPort}`, `[::1]:${v6.localPort}`]);
});

test('blacklisted peers and peers over the caps are closed at accept; the counts come back when they leave', async (t) => {
  let accepted = 0;
  const l = await listen(t, { limits: { maxConnections: 5, maxConnectionsPerIP: 3 }, blacklisted: ['127.0.0.9'] }, (c) => {
    accepted++;
    c.handler = { onData: () => {}, onClose: () => {} };
  });
  const black = await connect(l.port, '127.0.0.1', '127.0.0.9');
  assert.ok(await closedWithin(black, 2000), 'blacklisted: closed');
  const a = await Promise.all([1, 2, 3, 4].map(() => connect(l.port, '127.0.0.1', '127.0.0.2')));
  assert.ok(await closedWithin(a[3], 2000), 'a 4th from one IP: closed');
  const b = await Promise.all([1, 2, 3].map(() => connect(l.port, '127.0.0.1', '127.0.0.3')));
  assert.ok(await closedWithin(b[2], 2000), 'a 6th in all: closed');
  assert.equal(accepted, 5);
  assert.equal(l.totalConnections, 5);
  for (const s of [...a, ...b]) s.destroy();
  await sleep(200);
  assert.equal(l.totalConnections, 0);
  const again = await connect(l.port, '127.0.0.1', '127.0.0.2');
  t.after(() => again.destroy());
  assert.equal(await closedWithin(again, 300), false, 'accepted again');
});

test('output: a burst is one write; above outputLimit input pauses, resumes on drain; a stalled peer is dropped', async (t) => {
  let conn!: Connection;
  let closedReason = '';
  let received = 0;
  const l = await listen(t, { limits: { outputLimit: 64 * 1024, stallTimeoutMs: 600 } }, (c) => {
    conn = c;
    c.handler = { onData: (d) => (received += d.length), onClose: (r) => (closedReason = r) };
  });
  const s = await connect(l.port);
  t.after(() => s.destroy());
  await sleep(50);
  // coalescing: many small writes, one chunk at the peer
  const chunks: Buffer[] = [];
  s.on('data', (d) => chunks.push(d));
  for (let i = 0; i < 100; i++) conn.write(Buffer.from('x'));
  conn.flush();
  await sleep(100);
  assert.equal(Buffer.concat(chunks).length, 100);
  assert.equal(chunks.length, 1);
  // back-pressure: the peer stops reading, we queue past the limit, our reading stops
  s.pause();
  let writes = 0;
  while (!conn.congested && writes < 10_000) {
    conn.write(Buffer.alloc(64 * 1024));
    conn.flush();
    writes++;
    if (writes % 16 === 0) await sleep(1);
  }
  assert.ok(conn.congested, 'congested once the kernel buffers are full');
  const before = received;
  s.write(Buffer.alloc(1000));
  await sleep(200);
  assert.equal(received, before, 'nothing read while congested');
  // the peer reads again: drained, input resumes
  s.resume();
  await new Promise<void>((r) => conn.whenWritable(r));
  await sleep(100);
  assert.equal(received, before + 1000);
  // stalled: above the limit for stallTimeoutMs → dropped
  s.pause();
  while (!conn.congested) {
    conn.write(Buffer.alloc(64 * 1024));
    conn.flush();
    await sleep(1);
  }
  const t0 = Date.now();
  while (!closedReason && Date.now() - t0 < 10_000) {
    // the queue stays above the limit: loopback's socket buffers grow as they fill and can take
    // back what we queued (on a loaded machine), which would make it a slow peer, not a stalled one
    if (conn.queuedBytes() <= 2 * 64 * 1024 && !conn.closed) {
      conn.write(Buffer.alloc(64 * 1024));
      conn.flush();
    }
    await sleep(20);
  }
  assert.match(closedReason, /^stalled: \d+ bytes not read/);
});
