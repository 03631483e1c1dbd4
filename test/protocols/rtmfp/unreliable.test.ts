/**
 * Partial reliability: a `?unbuffered=true` play gets media on an abandonable flow. Behind a lossy,
 * reordering link the server abandons late fragments instead of retransmitting them (forward
 * sequence number / abandon flag), so the player never stalls: what arrives is whole, in order,
 * and the stream keeps going to its end. Also: a script writer with `reliable = false`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startRtmfpTestServer } from '../../helpers/rtmfp-server';
import { RtmfpTestClient, makeFrames, type Media } from '../../helpers/rtmfp-client';
import { LossyProxy } from '../../helpers/rtmfp-proxy';

test('?unbuffered=true play behind 15% loss: late fragments abandoned, no stall, frames whole and ordered', { timeout: 60_000 }, async () => {
  const srv = await startRtmfpTestServer();
  const proxy = new LossyProxy({ serverPort: srv.port, loss: 0.15, reorder: 0.1, seed: 5 });
  const pub = new RtmfpTestClient({ port: srv.port });
  const sub = new RtmfpTestClient({ port: await proxy.start(), retryMs: 150 });
  try {
    await pub.connect(`rtmfp://127.0.0.1/live`);
    await sub.connect(`rtmfp://127.0.0.1/live`);
    const ps = await pub.publish('u');
    await sub.play('u?unbuffered=true');
    const frames = makeFrames(240, 6); // frequent key frames: video resumes soon after a drop
    const got: Media[] = [];
    sub.on('media', (m: Media) => got.push(m));
    for (const f of frames) {
      pub.sendMedia(ps, f.type, f.time, f.body);
      await new Promise((r) => setTimeout(r, 8));
    }
    // the tail arrives although earlier fragments were lost for good
    const until = Date.now() + 10_000;
    while (Date.now() < until && !got.some((m) => m.body.readUInt32BE(2) >= 225)) await new Promise((r) => setTimeout(r, 50));
    const idx = got.map((m) => m.body.readUInt32BE(2));
    assert.ok(idx.some((i) => i >= 225), `stream reached its end (last ${idx[idx.length - 1]})`);
    for (let i = 1; i < idx.length; i++) assert.ok(idx[i] > idx[i - 1], 'in order, no duplicates');
    for (const m of got) assert.ok(m.body.equals(frames[m.body.readUInt32BE(2)].body), 'whole frames only');
    assert.ok(got.length >= frames.length / 4, `enough arrived (${got.length})`);
    assert.ok(proxy.dropped > 10);
    // frames arriving in order prove nothing alone (retransmission would do that too): the server
    // must really have abandoned late fragments
    const abandons = [...srv.server.sessions.values()].reduce((n, s) => n + s.abandons, 0);
    assert.ok(abandons > 0, 'the server abandoned late unreliable fragments');
  } finally {
    await pub.close();
    await sub.close();
    await proxy.stop();
    await srv.stop();
  }
});

test('script writer with reliable=false carries invocations; newWriter gives another flow', async () => {
  const srv = await startRtmfpTestServer();
  const c = new RtmfpTestClient({ port: srv.port });
  try {
    await c.connect(`rtmfp://127.0.0.1:${srv.port}/live`);
    const client = [...srv.ctx.clients][0];
    const seen: Array<[string, unknown[]]> = [];
    c.on('invocation', (name: string, args: unknown[]) => seen.push([name, args]));
    const w = client.writer.newWriter();
    w.reliable = false;
    w.writeInvocation('hello', ['world', 3]);
    client.writer.writeInvocation('onMain', [true]);
    for (let i = 0; i < 50 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(seen.map((s) => s[0]).sort(), ['hello', 'onMain']);
    assert.deepEqual(seen.find((s) => s[0] === 'hello')?.[1], ['world', 3]);
    w.close();
  } finally {
    await c.close();
    await srv.stop();
  }
});
