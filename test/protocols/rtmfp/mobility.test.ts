/**
 * Mobility hardening (RFC 7016 3.5.4.2): a session follows its peer to a new address only once
 * that address answered a probe (return routability), and replayed packets are ignored.
 *  - the attack: a captured packet replayed from another port must not move the session, nor
 *    send the server's traffic there;
 *  - a real move is followed: the new address echoes the probe's ping;
 *  - a peer that answers pings without echoing their data (librtmfp does) is followed when its
 *    answer is fresh (a newer timestamp than anything seen), not when it is a replay;
 *  - the campaign's replay flood (test/helpers/attacks.ts) against the real executable: captured
 *    packets replayed from 200 ports while a healthy client is timed, the session's address read
 *    from the admin API.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { FolderHost } from '../../../src/core/app-host';
import type { Client } from '../../../src/core/client';
import { unscrambleSessionId } from '../../../src/protocols/rtmfp/crypto';
import { CHUNK, FLAG_TS, MODE_INITIATOR, PacketBuilder, nowTimestamp } from '../../../src/protocols/rtmfp/packet';
import { startRtmfpTestServer } from '../../helpers/rtmfp-server';
import { RtmfpTestClient } from '../../helpers/rtmfp-client';
import { rtmfpReplay } from '../../helpers/attacks';
import { attackTest } from '../../helpers/attack-test';

class MovesHost extends FolderHost {
  moves: string[] = [];
  override onAddressChanged(client?: Client, old = ''): void {
    this.moves.push(`${old}>${client?.address}`);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function udp(): Promise<{ s: dgram.Socket; got: Buffer[]; address: string }> {
  const s = dgram.createSocket('udp4');
  const got: Buffer[] = [];
  s.on('message', (m) => got.push(m));
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  return { s, got, address: `127.0.0.1:${s.address().port}` };
}

test('a captured packet replayed from another port neither moves the session nor draws its traffic', async () => {
  let host!: MovesHost;
  const srv = await startRtmfpTestServer({ host: (ctx) => (host = new MovesHost(ctx.wwwDir)) });
  const c = new RtmfpTestClient({ port: srv.port });
  const attacker = await udp();
  try {
    const sent: Buffer[] = [];
    c.onSend = (d) => sent.push(d);
    await c.connect(`rtmfp://127.0.0.1:${srv.port}/live`);
    const [session] = srv.server.sessions.values();
    const home = session.address;
    await assert.rejects(c.call('nothing'), /not found/);
    await sleep(50);
    const old = sent.filter((d) => unscrambleSessionId(d) !== 0)[0]; // the first session packet (connect)
    await assert.rejects(c.call('nothing'), /not found/);
    await sleep(30);

    // an old packet, replayed from elsewhere: ignored outright
    attacker.s.send(old, srv.port, '127.0.0.1');
    await sleep(200);
    assert.equal(session.address, home, 'the session did not move');
    assert.deepEqual(host.moves, []);
    assert.equal(attacker.got.length, 0, 'nothing sent to the replayer');
    assert.equal(session.replays, 1, 'counted as a replay');

    // the latest packet, replayed at once: at most a probe goes there, the session stays
    attacker.s.send(sent.at(-1)!, srv.port, '127.0.0.1');
    await sleep(200);
    assert.equal(session.address, home);
    assert.deepEqual(host.moves, []);
    assert.ok(attacker.got.length <= 1, `${attacker.got.length} datagrams to the replayer`);
    // and the real client is still served where it is
    await assert.rejects(c.call('nothing'), /not found/);
    assert.deepEqual(host.moves, []);
  } finally {
    attacker.s.close();
    await c.close();
    await srv.stop();
  }
});

test('a real move is followed once the new address echoes the probe', async () => {
  let host!: MovesHost;
  const srv = await startRtmfpTestServer({ host: (ctx) => (host = new MovesHost(ctx.wwwDir)) });
  const c = new RtmfpTestClient({ port: srv.port });
  try {
    await c.connect(`rtmfp://127.0.0.1:${srv.port}/live`);
    const [session] = srv.server.sessions.values();
    const home = session.address;
    await c.moveSocket();
    await assert.rejects(c.call('nothing'), /not found/);
    const now = `127.0.0.1:${c.socket.address().port}`;
    assert.equal(session.address, now);
    assert.deepEqual(host.moves, [`${home}>${now}`]);
    assert.ok(session.probesSent >= 1);
  } finally {
    await c.close();
    await srv.stop();
  }
});

test('a peer answering pings without their data is followed on a fresh answer, not on a replayed one', async () => {
  let host!: MovesHost;
  const srv = await startRtmfpTestServer({ host: (ctx) => (host = new MovesHost(ctx.wwwDir)) });
  const c = new RtmfpTestClient({ port: srv.port });
  const moved = await udp();
  try {
    const sent: Buffer[] = [];
    c.onSend = (d) => sent.push(d);
    await c.connect(`rtmfp://127.0.0.1:${srv.port}/live`);
    const s = c.session!;
    const [session] = srv.server.sessions.values();
    /** a packet of `chunks` sealed with the client's keys, stamped now */
    const packet = (type: number, data: Buffer, ts = nowTimestamp()) => {
      const b = new PacketBuilder(FLAG_TS | MODE_INITIATOR, false);
      b.addChunk(type, data);
      return s.crypto.encrypt(b.buf, b.finish(ts, 0), s.farId);
    };
    // the server pings the client (keepalive); it answers with an empty ping reply: capture it
    const reply = packet(CHUNK.PingReply, Buffer.alloc(0), nowTimestamp() - 50);
    await sleep(20);
    // a fresh packet from the new address: the server probes that address
    moved.s.send(packet(CHUNK.Ping, Buffer.alloc(0)), srv.port, '127.0.0.1');
    await sleep(100);
    assert.equal(moved.got.length >= 1, true, 'probe sent to the new address');
    assert.deepEqual(host.moves, []);
    // a replayed (older) empty reply from there does not complete the move
    moved.s.send(reply, srv.port, '127.0.0.1');
    await sleep(100);
    assert.deepEqual(host.moves, []);
    // a fresh empty reply does
    await sleep(10);
    moved.s.send(packet(CHUNK.PingReply, Buffer.alloc(0)), srv.port, '127.0.0.1');
    await sleep(100);
    assert.equal(session.address, moved.address);
    assert.equal(host.moves.length, 1);
    assert.ok(sent.length > 0);
  } finally {
    moved.s.close();
    await c.close();
    await srv.stop();
  }
});

attackTest(rtmfpReplay, (o) => {
  assert.equal(o.moved, false, 'the session stayed where its peer is');
  assert.ok(o.probes <= o.replayed, `${o.probes} probes for ${o.replayed} replays: no amplification`);
});
