/** The core Client of an RTMFP session (SPEC S3 `client`): rawId is the peer id. */
import { Client } from '../../core/client';
import type { Writer } from '../../core/writer';
import type { FlowFlashWriter } from './flow-flash-writer';
import type { Session } from './session';

export class RtmfpClient extends Client {
  readonly protocol = 'RTMFP';
  /** the NetConnection writer, set when the connect flow arrives */
  main: FlowFlashWriter | null = null;

  constructor(readonly session: Session) {
    super(session.address, session.peerId, {
      get bytesRead() {
        return session.bytesReceived;
      },
      get bytesWritten() {
        return session.bytesSent;
      },
    });
  }

  get writer(): Writer {
    if (!this.main) throw new Error('RTMFP client has no NetConnection flow yet');
    return this.main;
  }

  close(reason = 'closed by server'): void {
    this.session.close(reason);
  }
}
