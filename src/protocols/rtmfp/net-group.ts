/**
 * The NetGroup flows of one RTMFP session: a connected client opens a "GC" flow and joins a group
 * on it; the client becomes a member of core's group registry and is told, on our answering flow,
 * the peer ids of other members (a bounded, well spread set), then of new ring neighbours as
 * members leave. The members reach each other through the P2P rendezvous (an IHello naming the
 * peer id). Closing the flow, or the session, leaves the group.
 */
import type { ServerContext } from '../../core/context';
import type { GroupMember, MemberSink } from '../../core/groups';
import type { Client } from '../../core/client';
import type { IncomingFlow } from './flow';
import type { FlowSender } from './flow-writer';
import { groupMember, isGroupMetadata, parseGroupJoin } from './group-message';
import type { Session } from './session';

/** groups one session may be in at once (one flow each) */
export const MAX_GROUPS_PER_SESSION = 16;
/**
 * Introductions are hints: past this many bytes waiting towards a member that does not read,
 * further ones are dropped rather than queued.
 */
const MAX_QUEUED_INTRODUCTIONS = 64 * 1024;

class GroupFlow implements MemberSink {
  member: GroupMember | null = null;

  constructor(
    readonly flow: IncomingFlow,
    readonly sender: FlowSender,
    private readonly session: Session,
  ) {}

  introduce(peerId: Buffer): void {
    if (this.session.closed || this.sender.done || this.sender.queuedBytes > MAX_QUEUED_INTRODUCTIONS) return;
    this.sender.write(null, groupMember(peerId));
    this.session.scheduleFlush();
  }
}

export class NetGroupFlows {
  private readonly flows = new Map<number, GroupFlow>();

  constructor(
    private readonly ctx: ServerContext,
    private readonly session: Session,
    private readonly client: Client,
  ) {}

  /** true for a NetGroup flow (whether or not it is accepted) */
  static claims(flow: IncomingFlow): boolean {
    return isGroupMetadata(flow.metadata);
  }

  owns(flow: IncomingFlow): boolean {
    return this.flows.get(flow.id)?.flow === flow;
  }

  /** A new "GC" flow: accepted once the client is connected, within the per-session cap. */
  onFlow(flow: IncomingFlow): boolean {
    if (!this.client.connected || this.flows.size >= MAX_GROUPS_PER_SESSION) return false;
    const sender = this.session.newSender(flow.metadata, flow.id);
    this.flows.set(flow.id, new GroupFlow(flow, sender, this.session));
    return true;
  }

  onMessage(flow: IncomingFlow, message: Buffer): void {
    const g = this.flows.get(flow.id);
    if (!g || g.flow !== flow) return;
    let groupId: Buffer;
    try {
      groupId = parseGroupJoin(message);
    } catch (e) {
      this.ctx.logger.debug('RTMFP', `${this.client.address}: group flow ${flow.id}: ${(e as Error).message}`);
      return;
    }
    // a flow is in one group: a second join moves it
    if (g.member && !g.member.released && g.member.group.rawId.equals(groupId)) return;
    g.member?.release();
    g.member = null;
    try {
      g.member = this.ctx.groups.join(this.session.peerId, groupId, this.client, g);
    } catch (e) {
      this.ctx.logger.error('RTMFP', `group join: ${(e as Error).message}`);
    }
  }

  /** The peer closed the flow: it left the group; our answering flow ends too. */
  onFlowEnd(flow: IncomingFlow): void {
    const g = this.flows.get(flow.id);
    if (!g || g.flow !== flow) return;
    this.flows.delete(flow.id);
    g.member?.release();
    g.sender.close();
    this.session.scheduleFlush();
  }

  /** The session ended: every membership goes. */
  close(): void {
    for (const g of this.flows.values()) g.member?.release();
    this.flows.clear();
  }

  /** groups this session is in (tests) */
  get size(): number {
    let n = 0;
    for (const g of this.flows.values()) if (g.member && !g.member.released) n++;
    return n;
  }
}
