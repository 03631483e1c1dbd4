/**
 * NetConnection behaviour written once for both transports, each test run over RTMP and RTMFP:
 * connect (properties, app path, the table onConnection returns, its hidden `timeout`), refusals
 * with MonaServer's descriptions, RPC results and failures, writer:writeMessage answering the call,
 * data without a method → onMessage, the quiet commands (answered, never logged), createStream's
 * limit, and the script writer (writeStatusResponse prefixed and graded the same way, newWriter,
 * closing the main writer ends the session).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CallFailed, ConnectionRejected } from '../../../src/core/errors';
import { FLASH_LIMITS } from '../../../src/protocols/flash/net-connection';
import { Table, type Value } from '../../../src/serialization/value';
import { TestHost } from '../../helpers/test-host';
import { PROTOCOLS, codes, peer, startFlash } from './helpers';

type Refusal = Error & { info?: Table };

for (const protocol of PROTOCOLS) {
  test(`${protocol}: connect: URL query and command object become properties, onConnection's table extends Connect.Success, timeout hidden`, async () => {
    let host!: TestHost;
    const s = await startFlash({ host: (ctx) => (host = new TestHost(ctx.wwwDir)) });
    const c = peer(protocol, s);
    try {
      let args: Value[] = [];
      host.connection = (client) => {
        args = [client.path, client.query, client.property('token'), client.property('n'), client.property('flashVer')];
        return Table.of({ greeting: 'hello', timeout: 60, level: 'overridden?' });
      };
      const info = await c.connect('live/s1?token=abc&n=5', ['extra', 7]);
      assert.deepEqual(
        [...info.fields.keys()],
        ['level', 'code', 'description', 'objectEncoding', 'greeting'],
        'fields in order; timeout is for the server; level cannot be replaced',
      );
      assert.deepEqual([info.get('level'), info.get('code'), info.get('description'), info.get('objectEncoding'), info.get('greeting')], [
        'status', 'NetConnection.Connect.Success', 'Connection succeeded', 0, 'hello',
      ]);
      assert.equal(args[0], '/live', 'the last segment is a stream name: the app is its parent');
      assert.deepEqual(args.slice(1, 4), ['token=abc&n=5', 'abc', 5]);
      assert.equal(typeof args[4], 'string');
      assert.deepEqual(host.events, [`connect ${protocol} /live?token=abc&n=5`]);
    } finally {
      await c.close();
      await s.stop();
    }
  });

  test(`${protocol}: connect refused: Connect.Rejected with the script's message, Connect.InvalidApp for a missing app`, async () => {
    let host!: TestHost;
    const s = await startFlash({ host: (ctx) => (host = new TestHost(ctx.wwwDir)) });
    const a = peer(protocol, s);
    const b = peer(protocol, s);
    try {
      host.connection = () => {
        throw new ConnectionRejected('go away');
      };
      const rejected = (await a.connect('live').catch((e: Refusal) => e)) as Refusal;
      assert.deepEqual([rejected.info?.get('level'), rejected.info?.get('code'), rejected.info?.get('description')], ['error', 'NetConnection.Connect.Rejected', 'go away']);
      await a.until(() => a.closed, 'the refused session to end');
      const invalid = (await b.connect('nope/deeper/still').catch((e: Refusal) => e)) as Refusal;
      assert.equal(invalid.info?.get('code'), 'NetConnection.Connect.InvalidApp');
      assert.equal(invalid.info?.get('description'), "Application /nope/deeper/still doesn't exist");
      assert.equal(s.ctx.clients.size, 0);
    } finally {
      await a.close();
      await b.close();
      await s.stop();
    }
  });

  test(`${protocol}: RPC: _result values, Call.Failed with the script's message, unknown methods, writeMessage, onMessage, quiet commands`, async () => {
    let host!: TestHost;
    const s = await startFlash({ host: (ctx) => (host = new TestHost(ctx.wwwDir)) });
    const c = peer(protocol, s);
    try {
      const messages: Value[][] = [];
      host.methods.sum = (_c, args) => [(args[0] as number) + (args[1] as number), 'summed'];
      host.methods.boom = () => {
        throw new CallFailed('main.lua:3: boom');
      };
      host.methods.viaWriter = (client) => {
        client.writer.writeMessage(['written']);
        return [];
      };
      host.message = (_c, args) => {
        messages.push(args);
        return [];
      };
      await c.connect('live');
      assert.deepEqual(await c.call('sum', 2, 40), [42, 'summed']);
      const failed = (await c.call('boom').catch((e: Refusal) => e)) as Refusal;
      assert.deepEqual([failed.info?.get('level'), failed.info?.get('code'), failed.info?.get('description')], ['error', 'NetConnection.Call.Failed', 'main.lua:3: boom']);
      const unknown = (await c.call('nothere').catch((e: Refusal) => e)) as Refusal;
      assert.equal(unknown.info?.get('description'), "Method 'nothere' not found");
      assert.deepEqual(await c.call('viaWriter'), ['written']);
      // what ffmpeg and OBS send around publish and play
      for (const q of ['releaseStream', 'FCPublish', 'FCUnpublish', 'FCSubscribe', 'FCUnsubscribe']) assert.deepEqual(await c.call(q, 'x'), [null], q);
      assert.deepEqual(await c.call('getStreamLength', 'x'), [0]);
      c.sendData(0, ['free', 1]);
      await c.until(() => messages.length === 1, 'onMessage');
      assert.deepEqual(messages[0], ['free', 1]);
      assert.deepEqual(s.logs, [], 'nothing logged at warn or error');
    } finally {
      await c.close();
      await s.stop();
    }
  });

  test(`${protocol}: writers: writeStatusResponse prefixed and graded, writeInvocation, newWriter, closing the main writer ends the session`, async () => {
    let host!: TestHost;
    const s = await startFlash({ host: (ctx) => (host = new TestHost(ctx.wwwDir)) });
    const c = peer(protocol, s);
    try {
      host.methods.write = (client) => {
        const w = client.writer;
        w.writeStatusResponse('Call.Custom.Failed', 'nope');
        w.writeStatusResponse('App.Welcome', 'hi');
        w.writeStatusResponse('NetStream.Play.Custom');
        w.writeInvocation('onServerCall', ['a', 1]);
        const second = w.newWriter();
        second.writeStatusResponse('Side.Note', 'from a second writer');
        second.writeInvocation('fromSecond', [true]);
        second.flush();
        second.close();
        return [];
      };
      host.methods.bye = (client) => {
        client.writer.close();
        return [];
      };
      await c.connect('live');
      await c.call('write');
      await c.until(() => c.invocations.some((i) => i.name === 'fromSecond') && c.statuses(0).length === 4, 'writes');
      // (RTMFP: each writer is its own flow, the order across them is not kept)
      assert.deepEqual(
        c.statuses(0).map((i) => [i.get('level'), i.get('code'), i.get('description')]).sort((x, y) => String(x[1]).localeCompare(String(y[1]))),
        [
          ['status', 'NetConnection.App.Welcome', 'hi'],
          ['error', 'NetConnection.Call.Custom.Failed', 'nope'],
          ['status', 'NetConnection.Side.Note', 'from a second writer'],
          ['status', 'NetStream.Play.Custom', ''],
        ],
      );
      assert.deepEqual(c.invocations.find((i) => i.name === 'onServerCall')?.args, ['a', 1]);
      assert.ok(!c.closed, 'closing a second writer keeps the session');
      void c.call('bye').catch(() => {});
      await c.until(() => c.closed, 'closing the main writer ends the session');
    } finally {
      await c.close();
      await s.stop();
    }
  });

  test(`${protocol}: createStream numbers streams from 1, reuses freed ids, refuses past the limit with Call.Failed`, async () => {
    const s = await startFlash();
    const c = peer(protocol, s);
    try {
      await c.connect('live');
      const ids: number[] = [];
      for (let i = 0; i < FLASH_LIMITS.maxStreams; i++) ids.push(await c.createStream());
      assert.deepEqual(ids, Array.from({ length: FLASH_LIMITS.maxStreams }, (_, i) => i + 1));
      const over = (await c.call('createStream').catch((e: Refusal) => e)) as Refusal;
      assert.equal(over.info?.get('code'), 'NetConnection.Call.Failed');
      c.send('deleteStream', 7);
      assert.equal(await c.createStream(), 7);
      // the session is still usable
      const id = ids[0];
      c.command(id, 'publish', 'still');
      await c.waitStatus(id, 'NetStream.Publish.Start');
      assert.deepEqual(codes(c.statuses(id)), ['NetStream.Publish.Start']);
    } finally {
      await c.close();
      await s.stop();
    }
  });
}
