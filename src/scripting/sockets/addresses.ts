/**
 * Socket addresses as scripts give them to socket methods, read the way MonaServer reads them:
 *  - a number alone: a port on the wildcard address (`server:start(843)`);
 *  - a string and a port (number, or a string of digits): `socket:connect("localhost", 1234)`;
 *  - a string alone: "host:port", "[ipv6]:port";
 *  - a SocketAddress (`mona:createSocketAddress(...)`, `socket.address`);
 *  - an IPAddress (`mona:createIPAddress(...)`) and a port.
 * Hosts stay text: whether a host name is accepted (resolved by Node, without blocking) or an IP is
 * required (binding) is the caller's rule.
 */
import * as net from 'node:net';
import { canonicalIP } from '../../core/ip';
import { Table, type Value } from '../../serialization/value';
import type { Args } from '../runtime/engine';
import { socketAddressTable } from '../runtime/values';

export interface Endpoint {
  /** an IP literal, or a host name where the caller allows one */
  host: string;
  port: number;
}

/** An endpoint read from script arguments, the number of arguments it took, or why it is not one. */
export type ReadEndpoint = { endpoint: Endpoint; used: number } | { error: string };

const WILDCARD = '0.0.0.0';

function port(v: Value | undefined, what: string): number | string {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 65535) return `invalid port ${what}`;
  return n;
}

/** "host:port" / "[v6]:port" → endpoint, or an error text. */
export function parseHostPort(text: string): Endpoint | string {
  const m = /^\[([^\]]+)\]:([^:]*)$/.exec(text) ?? /^([^:]*):([^:]*)$/.exec(text);
  if (!m) return net.isIP(text) || !text.includes(':') ? `missing port number in ${text}` : `${text} is not host:port`;
  const p = port(m[2], `in ${text}`);
  if (typeof p === 'string') return p;
  return { host: m[1] || WILDCARD, port: p };
}

/** The fields of a SocketAddress or IPAddress table a script passed back. */
function fromTable(t: Table, next: Value | undefined): Endpoint | string | null {
  const value = t.get('value');
  const host = t.get('host');
  const p = t.get('port');
  if (typeof p === 'number' && host instanceof Table && typeof host.get('value') === 'string') {
    return { host: host.get('value') as string, port: p };
  }
  if (typeof value === 'string' && typeof t.get('isIPv6') === 'boolean' && net.isIP(value)) {
    // an IPAddress: the port follows it
    if (next === undefined || next === null) return { host: value, port: 0 };
    const q = port(next, `after ${value}`);
    return typeof q === 'string' ? q : { host: value, port: q };
  }
  return null;
}

/** Reads an endpoint from argument `i` on (see the header for the accepted forms). */
export function readEndpoint(args: Args, i: number): ReadEndpoint {
  switch (args.kind(i)) {
    case 'number': {
      const p = port(args.number(i), String(args.number(i)));
      return typeof p === 'string' ? { error: p } : { endpoint: { host: WILDCARD, port: p }, used: 1 };
    }
    case 'string': {
      const text = args.text(i) ?? '';
      const k = args.kind(i + 1);
      if (k === 'number' || k === 'string') {
        const p = port(args.value(i + 1), `${args.text(i + 1)}`);
        if (typeof p === 'string') return { error: p };
        return { endpoint: { host: unbracket(text) || WILDCARD, port: p }, used: 2 };
      }
      const e = parseHostPort(text);
      return typeof e === 'string' ? { error: e } : { endpoint: e, used: 1 };
    }
    case 'table': {
      const t = args.value(i);
      const next = args.kind(i + 1) === 'number' || args.kind(i + 1) === 'string' ? args.value(i + 1) : undefined;
      const e = t instanceof Table ? fromTable(t, next) : null;
      if (e === null) return { error: 'no valid socket address (host:port, SocketAddress or IPAddress and port)' };
      if (typeof e === 'string') return { error: e };
      return { endpoint: e, used: next === undefined ? 1 : 2 };
    }
    default:
      return { error: 'no valid socket address (host:port, SocketAddress or IPAddress and port)' };
  }
}

function unbracket(host: string): string {
  const m = /^\[([^\]]+)\]$/.exec(host);
  return m ? m[1] : host;
}

/** "ip:port" / "[v6]:port" as MonaServer prints addresses. */
export function endpointText(host: string, p: number): string {
  const ip = canonicalIP(host) ?? host;
  return net.isIPv6(ip) ? `[${ip}]:${p}` : `${ip}:${p}`;
}

/** The SocketAddress record of an address Node reports (an IPv4 client of a dual-stack socket shows as IPv4). */
export function socketAddressValue(host: string | undefined, p: number | undefined): Value {
  const ip = host ? canonicalIP(host) ?? host : WILDCARD;
  const t = socketAddressTable(ip, p ?? 0);
  return t instanceof Table ? t : null;
}

/** The wildcard SocketAddress "0.0.0.0:0" (an unbound socket's address, as MonaServer shows it). */
export function wildcardAddress(): Value {
  return socketAddressValue(WILDCARD, 0);
}
