/**
 * An RTMFP publisher behind a lossy link, its media on an unreliable flow (the publisher abandons
 * late fragments): the server counts what the flow lost before each message into the publication's
 * QualityOfService (lostRate) and, after a video loss, drops frames up to the next key frame
 * (publication.droppedFrames, MonaServer's meaning); its latency samples are the publisher's ping.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FlowSender } from '../../../src/protocols/rtmfp/flow-writer';
import { startRtmfpTestServer } from '../../helpers/rtmfp-server';
import { RtmfpTestClient, makeFrames } from '../../helpers/rtmfp-client';
import { LossyProxy } from '../../helpers/rtmfp-proxy';

test('unreliable RTMFP publishing behind 15% loss: lostRate measured, frames after a loss dropped up to the next key frame', { timeout: 60_000 }, async () => {
  const srv = await startRtmfpTestServer();
  const proxy = new LossyProxy({ serverPort: srv.port, loss: 0.15, reorder: 0.05, seed: 11 });
  const pub = new RtmfpTestClient({ port: await proxy.start(), retryMs: 150 });
  try {
    await pub.connect('rtmfp://127.0.0.1/live');
    const id = await pub.publish('lossy');
    // media on an abandonable flow, as Flash's videoReliable = false
    const sender = (pub as unknown as { streams: Map<number, FlowSender> }).streams.get(id)!;
    sender.reliable = false;
    const publication = srv.ctx.publications.get('lossy')!;
    const keys: number[] = [];
    const seen: number[] = [];
    publication.observe({ onVideo: (f) => seen.push(f.payload.readUInt32BE(2)) });
    const frames = makeFrames(300, 10);
    frames.forEach((f, i) => f.type === 9 && f.body[0] === 0x17 && keys.push(i));
    let maxLostRate = 0;
    for (const f of frames) {
      pub.sendMedia(id, f.type, f.time, f.body);
      maxLostRate = Math.max(maxLostRate, publication.videoQOS.lostRate, publication.audioQOS.lostRate);
      await new Promise((r) => setTimeout(r, 8));
    }
    const until = Date.now() + 5000;
    while (Date.now() < until && publication.droppedFrames === 0) await new Promise((r) => setTimeout(r, 50));
    assert.ok(proxy.dropped > 10, `the link lost packets (${proxy.dropped})`);
    assert.ok(publication.droppedFrames > 0, 'frames after a loss were dropped');
    // what was kept: after every gap in the video, the next frame seen is a key frame
    for (let i = 1; i < seen.length; i++) {
      const videoBetween = frames.slice(seen[i - 1] + 1, seen[i]).some((f) => f.type === 9);
      if (videoBetween) assert.ok(keys.includes(seen[i]), `frame ${seen[i]} after a gap is a key frame`);
    }
    assert.ok(maxLostRate > 0, 'lostRate rose while the link lost');
    assert.ok(publication.videoQOS.latency >= 0);
  } finally {
    await pub.close();
    await proxy.stop();
    await srv.stop();
  }
});

test("a player behind a lossy link: its listener's lostRate counts what the server sent again or abandoned; latency is the player's ping", { timeout: 60_000 }, async () => {
  const srv = await startRtmfpTestServer();
  const proxy = new LossyProxy({ serverPort: srv.port, loss: 0.15, reorder: 0.05, seed: 3 });
  const pub = new RtmfpTestClient({ port: srv.port });
  const sub = new RtmfpTestClient({ port: await proxy.start(), retryMs: 150 });
  try {
    await pub.connect('rtmfp://127.0.0.1/live');
    await sub.connect('rtmfp://127.0.0.1/live');
    const id = await pub.publish('watched');
    await sub.play('watched?unbuffered=true');
    const publication = srv.ctx.publications.get('watched')!;
    const listener = [...publication.listeners][0];
    let maxLostRate = 0;
    for (const f of makeFrames(300, 10)) {
      pub.sendMedia(id, f.type, f.time, f.body);
      maxLostRate = Math.max(maxLostRate, listener.videoQOS.lostRate, listener.audioQOS.lostRate);
      await new Promise((r) => setTimeout(r, 8));
    }
    assert.ok(proxy.dropped > 10, `the link lost packets (${proxy.dropped})`);
    assert.ok(maxLostRate > 0, 'the listener saw losses');
    // the player's ping (a round trip of a few ms on loopback, 0 when below one) is the latency sample
    const ping = listener.client?.ping ?? 0;
    assert.ok(ping === 0 ? listener.videoQOS.latency >= 0 : listener.videoQOS.latency > 0, `latency ${listener.videoQOS.latency}, ping ${ping}`);
  } finally {
    await pub.close();
    await sub.close();
    await proxy.stop();
    await srv.stop();
  }
});
