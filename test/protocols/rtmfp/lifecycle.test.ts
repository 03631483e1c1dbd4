/**
 * Handshake and session life cycle: a retransmitted IIKeying gets the same RIKeying (one session),
 * forged or expired cookies get nothing, keepalive pings from the server are answered and keep the
 * session, a silent peer is dropped after unanswered keepalives, and a server-side close reaches
 * the client (close request → acknowledgement).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { option } from '../../../src/protocols/rtmfp/binary';
import { DEFAULT_KEY, decryptPacket, encryptPacket, unscrambleSessionId } from '../../../src/protocols/rtmfp/crypto';
import { dhKeyPair } from '../../../src/crypto/dh';
import { CHUNK, PacketBuilder, nowTimestamp, parsePacket, type Chunk } from '../../../src/protocols/rtmfp/packet';
import { EPD_URL, OPT_DH_PUBLIC_KEY, OPT_EXTRA_RANDOMNESS, buildIHello, buildIIKeying, parseRHello, parseRIKeying } from '../../../src/protocols/rtmfp/handshake-chunks';
import { vlu } from '../../../src/protocols/rtmfp/binary';
import { startRtmfpTestServer } from '../../helpers/rtmfp-server';
import { RtmfpTestClient } from '../../helpers/rtmfp-client';
import { LossyProxy } from '../../helpers/rtmfp-proxy';
import { FolderHost } from '../../../src/core/app-host';
import { Table } from '../../../src/serialization/value';

/** A bare UDP peer speaking startup packets, to drive the handshake by hand. */
class RawPeer {
  readonly socket = dgram.createSocket('udp4');
  readonly inbox: Array<{ sid: number; chunk: Chunk }> = [];
  constructor(private readonly port: number) {
    this.socket.on('message', (m) => {
      const plain = decryptPacket(m, DEFAULT_KEY);
      if (plain) for (const chunk of parsePacket(plain).chunks) this.inbox.push({ sid: unscrambleSessionId(m), chunk });
    });
  }
  send(type: number, body: Buffer): void {
    const b = new PacketBuilder(0x0b, false);
    b.addChunk(type, body);
    this.socket.send(encryptPacket(b.buf, b.finish(nowTimestamp(), 0), DEFAULT_KEY, 0), this.port, '127.0.0.1');
  }
  async next(type: number, ms = 1000): Promise<Chunk | null> {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      const i = this.inbox.findIndex((x) => x.chunk.type === type);
      if (i >= 0) return this.inbox.splice(i, 1)[0].chunk;
      await new Promise((r) => setTimeout(r, 10));
    }
    return null;
  }
  close(): Promise<void> {
    return new Promise((r) => this.socket.close(() => r()));
  }
}

function iikeying(cookie: Buffer, initiatorSessionId: number): Buffer {
  const dh = dhKeyPair(2)!;
  return buildIIKeying({
    initiatorSessionId,
    cookie,
    certificate: option(OPT_DH_PUBLIC_KEY, Buffer.concat([vlu(2), dh.publicKey])),
    skic: Buffer.concat([option(OPT_DH_PUBLIC_KEY, vlu(2)), option(OPT_EXTRA_RANDOMNESS, randomBytes(64))]),
    signature: Buffer.from([0x58]),
  });
}

test('IIKeying retransmitted → same RIKeying, one session; forged and expired cookies → nothing', async () => {
  const srv = await startRtmfpTestServer();
  const peer = new RawPeer(srv.port);
  const realNow = Date.now;
  try {
    await new Promise<void>((r) => peer.socket.bind(0, '127.0.0.1', () => r()));
    const epd = option(EPD_URL, Buffer.from(`rtmfp://127.0.0.1:${srv.port}/live`));
    peer.send(CHUNK.IHello, buildIHello(epd, randomBytes(16)));
    const rhello = parseRHello((await peer.next(CHUNK.RHello))!.data);
    const body = iikeying(Buffer.from(rhello.cookie), 0x01020304);
    peer.send(CHUNK.IIKeying, body);
    const first = await peer.next(CHUNK.RIKeying);
    peer.send(CHUNK.IIKeying, body);
    const second = await peer.next(CHUNK.RIKeying);
    assert.ok(first && second);
    assert.deepEqual(second.data, first.data, 'the same answer, not a second session');
    assert.equal(parseRIKeying(first.data).responderSessionId, [...srv.server.sessions.keys()][0]);
    assert.equal(srv.server.sessions.size, 1);

    // forged cookie
    const forged = Buffer.from(rhello.cookie);
    forged[10] ^= 0xff;
    peer.send(CHUNK.IIKeying, iikeying(forged, 7));
    assert.equal(await peer.next(CHUNK.RIKeying, 300), null);

    // a cookie used after its lifetime
    peer.send(CHUNK.IHello, buildIHello(epd, randomBytes(16)));
    const late = parseRHello((await peer.next(CHUNK.RHello))!.data);
    Date.now = () => realNow() + 200_000;
    peer.send(CHUNK.IIKeying, iikeying(Buffer.from(late.cookie), 8));
    assert.equal(await peer.next(CHUNK.RIKeying, 300), null);
    Date.now = realNow;
    assert.equal(srv.server.sessions.size, 1);
  } finally {
    Date.now = realNow;
    await peer.close();
    await srv.stop();
  }
});

