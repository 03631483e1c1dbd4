/**
 * Free ports of 127.0.0.1 for servers a test starts (in-process or as a child). Free at the instant
 * they are handed out: whoever binds them later may still lose the race to another process, which
 * is why startTestServer tries again with new ports when a bind fails. No node:test import here:
 * child processes (a standalone test server, a benchmark's server) load this too.
 */
import * as dgram from 'node:dgram';
import * as net from 'node:net';

/** A TCP port the OS just gave us (free at that instant) on 127.0.0.1. */
export function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** A port free for TCP and UDP at once (RTMFP and RTMP share 1935 by default). */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await freeTcpPort();
    const ok = await new Promise<boolean>((resolve) => {
      const u = dgram.createSocket('udp4');
      u.once('error', () => resolve(false));
      u.bind(port, '127.0.0.1', () => u.close(() => resolve(true)));
    });
    if (ok) return port;
  }
}

export interface Ports {
  rtmfp: number;
  rtmp: number;
  http: number;
  /** RTMP and HTTP over TLS (listening when a certificate is configured) */
  rtmps: number;
  https: number;
  rtsp: number;
  /** the admin listener (API, metrics, dashboard), never its default 9997 in tests */
  admin: number;
}

/** Every protocol on its own free non-default port. */
export async function freePorts(): Promise<Ports> {
  const taken = new Set<number>();
  const next = async () => {
    for (;;) {
      const p = await freePort();
      if (!taken.has(p)) {
        taken.add(p);
        return p;
      }
    }
  };
  return { rtmfp: await next(), rtmp: await next(), http: await next(), rtmps: await next(), https: await next(), rtsp: await next(), admin: await next() };
}
