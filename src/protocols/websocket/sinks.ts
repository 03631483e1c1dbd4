/**
 * What WebSocket players receive from a publication. Data players (`["__play", name]`) get data
 * messages as JSON text frames and `__publishing`/`__unpublishing` notices (MonaServer's model; its
 * players get no audio/video). WebSocket-FLV players (S13, `ws://host/app/name.flv`) get the whole
 * stream as FLV in binary frames, for flv.js/mpegts.js. Frames are built once per MediaFrame.
 */
import type { MediaSink } from '../../core/listener';
import { DataType, type MediaFrame, MediaType } from '../../core/media';
import type { Publication } from '../../core/publication';
import { flvBody, flvHeader, flvTagHeader, flvTagTrailerOf } from '../../media/flv';
import { dataValuesOf } from '../../media/data-frame';
import { encodeJSON } from '../../serialization/json';
import type { Output } from '../../transport/connection';
import { Opcode, encodeFrame, frameHeader } from './frames';

/** A data frame as one complete WebSocket frame (null: cannot be expressed, skipped). */
export function dataFrameForWebSocket(frame: MediaFrame): Buffer | null {
  return frame.serialized('ws-data', (f) => {
    // JSON goes out as published, RAW bytes as a binary message; other types as JSON text
    if (f.dataType === DataType.JSON) return encodeFrame(Opcode.Text, f.payload);
    if (f.dataType === DataType.RAW) return encodeFrame(Opcode.Binary, f.payload);
    try {
      const values = dataValuesOf(f);
      return values && encodeFrame(Opcode.Text, encodeJSON(values));
    } catch {
      return null; // undecodable data reaches no WebSocket player
    }
  });
}

/**
 * Writes through the connection's output: coalesced per tick (the publisher's flush sends at once),
 * and a player that stops reading is dropped by the transport's stall timeout.
 */
abstract class WSSink implements MediaSink {
  onKicked: (reason: string) => void = () => {};
  constructor(protected readonly output: Output) {}

  protected write(b: Buffer): void {
    if (!this.output.closed) this.output.write(b);
  }
  abstract writeMedia(frame: MediaFrame, time: number): void;
  abstract onPublicationStart(publication: Publication): void;
  abstract onPublicationStop(publication: Publication): void;
  flush(): void {
    this.output.flush();
  }
  queuedBytes(): number {
    return this.output.queuedBytes();
  }
  close(reason: string): void {
    this.onKicked(reason);
  }
}

export class WSDataSink extends WSSink {
  writeMedia(frame: MediaFrame): void {
    if (frame.type !== MediaType.Data) return;
    const f = dataFrameForWebSocket(frame);
    if (f) this.write(f);
  }
  onPublicationStart(publication: Publication): void {
    this.write(encodeFrame(Opcode.Text, encodeJSON(['__publishing', publication.name])));
  }
  onPublicationStop(publication: Publication): void {
    this.write(encodeFrame(Opcode.Text, encodeJSON(['__unpublishing', publication.name])));
  }
}

export class WSFLVSink extends WSSink {
  private headerSent = false;

  writeMedia(frame: MediaFrame, time: number): void {
    const body = flvBody(frame);
    if (!body) return;
    if (!this.headerSent) {
      this.headerSent = true;
      this.write(encodeFrame(Opcode.Binary, flvHeader()));
    }
    // one binary message per tag: WS header + tag header are per listener, the body is shared
    const o = this.output;
    if (o.closed) return;
    o.write(frameHeader(Opcode.Binary, 11 + body.length + 4));
    o.write(flvTagHeader(frame.type, body.length, time));
    o.write(body);
    o.write(flvTagTrailerOf(frame, body));
  }
  onPublicationStart(): void {}
  onPublicationStop(): void {
    this.onKicked('publication ended');
  }
}
