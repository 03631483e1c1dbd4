/**
 * RTMFP redirection to the servers of the cluster: an application's onHandshake (and
 * onRendezVousUnknown) may name linked servers and broadcasters instead of addresses; clients get
 * those servers' RTMFP addresses as their hellos announced them (port, public host). Checked on the
 * wire (the Redirect chunk), with our RTMFP client following it, and with librtmfp's TestClient.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { FolderHost } from '../../src/core/app-host';
import { RTMFP_RENDEZVOUS, type HookKey, type HookProvider, type RTMFPRendezvousHooks } from '../../src/core/app-hooks';
import type { ServerContext } from '../../src/core/context';
import { PeerServer, ServerGroup, redirectionAddresses, type Redirection } from '../../src/core/servers';
import { Reader, option } from '../../src/protocols/rtmfp/binary';
import { DEFAULT_KEY, decryptPacket, encryptPacket } from '../../src/protocols/rtmfp/crypto';
import { EPD_PEER_ID, EPD_URL, buildIHello } from '../../src/protocols/rtmfp/handshake-chunks';
import { CHUNK, PacketBuilder, nowTimestamp, parsePacket } from '../../src/protocols/rtmfp/packet';
import { RtmfpTestClient } from '../helpers/rtmfp-client';
import { TESTCLIENT, haveTestClient, startProc, stopProc, waitFor } from '../helpers/librtmfp';
import { linked, startClusterNode, until, type ClusterNode } from '../helpers/relay-cluster';

/** A script-less application layer whose RTMFP hooks redirect by URL path, as a script would. */
class Redirecting extends FolderHost implements HookProvider, RTMFPRendezvousHooks {
  constructor(private readonly ctx: ServerContext) {
    super(ctx.wwwDir);
  }

  hook<T extends object>(key: HookKey<T>): T | undefined {
    return key === (RTMFP_RENDEZVOUS as HookKey<object>) ? (this as unknown as T) : undefined;
  }

  /** the linked server whose RTMFP port is `port` */
  server(port: number): PeerServer | undefined {
    return this.ctx.servers.all().find((s) => s.protocolPort('RTMFP') === port);
  }

  ports: Record<string, number> = {};

  onHandshake(_address: string, path: string): Redirection[] {
    const servers = this.ctx.servers;
    // TestClient's URL ends with a stream name
    switch (path.replace(/\/s1$/, '')) {
      case '/toB':
        return [this.server(this.ports.B)!];
      case '/all':
        return [servers.group('all')];
      case '/initiators':
        return [servers.group('initiators')];
      case '/targets':
        return [servers.group('targets')];
      case '/mixed':
        return ['10.1.2.3:1935', 'myself', this.server(this.ports.C)!];
      default:
        return [];
    }
  }

  onRendezVousUnknown(): Redirection[] {
    return [this.ctx.servers.group('all'), 'myself'];
  }
}

/** Sends an IHello (URL or peer id) from a fresh socket; resolves with the Redirect's addresses (null: none came). */
async function hello(port: number, epd: Buffer): Promise<string[] | null> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const got = new Promise<Buffer | null>((resolve) => {
    const t = setTimeout(() => resolve(null), 700);
    s.on('message', (m) => {
      const plain = decryptPacket(m, DEFAULT_KEY);
      const c = plain && parsePacket(plain).chunks.find((x) => x.type === CHUNK.Redirect || x.type === CHUNK.RHello);
      if (!c) return;
      clearTimeout(t);
      resolve(c.type === CHUNK.Redirect ? Buffer.from(c.data) : null);
    });
  });
  const b = new PacketBuilder(0x0b, false);
  b.addChunk(CHUNK.IHello, buildIHello(epd, randomBytes(16)));
  s.send(encryptPacket(b.buf, b.finish(nowTimestamp(), 0), DEFAULT_KEY, 0), port, '127.0.0.1');
  const body = await got;
  s.close();
  if (!body) return null;
  const r = new Reader(body);
  r.bytes(r.vlu());
  const out: string[] = [];
  while (r.available) {
    const flags = r.u8();
    out.push(`${[r.u8(), r.u8(), r.u8(), r.u8()].join('.')}:${r.u16()}`);
    if (flags & 0x80) throw new Error('IPv6 not expected here');
  }
  return out;
}

const url = (port: number, path: string) => option(EPD_URL, Buffer.from(`rtmfp://127.0.0.1:${port}${path}`));

