/**
 * Malformed and hostile datagrams: random bytes, mutated captured handshakes, a flood of IHello
 * from many addresses, wrong keys, truncated and nonsensical chunks inside correctly encrypted
 * session packets. Nothing throws out of the datagram handler, every bad datagram is dropped, the
 * unauthenticated state stays capped, and a live session keeps working. Seeded, bounded loops.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { DEFAULT_KEY, encryptPacket } from '../../../src/protocols/rtmfp/crypto';
import { RtmfpFormatError, option } from '../../../src/protocols/rtmfp/binary';
import { PacketBuilder, nowTimestamp, parsePacket, CHUNK } from '../../../src/protocols/rtmfp/packet';
import { buildIHello, parseIHello, parseIIKeying, parseRHello, parseRIKeying, EPD_URL } from '../../../src/protocols/rtmfp/handshake-chunks';
import { parseUserData } from '../../../src/protocols/rtmfp/user-data';
import { RTMFPServer } from '../../../src/protocols/rtmfp/server';
import { startRtmfpTestServer } from '../../helpers/rtmfp-server';
import { RtmfpTestClient } from '../../helpers/rtmfp-client';
import { prng, randomBuffer } from '../../helpers/prng';
import { readPcapUdp } from '../../helpers/rtmfp-pcap';

const CAPTURE = path.join(__dirname, '..', '..', '..', '..', 'test', 'fixtures', 'rtmfp', 'rtmfp-librtmfp-client-vs-monaserver.pcap');

/** Random bytes of a random length below `max` (the shared seeded helper draws the bytes). */
function randomBytesUpTo(r: () => number, max: number): Buffer {
  return randomBuffer(r, Math.floor(r() * max));
}

test('parsers only ever throw RtmfpFormatError on random and mutated input', () => {
  const r = prng(42);
  const parsers = [parsePacket, parseIHello, parseRHello, parseIIKeying, parseRIKeying, (b: Buffer) => parseUserData(b, false)];
  for (let i = 0; i < 20000; i++) {
    const b = randomBytesUpTo(r, 300);
    for (const p of parsers) {
      try {
        p(b);
      } catch (e) {
        assert.ok(e instanceof RtmfpFormatError, `${p.name}: ${(e as Error).message}`);
      }
    }
  }
});

/** A server that is not bound: datagrams are fed by hand and its answers go nowhere. */
async function unboundServer() {
  const srv = await startRtmfpTestServer();
  await srv.server.stop();
  const server = new RTMFPServer(srv.ctx, 0, '127.0.0.1');
  return { srv, server };
}

test('random datagrams and mutated captured handshakes are dropped without throwing', async () => {
  const { srv, server } = await unboundServer();
  try {
    const r = prng(7);
    const captured = readPcapUdp(CAPTURE).map((d) => d.payload);
    let fed = 0;
    for (let i = 0; i < 5000; i++) {
      let d: Buffer;
      if (i % 2 === 0) d = randomBytesUpTo(r, 1300);
      else {
        d = Buffer.from(captured[i % captured.length]);
        const flips = 1 + Math.floor(r() * 4);
        for (let k = 0; k < flips; k++) d[Math.floor(r() * d.length)] ^= 1 << Math.floor(r() * 8);
        if (r() < 0.3) d = d.subarray(0, Math.floor(r() * d.length));
      }
      server.onDatagram(d, `127.0.0.1:${1000 + (i % 5000)}`);
      fed++;
    }
    assert.equal(fed, 5000);
    assert.ok(server.dropped > 4000, `dropped ${server.dropped}`);
    assert.equal(server.sessions.size, 0);
  } finally {
    await server.stop();
    await srv.stop();
  }
});

test('an IHello flood from many addresses leaves only capped state (stateless cookies)', async () => {
  const { srv, server } = await unboundServer();
  try {
    const epd = option(EPD_URL, Buffer.from('rtmfp://127.0.0.1/live'));
    for (let i = 0; i < 25000; i++) {
      const b = new PacketBuilder(0x0b, false);
      b.addChunk(CHUNK.IHello, buildIHello(epd, randomBytes(16)));
      const d = encryptPacket(b.buf, b.finish(nowTimestamp(), 0), DEFAULT_KEY, 0);
      server.onDatagram(d, `127.0.${(i >> 8) & 255}.${i & 255}:${2000 + (i % 60000)}`);
    }
    assert.ok(server.handshaker.stateSize <= 10000, `state ${server.handshaker.stateSize}`);
    assert.equal(server.sessions.size, 0);
  } finally {
    await server.stop();
    await srv.stop();
  }
});

test('wrong keys and bad chunks inside authenticated packets are dropped; the session lives on', async () => {
  const srv = await startRtmfpTestServer();
  const c = new RtmfpTestClient({ port: srv.port });
  try {
    await c.connect(`rtmfp://127.0.0.1:${srv.port}/live`);
    const session = c.session!;
    const [serverSession] = [...srv.server.sessions.values()];
    const send = (plain: Buffer, key = session.crypto.encryptKey) => {
      const d = encryptPacket(plain, plain.length, key, session.farId);
      c.socket.send(d, srv.port, '127.0.0.1');
    };
    const before = srv.server.dropped;
    const r = prng(99);
    // wrong key
    for (let i = 0; i < 20; i++) send(Buffer.from([0x09, 0, 0, 0x51, 0, 3, 2, 0x7f, 1]), randomBytes(16));
    // authenticated but malformed: chunk longer than the packet, truncated VLUs, junk chunk types,
    // acks for unknown flows, flow exceptions, user data without options for unknown flows
    const bad = [
      Buffer.from([0x09, 0, 0, 0x10, 0x01, 0xf4, 0x00]),
      Buffer.from([0x09, 0, 0, 0x10, 0x00, 0x02, 0x80, 0x80]),
      Buffer.from([0x09, 0, 0, 0x51, 0x00, 0x02, 0x85, 0x80]),
      Buffer.from([0x09, 0, 0, 0x51, 0x00, 0x03, 0x63, 0x7f, 0x01]),
      Buffer.from([0x09, 0, 0, 0x5e, 0x00, 0x01, 0x63]),
      Buffer.from([0x09, 0, 0, 0x10, 0x00, 0x05, 0x00, 0x44, 0x01, 0x01, 0x14]),
      Buffer.from([0x09, 0, 0, 0x11, 0x00, 0x02, 0x00, 0x14]),
      Buffer.from([0x09, 0, 0, 0x77, 0x00, 0x00]),
    ];
    for (const p of bad) send(p);
    for (let i = 0; i < 300; i++) {
      const junk = randomBytesUpTo(r, 200);
      if (junk[0] === 0x0c || junk[0] === 0x4c) junk[0] = 0x77; // a valid close would (rightly) end it
      send(Buffer.concat([Buffer.from([0x09, 0, 0]), junk]));
    }
    await new Promise((res) => setTimeout(res, 200));
    assert.ok(srv.server.dropped - before >= 20, 'wrong-key datagrams dropped');
    assert.equal(srv.server.sessions.get(serverSession.id), serverSession, 'session still registered');
    assert.ok(serverSession.bufferedBytes <= 4 * 1024 * 1024);
    const info = await c.call('nothing').catch((e: Error) => e.message);
    assert.match(String(info), /not found/);
  } finally {
    await c.close();
    await srv.stop();
  }
});
