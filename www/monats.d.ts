/**
 * Types of the monats server application API for TypeScript and JavaScript apps (main.ts /
 * main.js under www/). `import { mona, data, app, INFO, type Client } from 'monats'`, or use the
 * same names as they are (every module of an app sees them, as Lua apps see their globals).
 * Editors find this file through www/tsconfig.json; the server itself does not read it.
 * Reference: docs/scripting.md, "JavaScript and TypeScript apps".
 */
declare module 'monats' {
  /** A channel towards one client (`client.writer`, `writer.newWriter()`). */
  export interface Writer {
    /** false: messages may be dropped instead of retransmitted (RTMFP) */
    reliable: boolean;
    readonly closed: boolean;
    /** a remote call of `name` on the client side (NetConnection client method, ["name", ...] over WebSocket) */
    writeInvocation(name: string, ...args: unknown[]): void;
    /** data without a method name (the answer of the RPC being served over RTMP) */
    writeMessage(...args: unknown[]): void;
    /** bytes as the protocol carries them (strings, Buffers, numbers as text), concatenated */
    writeRaw(...data: Array<string | Uint8Array | number>): void;
    writeStatusResponse(code: string, description?: string): void;
    flush(full?: boolean): void;
    /** a new channel to the same client (its onManage runs every 2 s) */
    newWriter(): Writer;
    close(): void;
    onManage?: () => void;
  }

  export interface QualityOfService {
    readonly lostRate: number;
    readonly byteRate: number;
    readonly latency: number;
    readonly lastSendingTime: number;
    readonly droppedFrames: number;
  }

  /** The Map-like side of API collections: `for (const [key, value] of collection)`. */
  export interface Collection<K, V> extends Iterable<[K, V]> {
    readonly size: number;
    get(key: K): V | undefined;
    has(key: K): boolean;
    keys(): IterableIterator<K>;
    values(): IterableIterator<V>;
    entries(): IterableIterator<[K, V]>;
    forEach(fn: (value: V, key: K, collection: this) => void): void;
  }

  export interface CookieOptions {
    expires?: number;
    path?: string;
    domain?: string;
    secure?: boolean;
    httponly?: boolean;
  }

  /** `client.properties`: the connection's properties (connect object, query, HTTP headers). */
  export interface Properties extends Collection<string | number, unknown> {
    /** sets an HTTP cookie and the property (other protocols: false) */
    (key: string, value: unknown, options?: CookieOptions): boolean;
    readonly [key: string]: unknown;
  }

  export interface Client {
    /** 64 hexadecimal characters */
    readonly id: string;
    readonly rawId: Buffer;
    /** "ip:port" */
    readonly address: string;
    /** the app's path ("" for the root app) */
    readonly path: string;
    readonly ping: number;
    readonly lastReceptionTime: number;
    /** "RTMP", "RTMFP", "HTTP", "WebSocket"... */
    readonly protocol: string;
    readonly query: string;
    readonly writer: Writer;
    readonly properties: Properties;
    /** the protocol's section of MonaServer.ini */
    readonly parameters: Record<string, unknown>;
    /** data without a method name */
    onMessage?: (...args: any[]) => unknown;
    /** false (or a throw) refuses the publication */
    onPublish?: (publication: Publication) => boolean | void;
    onUnpublish?: (publication: Publication) => void;
    /** false (or a throw) refuses to play */
    onSubscribe?: (listener: Listener) => boolean | void;
    onUnsubscribe?: (listener: Listener) => void;
    /** HTTP GET of a file: nothing → serve it; a name → serve that one; [name, values] fills `<% key %>` */
    onRead?: (file: string, parameters: Record<string, unknown>) => unknown;
    onAddressChanged?: (oldAddress: string) => void;
    /** RPC methods (`client.add = (a, b) => a + b`), callable from every protocol; a connection property otherwise */
    [key: string]: any;
  }

  export interface Publication {
    readonly name: string;
    readonly lastTime: number;
    readonly droppedFrames: number;
    readonly running: boolean;
    /** metadata (onMetaData) */
    readonly properties: Record<string, unknown>;
    readonly listeners: Collection<Client | Listener, Listener> & { readonly count: number };
    readonly audioQOS: QualityOfService;
    readonly videoQOS: QualityOfService;
    readonly dataQOS: QualityOfService;
    readonly publisher: Client | null;
    writeProperties(properties: Record<string, unknown>): void;
    clearProperties(): void;
    pushAudio(time: number, packet: Uint8Array, ping?: number): void;
    pushVideo(time: number, packet: Uint8Array, ping?: number): void;
    pushAMFData(...values: unknown[]): void;
    pushAMF0Data(...values: unknown[]): void;
    pushJSONData(...values: unknown[]): void;
    pushXMLRPCData(...values: unknown[]): void;
    pushData(...data: Array<string | Uint8Array | number>): void;
    flush(): void;
    close(code?: string, description?: string): void;
    /** `packet` is the FLV tag body, shared with every listener: never modify it */
    onAudio?: (time: number, packet: Buffer) => void;
    onVideo?: (time: number, packet: Buffer) => void;
    onData?: (packet: Buffer, dataType: string) => void;
    onFlush?: () => void;
    [key: string]: any;
  }

  export interface Listener {
    readonly client: Client | null;
    readonly publication: Publication;
    readonly parameters: Record<string, unknown>;
    receiveAudio: boolean;
    receiveVideo: boolean;
    readonly audioQOS: QualityOfService;
    readonly videoQOS: QualityOfService;
    readonly dataQOS: QualityOfService;
    [key: string]: any;
  }

