/** Errors core and scripting raise for protocols to turn into their own status messages. */

/** onConnection refused the client (RTMP/RTMFP: NetConnection.Connect.Rejected). */
export class ConnectionRejected extends Error {
  constructor(message = 'client rejected') {
    super(message);
    this.name = 'ConnectionRejected';
  }
}

/** The URL names no application folder (NetConnection.Connect.InvalidApp). */
export class InvalidApp extends Error {
  constructor(readonly path: string) {
    super(`Application ${path || '/'} doesn't exist`);
    this.name = 'InvalidApp';
  }
}

/** An RPC failed: script error or unknown method (NetConnection.Call.Failed). */
export class CallFailed extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CallFailed';
  }
}

export class MethodNotFound extends CallFailed {
  constructor(readonly method: string) {
    super(`Method '${method}' not found`);
    this.name = 'MethodNotFound';
  }
}

/** A publish or play refused: code is the NetStream status suffix (Publish.BadName, Play.Failed...). */
export class StreamRefused extends Error {
  constructor(
    readonly code: 'Publish.BadName' | 'Publish.Failed' | 'Play.Failed' | 'Play.StreamNotFound',
    message: string,
  ) {
    super(message);
    this.name = 'StreamRefused';
  }
}
