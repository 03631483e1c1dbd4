/**
 * P2P rendezvous: an IHello naming a connected peer id gets that peer's public address and
 * the private ones it announced (setPeerInfo) in a Redirect, and the peer receives a forwarded IHello
 * with the requester's address and tag so it can punch. An unknown peer id goes to
 * onRendezVousUnknown, whose addresses come back as redirections.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { FolderHost } from '../../../src/core/app-host';
import { RTMFP_RENDEZVOUS, type HookKey, type HookProvider, type RTMFPRendezvousHooks } from '../../../src/core/app-hooks';
import type { Table } from '../../../src/serialization/value';
import { Reader, option } from '../../../src/protocols/rtmfp/binary';
import { DEFAULT_KEY, decryptPacket, encryptPacket } from '../../../src/protocols/rtmfp/crypto';
import { EPD_PEER_ID, EPD_URL, buildIHello, parseOptionList } from '../../../src/protocols/rtmfp/handshake-chunks';
import { CHUNK, PacketBuilder, nowTimestamp, parsePacket } from '../../../src/protocols/rtmfp/packet';
import { startRtmfpTestServer } from '../../helpers/rtmfp-server';
import { RtmfpTestClient } from '../../helpers/rtmfp-client';

/** Sends an IHello for `peerId` from a fresh socket; resolves with the Redirect body (or null). */
async function askFor(port: number, peerId: Buffer, tag: Buffer): Promise<{ body: Buffer | null; from: string }> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const got = new Promise<Buffer | null>((resolve) => {
    const t = setTimeout(() => resolve(null), 500);
    s.on('message', (m) => {
      const plain = decryptPacket(m, DEFAULT_KEY);
      const c = plain && parsePacket(plain).chunks.find((x) => x.type === CHUNK.Redirect);
      if (c) {
        clearTimeout(t);
        resolve(Buffer.from(c.data));
      }
    });
  });
  const b = new PacketBuilder(0x0b, false);
  b.addChunk(CHUNK.IHello, buildIHello(option(EPD_PEER_ID, peerId), tag));
  s.send(encryptPacket(b.buf, b.finish(nowTimestamp(), 0), DEFAULT_KEY, 0), port, '127.0.0.1');
  const body = await got;
  const from = `127.0.0.1:${s.address().port}`;
  s.close();
  return { body, from };
}

/** Redirect body → tag and (origin, "ip:port") list */
function readRedirect(body: Buffer): { tag: Buffer; addresses: Array<[number, string]> } {
  const r = new Reader(body);
  const tag = r.bytes(r.vlu());
  const addresses: Array<[number, string]> = [];
  while (r.available) {
    const flags = r.u8();
    if (flags & 0x80) {
      const words: string[] = [];
      for (let i = 0; i < 8; i++) words.push(r.u16().toString(16));
      addresses.push([flags & 3, `[${words.join(':')}]:${r.u16()}`]);
    } else addresses.push([flags & 3, `${[r.u8(), r.u8(), r.u8(), r.u8()].join('.')}:${r.u16()}`]);
  }
  return { tag, addresses };
}

test('IHello for a connected peer id → Redirect with its addresses; the peer gets a forwarded IHello', async () => {
  const srv = await startRtmfpTestServer();
  const a = new RtmfpTestClient({ port: srv.port });
  try {
    await a.connect(`rtmfp://127.0.0.1:${srv.port}/live`);
    a.send('setPeerInfo', '10.0.0.5:1234', 'junk', '[fd00::2]:58823');
    await new Promise((r) => setTimeout(r, 100));
    const forwarded = new Promise<Buffer>((r) => a.once('forwardedHello', r));
    const tag = randomBytes(16);
    const { body, from } = await askFor(srv.port, a.session!.peerId, tag);
    assert.ok(body, 'a Redirect came back');
    const red = readRedirect(body);
    assert.deepEqual(red.tag, tag);
    assert.deepEqual(red.addresses, [
      [2, `127.0.0.1:${a.socket.address().port}`],
      [1, '10.0.0.5:1234'],
      [1, '[fd00:0:0:0:0:0:0:2]:58823'],
    ]);
    const fwd = await forwarded;
    // forwarded IHello: endpoint discriminator (our peer id), the requester's address, its tag
    const r = new Reader(fwd);
    const epd = r.bytes(r.vlu());
    const [peerOption] = parseOptionList(epd);
    assert.equal(peerOption.type, EPD_PEER_ID);
    assert.deepEqual(peerOption.value, a.session!.peerId);
    assert.equal(r.u8(), 2);
    assert.equal(`${[r.u8(), r.u8(), r.u8(), r.u8()].join('.')}:${r.u16()}`, from);
    assert.deepEqual(r.rest(), tag);
  } finally {
    await a.close();
    await srv.stop();
  }
});

