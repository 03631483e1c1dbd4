import { Table } from '../serialization/value';
import type { Client } from './client';
import { MediaFrame, MediaType } from './media';
import type { Publication } from './publication';
import { QualityOfService } from './qos';

/**
 * What a protocol implements to receive a publication: it turns shared frames into its wire
 * format (using frame.serialized(format, ...) so the bytes are made once for all its listeners).
 */
export interface MediaSink {
  /** `time` is the listener's own timeline (starts near 0, never goes backwards) */
  writeMedia(frame: MediaFrame, time: number): void;
  /** the publisher started (again): NetStream.Play.PublishNotify / WebSocket `__publishing` */
  onPublicationStart(publication: Publication): void;
  /** the publisher left: NetStream.Play.UnpublishNotify / `__unpublishing` */
  onPublicationStop(publication: Publication): void;
  /** end of a burst of frames: write out what is buffered */
  flush(): void;
  /** bytes queued towards this listener and not yet on the wire (socket + protocol queues) */
  queuedBytes(): number;
  /**
   * The server ended this listener (too slow, kicked by a script or the admin...): the registry
   * has already unsubscribed it and told the scripts (onUnsubscribe); the protocol only tells its
   * peer (Play.Stop, end of the download...) and must not unsubscribe it again.
   */
  close(reason: string): void;
  /** RTMFP unbuffered plays and unreliable writers: drop instead of queueing when late */
  readonly unreliable?: boolean;
  /** bounds of its own instead of LISTENER_LIMITS (a relay to another server shares one link's queue) */
  readonly limits?: { readonly dropBytes: number; readonly closeBytes: number };
  /** who is at the other end when no client is (a relay: "relay to server 10.0.0.3:1936"), for logs */
  readonly endpoint?: string;
  /**
   * true for the image of a player another process of this server serves (`threads`): scripts see
   * its listener, frames never go to it and relays do not count it as a player here
   */
  readonly shadow?: boolean;
  /** receiveAudio/receiveVideo changed (a script's listener setters) */
  receiveChanged?(audio: boolean, video: boolean): void;
}

/** Back-pressure thresholds: one slow player must not grow memory without bound. */
export const LISTENER_LIMITS = {
  /** above this, non-key video is dropped and video resumes at the next key frame */
  dropBytes: 1 * 1024 * 1024,
  /** above this, the listener is disconnected */
  closeBytes: 8 * 1024 * 1024,
};

/** One subscription of one client to one publication (the scripts' `listener`). */
export class Listener {
  receiveAudio = true;
  receiveVideo = true;
  readonly audioQOS = new QualityOfService();
  readonly videoQOS = new QualityOfService();
  readonly dataQOS = new QualityOfService();
  private timeBase = -1;
  private lastTime = 0;
  /** video waits for a key frame: at start, after receiveVideo(true) and after congestion drops */
  private waitKey = true;
  private closed = false;

  constructor(
    readonly publication: Publication,
    readonly client: Client | null,
    readonly sink: MediaSink,
    /** the query after the stream name (`play("name?a=1")` → {a=1}) */
    readonly parameters: Table = new Table(),
    /** how the server ends this listener: the registry's unsubscribe, so every end is seen the same way */
    private readonly end: (listener: Listener, reason: string) => void = () => {},
  ) {}

  /** false once unsubscribed */
  get active(): boolean {
    return !this.closed;
  }

  get unbuffered(): boolean {
    return this.sink.unreliable === true;
  }

  setReceiveVideo(on: boolean): void {
    if (on && !this.receiveVideo) this.waitKey = true;
    this.receiveVideo = on;
    this.sink.receiveChanged?.(this.receiveAudio, on);
  }

  setReceiveAudio(on: boolean): void {
    this.receiveAudio = on;
    this.sink.receiveChanged?.(on, this.receiveVideo);
  }

  /**
   * Called when the publication starts or when the listener joins a running publication: sends
   * what a late joiner needs first (metadata, codec configs), then waits for a key frame.
   */
  start(): void {
    const pub = this.publication;
    this.sink.onPublicationStart(pub);
    this.waitKey = true;
    this.timeBase = -1;
    const at = pub.lastTime;
    if (pub.metadata) this.deliver(pub.metadata, at);
    if (pub.audioConfig && this.receiveAudio) this.deliver(pub.audioConfig, at);
    if (pub.videoConfig && this.receiveVideo) this.deliver(pub.videoConfig, at);
    this.sink.flush();
  }

  stop(): void {
    this.sink.onPublicationStop(this.publication);
  }

  /** Fan-out entry: decides whether this frame reaches this listener, then hands it over as is. */
  push(frame: MediaFrame): void {
    if (this.closed || this.sink.shadow) return;
    const queued = this.sink.queuedBytes();
    const limits = this.sink.limits ?? LISTENER_LIMITS;
    if (queued > limits.closeBytes) {
      this.kick(`too slow, ${queued} bytes queued`);
      return;
    }
    switch (frame.type) {
      case MediaType.Video:
        if (!this.receiveVideo) return;
        if (frame.config) break; // codec change: always through
        if (queued > limits.dropBytes || (this.unbuffered && queued > 0 && !frame.key)) {
          this.waitKey = true;
          this.videoQOS.drop();
          this.publication.listenerDroppedFrames++;
          return;
        }
        if (this.waitKey) {
          if (!frame.key) return;
          this.waitKey = false;
        }
        break;
      case MediaType.Audio:
        if (!this.receiveAudio) return;
        // before the first video key frame of a video publication, audio would start the timeline
        // ahead of the picture: hold it back so players start on the key frame
        if (this.waitKey && this.publication.hasVideo && this.receiveVideo && !frame.config) return;
        if (queued > limits.dropBytes && !frame.config) {
          this.audioQOS.drop();
          return;
        }
        break;
      default:
        break;
    }
    this.deliver(frame, frame.time);
  }

  private deliver(frame: MediaFrame, pubTime: number): void {
    let time: number;
    if (frame.config || frame.type === MediaType.Data) {
      time = this.lastTime;
    } else {
      if (this.timeBase < 0) this.timeBase = pubTime;
      time = pubTime - this.timeBase;
      if (time < this.lastTime) time = this.lastTime; // monotonic per listener
      this.lastTime = time;
    }
    const qos = frame.type === MediaType.Video ? this.videoQOS : frame.type === MediaType.Audio ? this.audioQOS : this.dataQOS;
    qos.add(frame.payload.length, Date.now(), this.client?.ping ?? 0);
    this.sink.writeMedia(frame, time);
  }

  /** The server ends this listener (through the registry, which then notifies the sink). */
  kick(reason: string): void {
    if (this.closed) return;
    this.end(this, reason);
  }

  /** Stops delivering (the registry calls it when the listener is unsubscribed). */
  detach(): void {
    this.closed = true;
  }
}
