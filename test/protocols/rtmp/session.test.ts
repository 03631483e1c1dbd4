/**
 * RTMP sessions through our own client: connect properties and the
 * returned table, AMF3 clients, rejections, RPC results and failures, every NetStream status
 * code, receiveAudio/receiveVideo/pause, writers, ping, script-made publications, players that
 * stall or vanish.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { CallFailed, ConnectionRejected, InvalidApp, StreamRefused } from '../../../src/core/errors';
import { LISTENER_LIMITS } from '../../../src/core/listener';
import { RTMPClient } from '../../../src/protocols/rtmp/client';
import { MessageType, RTMP_DEFAULTS } from '../../../src/protocols/rtmp/constants';
import { decodeCommand } from '../../../src/protocols/flash/messages';
import { Table, type Value } from '../../../src/serialization/value';
import { TestHost } from '../../helpers/test-host';
import { sleep, startRTMP, tempAppDir, waitFor, type RTMPTestServer } from './helpers';

async function withServer(fn: (s: RTMPTestServer, host: TestHost) => Promise<void>, overrides?: Record<string, string>): Promise<void> {
  let host!: TestHost;
  const s = await startRTMP({ dir: tempAppDir({ live: null, 'live/sub': null }), host: (ctx) => (host = new TestHost(ctx.wwwDir)), overrides });
  try {
    await fn(s, host);
  } finally {
    await s.stop();
  }
}

const AVC_CONFIG = Buffer.from([0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f]);
const AAC_CONFIG = Buffer.from([0xaf, 0, 0x12, 0x10]);
const key = (n: number) => Buffer.from([0x17, 1, 0, 0, 0, n]);
const inter = (n: number) => Buffer.from([0x27, 1, 0, 0, 0, n]);
const aac = (n: number) => Buffer.from([0xaf, 1, n]);

async function publisher(port: number, name: string, app = 'live'): Promise<{ c: RTMPClient; id: number }> {
  const c = new RTMPClient({ port });
  await c.connect(app);
  const id = await c.createStream();
  c.command('publish', [name, 'live'], id);
  await c.status(id, 'NetStream.Publish.Start');
  return { c, id };
}

async function player(port: number, name: string, app = 'live'): Promise<{ c: RTMPClient; id: number }> {
  const c = new RTMPClient({ port });
  await c.connect(app);
  const id = await c.createStream();
  c.command('play', [name], id);
  await c.status(id, 'NetStream.Play.Start');
  return { c, id };
}

test('connect: command object and URL query become properties, the returned table extends Connect.Success', async () => {
  await withServer(async (s, host) => {
    host.connection = (_client, args) => {
      assert.deepEqual(args, ['extra', 7]);
      return Table.of({ greeting: 'hello', timeout: 60 });
    };
    const c = new RTMPClient({ port: s.port });
    try {
      const r = await c.connect('live?token=abc&n=5', { swfUrl: 'http://x/y.swf', pageUrl: 'http://x/', objectEncoding: 0 }, ['extra', 7]);
      assert.equal(r.name, '_result');
      const info = r.args[1] as Table;
      assert.equal(info.get('code'), 'NetConnection.Connect.Success');
      assert.equal(info.get('level'), 'status');
      assert.equal(info.get('objectEncoding'), 0);
      assert.equal(info.get('greeting'), 'hello');
      assert.equal(info.get('timeout'), null, 'timeout is for the server, not the client');
      const client = host.connected[0];
      assert.equal(client.path, '/live');
      assert.equal(client.protocol, 'RTMP');
      assert.equal(client.query, 'token=abc&n=5');
      assert.equal(client.property('token'), 'abc');
      assert.equal(client.property('n'), 5);
      assert.equal(client.property('swfUrl'), 'http://x/y.swf');
      assert.equal(client.property('flashVer'), 'LNX 9,0,124,2');
      // protocol settings came before the result
      const types = c.messages.map((m) => m.type);
      assert.ok(types.includes(MessageType.WindowAckSize) && types.includes(MessageType.SetPeerBandwidth) && types.includes(MessageType.SetChunkSize));
      const wack = c.messages.find((m) => m.type === MessageType.WindowAckSize)!;
      assert.equal(wack.payload.readUInt32BE(0), 2_500_000);
    } finally {
      await c.close();
    }
    await waitFor(() => host.disconnected.length === 1, 5000, 'onDisconnection');
  });
});

test('AMF3 clients (objectEncoding 3) get AMF3 answers and can call methods', async () => {
  await withServer(async (s, host) => {
    host.methods.sum = (_c, args) => [(args[0] as number) + (args[1] as number), Table.of({ ok: true })];
    const c = new RTMPClient({ port: s.port });
    try {
      const r = await c.connect('live', { objectEncoding: 3 });
      assert.equal(r.name, '_result');
      const answer = c.messages.find((m) => m.type === MessageType.CommandAMF3);
      assert.ok(answer, 'the answer is an AMF3 command message');
      assert.equal((r.args[1] as Table).get('objectEncoding'), 3);
      const sum = await c.call('sum', [2, 40]);
      assert.equal(sum.name, '_result');
      assert.equal(sum.args[1], 42);
      assert.equal((sum.args[2] as Table).get('ok'), true);
    } finally {
      await c.close();
    }
  });
});

test('rejections: onConnection error → Connect.Rejected with its message, unknown app → InvalidApp', async () => {
  await withServer(async (s, host) => {
    host.connection = () => {
      throw new ConnectionRejected('go away');
    };
    const c = new RTMPClient({ port: s.port });
    const r = await c.connect('live');
    assert.equal(r.name, '_error');
    const info = r.args[1] as Table;
    assert.equal(info.get('code'), 'NetConnection.Connect.Rejected');
    assert.equal(info.get('description'), 'go away');
    assert.equal(info.get('level'), 'error');
    await c.until(() => c.closed, 5000, 'server closing the connection');
    assert.equal(s.context.clients.size, 0);

    host.connection = () => null;
    const d = new RTMPClient({ port: s.port });
    const r2 = await d.connect('nope');
    assert.equal(r2.name, '_error');
    assert.equal((r2.args[1] as Table).get('code'), 'NetConnection.Connect.InvalidApp');
    assert.equal((r2.args[1] as Table).get('description'), "Application /nope doesn't exist");
    await d.close();
  });
});

test('RPC: results, Call.Failed for errors and unknown methods, writeMessage answers the call, onMessage', async () => {
  await withServer(async (s, host) => {
    host.methods.hello = (_c, args) => [`hi ${args[0]}`];
    host.methods.boom = () => {
      throw new CallFailed('main.lua:3: boom');
    };
    host.methods.viaWriter = (client) => {
      client.writer.writeMessage(['written']);
      return [];
    };
    const c = new RTMPClient({ port: s.port });
    try {
      await c.connect('live');
      const a = await c.call('hello', ['bob']);
      assert.deepEqual([a.name, a.args[1]], ['_result', 'hi bob']);
      const b = await c.call('boom');
      assert.equal(b.name, '_error');
      assert.equal((b.args[1] as Table).get('code'), 'NetConnection.Call.Failed');
      assert.equal((b.args[1] as Table).get('description'), 'main.lua:3: boom');
      const u = await c.call('nothere');
      assert.equal((u.args[1] as Table).get('description'), "Method 'nothere' not found");
      const w = await c.call('viaWriter');
      assert.deepEqual([w.name, w.args[1]], ['_result', 'written']);
      // quiet commands ffmpeg and OBS send
      for (const q of ['releaseStream', 'FCPublish', 'FCUnpublish', 'getStreamLength', 'FCSubscribe']) {
        const r = await c.call(q, ['x']);
        assert.equal(r.name, '_result', q);
      }
      c.sendData(0, ['free', 1]);
      await waitFor(() => host.messages.length === 1);
      assert.deepEqual(host.messages[0], ['free', 1]);
    } finally {
      await c.close();
    }
  });
});

test('writers: writeInvocation, writeStatusResponse, newWriter, close', async () => {
  await withServer(async (s, host) => {
    const c = new RTMPClient({ port: s.port });
    try {
      await c.connect('live');
      const client = host.connected[0];
      client.writer.writeInvocation('onServerCall', ['a', 1]);
      client.writer.writeStatusResponse('App.Custom.Failed', 'nope');
      const w2 = client.writer.newWriter();
      w2.writeInvocation('fromSecond', [true]);
      w2.flush();
      await c.until(() => c.invocations.find((i) => i.name === 'fromSecond'));
      assert.deepEqual(c.invocations.find((i) => i.name === 'onServerCall')?.args, ['a', 1]);
      // a script writes the code without its object: the NetConnection's writer prefixes it
      const st = c.statuses.find((x) => x.code === 'NetConnection.App.Custom.Failed')!;
      assert.equal(st.info.get('level'), 'error');
      assert.equal(st.info.get('description'), 'nope');
      w2.close();
      assert.ok(!c.closed, 'closing a secondary writer keeps the session');
      client.writer.close();
      await c.until(() => c.closed, 5000, 'main writer close ends the session');
    } finally {
      await c.close();
    }
  });
});

test('NetStream statuses: Publish.Start, BadName, Failed; Play.Failed; PublishNotify/UnpublishNotify; Unpublish.Success', async () => {
  await withServer(async (s, host) => {
    host.publishCheck = (_c, pub) => {
      if (pub.name === 'forbidden') throw new StreamRefused('Publish.Failed', 'not you');
    };
    host.subscribeCheck = (_c, l) => {
      if (l.publication.name === 'secret') throw new Error('no access');
    };
    const v = await player(s.port, 'later?quality=hd&x=1');
    const p = await publisher(s.port, 'later');
    try {
      await v.c.status(v.id, 'NetStream.Play.PublishNotify');
      const listener = [...s.context.publications.get('later')!.listeners][0];
      assert.equal(listener.parameters.get('quality'), 'hd');
      assert.equal(listener.parameters.get('x'), 1);

      const dup = new RTMPClient({ port: s.port });
      await dup.connect('live');
      const id2 = await dup.createStream();
      dup.command('publish', ['later'], id2);
      const bad = await dup.status(id2, 'NetStream.Publish.BadName');
      assert.equal(bad.get('level'), 'error');
      dup.command('publish', ['forbidden'], id2);
      assert.equal((await dup.status(id2, 'NetStream.Publish.Failed')).get('description'), 'not you');
      dup.command('play', ['secret'], id2);
      assert.equal((await dup.status(id2, 'NetStream.Play.Failed')).get('description'), 'no access');
      await dup.close();

      p.c.command('closeStream', [], p.id);
      await p.c.status(p.id, 'NetStream.Unpublish.Success');
      await v.c.status(v.id, 'NetStream.Play.UnpublishNotify');
      const order = v.c.statuses.filter((x) => x.streamId === v.id).map((x) => x.code);
      assert.deepEqual(order, ['NetStream.Play.Reset', 'NetStream.Play.Start', 'NetStream.Play.PublishNotify', 'NetStream.Play.UnpublishNotify']);
      assert.deepEqual(host.events.filter((e) => e.endsWith('later')), ['subscribe later', 'publish later', 'unpublish later']);
    } finally {
      await p.c.close();
      await v.c.close();
    }
    await waitFor(() => s.context.publications.size === 0, 5000, 'publications cleaned up');
  });
});

test('receiveAudio/receiveVideo/pause; metadata and configs replayed; per-listener timestamps from 0', async () => {
  await withServer(async (s) => {
    const p = await publisher(s.port, 'av');
    p.c.sendData(p.id, ['@setDataFrame', 'onMetaData', Table.of({ width: 640, height: 360 })]);
    p.c.sendVideo(p.id, 5000, AVC_CONFIG);
    p.c.sendAudio(p.id, 5000, AAC_CONFIG);
    p.c.sendVideo(p.id, 5000, key(1));
    p.c.sendAudio(p.id, 5010, aac(1));
    await waitFor(() => (s.context.publications.get('av')?.lastTime ?? 0) >= 5010);
    const v = await player(s.port, 'av');
    try {
      await v.c.until(() => v.c.media(v.id).length >= 4, 5000, 'replayed metadata and configs');
      const first = v.c.media(v.id).filter((m) => !(m.type === MessageType.DataAMF0 && v.c.dataValues(m)[0] === '|RtmpSampleAccess'));
      assert.deepEqual(v.c.dataValues(first[0]), ['onMetaData', Table.of({ width: 640, height: 360 })].map((x) => x) as Value[]);
      v.c.command('receiveAudio', [false], v.id);
      await sleep(100);
      const before = v.c.media(v.id).length;
      p.c.sendAudio(p.id, 5020, aac(2));
      p.c.sendVideo(p.id, 5040, inter(2)); // no key frame yet for this listener: held back
      p.c.sendVideo(p.id, 5080, key(3));
      await v.c.until(() => v.c.media(v.id).some((m) => m.type === MessageType.Video && m.payload[5] === 3));
      const after = v.c.media(v.id).slice(before);
      assert.ok(!after.some((m) => m.type === MessageType.Audio), 'no audio after receiveAudio(false)');
      assert.ok(!after.some((m) => m.type === MessageType.Video && m.payload[5] === 2), 'non-key frame before the first key frame skipped');
      const k = after.find((m) => m.payload[5] === 3)!;
      assert.equal(k.timestamp, 0, 'listener time starts at its first delivered frame');

      v.c.command('pause', [true, 0], v.id);
      await v.c.status(v.id, 'NetStream.Pause.Notify');
      const n = v.c.media(v.id).length;
      p.c.sendVideo(p.id, 5120, key(4));
      await sleep(150);
      assert.equal(v.c.media(v.id).length, n, 'paused: nothing delivered');
      v.c.command('pause', [false, 0], v.id);
      await v.c.status(v.id, 'NetStream.Unpause.Notify');
      p.c.sendVideo(p.id, 5160, inter(5));
      p.c.sendVideo(p.id, 5200, key(6));
      await v.c.until(() => v.c.media(v.id).some((m) => m.payload[5] === 6));
      const resumed = v.c.media(v.id).slice(n);
      assert.equal(resumed[0].payload[5], 6, 'resumes on a key frame');
      const times = v.c.media(v.id).filter((m) => m.type === MessageType.Video).map((m) => m.timestamp);
      assert.deepEqual(times, [...times].sort((a, b) => a - b));
    } finally {
      await p.c.close();
      await v.c.close();
    }
  });
});

test('a script publication (mona:publish) is played by RTMP clients', async () => {
  await withServer(async (s) => {
    const pub = s.context.publications.publish(null, 'scripted');
    const v = await player(s.port, 'scripted');
    try {
      pub.pushVideo(100, AVC_CONFIG);
      pub.pushVideo(100, key(1));
      pub.pushAudio(120, aac(1));
      pub.flush();
      await v.c.until(() => v.c.media(v.id).filter((m) => m.type !== MessageType.DataAMF0).length >= 3);
      const m = v.c.media(v.id).filter((x) => x.type !== MessageType.DataAMF0);
      assert.deepEqual(m.map((x) => [x.type, x.timestamp]), [[9, 0], [9, 0], [8, 20]]);
      s.context.publications.unpublish(pub);
      await v.c.status(v.id, 'NetStream.Play.UnpublishNotify');
    } finally {
      await v.c.close();
    }
  });
});

test('ping requests are answered and measured into client.ping', async () => {
  const saved = RTMP_DEFAULTS.pingIntervalMs;
  RTMP_DEFAULTS.pingIntervalMs = 100;
  try {
    await withServer(async (s, host) => {
      const c = new RTMPClient({ port: s.port });
      try {
        await c.connect('live');
        await c.until(() => c.messages.some((m) => m.type === MessageType.UserControl && m.payload.readUInt16BE(0) === 6), 3000, 'a ping request');
        await sleep(100);
        assert.ok(host.connected[0].ping >= 0);
        assert.ok(host.connected[0].lastReceptionTime > 0);
      } finally {
        await c.close();
      }
    });
  } finally {
    RTMP_DEFAULTS.pingIntervalMs = saved;
  }
});

test('a stalled player is bounded then dropped; a vanished player and a healthy one are unaffected', async () => {
  await withServer(async (s) => {
    const p = await publisher(s.port, 'flood');
    const healthy = await player(s.port, 'flood');
    const stalled = await player(s.port, 'flood');
    const vanishing = await player(s.port, 'flood');
    stalled.c.socket.pause(); // reads nothing from now on: the server's queue is all that can grow
    const stalledSession = [...s.server.sessions].find((x) => x.address.endsWith(`:${stalled.c.socket.localPort}`))!;
    assert.ok(stalledSession);
    let maxQueued = 0;
    const frame = Buffer.alloc(64 * 1024, 7);
    try {
      p.c.sendVideo(p.id, 0, AVC_CONFIG);
      let t = 0;
      let received = 0;
      healthy.c.onMessage = (m) => {
        if (m.type === MessageType.Video) received++;
      };
      for (let i = 0; i < 400; i++) {
        frame[0] = i % 25 === 0 ? 0x17 : 0x27;
        p.c.sendVideo(p.id, (t += 40), frame);
        if (i === 50) await vanishing.c.close(); // disconnects mid-stream
        if (i % 10 === 0) await sleep(5);
        if (!stalledSession.isClosing) maxQueued = Math.max(maxQueued, stalledSession.queuedBytes());
      }
      await waitFor(() => stalledSession.isClosing, 20_000, 'the stalled player to be dropped');
      assert.ok(maxQueued <= LISTENER_LIMITS.closeBytes + 2 * frame.length, `queue peaked at ${maxQueued}`);
      await healthy.c.until(() => received >= 390, 20_000, 'the healthy player to get the frames');
      assert.ok(!healthy.c.closed);
    } finally {
      await p.c.close();
      await healthy.c.close();
      await stalled.c.close();
    }
  }, { 'TCP.stallTimeout': '1' });
});

test('commands before connect or garbage after it close that session only', async () => {
  await withServer(async (s) => {
    const good = await player(s.port, 'g');
    const bad = new RTMPClient({ port: s.port });
    try {
      await bad.handshake();
      bad.command('play', ['x'], 0); // before connect
      await bad.until(() => bad.closed, 5000, 'close');
      const bad2 = new RTMPClient({ port: s.port });
      await bad2.connect('live');
      bad2.socket.write(Buffer.from([0x49, 0xff, 0xff, 0xff, 0x00, 0x00, 0x10, 0x14, 1, 2, 3])); // type-1 header opening unknown csid 9
      await bad2.until(() => bad2.closed, 5000, 'close');
      assert.ok(!good.c.closed);
      const r = await good.c.call('createStream');
      assert.equal(r.name, '_result');
      assert.equal(decodeCommand(MessageType.CommandAMF0, Buffer.from([2, 0, 1, 0x61])).name, 'a');
    } finally {
      await good.c.close();
      await bad.close();
    }
  });
});

test('a timeout returned by onConnection (seconds) closes a silent session', async () => {
  await withServer(async (s, host) => {
    host.connection = () => Table.of({ timeout: 1 });
    const c = new RTMPClient({ port: s.port });
    try {
      const started = Date.now();
      assert.equal((await c.connect('live')).name, '_result');
      await c.until(() => c.closed, 10_000, 'the idle session to be closed');
      assert.ok(Date.now() - started >= 900, 'not before its timeout');
      await waitFor(() => host.disconnected.length === 1, 5000, 'onDisconnection');
    } finally {
      await c.close();
    }
  });
});
