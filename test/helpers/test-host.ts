/**
 * A script-less AppHost for protocol tests, the one of the test suite: methods, onMessage, onRead,
 * onConnection and the publish/play checks are plain JS functions a test replaces, and what happened
 * is recorded (events, connected/disconnected clients, messages), so protocol behaviour can be tested
 * before (and independently of) the script layer. Given to startTestServer as its `appHost`.
 */
import { FolderHost, type AppHost, type ReadDecision, type ResolvedPath } from '../../src/core/app-host';
import { HTTP_READ, type HookKey, type HookProvider, type HTTPReadHook } from '../../src/core/app-hooks';
import type { Client } from '../../src/core/client';
import { MethodNotFound } from '../../src/core/errors';
import type { Listener } from '../../src/core/listener';
import type { Publication } from '../../src/core/publication';
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
  /** answers HTTP's onRead hook (see `read`) */
  hook<T extends object>(key: HookKey<T>): T | undefined {
    return key === (HTTP_READ as HookKey<object>) ? (this as unknown as T) : undefined;
  }

  /** client:<name>(...) RPCs */
  methods: Record<string, Method> = {};
  /** the answer to a message without handler name (onMessage) */
  message: Method = () => [];
  /** onConnection of an existing app: the table returned to the client; throw to refuse */
  connection: (client: Client, args: Value[]) => Table | null = () => null;
  read: ((client: Client, file: string, params: Table) => ReadDecision) | null = null;
  /** onPublish: throw (StreamRefused) to refuse */
  publishCheck: (client: Client | null, pub: Publication) => void = () => {};
  /** onSubscribe: throw (StreamRefused) to refuse */
  subscribeCheck: (client: Client | null, listener: Listener) => void = () => {};

  /** "connect RTMP /live?x=1", "disconnect …", "publish cam", "unpublish cam", "subscribe cam", "unsubscribe cam" */
  readonly events: string[] = [];
  /** clients onConnection accepted, in order */
  readonly connected: Client[] = [];
  readonly disconnected: Client[] = [];
  /** the arguments of every onMessage */
  readonly messages: Value[][] = [];

  onConnection(client: Client, args: Value[] = []): Table | null {
    this.folders.onConnection(client);
    this.events.push(`connect ${client.protocol} ${client.path}?${client.query}`);
    const answer = this.connection(client, args);
    this.connected.push(client);
    return answer;
  }
  onDisconnection(client: Client): void {
    this.disconnected.push(client);
    this.events.push(`disconnect ${client.protocol} ${client.path}?${client.query}`);
  }
  call(client: Client, method: string, args: Value[]): Value[] {
    const m = Object.prototype.hasOwnProperty.call(this.methods, method) ? this.methods[method] : undefined;
    if (!m) throw new MethodNotFound(method);
    return m(client, args);
  }
  onMessage(client: Client, args: Value[]): Value[] {
    this.messages.push(args);
    return this.message(client, args);
  }
  onRead(client: Client, file: string, params: Table): ReadDecision {
    return this.read ? this.read(client, file, params) : { file, template: null };
  }
  onPublish(client: Client | null, pub: Publication): void {
    this.publishCheck(client, pub);
    this.events.push(`publish ${pub.name}`);
  }
  onUnpublish(_client: Client | null, pub: Publication): void {
    this.events.push(`unpublish ${pub.name}`);
  }
  onSubscribe(client: Client | null, listener: Listener): void {
    this.subscribeCheck(client, listener);
    this.events.push(`subscribe ${listener.publication.name}`);
  }
  onUnsubscribe(_client: Client | null, listener: Listener): void {
    this.events.push(`unsubscribe ${listener.publication.name}`);
  }
}
