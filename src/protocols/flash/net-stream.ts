/**
 * One NetStream of a Flash connection, whatever carries it: publish (with its type), play (with
 * `?params` → listener.parameters), pause/unpause, seek, receiveAudio/receiveVideo, closeStream,
 * the publisher's media and data (`@setDataFrame`/`@clearDataFrame`/`onMetaData` kept on the
 * publication), and every NetStream status. As a player it is the MediaSink the publication fans out
 * to: each frame's payload is handed to the transport as is (shared by every listener); as a
 * publisher it is the publication's source, so the server can close it (`publication:close`).
 */
import { StreamRefused } from '../../core/errors';
import { LISTENER_LIMITS, type Listener, type MediaSink } from '../../core/listener';
import { DataType, MediaFrame, MediaType } from '../../core/media';
import type { Publication } from '../../core/publication';
import { publishTypeOf, type PublicationSource, type PublishType } from '../../core/publication-source';
import { prefixedStatusCode } from '../../core/status';
import * as path from 'node:path';
import { formatBytes, formatDuration } from '../../core/access-log';
import { appHook, HTTP_READ } from '../../core/app-hooks';
import { MediaFormatError } from '../../media/codecs/bits';
import { amf0DataOf } from '../../media/data-frame';
import { findMediaFile } from '../../media/files/names';
import { openMediaFile } from '../../media/files/open';
import { recordingTarget } from '../../media/files/names';
import { encodeAMF0 } from '../../serialization/amf0';
import { decodeQuery } from '../../serialization/query';
import { Table, type Value } from '../../serialization/value';
import { MessageType, UserControl, decodeData, encodeCommand, text, userControl } from './messages';
import { statusInfo } from './status';
import type { FlashChannel, FlashTransport } from './transport';
import { FilePlayer, type VodOutput } from './vod';

/** A number argument, or `fallback`. */
function num(v: Value | undefined, fallback: number): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : fallback;
}

/** What a stream needs from its NetConnection. */
export interface StreamOwner {
  readonly transport: FlashTransport;
  readonly amf3: boolean;
  /** the publisher's frames of this input burst are flushed to listeners at its end */
  touched(pub: Publication): void;
  /** data outside a publication: `client:onMessage(...)` */
  onClientData(type: number, payload: Buffer): void;
}

const SAMPLE_ACCESS = encodeAMF0('|RtmpSampleAccess', true, true);

/** `?a=1&b=x` after a stream name → {a=1, b="x"} (bare tokens become items). */
export function streamParameters(query: string): Table {
  const out = new Table();
  for (const v of decodeQuery(query)) {
    if (v instanceof Table) for (const [k, x] of v.fields) out.set(k, x);
    else out.items.push(v);
  }
  return out;
}

export class NetStream implements MediaSink, PublicationSource {
  publication: Publication | null = null;
  listener: Listener | null = null;
  /** where a player's audio and video go: this stream's channel, or an unreliable sibling (RTMFP `?unbuffered=true`) */
  private media: FlashChannel | null = null;
  /** Play.Reset/Play.Start already sent for the current play */
  private announced = false;
  private paused = false;
  private playName = '';
  /** MediaSink: late media may be dropped rather than queued (core drops non-key video while anything waits) */
  unreliable = false;
  /** a media file being played (VOD), instead of a listener */
  private file: FilePlayer | null = null;
  /** counts plays and stops: an open that resolves after another command is dropped */
  private fileToken = 0;
  private fileSince = 0;
  /** the player's buffer length (setBufferLength), ms; null until it says */
  private bufferMs: number | null = null;

  constructor(
    private readonly owner: StreamOwner,
    readonly id: number,
    /** statuses, data and (reliable) media of this stream */
    readonly channel: FlashChannel,
  ) {}

  private get transport(): FlashTransport {
    return this.owner.transport;
  }

