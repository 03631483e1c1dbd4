/** The core Client of an RTMFP session (the scripts' `client`): rawId is the peer id. */
import { Client } from '../../core/client';
import type { Writer } from '../../core/writer';
import type { NetConnection } from './net-connection';
import type { Session } from './session';

export class RtmfpClient extends Client {
  readonly protocol = 'RTMFP';

  constructor(
    readonly session: Session,
    private readonly connection: NetConnection,
  ) {
    super(session.address, session.peerId, {
      get bytesRead() {
        return session.bytesReceived;
      },
      get bytesWritten() {
        return session.bytesSent;
      },
    });
  }

  /** the NetConnection's writer, once its flow arrived */
  get writer(): Writer {
    const flash = this.connection.flash;
    if (!flash) throw new Error('RTMFP client has no NetConnection flow yet');
    return flash.writer;
  }

  close(reason = 'closed by server'): void {
    this.session.close(reason);
  }
}
