/**
 * Peer-to-peer groups as scripts see them, declared once for every engine over core's registry
 * (`context.groups`, filled by RTMFP NetGroup and by scripts):
 *  - `mona.groups`: `(id)` / `[id]` by the 64-hex id or the 32-byte raw id, `pairs` (id → group),
 *    `#`, `count`, `join(peerId, groupId)` (as mona:joinGroup).
 *  - a group: `id`, `rawId`, `size()`, `members` (`pairs` id → client, or the member object of a
 *    virtual member; `#`; `(peerId)`/`[peerId]`), `group(peerId)` as `group.members(peerId)`.
 *  - `mona:joinGroup(peerId, groupId)` / `groups:join(...)`: a virtual member (a peer served by
 *    another server that this server's members should meet), `id`, `rawId`, `release()`. It belongs
 *    to the app whose script made it: released when that app reloads or unloads (MonaServer
 *    released it when its Lua object was collected).
 * Bad ids are an ERROR in the log and nothing returned, as MonaServer does.
 */
import type { Client } from '../../core/client';
import type { ServerContext } from '../../core/context';
import type { Group, GroupMember, Groups } from '../../core/groups';
import type { ScriptSockets } from '../sockets/sockets';
import type { Args, Out } from './engine';
import type { ObjectClass } from './model';

/** `group.members`: one key object per group */
export interface MembersOf {
  readonly group: Group;
}

/** What writes a client's script object (the runtime's client class). */
type WriteClient = (out: Out, c: Client) => void;

function idArg(args: Args, i: number): Buffer | string | null {
  const b = args.bytes(i);
  if (!b) return null;
  return b.length === 32 ? b : b.toString('latin1');
}

export class GroupObjects {
  readonly groups: ObjectClass<Groups>;
  readonly group: ObjectClass<Group>;
  readonly members: ObjectClass<MembersOf>;
  readonly member: ObjectClass<GroupMember>;
  private readonly membersKey = new WeakMap<Group, MembersOf>();

  constructor(
    private readonly ctx: ServerContext,
    private readonly sockets: ScriptSockets,
    writeClient: WriteClient,
  ) {
    const self = this;
    const writeMember = (out: Out, m: GroupMember): void => (m.client ? writeClient(out, m.client) : out.object(self.member, m));
    const memberOf = (g: Group, key: Buffer | string | null): GroupMember | undefined => (key === null ? undefined : g.member(key));
    const groupOf = (key: Buffer | string | null): Group | undefined => (key === null ? undefined : ctx.groups.get(key));

    this.groups = {
      name: 'Groups',
      properties: {
        count: (gs, out) => out.number(gs.size),
      },
      methods: {
        join(_gs, args, out) {
          self.join(args, out, 1);
        },
      },
      fallback(gs, key, out) {
        const g = gs.get(key);
        if (!g) return false;
        out.object(self.group, g);
        return true;
      },
      call(_gs, args, out) {
        const g = groupOf(idArg(args, 1));
        if (g) out.object(self.group, g);
      },
      len: (gs) => gs.size,
      pairs(gs, out) {
        for (const g of gs) {
          out.text(g.id);
          out.object(self.group, g);
        }
      },
    };

    this.group = {
      name: 'Group',
      properties: {
        id: (g, out) => out.text(g.id),
        rawId: (g, out) => out.bytes(g.rawId),
        members: (g, out) => out.object(self.members, self.membersOf(g)),
      },
      methods: {
        size: (g, _args, out) => out.number(g.size()),
      },
      call(g, args, out) {
        const m = memberOf(g, idArg(args, 1));
        if (m) writeMember(out, m);
      },
      describe: (g) => `Group ${g.id}`,
    };

    this.members = {
      name: 'Members',
      properties: {
        count: ({ group }, out) => out.number(group.size()),
      },
      fallback({ group }, key, out) {
        const m = group.member(key);
        if (!m) return false;
        writeMember(out, m);
        return true;
      },
      call({ group }, args, out) {
        const m = memberOf(group, idArg(args, 1));
        if (m) writeMember(out, m);
      },
      len: ({ group }) => group.size(),
      pairs({ group }, out) {
        for (const m of group.members) {
          out.text(m.id);
          writeMember(out, m);
        }
      },
    };

    this.member = {
      name: 'Member',
      properties: {
        id: (m, out) => out.text(m.id),
        rawId: (m, out) => out.bytes(m.peerId),
        group: (m, out) => out.object(self.group, m.group),
        released: (m, out) => out.boolean(m.released),
      },
      methods: {
        release(m) {
          self.release(m);
        },
      },
      describe: (m) => `Member ${m.id}`,
    };
  }

  private where(args: Args): string {
    return args.where() || 'Groups';
  }

  /** A virtual member leaves; its group's script objects go when the group empties. */
  private release(m: GroupMember): void {
    m.release();
    if (m.group.size() === 0) this.forgetGroup(m.group);
  }

  /** mona:joinGroup(peerId, groupId) / groups:join(peerId, groupId): a virtual member, or nothing (ERROR logged). */
  join(args: Args, out: Out, first: number): void {
    const peer = idArg(args, first);
    const group = idArg(args, first + 1);
    if (peer === null) return this.ctx.logger.error(this.where(args), 'joinGroup: member id argument missing');
    if (group === null) return this.ctx.logger.error(this.where(args), 'joinGroup: group id argument missing');
    let member: GroupMember;
    try {
      member = this.ctx.groups.join(peer, group);
    } catch (e) {
      return this.ctx.logger.error(this.where(args), `joinGroup: ${(e as Error).message}`);
    }
    const host = this.sockets.host;
    // owned by the app that made it, as a socket is: released (and its script object) with that app
    this.sockets.adopt({
      owner: host.currentApp(),
      shutdown: () => {
        this.release(member);
        host.release(member);
      },
    });
    out.object(this.member, member);
  }

  membersOf(g: Group): MembersOf {
    let k = this.membersKey.get(g);
    if (!k) this.membersKey.set(g, (k = { group: g }));
    return k;
  }

  /** A group emptied (the registry dropped it): its script objects stop answering. */
  forgetGroup(g: Group): void {
    this.sockets.host.release(g);
    const k = this.membersKey.get(g);
    if (k) this.sockets.host.release(k);
  }
}
