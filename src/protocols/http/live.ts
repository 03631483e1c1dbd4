/**
 * Live publications over HTTP: `GET …/name.flv` / `name.ts` that is not a file subscribes
 * to publication `name` and streams it progressively until the publication ends or the client
 * leaves. Each frame's bytes come from frame.serialized(): made once, written to every socket.
 */
import type { MediaSink } from '../../core/listener';
import { type MediaFrame } from '../../core/media';
import type { Publication } from '../../core/publication';
import { flvBody, flvHeader, flvTagHeader, flvTagTrailerOf } from '../../media/flv';
import { tsChunk } from '../../media/mpegts';
import type { Output } from '../../transport/connection';

/**
 * Writes through the connection's output: coalesced into one writev per tick, and a player that
 * stops reading is dropped by the transport's stall timeout (core's listener limits drop frames
 * and close it before, on bytes).
 */
abstract class SocketSink implements MediaSink {
  protected ended = false;
  onEnd: (reason: string) => void = () => {};

  constructor(protected readonly output: Output) {}

  protected write(b: Buffer): void {
    if (this.ended || this.output.closed) return;
    this.output.write(b);
  }

  abstract writeMedia(frame: MediaFrame, time: number): void;

  onPublicationStart(_publication: Publication): void {}

  /** a progressive download ends with its publication */
  onPublicationStop(_publication: Publication): void {
    this.close('publication ended');
  }

  /** the publisher's burst is complete: out now rather than on the tick */
  flush(): void {
    this.output.flush();
  }

  queuedBytes(): number {
    return this.output.queuedBytes();
  }

  close(reason: string): void {
    if (this.ended) return;
    this.flush();
    this.ended = true;
    this.onEnd(reason);
  }
}

export class FLVSink extends SocketSink {
  private headerSent = false;

  writeMedia(frame: MediaFrame, time: number): void {
    const body = flvBody(frame);
    if (!body) return;
    if (!this.headerSent) {
      this.headerSent = true;
      this.write(flvHeader());
    }
    this.write(flvTagHeader(frame.type, body.length, time));
    this.write(body);
    this.write(flvTagTrailerOf(frame, body));
  }
}

export class TSSink extends SocketSink {
  private started = false;
  /** known from the publication's start, which the listener announces before any frame */
  private publication: Publication | null = null;

  override onPublicationStart(publication: Publication): void {
    this.publication = publication;
  }

  writeMedia(frame: MediaFrame): void {
    if (!this.publication) return;
    const chunk = tsChunk(this.publication, frame);
    if (chunk.data.length === 0) return;
    if (!this.started) {
      if (!chunk.tables) return; // a player needs PAT/PMT and a key frame first
      this.started = true;
    }
    this.write(chunk.data);
  }
}
