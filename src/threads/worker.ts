/**
 * A worker process of `threads` (started by the primary through node's `cluster`, with the same
 * command line): the protocols of the server (RTMP, HTTP and WebSocket on ports the workers share;
 * RTMFP in worker 1 only), its application layer a RemoteHost over the script channel on fd 4, its
 * live HLS asked of the primary (hls.ts), its log lines sent to the primary. It links to the primary and to the other workers before it
 * listens, reports to the primary once it listens, and stops when the primary tells it to (the
 * terminal's signals are the primary's to handle).
 */
import { Writable } from 'node:stream';
import { decodeArgs } from '../cluster/codec';
import { PROTOCOLS, Server, StartupError, type ServerOptions } from '../server';
import { BlockingEnd, ChannelClosed } from './channel';
import { hlsService } from '../protocols/hls/service';
import { WorkerHLS } from './hls';
import { Mesh } from './mesh';
import { EFFECTS_HANDLER } from './messages';
import { COUNT_ENV, DIR_ENV, WORKER_ENV, type WorkerReport } from './primary';
import { RemoteHost } from './remote-host';

/** The fd of the script channel (the primary's `cluster` stdio: 0-2, ipc, then it). */
const CHANNEL_FD = 4;

export function isWorkerProcess(): boolean {
  return process.env[WORKER_ENV] !== undefined && typeof process.send === 'function';
}

function report(r: WorkerReport): void {
  if (process.connected) process.send!(r);
}

/** Runs this process as worker `MONATS_WORKER`; exits when the primary says so or goes. */
export function runWorker(options: ServerOptions): void {
  const place = Number(process.env[WORKER_ENV]);
  const dir = process.env[DIR_ENV] ?? '';
  const channel = new BlockingEnd(CHANNEL_FD);
  // log lines go to the primary, which writes the one console and the one file
  const forward = new Writable({
    write(chunk: Buffer, _encoding, done) {
      report({ log: chunk.toString() });
      done();
    },
  });
  let host: RemoteHost | null = null;
  let server: Server;
  try {
    server = new Server({
      ...options,
      console: forward,
      logFile: false,
      admin: false,
      quiet: true,
      appHost: (ctx) => (host = new RemoteHost(ctx, channel, place)),
      protocols: [
        {
          name: 'Workers',
          port: () => 0,
          enabled: () => true,
          create: (ctx) => {
            const mesh = new Mesh(ctx, dir, place);
            mesh.peers.handleRaw(EFFECTS_HANDLER, (_peer, payload) => host?.apply(decodeArgs(payload)[0]));
            // live HLS is the primary's (one segmenter per publication for every worker)
            const hls = new WorkerHLS(ctx, mesh);
            hlsService(ctx).home = hls;
            mesh.services.push(hls);
            return mesh;
          },
        },
        // RTMFP in one worker: every datagram of a session must reach the process that has it
        ...PROTOCOLS.filter((p) => p.name !== 'Servers' && (p.name !== 'RTMFP' || place === 1)),
      ],
    });
  } catch (err) {
    report({ started: false, error: (err as Error).message });
    process.exit(1);
  }
  // the [TCP] caps are the server's: each of the workers (which the primary's round robin hands
  // connections in turn) holds its share
  server.context.portSharers = Number(process.env[COUNT_ENV]) || 1;
  const stop = () =>
    server.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  // the terminal's Ctrl-C reaches every process of the group: the primary decides for all
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => {});
  process.on('message', (m: { stop?: boolean }) => {
    if (m?.stop) void stop();
  });
  process.on('disconnect', () => void stop());
  process.on('uncaughtException', (err) => {
    if (err instanceof ChannelClosed) process.exit(0);
    server.logger.fatal('Threads', `worker ${place}: uncaught exception: ${err.stack ?? err}`);
    process.exit(70);
  });
  server.start().then(
    () => {
      const lines: string[] = [];
      for (const p of server.running) for (const a of p.addresses()) lines.push(`${p.name} server started on ${a}`);
      const listening = server.running.filter((p) => p.addresses().length).map((p) => ({ protocol: p.name, addresses: p.addresses() }));
      report({ started: true, lines, failures: server.failures, listening });
    },
    (err: unknown) => {
      report({ started: false, error: err instanceof StartupError ? err.message : (err as Error).stack ?? String(err) });
      process.exit(1);
    },
  );
}
