/**
 * NetGroup at the packet level with our TS client (what CI runs; librtmfp's TestClient is in
 * netgroup-librtmfp.test.ts): a "GC" flow carrying the join (group id option 0x15, or the group
 * specifier option 0x10 whose SHA-256 is the id), member messages (0x0b + peer id) on the server's
 * answering flow, leaving by closing the flow or the session, two groups side by side, a bounded
 * number of introductions, refusals (before connect, malformed joins) that leave the session alive.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { GROUP_EVENTS, type HookKey } from '../../../src/core/app-hooks';
import { FolderHost } from '../../../src/core/app-host';
import type { Client } from '../../../src/core/client';
import { MAX_INTRODUCTIONS, type Group } from '../../../src/core/groups';
import { groupAddress } from '../../../src/protocols/rtmfp/group-message';
import { startRtmfpTestServer, type RtmfpTestServer } from '../../helpers/rtmfp-server';
import { RtmfpTestClient } from '../../helpers/rtmfp-client';

class GroupHost extends FolderHost {
  /** answers the group events hook (the script runtime does the same for client:onJoinGroup) */
  hook<T extends object>(key: HookKey<T>): T | undefined {
    return (key as HookKey<object>) === GROUP_EVENTS ? (this as unknown as T) : undefined;
  }
  events: string[] = [];
  onJoinGroup(client: Client, group: Group): void {
    this.events.push(`join ${client.id} ${group.id}`);
  }
  onUnjoinGroup(client: Client, group: Group): void {
    this.events.push(`unjoin ${client.id} ${group.id}`);
  }
}

