/**
 * RTMFP ↔ WebSocket through the shared publications: an RTMFP publisher's audio and
 * video reach a WebSocket-FLV player (`ws://host/app/name.flv`) byte for byte, and a WebSocket
 * publisher's JSON data messages reach an RTMFP player as AMF0 data messages.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { decodeAMF0 } from '../../../src/serialization/amf0';
import { toJS } from '../../../src/serialization/value';
import { RtmfpTestClient, makeFrames, type Media } from '../../helpers/rtmfp-client';
import { startTestServer } from '../../helpers/server';

async function server() {
  const s = await startTestServer({ apps: { live: null }, off: ['RTMP'] });
  return { rtmfp: s.ports.rtmfp, http: s.ports.http, stop: () => s.stop() };
}

/** FLV bytes → tags (type, body) after the 9-byte header and each 4-byte previous-tag size. */
function flvTags(flv: Buffer): Array<{ type: number; body: Buffer }> {
  if (flv.length < 13) return [];
  assert.equal(flv.subarray(0, 3).toString(), 'FLV');
  const tags: Array<{ type: number; body: Buffer }> = [];
  let o = flv.readUInt32BE(5) + 4;
  while (o + 11 <= flv.length) {
    const size = flv.readUIntBE(o + 1, 3);
    if (o + 11 + size > flv.length) break;
    tags.push({ type: flv[o], body: flv.subarray(o + 11, o + 11 + size) });
    o += 11 + size + 4;
  }
  return tags;
}

test('RTMFP publish → WebSocket-FLV player: every audio/video frame arrives unchanged', async () => {
  const srv = await server();
  const pub = new RtmfpTestClient({ port: srv.rtmfp });
  const chunks: Buffer[] = [];
  const ws = new WebSocket(`ws://127.0.0.1:${srv.http}/live/wsflv.flv`);
  try {
    ws.on('message', (d: Buffer) => chunks.push(Buffer.from(d)));
    await new Promise<void>((resolve, reject) => (ws.once('open', () => resolve()), ws.once('error', reject)));
    await pub.connect(`rtmfp://127.0.0.1:${srv.rtmfp}/live`);
    const ps = await pub.publish('wsflv');
    const frames = makeFrames(60, 6);
    for (const f of frames) pub.sendMedia(ps, f.type, f.time, f.body);
    const until = Date.now() + 5000;
    const media = () => flvTags(Buffer.concat(chunks)).filter((t) => t.type === 8 || t.type === 9);
    while (media().length < frames.length && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(
      media().map((t) => t.body.readUInt32BE(2)),
      frames.map((_, i) => i),
    );
    media().forEach((t, i) => assert.ok(t.body.equals(frames[i].body)));
  } finally {
    ws.close();
    await pub.close();
    await srv.stop();
  }
});

test('WebSocket publisher JSON data → RTMFP player gets AMF0 data messages', async () => {
  const srv = await server();
  const sub = new RtmfpTestClient({ port: srv.rtmfp });
  const ws = new WebSocket(`ws://127.0.0.1:${srv.http}/live`);
  try {
    await new Promise<void>((resolve, reject) => (ws.once('open', () => resolve()), ws.once('error', reject)));
    await sub.connect(`rtmfp://127.0.0.1:${srv.rtmfp}/live`);
    const ss = await sub.play('wsdata');
    const notified = sub.waitStatus(ss, /PublishNotify/);
    ws.send(JSON.stringify(['__publish', 'wsdata']));
    await notified;
    const got: unknown[] = [];
    sub.on('media', (m: Media) => m.type === 0x12 && got.push(decodeAMF0(m.body).map(toJS)));
    for (let n = 1; n <= 3; n++) ws.send(JSON.stringify(['onCue', { n }]));
    const until = Date.now() + 5000;
    while (got.length < 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(got, [
      ['onCue', { n: 1 }],
      ['onCue', { n: 2 }],
      ['onCue', { n: 3 }],
    ]);
  } finally {
    ws.close();
    await sub.close();
    await srv.stop();
  }
});
