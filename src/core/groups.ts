import { createHash } from 'node:crypto';
import { GROUP_EVENTS, appHook } from './app-hooks';
import type { AppHost } from './app-host';
import type { Client } from './client';
import { KeyRing, rankOf } from './key-ring';

/**
 * Peer-to-peer groups (`mona.groups`): the server only introduces members to each other, the
 * members build their mesh themselves. A group is known by a 32-byte id; its members are peers
 * (32-byte peer ids) placed on a ring by a 32-byte address (RTMFP: the "group address" its clients
 * use for their own neighbour choices). Joining costs two binary searches and a move within one
 * block of the ring (key-ring.ts), and at most `MAX_INTRODUCTIONS` ids sent to the newcomer
 * whatever the group size; leaving sends one id. Nothing here knows a protocol: a member hears of others through its `MemberSink`.
 */

/** How a member is told about another member (RTMFP: a message on the member's group flow). */
export interface MemberSink {
  introduce(peerId: Buffer): void;
}

/** ring neighbours given to a newcomer on each side */
export const NEAR_EACH_SIDE = 3;
/** members drawn at random beyond the ring neighbours, so the mesh is not only a ring */
export const RANDOM_PEERS = 4;
export const MAX_INTRODUCTIONS = 2 * NEAR_EACH_SIDE + RANDOM_PEERS;

const ID_SIZE = 32;

function toRawId(id: string | Buffer): Buffer | null {
  if (Buffer.isBuffer(id)) return id.length === ID_SIZE ? id : null;
  if (/^[0-9a-fA-F]{64}$/.test(id)) return Buffer.from(id, 'hex');
  return null;
}

/** One peer in one group. `client` is null for a virtual member (a peer served elsewhere). */
export class GroupMember {
  readonly id: string;
  /** first bits of the address, for quick ordering */
  readonly rank: number;
  released = false;

  constructor(
    readonly group: Group,
    readonly peerId: Buffer,
    /** ring position */
    readonly address: Buffer,
    readonly client: Client | null,
    readonly sink: MemberSink | null,
    private readonly registry: Groups,
  ) {
    this.id = peerId.toString('hex');
    this.rank = rankOf(address);
  }

  get virtual(): boolean {
    return this.client === null;
  }

  /** Leaves the group (idempotent). */
  release(): void {
    this.registry.leave(this);
  }
}

export class Group {
  readonly id: string;
  /** members around the ring, by address */
  private readonly ring = new KeyRing<GroupMember>();
  private readonly byPeer = new Map<string, GroupMember>();

  constructor(readonly rawId: Buffer) {
    this.id = rawId.toString('hex');
  }

  size(): number {
    return this.ring.size;
  }

  get members(): Iterable<GroupMember> {
    return this.byPeer.values();
  }

  /** the member with this peer id (hex or 32 bytes) */
  member(peerId: string | Buffer): GroupMember | undefined {
    const raw = toRawId(peerId);
    return raw ? this.byPeer.get(raw.toString('hex')) : undefined;
  }

  /** members in ring order (tests, scripts listing neighbours) */
  ringOrder(): GroupMember[] {
    return [...this.ring];
  }

  /** @internal registry use */
  insert(m: GroupMember): void {
    this.ring.insert(m);
    this.byPeer.set(m.id, m);
  }

  /**
   * @internal registry use: removes `m`; returns its former ring neighbours (predecessor,
   * successor), null when it was absent or no one else is left.
   */
  remove(m: GroupMember): { predecessor: GroupMember; successor: GroupMember } | null {
    if (this.byPeer.get(m.id) !== m) return null;
    this.byPeer.delete(m.id);
    const next = this.ring.remove(m);
    if (!next) return null;
    return { predecessor: this.ring.step(next, -1), successor: this.ring.at(next) };
  }

