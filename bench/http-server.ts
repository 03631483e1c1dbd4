/**
 * The server side of bench/http.ts, run as its own process so that the load generator does not
 * share its event loop: the real Server (Lua host, config overrides) on the given app dir and port.
 *   node dist/bench/http-server.js <appDir> <port>
 */
import { Level } from '../src/logs/levels';
import { startServer } from '../src/server';

async function main(): Promise<void> {
  const [dir, port] = process.argv.slice(2);
  const server = await startServer({
    cwd: dir,
    overrides: { 'HTTP.port': port, 'RTMP.port': '0', 'RTMFP.port': '0', 'RTSP.port': '0', 'admin.port': '0', 'logs.directory': `${dir}/logs` },
    logLevel: Level.WARN,
    console: null,
  });
  process.send?.('ready');
  const stop = () => void server.stop().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

void main();
