/**
 * How many expensive handshakes one IP address may start: an RTMPE handshake costs the server a
 * Diffie-Hellman key pair and a shared secret (about a millisecond of CPU), and a client can replay
 * one signed C0+C1 for ever without computing anything; a full TLS handshake costs a signature and
 * a key agreement. A token bucket per IP: `rate` handshakes a second, bursts of twice that; beyond,
 * the connection is closed before any of that work.
 */
import { ipOfAddress } from '../core/ip';

interface Bucket {
  tokens: number;
  at: number;
}

export class HandshakeLimiter {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    /** handshakes per second per IP, read at each handshake (0 or less = no limit) */
    private readonly rate: () => number,
    /** IPs tracked at most (memory bound under a spoofed-source flood) */
    private readonly maxAddresses = 65_536,
  ) {}

  /** true when the IP of `address` ("ip:port") may start one more expensive handshake now */
  allow(address: string, now = Date.now()): boolean {
    const rate = this.rate();
    if (!(rate > 0)) return true;
    const burst = 2 * rate;
    const ip = ipOfAddress(address) ?? address;
    let b = this.buckets.get(ip);
    if (b) {
      b.tokens = Math.min(burst, b.tokens + ((now - b.at) * rate) / 1000);
      b.at = now;
    } else {
      if (this.buckets.size >= this.maxAddresses) this.prune(now, rate, burst);
      b = { tokens: burst, at: now };
      this.buckets.set(ip, b);
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Forgets IPs whose bucket filled up again (idle long enough), then the oldest if still too many. */
  private prune(now: number, rate: number, burst: number): void {
    for (const [ip, b] of this.buckets) if (b.tokens + ((now - b.at) * rate) / 1000 >= burst) this.buckets.delete(ip);
    for (const ip of this.buckets.keys()) {
      if (this.buckets.size < this.maxAddresses) break;
      this.buckets.delete(ip);
    }
  }

  /** IPs currently tracked (tests) */
  get size(): number {
    return this.buckets.size;
  }
}
