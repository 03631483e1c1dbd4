/**
 * RTMP as a transport of the Flash layer (src/protocols/flash): a channel is a chunk stream on a
 * message stream. The NetConnection's commands use chunk stream 3 on message stream 0, a NetStream's
 * commands chunk stream 5 on its own message stream, user control messages chunk stream 2 on
 * stream 0, media the fixed chunk streams 6 (audio), 7 (video) and 8 (data) so that a frame's chunk
 * body is made once for every player (only the 12-byte first header is per player), and each
 * `writer:newWriter()` one of the chunk streams 10..63.
 */
import type { Client } from '../../core/client';
import type { ServerContext } from '../../core/context';
import type { MediaFrame } from '../../core/media';
import { MessageType, isData } from '../flash/messages';
import type { FlashChannel, FlashTransport, LogLevel } from '../flash/transport';
import { Table } from '../../serialization/value';
import { secureProperties } from '../../transport/tls';
import { CSID } from './constants';
import type { RTMPSession } from './session';

/** The command object of connect's `_result`, what FMS answers (some players read fmsVer). */
const SERVER_PROPERTIES = Table.of({ fmsVer: 'FMS/3,5,1,525', capabilities: 31, mode: 1 });

export class RTMPChannel implements FlashChannel {
  constructor(
    private readonly transport: RTMPTransport,
    /** the chunk stream of this channel's commands */
    readonly csid: number,
    readonly streamId: number,
  ) {}

  private get session(): RTMPSession {
    return this.transport.session;
  }

  send(type: number, time: number, payload: Buffer): void {
    if (type === MessageType.UserControl) this.session.sendMessage(CSID.control, type, 0, 0, payload);
    else this.session.sendMessage(isData(type) ? CSID.data : this.csid, type, this.streamId, time, payload);
  }

  sendMedia(type: number, time: number, frame: MediaFrame, payload: Buffer): void {
    const csid = type === MessageType.Audio ? CSID.audio : type === MessageType.Video ? CSID.video : CSID.data;
    this.session.writeFrame(csid, type, this.streamId, time, frame, payload);
  }

  /** writer:writeRaw on RTMP: a user control message with the script's body */
  sendRaw(data: Buffer): void {
    this.session.sendMessage(CSID.control, MessageType.UserControl, 0, 0, data);
  }

  flush(): void {
    this.session.flushOutput();
  }

  queuedBytes(): number {
    return this.session.queuedBytes();
  }

  open(): FlashChannel {
    return this.transport.openWriterChannel();
  }

  close(): void {
    this.transport.releaseChannel(this);
  }
}

export class RTMPTransport implements FlashTransport {
  readonly mainChannel: RTMPChannel;
  readonly partialReliability = false;
  readonly connectProperties = SERVER_PROPERTIES;
  /** chunk streams handed to writer:newWriter() and still open */
  private readonly writerChannels = new Set<number>();

  constructor(readonly session: RTMPSession) {
    this.mainChannel = new RTMPChannel(this, CSID.command, 0);
  }

  get context(): ServerContext {
    return this.session.context;
  }

  get client(): Client {
    return this.session;
  }

  openStream(id: number): FlashChannel {
    return new RTMPChannel(this, CSID.streamCommand, id);
  }

  /** A writer's own chunk stream on message stream 0. */
  openWriterChannel(): RTMPChannel {
    for (let csid = CSID.firstExtraWriter; csid <= CSID.lastExtraWriter; csid++) {
      if (this.writerChannels.has(csid)) continue;
      this.writerChannels.add(csid);
      return new RTMPChannel(this, csid, 0);
    }
    throw new Error('too many writers on this RTMP session');
  }

  releaseChannel(channel: RTMPChannel): void {
    if (channel.csid >= CSID.firstExtraWriter) this.writerChannels.delete(channel.csid);
  }

  connecting(): void {
    // the secure channel's facts after the connect object and the URL query: a client cannot forge them
    for (const [k, v] of secureProperties(this.session.connection)) this.client.properties.set(k, v);
    this.session.sendProtocolSettings();
  }

  connected(timeoutMs: number | null): void {
    this.session.started(timeoutMs);
  }

  close(reason: string): void {
    this.session.close(reason);
  }

  log(level: LogLevel, message: string): void {
    this.session.log(level, message);
  }
}
