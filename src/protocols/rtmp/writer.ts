/**
 * `client.writer` and `writer:newWriter()` for RTMP (SPEC S3): a writer is a chunk stream on
 * message stream 0 (or a NetStream's id). Invocations are AMF commands, writeMessage answers the
 * RPC being served (`_result` with its transaction, like MonaServer), writeRaw sends a user control
 * message with the given body, writeStatusResponse an onStatus.
 */
import { Writer } from '../../core/writer';
import type { Value } from '../../serialization/value';
import { CSID, MessageType } from './constants';
import { levelOf, statusInfo } from './commands';
import type { RTMPSession } from './session';

export class RTMPWriter extends Writer {
  constructor(
    private readonly session: RTMPSession,
    readonly csid: number,
    readonly streamId: number,
    private readonly main: boolean,
  ) {
    super();
  }

  writeInvocation(name: string, args: Value[]): void {
    if (this.closed) return;
    this.session.sendCommand(this.csid, this.streamId, name, 0, null, args);
  }

  writeMessage(args: Value[]): void {
    if (this.closed) return;
    this.session.sendCommand(this.csid, this.streamId, '_result', this.session.takeTransaction(), null, args);
  }

  writeRaw(data: Buffer): void {
    if (this.closed) return;
    this.session.sendMessage(CSID.control, MessageType.UserControl, 0, 0, data);
  }

  writeStatusResponse(code: string, description = ''): void {
    if (this.closed) return;
    this.session.sendCommand(this.csid, this.streamId, 'onStatus', 0, null, [statusInfo(levelOf(code), code, description)]);
  }

  flush(): void {
    this.session.flushOutput();
  }

  newWriter(): Writer {
    return this.session.newWriter();
  }

  override close(): void {
    if (this.closed) return;
    super.close();
    if (this.main) this.session.close('closed by its writer');
    else this.session.releaseWriter(this);
  }
}