test('keepalive: the server pings a quiet client, the answer keeps the session; a dead peer is dropped', { timeout: 30_000 }, async () => {
  const srv = await startRtmfpTestServer();
  srv.ctx.config.rtmfp.keepaliveServer = 1; // below the ini minimum, to keep the test short
  const c = new RtmfpTestClient({ port: srv.port });
  try {
    await c.connect(`rtmfp://127.0.0.1:${srv.port}/live`);
    let received = 0;
    c.socket.on('message', () => received++);
    await new Promise((r) => setTimeout(r, 3500));
    assert.ok(received >= 1, 'the server sent keepalive pings');
    assert.equal(srv.ctx.clients.size, 1, 'answered pings keep the session');
    // the client vanishes without a word
    c.closed = true;
    c.socket.removeAllListeners('message');
    const until = Date.now() + 15_000;
    while (srv.ctx.clients.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    assert.equal(srv.ctx.clients.size, 0, 'silent peer dropped');
  } finally {
    await c.close();
    await srv.stop();
  }
});

test('client:close() on the server: close request reaches the client, both sides forget the session', async () => {
  const srv = await startRtmfpTestServer();
  const c = new RtmfpTestClient({ port: srv.port });
  try {
    await c.connect(`rtmfp://127.0.0.1:${srv.port}/live`);
    const closed = new Promise<void>((r) => c.once('closed', () => r()));
    [...srv.ctx.clients][0].close('bye');
    await closed;
    assert.equal(srv.ctx.clients.size, 0);
    const until = Date.now() + 3000;
    while (srv.server.sessions.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    assert.equal(srv.server.sessions.size, 0, 'close acknowledged → session gone');
  } finally {
    await c.close();
    await srv.stop();
  }
});

test('ping: the round trip measured from timestamp echoes (60 ms of added delay shows up)', async () => {
  const srv = await startRtmfpTestServer();
  const proxy = new LossyProxy({ serverPort: srv.port, loss: 0, reorder: 1, holdMs: 30, seed: 1 });
  const c = new RtmfpTestClient({ port: await proxy.start() });
  try {
    await c.connect(`rtmfp://127.0.0.1/live`);
    for (let i = 0; i < 6; i++) await c.call('nothing').catch(() => {});
    const ping = [...srv.ctx.clients][0].ping;
    assert.ok(ping >= 40 && ping < 400, `ping ${ping} ms`);
    assert.ok(c.session!.ping >= 40, `client side too: ${c.session!.ping} ms`);
  } finally {
    await c.close();
    await proxy.stop();
    await srv.stop();
  }
});

test('onConnection returning { timeout = 1 }: a client silent for a second is dropped, timeout not shown', async () => {
  class Host extends FolderHost {
    override onConnection(): Table | null {
      return Table.of({ timeout: 1, shown: true });
    }
  }
  const srv = await startRtmfpTestServer({ host: (ctx) => new Host(ctx.wwwDir) });
  const c = new RtmfpTestClient({ port: srv.port });
  try {
    const info = await c.connect(`rtmfp://127.0.0.1:${srv.port}/live`);
    assert.equal(info.get('shown'), true);
    assert.equal(info.field('timeout'), undefined);
    const until = Date.now() + 5000;
    while (srv.ctx.clients.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    assert.equal(srv.ctx.clients.size, 0);
  } finally {
    await c.close();
    await srv.stop();
  }
});
