import { spawnSync } from 'node:child_process';
import * as net from 'node:net';

/**
 * Synchronous host name resolution for mona:create*WithDNS. MonaServer's calls block
 * the script until the resolver answers, and scripts rely on getting the address back in the same
 * call, so this asks the system resolver (NSS: /etc/hosts, then DNS as nsswitch.conf says) through
 * `getent ahosts`, bounded by a short timeout so that a dead DNS server cannot freeze the server.
 */

/** Longest time one resolution may block the event loop, in ms. */
export const DNS_TIMEOUT_MS = 2000;

/** RFC 1123 host names only: anything else (options, spaces, shell text) never reaches getent. */
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?$/;

/** The first address `name` resolves to (an IP literal is returned as is), or an error text. */
export function resolveHostSync(name: string): { ip: string } | { error: string } {
  if (net.isIP(name)) return { ip: name };
  if (!HOST_NAME.test(name)) return { error: `${name} is not a valid host name` };
  const r = spawnSync('getent', ['ahosts', name], { timeout: DNS_TIMEOUT_MS, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  if (r.error) {
    const code = (r.error as NodeJS.ErrnoException).code;
    if (code === 'ETIMEDOUT') return { error: `DNS resolution of ${name} timed out` };
    return { error: `DNS resolution of ${name} failed: ${r.error.message}` };
  }
  // getent exits 2 when the name is unknown
  if (r.status !== 0) return { error: `cannot resolve ${name}` };
  for (const line of r.stdout.split('\n')) {
    const ip = line.split(/\s+/)[0];
    if (ip && net.isIP(ip)) return { ip };
  }
  return { error: `cannot resolve ${name}` };
}
