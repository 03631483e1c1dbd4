/**
 * In-process servers for the server-link tests: startTestServer with only the link running (on an
 * ephemeral port unless told otherwise), no script engine, log lines captured, and every event of
 * the context's server registry recorded for the test to wait on.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ClusterServer, type ClusterOptions } from '../../src/cluster/server';
import { FrameDecoder, FrameEncoder, type Frame } from '../../src/cluster/codec';
import { FolderHost } from '../../src/core/app-host';
import type { PeerServer } from '../../src/core/servers';
import { Level } from '../../src/logs/levels';
import type { Server } from '../../src/server';
import { startTestServer } from './server';
import type { Value } from '../../src/serialization/value';

export type ServerEvent =
  | { type: 'connection'; server: PeerServer }
  | { type: 'message'; server: PeerServer; handler: string; args: Value[] }
  | { type: 'apps'; server: PeerServer; paths: string[] }
  | { type: 'disconnection'; server: PeerServer; error: string | null };

export interface Node {
  name: string;
  server: Server;
  cluster: ClusterServer;
  /** the link's listening port (0 when it only joins targets) */
  port: number;
  events: ServerEvent[];
  log: string;
  dir: string;
  /** resolves with the first event (from index `from`) that `match` accepts */
  waitFor(match: (e: ServerEvent) => boolean, what: string, ms?: number, from?: number): Promise<ServerEvent>;
  stop(): Promise<void>;
}

export interface NodeOptions extends ClusterOptions {
  /** ini keys ("section.key" → value) on top of the test defaults */
  overrides?: Record<string, string>;
  /** runs before the link starts (subscribers that must see the first connection) */
  setup?: (server: Server) => void;
  /** reuse this application folder (a restart) */
  dir?: string;
}

/** Starts a server running only the link; other protocols are off but announced from `overrides`. */
export async function startNode(name: string, options: NodeOptions = {}): Promise<Node> {
  // a folder of the test's: a restart reuses it after stop() (removeDir when done)
  const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), `cluster-${name}-`));
  const events: ServerEvent[] = [];
  const test = await startTestServer({
    dir,
    level: process.env.CLUSTER_TEST_LOG ? Level.DEBUG : undefined,
    echo: process.env.CLUSTER_TEST_LOG ? process.stderr : undefined,
    off: ['RTMFP', 'RTMP', 'HTTP'],
    overrides: options.overrides,
    appHost: (ctx) => {
      // the registry exists before any protocol starts: subscribe here so nothing is missed
      ctx.servers.subscribe({
        onServerConnection: (s) => void events.push({ type: 'connection', server: s }),
        onServerMessage: (s, handler, args) => void events.push({ type: 'message', server: s, handler, args }),
        onServerApps: (s, paths) => void events.push({ type: 'apps', server: s, paths }),
        onServerDisconnection: (s, error) => void events.push({ type: 'disconnection', server: s, error }),
      });
      return new FolderHost(ctx.wwwDir);
    },
    protocols: [
      {
        name: 'Servers',
        port: () => options.port ?? 0,
        enabled: () => true,
        create: (ctx) => new ClusterServer(ctx, { port: 0, ...options }),
      },
    ],
  });
  const server = test.server;
  options.setup?.(server);
  const cluster = test.protocol<ClusterServer>('Servers');
  const node: Node = {
    name,
    server,
    cluster,
    port: cluster.port,
    events,
    get log() {
      return test.log();
    },
    dir,
    async waitFor(match, what, ms = 10_000, from = 0) {
      const until = Date.now() + ms;
      for (;;) {
        const found = events.slice(from).find(match);
        if (found) return found;
        if (Date.now() > until) throw new Error(`${name}: no ${what} within ${ms} ms; events: ${events.map((e) => e.type).join(',')}\n${test.log().slice(-2000)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    stop: () => test.stop(),
  };
  return node;
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** A hand-driven peer speaking the wire format over a raw socket (for hostile and edge cases). */
export class RawPeer {
  readonly encoder = new FrameEncoder();
  readonly decoder = new FrameDecoder();
  readonly frames: Frame[] = [];
  received = 0;
  closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      this.received += d.length;
      try {
        this.frames.push(...this.decoder.push(d));
      } catch {
        /* the test looks at what came before */
      }
    });
    socket.on('error', () => {});
    this.closed = new Promise((r) => socket.on('close', () => r()));
  }

  static connect(port: number): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(new RawPeer(s)));
      s.once('error', reject);
    });
  }

  write(b: Buffer): boolean {
    return this.socket.write(b);
  }

  async waitFrame(match: (f: Frame) => boolean, ms = 5000): Promise<Frame> {
    const until = Date.now() + ms;
    for (;;) {
      const f = this.frames.find(match);
      if (f) return f;
      if (Date.now() > until) throw new Error(`no such frame within ${ms} ms; got ${this.frames.map((x) => x.kind).join(',')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}
