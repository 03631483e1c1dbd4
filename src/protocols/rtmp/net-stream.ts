/**
 * One NetStream of an RTMP session (SPEC S5): publish, play, pause, receiveAudio/receiveVideo,
 * seek, closeStream, and the publisher's media and data. As a player it is the MediaSink the
 * publication fans out to: each frame's chunk body is shared (sharedMediaBody), this stream only
 * adds its own 12-byte header.
 */
import { StreamRefused } from '../../core/errors';
import { LISTENER_LIMITS, type Listener, type MediaSink } from '../../core/listener';
import { DataType, MediaFrame, MediaType } from '../../core/media';
import type { Publication } from '../../core/publication';
import { amf0DataOf } from '../../media/data-frame';
import { decodeQuery } from '../../serialization/query';
import { encodeAMF0 } from '../../serialization/amf0';
import { Table, type Value } from '../../serialization/value';
import { CSID, MessageType, UserControl } from './constants';
import { decodeData, text } from './commands';
import type { RTMPSession } from './session';

export class RTMPStream implements MediaSink {
  publication: Publication | null = null;
  listener: Listener | null = null;
  /** Play.Reset/Play.Start already sent for the current play */
  private announced = false;
  private paused = false;
  private playName = '';

  constructor(
    readonly session: RTMPSession,
    readonly id: number,
  ) {}

  private status(level: 'status' | 'error', code: string, description: string, extra?: Record<string, Value>): void {
    this.session.streamStatus(this.id, level, code, description, extra);
  }

  // ---- publishing

  publish(rawName: string): void {
    const ctx = this.session.context;
    if (this.publication || this.listener) this.stop();
    const name = rawName.split('?')[0];
    try {
      this.publication = ctx.publications.publish(this.session, name);
    } catch (e) {
      if (e instanceof StreamRefused) {
        this.status('error', `NetStream.${e.code}`, e.message);
        return;
      }
      throw e;
    }
    this.session.sendUserControl(UserControl.StreamBegin, this.id);
    this.status('status', 'NetStream.Publish.Start', `${name} is now published`, { details: name });
  }

  /** Audio/video/data received on this stream (only meaningful while publishing). */
  onMedia(type: number, timestamp: number, payload: Buffer): void {
    const pub = this.publication;
    if (!pub) {
      if (type === MessageType.DataAMF0 || type === MessageType.DataAMF3) this.session.onClientData(type, payload);
      return;
    }
    this.session.touched(pub);
    if (type === MessageType.Audio) pub.pushAudio(timestamp, payload);
    else if (type === MessageType.Video) pub.pushVideo(timestamp, payload);
    else this.onPublisherData(type, timestamp, payload);
  }

  private onPublisherData(type: number, timestamp: number, payload: Buffer): void {
    const pub = this.publication as Publication;
    const values = decodeData(type, payload);
    let name = text(values[0]);
    let rest = values.slice(1);
    if (name === '@setDataFrame' || name === '@clearDataFrame') {
      if (name === '@clearDataFrame') {
        pub.setMetadata(null, new Table());
        return;
      }
      name = text(rest[0]);
      rest = rest.slice(1);
    } else if (name !== 'onMetaData') {
      // other data (cue points, app data): forwarded as AMF0 whatever the client encoding
      const body = type === MessageType.DataAMF3 ? encodeAMF0(...values) : payload;
      pub.pushData(body, DataType.AMF0, timestamp);
      return;
    }
    const props = rest[0] instanceof Table ? rest[0] : new Table();
    const frame = new MediaFrame(MediaType.Data, timestamp, encodeAMF0(name || 'onMetaData', props));
    pub.setMetadata(frame, props);
  }

  // ---- playing

  play(rawName: string): void {
    const ctx = this.session.context;
    if (this.publication || this.listener) this.stop();
    const q = rawName.indexOf('?');
    const name = q < 0 ? rawName : rawName.slice(0, q);
    const parameters = new Table();
    if (q >= 0) {
      for (const v of decodeQuery(rawName.slice(q + 1))) {
        if (v instanceof Table) for (const [k, x] of v.fields) parameters.set(k, x);
      }
    }
    this.playName = name;
    this.announced = false;
    this.paused = false;
    try {
      this.listener = ctx.publications.subscribe(this.session, name, this, parameters);
    } catch (e) {
      if (e instanceof StreamRefused) {
        this.status('error', `NetStream.${e.code}`, e.message);
        return;
      }
      throw e;
    }
    if (!this.announced) this.announce();
    this.session.flushOutput();
  }

