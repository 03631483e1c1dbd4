import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Table, Value } from '../serialization/value';
import type { Client } from './client';
import { InvalidApp, MethodNotFound } from './errors';
import type { Listener } from './listener';
import type { Publication } from './publication';

/** Where an incoming URL path lands: the deepest existing app and what is left after it. */
export interface ResolvedPath {
  /** app path: "" for root, "/live", "/Games/myGame" */
  app: string;
  /** the rest of the URL path after the app, without leading slash ("" if none): stream or file name */
  rest: string;
}

/** What `client:onRead(file, params)` decided for an HTTP GET (the HTTP_READ hook of app-hooks.ts). */
export interface ReadDecision {
  /** the file to serve (possibly another name: redirection); null = the script answered itself */
  file: string | null;
  /** values for `<% key %>` templates, when the script returned a table */
  template: Table | null;
}

/**
 * The application layer as protocols see it. Scripting implements it with its script
 * runtime; `FolderHost` below is the script-less behaviour. Every method is synchronous so that
 * protocols keep message order; implementations catch script errors themselves (logged, never thrown
 * out), except the documented refusals: ConnectionRejected, CallFailed/MethodNotFound, StreamRefused.
 * What only one protocol asks (HTTP's onRead, RTMFP's handshake redirection) is not here: see
 * app-hooks.ts. The IP blacklist is core's own (`ServerContext.blacklist`).
 */
export interface AppHost {
  /** URL path → app; null when even the root is missing (cannot happen once www/ exists) */
  resolve(urlPath: string): ResolvedPath;
  /** true if `appPath` ("/live") names an existing application */
  exists(appPath: string): boolean;
  /** server start: root app onStart */
  start(): void;
  /** server stop: onStop of every loaded app, data flushed */
  stop(): Promise<void>;

  /** throws ConnectionRejected / InvalidApp; returns the table onConnection returned (or null) */
  onConnection(client: Client, args: Value[]): Table | null;
  onDisconnection(client: Client): void;
  onAddressChanged(client: Client, oldAddress: string): void;
  /**
   * RPC `client:method(...)`: returns the results; throws CallFailed/MethodNotFound. A Promise when
   * the method is asynchronous (a JavaScript app's async function): the protocol answers that call
   * when it settles (rejected with CallFailed), keeping its own rule of reply order.
   */
  call(client: Client, method: string, args: Value[]): Value[] | Promise<Value[]>;
  /** data without a method name → `client:onMessage(...)`; returns its results */
  onMessage(client: Client, args: Value[]): Value[];

  /** throws StreamRefused('Publish.Failed', message) when the script refuses */
  onPublish(client: Client | null, publication: Publication): void;
  onUnpublish(client: Client | null, publication: Publication): void;
  /** throws StreamRefused('Play.Failed', message) when the script refuses */
  onSubscribe(client: Client | null, listener: Listener): void;
  onUnsubscribe(client: Client | null, listener: Listener): void;
}

/** Splits "/a/b/c" into app and rest, given an existence test; shared by every AppHost. */
export function resolveAppPath(urlPath: string, exists: (app: string) => boolean): ResolvedPath {
  const clean = urlPath.split('?')[0].replace(/\/+/g, '/').replace(/\/$/, '');
  const parts = clean.split('/').filter((p) => p !== '');
  for (let n = parts.length; n > 0; n--) {
    const app = '/' + parts.slice(0, n).join('/');
    if (exists(app)) return { app, rest: parts.slice(n).join('/') };
  }
  return { app: '', rest: parts.join('/') };
}

/**
 * The app a connection URL path names, one rule for every protocol that connects to an
 * app: the whole path if it is an app, else its parent when the last segment is a stream name
 * (/live/s1 → /live), else the whole path, which connecting then refuses with InvalidApp.
 * Unlike `resolveAppPath` it never climbs further than one segment: /nope/x/y is not the root app.
 */
export function connectionAppPath(urlPath: string, exists: (app: string) => boolean): string {
  const segments = urlPath.split('/').filter((s) => s !== '');
  const full = segments.length ? '/' + segments.join('/') : '';
  if (exists(full)) return full;
  const parent = segments.length >= 2 ? '/' + segments.slice(0, -1).join('/') : null;
  return parent !== null && exists(parent) ? parent : full;
}

/** An app path must not escape www/: no "..", no empty or dot segments. */
export function isSafeAppPath(appPath: string): boolean {
  return appPath.split('/').every((s, i) => (i === 0 ? s === '' : s !== '' && s !== '.' && s !== '..' && !s.includes('\\')));
}

/**
 * Script-less applications: folders under www/ are apps, every client is accepted, no method exists.
 * Used before a script engine is attached and in protocol tests.
 */
export class FolderHost implements AppHost {
  constructor(readonly wwwDir: string) {}

  exists(appPath: string): boolean {
    if (appPath === '') return true;
    if (!isSafeAppPath(appPath)) return false;
    try {
      return fs.statSync(path.join(this.wwwDir, appPath)).isDirectory();
    } catch {
      return false;
    }
  }

  resolve(urlPath: string): ResolvedPath {
    return resolveAppPath(urlPath, (a) => this.exists(a));
  }

  start(): void {}
  async stop(): Promise<void> {}

  onConnection(client: Client): Table | null {
    if (!this.exists(client.path)) throw new InvalidApp(client.path);
    return null;
  }
  onDisconnection(): void {}
  onAddressChanged(): void {}
  call(_client: Client, method: string): Value[] {
    throw new MethodNotFound(method);
  }
  onMessage(): Value[] {
    return [];
  }
  onPublish(): void {}
  onUnpublish(): void {}
  onSubscribe(_client: Client | null, _listener: Listener): void {}
  onUnsubscribe(_client: Client | null, _listener: Listener): void {}
}
