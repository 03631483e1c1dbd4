/**
 * Globals every app sees (SPEC S2/S3): the `mona` object, the log functions ERROR..TRACE, and
 * LuaJIT's `bit` library (scripts written for LuaJIT use it; Lua 5.3 has operators instead).
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Clients } from '../../core/client';
import type { Publications } from '../../core/publications';
import { Level } from '../../logs/levels';
import { AMF0Writer, decodeAMF0 } from '../../serialization/amf0';
import { decodeJSON, encodeJSON } from '../../serialization/json';
import { decodeQuery, encodeQuery } from '../../serialization/query';
import { typeText } from '../../serialization/text-values';
import { Table, type Value } from '../../serialization/value';
import { decodeXML, encodeXML } from '../../serialization/xml';
import { decodeXMLRPCValues, encodeXMLRPCResponse } from '../../serialization/xmlrpc';
import { lua } from '../lua/fengari';
import { luaName, type LuaClass, type LuaVM } from '../lua/vm';
import type { LuaHost } from '../lua-host';
import { fileTable, ipAddressTable, socketAddressTable } from './addresses';
import { resolveHostSync } from './dns-sync';
import { canonicalIP, ipOfAddress } from '../../core/ip';
import { argValues } from './objects';

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

/**
 * The blacklist mona:addToBlacklist fills (LuaHost.isBlacklisted). IPs are kept and compared in
 * canonical form, so "::ffff:127.0.0.1" from a dual-stack socket matches a script's "127.0.0.1".
 */
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

export function installGlobals(host: LuaHost): void {
  const vm = host.vm;
  const L = vm.L;
  const logger = host.ctx.logger;

  for (const [name, level] of LOG_FUNCTIONS) {
    vm.pushFunction(() => {
      if (!logger.enabled(level)) return 0;
      const parts: string[] = [];
      const top = vm.top();
      for (let i = 1; i <= top; i++) parts.push(vm.errorText(i));
      logger.log(level, vm.where(1) || 'Lua', parts.join(''));
      return 0;
    });
    lua.lua_setglobal(L, luaName(name));
  }

  installBit(vm);
  const mona = monaClass(host);
  vm.pushObject(mona, host);
  lua.lua_setglobal(L, luaName('mona'));
}

function installBit(vm: LuaVM): void {
  const L = vm.L;
  const n = (i: number): number => lua.lua_tonumber(L, i) | 0;
  const fold = (op: (a: number, b: number) => number) => (): number => {
    let r = n(1);
    for (let i = 2; i <= vm.top(); i++) r = op(r, n(i));
    lua.lua_pushnumber(L, r | 0);
    return 1;
  };
  const fns: Record<string, () => number> = {
    tobit: () => (lua.lua_pushnumber(L, n(1)), 1),
    bnot: () => (lua.lua_pushnumber(L, ~n(1)), 1),
    band: fold((a, b) => a & b),
    bor: fold((a, b) => a | b),
    bxor: fold((a, b) => a ^ b),
    lshift: () => (lua.lua_pushnumber(L, n(1) << (n(2) & 31)), 1),
    rshift: () => (lua.lua_pushnumber(L, (n(1) >>> (n(2) & 31)) | 0), 1),
    arshift: () => (lua.lua_pushnumber(L, n(1) >> (n(2) & 31)), 1),
    rol: () => {
      const x = n(1);
      const s = n(2) & 31;
      lua.lua_pushnumber(L, ((x << s) | (x >>> (32 - s))) | 0);
      return 1;
    },
    ror: () => {
      const x = n(1);
      const s = n(2) & 31;
      lua.lua_pushnumber(L, ((x >>> s) | (x << (32 - s))) | 0);
      return 1;
    },
    bswap: () => {
      const x = n(1);
      lua.lua_pushnumber(L, ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24));
      return 1;
    },
    tohex: () => {
      let digits = lua.lua_type(L, 2) === lua.LUA_TNUMBER ? n(2) : 8;
      const upper = digits < 0;
      digits = Math.min(Math.abs(digits), 8);
      let s = (n(1) >>> 0).toString(16).padStart(8, '0').slice(8 - digits);
      if (upper) s = s.toUpperCase();
      vm.pushString(s);
      return 1;
    },
  };
  lua.lua_createtable(L, 0, Object.keys(fns).length);
  for (const [name, fn] of Object.entries(fns)) {
    vm.pushFunction(fn);
    lua.lua_setfield(L, -2, luaName(name));
  }
  lua.lua_setglobal(L, luaName('bit'));
}

