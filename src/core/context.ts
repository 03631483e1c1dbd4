import * as path from 'node:path';
import type { Config } from '../config/types';
import type { Logger } from '../logs/levels';
import type { Table, Value } from '../serialization/value';
import type { AppHost } from './app-host';
import { type Client, Clients } from './client';
import { InvalidApp } from './errors';
import { Groups } from './groups';
import { Publications } from './publications';

/** Everything a protocol or the scripting layer needs from the server, built once by src/server.ts. */
export class ServerContext {
  readonly clients = new Clients();
  readonly publications: Publications;
  /** peer-to-peer groups (RTMFP NetGroup and virtual members from scripts) */
  readonly groups: Groups;
  readonly startTime = Date.now();

  constructor(
    readonly config: Config,
    readonly logger: Logger,
    /** replaced by the script engine once it is up (FolderHost before) */
    public host: AppHost,
    readonly version: string,
  ) {
    this.publications = new Publications(() => this.host);
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
    if (!this.host.exists(client.path)) throw new InvalidApp(client.path);
    const result = this.host.onConnection(client, args);
    client.connected = true;
    this.clients.add(client);
    return result;
  }

  /**
   * true if the peer at `address` ("ip:port", "[ipv6]:port") must be refused before anything else:
   * its IP is on the script blacklist. Protocols ask at accept/handshake (MonaServer does the same).
   */
  isBlacklisted(address: string): boolean {
    return this.host.isBlacklisted(address);
  }

  /** Counterpart of connect(): safe to call for a client that never connected, and twice. */
  disconnect(client: Client): void {
    if (!client.connected) return;
    client.connected = false;
    this.clients.remove(client);
    this.host.onDisconnection(client);
  }
}
