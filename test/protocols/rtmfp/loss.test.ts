/**
 * Reliability under loss and reordering: publisher and player each talk to the server through a
 * UDP proxy that drops and reorders datagrams in both directions (seeded, repeatable). Handshake
 * retransmission gets them connected; on reliable flows every frame still arrives, whole and in
 * order, because lost fragments are retransmitted and reordered ones are put back in sequence.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startRtmfpTestServer } from '../../helpers/rtmfp-server';
import { RtmfpTestClient, makeFrames, relay } from '../../helpers/rtmfp-client';
import { LossyProxy } from '../../helpers/rtmfp-proxy';

for (const { loss, reorder, seed } of [
  { loss: 0.1, reorder: 0.1, seed: 7 },
  { loss: 0.2, reorder: 0.2, seed: 1234 },
]) {
  test(`${loss * 100}% loss and ${reorder * 100}% reordering both ways: the stream arrives complete`, { timeout: 60_000 }, async () => {
    const srv = await startRtmfpTestServer();
    const pubProxy = new LossyProxy({ serverPort: srv.port, loss, reorder, seed });
    const subProxy = new LossyProxy({ serverPort: srv.port, loss, reorder, seed: seed + 1 });
    const pub = new RtmfpTestClient({ port: await pubProxy.start(), retryMs: 150 });
    const sub = new RtmfpTestClient({ port: await subProxy.start(), retryMs: 150 });
    try {
      await pub.connect(`rtmfp://127.0.0.1/live`);
      await sub.connect(`rtmfp://127.0.0.1/live`);
      const ps = await pub.publish('lossy');
      await sub.play('lossy');
      const frames = makeFrames(200);
      const got = await relay(pub, ps, sub, frames);
      assert.deepEqual(
        got.map((m) => m.body.readUInt32BE(2)),
        frames.map((_, i) => i),
      );
      for (let i = 0; i < frames.length; i++) assert.ok(got[i].body.equals(frames[i].body), `frame ${i} intact`);
      assert.ok(pubProxy.dropped > 10 && subProxy.dropped > 10, 'the proxies really dropped datagrams');
      assert.ok(pubProxy.reordered > 10 && subProxy.reordered > 10, 'and reordered some');
      assert.ok(pub.handshakeSends >= 2);
    } finally {
      await pub.close();
      await sub.close();
      await pubProxy.stop();
      await subProxy.stop();
      await srv.stop();
    }
  });
}
