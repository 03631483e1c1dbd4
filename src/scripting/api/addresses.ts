/**
 * Value objects of SPEC S3: IPAddress, SocketAddress (mona:createIPAddress / createSocketAddress)
 * and File (mona:listPaths). They are plain tables of read-only facts plus `value`, printed as
 * their value by tostring().
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Table } from '../../serialization/value';

/** IPv4 dotted quad → 4 bytes, or null. */
function v4Bytes(ip: string): number[] | null {
  if (!net.isIPv4(ip)) return null;
  return ip.split('.').map(Number);
}

/** Expands an IPv6 text to 8 16-bit groups. */
function v6Groups(ip: string): number[] | null {
  if (!net.isIPv6(ip)) return null;
  let s = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const b = v4Bytes(v4[1]) as number[];
    s = s.slice(0, -v4[1].length) + `${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`;
  }
  const [head, tail] = s.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined ? (tail ? tail.split(':') : []) : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return groups.map((g) => parseInt(g, 16));
}

/** The IPAddress facts MonaServer scripts read (isLoopback, isSiteLocal...). */
export function ipAddressTable(ip: string): Table | null {
  const t = new Table();
  const b4 = v4Bytes(ip);
  if (b4) {
    const [a, b] = b4;
    const all = b4.every((x) => x === 0);
    const bcast = b4.every((x) => x === 255);
    const multicast = a >= 224 && a <= 239;
    t.set('isIPv6', false);
    t.set('isWildcard', all);
    t.set('isBroadcast', bcast);
    t.set('isAnyBroadcast', bcast || b4[3] === 255);
    t.set('isLoopback', a === 127);
    t.set('isMulticast', multicast);
    t.set('isUnicast', !all && !bcast && !multicast);
    t.set('isLinkLocal', a === 169 && b === 254);
    t.set('isSiteLocal', a === 10 || (a === 192 && b === 168) || (a === 172 && b >= 16 && b <= 31));
    t.set('isIPv4Compatible', true);
    t.set('isIPv4Mapped', true);
    t.set('isWellKnownMC', a === 224 && b === 0 && b4[2] === 0);
    t.set('isNodeLocalMC', false);
    t.set('isLinkLocalMC', a === 224 && b === 0 && b4[2] === 0);
    t.set('isSiteLocalMC', a === 239 && b === 255);
    t.set('isOrgLocalMC', a === 239 && b === 192);
    t.set('isGlobalMC', multicast && !(a === 224 && b === 0 && b4[2] === 0) && a !== 239);
    t.set('isLocal', a === 127 || all);
    t.set('value', ip);
    return t;
  }
  const g = v6Groups(ip);
  if (!g) return null;
  const all = g.every((x) => x === 0);
  const loop = g.slice(0, 7).every((x) => x === 0) && g[7] === 1;
  const multicast = g[0] >> 8 === 0xff;
  const scope = g[0] & 0xf;
  t.set('isIPv6', true);
  t.set('isWildcard', all);
  t.set('isBroadcast', false);
  t.set('isAnyBroadcast', false);
  t.set('isLoopback', loop);
  t.set('isMulticast', multicast);
  t.set('isUnicast', !all && !multicast);
  t.set('isLinkLocal', (g[0] & 0xffc0) === 0xfe80);
  t.set('isSiteLocal', (g[0] & 0xffc0) === 0xfec0);
  t.set('isIPv4Compatible', g.slice(0, 6).every((x) => x === 0));
  t.set('isIPv4Mapped', g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff);
  t.set('isWellKnownMC', (g[0] & 0xfff0) === 0xff00);
  t.set('isNodeLocalMC', multicast && scope === 1);
  t.set('isLinkLocalMC', multicast && scope === 2);
  t.set('isSiteLocalMC', multicast && scope === 5);
  t.set('isOrgLocalMC', multicast && scope === 8);
  t.set('isGlobalMC', multicast && scope === 0xf);
  t.set('isLocal', loop || all);
  t.set('value', ip);
  return t;
}

/** "host:port" / "[v6]:port" → SocketAddress facts, or an error text. */
export function socketAddressTable(text: string, port?: number): Table | string {
  let host = text;
  let p = port;
  if (p === undefined) {
    const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
    if (!m) return `${text} is not a socket address (host:port)`;
    host = m[1];
    p = Number(m[2]);
  }
  if (!Number.isInteger(p) || (p as number) < 0 || (p as number) > 65535) return `invalid port in ${text}`;
  const ip = ipAddressTable(host);
  if (!ip) return `${host} is not an IP address`;
  const isV6 = ip.get('isIPv6') === true;
  const t = new Table();
  t.set('host', ip);
  t.set('port', p as number);
  t.set('isIPv6', isV6);
  t.set('value', isV6 ? `[${host}]:${p}` : `${host}:${p}`);
  return t;
}

/** One File object of mona:listPaths (lastModified in seconds, as MonaServer gives it). */
export function fileTable(full: string): Table {
  const t = new Table();
  let st: fs.Stats | null = null;
  try {
    st = fs.statSync(full);
  } catch {
    st = null;
  }
  const name = path.basename(full);
  const ext = path.extname(name);
  t.set('name', name);
  t.set('baseName', ext ? name.slice(0, -ext.length) : name);
  t.set('extension', ext.replace(/^\./, ''));
  t.set('parent', path.dirname(full) + '/');
  t.set('size', st && st.isFile() ? st.size : 0);
  t.set('lastModified', st ? Math.floor(st.mtimeMs / 1000) : 0);
  t.set('isFolder', st ? st.isDirectory() : false);
  t.set('value', st && st.isDirectory() ? full + '/' : full);
  return t;
}
