/**
 * WebSocket with the `ws` npm package as the peer: JSON-array RPC, raw messages, pushes,
 * ping/pong, fragmentation, close codes and size limits, data streams, and fuzzed frames.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import WebSocket from 'ws';
import { CallFailed, ConnectionRejected } from '../../../src/core/errors';
import { FrameDecoder, Opcode, WSProtocolError, encodeMaskedFrame } from '../../../src/protocols/websocket/frames';
import { WS_PING } from '../../../src/protocols/websocket/session';
import { Table, type Value } from '../../../src/serialization/value';
import { rawExchange, startHTTP, tempWWW, type HTTPTestServer } from '../../helpers/http-server';
import { prng, randomBuffer } from '../../helpers/prng';
import { TestHost } from '../../helpers/test-host';

async function server(t: TestContext, setup: (h: TestHost) => void = () => {}, overrides: Record<string, string> = {}): Promise<{ s: HTTPTestServer; host: TestHost }> {
  let host!: TestHost;
  const s = await startHTTP({
    dir: tempWWW({ 'app/x.txt': 'x' }),
    host: (ctx) => {
      host = new TestHost(ctx.wwwDir);
      host.methods.hello = (_c, args) => [`Hello ${String(args[0])}`];
      host.methods.many = () => [1, 'two', Table.of({ three: 3 })];
      host.methods.fail = () => {
        throw new CallFailed('main.lua:1: oops');
      };
      setup(host);
      return host;
    },
    overrides,
  });
  t.after(() => s.stop());
  return { s, host };
}

/** A ws client with a queue of received messages. */
async function connect(t: TestContext, port: number, p = '/app'): Promise<{ ws: WebSocket; next(): Promise<WebSocket.RawData>; nextJSON(): Promise<unknown> }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${p}`);
  t.after(() => ws.terminate());
  const queue: WebSocket.RawData[] = [];
  const waiting: Array<(d: WebSocket.RawData) => void> = [];
  ws.on('message', (d) => {
    const w = waiting.shift();
    if (w) w(d);
    else queue.push(d);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const next = () =>
    new Promise<WebSocket.RawData>((resolve, reject) => {
      const q = queue.shift();
      if (q) return resolve(q);
      const timer = setTimeout(() => reject(new Error('no message')), 5000);
      waiting.push((d) => {
        clearTimeout(timer);
        resolve(d);
      });
    });
  return { ws, next, nextJSON: async () => JSON.parse((await next()).toString()) };
}

test('RPC: a JSON array naming a method gets one JSON array of all results; errors are __error frames', async (t) => {
  const { s } = await server(t);
  const c = await connect(t, s.port);
  c.ws.send(JSON.stringify(['hello', 'World']));
  assert.deepEqual(await c.nextJSON(), ['Hello World']);
  c.ws.send('["many"]');
  assert.deepEqual(await c.nextJSON(), [1, 'two', { three: 3 }]);
  c.ws.send('["nomethod", 1]');
  assert.deepEqual(await c.nextJSON(), ['__error', "Method 'nomethod' not found"]);
  c.ws.send('["fail"]');
  assert.deepEqual(await c.nextJSON(), ['__error', 'main.lua:1: oops']);
  // the socket stays open after errors
  c.ws.send('["hello", 2]');
  assert.deepEqual(await c.nextJSON(), ['Hello 2']);
});

test('onMessage gets arrays without a method name, non-JSON text and binary frames raw; pushes arrive', async (t) => {
  const got: Value[][] = [];
  const { s } = await server(t, (h) => {
    h.message = (client, args) => {
      got.push(args);
      client.writer.writeInvocation('pushed', [args.length]);
      return [];
    };
  });
  const c = await connect(t, s.port);
  c.ws.send('[1, 2, 3]');
  assert.deepEqual(await c.nextJSON(), ['pushed', 3]);
  c.ws.send('not json at all');
  assert.deepEqual(await c.nextJSON(), ['pushed', 1]);
  c.ws.send(Buffer.from([0, 1, 2, 255]));
  assert.deepEqual(await c.nextJSON(), ['pushed', 1]);
  assert.deepEqual(got[0], [1, 2, 3]);
  assert.deepEqual(got[1], ['not json at all']);
  assert.ok(Buffer.isBuffer(got[2][0]) && (got[2][0] as Buffer).equals(Buffer.from([0, 1, 2, 255])));
});

test('server pushes through client.writer outside any request (writeInvocation from a timer)', async (t) => {
  const { s, host } = await server(t);
  const c = await connect(t, s.port);
  await new Promise((r) => setTimeout(r, 50));
  const client = [...host.events].length ? [...s.context.clients][0] : null;
  assert.ok(client);
  assert.equal(client.protocol, 'WebSocket');
  client.writer.writeInvocation('onNews', ['flash', Table.of({ n: 1 })]);
  assert.deepEqual(await c.nextJSON(), ['onNews', 'flash', { n: 1 }]);
});

test('a ping is answered by a pong; fragmented messages are reassembled; idle timeout closes', async (t) => {
  const { s } = await server(t, () => {}, { 'WebSocket.timeout': '1' });
  const c = await connect(t, s.port);
  const pong = new Promise<Buffer>((resolve) => c.ws.once('pong', (d) => resolve(d)));
  c.ws.ping(Buffer.from('abc'));
  assert.equal((await pong).toString(), 'abc');
  // fragmented text: three frames
  c.ws.send('["hel', { fin: false });
  c.ws.send('lo", ', { fin: false });
  c.ws.send('"frag"]', { fin: true });
  assert.deepEqual(await c.nextJSON(), ['Hello frag']);
  const code = await new Promise<number>((resolve) => c.ws.once('close', (code) => resolve(code)));
  assert.equal(code, 1001);
});

test('the server pings a silent client and measures client.ping from the pong', async (t) => {
  const saved = WS_PING.everyMs;
  WS_PING.everyMs = 100;
  t.after(() => (WS_PING.everyMs = saved));
  const { s } = await server(t);
  const c = await connect(t, s.port);
  const connectedAt = Date.now();
  const payload = await new Promise<Buffer>((resolve) => c.ws.once('ping', (d) => resolve(d)));
  assert.equal(payload.length, 8); // our send time, echoed back by the pong
  const client = [...s.context.clients][0];
  client.ping = -1;
  await new Promise((r) => setTimeout(r, 250)); // the next ping/pong round measures again
  // the client sent nothing but pongs since it connected: they were received and measured
  assert.ok(client.lastReceptionTime >= connectedAt + 50);
  assert.ok(client.ping >= 0 && client.ping < 1000, `ping ${client.ping}`);
  c.ws.send('["hello", "still here"]');
  assert.deepEqual(await c.nextJSON(), ['Hello still here']);
});

test('close codes: protocol errors get 1002/1007/1009, a normal close is echoed', async (t) => {
  const { s } = await server(t);
  const handshake = 'GET /app HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
  const closeCodeOf = (out: Buffer) => {
    const at = out.indexOf('\r\n\r\n') + 4;
    const frames = new FrameDecoder(1 << 20, false).push(out.subarray(at));
    const close = frames.find((f) => f.opcode === Opcode.Close);
    return close ? close.data.readUInt16BE(0) : -1;
  };
  const unmasked = Buffer.from([0x81, 0x02, 0x5b, 0x5d]);
  assert.equal(closeCodeOf(await rawExchange(s.port, [handshake, unmasked])), 1002);
  assert.equal(closeCodeOf(await rawExchange(s.port, [handshake, encodeMaskedFrame(0x3, Buffer.from('x'))])), 1002); // reserved opcode
  assert.equal(closeCodeOf(await rawExchange(s.port, [handshake, encodeMaskedFrame(Opcode.Text, Buffer.from([0xff, 0xfe]))])), 1007);
  assert.equal(closeCodeOf(await rawExchange(s.port, [handshake, encodeMaskedFrame(Opcode.Ping, Buffer.alloc(126))])), 1002);
  assert.equal(closeCodeOf(await rawExchange(s.port, [handshake, encodeMaskedFrame(Opcode.Continuation, Buffer.from('x'))])), 1002);
  const rsv = encodeMaskedFrame(Opcode.Text, Buffer.from('[]'));
  rsv[0] |= 0x40;
  assert.equal(closeCodeOf(await rawExchange(s.port, [handshake, rsv])), 1002);
  // a 64-bit length over the limit is refused before any payload is buffered
  const huge = Buffer.from([0x82, 0xff, 0, 0, 0, 0x01, 0, 0, 0, 0, 1, 2, 3, 4]);
  assert.equal(closeCodeOf(await rawExchange(s.port, [handshake, huge])), 1009);
  const normal = encodeMaskedFrame(Opcode.Close, Buffer.from([0x03, 0xe8, 0x62, 0x79, 0x65]));
  assert.equal(closeCodeOf(await rawExchange(s.port, [handshake, normal])), 1000);
  assert.equal(closeCodeOf(await rawExchange(s.port, [handshake, encodeMaskedFrame(Opcode.Close, Buffer.from([0x03, 0xed]))])), 1002); // 1005 may not be sent
  // bad handshakes
  const noKey = handshake.replace(/Sec-WebSocket-Key: .*\r\n/, '');
  assert.match((await rawExchange(s.port, noKey)).toString(), /^HTTP\/1\.1 400/);
  assert.match((await rawExchange(s.port, handshake.replace('Version: 13', 'Version: 8'))).toString(), /^HTTP\/1\.1 426[^]*Sec-WebSocket-Version: 13/);
  assert.match((await rawExchange(s.port, handshake.replace('/app', '/nowhere/at/all'))).toString(), /^HTTP\/1\.1 404/);
  // 101 answer carries the RFC 6455 sample accept key
  assert.match((await rawExchange(s.port, handshake)).toString(), /Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/);
});

test('onConnection refusal: the upgrade is answered 403', async (t) => {
  const { s } = await server(t, (h) => {
    h.connection = () => {
      throw new ConnectionRejected('no entry');
    };
  });
  const ws = new WebSocket(`ws://127.0.0.1:${s.port}/app`);
  ws.on('error', () => {}); // the refused upgrade is reported as an error too
  const status = await new Promise<number>((resolve) =>
    ws.on('unexpected-response', (req, res) => {
      resolve(res.statusCode ?? 0);
      req.destroy();
    }),
  );
  assert.equal(status, 403);
});

