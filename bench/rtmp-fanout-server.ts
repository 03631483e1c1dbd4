/**
 * Our server as the fan-out benchmark runs it: the real Server (src/server.ts) with only RTMP
 * enabled, in its own process so its CPU and RSS can be read from /proc.
 * Usage: node dist/bench/rtmp-fanout-server.js <port> <appDir>
 */
import { Level } from '../src/logs/levels';
import { PROTOCOLS, startServer } from '../src/server';

async function main(): Promise<void> {
  const port = process.argv[2];
  const dir = process.argv[3];
  const server = await startServer({
    cwd: dir,
    // every player comes from 127.0.0.1: no per-IP cap
    overrides: { 'RTMP.port': port, 'RTMFP.port': '0', 'HTTP.port': '0', 'RTSP.port': '0', 'admin.port': '0', 'TCP.maxConnectionsPerIP': '0' },
    protocols: PROTOCOLS.filter((p) => p.name === 'RTMP'),
    logLevel: Level.WARN,
    console: process.stderr,
  });
  const stop = () => void server.stop().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.send?.('ready');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
