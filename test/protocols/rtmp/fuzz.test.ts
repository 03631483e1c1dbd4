/**
 * A fuzzed chunk stream never crashes the server (the team's rule on decoders): random bytes
 * and mutated copies of a valid session (handshake, connect, createStream, publish, metadata,
 * media, play, calls) are thrown at a running server while a healthy publisher and player keep
 * streaming; they must keep working and every hostile session must end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { RTMPClient, clientHello } from '../../../src/protocols/rtmp/client';
import { encodeMessage, u32 } from '../../../src/protocols/rtmp/chunk-writer';
import { encodeCommand } from '../../../src/protocols/flash/messages';
import { encodeAMF0 } from '../../../src/serialization/amf0';
import { MessageType } from '../../../src/protocols/rtmp/constants';
import { Table } from '../../../src/serialization/value';
import { mutate, prng, randomBuffer } from '../../helpers/prng';
import { sleep, startRTMP, waitFor } from './helpers';

function validSession(rand: () => number): Buffer {
  const parts: Buffer[] = [clientHello(rand() < 0.5), randomBuffer(rand, 1536)];
  const cmd = (csid: number, stream: number, name: string, txn: number, obj: Table | null, args: (string | number | boolean | Table | null)[]) => {
    const { type, payload } = encodeCommand(false, name, txn, obj, args);
    parts.push(...encodeMessage(csid, type, stream, 0, payload, 128));
  };
  cmd(3, 0, 'connect', 1, Table.of({ app: 'live', tcUrl: 'rtmp://127.0.0.1/live', objectEncoding: rand() < 0.5 ? 0 : 3 }), []);
  parts.push(...encodeMessage(2, MessageType.SetChunkSize, 0, 0, u32(256), 128));
  cmd(3, 0, 'createStream', 2, null, []);
  cmd(3, 0, 'hello', 3, null, [1, 'two', Table.of({ x: 1 })]);
  cmd(8, 1, 'publish', 0, null, [`fz${(rand() * 5) | 0}`, 'live']);
  parts.push(...encodeMessage(4, MessageType.DataAMF0, 1, 0, encodeAMF0('@setDataFrame', 'onMetaData', Table.of({ width: 320 })), 256));
  parts.push(...encodeMessage(6, MessageType.Video, 1, 0, Buffer.from([0x17, 0, 0, 0, 0, 1, 2, 3]), 256));
  parts.push(...encodeMessage(6, MessageType.Video, 1, 40, Buffer.concat([Buffer.from([0x17, 1, 0, 0, 0]), randomBuffer(rand, 700)]), 256));
  parts.push(...encodeMessage(4, MessageType.Audio, 1, 0xffffff + 10, Buffer.from([0xaf, 1, 9]), 256));
  parts.push(...encodeMessage(7, MessageType.Aggregate, 1, 50, Buffer.concat([Buffer.from([8, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0xaf, 1, 2]), u32(14)]), 256));
  cmd(3, 0, 'createStream', 4, null, []);
  cmd(8, 2, 'play', 0, null, [`fz${(rand() * 5) | 0}?a=1`]);
  cmd(8, 2, 'receiveVideo', 0, null, [false]);
  cmd(8, 2, 'pause', 0, null, [true, 0]);
  parts.push(...encodeMessage(2, MessageType.UserControl, 0, 0, Buffer.from([0, 6, 0, 0, 0, 1]), 256));
  parts.push(...encodeMessage(2, MessageType.Abort, 0, 0, u32(6), 256));
  cmd(3, 0, 'deleteStream', 0, null, [1]);
  return Buffer.concat(parts);
}

function throwAt(port: number, bytes: Buffer, rand: () => number): Promise<void> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.on('error', () => {});
    sock.on('data', () => {});
    sock.on('connect', async () => {
      for (let i = 0; i < bytes.length; ) {
        const n = 1 + ((rand() * 3000) | 0);
        sock.write(bytes.subarray(i, i + n));
        i += n;
        if (rand() < 0.2) await sleep(1);
      }
      setTimeout(() => sock.destroy(), 30 + rand() * 100);
    });
    sock.on('close', () => resolve());
  });
}

test('fuzzed sessions never crash the server nor disturb other clients', async () => {
  const s = await startRTMP();
  const pub = new RTMPClient({ port: s.port });
  const play = new RTMPClient({ port: s.port });
  const errors: unknown[] = [];
  const onError = (e: unknown) => errors.push(e);
  process.on('uncaughtException', onError);
  try {
    await pub.connect('live');
    const pid = await pub.createStream();
    pub.command('publish', ['healthy'], pid);
    await pub.status(pid, 'NetStream.Publish.Start');
    await play.connect('live');
    const vid = await play.createStream();
    play.command('play', ['healthy'], vid);
    await play.status(vid, 'NetStream.Play.Start');
    pub.sendVideo(pid, 0, Buffer.from([0x17, 0, 0, 0, 0, 1]));
    let t = 0;
    const feeder = setInterval(() => pub.sendVideo(pid, (t += 40), Buffer.from([0x17, 1, 0, 0, 0, t & 0xff])), 20);

    const rand = prng(0x5eed);
    const base = validSession(rand);
    for (let round = 0; round < 12; round++) {
      const batch: Promise<void>[] = [];
      for (let k = 0; k < 15; k++) {
        const kind = rand();
        const bytes =
          kind < 0.15 ? randomBuffer(rand, (rand() * 6000) | 0)
          : kind < 0.25 ? Buffer.concat([clientHello(true), randomBuffer(rand, 1536 + ((rand() * 4000) | 0))])
          : kind < 0.35 ? mutate(rand, validSession(rand))
          : mutate(rand, base, 3073); // handshake intact, chunk stream mutated
        batch.push(throwAt(s.port, bytes, rand));
      }
      await Promise.all(batch);
    }
    clearInterval(feeder);
    const before = play.media(vid).length;
    pub.sendVideo(pid, (t += 40), Buffer.from([0x17, 1, 0, 0, 0, 0xee]));
    await play.until(() => play.media(vid).length > before, 5000, 'the healthy player still receiving');
    assert.ok(!pub.closed && !play.closed);
    const r = await play.call('createStream');
    assert.equal(r.name, '_result', 'the healthy session still answers');
    await waitFor(() => s.server.sessions.size === 2, 10_000, 'every fuzzed session to end');
    assert.deepEqual(errors, []);
    // the registry holds nothing but the healthy stream once the hostile publishers are gone
    await waitFor(() => [...s.context.publications].every((p) => p.name === 'healthy' || (!p.running && p.listeners.size === 0)), 5000);
  } finally {
    process.off('uncaughtException', onError);
    await pub.close();
    await play.close();
    await s.stop();
  }
});