  /** An onStatus on this stream; its level follows the one rule for codes (core/status.ts). */
  status(code: string, description: string, details: string): void {
    const { type, payload } = encodeCommand(this.owner.amf3, 'onStatus', 0, null, [statusInfo(code, description, { details })]);
    this.channel.send(type, 0, payload, true);
  }

  userControl(event: UserControl): void {
    this.channel.send(MessageType.UserControl, 0, userControl(event, this.id), true);
  }

  /** The NetStream commands; false when `name` is not one (the NetConnection handles it). */
  onCommand(name: string, args: Value[]): boolean {
    const arg0 = args[0];
    switch (name) {
      case 'publish':
        // publish(false) (or null) is how Flash stops publishing
        if (arg0 === false || arg0 === null || arg0 === undefined) this.stop(true);
        else this.publish(text(arg0), publishTypeOf(args[1]));
        return true;
      case 'play':
        if (arg0 === false || arg0 === null || arg0 === undefined) this.stop(true);
        else this.play(text(arg0), num(args[1], -2), num(args[2], -1), args[3] !== false);
        return true;
      case 'pause':
        this.pause(arg0 !== false, typeof args[1] === 'number' ? args[1] : undefined);
        return true;
      case 'seek':
        this.seek(typeof arg0 === 'number' ? arg0 : 0);
        return true;
      case 'receiveAudio':
        this.listener?.setReceiveAudio(arg0 !== false);
        return true;
      case 'receiveVideo':
        this.listener?.setReceiveVideo(arg0 !== false);
        return true;
      case 'closeStream':
        this.stop(true);
        return true;
      default:
        return false;
    }
  }

  // ---- publishing

  publish(rawName: string, type: PublishType): void {
    if (this.publication || this.listener) this.stop(true);
    // a query after the name says nothing about the publication's name (OBS/ffmpeg keys, tokens)
    let name = rawName.split('?')[0];
    // recording: the name says the file (`cam` → cam.flv, `cam.mp4`, `mp4:cam`) and the publication is `cam`
    let record: string | null = null;
    if (type !== 'live') ({ name, file: record } = recordingTarget(name));
    const ctx = this.transport.context;
    try {
      this.publication = ctx.publications.publish(this.transport.client, name, { type, source: this, record });
    } catch (e) {
      if (!(e instanceof StreamRefused)) throw e;
      this.status(`NetStream.${e.code}`, e.message, name);
      return;
    }
    this.userControl(UserControl.StreamBegin);
    this.status('NetStream.Publish.Start', `${name} is now published`, name);
  }

  /** Audio or video from the peer on this stream (ignored unless it publishes); `lost` messages lost before it. */
  onMedia(type: number, time: number, payload: Buffer, lost = 0): void {
    const pub = this.publication;
    if (!pub) return;
    this.owner.touched(pub);
    if (type === MessageType.Audio) pub.pushAudio(time, payload, undefined, lost);
    else pub.pushVideo(time, payload, undefined, lost);
  }

  /** A data message on this stream: the publication's metadata or data, `client:onMessage` when not publishing. */
  onData(type: number, time: number, payload: Buffer, lost = 0): void {
    const pub = this.publication;
    if (!pub) {
      this.owner.onClientData(type, payload);
      return;
    }
    this.owner.touched(pub);
    const values = decodeData(type, payload);
    let name = text(values[0]);
    let rest = values.slice(1);
    if (name === '@clearDataFrame') {
      pub.setMetadata(null, new Table());
      return;
    }
    if (name === '@setDataFrame') {
      name = text(rest[0]);
      rest = rest.slice(1);
    } else if (name !== 'onMetaData') {
      // other data (cue points, app data): carried as AMF0 whatever the client's encoding
      pub.pushData(type === MessageType.DataAMF3 ? encodeAMF0(...values) : payload, DataType.AMF0, time, undefined, lost);
      return;
    }
    const props = rest[0] instanceof Table ? rest[0] : new Table();
    pub.setMetadata(new MediaFrame(MediaType.Data, time, encodeAMF0(name || 'onMetaData', props)), props);
  }

