/**
 * A script-less AppHost for protocol tests: methods, onMessage, onRead and onConnection are plain JS
 * functions, so HTTP/WebSocket behaviour can be tested before (and independently of) the Lua layer.
 */
import { FolderHost, type AppHost, type ReadDecision, type ResolvedPath } from '../../src/core/app-host';
import { HTTP_READ, type HookKey, type HookProvider, type HTTPReadHook } from '../../src/core/app-hooks';
import type { Client } from '../../src/core/client';
import { MethodNotFound } from '../../src/core/errors';
import { Table, type Value } from '../../src/serialization/value';

export type Method = (client: Client, args: Value[]) => Value[];

export class TestHost implements AppHost, HookProvider, HTTPReadHook {
  private readonly folders: FolderHost;
  constructor(wwwDir: string) {
    this.folders = new FolderHost(wwwDir);
  }
  resolve(urlPath: string): ResolvedPath {
    return this.folders.resolve(urlPath);
  }
  exists(appPath: string): boolean {
    return this.folders.exists(appPath);
  }
  start(): void {}
  async stop(): Promise<void> {}
  onAddressChanged(): void {}
  onPublish(): void {}
  onUnpublish(): void {}
  onSubscribe(): void {}
  onUnsubscribe(): void {}
  /** answers HTTP's onRead hook (see `read`) */
  hook<T extends object>(key: HookKey<T>): T | undefined {
    return key === (HTTP_READ as HookKey<object>) ? (this as unknown as T) : undefined;
  }

  methods: Record<string, Method> = {};
  message: Method = () => [];
  connection: (client: Client) => Table | null = () => null;
  read: ((client: Client, file: string, params: Table) => ReadDecision) | null = null;
  readonly events: string[] = [];

  onConnection(client: Client): Table | null {
    this.folders.onConnection(client);
    this.events.push(`connect ${client.protocol} ${client.path}?${client.query}`);
    return this.connection(client);
  }
  onDisconnection(client: Client): void {
    this.events.push(`disconnect ${client.protocol} ${client.path}?${client.query}`);
  }
  call(client: Client, method: string, args: Value[]): Value[] {
    const m = Object.prototype.hasOwnProperty.call(this.methods, method) ? this.methods[method] : undefined;
    if (!m) throw new MethodNotFound(method);
    return m(client, args);
  }
  onMessage(client: Client, args: Value[]): Value[] {
    return this.message(client, args);
  }
  onRead(client: Client, file: string, params: Table): ReadDecision {
    return this.read ? this.read(client, file, params) : { file, template: null };
  }
}