test('data streams: __publish / __play share a publication; __publishing, data, __unpublishing', async (t) => {
  const { s } = await server(t);
  const player = await connect(t, s.port);
  player.ws.send('["__play", "room"]');
  const publisher = await connect(t, s.port);
  publisher.ws.send('["__publish", "room"]');
  assert.deepEqual(await player.nextJSON(), ['__publishing', 'room']);
  publisher.ws.send('["chat", "hi", {"from": "ann"}]');
  assert.deepEqual(await player.nextJSON(), ['chat', 'hi', { from: 'ann' }]);
  // a second publisher of the same name is refused
  const other = await connect(t, s.port);
  other.ws.send('["__publish", "room"]');
  assert.deepEqual(await other.nextJSON(), ['__error', 'room is already published']);
  publisher.ws.send('["__closePublish"]');
  assert.deepEqual(await player.nextJSON(), ['__unpublishing', 'room']);
  // a late player of a running publication gets __publishing first
  other.ws.send('["__publish", "room"]');
  assert.deepEqual(await player.nextJSON(), ['__publishing', 'room']);
  const late = await connect(t, s.port);
  late.ws.send('["__play", "room"]');
  assert.deepEqual(await late.nextJSON(), ['__publishing', 'room']);
  other.ws.send('["msg", 1]');
  assert.deepEqual(await late.nextJSON(), ['msg', 1]);
  assert.deepEqual(await player.nextJSON(), ['msg', 1]);
  late.ws.send('["__closePlay"]');
  other.ws.send('["__close"]');
  assert.deepEqual(await player.nextJSON(), ['__unpublishing', 'room']);
  player.ws.send('["__play"]');
  assert.deepEqual(await player.nextJSON(), ['__error', '__play takes a stream name']);
});

