/**
 * Attacks on the TCP paths (HTTP, WebSocket) against the real server in a child process, from the
 * campaign (test/helpers/attacks.ts, also run by bench/attacks.ts): each checks that the server
 * stays up, that its memory grows by less than 150 MB, and that a healthy client on other
 * connections (a static file over HTTP, an RPC over WebSocket, an RTMP play) is answered within
 * 5 s while the attack runs. Loopback only, every loop bounded in time.
 *
 * Before the transport layer each of these failed: 2M empty continuation frames cost +431 MB, 20,000
 * pipelined GETs that are never read queued 1.08 GB, a ping flood 350 MB of pongs, one write of
 * 3,449 RPCs froze every other client for minutes, and dribbled headers were never closed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { LATENCY_BOUND_MS, sleep, startTarget, timedGet } from '../helpers/attack-kit';
import { emfile, httpDribble, httpPipeline, wsFragments, wsPingFlood, wsRpcBatch } from '../helpers/attacks';
import { attackTest } from '../helpers/attack-test';

attackTest(wsFragments, (o) => assert.ok(o.closed, 'the fragment flood was closed (too many fragments)'));

attackTest(httpPipeline, (o) => {
  assert.ok(o.closed, 'the peer that never reads was closed');
  assert.ok(o.bytes < 100 * 1024 * 1024, `it was sent ${o.bytes} bytes of 1.2 GB asked`);
});

attackTest(wsPingFlood, (o) => assert.ok(o.closed, 'the flooder was closed'));

attackTest(wsRpcBatch, (o) => assert.ok(o.closed, 'the peer that never reads was closed'));

attackTest(httpDribble, (o) => {
  assert.equal(o.open, 0, 'every dribbling connection closed');
  assert.equal(o.timedOut, 100, 'the 100 accepted ones got 408');
  assert.equal(o.refused, 100, 'the 100 over the per-IP cap were closed at accept');
  assert.equal(o.capLines, 1, 'the cap is logged once per minute, not per connection');
});

attackTest(emfile, (o) => assert.equal(o.descriptorLines, 1, 'out of descriptors said once'));

test('a connection cap above the open-file limit is warned about once; the automatic cap keeps accepts working', async (t) => {
  // a cap above what `ulimit -n 200` allows: the server warns at start (the EMFILE itself: attack emfile)
  const over = await startTarget({ shell: 'ulimit -n 200', ini: '[TCP]\nmaxConnections=100000\nmaxConnectionsPerIP=0\n' });
  t.after(() => over.stop());
  assert.match(over.proc.output(), /TCP\.maxConnections=100000 is above what the open-file limit \(200\) allows/);
  assert.equal(over.proc.output().split('\n').filter((l) => l.includes('is above what the open-file limit')).length, 1, 'said once for the server (RTMP and HTTP listen)');

  // the automatic cap (open-file limit less a reserve): refused by us, logged once, never EMFILE
  const auto = await startTarget({ shell: 'ulimit -n 200' });
  t.after(() => auto.stop());
  const more: net.Socket[] = [];
  t.after(() => more.forEach((s) => s.destroy()));
  for (let i = 0; i < 300; i++) {
    const s = net.connect(auto.ports.http, '127.0.0.1');
    s.on('error', () => {});
    more.push(s);
  }
  await auto.proc.waitFor(/refusing connections: \d+ held, the cap is TCP\.maxConnections=72/, 10_000);
  await sleep(2500);
  assert.doesNotMatch(auto.proc.output(), /out of file descriptors/);
  more.forEach((s) => s.destroy());
  await sleep(500);
  assert.ok((await timedGet(auto.ports.http)) < LATENCY_BOUND_MS);
});
