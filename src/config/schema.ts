/**
 * Every typed key of SPEC S1: where it lives in the ini, its default and what values are valid.
 * Defaults are MonaServer's documented ones (installation.rst "Configurations") except where SPEC S1
 * says otherwise. A bad value never stops the server: it is reported and the default is used, or
 * (keepalives, as MonaServer does) clamped into range with a warning.
 */
import * as path from 'node:path';
import type { Config, PublicationSettings } from './types';

export type KeyKind = 'port' | 'int' | 'seconds' | 'string' | 'filename' | 'boolean';

export interface KeySpec {
  /** section lower-cased ("" = top level) */
  section: string;
  /** key lower-cased */
  key: string;
  kind: KeyKind;
  min?: number;
  max?: number;
  /** out of [min,max]: clamp with a warning instead of rejecting the value */
  clamp?: boolean;
  /** writes a validated value into the config */
  set(config: Config, value: number | string): void;
  /** the value of `key=` written without a value (MonaServer2: `segments=` means 4), else an error */
  empty?: string;
  /**
   * Set for a key the server reads but does not act on yet: a value written in the ini is reported
   * once at start with this reason, so nobody believes it works. Removed when the feature lands.
   */
  notInEffect?: string;
}

const MAX_INT32 = 2 ** 31 - 1;

/** A publication setting: valid in `[publication]` and in each `[name=Publication]` section. */
export interface PublicationKeySpec extends Omit<KeySpec, 'section' | 'set'> {
  apply(target: Partial<PublicationSettings>, value: number | string): void;
}

export const PUBLICATION_KEYS: readonly PublicationKeySpec[] = [
  { key: 'segments', kind: 'int', min: 0, max: 255, empty: '4', apply: (t, v) => (t.segments = v as number) },
  { key: 'duration', kind: 'int', min: 0, max: 60_000, apply: (t, v) => (t.duration = v as number) },
  { key: 'partduration', kind: 'int', min: 0, max: 5_000, apply: (t, v) => (t.partDuration = v as number) },
  { key: 'hlsmemory', kind: 'int', min: 1 << 20, max: 2 ** 32, apply: (t, v) => (t.hlsMemory = v as number) },
  { key: 'append', kind: 'boolean', apply: (t, v) => (t.append = v === 'true') },
];

export const KEYS: readonly KeySpec[] = [
  { section: '', key: 'host', kind: 'string', set: (c, v) => (c.host = v as string) },
  {
    section: '', key: 'socketbuffersize', kind: 'int', min: 0, max: MAX_INT32,
    set: (c, v) => (c.socketBufferSize = v as number),
  },
  {
    section: '', key: 'threads', kind: 'int', min: 0, max: 1024, set: (c, v) => (c.threads = v as number),
    notInEffect: 'the server runs on one core for now',
  },
  // application.dir is resolved by the loader (relative to the ini's folder)
  { section: 'servers', key: 'port', kind: 'port', set: (c, v) => (c.servers.port = v as number) },
  { section: 'servers', key: 'targets', kind: 'string', set: (c, v) => (c.servers.targets = v as string) },
  { section: 'servers', key: 'secret', kind: 'string', set: (c, v) => (c.servers.secret = v as string) },
  { section: 'rtmfp', key: 'port', kind: 'port', set: (c, v) => (c.rtmfp.port = v as number) },
  {
    section: 'rtmfp', key: 'keepaliveserver', kind: 'int', min: 5, max: 255, clamp: true,
    set: (c, v) => (c.rtmfp.keepaliveServer = v as number),
  },
  {
    section: 'rtmfp', key: 'keepalivepeer', kind: 'int', min: 5, max: 255, clamp: true,
    set: (c, v) => (c.rtmfp.keepalivePeer = v as number),
  },
  { section: 'rtmp', key: 'port', kind: 'port', set: (c, v) => (c.rtmp.port = v as number) },
  { section: 'rtmp', key: 'rtmperate', kind: 'int', min: 0, max: 1_000_000, set: (c, v) => (c.rtmp.rtmpeRate = v as number) },
  { section: 'http', key: 'port', kind: 'port', set: (c, v) => (c.http.port = v as number) },
  { section: 'http', key: 'timeout', kind: 'seconds', set: (c, v) => (c.http.timeout = v as number) },
  { section: 'http', key: 'index', kind: 'string', set: (c, v) => (c.http.index = v as string) },
  { section: 'http', key: 'headertimeout', kind: 'seconds', set: (c, v) => (c.http.headerTimeout = v as number) },
  {
    section: 'rtsp', key: 'port', kind: 'port', set: (c, v) => (c.rtsp.port = v as number),
    notInEffect: 'RTSP is not served yet',
  },
  // tls.certificat, tls.key and tls.ca are paths: the loader resolves them (relative to the ini's folder)
  { section: 'tls', key: 'certificat', kind: 'string', set: (c, v) => (c.tls.certificat = v as string) },
  { section: 'tls', key: 'key', kind: 'string', set: (c, v) => (c.tls.key = v as string) },
  { section: 'tls', key: 'ca', kind: 'string', set: (c, v) => (c.tls.ca = v as string) },
  { section: 'tls', key: 'ciphers', kind: 'string', set: (c, v) => (c.tls.ciphers = v as string) },
  { section: 'tls', key: 'handshaketimeout', kind: 'seconds', set: (c, v) => (c.tls.handshakeTimeout = v as number) },
  { section: 'tls', key: 'handshakerate', kind: 'int', min: 0, max: 1_000_000, set: (c, v) => (c.tls.handshakeRate = v as number) },
  { section: 'https', key: 'port', kind: 'port', set: (c, v) => (c.https.port = v as number) },
  { section: 'rtmps', key: 'port', kind: 'port', set: (c, v) => (c.rtmps.port = v as number) },
  { section: 'websocket', key: 'timeout', kind: 'seconds', set: (c, v) => (c.websocket.timeout = v as number) },
  {
    section: 'tcp', key: 'maxconnections', kind: 'int', min: -1, max: MAX_INT32,
    set: (c, v) => (c.tcp.maxConnections = v as number),
  },
  {
    section: 'tcp', key: 'maxconnectionsperip', kind: 'int', min: 0, max: MAX_INT32,
    set: (c, v) => (c.tcp.maxConnectionsPerIP = v as number),
  },
  { section: 'tcp', key: 'outputlimit', kind: 'int', min: 16384, max: MAX_INT32, set: (c, v) => (c.tcp.outputLimit = v as number) },
  { section: 'tcp', key: 'stalltimeout', kind: 'seconds', set: (c, v) => (c.tcp.stallTimeout = v as number) },
  { section: 'admin', key: 'port', kind: 'port', set: (c, v) => (c.admin.port = v as number) },
  { section: 'admin', key: 'host', kind: 'string', set: (c, v) => (c.admin.host = (v as string) || '127.0.0.1') },
  { section: 'admin', key: 'password', kind: 'string', set: (c, v) => (c.admin.password = v as string) },
  { section: 'scripts', key: 'budget', kind: 'int', min: 0, max: 600_000, set: (c, v) => (c.scripts.budget = v as number) },
  { section: 'scripts', key: 'startbudget', kind: 'int', min: 0, max: 3_600_000, set: (c, v) => (c.scripts.startBudget = v as number) },
  { section: 'scripts', key: 'memory', kind: 'int', min: 0, max: 1_048_576, set: (c, v) => (c.scripts.memory = v as number) },
  // logs.directory is resolved by the loader (relative to application.dir)
  { section: 'logs', key: 'name', kind: 'filename', set: (c, v) => (c.logs.name = v as string) },
  { section: 'logs', key: 'rotation', kind: 'int', min: 0, max: 1000, set: (c, v) => (c.logs.rotation = v as number) },
  { section: 'logs', key: 'maxsize', kind: 'int', min: 0, max: MAX_INT32, set: (c, v) => (c.logs.maxSize = v as number) },
  ...PUBLICATION_KEYS.map((k) => ({ ...k, section: 'publication', set: (c: Config, v: number | string) => k.apply(c.publication, v) })),
];

