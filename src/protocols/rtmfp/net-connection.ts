/**
 * The Flash application layer of one RTMFP session: the NetConnection flow (connect, setPeerInfo,
 * createStream/deleteStream, client RPC) and the NetStream flows, told apart by their per-flow
 * metadata ("TC\x04" + stream id, 0 = NetConnection). Same behaviour and script events as RTMP.
 */
import { connectionAppPath } from '../../core/app-host';
import type { ServerContext } from '../../core/context';
import { Level } from '../../logs/levels';
import { CallFailed, ConnectionRejected, InvalidApp } from '../../core/errors';
import { Table, type Value } from '../../serialization/value';
import { Reader, vlu } from './binary';
import { AMF0Reader } from '../../serialization/amf0';
import { MSG, header, parseFlashMessage, readInvocation, statusInfo, userControl } from './flash-message';
import type { IncomingFlow } from './flow';
import { FlowFlashWriter } from './flow-flash-writer';
import { NetGroupFlows } from './net-group';
import { NetStream } from './net-stream';
import { RtmfpClient } from './rtmfp-client';
import type { Session, SessionHandler } from './session';
import { parseQuery, splitUrl } from './url';

const STREAM_SIGNATURE = Buffer.from([0x54, 0x43, 0x04]); // "TC\x04"
const MAX_STREAMS = 64;

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

export class NetConnection implements SessionHandler {
  readonly client: RtmfpClient;
  private mainFlowId = -1;
  private readonly streams = new Map<number, NetStream>();
  private nextStreamId = 1;
  /** the addresses the peer announced with setPeerInfo (its private ones), for rendezvous */
  peerAddresses: string[] = [];
  readonly groups: NetGroupFlows;

  constructor(
    private readonly ctx: ServerContext,
    private readonly session: Session,
    private readonly keepalive: { server: number; peer: number },
  ) {
    this.client = new RtmfpClient(session);
    this.groups = new NetGroupFlows(ctx, session, this.client);
  }

  onFlow(flow: IncomingFlow): boolean {
    if (NetGroupFlows.claims(flow)) return this.groups.onFlow(flow);
    const id = signatureStream(flow.metadata);
    if (id < 0) return false;
    if (id === 0) {
      if (this.client.main) return this.mainFlowId === flow.id;
      this.mainFlowId = flow.id;
      this.client.main = new FlowFlashWriter(this.session, this.session.newSender(streamSignature(0), flow.id));
      return true;
    }
    return this.client.connected && this.streams.has(id);
  }

  onMessage(flow: IncomingFlow, message: Buffer): void {
    if (this.groups.owns(flow)) return this.groups.onMessage(flow, message);
    const id = signatureStream(flow.metadata);
    try {
      const m = parseFlashMessage(message);
      if (id === 0) this.onMainMessage(m.type, m.body);
      else this.streams.get(id)?.onMessage(m);
    } catch (e) {
      this.ctx.logger.debug('RTMFP', `${this.client.address}: bad message on flow ${flow.id}: ${(e as Error).message}`);
    }
  }

