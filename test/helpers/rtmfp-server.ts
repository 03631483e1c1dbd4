/**
 * An in-process server for RTMFP tests: a ServerContext over a temporary www/ (FolderHost unless
 * an AppHost is given) and our RTMFPServer on an ephemeral UDP port of 127.0.0.1. Run directly
 * (`node dist/test/helpers/rtmfp-server.js [port] [logLevel]`) it serves by hand, e.g. for TestClient.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { GROUP_EVENTS, type HookKey } from '../../src/core/app-hooks';
import { FolderHost, type AppHost } from '../../src/core/app-host';
import type { Client } from '../../src/core/client';
import type { Group } from '../../src/core/groups';
import type { Table } from '../../src/serialization/value';
import { ServerContext } from '../../src/core/context';
import { defaultConfig } from '../../src/registry';
import { Level } from '../../src/logs/levels';
import { ServerLogger } from '../../src/logs/logger';
import { RTMFPServer } from '../../src/protocols/rtmfp/server';

export interface RtmfpTestServer {
  ctx: ServerContext;
  server: RTMFPServer;
  port: number;
  dir: string;
  stop(): Promise<void>;
}

export async function startRtmfpTestServer(options: { port?: number; level?: Level; apps?: string[]; host?: (ctx: ServerContext) => AppHost } = {}): Promise<RtmfpTestServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtmfp-'));
  const www = path.join(dir, 'www');
  fs.mkdirSync(www);
  for (const app of options.apps ?? ['live']) fs.mkdirSync(path.join(www, app), { recursive: true });
  const config = defaultConfig(dir);
  config.rtmfp.port = options.port ?? 0;
  const logger = new ServerLogger({ level: options.level ?? Level.WARN, console: process.stderr });
  const ctx = new ServerContext(config, logger, new FolderHost(www), 'test');
  if (options.host) ctx.host = options.host(ctx);
  const server = new RTMFPServer(ctx, config.rtmfp.port, '127.0.0.1');
  await server.start();
  return {
    ctx,
    server,
    port: server.boundPort,
    dir,
    async stop() {
      await server.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
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
  startRtmfpTestServer({ port, level, host: (ctx) => new GroupLoggingHost(ctx.wwwDir) }).then((s) => {
    process.stdout.write(`RTMFP test server on 127.0.0.1:${s.port}, www at ${s.dir}/www\n`);
    const shutdown = () => void s.stop().then(() => process.exit(0));
    process.on('SIGINT', shutdown);
    process.on('SIGTERM', shutdown);
  });
}
