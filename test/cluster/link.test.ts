/**
 * The server link between our own servers, in-process on loopback: hello both ways with target
 * properties, send and broadcast both ways, three servers, rejection, reconnection after a restart,
 * the shared secret, and peers that flood or stop reading.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServerRejected, type PeerServer } from '../../src/core/servers';
import { Table, type Value } from '../../src/serialization/value';
import { encodeArgs } from '../../src/cluster/codec';
import { RawPeer, removeDir, startNode, type Node, type ServerEvent } from '../helpers/cluster';

const isConnection = (e: ServerEvent) => e.type === 'connection';
const message = (handler: string) => (e: ServerEvent) => e.type === 'message' && e.handler === handler;
const peerOf = (n: Node) => (n.events.find(isConnection) as Extract<ServerEvent, { type: 'connection' }>).server;

async function cleanup(...nodes: Node[]): Promise<void> {
  for (const n of nodes) await n.stop();
  for (const n of nodes) removeDir(n.dir);
}

test('two servers: hello both ways, properties, ports, app lists, send both ways, broadcast', async () => {
  const b = await startNode('B', {
    overrides: { 'RTMFP.port': '19350', host: 'b.example.net' },
    setup: (server) => (server.context.servers.runningApps = () => ['', '/live']),
  });
  const a = await startNode('A', {
    targets: `127.0.0.1:${b.port}?name=master&arg=val+1`,
    overrides: { 'RTMP.port': '19351', 'myGroup.myConfig': '12', 'servers.secret': '' },
  });
  try {
    await a.waitFor(isConnection, 'connection');
    await b.waitFor(isConnection, 'connection');
    const bOnA = peerOf(a);
    const aOnB = peerOf(b);
    // A connected to B: B is one of A's targets, A is one of B's initiators
    assert.equal(bOnA.isTarget, true);
    assert.equal(aOnB.isTarget, false);
    assert.equal(bOnA.address, `127.0.0.1:${b.port}`);
    assert.match(aOnB.address, /^127\.0\.0\.1:\d+$/);
    // the target entry's properties are the peer's properties on both sides
    for (const s of [bOnA, aOnB]) {
      assert.equal(s.configs.get('name'), 'master');
      assert.equal(s.configs.get('arg'), 'val 1');
    }
    assert.deepEqual(bOnA.properties, { name: 'master', arg: 'val 1' });
    assert.deepEqual(aOnB.properties, {});
    // each side learns the other's configuration, ports and public addresses
    assert.equal(aOnB.configs.get('myGroup.myConfig'), '12');
    assert.equal(aOnB.protocolPort('RTMP'), 19351);
    assert.equal(aOnB.publicAddress('RTMP'), `127.0.0.1:19351`);
    assert.equal(aOnB.publicAddress('RTMFP'), null, 'RTMFP is off on A');
    assert.equal(bOnA.protocolPort('RTMFP'), 19350);
    assert.equal(bOnA.publicAddress('RTMFP'), 'b.example.net:19350');
    assert.equal(bOnA.host, 'b.example.net', "B's configured host");
    assert.equal(aOnB.host, '127.0.0.1', 'no host configured on A: the IP its link comes from');
    assert.ok(!aOnB.config('servers.secret'), 'secrets never leave the server');
    // the registries
    assert.equal(a.server.context.servers.count, 1);
    assert.deepEqual(a.server.context.servers.targets(), [bOnA]);
    assert.deepEqual(b.server.context.servers.initiators(), [aOnB]);
    assert.equal(b.server.context.servers.get(0), aOnB);
    assert.equal(b.server.context.servers.get(aOnB.address), aOnB);
    // app lists (MonaServer's "." frame): what runs on connection, then each app that starts
    assert.deepEqual(await a.waitFor((e) => e.type === 'apps', 'apps'), { type: 'apps', server: bOnA, paths: ['', '/live'] });
    assert.deepEqual(await b.waitFor((e) => e.type === 'apps', 'apps'), { type: 'apps', server: aOnB, paths: [''] });
    b.server.context.servers.announceApps(['/game']);
    await a.waitFor((e) => e.type === 'apps' && e.paths[0] === '/game', 'an app starting on B');

    // send both ways, names by reference the second time
    const table = new Table([1, 2], { k: 'v' });
    assert.equal(bOnA.send('hello', 1, 'two', table, null, -3, 2 ** 40), true);
    bOnA.send('hello', 'again');
    aOnB.send('back', true);
    const first = (await b.waitFor(message('hello'), 'hello')) as Extract<ServerEvent, { type: 'message' }>;
    assert.deepEqual(first.args, [1, 'two', table, null, -3, 2 ** 40]);
    assert.equal(first.server, aOnB);
    await b.waitFor((e) => e.type === 'message' && e.handler === 'hello' && e.args[0] === 'again', 'hello by reference');
    assert.deepEqual(((await a.waitFor(message('back'), 'back')) as { args: Value[] }).args, [true]);

    // broadcast
    assert.equal(a.server.context.servers.broadcast('all', ['x']), 1);
    assert.deepEqual(((await b.waitFor(message('all'), 'broadcast')) as { args: Value[] }).args, ['x']);
    // what the link cannot carry is refused at once, and the link goes on
    assert.throws(() => bOnA.send('.', 1), /reserved/);
    assert.throws(() => bOnA.send('n'.repeat(256)), /256 bytes/);
    assert.equal(bOnA.send('still', 1), true);
    await b.waitFor(message('still'), 'still');
  } finally {
    await cleanup(a, b);
  }
});

test('three servers: initiators and targets views, broadcast reaches every server, one leaving is seen by both others', async () => {
  const c = await startNode('C');
  const b = await startNode('B', { targets: `127.0.0.1:${c.port}` });
  const a = await startNode('A', { targets: `127.0.0.1:${b.port}?role=edge;127.0.0.1:${c.port}?role=edge` });
  try {
    const two = async (n: Node) => {
      const until = Date.now() + 10_000;
      while (n.server.context.servers.count < 2) {
        if (Date.now() > until) throw new Error(`${n.name} has ${n.server.context.servers.count} servers`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await Promise.all([two(a), two(b), two(c)]);
    assert.equal(a.server.context.servers.targets().length, 2);
    assert.equal(a.server.context.servers.initiators().length, 0);
    assert.equal(c.server.context.servers.initiators().length, 2);
    assert.equal(b.server.context.servers.targets().length, 1);
    assert.equal(b.server.context.servers.initiators().length, 1);
    assert.deepEqual(
      c.server.context.servers.initiators().map((s) => s.configs.get('role') ?? null).sort(),
      ['edge', null],
      "A's entry for C says role=edge, B's says nothing",
    );
    assert.equal(c.server.context.servers.broadcast('news', [1]), 2);
    await a.waitFor(message('news'), 'news on A');
    await b.waitFor(message('news'), 'news on B');
    assert.equal(a.server.context.servers.broadcast('up', ['a'], a.server.context.servers.targets()), 2);
    await b.waitFor(message('up'), 'up on B');
    await c.waitFor(message('up'), 'up on C');

    const fromA = c.events.length;
    const fromB = b.events.length;
    await a.stop();
    const gone = (e: ServerEvent) => e.type === 'disconnection' && e.server.configs.get('role') === 'edge';
    const onC = (await c.waitFor(gone, 'A leaving C', 10_000, fromA)) as Extract<ServerEvent, { type: 'disconnection' }>;
    assert.equal(onC.error, 'Server is stopping');
    await b.waitFor((e) => e.type === 'disconnection', 'A leaving B', 10_000, fromB);
    assert.equal(c.server.context.servers.count, 1);
    assert.equal(b.server.context.servers.count, 1);
  } finally {
    await cleanup(a, b, c);
  }
});

test('onServerConnection refusing a server: both sides hear why, and the initiator keeps trying', async () => {
  const b = await startNode('B', {
    setup: (server) =>
      server.context.servers.subscribe({
        onServerConnection: () => {
          throw new ServerRejected('go away');
        },
      }),
  });
  const a = await startNode('A', { targets: `127.0.0.1:${b.port}`, retryMs: 150 });
  try {
    const onA = (await a.waitFor((e) => e.type === 'disconnection', 'rejection')) as Extract<ServerEvent, { type: 'disconnection' }>;
    assert.equal(onA.error, 'go away');
    const onB = (await b.waitFor((e) => e.type === 'disconnection', 'rejection')) as Extract<ServerEvent, { type: 'disconnection' }>;
    assert.equal(onB.error, 'rejected: go away');
    assert.match(a.log, /Connection with 127\.0\.0\.1:\d+ server, go away/);
    // retried: a second rejection comes by itself
    await a.waitFor((e) => e.type === 'disconnection' && e !== onA, 'second attempt');
    assert.equal(a.server.context.servers.count, 0);
  } finally {
    await cleanup(a, b);
  }
});

test('a restarted target is joined again by itself', async () => {
  let b = await startNode('B');
  const port = b.port;
  const a = await startNode('A', { targets: `127.0.0.1:${port}?name=master`, retryMs: 200 });
  try {
    await a.waitFor(isConnection, 'first connection');
    const before = a.events.length;
    await b.stop();
    const lost = (await a.waitFor((e) => e.type === 'disconnection', 'disconnection', 10_000, before)) as Extract<ServerEvent, { type: 'disconnection' }>;
    assert.equal(lost.error, 'Server is stopping');
    assert.equal(a.server.context.servers.count, 0);
    assert.equal(lost.server.connected, false);
    assert.equal(lost.server.send('late'), false, 'a gone server takes nothing');
    await new Promise((r) => setTimeout(r, 500)); // a few failed attempts while B is down
    b = await startNode('B', { port, dir: b.dir });
    const back = (await a.waitFor(isConnection, 'reconnection', 10_000, before)) as Extract<ServerEvent, { type: 'connection' }>;
    assert.notEqual(back.server, lost.server);
    assert.equal(back.server.configs.get('name'), 'master');
    back.server.send('again', 1);
    await b.waitFor(message('again'), 'message after reconnection');
    assert.match(a.log, /cannot join 127\.0\.0\.1:\d+ server \(.*\), next attempt in 0\.2 s/);
  } finally {
    await cleanup(a, b);
  }
});

test('shared secret: the same secret links, a wrong or missing one is refused with a reason, no configuration leaks', async () => {
  const b = await startNode('B', { secret: 'correct horse' });
  const good = await startNode('good', { targets: `127.0.0.1:${b.port}?name=good`, secret: 'correct horse' });
  const wrong = await startNode('wrong', { targets: `127.0.0.1:${b.port}?name=wrong`, secret: 'battery staple', retryMs: 100_000 });
  const plain = await startNode('plain', { targets: `127.0.0.1:${b.port}?name=plain`, retryMs: 100_000 });
  const open = await startNode('open');
  const asking = await startNode('asking', { targets: `127.0.0.1:${open.port}`, secret: 'correct horse', retryMs: 100_000 });
  try {
    await good.waitFor(isConnection, 'connection with the secret');
    const onB = (await b.waitFor(isConnection, 'connection')) as Extract<ServerEvent, { type: 'connection' }>;
    assert.equal(onB.server.configs.get('name'), 'good');
    peerOf(good).send('ok', 1);
    await b.waitFor(message('ok'), 'message over the authenticated link');

    const until = Date.now() + 10_000;
    const waitLog = async (n: Node, re: RegExp) => {
      while (!re.test(n.log)) {
        if (Date.now() > until) throw new Error(`${n.name}: no ${re} in\n${n.log}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await waitLog(wrong, /shared secret mismatch/);
    await waitLog(plain, /Connection with 127\.0\.0\.1:\d+ server, this server requires the shared secret/);
    await waitLog(asking, /Connection with 127\.0\.0\.1:\d+ server, this server has no shared secret/);
    await waitLog(open, /has no shared secret/);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(wrong.server.context.servers.count, 0);
    assert.equal(plain.server.context.servers.count, 0, 'plain peer: refused before any hello');
    assert.equal(asking.server.context.servers.count, 0);
    assert.equal(open.server.context.servers.count, 0);
    assert.deepEqual(
      b.server.context.servers.all().map((s) => s.configs.get('name')),
      ['good'],
      'only the peer with the secret got in',
    );
    // B never said anything of its configuration to the ones without the secret: no connection
    // event fired anywhere but on the good pair
    for (const n of [wrong, plain, asking, open]) assert.equal(n.events.filter(isConnection).length, 0, n.name);
  } finally {
    await cleanup(good, wrong, plain, asking, open, b);
  }
});

test('a peer that stops reading is cut once its queue passes the limit; the server goes on', async () => {
  const limit = 256 * 1024;
  const b = await startNode('B', {
    maxQueuedBytes: limit,
    setup: (server) =>
      server.context.servers.subscribe({
        // echo: every message makes us write to the peer
        onServerMessage: (s: PeerServer, handler, args) => void s.send(`re-${handler}`, ...args),
      }),
  });
  const peer = await RawPeer.connect(b.port);
  try {
    peer.socket.pause(); // never read
    peer.write(peer.encoder.hello([['host', 'flooder']]));
    await b.waitFor(isConnection, 'connection');
    const blob = Buffer.alloc(64 * 1024, 0x61);
    const frame = peer.encoder.message('echo', encodeArgs([blob]));
    const maxQueued: number[] = [];
    const server = peerOf(b);
    for (let i = 0; i < 400 && server.connected; i++) {
      if (!peer.write(frame)) await new Promise((r) => peer.socket.once('drain', r));
      maxQueued.push(server.queuedBytes());
      await new Promise((r) => setImmediate(r));
    }
    const cut = (await b.waitFor((e) => e.type === 'disconnection', 'disconnection', 20_000)) as Extract<ServerEvent, { type: 'disconnection' }>;
    assert.match(cut.error!, /the peer stopped reading \(\d+ bytes waiting for it\)/);
    assert.ok(Math.max(...maxQueued) <= limit + frame.length + 64, `queued at most ${Math.max(...maxQueued)}`);
    // the server still serves others
    const other = await startNode('other', { targets: `127.0.0.1:${b.port}` });
    try {
      await other.waitFor(isConnection, 'another server still joins');
    } finally {
      await cleanup(other);
    }
  } finally {
    peer.destroy();
    await cleanup(b);
  }
});

test('hostile peers: oversized frame, too many handler names, messages before hello, silent and piled-up connections', async () => {
  const b = await startNode('B', { handshakeTimeoutMs: 400, maxPending: 4, limits: { maxFrameBytes: 1024 * 1024, maxReferences: 50 } });
  try {
    // a size field past the limit: rejected with the reason, closed
    const big = await RawPeer.connect(b.port);
    big.write(Buffer.from('7fffffff00', 'hex'));
    const r1 = await big.waitFrame((f) => f.kind === 'reject');
    assert.match((r1 as { reason: string }).reason, /exceeds the 1048576-byte limit/);
    await big.closed;

    // a message before the hello
    const early = await RawPeer.connect(b.port);
    early.write(early.encoder.message('x', encodeArgs([1])));
    assert.match(((await early.waitFrame((f) => f.kind === 'reject')) as { reason: string }).reason, /before the hello/);
    await early.closed;

    // a flood of distinct handler names
    const names = await RawPeer.connect(b.port);
    names.write(names.encoder.hello([]));
    for (let i = 0; i < 60; i++) names.write(names.encoder.message(`n${i}`, Buffer.alloc(0)));
    assert.match(((await names.waitFrame((f) => f.kind === 'reject')) as { reason: string }).reason, /more than 50 handler names/);
    await names.closed;

    // connections that never say hello: the extra ones are cut at once, the others after the timeout
    const silent = await Promise.all(Array.from({ length: 7 }, () => RawPeer.connect(b.port)));
    const t0 = Date.now();
    await Promise.all(silent.map((s) => s.closed));
    assert.ok(Date.now() - t0 < 5000);
    assert.match(b.log, /refused: 4 server connections are already waiting for their hello/);
    assert.match(b.log, /no hello within 0\.4 s/);
    assert.equal(b.server.context.servers.count, 0, 'the one that said hello is gone with its flood');
  } finally {
    await cleanup(b);
  }
});