test('fuzz: random and mutated frames close with an error code or are handled; the server keeps serving', async (t) => {
  const { s } = await server(t);
  const rnd = prng(0xc0ffee);
  const handshake = 'GET /app HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
  const seeds = [encodeMaskedFrame(Opcode.Text, Buffer.from('["hello", "x"]')), encodeMaskedFrame(Opcode.Text, Buffer.from('["__publish", "f"]')), encodeMaskedFrame(Opcode.Binary, Buffer.alloc(300, 1)), encodeMaskedFrame(Opcode.Text, Buffer.from('["x', 'utf8'), false)];
  for (let i = 0; i < 100; i++) {
    let b: Buffer;
    if (i % 3 === 0) {
      b = randomBuffer(rnd, 1 + Math.floor(rnd() * 200));
    } else {
      b = Buffer.from(seeds[Math.floor(rnd() * seeds.length)]);
      for (let k = 0; k < 1 + Math.floor(rnd() * 4); k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
    }
    const out = await rawExchange(s.port, [handshake, b], 40);
    assert.match(out.toString('latin1'), /^HTTP\/1\.1 101/, `case ${i}`);
  }
  const c = await connect(t, s.port);
  c.ws.send('["hello", "after fuzz"]');
  assert.deepEqual(await c.nextJSON(), ['Hello after fuzz']);
});

test('frame decoder: any cut of a valid stream decodes the same; masks are honoured', () => {
  const stream = Buffer.concat([
    encodeMaskedFrame(Opcode.Text, Buffer.from('a'.repeat(200)), false, Buffer.from([9, 8, 7, 6])),
    encodeMaskedFrame(Opcode.Ping, Buffer.from('p')),
    encodeMaskedFrame(Opcode.Continuation, Buffer.from('b'.repeat(70000))),
    encodeMaskedFrame(Opcode.Binary, Buffer.alloc(0)),
  ]);
  for (const step of [1, 5, 100, stream.length]) {
    const d = new FrameDecoder();
    const got = [];
    for (let i = 0; i < stream.length; i += step) got.push(...d.push(stream.subarray(i, i + step)));
    assert.deepEqual(got.map((m) => [m.opcode, m.data.length]), [[Opcode.Ping, 1], [Opcode.Text, 70200], [Opcode.Binary, 0]]);
    assert.equal(got[1].data.toString(), 'a'.repeat(200) + 'b'.repeat(70000));
  }
  assert.throws(() => new FrameDecoder(100).push(encodeMaskedFrame(Opcode.Text, Buffer.alloc(101, 0x20))), (e: unknown) => e instanceof WSProtocolError && e.code === 1009);
  void net;
});
