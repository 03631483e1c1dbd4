/**
 * Core group registry: lookup by hex id and raw id, join/leave events, the bounded best-peers
 * choice (ring neighbours on both sides plus random members), the ring re-knit on leave, virtual
 * members (no client) and their release, replacement of a reconnected peer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { GROUP_EVENTS, type HookKey } from '../../src/core/app-hooks';
import { FolderHost } from '../../src/core/app-host';
import type { Client } from '../../src/core/client';
import { Groups, MAX_INTRODUCTIONS, NEAR_EACH_SIDE, type Group, type MemberSink } from '../../src/core/groups';
import { KeyRing, rankOf } from '../../src/core/key-ring';

const id = (s: string) => createHash('sha256').update(s).digest();

class EventHost extends FolderHost {
  /** answers the group events hook (the script runtime does the same for client:onJoinGroup) */
  hook<T extends object>(key: HookKey<T>): T | undefined {
    return (key as HookKey<object>) === GROUP_EVENTS ? (this as unknown as T) : undefined;
  }
  events: string[] = [];
  onJoinGroup(client: Client, group: Group): void {
    this.events.push(`join ${client.id.slice(0, 4)} ${group.size()}`);
  }
  onUnjoinGroup(client: Client, group: Group): void {
    this.events.push(`unjoin ${client.id.slice(0, 4)} ${group.size()}`);
  }
}

function fakeClient(peerId: Buffer): Client {
  return { id: peerId.toString('hex'), rawId: peerId } as unknown as Client;
}

class Sink implements MemberSink {
  got: string[] = [];
  introduce(peerId: Buffer): void {
    this.got.push(peerId.toString('hex'));
  }
}

test('groups by hex or raw id; join/unjoin events; introductions bounded and ring-aware', () => {
  const host = new EventHost('/nonexistent');
  const groups = new Groups(() => host);
  const gid = id('group');
  const sinks: Sink[] = [];
  const peers: Buffer[] = [];
  for (let i = 0; i < 40; i++) {
    const peer = id(`peer${i}`);
    peers.push(peer);
    const sink = new Sink();
    sinks.push(sink);
    groups.join(peer, gid, fakeClient(peer), sink);
  }
  const group = groups.get(gid)!;
  assert.equal(groups.get(gid.toString('hex')), group);
  assert.equal(groups.get(gid.toString('hex').toUpperCase()), group);
  assert.equal(groups.size, 1);
  assert.equal(group.size(), 40);
  assert.equal(group.id, gid.toString('hex'));
  assert.deepEqual(group.rawId, gid);
  assert.equal(host.events[0], `join ${peers[0].toString('hex').slice(0, 4)} 1`);
  // first member meets nobody, second meets the first, later ones a bounded set
  assert.deepEqual(sinks[0].got, []);
  assert.deepEqual(sinks[1].got, [peers[0].toString('hex')]);
  for (const s of sinks) assert.ok(s.got.length <= MAX_INTRODUCTIONS, `${s.got.length} introductions`);
  assert.equal(sinks[39].got.length, MAX_INTRODUCTIONS);
  // the last one's ring neighbours (by address order, wrapping) are among what it was told
  const ring = [...group.members].sort((a, b) => a.address.compare(b.address));
  assert.deepEqual(group.ringOrder(), ring);
  const last = ring.findIndex((m) => m.peerId.equals(peers[39]));
  for (let k = 1; k <= NEAR_EACH_SIDE; k++) {
    for (const j of [last - k, last + k]) {
      const neighbour = ring[(j + ring.length) % ring.length];
      assert.ok(sinks[39].got.includes(neighbour.id), `ring neighbour ${k} introduced`);
    }
  }
  assert.ok(!sinks[39].got.includes(peers[39].toString('hex')), 'never introduced to itself');
  assert.equal(new Set(sinks[39].got).size, sinks[39].got.length, 'no duplicates');
});

test('leaving: unjoin event, the successor meets the predecessor, an empty group disappears', () => {
  const host = new EventHost('/nonexistent');
  const groups = new Groups(() => host);
  const gid = id('g2');
  const members = [0, 1, 2, 3, 4].map((i) => {
    const peer = id(`p${i}`);
    const sink = new Sink();
    return { sink, member: groups.join(peer, gid, fakeClient(peer), sink) };
  });
  const group = groups.get(gid)!;
  const ring = [...group.members].sort((a, b) => a.address.compare(b.address));
  const middle = ring[2];
  const pred = members.find((m) => m.member === ring[1])!;
  const succ = members.find((m) => m.member === ring[3])!;
  succ.sink.got.length = 0;
  pred.sink.got.length = 0;
  middle.release();
  middle.release(); // idempotent
  assert.equal(group.size(), 4);
  assert.deepEqual(succ.sink.got, [ring[1].id]);
  assert.deepEqual(pred.sink.got, []);
  assert.equal(host.events.at(-1), `unjoin ${middle.id.slice(0, 4)} 4`);
  assert.equal(group.member(middle.peerId), undefined);
  for (const m of members) m.member.release();
  assert.equal(groups.size, 0);
  assert.equal(groups.get(gid), undefined);
});

