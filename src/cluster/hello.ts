/**
 * What a hello carries and what `[servers] targets` says, as pure functions of the configuration.
 *
 * MonaServer's hello is its whole parameter map as "Section.key" → value strings in byte order
 * (what its ini says plus the derived `<Protocol>.port` and `<Protocol>.publicAddress` of each
 * protocol), followed, from the side that connected, by the properties of its target entry. Ours
 * carries the same keys that matter to a peer: every ini entry as written, and the port and public
 * address of every protocol we run. Values that are secrets (keys ending in "secret" or "password")
 * never leave the server.
 */
import type { Config } from '../config/types';
import { listenHost } from '../config/listen';

/** One entry of `[servers] targets`. */
export interface TargetEntry {
  /** as written, for logs */
  text: string;
  host: string;
  port: number;
  /** the entry's query (`?name=master&arg=val`): the peer's properties on our side, sent in our hello */
  properties: Record<string, string>;
}

/** Splits `host:port?arg=val&…;host:port…`; malformed entries come back as errors, the others still work. */
export function parseTargets(text: string): { targets: TargetEntry[]; errors: string[] } {
  const targets: TargetEntry[] = [];
  const errors: string[] = [];
  for (const raw of text.split(';')) {
    const entry = raw.trim();
    if (!entry) continue;
    const q = entry.indexOf('?');
    const where = q < 0 ? entry : entry.slice(0, q);
    const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d+)$/.exec(where.trim());
    const port = m ? Number(m[3]) : NaN;
    if (!m || !(port > 0 && port < 65536)) {
      errors.push(`target "${entry}" is not host:port (a port 1..65535 is required)`);
      continue;
    }
    targets.push({ text: entry, host: m[1] ?? m[2], port, properties: q < 0 ? {} : parseQuery(entry.slice(q + 1)) });
  }
  return { targets, errors };
}

/** MonaServer's query rules: `&` between pairs, `+` is a space, %XX escapes; a key without `=` gets "". */
export function parseQuery(query: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of query.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const key = decode(eq < 0 ? part : part.slice(0, eq));
    if (!key) continue;
    out[key] = eq < 0 ? '' : decode(part.slice(eq + 1));
  }
  return out;
}

function decode(s: string): string {
  const plus = s.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus; // a stray % stays as written
  }
}

/** Protocols whose port and public address a hello announces, and where each one's port is configured. */
const ANNOUNCED: ReadonlyArray<[string, (c: Config) => number]> = [
  ['RTMFP', (c) => c.rtmfp.port],
  ['RTMP', (c) => c.rtmp.port],
  ['HTTP', (c) => c.http.port],
  // RTSP is not served yet: announced as off so that no peer redirects RTSP clients here
  ['RTSP', () => 0],
];

const SECRET_KEY = /(secret|password)$/i;

function iniPairs(config: Config): Map<string, string> {
  const pairs = new Map<string, string>();
  const seen = new Set<object>();
  for (const [name, value] of Object.entries(config.raw)) {
    if (typeof value === 'string') {
      if (!SECRET_KEY.test(name)) pairs.set(name, value);
      continue;
    }
    if (seen.has(value)) continue; // the same section under its lower-cased name
    seen.add(value);
    for (const [key, v] of Object.entries(value)) if (!SECRET_KEY.test(key)) pairs.set(`${name}.${key}`, v);
  }
  return pairs;
}

/**
 * The host clients should use for `protocol`: its section's `publicHost`, the top-level `publicHost`,
 * the top-level `host` (without port), else its bind address. A wildcard bind address becomes
 * 127.0.0.1, which peers replace with the IP they reach us at (MonaServer's convention).
 */
export function publicHost(config: Config, protocol: string): string {
  const section = Object.entries(config.raw).find(([n, v]) => n.toLowerCase() === protocol.toLowerCase() && typeof v === 'object');
  const fromSection = section ? Object.entries(section[1] as Record<string, string>).find(([k]) => k.toLowerCase() === 'publichost')?.[1] : undefined;
  const top = Object.entries(config.raw).find(([n, v]) => n.toLowerCase() === 'publichost' && typeof v === 'string')?.[1] as string | undefined;
  const host = (fromSection ?? top ?? stripPort(config.host) ?? '').trim();
  if (host) return host;
  const bind = listenHost(config, protocol);
  return bind === '0.0.0.0' || bind === '::' ? '127.0.0.1' : bind;
}

function stripPort(host: string): string | undefined {
  const h = host.trim();
  if (!h) return undefined;
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(h);
  if (bracketed) return bracketed[1];
  const m = /^([^:]+):\d+$/.exec(h);
  return m ? m[1] : h;
}

function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Our configuration as hello pairs, in byte order of the keys (MonaServer's order). */
export function configPairs(config: Config): Array<[string, string]> {
  const pairs = iniPairs(config);
  for (const [protocol, portOf] of ANNOUNCED) {
    const port = portOf(config);
    // one spelling per key: the ini's own ("rtmp.port") gives way to the announced one
    const own = new Set([`${protocol}.port`, `${protocol}.publicAddress`].map((k) => k.toLowerCase()));
    for (const k of [...pairs.keys()]) if (own.has(k.toLowerCase())) pairs.delete(k);
    pairs.set(`${protocol}.port`, String(port));
    if (port > 0) pairs.set(`${protocol}.publicAddress`, joinHostPort(publicHost(config, protocol), port));
  }
  return sortPairs(pairs);
}

export function sortPairs(pairs: Map<string, string> | Record<string, string>): Array<[string, string]> {
  const entries = pairs instanceof Map ? [...pairs] : Object.entries(pairs);
  return entries.sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

/** What a hello gives the receiving side: our target entry's properties, then the peer's pairs. */
export function peerConfigs(properties: Readonly<Record<string, string>>, pairs: ReadonlyArray<[string, string]>): Map<string, string> {
  const configs = new Map<string, string>(Object.entries(properties));
  for (const [k, v] of pairs) configs.set(k, v);
  return configs;
}