  /** PublicationSource: a recording of this publication started, stopped or failed. */
  notify(code: string, description: string): void {
    this.status(code, description, this.publication?.name ?? '');
    this.channel.flush();
  }

  /** PublicationSource: the server ends this publishing (publication:close). */
  closePublication(code: string | null, description: string | null): void {
    const pub = this.publication;
    if (!pub) return;
    this.publication = null;
    this.status(prefixedStatusCode('NetStream', code || 'Publish.Error'), description ?? `${pub.name} is closed by the server`, pub.name);
    this.userControl(UserControl.StreamEOF);
    this.transport.context.publications.unpublish(pub);
    this.channel.flush();
  }

  // ---- playing

  /**
   * play(name, start, len, reset) as Flash Media Server reads it: start -2 (the default) plays the
   * live publication when one is published, else a media file of that name (`mp4:x.mp4`, `x.flv`,
   * `x` → x.flv or x.mp4), else waits for the publication; -1 is live only; more than 0 is a file
   * from that time on (`NetStream.Play.StreamNotFound` without one); 0 is the file from its start,
   * but a running publication first (rtmpdump sends 0 for live streams). On the wire start and len are
   * milliseconds (Flash Player, ffmpeg and rtmpdump send -2000 and -1000 for -2 and -1; -2/-1 are
   * read the same).
   */
  play(rawName: string, start = -2, len = -1, reset = true): void {
    if (this.publication || this.listener || this.file) this.stop(true);
    const q = rawName.indexOf('?');
    const name = q < 0 ? rawName : rawName.slice(0, q);
    const parameters = q < 0 ? new Table() : streamParameters(rawName.slice(q + 1));
    this.playName = name;
    this.announced = false;
    this.paused = false;
    const liveOnly = start === -1 || start === -1000;
    if (!liveOnly) {
      const ctx = this.transport.context;
      // start 0 is what rtmpdump sends for a live stream too: a running publication is played then
      const live = start <= 0 && ctx.publications.get(name)?.running === true;
      if (!live) {
        const appDir = path.join(ctx.wwwDir, ...this.transport.client.path.split('/').filter((x) => x !== ''));
        const found = findMediaFile(ctx.wwwDir, appDir, name);
        if (found) return this.playFile(name, found.file, appDir, parameters, Math.max(0, start), len >= 0 ? len : -1, reset);
        if (start > 0) {
          this.status('NetStream.Play.StreamNotFound', `${name} not found`, name);
          this.channel.flush();
          return;
        }
      }
    }
    const unbuffered = parameters.get('unbuffered');
    this.unreliable = this.transport.partialReliability && (unbuffered === true || unbuffered === 'true');
    // open before subscribing: a running publication starts delivering inside subscribe()
    this.media = this.unreliable ? this.channel.open() : this.channel;
    try {
      this.listener = this.transport.context.publications.subscribe(this.transport.client, name, this, parameters);
    } catch (e) {
      this.closeMedia();
      if (!(e instanceof StreamRefused)) throw e;
      // the script refused: Play.Failed alone, never a Play.Start first
      this.status(`NetStream.${e.code}`, e.message, name);
      this.channel.flush();
      return;
    }
    if (!this.announced) this.announce();
    this.channel.flush();
  }

  /** Stream Begin, Play.Reset, Play.Start, |RtmpSampleAccess: what players wait for. */
  private announce(): void {
    this.announced = true;
    const name = this.playName;
    this.userControl(UserControl.StreamBegin);
    this.status('NetStream.Play.Reset', `Playing and resetting ${name}`, name);
    this.status('NetStream.Play.Start', `Started playing ${name}`, name);
    this.channel.send(MessageType.DataAMF0, 0, SAMPLE_ACCESS, true);
  }

  // ---- playing a file (VOD)

