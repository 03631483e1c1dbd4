import * as path from 'node:path';
import type { Config } from '../config/types';
import type { Logger } from '../logs/levels';
import type { Table, Value } from '../serialization/value';
import { AccessLog } from './access-log';
import type { AppHost } from './app-host';
import { Blacklist } from './blacklist';
import { type Client, Clients } from './client';
import { InvalidApp } from './errors';
import { Groups } from './groups';
import { ipOfAddress } from './ip';
import { Publications } from './publications';
import { Servers } from './servers';

/** Everything a protocol or the scripting layer needs from the server, built once by src/server.ts. */
export class ServerContext {
  readonly clients = new Clients();
  /** the other servers of the cluster (`mona.servers`), filled by the server link */
  readonly servers = new Servers();
  readonly publications: Publications;
  /** peer-to-peer groups (RTMFP NetGroup and virtual members from scripts) */
  readonly groups: Groups;
  readonly startTime = Date.now();
  /** IPs refused at accept/handshake; scripts fill it (mona:addToBlacklist) */
  readonly blacklist = new Blacklist();
  /** the INFO access log and the per-protocol totals (admin API, metrics) */
  readonly access: AccessLog;
  /**
   * Processes that share this server's TCP ports (the workers of `threads`; 1 otherwise): the
   * configured connection caps are the server's, each process holds its share of them.
   */
  portSharers = 1;

  constructor(
    readonly config: Config,
    readonly logger: Logger,
    /** replaced by the script engine once it is up (FolderHost before) */
    public host: AppHost,
    readonly version: string,
  ) {
    this.access = new AccessLog(logger);
    this.publications = new Publications(() => this.host, this.access);
    this.groups = new Groups(() => this.host);
  }

  /** absolute path of the www/ folder */
  get wwwDir(): string {
    return path.join(this.config.application.dir, 'www');
  }

  get dataDir(): string {
    return path.join(this.config.application.dir, 'data');
  }

  /**
   * The connection flow every protocol shares: `client.path` must be set to the app path. Checks the
   * app exists, asks the app (onConnection), registers the client. Returns the table onConnection
   * returned. Throws InvalidApp or ConnectionRejected.
   */
  connect(client: Client, args: Value[]): Table | null {
    let result: Table | null;
    try {
      if (!this.host.exists(client.path)) throw new InvalidApp(client.path);
      result = this.host.onConnection(client, args);
    } catch (e) {
      this.access.connectionRefused(client, e instanceof Error ? e.message : String(e));
      throw e;
    }
    client.connected = true;
    this.clients.add(client);
    this.access.connected(client);
    return result;
  }

  /**
   * true if the peer at `address` ("ip:port", "[ipv6]:port") must be refused before anything else:
   * its IP is on the script blacklist. Protocols ask at accept/handshake (MonaServer does the same).
   */
  isBlacklisted(address: string): boolean {
    if (!this.blacklist.has(address)) return false;
    this.access.blacklisted(ipOfAddress(address) ?? address, address);
    return true;
  }

  /**
   * Counterpart of connect(): safe to call for a client that never connected, and twice. `reason`
   * (closed by peer, timeout, kicked…) goes into the access log.
   */
  disconnect(client: Client, reason = 'closed'): void {
    if (!client.connected) return;
    client.connected = false;
    this.clients.remove(client);
    this.access.disconnected(client, reason);
    this.host.onDisconnection(client);
  }
}