/** Pushes each Value and returns their count (multiple results). */
function pushAll(vm: LuaVM, values: Value[]): number {
  for (const v of values) vm.pushValue(v);
  return values.length;
}

/** A decoder call: errors become Lua errors for the calling script. */
function decode(vm: LuaVM, fn: (input: Buffer) => Value[]): number {
  const input = vm.toBytes(2);
  if (!input) return vm.argError(2, 'string expected');
  let values: Value[];
  try {
    values = fn(input);
  } catch (e) {
    return vm.error(e instanceof Error ? e.message : String(e));
  }
  return pushAll(vm, values);
}

function encode(vm: LuaVM, fn: (values: Value[]) => Buffer | string): number {
  let out: Buffer | string;
  try {
    out = fn(argValues(vm, 2));
  } catch (e) {
    return vm.error(e instanceof Error ? e.message : String(e));
  }
  if (typeof out === 'string') vm.pushString(out);
  else vm.pushBytes(out);
  return 1;
}

function configsTable(host: LuaHost): Table {
  const t = new Table();
  for (const [k, v] of Object.entries(host.ctx.config.raw)) {
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
  const dir = host.ctx.config.application.dir;
  t.set('application.path', dir);
  t.set('application.dir', dir);
  return t;
}

function environmentTable(): Table {
  const t = new Table();
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) t.set(k, v);
  return t;
}