  private onMainMessage(type: number, body: Buffer): void {
    const w = this.client.main!;
    if (type !== MSG.Invocation && type !== MSG.InvocationAMF3) {
      if ((type === MSG.Data || type === MSG.DataAMF3) && this.client.connected) {
        this.ctx.host.onMessage(this.client, new AMF0Reader(body).readAll());
      }
      return;
    }
    const inv = readInvocation(body);
    if (this.ctx.logger.enabled(Level.TRACE)) this.ctx.logger.trace('RTMFP', `${this.client.address}: ${inv.name} (transaction ${inv.transactionId})`);
    if (inv.name === 'connect') {
      this.connect(inv.transactionId, inv.args);
      return;
    }
    if (!this.client.connected) return; // nothing before a successful connect
    const args = inv.args.slice(1);
    switch (inv.name) {
      case 'setPeerInfo':
        // the peer's own addresses, handed to others in rendezvous; the answer carries our keepalives
        this.peerAddresses = args.filter((a): a is string => typeof a === 'string' && /^(\[[0-9a-fA-F:.]+\]|[0-9.]+):\d+$/.test(a)).slice(0, 8);
        w.writeFlash(header(MSG.Raw, 0), userControl(0x29, this.keepalive.server, this.keepalive.peer));
        return;
      case 'createStream': {
        if (this.streams.size >= MAX_STREAMS) {
          this.error(inv.transactionId, 'NetConnection.Call.Failed', 'too many streams');
          return;
        }
        const id = this.nextStreamId++;
        const writer = new FlowFlashWriter(this.session, this.session.newSender(streamSignature(id), this.mainFlowId));
        this.streams.set(id, new NetStream(id, this.ctx, this.client, writer));
        w.invoke('_result', inv.transactionId, [id]);
        return;
      }
      case 'deleteStream': {
        const id = typeof args[0] === 'number' ? args[0] : -1;
        const s = this.streams.get(id);
        if (s) {
          s.stop();
          s.writer.close();
          this.streams.delete(id);
        }
        return;
      }
      case 'initStream':
      case 'closeStream':
        return;
      default:
        this.call(inv.name, inv.transactionId, args);
    }
  }

  private connect(transactionId: number, args: Value[]): void {
    const w = this.client.main!;
    if (this.client.connected) return;
    const command = args[0] instanceof Table ? args[0] : new Table();
    for (const [k, v] of command.fields) this.client.properties.fields.set(k, v);
    const tcUrl = command.get('tcUrl');
    const { path, query } = splitUrl(typeof tcUrl === 'string' ? tcUrl : '');
    this.client.query = query;
    for (const [k, v] of parseQuery(query).fields) this.client.properties.fields.set(k, v);
    this.client.path = connectionAppPath(path, (p) => this.ctx.host.exists(p));
    const encoding = command.get('objectEncoding');
    try {
      const result = this.ctx.connect(this.client, args.slice(1));
      // `timeout` (s) from onConnection replaces the idle timeout; it is not shown to the client
      const timeout = result?.field('timeout');
      if (typeof timeout === 'number' && timeout >= 0) {
        this.session.idleTimeoutMs = timeout * 1000;
        result!.fields.delete('timeout');
      }
      const info = statusInfo('status', 'NetConnection.Connect.Success', 'Connection succeeded', result);
      info.fields.set('objectEncoding', typeof encoding === 'number' ? encoding : 0);
      w.invoke('_result', transactionId, [info]);
    } catch (e) {
      const code = e instanceof InvalidApp ? 'NetConnection.Connect.InvalidApp' : 'NetConnection.Connect.Rejected';
      const description = e instanceof InvalidApp || e instanceof ConnectionRejected ? e.message : 'client rejected';
      if (!(e instanceof InvalidApp || e instanceof ConnectionRejected)) this.ctx.logger.error('RTMFP', `onConnection: ${(e as Error).message}`);
      w.invoke('_error', transactionId, [statusInfo('error', code, description)]);
      w.flush();
      setTimeout(() => this.session.close(description), 100).unref?.();
    }
  }

  private call(name: string, transactionId: number, args: Value[]): void {
    try {
      const results = this.ctx.host.call(this.client, name, args);
      if (transactionId > 0 || results.length) this.client.main!.invoke('_result', transactionId, results);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      if (!(e instanceof CallFailed)) this.ctx.logger.error('RTMFP', `${name}: ${message}`);
      this.error(transactionId, 'NetConnection.Call.Failed', message);
    }
  }

  private error(transactionId: number, code: string, description: string): void {
    this.client.main!.invoke('_error', transactionId, [statusInfo('error', code, description)]);
  }

  onAddressChanged(oldAddress: string): void {
    this.client.address = this.session.address;
    if (this.client.connected) this.ctx.host.onAddressChanged(this.client, oldAddress);
  }

  onFlowEnd(flow: IncomingFlow): void {
    this.groups.onFlowEnd(flow);
  }

  onClosed(): void {
    this.groups.close();
    for (const s of this.streams.values()) s.stop();
    this.streams.clear();
    this.client.main?.close();
    this.ctx.disconnect(this.client, this.session.closeReason || 'closed');
  }
}