  /**
   * Who `m` should be introduced to: its ring neighbours (closest addresses on each side, the
   * peers it needs for its own neighbour list) and a few members drawn at random from the rest
   * (shortcuts across the ring). At most MAX_INTRODUCTIONS, whatever the group size.
   */
  bestPeers(m: GroupMember): GroupMember[] {
    const n = this.ring.size;
    const out: GroupMember[] = [];
    const at = this.ring.find(m);
    if (!at) return out; // not (or no longer) a member
    const chosen = new Set<GroupMember>([m]);
    const take = (c: GroupMember) => {
      if (chosen.has(c)) return;
      chosen.add(c);
      out.push(c);
    };
    for (let k = 1; k <= NEAR_EACH_SIDE && chosen.size < n; k++) {
      take(this.ring.step(at, -k));
      take(this.ring.step(at, k));
    }
    // random draws: bounded attempts, duplicates just cost a retry
    const wanted = Math.min(RANDOM_PEERS, n - chosen.size);
    let got = 0;
    for (let tries = 0; got < wanted && tries < 4 * RANDOM_PEERS; tries++) {
      const c = this.ring.random();
      if (chosen.has(c)) continue;
      take(c);
      got++;
    }
    // in a small group most draws hit someone chosen (a 14-member group left a newcomer one peer
    // short about one join in twelve): the rest are taken walking the ring from a random member,
    // which passes at most the chosen ones before it has them
    if (got < wanted) {
      const from = this.ring.find(this.ring.random())!;
      for (let k = 0; got < wanted && k < n; k++) {
        const c = this.ring.step(from, k);
        if (chosen.has(c)) continue;
        take(c);
        got++;
      }
    }
    return out;
  }
}

/**
 * The registry of groups (`mona.groups`): by id (hex) or raw id, iterable. Members join through a
 * protocol (RTMFP NetGroup) or from scripts (`mona:joinGroup`, `groups:join`: virtual members).
 */
export class Groups implements Iterable<Group> {
  private readonly byId = new Map<string, Group>();
  /**
   * Ring position of a peer. The default hashes the peer id; RTMFP sets the group address its
   * clients compute, so the server's neighbours are the ones the clients look for.
   */
  memberAddress: (peerId: Buffer) => Buffer = (peerId) => createHash('sha256').update(peerId).digest();

  constructor(private readonly host: () => AppHost) {}

  get(id: string | Buffer): Group | undefined {
    const raw = toRawId(id);
    return raw ? this.byId.get(raw.toString('hex')) : undefined;
  }

  get size(): number {
    return this.byId.size;
  }

  [Symbol.iterator](): Iterator<Group> {
    return this.byId.values();
  }

  /**
   * `peerId` joins group `groupId` (hex or 32 bytes each). With a client, the app hears
   * onJoinGroup and the newcomer is introduced to its best peers through `sink`; without one the
   * member is virtual (a peer of another server that this server's members should meet).
   * Joining again with the same peer id returns the existing member when it is the same client,
   * and replaces it otherwise (a reconnected peer).
   */
  join(peerId: string | Buffer, groupId: string | Buffer, client: Client | null = null, sink: MemberSink | null = null): GroupMember {
    const rawPeer = toRawId(peerId);
    const rawGroup = toRawId(groupId);
    if (!rawPeer) throw new RangeError('a peer id is 32 bytes or 64 hex characters');
    if (!rawGroup) throw new RangeError('a group id is 32 bytes or 64 hex characters');
    const key = rawGroup.toString('hex');
    let group = this.byId.get(key);
    if (!group) {
      group = new Group(Buffer.from(rawGroup));
      this.byId.set(key, group);
    }
    const existing = group.member(rawPeer);
    if (existing) {
      if (existing.client === client && existing.sink === sink) return existing;
      this.leave(existing);
      if (!this.byId.has(key)) this.byId.set(key, group);
    }
    const peer = Buffer.from(rawPeer);
    const m = new GroupMember(group, peer, this.memberAddress(peer), client, sink, this);
    group.insert(m);
    // the app may write to the client before the introductions go out
    if (client) appHook(this.host(), GROUP_EVENTS)?.onJoinGroup(client, group);
    if (sink && !m.released) for (const p of group.bestPeers(m)) sink.introduce(p.peerId);
    return m;
  }

  /** `m` leaves its group; its ring successor is introduced to its predecessor (the ring closes). */
  leave(m: GroupMember): void {
    if (m.released) return;
    m.released = true;
    const group = m.group;
    const hadMember = group.member(m.peerId) === m;
    const neighbours = group.remove(m);
    if (!hadMember) return;
    if (m.client) appHook(this.host(), GROUP_EVENTS)?.onUnjoinGroup(m.client, group);
    if (group.size() === 0) {
      if (this.byId.get(group.id) === group) this.byId.delete(group.id);
      return;
    }
    if (neighbours && neighbours.successor !== neighbours.predecessor) neighbours.successor.sink?.introduce(neighbours.predecessor.peerId);
  }
}
