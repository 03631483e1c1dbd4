/**
 * Globals every app sees, declared once for every engine: the `mona` object (its
 * properties and methods) and the log functions FATAL..TRACE.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ServerContext } from '../../core/context';
import { publishTypeOf } from '../../core/publication-source';
import { Level } from '../../logs/levels';
import { recordingTarget } from '../../media/files/names';
import { AMF0Writer, decodeAMF0 } from '../../serialization/amf0';
import { decodeJSON, encodeJSON } from '../../serialization/json';
import { decodeQuery, encodeQuery } from '../../serialization/query';
import { typeText } from '../../serialization/text-values';
import { Table, type Value } from '../../serialization/value';
import { encodeXML, parseXML } from '../../serialization/xml';
import { decodeXMLRPCValues, encodeXMLRPCResponse } from '../../serialization/xmlrpc';
import { resolveHostSync } from './dns-sync';
import type { Args, Out } from './engine';
import type { GlobalFunction, ObjectClass } from './model';
import type { ApiObjects } from './objects';
import type { ScriptSockets } from '../sockets/sockets';
import type { ServerObjects } from './servers';
import type { GroupObjects } from './groups';
import { fileTable, ipAddressTable, socketAddressTable, xmlDocument } from './values';

/** mona:split(expression, separator[, option]): option 1 drops empty tokens, 2 trims, 3 both. */
export function monaSplit(expression: string, separator: string, option: number): string[] {
  let tokens = separator === '' ? [expression] : expression.split(separator);
  if (option & 2) tokens = tokens.map((t) => t.trim());
  if (option & 1) tokens = tokens.filter((t) => t !== '');
  return tokens;
}

/** Canonical hex dump lines (offset, 16 bytes, ASCII) for mona:dump. */
export function hexDump(data: Buffer): string {
  const lines: string[] = [];
  for (let i = 0; i < data.length; i += 16) {
    const row = data.subarray(i, i + 16);
    const hex = [...row].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = [...row].map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${i.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  ${ascii}`);
  }
  return lines.join('\n');
}

const LOG_FUNCTIONS: Array<[string, Level]> = [
  ['FATAL', Level.FATAL],
  ['CRITIC', Level.CRITIC],
  ['ERROR', Level.ERROR],
  ['WARN', Level.WARN],
  ['NOTE', Level.NOTE],
  ['INFO', Level.INFO],
  ['DEBUG', Level.DEBUG],
  ['TRACE', Level.TRACE],
];

/** ERROR(...) and the others: arguments concatenated as tostring prints them, the caller's file:line as source. */
export function logFunctions(ctx: ServerContext): Record<string, GlobalFunction> {
  const out: Record<string, GlobalFunction> = {};
  for (const [name, level] of LOG_FUNCTIONS) {
    out[name] = (args) => {
      if (!ctx.logger.enabled(level)) return;
      const parts: string[] = [];
      const n = args.count();
      for (let i = 1; i <= n; i++) parts.push(args.display(i));
      ctx.logger.log(level, args.where() || 'Lua', parts.join(''));
    };
  }
  return out;
}

/** The script-side value of mona.configs: every ini key typed, sections also as "section.key". */
function configsTable(ctx: ServerContext): Table {
  const t = new Table();
  for (const [k, v] of Object.entries(ctx.config.raw)) {
    if (typeof v === 'string') t.set(k, typeText(v));
    else {
      const section = new Table();
      for (const [sk, sv] of Object.entries(v)) {
        section.set(sk, typeText(sv));
        t.set(`${k}.${sk}`, typeText(sv));
      }
      t.set(k, section);
    }
  }
  const dir = ctx.config.application.dir;
  t.set('application.path', dir);
  t.set('application.dir', dir);
  return t;
}

function environmentTable(): Table {
  const t = new Table();
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) t.set(k, v);
  return t;
}

/**
 * MonaServer's conversions accept an optional leading error callback (`mona:fromXML(error, xml)`):
 * a failure calls it with the message and the call gives nothing back. Without one, the failure is
 * a script error naming the format.
 */
function convert(args: Args, fn: (args: Args, first: number) => void): void {
  const first = args.kind(1) === 'function' ? 2 : 1;
  try {
    fn(args, first);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    if (first === 2) args.callback(1, message);
    else args.error(message);
  }
}

function decoder(decode: (input: Buffer) => Value[], adapt?: (v: Value) => Value): (mona: object, args: Args, out: Out) => void {
  return (_m, args, out) =>
    convert(args, (a, first) => {
      const input = a.bytes(first);
      if (!input) throw new TypeError(`bad argument #${first} (string expected)`);
      const values = decode(input);
      out.reserve(values.length);
      for (const v of values) out.value(adapt ? adapt(v) : v);
    });
}