  /** Stream Begin, Play.Reset, Play.Start, |RtmpSampleAccess: what players wait for (SPEC S5). */
  private announce(): void {
    this.announced = true;
    const name = this.playName;
    this.session.sendUserControl(UserControl.StreamBegin, this.id);
    this.status('status', 'NetStream.Play.Reset', `Playing and resetting ${name}`, { details: name });
    this.status('status', 'NetStream.Play.Start', `Started playing ${name}`, { details: name });
    this.session.sendMessage(CSID.data, MessageType.DataAMF0, this.id, 0, encodeAMF0('|RtmpSampleAccess', true, true));
  }

  pause(on: boolean, time: number): void {
    if (!this.listener) return;
    if (on === this.paused) return;
    this.paused = on;
    if (on) {
      this.status('status', 'NetStream.Pause.Notify', `Pausing ${this.playName}`, { details: this.playName });
    } else {
      // restart video on a key frame: toggling receiveVideo makes the listener wait for one
      if (this.listener.receiveVideo) {
        this.listener.setReceiveVideo(false);
        this.listener.setReceiveVideo(true);
      }
      this.status('status', 'NetStream.Unpause.Notify', `Unpausing ${this.playName}`, { details: this.playName });
    }
    void time;
  }

  seek(time: number): void {
    // a live stream has no past to seek into: acknowledge so players keep going
    this.status('status', 'NetStream.Seek.Notify', `Seeking ${time} (stream ${this.playName})`, { details: this.playName });
  }

  receiveAudio(on: boolean): void {
    this.listener?.setReceiveAudio(on);
  }

  receiveVideo(on: boolean): void {
    this.listener?.setReceiveVideo(on);
  }

  /** closeStream / deleteStream / session end: unpublish or unsubscribe. */
  stop(notify = true): void {
    const ctx = this.session.context;
    const pub = this.publication;
    if (pub) {
      this.publication = null;
      ctx.publications.unpublish(pub);
      if (notify) this.status('status', 'NetStream.Unpublish.Success', `${pub.name} is now unpublished`, { details: pub.name });
    }
    const listener = this.listener;
    if (listener) {
      this.listener = null;
      ctx.publications.unsubscribe(listener);
      if (notify) {
        this.status('status', 'NetStream.Play.Stop', `Stopped playing ${listener.publication.name}`, { details: listener.publication.name });
        this.session.sendUserControl(UserControl.StreamEOF, this.id);
      }
    }
  }

  // ---- MediaSink

  writeMedia(frame: MediaFrame, time: number): void {
    if (this.paused) return;
    const s = this.session;
    switch (frame.type) {
      case MediaType.Audio:
        s.writeFrame(CSID.audio, MessageType.Audio, this.id, time, frame, frame.payload);
        break;
      case MediaType.Video:
        s.writeFrame(CSID.video, MessageType.Video, this.id, time, frame, frame.payload);
        break;
      default: {
        const payload = amf0DataOf(frame);
        if (payload) s.writeFrame(CSID.data, MessageType.DataAMF0, this.id, time, frame, payload);
      }
    }
  }

  onPublicationStart(pub: Publication): void {
    if (!this.announced) {
      this.announce();
      return;
    }
    this.session.sendUserControl(UserControl.StreamBegin, this.id);
    this.status('status', 'NetStream.Play.PublishNotify', `${pub.name} is now published`, { details: pub.name });
  }

  onPublicationStop(pub: Publication): void {
    this.status('status', 'NetStream.Play.UnpublishNotify', `${pub.name} is now unpublished`, { details: pub.name });
    this.session.flushOutput();
  }

  flush(): void {
    // media goes out on the server's coalescing tick (RTMP_DEFAULTS.flushIntervalMs): one writev
    // per player carries several frames instead of one syscall per frame per player
  }

  queuedBytes(): number {
    return this.session.queuedBytes();
  }

  close(reason: string): void {
    const listener = this.listener;
    this.listener = null;
    if (listener) this.session.context.publications.unsubscribe(listener);
    if (this.session.queuedBytes() > LISTENER_LIMITS.dropBytes) {
      // a TCP player that far behind cannot catch up: end the session, which frees its queue
      this.session.close(reason);
      return;
    }
    this.status('status', 'NetStream.Play.Stop', reason, { details: this.playName });
    this.session.flushOutput();
  }
}