function monaClass(host: LuaHost): LuaClass<LuaHost> {
  let configs: Table | null = null;
  let environment: Table | null = null;
  const emptyCollection = (name: string): LuaClass<object> => ({
    name,
    get: () => false,
    meta: {
      __len: (vm) => (lua.lua_pushnumber(vm.L, 0), 1),
      __pairs: (vm) => vm.pushPairs(() => lua.lua_createtable(vm.L, 0, 0)),
      __call: () => 0,
    },
  });
  const groups = emptyCollection('Groups');
  const servers = emptyCollection('Servers');
  const groupsObj = {};
  const serversObj = {};

  return {
    name: 'mona',
    singleton: host,
    get(vm, h, key) {
      switch (key) {
        case 'clients':
          vm.pushObject(h.objects.clients, h.ctx.clients as Clients);
          return true;
        case 'publications':
          vm.pushObject(h.objects.publications, h.ctx.publications as Publications);
          return true;
        case 'configs':
          vm.pushValue((configs ??= configsTable(h)));
          return true;
        case 'environment':
          vm.pushValue((environment ??= environmentTable()));
          return true;
        case 'groups':
          vm.pushObject(groups, groupsObj);
          return true;
        case 'servers':
          vm.pushObject(servers, serversObj);
          return true;
      }
      return false;
    },
    methods: {
      absolutePath(vm, h) {
        const p = vm.toText(2) ?? '';
        vm.pushString(`${path.join(h.wwwDir, p).split(path.sep).join('/').replace(/\/$/, '')}/`);
        return 1;
      },
      time(vm) {
        lua.lua_pushnumber(vm.L, Date.now());
        return 1;
      },
      md5(vm) {
        let n = 0;
        const top = vm.top();
        for (let i = 2; i <= top; i++, n++) {
          const b = vm.toBytes(i);
          if (b) vm.pushBytes(createHash('md5').update(b).digest());
          else lua.lua_pushnil(vm.L);
        }
        return n;
      },
      sha256(vm) {
        let n = 0;
        const top = vm.top();
        for (let i = 2; i <= top; i++, n++) {
          const b = vm.toBytes(i);
          if (b) vm.pushBytes(createHash('sha256').update(b).digest());
          else lua.lua_pushnil(vm.L);
        }
        return n;
      },
      split(vm, _h, L) {
        const tokens = monaSplit(vm.toText(2) ?? '', vm.toText(3) ?? '', lua.lua_type(L, 4) === lua.LUA_TNUMBER ? lua.lua_tonumber(L, 4) : 0);
        for (const t of tokens) vm.pushString(t);
        return tokens.length;
      },
      listPaths(vm, h) {
        const dir = path.join(h.wwwDir, vm.toText(2) ?? '');
        let names: string[];
        try {
          names = fs.readdirSync(dir).sort();
        } catch (e) {
          return vm.error(`listPaths: ${(e as Error).message}`);
        }
        vm.pushValue(new Table(names.map((n) => fileTable(path.join(dir, n)))));
        return 1;
      },
      dump(vm, h) {
        // MonaServer's form is dump(name, data[, size]); dump(data[, size]) is accepted too
        let name = 'Lua';
        let dataIdx = 2;
        if (vm.toBytes(3) !== null && lua.lua_type(vm.L, 3) === lua.LUA_TSTRING) {
          name = vm.toText(2) ?? name;
          dataIdx = 3;
        }
        let data = vm.toBytes(dataIdx);
        if (!data) return 0;
        if (lua.lua_type(vm.L, dataIdx + 1) === lua.LUA_TNUMBER) data = data.subarray(0, Math.max(0, lua.lua_tonumber(vm.L, dataIdx + 1)));
        h.ctx.logger.info(vm.where(1) || 'Lua', `${name} (${data.length} bytes)\n${hexDump(data)}`);
        return 0;
      },
      addToBlacklist(vm, h) {
        for (let i = 2; i <= vm.top(); i++) {
          const ip = vm.toText(i);
          if (ip && ipAddressTable(ip)) h.blacklist.add(ip);
          else h.ctx.logger.error(vm.where(1) || 'Lua', `addToBlacklist: ${ip} is not an IP address`);
        }
        return 0;
      },
      removeFromBlacklist(vm, h) {
        for (let i = 2; i <= vm.top(); i++) {
          const ip = vm.toText(i);
          if (ip) h.blacklist.remove(ip);
        }
        return 0;
      },
      createIPAddress(vm) {
        return pushAddress(vm, ipAddressTable(vm.toText(2) ?? ''), 'IP address');
      },
      createIPAddressWithDNS(vm) {
        // blocks until the resolver answers (at most DNS_TIMEOUT_MS), as MonaServer's call does
        const r = resolveHostSync(vm.toText(2) ?? '');
        if ('error' in r) return pushAddress(vm, null, r.error);
        return pushAddress(vm, ipAddressTable(r.ip), 'IP address');
      },
      createSocketAddress(vm, _h, L) {
        const port = lua.lua_type(L, 3) === lua.LUA_TNUMBER ? lua.lua_tonumber(L, 3) : undefined;
        const t = socketAddressTable(vm.toText(2) ?? '', port);
        return pushAddress(vm, typeof t === 'string' ? null : t, typeof t === 'string' ? t : '');
      },
      createSocketAddressWithDNS(vm, _h, L) {
        let port = lua.lua_type(L, 3) === lua.LUA_TNUMBER ? lua.lua_tonumber(L, 3) : undefined;
        let host = vm.toText(2) ?? '';
        if (port === undefined) {
          // "host:port" / "[v6]:port": split here so that the host part can be resolved
          const m = /^\[([^\]]+)\]:(\d+)$/.exec(host) ?? /^([^:]+):(\d+)$/.exec(host);
          if (!m) return pushAddress(vm, null, `${host} is not a socket address (host:port)`);
          host = m[1];
          port = Number(m[2]);
        }
        const r = resolveHostSync(host);
        if ('error' in r) return pushAddress(vm, null, r.error);
        const t = socketAddressTable(r.ip, port);
        return pushAddress(vm, typeof t === 'string' ? null : t, typeof t === 'string' ? t : '');
      },
      publish(vm, h) {
        const name = vm.toText(2);
        if (!name) return vm.argError(2, 'publication name expected');
        try {
          const pub = h.ctx.publications.publish(null, name);
          h.objects.pushPublication(pub);
          return 1;
        } catch (e) {
          h.ctx.logger.warn(vm.where(1) || 'Lua', `mona:publish(${name}): ${(e as Error).message}`);
          return 0;
        }
      },
      fromAMF: (vm) => decode(vm, decodeAMF0),
      toAMF: (vm) =>
        encode(vm, (values) => {
          const w = new AMF0Writer({ amf3: true });
          for (const v of values) w.write(v);
          return w.toBuffer();
        }),
      toAMF0: (vm) =>
        encode(vm, (values) => {
          const w = new AMF0Writer();
          for (const v of values) w.write(v);
          return w.toBuffer();
        }),
      fromJSON: (vm) => decode(vm, (b) => decodeJSON(b)),
      toJSON: (vm) => encode(vm, (values) => encodeJSON(values)),
      fromQuery: (vm) => decode(vm, (b) => decodeQuery(b)),
      toQuery: (vm) => encode(vm, (values) => encodeQuery(values)),
      fromXML(vm) {
        const n = decode(vm, (b) => decodeXML(b));
        // element shortcuts as MonaServer gives them: element.childName, element.__value
        const top = vm.top();
        for (let i = top - n + 1; i <= top; i++) {
          vm.pushRef(xmlShortcuts(vm));
          lua.lua_pushvalue(vm.L, i);
          vm.call(1, top);
        }
        return n;
      },
      toXML: (vm) => encode(vm, (values) => encodeXML(values)),
      fromXMLRPC: (vm) => decode(vm, (b) => decodeXMLRPCValues(b)),
      toXMLRPC: (vm) => encode(vm, (values) => encodeXMLRPCResponse(values)),
      joinGroup(vm) {
        return vm.error('mona:joinGroup: RTMFP groups are not available in this build');
      },
    },
    describe: () => 'mona',
  };
}