function encoder(encode: (values: Value[]) => Buffer | string): (mona: object, args: Args, out: Out) => void {
  return (_m, args, out) =>
    convert(args, (a, first) => {
      const r = encode(a.values(first));
      if (typeof r === 'string') out.text(r);
      else out.bytes(r);
    });
}

/** `nil, message` or the address record. */
function address(out: Out, t: Table | string | null, what: string): void {
  if (t instanceof Table) return out.value(t);
  out.nil();
  out.text(typeof t === 'string' ? t : `not a valid ${what}`);
}

/**
 * The app whose script is calling, from the caller's `file:line` ("www/live/main.lua:12" → "/live"):
 * the deepest app folder holding that file ("" for the root or when it cannot be told).
 */
export function callerApp(ctx: ServerContext, where: string): string {
  const file = where.replace(/:\d+:?\s*$/, '');
  const parts = file.split('/');
  if (parts[0] !== 'www') return '';
  const dirs = parts.slice(1, -1);
  for (let n = dirs.length; n > 0; n--) {
    const app = '/' + dirs.slice(0, n).join('/');
    if (ctx.host.exists(app)) return app;
  }
  return '';
}

/** The identity of the one `mona` object. */
export interface MonaObject {
  readonly kind: 'mona';
}

export function createMona(ctx: ServerContext, objects: ApiObjects, sockets: ScriptSockets, servers: ServerObjects, groups: GroupObjects): { cls: ObjectClass<MonaObject>; obj: MonaObject } {
  const obj: MonaObject = { kind: 'mona' };
  let configs: Table | null = null;
  let environment: Table | null = null;
  const www = ctx.wwwDir;
  const where = (args: Args): string => args.where() || 'Lua';

  const cls: ObjectClass<MonaObject> = {
    name: 'mona',
    singleton: obj,
    listMethods: ['split', 'md5', 'sha256', 'fromAMF', 'fromJSON', 'fromQuery', 'fromXMLRPC'],
    properties: {
      clients: (_m, out) => out.object(objects.clients, ctx.clients),
      publications: (_m, out) => out.object(objects.publications, ctx.publications),
      configs: (_m, out) => out.value((configs ??= configsTable(ctx))),
      environment: (_m, out) => out.value((environment ??= environmentTable())),
      groups: (_m, out) => out.object(groups.groups, ctx.groups),
      servers: (_m, out) => out.object(servers.broadcaster, servers.all),
    },
    // any other key is a configuration key, as MonaServer reads `mona.<key>` from mona.configs
    // (`mona.arguments`: the command-line options; an empty table when none was given)
    fallback(_m, key, out) {
      const v = (configs ??= configsTable(ctx)).get(key);
      if (v === null) {
        if (key !== 'arguments') return false;
        out.value(new Table());
        return true;
      }
      out.value(v);
      return true;
    },
    methods: {
      absolutePath(_m, args, out) {
        out.text(`${path.join(www, args.text(1) ?? '').split(path.sep).join('/').replace(/\/$/, '')}/`);
      },
      time(_m, _args, out) {
        out.number(Date.now());
      },
      md5(_m, args, out) {
        out.reserve(args.count());
        for (let i = 1, n = args.count(); i <= n; i++) {
          const b = args.bytes(i);
          if (b) out.bytes(createHash('md5').update(b).digest());
          else out.nil();
        }
      },
      sha256(_m, args, out) {
        out.reserve(args.count());
        for (let i = 1, n = args.count(); i <= n; i++) {
          const b = args.bytes(i);
          if (b) out.bytes(createHash('sha256').update(b).digest());
          else out.nil();
        }
      },
      split(_m, args, out) {
        const tokens = monaSplit(args.text(1) ?? '', args.text(2) ?? '', args.number(3) ?? 0);
        out.reserve(tokens.length);
        for (const t of tokens) out.text(t);
      },
      listPaths(_m, args, out) {
        const dir = path.join(www, args.text(1) ?? '');
        let names: string[];
        try {
          names = fs.readdirSync(dir).sort();
        } catch (e) {
          return args.error(`listPaths: ${(e as Error).message}`);
        }
        out.value(new Table(names.map((n) => fileTable(path.join(dir, n)))));
      },
      dump(_m, args) {
        // MonaServer's form is dump(name, data[, size]); dump(data[, size]) is accepted too
        let name = 'Lua';
        let dataIdx = 1;
        if (args.kind(2) === 'string') {
          name = args.text(1) ?? name;
          dataIdx = 2;
        }
        let data = args.bytes(dataIdx);
        if (!data) return;
        const size = args.number(dataIdx + 1);
        if (size !== undefined) data = data.subarray(0, Math.max(0, size));
        ctx.logger.info(where(args), `${name} (${data.length} bytes)\n${hexDump(data)}`);
      },
      addToBlacklist(_m, args) {
        for (let i = 1, n = args.count(); i <= n; i++) {
          const ip = args.text(i);
          if (ip && ipAddressTable(ip)) ctx.blacklist.add(ip);
          else ctx.logger.error(where(args), `addToBlacklist: ${ip} is not an IP address`);
        }
      },
      removeFromBlacklist(_m, args) {
        for (let i = 1, n = args.count(); i <= n; i++) {
          const ip = args.text(i);
          if (ip) ctx.blacklist.remove(ip);
        }
      },
      createIPAddress(_m, args, out) {
        address(out, ipAddressTable(args.text(1) ?? ''), 'IP address');
      },
      createIPAddressWithDNS(_m, args, out) {
        // blocks until the resolver answers (at most DNS_TIMEOUT_MS), as MonaServer's call does
        const r = resolveHostSync(args.text(1) ?? '');
        if ('error' in r) return address(out, r.error, '');
        address(out, ipAddressTable(r.ip), 'IP address');
      },
      createSocketAddress(_m, args, out) {
        address(out, socketAddressTable(args.text(1) ?? '', args.number(2)), 'socket address');
      },
      createSocketAddressWithDNS(_m, args, out) {
        let port = args.number(2);
        let host = args.text(1) ?? '';
        if (port === undefined) {
          // "host:port" / "[v6]:port": split here so that the host part can be resolved
          const m = /^\[([^\]]+)\]:(\d+)$/.exec(host) ?? /^([^:]+):(\d+)$/.exec(host);
          if (!m) return address(out, `${host} is not a socket address (host:port)`, '');
          host = m[1];
          port = Number(m[2]);
        }
        const r = resolveHostSync(host);
        if ('error' in r) return address(out, r.error, '');
        address(out, socketAddressTable(r.ip, port), 'socket address');
      },
      createTCPClient(_m, _args, out) {
        out.object(sockets.tcpClient, sockets.createTCPClient());
      },
      createTCPServer(_m, _args, out) {
        out.object(sockets.tcpServer, sockets.createTCPServer());
      },
      createUDPSocket(_m, args, out) {
        out.object(sockets.udpSocket, sockets.createUDPSocket(args.boolean(1)));
      },
      publish(_m, args, out) {
        let name = args.text(1);
        if (!name) return args.error('publication name expected');
        // mona:publish(name, "record" | "append"): recorded as a Flash publish of that type is, in
        // the folder of the app whose script publishes
        const type = publishTypeOf(args.text(2) ?? 'live');
        let record: string | null = null;
        if (type !== 'live') ({ name, file: record } = recordingTarget(name));
        try {
          objects.writePublication(out, ctx.publications.publish(null, name, { type, record, app: callerApp(ctx, where(args)) }));
        } catch (e) {
          ctx.logger.warn(where(args), `mona:publish(${name}): ${(e as Error).message}`);
        }
      },
      fromAMF: decoder(decodeAMF0),
      toAMF: encoder((values) => {
        const w = new AMF0Writer({ amf3: true });
        for (const v of values) w.write(v);
        return w.toBuffer();
      }),
      toAMF0: encoder((values) => {
        const w = new AMF0Writer();
        for (const v of values) w.write(v);
        return w.toBuffer();
      }),
      fromJSON: decoder((b) => decodeJSON(b)),
      toJSON: encoder((values) => encodeJSON(values)),
      fromQuery: decoder((b) => decodeQuery(b)),
      toQuery: encoder((values) => encodeQuery(values)),
      // the document and its elements answer MonaServer's shortcuts (doc.root.child.__value)
      fromXML: decoder((b) => [parseXML(b)], xmlDocument),
      toXML: encoder((values) => encodeXML(values)),
      fromXMLRPC: decoder((b) => decodeXMLRPCValues(b)),
      toXMLRPC: encoder((values) => encodeXMLRPCResponse(values)),
      joinGroup(_m, args, out) {
        groups.join(args, out, 1);
      },
    },
    describe: () => 'mona',
  };
  return { cls, obj };
}
