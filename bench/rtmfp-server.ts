/**
 * The server side of bench/rtmfp.ts, run as a child process (so its memory and CPU are its own):
 * an RTMFP server on 127.0.0.1:<port> over a temporary www/ with a `live` app. Answers IPC
 * requests: 'mem' → memory after a forced GC (needs --expose-gc) with the session count and the
 * groups' sizes and the CPU time used so far (bench/rtmfp-group.ts), 'groups' → the groups'
 * sizes alone (no GC: cheap to poll), 'stop'.
 */
import { Level } from '../src/logs/levels';
import { startRtmfpTestServer } from '../test/helpers/rtmfp-server';

async function main(): Promise<void> {
  const s = await startRtmfpTestServer({ port: Number(process.argv[2] ?? 0), level: Level.ERROR });
  s.ctx.config.rtmfp.keepaliveServer = 255; // idle sessions stay idle during the measure
  process.on('message', (m: string) => {
    if (m === 'mem') {
      const gc = (globalThis as { gc?: () => void }).gc;
      if (gc) {
        gc();
        gc();
      }
      const u = process.memoryUsage();
      const groups = [...s.ctx.groups].map((g) => g.size());
      const cpu = process.cpuUsage();
      process.send!({ mem: { rss: u.rss, heapUsed: u.heapUsed, external: u.external, arrayBuffers: u.arrayBuffers }, sessions: s.server.sessions.size, groups, cpuMs: (cpu.user + cpu.system) / 1000 });
    } else if (m === 'groups') {
      // cheap enough to poll: no forced GC
      process.send!({ groups: [...s.ctx.groups].map((g) => g.size()) });
    } else if (m === 'stop') void s.stop().then(() => process.exit(0));
  });
  process.send!({ port: s.port });
}

void main();
