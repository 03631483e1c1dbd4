/**
 * Attacks on the TCP paths (HTTP, WebSocket) against the real server in a child process. Each test
 * checks that the server stays up, that its memory grows by less than MEMORY_BOUND_MB, and that a
 * healthy client on another connection (a static file over HTTP, an RPC over WebSocket) is answered
 * within LATENCY_BOUND_MS while the attack runs. Loopback only, every loop bounded in time.
 *
 * Before the transport layer each of these failed: 2M empty continuation frames cost +431 MB, 20,000
 * pipelined GETs that are never read queued 1.08 GB, a ping flood 350 MB of pongs, one write of
 * 3,449 RPCs froze every other client for minutes, and dribbled headers were never closed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { Opcode } from '../../src/protocols/websocket/frames';
import { childServer, frame, healthProbe, pump, rawWebSocket, sleep, timedGet, type ChildServer } from './helpers';

const MEMORY_BOUND_MB = 150;
/** generous for a 2-core machine shared with other jobs; the frozen server took minutes */
const LATENCY_BOUND_MS = 5000;
const STALL = '[TCP]\nstallTimeout=3\n';

/** Samples the server's RSS until stop(); returns the peak growth over the baseline. */
function rssWatch(srv: ChildServer): { stop(): number } {
  const base = srv.rssMB();
  let peak = base;
  const timer = setInterval(() => {
    if (srv.alive()) peak = Math.max(peak, srv.rssMB());
  }, 100);
  return {
    stop: () => {
      clearInterval(timer);
      if (srv.alive()) peak = Math.max(peak, srv.rssMB());
      return peak - base;
    },
  };
}

/** After an attacker stopped writing: read what it was sent; resolves when the server has closed it. */
function closedByServer(s: net.Socket, withinMs: number): Promise<{ closed: boolean; bytes: number }> {
  return new Promise((resolve) => {
    let bytes = 0;
    if (s.destroyed) return resolve({ closed: true, bytes });
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ closed: false, bytes });
    }, withinMs);
    s.on('data', (d) => (bytes += d.length));
    s.once('close', () => {
      clearTimeout(timer);
      resolve({ closed: true, bytes });
    });
    s.on('error', () => {});
    s.resume();
  });
}

async function finish(srv: ChildServer, probe: Awaited<ReturnType<typeof healthProbe>>, mem: { stop(): number }, what: string): Promise<void> {
  const grown = mem.stop();
  const { worst, count } = await probe.stop();
  assert.ok(srv.alive(), `${what}: the server died`);
  assert.ok(grown < MEMORY_BOUND_MB, `${what}: RSS grew by ${grown.toFixed(0)} MB`);
  assert.ok(count >= 1, `${what}: the healthy client was never answered`);
  assert.ok(worst < LATENCY_BOUND_MS, `${what}: the healthy client waited ${worst} ms`);
  assert.ok((await timedGet(srv.http)) < LATENCY_BOUND_MS);
}

test('WebSocket: 2M empty continuation frames cost bounded memory (one growing buffer, fragment cap)', async (t) => {
  const srv = await childServer(t, STALL);
  const mem = rssWatch(srv);
  const probe = await healthProbe(srv.http);
  const s = await rawWebSocket(srv.http);
  s.write(frame(Opcode.Text, '[', false));
  const empty = frame(Opcode.Continuation, Buffer.alloc(0), false);
  const batch = Buffer.concat(Array(10_000).fill(empty));
  let frames = 0;
  await pump(s, () => (frames >= 2_000_000 ? null : ((frames += 10_000), batch)), 30_000);
  await sleep(1000);
  const end = await closedByServer(s, 5000);
  await finish(srv, probe, mem, 'fragment flood');
  assert.ok(end.closed, 'the fragment flood was closed (too many fragments)');
});

test('HTTP: 20,000 pipelined GETs of a 60 KB file never read: reading stops, the stalled peer is dropped', async (t) => {
  const srv = await childServer(t, STALL);
  const mem = rssWatch(srv);
  const probe = await healthProbe(srv.http);
  const s = net.connect(srv.http, '127.0.0.1');
  await new Promise((r) => s.once('connect', r));
  s.pause(); // never reads
  const batch = Buffer.from('GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n'.repeat(1000));
  let sent = 0;
  await pump(s, () => (sent >= 20 ? null : (sent++, batch)), 10_000);
  await sleep(5000); // past the stall timeout
  const end = await closedByServer(s, 5000);
  await finish(srv, probe, mem, 'pipelined GETs');
  assert.ok(end.closed, 'the peer that never reads was closed');
  assert.ok(end.bytes < 100 * 1024 * 1024, `it was sent ${end.bytes} bytes of 1.2 GB asked`);
});

test('WebSocket: a ping flood that never reads its pongs is paused then dropped', async (t) => {
  const srv = await childServer(t, STALL);
  const mem = rssWatch(srv);
  const probe = await healthProbe(srv.http);
  const s = await rawWebSocket(srv.http);
  s.pause();
  const batch = Buffer.concat(Array(500).fill(frame(Opcode.Ping, Buffer.alloc(125, 1))));
  let pings = 0;
  await pump(s, () => (pings >= 1_500_000 ? null : ((pings += 500), batch)), 15_000);
  await sleep(4000);
  const end = await closedByServer(s, 5000);
  await finish(srv, probe, mem, 'ping flood');
  assert.ok(end.closed, 'the flooder was closed');
});