test('redirectionAddresses: text as is, servers by their announced RTMFP address, broadcasters by each server', () => {
  const channel = { send: () => true, sendRaw: () => true, sendApps: () => true, reject: () => {}, queuedBytes: () => 0 };
  const mk = (address: string, isTarget: boolean, pairs: Record<string, string>) => new PeerServer(address, isTarget, new Map(Object.entries(pairs)), {}, channel);
  const b = mk('10.0.0.2:41000', false, { 'RTMFP.port': '1935', 'RTMFP.publicAddress': '127.0.0.1:1935' });
  const c = mk('10.0.0.3:1936', true, { 'RTMFP.port': '19350', 'RTMFP.publicAddress': 'c.example.net:19350' });
  const off = mk('10.0.0.4:1936', true, { 'RTMFP.port': '0' });
  const registry = { all: () => [b, c, off], initiators: () => [b], targets: () => [c, off] };
  const warnings: string[] = [];
  const all = new ServerGroup(registry as never, 'all');
  assert.deepEqual(redirectionAddresses(['1.2.3.4:5', b, all, new ServerGroup(registry as never, 'targets')], 'RTMFP', (w) => warnings.push(w)), [
    '1.2.3.4:5',
    '10.0.0.2:1935', // a loopback host announced: the IP the link comes from
    '10.0.0.2:1935',
    'c.example.net:19350',
    'c.example.net:19350',
  ]);
  assert.equal(warnings.length, 2, 'the server with RTMFP off, twice');
  assert.match(warnings[0], /10\.0\.0\.4:1936: it has RTMFP disabled/);
  b.connected = false;
  assert.deepEqual(redirectionAddresses([b], 'RTMFP', (w) => warnings.push(w)), []);
  assert.match(warnings[2], /disconnected/);
});

test('onHandshake returning servers and broadcasters: the Redirect carries their RTMFP addresses from their hellos', async () => {
  // C: a public host of its own, which clients are sent to as it is; A joins C; B joins A
  const c = await startClusterNode('C', { overrides: { host: '192.0.2.7' } });
  let host!: Redirecting;
  const a = await startClusterNode('A', { targets: `127.0.0.1:${c.link}`, appHost: (ctx) => (host = new Redirecting(ctx)) });
  const b = await startClusterNode('B', { targets: `127.0.0.1:${a.link}`, www: { toB: null } });
  try {
    await until(() => a.context.servers.count === 2 && b.context.servers.count === 1, 'A linked to B and C');
    host.ports = { B: b.rtmfp, C: c.rtmfp };
    const B = `127.0.0.1:${b.rtmfp}`;
    const C = `192.0.2.7:${c.rtmfp}`;
    assert.deepEqual(await hello(a.rtmfp, url(a.rtmfp, '/toB')), [B]);
    assert.deepEqual((await hello(a.rtmfp, url(a.rtmfp, '/all')))!.sort(), [B, C].sort());
    assert.deepEqual(await hello(a.rtmfp, url(a.rtmfp, '/initiators')), [B], 'B joined A');
    assert.deepEqual(await hello(a.rtmfp, url(a.rtmfp, '/targets')), [C], 'A joined C');
    assert.deepEqual(await hello(a.rtmfp, url(a.rtmfp, '/mixed')), ['10.1.2.3:1935', `127.0.0.1:${a.rtmfp}`, C], '"myself" is A as the client reached it');
    assert.equal(await hello(a.rtmfp, url(a.rtmfp, '/live')), null, 'no redirection: an RHello from A');
    // an unknown peer id: the servers of the cluster, never A itself
    assert.deepEqual((await hello(a.rtmfp, option(EPD_PEER_ID, randomBytes(32))))!.sort(), [B, C].sort());
  } finally {
    await Promise.all([b.stop(), a.stop(), c.stop()]);
  }
});

test('clients follow the redirection to B: our RTMFP client, and librtmfp TestClient where it is built', { timeout: 60_000 }, async (t) => {
  let host!: Redirecting;
  const a = await startClusterNode('A', { appHost: (ctx) => (host = new Redirecting(ctx)) });
  const b = await startClusterNode('B', { targets: `127.0.0.1:${a.link}`, www: { toB: null, live: null } });
  const client = new RtmfpTestClient({ port: a.rtmfp });
  try {
    await linked(a, b);
    host.ports = { B: b.rtmfp };
    // ours: the hello to A comes back as a Redirect naming B, where it connects
    const redirected = new Promise<Buffer>((resolve) => client.once('redirect', (d: Buffer) => resolve(d)));
    void client.handshake(`rtmfp://127.0.0.1:${a.rtmfp}/toB`).catch(() => {});
    const body = await redirected;
    const r = new Reader(body);
    r.bytes(r.vlu());
    r.u8();
    const to = `${[r.u8(), r.u8(), r.u8(), r.u8()].join('.')}:${r.u16()}`;
    assert.equal(to, `127.0.0.1:${b.rtmfp}`);
    await client.close();
    const follower = new RtmfpTestClient({ port: Number(to.split(':')[1]) });
    try {
      await follower.connect(`rtmfp://127.0.0.1:${a.rtmfp}/toB`);
      await until(() => [...b.context.clients].some((x) => x.protocol === 'RTMFP' && x.path === '/toB'), 'our client connected to B');
    } finally {
      await follower.close();
    }
    if (!haveTestClient(t)) return;
    // librtmfp: told to connect to A, it ends connected to B (to its app "live", TestClient's own choice)
    const tc = startProc(TESTCLIENT, [`--url=rtmfp://127.0.0.1:${a.rtmfp}/toB/s1`]);
    try {
      await waitFor(tc, /NetConnection\.Connect\.Success/, 20_000);
      await until(() => [...b.context.clients].some((x) => x.protocol === 'RTMFP'), 'TestClient connected to B');
      assert.equal([...a.context.clients].filter((x) => x.protocol === 'RTMFP').length, 0, 'nobody connected to A');
    } finally {
      await stopProc(tc);
    }
  } finally {
    await Promise.all([b.stop(), a.stop()]);
  }
});