const until = async (what: () => boolean, ms = 30_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

interface Member {
  c: RtmfpTestClient;
  id: string;
  told: string[];
}

async function member(srv: RtmfpTestServer): Promise<Member> {
  const c = new RtmfpTestClient({ port: srv.port });
  await c.connect(`rtmfp://127.0.0.1:${srv.port}/live`);
  const m: Member = { c, id: c.session!.peerId.toString('hex'), told: [] };
  c.on('groupMember', (peer: string) => m.told.push(peer));
  return m;
}

async function withServer(fn: (srv: RtmfpTestServer, host: GroupHost) => Promise<void>): Promise<void> {
  let host!: GroupHost;
  const srv = await startRtmfpTestServer({ host: (ctx) => (host = new GroupHost(ctx.wwwDir)) });
  try {
    await fn(srv, host);
  } finally {
    await srv.stop();
  }
}

test('join, member ids to the newcomer, leave by flow close and by session close', () =>
  withServer(async (srv, host) => {
    const gid = randomBytes(32);
    const g = gid.toString('hex');
    const [a, b, c] = [await member(srv), await member(srv), await member(srv)];
    try {
      a.c.joinGroup(gid);
      await until(() => srv.ctx.groups.get(gid)?.size() === 1);
      const bFlow = b.c.joinGroup(gid);
      await until(() => b.told.length === 1);
      assert.deepEqual(b.told, [a.id]);
      c.c.joinGroup(gid);
      await until(() => c.told.length === 2);
      assert.deepEqual(c.told.sort(), [a.id, b.id].sort());
      assert.deepEqual(a.told, [], 'existing members are not told (the newcomer connects to them)');
      const group = srv.ctx.groups.get(g)!;
      assert.equal(group.size(), 3);
      assert.deepEqual(host.events, [`join ${a.id} ${g}`, `join ${b.id} ${g}`, `join ${c.id} ${g}`]);

      // b leaves by closing its flow: the ring closes over it (successor told its new predecessor)
      const ring = [a, b, c].sort((x, y) => groupAddress(Buffer.from(x.id, 'hex')).compare(groupAddress(Buffer.from(y.id, 'hex'))));
      const i = ring.indexOf(b);
      const rest = ring.filter((x) => x !== b);
      const successor = rest[i % 2];
      const predecessor = rest[(i + 1) % 2];
      const before = successor.told.length;
      b.c.leaveGroup(bFlow);
      await until(() => group.size() === 2);
      assert.equal(host.events.at(-1), `unjoin ${b.id} ${g}`);
      await until(() => successor.told.length === before + 1);
      assert.equal(successor.told.at(-1), predecessor.id);
      // the session lives on after leaving
      await assert.rejects(b.c.call('nothing'), /not found/);

      // a's session ends: it leaves too
      await a.c.close();
      await until(() => group.size() === 1);
      assert.equal(host.events.at(-1), `unjoin ${a.id} ${g}`);
      await c.c.close();
      await until(() => srv.ctx.groups.size === 0);
    } finally {
      for (const m of [a, b, c]) await m.c.close().catch(() => {});
    }
  }));

test('group specifier form (option 0x10): the id is its SHA-256; two groups side by side stay apart', () =>
  withServer(async (srv) => {
    const spec = Buffer.from('G:027f0201010103010c050e74657374011b00', 'latin1');
    const join = Buffer.concat([Buffer.from([0x01, spec.length + 1, 0x10]), spec]);
    const gid = createHash('sha256').update(spec).digest();
    const other = randomBytes(32);
    const ms = [await member(srv), await member(srv), await member(srv), await member(srv)];
    try {
      ms[0].c.joinGroup(null, join);
      ms[1].c.joinGroup(other);
      await until(() => srv.ctx.groups.size === 2);
      ms[2].c.joinGroup(null, join);
      ms[3].c.joinGroup(other);
      await until(() => ms[2].told.length === 1 && ms[3].told.length === 1);
      assert.deepEqual(ms[2].told, [ms[0].id]);
      assert.deepEqual(ms[3].told, [ms[1].id]);
      assert.equal(srv.ctx.groups.get(gid)?.size(), 2);
      assert.equal(srv.ctx.groups.get(other)?.size(), 2);
    } finally {
      for (const m of ms) await m.c.close();
    }
  }));

test('a newcomer to a larger group is told at most MAX_INTRODUCTIONS members, ring neighbours included', () =>
  withServer(async (srv) => {
    const gid = randomBytes(32);
    const ms: Member[] = [];
    try {
      for (let i = 0; i < MAX_INTRODUCTIONS + 4; i++) ms.push(await member(srv));
      for (const m of ms.slice(0, -1)) m.c.joinGroup(gid);
      await until(() => srv.ctx.groups.get(gid)?.size() === ms.length - 1);
      const last = ms.at(-1)!;
      last.c.joinGroup(gid);
      await until(() => last.told.length === MAX_INTRODUCTIONS);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(last.told.length, MAX_INTRODUCTIONS);
      const ring = ms.map((m) => m.id).sort((x, y) => groupAddress(Buffer.from(x, 'hex')).compare(groupAddress(Buffer.from(y, 'hex'))));
      const at = ring.indexOf(last.id);
      for (const k of [-1, 1]) assert.ok(last.told.includes(ring[(at + k + ring.length) % ring.length]), 'ring neighbour told');
    } finally {
      for (const m of ms) await m.c.close();
    }
  }));

test('refusals: a group flow before connect is rejected; malformed joins are ignored, the session lives', () =>
  withServer(async (srv) => {
    const early = new RtmfpTestClient({ port: srv.port });
    const m = await member(srv);
    try {
      await early.handshake(`rtmfp://127.0.0.1:${srv.port}/live`);
      const sender = early.joinGroup(randomBytes(32));
      await until(() => sender.done);
      assert.equal(srv.ctx.groups.size, 0);
      for (const bad of [
        Buffer.from([0x01]), // no option
        Buffer.from([0x01, 0x05, 0x15, 1, 2, 3, 4]), // id of 4 bytes
        Buffer.from([0x01, 0x03, 0x33, 1, 2]), // unknown option
        Buffer.from([0x01, 0x7f, 0x15]), // overruns
        Buffer.from([0x02, 0x21, 0x15]), // not a join
        Buffer.alloc(4000, 1), // too long
      ]) {
        m.c.joinGroup(null, bad);
      }
      await assert.rejects(m.c.call('nothing'), /not found/);
      assert.equal(srv.ctx.groups.size, 0);
    } finally {
      await early.close();
      await m.c.close();
    }
  }));