test('WebSocket: one write of 3,449 requests for a 1 MB value does not freeze other clients', async (t) => {
  const srv = await childServer(t, STALL);
  const s = await rawWebSocket(srv.http);
  s.write(frame(Opcode.Text, JSON.stringify(['set', 'x'.repeat(1024 * 1024)])));
  await sleep(500);
  const mem = rssWatch(srv);
  const probe = await healthProbe(srv.http);
  s.pause(); // asks, never reads
  s.write(Buffer.concat(Array(3449).fill(frame(Opcode.Text, '["get"]'))));
  await sleep(6000);
  const end = await closedByServer(s, 5000);
  await finish(srv, probe, mem, '1 MB x 3,449');
  assert.ok(end.closed, 'the peer that never reads was closed');
});

test('HTTP: dribbled headers are closed at the head deadline (408); connections per IP are capped', async (t) => {
  const srv = await childServer(t, '[HTTP]\nheaderTimeout=2\ntimeout=7\n[TCP]\nmaxConnectionsPerIP=100\n');
  const probe = await healthProbe(srv.http);
  const attackers: Array<{ s: net.Socket; closedAt: number; text: string }> = [];
  const started = Date.now();
  for (let i = 0; i < 200; i++) {
    // another loopback address than the healthy client's, so the per-IP cap is the attacker's
    const a = { s: net.connect({ port: srv.http, host: '127.0.0.1', localAddress: '127.0.0.2' }), closedAt: 0, text: '' };
    a.s.on('data', (d) => (a.text += d.toString('latin1')));
    a.s.on('error', () => {});
    a.s.once('close', () => (a.closedAt = Date.now()));
    a.s.once('connect', () => a.s.write('GET /a.txt HTTP/1.1\r\n'));
    attackers.push(a);
  }
  t.after(() => attackers.forEach((a) => a.s.destroy()));
  // one header byte a second: the idle timeout (7 s) never fires, the head deadline (2 s) does
  for (let second = 0; second < 8 && attackers.some((a) => !a.closedAt); second++) {
    await sleep(1000);
    for (const a of attackers) if (!a.closedAt && !a.s.destroyed) a.s.write('X');
  }
  const open = attackers.filter((a) => !a.closedAt).length;
  assert.equal(open, 0, `${open} dribbling connections still open after ${Date.now() - started} ms`);
  const timedOut = attackers.filter((a) => a.text.startsWith('HTTP/1.1 408')).length;
  const refused = attackers.filter((a) => a.text === '').length;
  assert.equal(timedOut, 100, 'the 100 accepted ones got 408');
  assert.equal(refused, 100, 'the 100 over the per-IP cap were closed at accept');
  const { worst } = await probe.stop();
  assert.ok(worst < LATENCY_BOUND_MS, `healthy client waited ${worst} ms`);
  const lines = srv.proc.output().split('\n').filter((l) => l.includes('TCP.maxConnectionsPerIP=100'));
  assert.equal(lines.length, 1, `the cap is logged once per minute, not per connection:\n${lines.join('\n')}`);
});

test('out of file descriptors: said once with what to do; the automatic cap keeps accepts working', async (t) => {
  // a cap above what `ulimit -n 200` allows: the server warns at start and once when it runs out
  const over = await childServer(t, '[TCP]\nmaxConnections=100000\nmaxConnectionsPerIP=0\n', 'ulimit -n 200');
  assert.match(over.proc.output(), /TCP\.maxConnections=100000 is above what the open-file limit \(200\) allows/);
  assert.equal(over.proc.output().split('\n').filter((l) => l.includes('is above what the open-file limit')).length, 1, 'said once for the server (RTMP and HTTP listen)');
  const held: net.Socket[] = [];
  t.after(() => held.forEach((s) => s.destroy()));
  for (let i = 0; i < 300; i++) {
    const s = net.connect(over.http, '127.0.0.1');
    s.on('error', () => {});
    held.push(s);
  }
  await over.proc.waitFor(/out of file descriptors \(EMFILE.*raise the limit \(ulimit -n/, 10_000);
  await sleep(2500);
  assert.equal(over.proc.output().split('\n').filter((l) => l.includes('out of file descriptors')).length, 1, over.proc.output());
  held.forEach((s) => s.destroy());
  await sleep(500);
  assert.ok((await timedGet(over.http)) < LATENCY_BOUND_MS, 'served again once the descriptors are back');

  // the automatic cap (open-file limit less a reserve): refused by us, logged once, never EMFILE
  const auto = await childServer(t, '', 'ulimit -n 200');
  const more: net.Socket[] = [];
  t.after(() => more.forEach((s) => s.destroy()));
  for (let i = 0; i < 300; i++) {
    const s = net.connect(auto.http, '127.0.0.1');
    s.on('error', () => {});
    more.push(s);
  }
  await auto.proc.waitFor(/refusing connections: \d+ held, the cap is TCP\.maxConnections=72/, 10_000);
  await sleep(2500);
  assert.doesNotMatch(auto.proc.output(), /out of file descriptors/);
  more.forEach((s) => s.destroy());
  await sleep(500);
  assert.ok((await timedGet(auto.http)) < LATENCY_BOUND_MS);
});