  /** A media file of the app: `client:onRead(file, params)` rules, then a FilePlayer plays it. */
  private playFile(name: string, file: string, appDir: string, parameters: Table, startMs: number, lenMs: number, reset: boolean): void {
    const ctx = this.transport.context;
    const client = this.transport.client;
    const hook = appHook(ctx.host, HTTP_READ);
    let target = { file, path: '' };
    if (hook) {
      let decision;
      try {
        decision = hook.onRead(client, file, parameters);
      } catch (e) {
        this.status('NetStream.Play.Failed', (e as Error).message, name);
        this.channel.flush();
        return;
      }
      if (decision.file === null) {
        this.status('NetStream.Play.Failed', `Not authorized to play ${name}`, name);
        this.channel.flush();
        return;
      }
      if (decision.file !== file) {
        const other = findMediaFile(ctx.wwwDir, appDir, decision.file);
        if (!other) {
          this.status('NetStream.Play.StreamNotFound', `${decision.file} not found`, name);
          this.channel.flush();
          return;
        }
        target = other;
      }
    }
    if (!target.path) target = findMediaFile(ctx.wwwDir, appDir, target.file) ?? target;
    const token = ++this.fileToken;
    openMediaFile(target.path).then(
      (reader) => {
        if (token !== this.fileToken) {
          reader.close().catch(() => undefined);
          return;
        }
        this.file = new FilePlayer(this.vodOutput(), reader, name, lenMs);
        this.fileSince = Date.now();
        ctx.logger.info(client.protocol, `${client.address} plays file ${target.file}`, {
          event: 'play', protocol: client.protocol, address: client.address, app: client.path || '/', client: client.id, stream: name, file: target.file,
        });
        if (this.bufferMs !== null) this.file.setBufferLength(this.bufferMs);
        this.file.start(startMs, reset);
      },
      (e: Error) => {
        if (token !== this.fileToken) return;
        this.transport.log('warn', `play ${name}: ${e.message}`);
        this.status('NetStream.Play.Failed', `${name}: ${e instanceof MediaFormatError ? e.message : 'cannot be read'}`, name);
        this.channel.flush();
      },
    );
  }

  private vodOutput(): VodOutput {
    return {
      channel: this.channel,
      status: (code, description, details) => this.status(code, description, details),
      userControl: (event) => this.userControl(event),
      log: (level, message) => this.transport.log(level, message),
      ended: (player, bytes, reason) => this.fileEnded(player, bytes, reason),
    };
  }

  private fileEnded(player: FilePlayer, bytes: number, reason: string): void {
    if (this.file !== player) return;
    this.file = null;
    player.close();
    const client = this.transport.client;
    const duration = Date.now() - this.fileSince;
    this.transport.context.logger.info(
      client.protocol,
      `${client.address} stopped playing file ${player.name} after ${formatDuration(duration)} (${formatBytes(bytes)} sent): ${reason}`,
      { event: 'stop', protocol: client.protocol, address: client.address, app: client.path || '/', client: client.id, stream: player.name, duration, bytesOut: bytes, reason },
    );
  }

  /** setBufferLength (user control 3) from the player, ms. */
  setBufferLength(ms: number): void {
    this.bufferMs = ms;
    this.file?.setBufferLength(ms);
  }

  pause(on: boolean, playerMs?: number): void {
    if (this.file) {
      this.file.pause(on, playerMs);
      return;
    }
    const listener = this.listener;
    if (!listener || on === this.paused) return;
    this.paused = on;
    if (on) {
      this.status('NetStream.Pause.Notify', `Pausing ${this.playName}`, this.playName);
    } else {
      // restart video on a key frame: toggling receiveVideo makes the listener wait for one
      if (listener.receiveVideo) {
        listener.setReceiveVideo(false);
        listener.setReceiveVideo(true);
      }
      this.status('NetStream.Unpause.Notify', `Unpausing ${this.playName}`, this.playName);
    }
    this.channel.flush();
  }