test('unknown peer id → onRendezVousUnknown addresses as redirections (none: no answer)', async () => {
  class Host extends FolderHost implements HookProvider, RTMFPRendezvousHooks {
    asked: string[] = [];
    hook<T extends object>(key: HookKey<T>): T | undefined {
      return key === (RTMFP_RENDEZVOUS as HookKey<object>) ? (this as unknown as T) : undefined;
    }
    onHandshake(): string[] {
      return [];
    }
    onRendezVousUnknown(protocol?: string, peerId?: string): string[] {
      this.asked.push(`${protocol}:${peerId}`);
      return ['127.0.0.1:19999'];
    }
  }
  let host!: Host;
  const srv = await startRtmfpTestServer({ host: (ctx) => (host = new Host(ctx.wwwDir)) });
  try {
    const id = randomBytes(32);
    const { body } = await askFor(srv.port, id, randomBytes(16));
    assert.deepEqual(readRedirect(body!).addresses, [[3, '127.0.0.1:19999']]);
    assert.deepEqual(host.asked, [`RTMFP:${id.toString('hex')}`]);
  } finally {
    await srv.stop();
  }
  const plain = await startRtmfpTestServer();
  try {
    assert.equal((await askFor(plain.port, randomBytes(32), randomBytes(16))).body, null);
  } finally {
    await plain.stop();
  }
});

test('onHandshake: redirect addresses ("again" = this server as the URL names it), attempts counted per tag', async () => {
  const calls: Array<{ path: string; attempts: number; user: unknown }> = [];
  class Host extends FolderHost implements HookProvider, RTMFPRendezvousHooks {
    hook<T extends object>(key: HookKey<T>): T | undefined {
      return key === (RTMFP_RENDEZVOUS as HookKey<object>) ? (this as unknown as T) : undefined;
    }
    onHandshake(_address?: string, path = '', properties?: Table, attempts = 0): string[] {
      calls.push({ path, attempts, user: properties?.get('user') });
      return attempts < 2 ? ['again', '10.0.0.1', 'not-an-ip:5'] : [];
    }
    onRendezVousUnknown(): string[] {
      return [];
    }
  }
  const srv = await startRtmfpTestServer({ host: (ctx) => new Host(ctx.wwwDir) });
  const s = dgram.createSocket('udp4');
  try {
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    const answers: Array<{ type: number; data: Buffer }> = [];
    s.on('message', (m) => {
      const plain = decryptPacket(m, DEFAULT_KEY);
      if (plain) for (const c of parsePacket(plain).chunks) answers.push({ type: c.type, data: Buffer.from(c.data) });
    });
    const tag = randomBytes(16);
    const url = `rtmfp://127.0.0.1:${srv.port}/live?user=ann`;
    for (let i = 0; i < 2; i++) {
      const b = new PacketBuilder(0x0b, false);
      b.addChunk(CHUNK.IHello, buildIHello(option(EPD_URL, Buffer.from(url)), tag));
      s.send(encryptPacket(b.buf, b.finish(nowTimestamp(), 0), DEFAULT_KEY, 0), srv.port, '127.0.0.1');
      await new Promise((r) => setTimeout(r, 150));
    }
    assert.deepEqual(calls, [
      { path: '/live', attempts: 1, user: 'ann' },
      { path: '/live', attempts: 2, user: 'ann' },
    ]);
    assert.equal(answers[0].type, CHUNK.Redirect);
    assert.deepEqual(readRedirect(answers[0].data).addresses, [
      [3, `127.0.0.1:${srv.port}`],
      [3, '10.0.0.1:1935'],
    ]);
    assert.equal(answers[1].type, CHUNK.RHello, 'second attempt served here');
  } finally {
    s.close();
    await srv.stop();
  }
});