/** Defaults of SPEC S1; `dir` is the working directory unless the ini says otherwise. */
export function defaultConfig(dir: string): Config {
  return {
    host: '',
    socketBufferSize: 0,
    threads: 0,
    application: { dir },
    servers: { port: 0, targets: '', secret: '' },
    rtmfp: { port: 1935, keepaliveServer: 15, keepalivePeer: 10 },
    rtmp: { port: 1935, rtmpeRate: 10 },
    http: { port: 80, timeout: 7, index: '', headerTimeout: 10 },
    rtsp: { port: 554 },
    websocket: { timeout: 120 },
    tls: { certificat: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem'), ca: '', ciphers: '', handshakeTimeout: 10, handshakeRate: 50 },
    https: { port: 443 },
    rtmps: { port: 8443 },
    tcp: { maxConnections: -1, maxConnectionsPerIP: 1000, outputLimit: 1024 * 1024, stallTimeout: 15 },
    admin: { port: 9997, host: '127.0.0.1', password: '' },
    scripts: { budget: 500, startBudget: 10_000, memory: 512 },
    logs: { directory: 'logs', name: 'log', rotation: 10, maxSize: 1_000_000 },
    publication: { segments: 5, duration: 2000, partDuration: 500, hlsMemory: 64 << 20, append: false },
    publications: {},
    raw: {},
  };
}

/**
 * Checks one value against its spec. Returns the typed value, or an error text (the caller keeps
 * the default). `warning` is set when the value was clamped.
 */
export function validate(spec: Pick<KeySpec, 'kind' | 'min' | 'max' | 'clamp' | 'empty'>, text: string): { value?: number | string; error?: string; warning?: string } {
  if (text === '' && spec.empty !== undefined) text = spec.empty;
  switch (spec.kind) {
    case 'boolean': {
      const t = text.toLowerCase();
      if (['true', 'yes', 'on', '1'].includes(t)) return { value: 'true' };
      if (['false', 'no', 'off', '0'].includes(t)) return { value: 'false' };
      return { error: `"${text}" is not a boolean (true or false)` };
    }
    case 'string':
      return { value: text };
    case 'filename':
      if (text === '' || /[\\/]/.test(text) || text === '.' || text === '..')
        return { error: `"${text}" is not a plain file name` };
      return { value: text };
    case 'port': {
      if (!/^\d+$/.test(text)) return { error: `"${text}" is not a port number (0 disables, 1..65535)` };
      const n = Number(text);
      if (n > 65535) return { error: `${n} is not a port number (0 disables, 1..65535)` };
      return { value: n };
    }
    case 'int':
    case 'seconds': {
      const pattern = spec.kind === 'int' ? /^[+-]?\d+$/ : /^[+-]?(\d+\.?\d*|\.\d+)$/;
      if (!pattern.test(text)) return { error: `"${text}" is not ${spec.kind === 'int' ? 'an integer' : 'a number of seconds'}` };
      let n = Number(text);
      const min = spec.min ?? 0;
      const max = spec.max ?? MAX_INT32;
      if (n < min || n > max) {
        if (!spec.clamp) return { error: `${n} is out of range ${min}..${max}` };
        const clamped = Math.min(max, Math.max(min, n));
        const warning = `${n} is out of range ${min}..${max}, using ${clamped}`;
        n = clamped;
        return { value: n, warning };
      }
      return { value: n };
    }
  }
}