test('virtual members: no events, introduced to real members, released by their handle', () => {
  const host = new EventHost('/nonexistent');
  const groups = new Groups(() => host);
  const gid = id('g3');
  const virtual = groups.join(id('remote').toString('hex'), gid.toString('hex'));
  assert.equal(virtual.virtual, true);
  assert.deepEqual(host.events, []);
  const sink = new Sink();
  const peer = id('local');
  const local = groups.join(peer, gid, fakeClient(peer), sink);
  assert.deepEqual(sink.got, [virtual.id]);
  // same peer joining again with the same client: same member; another client replaces it
  assert.equal(groups.join(peer, gid, local.client, sink), local);
  const again = groups.join(peer, gid, fakeClient(peer), new Sink());
  assert.notEqual(again, local);
  assert.equal(local.released, true);
  assert.equal(groups.get(gid)!.size(), 2);
  virtual.release();
  assert.equal(groups.get(gid)!.size(), 1);
  assert.throws(() => groups.join(Buffer.alloc(5), gid), /peer id/);
  assert.throws(() => groups.join(peer, 'nothex'), /group id/);
});

test('a 5,000-member group: each join introduces at most MAX_INTRODUCTIONS peers', () => {
  const groups = new Groups(() => new FolderHost('/nonexistent'));
  const gid = id('big');
  let total = 0;
  let max = 0;
  const sink = { n: 0, introduce() { this.n++; } };
  for (let i = 0; i < 5000; i++) {
    sink.n = 0;
    groups.join(id(`m${i}`), gid, null, sink);
    total += sink.n;
    max = Math.max(max, sink.n);
  }
  assert.equal(groups.get(gid)!.size(), 5000);
  assert.equal(max, MAX_INTRODUCTIONS);
  assert.ok(total <= 5000 * MAX_INTRODUCTIONS);
});

test('KeyRing: sorted around the ring across block splits; steps wrap; removal tells the successor', () => {
  type Item = { address: Buffer; rank: number; n: number };
  const ring = new KeyRing<Item>();
  const items: Item[] = Array.from({ length: 3000 }, (_, n) => {
    // a few share their first bytes: ties are settled by the whole key
    const address = n % 7 === 0 ? Buffer.concat([Buffer.alloc(6, 0x42), id(`k${n}`).subarray(6)]) : id(`k${n}`);
    return { address, rank: rankOf(address), n };
  });
  for (const it of items) ring.insert(it);
  const sorted = [...items].sort((a, b) => a.address.compare(b.address));
  assert.deepEqual([...ring].map((x) => x.n), sorted.map((x) => x.n));
  assert.equal(ring.size, 3000);
  const first = ring.find(sorted[0])!;
  assert.equal(ring.step(first, -1), sorted.at(-1));
  assert.equal(ring.step(first, 3), sorted[3]);
  const last = ring.find(sorted.at(-1)!)!;
  assert.equal(ring.step(last, 2), sorted[1]);
  // remove every other one (some whole blocks empty out), checking the successor each time
  const left = [...sorted];
  for (let k = 0; k < sorted.length; k += 2) {
    const victim = sorted[k];
    const at = left.indexOf(victim);
    left.splice(at, 1);
    const next = ring.remove(victim)!;
    assert.equal(ring.at(next), left[at % left.length]);
  }
  assert.deepEqual([...ring].map((x) => x.n), left.map((x) => x.n));
  assert.equal(ring.remove(sorted[0]), null, 'absent');
  const seen = new Set<number>();
  for (let k = 0; k < 5000; k++) seen.add(ring.random().n);
  assert.ok(seen.size > 1400, 'random draws reach the whole ring');
  for (const it of left) ring.remove(it);
  assert.equal(ring.size, 0);
  assert.deepEqual([...ring], []);
});

test('a small group (MAX_INTRODUCTIONS + 3 members): every newcomer is told exactly MAX_INTRODUCTIONS distinct others', () => {
  const groups = new Groups(() => new FolderHost('/nonexistent'));
  const gid = id('small');
  for (let i = 0; i < MAX_INTRODUCTIONS + 3; i++) groups.join(id(`s${i}`), gid, null, new Sink());
  // random draws alone left a newcomer short about one join in twelve here
  for (let k = 0; k < 500; k++) {
    const sink = new Sink();
    const peer = id(`newcomer${k}`);
    const m = groups.join(peer, gid, null, sink);
    assert.equal(sink.got.length, MAX_INTRODUCTIONS, `join ${k}: ${sink.got.length}`);
    assert.equal(new Set(sink.got).size, MAX_INTRODUCTIONS);
    assert.ok(!sink.got.includes(peer.toString('hex')));
    m.release();
  }
  assert.equal(groups.get(gid)!.size(), MAX_INTRODUCTIONS + 3);
});
