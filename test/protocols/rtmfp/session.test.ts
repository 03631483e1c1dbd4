/**
 * RTMFP end to end with our TS client on loopback: handshake with each Diffie-Hellman group the
 * server advertises, packets without timestamps, connect (args in, returned table out), RPC errors,
 * InvalidApp, publish → play with fragmented frames, mobility (onAddressChanged), session close.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FolderHost } from '../../../src/core/app-host';
import type { Client } from '../../../src/core/client';
import { Table, type Value } from '../../../src/serialization/value';
import { startRtmfpTestServer } from '../../helpers/rtmfp-server';
import { RtmfpTestClient, makeFrames, relay } from '../../helpers/rtmfp-client';

class RecordingHost extends FolderHost {
  connections: Array<{ path: string; args: Value[] }> = [];
  moves: Array<{ from: string; to: string }> = [];
  disconnections = 0;
  override onConnection(client: Client, args: Value[] = []): Table | null {
    super.onConnection(client);
    this.connections.push({ path: client.path, args });
    return Table.of({ greeting: 'hello', answer: 42 });
  }
  override onAddressChanged(client?: Client, old = ''): void {
    this.moves.push({ from: old, to: client?.address ?? '' });
  }
  override onDisconnection(): void {
    this.disconnections++;
  }
  override call(client: Client, method: string, args: Value[] = []): Value[] {
    if (method === 'sum') return [(args[0] as number) + (args[1] as number)];
    return super.call(client, method);
  }
}

for (const groups of [[2], [5], [14], [14, 5, 2]]) {
  test(`handshake with DH groups ${groups.join(',')} (client preference), connect, call`, async () => {
    const srv = await startRtmfpTestServer();
    const c = new RtmfpTestClient({ port: srv.port, groups });
    try {
      const info = await c.connect(`rtmfp://127.0.0.1:${srv.port}/live`);
      assert.equal(c.group, groups[0]);
      assert.equal(info.get('code'), 'NetConnection.Connect.Success');
      await assert.rejects(c.call('nothing'), /Method 'nothing' not found/);
      assert.equal(srv.ctx.clients.size, 1);
      const client = [...srv.ctx.clients][0];
      assert.equal(client.protocol, 'RTMFP');
      assert.equal(client.path, '/live');
      assert.equal(client.rawId.length, 32);
    } finally {
      await c.close();
      await srv.stop();
    }
  });
}

test('session packets without timestamps (flags say absent) are accepted', async () => {
  const srv = await startRtmfpTestServer();
  const c = new RtmfpTestClient({ port: srv.port, timestamps: false });
  try {
    const info = await c.connect(`rtmfp://127.0.0.1:${srv.port}/live`);
    assert.equal(info.get('code'), 'NetConnection.Connect.Success');
  } finally {
    await c.close();
    await srv.stop();
  }
});

test('onConnection gets the connect args, its returned table fills Connect.Success; RPC result', async () => {
  let host!: RecordingHost;
  const srv = await startRtmfpTestServer({ host: (ctx) => (host = new RecordingHost(ctx.wwwDir)) });
  const c = new RtmfpTestClient({ port: srv.port });
  try {
    const info = await c.connect(`rtmfp://127.0.0.1:${srv.port}/live?x=1`, ['arg1', 7]);
    assert.equal(info.get('greeting'), 'hello');
    assert.equal(info.get('answer'), 42);
    assert.deepEqual(host.connections, [{ path: '/live', args: ['arg1', 7] }]);
    const client = [...srv.ctx.clients][0];
    assert.equal(client.properties.get('x'), 1);
    assert.deepEqual(await c.call('sum', 2, 3), [5]);
    // mobility: the same session from another port → onAddressChanged
    await c.moveSocket();
    assert.deepEqual(await c.call('sum', 1, 1), [2]);
    assert.equal(host.moves.length, 1);
    assert.notEqual(host.moves[0].from, host.moves[0].to);
    assert.equal(client.address, host.moves[0].to);
    await c.close();
    for (let i = 0; i < 50 && host.disconnections === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(host.disconnections, 1);
    assert.equal(srv.ctx.clients.size, 0);
  } finally {
    await c.close().catch(() => {});
    await srv.stop();
  }
});

test('unknown application: NetConnection.Connect.InvalidApp', async () => {
  const srv = await startRtmfpTestServer();
  const c = new RtmfpTestClient({ port: srv.port });
  try {
    await assert.rejects(c.connect(`rtmfp://127.0.0.1:${srv.port}/nope/deeper/still`), (e: Error & { info?: Value }) => {
      assert.ok(e.info instanceof Table);
      assert.equal((e.info as Table).get('code'), 'NetConnection.Connect.InvalidApp');
      return true;
    });
  } finally {
    await c.close();
    await srv.stop();
  }
});

test('publish → play between two RTMFP clients: fragmented frames arrive whole and in order', async () => {
  const srv = await startRtmfpTestServer();
  const pub = new RtmfpTestClient({ port: srv.port });
  const sub = new RtmfpTestClient({ port: srv.port });
  try {
    await pub.connect(`rtmfp://127.0.0.1:${srv.port}/live`);
    await sub.connect(`rtmfp://127.0.0.1:${srv.port}/live`);
    const ps = await pub.publish('cam');
    const ss = await sub.play('cam');
    const frames = makeFrames(150);
    const got = await relay(pub, ps, sub, frames);
    assert.deepEqual(
      got.map((m) => m.body.readUInt32BE(2)),
      frames.map((_, i) => i),
    );
    for (let i = 0; i < frames.length; i++) assert.ok(got[i].body.equals(frames[i].body), `frame ${i} intact`);
    // second publisher of the same name → BadName
    const p2 = await sub.createStream();
    const bad = await sub.streamCommand(p2, 'publish', ['cam'], /Publish\.(BadName|Start)/);
    assert.equal(bad?.code, 'NetStream.Publish.BadName');
    // publisher leaves → player told
    const unpub = sub.waitStatus(ss, /UnpublishNotify/);
    await pub.streamCommand(ps, 'closeStream', [], null);
    await unpub;
  } finally {
    await pub.close();
    await sub.close();
    await srv.stop();
  }
});

test('connection URL → app like RTMP (rule: connectionAppPath, test/core/app-host.test.ts): /live/s1 → /live, /nope → InvalidApp', async () => {
  const srv = await startRtmfpTestServer();
  const c = new RtmfpTestClient({ port: srv.port });
  const ok = new RtmfpTestClient({ port: srv.port });
  try {
    await assert.rejects(c.connect(`rtmfp://127.0.0.1:${srv.port}/nope`), /doesn't exist/);
    await ok.connect(`rtmfp://127.0.0.1:${srv.port}/live/s1`);
  } finally {
    await c.close();
    await ok.close();
    await srv.stop();
  }
});

test('publish(false) unpublishes: Unpublish.Success to the publisher, UnpublishNotify to players', async () => {
  const srv = await startRtmfpTestServer();
  const pub = new RtmfpTestClient({ port: srv.port });
  const sub = new RtmfpTestClient({ port: srv.port });
  try {
    await pub.connect(`rtmfp://127.0.0.1:${srv.port}/live`);
    await sub.connect(`rtmfp://127.0.0.1:${srv.port}/live`);
    const ps = await pub.publish('p');
    const ss = await sub.play('p');
    const notify = sub.waitStatus(ss, /UnpublishNotify/);
    const done = await pub.streamCommand(ps, 'publish', [false], /Unpublish\.Success/);
    assert.equal(done?.code, 'NetStream.Unpublish.Success');
    await notify;
    assert.equal(srv.ctx.publications.get('p')?.running ?? false, false);
  } finally {
    await pub.close();
    await sub.close();
    await srv.stop();
  }
});
