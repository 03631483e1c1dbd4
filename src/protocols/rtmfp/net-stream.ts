/**
 * A NetStream over RTMFP flows: publish (media in through the client's flows carrying the stream
 * signature) and play (a MediaSink writing on a sending flow; `?unbuffered=true` or an unreliable
 * writer puts media on an abandonable flow). Status events mirror RTMP's (SPEC S5/S8).
 */
import type { ServerContext } from '../../core/context';
import { StreamRefused } from '../../core/errors';
import type { Listener, MediaSink } from '../../core/listener';
import { MediaFrame, MediaType } from '../../core/media';
import type { Publication } from '../../core/publication';
import { amf0DataOf } from '../../media/data-frame';
import { AMF0Reader, encodeAMF0 } from '../../serialization/amf0';
import { Table, type Value } from '../../serialization/value';
import { parseQuery } from './url';
import { MSG, header, statusInfo, userControl, type FlashMessage, readInvocation } from './flash-message';
import type { FlowFlashWriter } from './flow-flash-writer';
import type { RtmfpClient } from './rtmfp-client';

export class NetStream implements MediaSink {
  publication: Publication | null = null;
  listener: Listener | null = null;
  private media: FlowFlashWriter | null = null;
  private subscribing = false;
  unreliable = false;

  constructor(
    readonly id: number,
    private readonly ctx: ServerContext,
    private readonly client: RtmfpClient,
    /** status, data and (buffered) media go here */
    readonly writer: FlowFlashWriter,
  ) {}

  private status(code: string, description: string, error = false): void {
    this.writer.invoke('onStatus', 0, [statusInfo(error ? 'error' : 'status', code, description)]);
  }

  onMessage(m: FlashMessage): void {
    switch (m.type) {
      case MSG.Invocation:
      case MSG.InvocationAMF3:
        this.onInvocation(m.body);
        return;
      case MSG.Audio:
        this.publication?.pushAudio(m.time, m.body);
        return;
      case MSG.Video:
        this.publication?.pushVideo(m.time, m.body);
        return;
      case MSG.Data:
      case MSG.DataAMF3:
        this.onData(m.body);
        return;
      default:
        return;
    }
  }

  private onInvocation(body: Buffer): void {
    const inv = readInvocation(body);
    const args = inv.args.slice(1); // after the null command object
    switch (inv.name) {
      case 'play':
        this.play(typeof args[0] === 'string' ? args[0] : '');
        return;
      case 'publish':
        // ns.publish(false) / publish(null) is how Flash unpublishes
        if (args[0] === false || args[0] === null || args[0] === undefined) this.stop();
        else this.publish(typeof args[0] === 'string' ? args[0] : '');
        return;
      case 'closeStream':
        this.stop();
        return;
      case 'receiveAudio':
        this.listener?.setReceiveAudio(args[0] !== false);
        return;
      case 'receiveVideo':
        this.listener?.setReceiveVideo(args[0] !== false);
        return;
      default:
        return;
    }
  }

  /** `@setDataFrame onMetaData {...}` / `onMetaData {...}` keep metadata; other data is relayed. */
  private onData(body: Buffer): void {
    const pub = this.publication;
    if (!pub) return;
    const values = new AMF0Reader(body).readAll();
    let rest: Value[] = values;
    if (values[0] === '@setDataFrame') rest = values.slice(1);
    if (rest[0] === 'onMetaData') {
      const props = rest[1] instanceof Table ? rest[1] : new Table();
      pub.setMetadata(new MediaFrame(MediaType.Data, pub.lastTime, encodeAMF0('onMetaData', props)), props);
      return;
    }
    pub.pushData(values[0] === '@setDataFrame' ? encodeAMF0(...rest) : body);
  }

  private play(nameWithQuery: string): void {
    this.stop();
    const q = nameWithQuery.indexOf('?');
    const name = q >= 0 ? nameWithQuery.slice(0, q) : nameWithQuery;
    const parameters = q >= 0 ? parseQuery(nameWithQuery.slice(q + 1)) : new Table();
    const unbuffered = parameters.get('unbuffered');
    this.unreliable = unbuffered === true || unbuffered === 'true' || !this.writer.reliable;
    this.writer.writeFlash(header(MSG.Raw, 0), userControl(0, this.id)); // StreamBegin
    this.status('NetStream.Play.Reset', `Playing and resetting ${name}`);
    this.status('NetStream.Play.Start', `Started playing ${name}`);
    this.writer.writeFlash(header(MSG.Data, 0), encodeAMF0('|RtmpSampleAccess', true, true));
    if (this.unreliable) {
      this.media = this.writer.newWriter() as FlowFlashWriter;
      this.media.reliable = false;
    } else this.media = this.writer;
    this.subscribing = true;
    try {
      this.listener = this.ctx.publications.subscribe(this.client, name, this, parameters);
    } catch (e) {
      this.listener = null;
      const code = e instanceof StreamRefused ? `NetStream.${e.code}` : 'NetStream.Play.Failed';
      this.status(code, e instanceof Error ? e.message : String(e), true);
    } finally {
      this.subscribing = false;
    }
  }

  private publish(name: string): void {
    this.stop();
    try {
      this.publication = this.ctx.publications.publish(this.client, name);
      this.status('NetStream.Publish.Start', `${name} is now published`);
    } catch (e) {
      const code = e instanceof StreamRefused ? `NetStream.${e.code}` : 'NetStream.Publish.Failed';
      this.status(code, e instanceof Error ? e.message : String(e), true);
    }
  }

  /** closeStream / deleteStream / session end: leaves what this stream published or played. */
  stop(): void {
    const pub = this.publication;
    if (pub) {
      this.publication = null;
      this.ctx.publications.unpublish(pub);
      this.status('NetStream.Unpublish.Success', `${pub.name} is now unpublished`);
    }
    const l = this.listener;
    if (l) {
      this.listener = null;
      this.ctx.publications.unsubscribe(l);
      this.status('NetStream.Play.Stop', `Stopped playing ${l.publication.name}`);
    }
    if (this.media && this.media !== this.writer) this.media.close();
    this.media = null;
  }

  // MediaSink

  writeMedia(frame: MediaFrame, time: number): void {
    const w = this.media;
    if (!w) return;
    if (frame.type === MediaType.Data) {
      const amf = amf0DataOf(frame);
      if (amf) this.writer.writeFlash(header(MSG.Data, time), amf);
      return;
    }
    // the shared payload is handed as is; only the 5-byte header is per listener
    w.writeFlash(header(frame.type === MediaType.Audio ? MSG.Audio : MSG.Video, time), frame.payload);
  }

  onPublicationStart(pub: Publication): void {
    if (!this.subscribing) this.status('NetStream.Play.PublishNotify', `${pub.name} is now published`);
  }

  onPublicationStop(pub: Publication): void {
    this.status('NetStream.Play.UnpublishNotify', `${pub.name} is now unpublished`);
  }

  flush(): void {
    this.writer.flush();
  }

  queuedBytes(): number {
    return this.writer.queuedBytes + (this.media && this.media !== this.writer ? this.media.queuedBytes : 0);
  }

  close(reason: string): void {
    this.listener = null;
    this.status('NetStream.Play.Stop', reason);
    if (this.media && this.media !== this.writer) this.media.close();
    this.media = null;
  }
}
