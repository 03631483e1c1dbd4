/**
 * A logging TCP proxy on 127.0.0.1: every connection accepted is forwarded to the target, and every
 * chunk each way is kept with its direction and time. Used to record the server-to-server link
 * between two MonaServers (test/fixtures/cluster) and to check what crosses in mixed-cluster tests.
 */
import * as net from 'node:net';

export interface RecordedChunk {
  /** connection number, from 1 in accept order */
  conn: number;
  /** who wrote it: the side that connected (initiator) or the side connected to (target) */
  from: 'initiator' | 'target';
  /** ms since the recorder started */
  t: number;
  data: Buffer;
}

export interface RecordedClose {
  conn: number;
  /** the side whose socket closed first */
  side: 'initiator' | 'target';
  t: number;
}

export class TcpRecorder {
  readonly chunks: RecordedChunk[] = [];
  readonly closes: RecordedClose[] = [];
  private readonly sockets = new Set<net.Socket>();
  private count = 0;
  private readonly t0 = Date.now();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpRecorder> {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const recorder = new TcpRecorder(server, (server.address() as net.AddressInfo).port);
    server.on('connection', (c) => recorder.relay(c, targetHost, targetPort));
    return recorder;
  }

  private relay(client: net.Socket, host: string, port: number): void {
    const conn = ++this.count;
    const upstream = net.connect(port, host);
    this.sockets.add(client).add(upstream);
    let closed = false;
    const pipe = (from: net.Socket, to: net.Socket, who: 'initiator' | 'target') => {
      from.on('data', (data) => {
        this.chunks.push({ conn, from: who, t: Date.now() - this.t0, data });
        to.write(data);
      });
      from.on('close', () => {
        this.sockets.delete(from);
        if (!closed) this.closes.push({ conn, side: who, t: Date.now() - this.t0 });
        closed = true;
        to.end();
      });
      from.on('error', () => to.destroy());
    };
    pipe(client, upstream, 'initiator');
    pipe(upstream, client, 'target');
  }

  /** Everything one side wrote on one connection, concatenated. */
  bytes(conn: number, from: 'initiator' | 'target'): Buffer {
    return Buffer.concat(this.chunks.filter((c) => c.conn === conn && c.from === from).map((c) => c.data));
  }

  get connections(): number {
    return this.count;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
}