  /** A live stream has no past to seek into: acknowledged so players keep going. */
  seek(time: number): void {
    if (this.file) {
      this.file.seek(time);
      return;
    }
    if (!this.listener) return;
    this.status('NetStream.Seek.Notify', `Seeking ${time} (stream ${this.playName})`, this.playName);
    this.channel.flush();
  }

  private closeMedia(): void {
    if (this.media && this.media !== this.channel) this.media.close();
    this.media = null;
  }

  /** closeStream / publish(false) / deleteStream / session end: unpublish or unsubscribe. */
  stop(notify: boolean): void {
    const ctx = this.transport.context;
    const pub = this.publication;
    if (pub) {
      this.publication = null;
      // unpublished first: a recording's NetStream.Record.Stop comes before Unpublish.Success, as FMS says it
      ctx.publications.unpublish(pub);
      if (notify) this.status('NetStream.Unpublish.Success', `${pub.name} is now unpublished`, pub.name);
    }
    this.fileToken++;
    const file = this.file;
    if (file) {
      this.fileEnded(file, file.sentBytes, 'stopped');
      if (notify) {
        this.status('NetStream.Play.Stop', `Stopped playing ${file.name}`, file.name);
        this.userControl(UserControl.StreamEOF);
      }
    }
    const listener = this.listener;
    if (listener) {
      this.listener = null;
      ctx.publications.unsubscribe(listener);
      if (notify) {
        this.status('NetStream.Play.Stop', `Stopped playing ${listener.publication.name}`, listener.publication.name);
        this.userControl(UserControl.StreamEOF);
      }
    }
    this.closeMedia();
    if (notify) this.channel.flush();
  }

  // ---- MediaSink

  writeMedia(frame: MediaFrame, time: number): void {
    if (this.paused) return;
    switch (frame.type) {
      case MediaType.Audio:
      case MediaType.Video: {
        const media = this.media;
        if (!media) return;
        // what the transport lost towards this player (its channel carries audio and video alike)
        const lost = media.takeLost?.() ?? 0;
        if (lost > 0 && this.listener) (frame.type === MediaType.Video ? this.listener.videoQOS : this.listener.audioQOS).lost(lost);
        media.sendMedia(frame.type, time, frame, frame.payload, !this.unreliable);
        return;
      }
      default: {
        // data stays reliable and in order with statuses, on the stream's own channel
        const payload = amf0DataOf(frame);
        if (payload) this.channel.sendMedia(MessageType.DataAMF0, time, frame, payload, true);
      }
    }
  }

  onPublicationStart(pub: Publication): void {
    if (!this.announced) {
      this.announce();
      return;
    }
    this.userControl(UserControl.StreamBegin);
    this.status('NetStream.Play.PublishNotify', `${pub.name} is now published`, pub.name);
  }

  onPublicationStop(pub: Publication): void {
    this.status('NetStream.Play.UnpublishNotify', `${pub.name} is now unpublished`, pub.name);
    this.channel.flush();
  }

  flush(): void {
    // media leaves on the transport's own schedule (RTMP: its coalescing tick, one writev per
    // player for several frames; RTMFP: the end of the tick, under the congestion window)
  }

  queuedBytes(): number {
    const media = this.media;
    return this.channel.queuedBytes() + (media && media !== this.channel ? media.queuedBytes() : 0);
  }

  /** The server ended this listener (too slow, kicked by a script or the admin): the registry already unsubscribed it. */
  close(reason: string): void {
    this.listener = null;
    this.closeMedia();
    if (this.channel.queuedBytes() > LISTENER_LIMITS.dropBytes) {
      // a player that far behind cannot catch up, and a status would wait behind its queue: end
      // the session, which frees that queue
      this.transport.close(reason);
      return;
    }
    this.status('NetStream.Play.Stop', reason, this.playName);
    this.userControl(UserControl.StreamEOF);
    this.channel.flush();
  }
}

