/**
 * The server side of bench/https.ts, run as its own process so that the load generator does not
 * share its event loop: the real Server with HTTP and HTTPS on the given ports and certificate,
 * no handshake rate or per-IP cap (the load comes from one IP).
 *   node dist/bench/https-server.js <appDir> <httpPort> <httpsPort> <cert.pem> <key.pem>
 */
import { Level } from '../src/logs/levels';
import { startServer } from '../src/server';

async function main(): Promise<void> {
  const [dir, http, https, cert, key] = process.argv.slice(2);
  const server = await startServer({
    cwd: dir,
    overrides: {
      'HTTP.port': http,
      'HTTPS.port': https,
      'TLS.certificat': cert,
      'TLS.key': key,
      'TLS.handshakeRate': '0',
      'TCP.maxConnectionsPerIP': '0',
      'RTMP.port': '0',
      'RTMPS.port': '0',
      'RTMFP.port': '0',
      'RTSP.port': '0',
      'admin.port': '0',
      'logs.directory': `${dir}/logs`,
    },
    logLevel: Level.WARN,
    console: null,
  });
  process.send?.('ready');
  const stop = () => void server.stop().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

void main();