// raw accesses only: in 5.3 ipairs would go through __index and recurse
const XML_SHORTCUTS = `
local meta = { __index = function(t, k)
  if k == '__value' then return rawget(t, 1) end
  for i = 1, rawlen(t) do local v = rawget(t, i) if type(v) == 'table' and rawget(v, '__name') == k then return v end end
end }
local function mark(t, depth)
  if type(t) ~= 'table' or depth > 256 then return end
  if rawget(t, '__name') ~= nil and getmetatable(t) == nil then setmetatable(t, meta) end
  for i = 1, rawlen(t) do mark(rawget(t, i), depth + 1) end
end
return function(t) mark(t, 0) end
`;
const xmlRefs = new WeakMap<LuaVM, number>();

/** The Lua function giving fromXML's element tables their shortcuts (made once per state). */
function xmlShortcuts(vm: LuaVM): number {
  let ref = xmlRefs.get(vm);
  if (ref === undefined) {
    vm.run(XML_SHORTCUTS, '=xml');
    ref = vm.ref();
    xmlRefs.set(vm, ref);
  }
  return ref;
}

function pushAddress(vm: LuaVM, t: Table | null, what: string): number {
  if (!t) {
    lua.lua_pushnil(vm.L);
    vm.pushString(what.includes(' ') && !what.endsWith('address') ? what : `not a valid ${what}`);
    return 2;
  }
  vm.pushValue(t);
  // tostring(address) gives its value, as MonaServer's address objects print
  vm.run('local t = ... return setmetatable(t, { __tostring = function(self) return self.value end })', '=address', 1);
  return 1;
}

