/**
 * An in-process server for RTMFP tests: startTestServer with RTMFP alone, on an ephemeral UDP port
 * of 127.0.0.1 unless `port` says, over a temporary www/ with a `live` app, the script runtime as
 * app host unless `host` gives another. Run directly (`node dist/test/helpers/rtmfp-server.js
 * [port] [logLevel]`) it serves by hand, e.g. for TestClient, printing group events on stdout.
 */
import { GROUP_EVENTS, type HookKey } from '../../src/core/app-hooks';
import { FolderHost, type AppHost } from '../../src/core/app-host';
import type { Client } from '../../src/core/client';
import type { ServerContext } from '../../src/core/context';
import type { Group } from '../../src/core/groups';
import type { Table } from '../../src/serialization/value';
import { Level } from '../../src/logs/levels';
import type { RTMFPServer } from '../../src/protocols/rtmfp/server';
import { startTestServer, type TestServer } from './server';

export interface RtmfpTestServer {
  ctx: ServerContext;
  server: RTMFPServer;
  port: number;
  dir: string;
  /** the whole test server (log lines, the Server object) */
  test: TestServer;
  stop(): Promise<void>;
}

export async function startRtmfpTestServer(
  options: {
    /** a fixed port (0 or none: a free one) */
    port?: number;
    level?: Level;
    /** app folders ("live" by default), each with its main.lua when given */
    apps?: string[] | Record<string, string | null>;
    host?: (ctx: ServerContext) => AppHost;
    overrides?: Record<string, string>;
    /** log lines also written there as text */
    echo?: NodeJS.WritableStream;
  } = {},
): Promise<RtmfpTestServer> {
  const apps = options.apps ?? ['live'];
  const test = await startTestServer({
    apps: Array.isArray(apps) ? Object.fromEntries(apps.map((a) => [a, null])) : apps,
    off: ['RTMP', 'HTTP'],
    appHost: options.host,
    level: options.level,
    echo: options.echo,
    overrides: { ...(options.port ? { 'RTMFP.port': String(options.port) } : {}), ...options.overrides },
  });
  const server = test.protocol<RTMFPServer>('RTMFP');
  return {
    ctx: test.context,
    server,
    port: server.boundPort,
    dir: test.dir,
    test,
    stop: () => test.stop(),
  };
}

/** FolderHost that prints group events as lines ("join <group> <peer> <size>"), for runs in a child process. */
class GroupLoggingHost extends FolderHost {
  /** answers the group events hook (the script runtime does the same for client:onJoinGroup) */
  hook<T extends object>(key: HookKey<T>): T | undefined {
    return (key as HookKey<object>) === GROUP_EVENTS ? (this as unknown as T) : undefined;
  }
  override onConnection(client: Client): Table | null {
    super.onConnection(client);
    process.stdout.write(`connect ${client.id}\n`);
    return null;
  }
  onJoinGroup(client: Client, group: Group): void {
    process.stdout.write(`join ${group.id} ${client.id} ${group.size()}\n`);
  }
  onUnjoinGroup(client: Client, group: Group): void {
    process.stdout.write(`unjoin ${group.id} ${client.id} ${group.size()}\n`);
  }
}

if (require.main === module) {
  const port = Number(process.argv[2] ?? 1935);
  const level = Number(process.argv[3] ?? Level.INFO) as Level;
  startRtmfpTestServer({ port, level, echo: process.stderr, host: (ctx) => new GroupLoggingHost(ctx.wwwDir) }).then((s) => {
    process.stdout.write(`RTMFP test server on 127.0.0.1:${s.port}, www at ${s.dir}/www\n`);
    const shutdown = () => void s.stop().then(() => process.exit(0));
    process.on('SIGINT', shutdown);
    process.on('SIGTERM', shutdown);
  });
}
