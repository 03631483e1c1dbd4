import { prefixedStatusCode, statusLevel } from '../../core/status';
import { Client, type TrafficCounters } from '../../core/client';
import { Writer } from '../../core/writer';
import { Table, type Value } from '../../serialization/value';
import { setCookieHeader } from './cookies';

/** What an HTTP client needs from its connection (the session implements it). */
export interface HTTPConnection {
  close(reason?: string): void;
}

/**
 * What the script wrote through `client.writer` while one request was being handled: values go
 * into the reply in the request's format, raw bytes replace it (custom responses from onRead).
 */
export class ReplyCollector {
  values: Value[] = [];
  raw: Buffer[] = [];
  rawBytes = 0;
  cookies: string[] = [];
}

/** what a script may queue for one HTTP answer (pushes between requests wait here) */
const MAX_VALUES = 10_000;
const MAX_RAW_BYTES = 16 * 1024 * 1024;

/**
 * HTTP has no channel of its own towards the client: what a script writes lands in the reply of
 * the request being handled. Outside a request (a push from a timer) there is nowhere to send it:
 * it waits for the next request of this client.
 */
export class HTTPWriter extends Writer {
  collector = new ReplyCollector();

  constructor(private readonly client: HTTPClient) {
    super();
  }

  private push(values: Value[]): void {
    if (this.collector.values.length + values.length > MAX_VALUES) return; // nobody is reading: drop
    this.collector.values.push(...values);
  }
  writeInvocation(name: string, args: Value[]): void {
    this.push([name, ...args]);
  }
  writeMessage(args: Value[]): void {
    this.push(args);
  }
  writeRaw(data: Buffer): void {
    if (this.collector.rawBytes + data.length > MAX_RAW_BYTES) return;
    this.collector.raw.push(data);
    this.collector.rawBytes += data.length;
  }
  /** `{level, code, description}` in the answer: the code named and graded as Flash clients get it (core/status.ts) */
  writeStatusResponse(code: string, description = ''): void {
    const full = prefixedStatusCode('NetConnection', code);
    this.push([Table.of({ level: statusLevel(full), code: full, description })]);
  }
  flush(): void {
    /* the reply goes out when the request is answered */
  }
  newWriter(): Writer {
    throw new Error('HTTP has only one writer per client');
  }
  override close(): void {
    super.close();
    this.client.close();
  }
}

/**
 * The bytes of `socket` from `mark` on: a keep-alive connection carries its clients one after the
 * other, each counting from where the previous one left.
 */
export function trafficFrom(socket: TrafficCounters, mark: { bytesRead: number; bytesWritten: number }): TrafficCounters {
  return {
    get bytesRead() {
      return socket.bytesRead - mark.bytesRead;
    },
    get bytesWritten() {
      return socket.bytesWritten - mark.bytesWritten;
    },
  };
}

/**
 * One HTTP client: a connection and its app path + query; a change of either on a
 * kept-alive connection makes a new client.
 */
export class HTTPClient extends Client {
  /** "HTTP", or "HTTPS" over TLS */
  readonly protocol: string;
  private readonly mainWriter = new HTTPWriter(this);
  /** onConnection's `index` (true/false/file name), null = the configured default */
  index: boolean | string | null = null;
  /** onConnection's `timeout` in seconds, null = config.http.timeout */
  timeout: number | null = null;

  constructor(
    address: string,
    private readonly connection: HTTPConnection,
    /** this client's share of the connection's bytes (see trafficFrom) */
    traffic?: TrafficCounters,
    secure = false,
  ) {
    super(address, undefined, traffic);
    this.protocol = secure ? 'HTTPS' : 'HTTP';
  }

  get writer(): HTTPWriter {
    return this.mainWriter;
  }

  close(reason?: string): void {
    this.connection.close(reason);
  }

  override setCookie(name: string, value: Value, options: Table | null): boolean {
    this.mainWriter.collector.cookies.push(setCookieHeader(name, value, options));
    const expires = options?.get('expires');
    this.properties.set(name, typeof expires === 'number' && expires < 0 ? null : value);
    return true;
  }

  /** What the script wrote since the last request was answered (pushes in between included). */
  endRequest(): ReplyCollector {
    const c = this.mainWriter.collector;
    this.mainWriter.collector = new ReplyCollector();
    return c;
  }
}
