/**
 * Script values that are more than wire Values, declared once for every engine:
 *  - records: plain value objects of the API — IPAddress, SocketAddress (mona:createIPAddress /
 *    createSocketAddress) and File (mona:listPaths) — tables of read-only facts plus `value`, printed
 *    by tostring as their value; and the element tables of mona:fromXML with MonaServer's shortcuts.
 *    A record is a Table (so every encoder takes it) tagged with its RecordClass; a binding gives
 *    each RecordClass its behaviour (a shared Lua metatable, a JS prototype).
 *  - Dates read into scripts: a `{__time = ms}` table gains MonaServer's local-time fields.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { Table, type Key, type Value } from '../../serialization/value';

/**
 * What a binding does with a record table:
 *  - 'printed': tostring(t) gives its `value` field.
 *  - 'xml': MonaServer's XML element shortcuts. Reading a missing key `__value` gives item 1; any
 *    other missing key gives the first item that is a table whose `__name` is that key (nil if
 *    none). Assigning `__value` sets item 1; other assignments are stored on the table as usual.
 */
export interface RecordClass {
  readonly name: string;
  readonly behaviour: 'printed' | 'xml';
}

export const IP_ADDRESS: RecordClass = { name: 'IPAddress', behaviour: 'printed' };
export const SOCKET_ADDRESS: RecordClass = { name: 'SocketAddress', behaviour: 'printed' };
export const FILE: RecordClass = { name: 'File', behaviour: 'printed' };
export const XML_ELEMENT: RecordClass = { name: 'XMLElement', behaviour: 'xml' };

/** A Table that scripts see as a record of `recordClass`. */
export class RecordTable extends Table {
  constructor(
    readonly recordClass: RecordClass,
    items?: Value[],
    fields?: Map<Key, Value>,
  ) {
    super(items, fields);
  }
}

/**
 * A decoded XML document (parseXML) as MonaServer scripts see it: the document and every element
 * table answer the XML shortcuts, so `doc.article.p.__value` and `doc[1][1][1]` are the same.
 */
export function xmlDocument(doc: Value, depth = 0): Value {
  if (!(doc instanceof Table) || depth > 256) return doc;
  const items = doc.items.map((v) => xmlDocument(v, depth + 1));
  return new RecordTable(XML_ELEMENT, items, doc.fields);
}

/**
 * MonaServer's fields of a Date read into a script, in the server's local time: `year`, `month`
 * (1-12), `day`, `hour`, `min`, `sec`, `msec`, `yday` (0 for January 1st), `wday` (0 for Sunday),
 * `isdst`. Written beside `__time` (ms since the epoch, UTC).
 */
export function dateFields(ms: number): Array<[string, number | boolean]> {
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return [];
  const year = d.getFullYear();
  const startOfYear = new Date(year, 0, 1);
  // calendar days since January 1st (local midnights: DST changes do not shift the count)
  const yday = Math.round((Date.UTC(year, d.getMonth(), d.getDate()) - Date.UTC(year, 0, 1)) / 86_400_000);
  // DST is on when the offset is smaller than the larger of January's and July's (either hemisphere)
  const jan = startOfYear.getTimezoneOffset();
  const jul = new Date(year, 6, 1).getTimezoneOffset();
  const isdst = jan !== jul && d.getTimezoneOffset() === Math.min(jan, jul);
  return [
    ['year', year],
    ['month', d.getMonth() + 1],
    ['day', d.getDate()],
    ['yday', yday],
    ['wday', d.getDay()],
    ['hour', d.getHours()],
    ['min', d.getMinutes()],
    ['sec', d.getSeconds()],
    ['msec', d.getMilliseconds()],
    ['isdst', isdst],
  ];
}

/** `__time` of a table that is a Date, or undefined (the check bindings make on each table they write). */
export function dateTime(t: Table): number | undefined {
  if (t.fields.size === 0) return undefined;
  const time = t.fields.get('__time');
  return typeof time === 'number' ? time : undefined;
}

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
  const t = new RecordTable(IP_ADDRESS);
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
  const t = new RecordTable(SOCKET_ADDRESS);
  t.set('host', ip);
  t.set('port', p as number);
  t.set('isIPv6', isV6);
  t.set('value', isV6 ? `[${host}]:${p}` : `${host}:${p}`);
  return t;
}

/** One File object of mona:listPaths (lastModified in seconds, as MonaServer gives it). */
export function fileTable(full: string): Table {
  const t = new RecordTable(FILE);
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
