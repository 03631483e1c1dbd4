/**
 * The cluster as scripts see it, declared once for every engine over core's registry
 * (`context.servers`, filled by the server link):
 *  - `mona.servers` (a Broadcaster of every connected server, with `initiators` and `targets`, the
 *    servers that connected to us and those we connected to): `count`, `#`, `(i)`/`[i]` from 1 in
 *    connection order, `(address)`/`[address]` ("ip:port" of the link, or the peer's publicHost),
 *    `pairs`/`ipairs` (position → server), `broadcast(handler, ...)`.
 *  - a server: `address` ("ip:port"), `host`, `port`, `isTarget`, `configs` (its configuration and
 *    properties, typed as mona.configs), any other key one of those (`server.name` for a target
 *    declared `?name=master`); `send(handler, ...)` (true when sent) runs `function
 *    server:handler(...)` on the other side; `reject([message])`.
 *  - A server or a broadcaster returned by onHandshake/onRendezVousUnknown redirects the client to
 *    that server's (those servers') public address for the protocol: such objects read as Values
 *    are records naming the server (`asValue`), which `redirections` turns back into core's
 *    servers for the protocol to resolve.
 */
import type { ServerContext } from '../../core/context';
import type { PeerServer, Redirection, ServerGroup } from '../../core/servers';
import { typeText } from '../../serialization/text-values';
import { Table, type Value } from '../../serialization/value';
import type { Args, Out } from './engine';
import type { ObjectClass } from './model';
import { RecordTable, type RecordClass } from './values';

/** A server read as a Value: `{address = "ip:port", value = "ip:port"}`, printed as its address. */
export const SERVER_RECORD: RecordClass = { name: 'Server', behaviour: 'printed' };

function handlerName(args: Args): string | null {
  const handler = args.text(1);
  return handler === null || handler === '' || handler === '.' ? null : handler;
}

export class ServerObjects {
  readonly server: ObjectClass<PeerServer>;
  /** a broadcaster is core's ServerGroup (one per kind and registry, so scripts can compare them) */
  readonly broadcaster: ObjectClass<ServerGroup>;
  readonly all: ServerGroup;
  readonly initiators: ServerGroup;
  readonly targets: ServerGroup;

  constructor(private readonly ctx: ServerContext) {
    this.all = ctx.servers.group('all');
    this.initiators = ctx.servers.group('initiators');
    this.targets = ctx.servers.group('targets');
    const self = this;
    const where = (args: Args): string => args.where() || 'Servers';

    this.server = {
      name: 'Server',
      properties: {
        address: (s, out) => out.text(s.address),
        host: (s, out) => out.text(s.host),
        port: (s, out) => out.number(s.port),
        isTarget: (s, out) => out.boolean(s.isTarget),
        configs: (s, out) => {
          const t = new Table();
          for (const [k, v] of s.configs) t.set(k, typeText(v));
          out.value(t);
        },
      },
      // any other key: a configuration value or property of the server (server.name)
      fallback(s, key, out) {
        const v = s.config(key);
        if (v === undefined) return false;
        out.value(typeText(v));
        return true;
      },
      methods: {
        send(s, args, out) {
          const handler = handlerName(args);
          if (handler === null) {
            ctx.logger.error(where(args), `server:send: invalid handler '${args.text(1) ?? ''}'`);
            return out.boolean(false);
          }
          try {
            out.boolean(s.sendArgs(handler, args.values(2)));
          } catch (e) {
            ctx.logger.error(where(args), `server:send(${handler}): ${(e as Error).message}`);
            out.boolean(false);
          }
        },
        reject(s, args) {
          s.reject(args.text(1) ?? 'unknown error');
        },
      },
      asValue: (s) => self.record(s),
      describe: (s) => `Server ${s.address}`,
    };

    const at = (b: ServerGroup, key: Args): PeerServer | undefined => {
      const list = self.list(b);
      const n = key.number(1);
      if (n !== undefined) return Number.isInteger(n) && n >= 1 ? list[n - 1] : undefined;
      const address = key.text(1);
      if (address === null) return undefined;
      return list.find((s) => s.address === address) ?? list.find((s) => s.configs.get('publicHost') === address);
    };
    const writeServer = (out: Out, s: PeerServer | undefined): boolean => {
      if (!s) return false;
      out.object(self.server, s);
      return true;
    };
    this.broadcaster = {
      name: 'Broadcaster',
      properties: {
        count: (b, out) => out.number(self.list(b).length),
        initiators: (b, out) => (b.kind === 'all' ? out.object(self.broadcaster, self.initiators) : out.nil()),
        targets: (b, out) => (b.kind === 'all' ? out.object(self.broadcaster, self.targets) : out.nil()),
      },
      methods: {
        broadcast(b, args, out) {
          const handler = handlerName(args);
          if (handler === null) {
            ctx.logger.error(where(args), `broadcast: a handler can't be empty or '.'`);
            return out.number(0);
          }
          try {
            out.number(ctx.servers.broadcast(handler, args.values(2), self.list(b)));
          } catch (e) {
            ctx.logger.error(where(args), `broadcast(${handler}): ${(e as Error).message}`);
            out.number(0);
          }
        },
      },
      fallback: (b, key, out) => writeServer(out, self.list(b).find((s) => s.address === key) ?? self.list(b).find((s) => s.configs.get('publicHost') === key)),
      index: (b, key, out) => writeServer(out, at(b, key)),
      call(b, args, out) {
        writeServer(out, at(b, args));
      },
      len: (b) => self.list(b).length,
      pairs(b, out) {
        const list = self.list(b);
        for (let i = 0; i < list.length; i++) {
          out.number(i + 1);
          out.object(self.server, list[i]);
        }
      },
      asValue: (b) => new Table(self.list(b).map((s) => self.record(s))),
      describe: (b) => `${b.kind === 'all' ? 'servers' : b.kind} (${self.list(b).length})`,
    };
  }

  list(b: ServerGroup): readonly PeerServer[] {
    return b.servers();
  }

  record(s: PeerServer): Table {
    return new RecordTable(SERVER_RECORD, [], new Map<string, Value>([['address', s.address], ['value', s.address]]));
  }

  /**
   * What onHandshake/onRendezVousUnknown returned, as core's redirections: address strings,
   * servers (a broadcaster reads as its servers), arrays of those. Core turns each server into its
   * public address for the protocol asking (redirectionAddresses); a server that left meanwhile is
   * skipped with a warning.
   */
  redirections(results: readonly Value[] | null): Redirection[] {
    const out: Redirection[] = [];
    const add = (v: Value, depth: number): void => {
      if (typeof v === 'string') out.push(v);
      else if (Buffer.isBuffer(v)) out.push(v.toString('utf8'));
      else if (v instanceof RecordTable && v.recordClass === SERVER_RECORD) {
        const address = v.get('address');
        const server = typeof address === 'string' ? this.ctx.servers.all().find((s) => s.address === address) : undefined;
        if (server) out.push(server);
        else this.ctx.logger.warn('Servers', `redirection to server ${String(address)}: it is disconnected`);
      } else if (v instanceof Table && depth < 2) for (const x of v.items) add(x, depth + 1);
    };
    for (const v of results ?? []) add(v, 0);
    return out;
  }
}