  export interface Clients extends Collection<string, Client> {
    /** by id (64 hex characters) or raw id (32 bytes) */
    (id: string | Uint8Array): Client | undefined;
    readonly count: number;
    readonly [id: string]: unknown;
  }

  export interface Publications extends Collection<string, Publication> {
    (name: string): Publication | undefined;
    readonly count: number;
    readonly [name: string]: unknown;
  }

  export interface IPAddress {
    readonly value: string;
    readonly isIPv6: boolean;
    readonly isLoopback: boolean;
    readonly isSiteLocal: boolean;
    readonly isMulticast: boolean;
    readonly isWildcard: boolean;
    readonly isLinkLocal: boolean;
    readonly [fact: string]: unknown;
  }

  export interface SocketAddress {
    readonly value: string;
    readonly host: IPAddress;
    readonly port: number;
    readonly isIPv6: boolean;
  }

  export interface File {
    readonly name: string;
    readonly baseName: string;
    readonly extension: string;
    readonly parent: string;
    readonly size: number;
    /** seconds since the epoch */
    readonly lastModified: number;
    readonly isFolder: boolean;
    readonly value: string;
  }

  export interface Mona {
    readonly clients: Clients;
    readonly publications: Publications;
    /** every MonaServer.ini key, typed (sections as objects and as "section.key") */
    readonly configs: Record<string, any>;
    readonly environment: Record<string, string>;
    absolutePath(path: string): string;
    /** ms since the epoch */
    time(): number;
    md5(...data: Array<string | Uint8Array>): Buffer[];
    sha256(...data: Array<string | Uint8Array>): Buffer[];
    /** option 1 drops empty tokens, 2 trims, 3 both */
    split(expression: string, separator: string, option?: number): string[];
    listPaths(dir: string): File[];
    dump(name: string, data: Uint8Array | string, size?: number): void;
    addToBlacklist(...ips: string[]): void;
    removeFromBlacklist(...ips: string[]): void;
    /** throws for an invalid address */
    createIPAddress(text: string): IPAddress;
    createIPAddressWithDNS(host: string): IPAddress;
    createSocketAddress(text: string, port?: number): SocketAddress;
    createSocketAddressWithDNS(host: string, port?: number): SocketAddress;
    /** a publication of the server itself (undefined when the name is taken) */
    publish(name: string): Publication | undefined;
    fromAMF(data: Uint8Array | string): unknown[];
    toAMF(...values: unknown[]): Buffer;
    toAMF0(...values: unknown[]): Buffer;
    fromJSON(json: string | Uint8Array): unknown[];
    toJSON(...values: unknown[]): string;
    fromQuery(query: string): unknown[];
    toQuery(...values: unknown[]): string;
    fromXML(xml: string | Uint8Array): any;
    toXML(...values: unknown[]): string;
    fromXMLRPC(xml: string | Uint8Array): unknown[];
    toXMLRPC(...values: unknown[]): string;
  }

  /** An application (`app`, `app.super`): its exports, else its nearest parent's, by name. */
  export interface App {
    /** last path segment ("" for the root) */
    readonly name: string;
    /** "" for the root, "/live", "/Games/chess" */
    readonly path: string;
    /** the parent app (null at the root), whatever language it is written in */
    readonly super: App | null;
    /** loaded child apps by name */
    readonly children: Map<string, App>;
    /** the child app at `path` ("name" or "a/b"), loaded now; null when there is no such folder */
    child(path: string): App | null;
    readonly data: Data;
    readonly [exported: string]: any;
  }

  /**
   * The persistent store of this app (`data.key = value`): values read back as the text they
   * were stored as (numbers too), booleans typed; objects and arrays are copied into sub-tables;
   * `delete data.key` deletes.
   */
  export interface Data {
    [key: string]: any;
  }

  /** The events an app's main module may export (each optional: what it lacks goes to its parent). */
  export interface AppModule {
    onStart?(path: string): void;
    onStop?(path: string): void;
    /** throw to reject (the message goes to the client); a returned object goes in Connect.Success */
    onConnection?(client: Client, ...args: any[]): Record<string, unknown> | void;
    onDisconnection?(client: Client): void;
    /** root app only, every 2 s */
    onManage?(): void;
    onHandshake?(address: string, path: string, properties: Record<string, unknown>, attempts: number): string | string[] | void;
    onRendezVousUnknown?(protocol: string, peerId: string): string | string[] | void;
  }

  type Log = (...args: unknown[]) => void;
  export const app: App;
  export const mona: Mona;
  export const data: Data;
  export const FATAL: Log, CRITIC: Log, ERROR: Log, WARN: Log, NOTE: Log, INFO: Log, DEBUG: Log, TRACE: Log;

  global {
    const app: import('monats').App;
    const mona: import('monats').Mona;
    const data: import('monats').Data;
    const FATAL: (...args: unknown[]) => void;
    const CRITIC: (...args: unknown[]) => void;
    const ERROR: (...args: unknown[]) => void;
    const WARN: (...args: unknown[]) => void;
    const NOTE: (...args: unknown[]) => void;
    const INFO: (...args: unknown[]) => void;
    const DEBUG: (...args: unknown[]) => void;
    const TRACE: (...args: unknown[]) => void;
  }
}
