/**
 * Whole servers linked into a cluster, in-process (`startServer` with the real protocol list): RTMP,
 * RTMFP, HTTP and the server link on free loopback ports, Lua apps from `www`, the log captured.
 * For the relay and redirection tests.
 */
import * as dgram from 'node:dgram';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { ClusterServer } from '../../src/cluster/server';
import type { RelayLimits } from '../../src/cluster/relay';
import type { ServerContext } from '../../src/core/context';
import type { AppHost } from '../../src/core/app-host';
import { Level } from '../../src/logs/levels';
import { PROTOCOLS, startServer, type Server } from '../../src/server';
import { tempDir } from './temp';

export async function freePort(kind: 'udp' | 'tcp'): Promise<number> {
  if (kind === 'tcp') {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
    const port = (s.address() as net.AddressInfo).port;
    await new Promise((r) => s.close(r));
    return port;
  }
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface ClusterNode {
  name: string;
  server: Server;
  context: ServerContext;
  cluster: ClusterServer;
  rtmp: number;
  rtmfp: number;
  http: number;
  /** the link's port */
  link: number;
  dir: string;
  readonly log: string;
  rtmpURL(p: string): string;
  stop(): Promise<void>;
}

export interface ClusterNodeOptions {
  /** `[servers] targets` */
  targets?: string;
  /** files under www/ (null = a folder); default: an empty live/ app */
  www?: Record<string, string | null>;
  /** ini keys on top */
  overrides?: Record<string, string>;
  relay?: Partial<RelayLimits>;
  /** RTMFP off (some tests run three servers and need no UDP) */
  noRTMFP?: boolean;
  /** an application layer instead of the Lua apps of www/ */
  appHost?: (context: ServerContext) => AppHost;
}

export async function startClusterNode(name: string, options: ClusterNodeOptions = {}): Promise<ClusterNode> {
  const dir = tempDir(`relay-${name}-`);
  const www = options.www ?? { live: null };
  fs.mkdirSync(path.join(dir, 'www'), { recursive: true });
  for (const [p, content] of Object.entries(www)) {
    const full = path.join(dir, 'www', p);
    if (content === null) fs.mkdirSync(full, { recursive: true });
    else {
      fs.mkdirSync(path.dirname(full), { recursive: true });
      fs.writeFileSync(full, content);
    }
  }
  const [rtmp, rtmfp, http, link] = [await freePort('tcp'), options.noRTMFP ? 0 : await freePort('udp'), await freePort('tcp'), await freePort('tcp')];
  let log = '';
  const consoleStream = new PassThrough();
  consoleStream.on('data', (d: Buffer) => (log += d.toString()));
  const debug = !!process.env.RELAY_TEST_LOG;
  const server = await startServer({
    cwd: dir,
    logLevel: debug ? Level.DEBUG : Level.INFO,
    console: debug ? process.stderr : consoleStream,
    overrides: {
      'RTMP.port': String(rtmp),
      'RTMFP.port': String(rtmfp),
      'HTTP.port': String(http),
      'RTSP.port': '0',
      'servers.port': String(link),
      'servers.targets': options.targets ?? '',
      'admin.port': '0',
      ...options.overrides,
    },
    appHost: options.appHost,
    protocols: PROTOCOLS.map((p) =>
      p.name === 'Servers' ? { ...p, create: (ctx: ServerContext) => new ClusterServer(ctx, { relay: options.relay, retryMs: 500 }) } : p,
    ),
  });
  const cluster = server.running.find((p) => p.name === 'Servers') as ClusterServer;
  return {
    name,
    server,
    context: server.context,
    cluster,
    rtmp,
    rtmfp,
    http,
    link,
    dir,
    get log() {
      return log;
    },
    rtmpURL: (p) => `rtmp://127.0.0.1:${rtmp}/${p.replace(/^\//, '')}`,
    stop: () => server.stop(),
  };
}

/** Resolves once `predicate` holds (polling); rejects after `ms` with `what`. */
export async function until(predicate: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Waits until each node sees the others linked (and relay-capable). */
export async function linked(...nodes: ClusterNode[]): Promise<void> {
  for (const n of nodes) await until(() => n.context.servers.count === nodes.length - 1, `${n.name} linked to ${nodes.length - 1} servers`);
}
