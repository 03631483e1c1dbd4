/**
 * RTMFP's side of a Flash NetConnection: the session's flows in and out of the Flash layer
 * (src/protocols/flash). Flows are told apart by their per-flow metadata ("TC\x04" + stream id,
 * 0 = the NetConnection); each message is a Flash message (flash-message.ts) handed to the Flash
 * NetConnection, which answers on FlowChannels. What only RTMFP has stays here: setPeerInfo (the
 * peer's own addresses for rendezvous, answered with our keepalive periods), partial reliability
 * for unbuffered plays, the session's idle timeout.
 */
import type { ServerContext } from '../../core/context';
import { Level } from '../../logs/levels';
import { MessageType, UserControl, userControl } from '../flash/messages';
import { NetConnection as FlashNetConnection } from '../flash/net-connection';
import type { FlashChannel, FlashTransport, LogLevel } from '../flash/transport';
import { Reader, vlu } from './binary';
import { parseFlashMessage } from './flash-message';
import type { IncomingFlow } from './flow';
import { FlowChannel } from './flow-channel';
import { NetGroupFlows } from './net-group';
import { RtmfpClient } from './rtmfp-client';
import type { Session, SessionHandler } from './session';

const STREAM_SIGNATURE = Buffer.from([0x54, 0x43, 0x04]); // "TC\x04"

/** Per-flow metadata of a NetStream (0 = the NetConnection). */
export function streamSignature(streamId: number): Buffer {
  return Buffer.concat([STREAM_SIGNATURE, vlu(streamId)]);
}

/** stream id from per-flow metadata, or -1 when it is not a NetConnection/NetStream flow */
export function signatureStream(metadata: Buffer | null): number {
  if (!metadata || metadata.length < 4 || metadata.compare(STREAM_SIGNATURE, 0, 3, 0, 3) !== 0) return -1;
  try {
    return new Reader(metadata, 3).vlu();
  } catch {
    return -1;
  }
}

/** how long a refused connection's `_error` has to reach the peer before the session closes */
const CLOSE_GRACE_MS = 100;

export class NetConnection implements SessionHandler, FlashTransport {
  readonly client: RtmfpClient;
  readonly partialReliability = true;
  readonly connectProperties = null;
  /** the Flash layer, made when the NetConnection flow arrives */
  flash: FlashNetConnection | null = null;
  private mainFlowId = -1;
  private main: FlowChannel | null = null;
  /** the addresses the peer announced with setPeerInfo (its private ones), for rendezvous */
  peerAddresses: string[] = [];
  private closing: NodeJS.Timeout | null = null;
  /** NetGroup flows ("GC" metadata) of this session */
  readonly groups: NetGroupFlows;

  constructor(
    readonly context: ServerContext,
    private readonly session: Session,
    private readonly keepalive: { server: number; peer: number },
  ) {
    this.client = new RtmfpClient(session, this);
    this.groups = new NetGroupFlows(context, session, this.client);
  }

  get mainChannel(): FlashChannel {
    if (!this.main) throw new Error('no NetConnection flow yet');
    return this.main;
  }

  onFlow(flow: IncomingFlow): boolean {
    if (NetGroupFlows.claims(flow)) return this.groups.onFlow(flow);
    const id = signatureStream(flow.metadata);
    if (id < 0) return false;
    if (id === 0) {
      if (this.flash) return this.mainFlowId === flow.id;
      this.mainFlowId = flow.id;
      this.main = new FlowChannel(this.session, this.session.newSender(streamSignature(0), flow.id));
      this.flash = new FlashNetConnection(this);
      return true;
    }
    return this.client.connected && this.flash !== null && this.flash.hasStream(id);
  }

  /** flows that carried video (see onMessage) */
  private readonly videoFlows = new WeakSet<IncomingFlow>();

  onMessage(flow: IncomingFlow, message: Buffer): void {
    if (this.groups.owns(flow)) return this.groups.onMessage(flow, message);
    const flash = this.flash;
    if (!flash) return;
    try {
      const m = parseFlashMessage(message);
      // what the flow lost before this message: the publication's lostRate, and after a video loss
      // frames wait for a key frame. On a flow that carries video with other messages, a loss may
      // have been a frame: it goes to the flow's next video message
      let lost = 0;
      if (m.type === MessageType.Video) {
        this.videoFlows.add(flow);
        lost = flow.takeLost();
      } else if (!this.videoFlows.has(flow)) lost = flow.takeLost();
      flash.onMessage(signatureStream(flow.metadata), m.type, m.time, m.body, lost);
    } catch (e) {
      this.log('debug', `bad message on flow ${flow.id}: ${(e as Error).message}`);
    }
  }

  onAddressChanged(oldAddress: string): void {
    this.client.address = this.session.address;
    if (this.client.connected) this.context.host.onAddressChanged(this.client, oldAddress);
  }

  onFlowEnd(flow: IncomingFlow): void {
    this.groups.onFlowEnd(flow);
  }

  onClosed(): void {
    this.groups.close();
    if (this.closing) clearTimeout(this.closing);
    this.closing = null;
    const reason = this.session.closeReason || 'closed';
    if (this.flash) this.flash.close(reason);
    else this.context.disconnect(this.client, reason);
  }

  // ---- FlashTransport

  openStream(id: number): FlashChannel {
    return new FlowChannel(this.session, this.session.newSender(streamSignature(id), this.mainFlowId));
  }

  connecting(): void {}

  connected(timeoutMs: number | null): void {
    if (timeoutMs !== null) this.session.idleTimeoutMs = timeoutMs;
  }

  /** The peer's own addresses, handed to others in rendezvous; the answer carries our keepalive periods. */
  setPeerInfo(addresses: string[]): void {
    this.peerAddresses = addresses;
    const body = userControl(UserControl.KeepAlives, this.keepalive.server, this.keepalive.peer);
    this.mainChannel.send(MessageType.UserControl, 0, body, true);
  }

  /** Ends the session once what was written had a moment to leave (a refused connect's `_error`). */
  close(reason: string): void {
    if (this.session.closed || this.closing) return;
    this.session.flushNow();
    this.closing = setTimeout(() => {
      this.closing = null;
      this.session.close(reason);
    }, CLOSE_GRACE_MS);
    this.closing.unref?.();
  }

  log(level: LogLevel, message: string): void {
    const logger = this.context.logger;
    if ((level === 'debug' || level === 'trace') && !logger.enabled(level === 'debug' ? Level.DEBUG : Level.TRACE)) return;
    logger[level]('RTMFP', `${this.client.address}: ${message}`);
  }
}
