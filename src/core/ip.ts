/**
 * IP addresses as rules compare them (the script blacklist): one text per address, whatever form a
 * socket or a script wrote it in. "127.0.0.1:5000", "[::1]:5000", "::ffff:127.0.0.1" (an IPv4 client
 * of a dual-stack socket) and "0:0:0:0:0:0:0:1" all reduce to the text of the address itself.
 */
import * as net from 'node:net';

/** The canonical text of a bare IP ("::FFFF:1.2.3.4" → "1.2.3.4", "0::1" → "::1"), null if not an IP. */
export function canonicalIP(ip: string): string | null {
  const kind = net.isIP(ip);
  if (kind === 4) return ip;
  if (kind !== 6) return null;
  ip = ip.replace(/%.*$/, ''); // a zone id (fe80::1%eth0) names our interface, not the peer
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1];
  // WHATWG URL parsing prints IPv6 hosts in their RFC 5952 form: lower case, longest zero run as ::
  const host = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  const again = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host); // mapped IPv4 printed in hex
  if (again) {
    const hi = parseInt(again[1], 16);
    const lo = parseInt(again[2], 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return host;
}

/**
 * The canonical IP of an address as protocols write them: "ip:port", "[ipv6]:port", a bare IP, or
 * "ipv6:port" without brackets (Node's remoteAddress + port). null if no IP can be read.
 */
export function ipOfAddress(address: string): string | null {
  const bare = canonicalIP(address);
  if (bare) return bare;
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
  if (bracketed) return canonicalIP(bracketed[1]);
  const port = /:\d+$/.exec(address);
  return port ? canonicalIP(address.slice(0, port.index)) : null;
}
