/**
 * The IPs refused before anything else (MonaServer's script blacklist): scripts fill it
 * (`mona:addToBlacklist`), protocols ask `ServerContext.isBlacklisted` at accept or handshake. IPs
 * are kept and compared in canonical form, so "::ffff:127.0.0.1" from a dual-stack socket matches a
 * script's "127.0.0.1".
 */
import { canonicalIP, ipOfAddress } from './ip';

export class Blacklist {
  private readonly ips = new Set<string>();

  add(ip: string): void {
    this.ips.add(canonicalIP(ip) ?? ip);
  }

  remove(ip: string): void {
    this.ips.delete(canonicalIP(ip) ?? ip);
  }

  /** `address`: "ip:port", "[ipv6]:port" or a bare IP */
  has(address: string): boolean {
    if (this.ips.size === 0) return false;
    const ip = ipOfAddress(address);
    return ip !== null && this.ips.has(ip);
  }

  get size(): number {
    return this.ips.size;
  }
}
