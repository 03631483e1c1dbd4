/**
 * Files of an app and folders: onRead (refusal, redirection, template, custom answer), static
 * files with validators and byte ranges (ranges.ts), folder index / listing / 301 to the slash
 * form. A name that is no file but `name.flv` / `name.ts` is left to the live handler.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { appHook, HTTP_READ } from '../../../core/app-hooks';
import { MethodNotFound } from '../../../core/errors';
import { decodeQuery } from '../../../serialization/query';
import { Table } from '../../../serialization/value';
import { formatOf } from '../body-formats';
import type { HTTPClient } from '../client';
import type { HTTPExchange } from '../exchange';
import { type FileInfo, fileHeaders, folderListing, lookupFile, notModified } from '../files';
import { extensionOf, isTextType } from '../mime';
import { multipartLayout, parseRange } from '../ranges';
import { type HeaderList, errorPage } from '../response';
import type { HTTPHandler } from '../router';
import { renderTemplate } from '../template';
import { appRequest, callFailed, reply, replyCall } from './app';
import { isAppFile, isServerScript } from './rpc';

/** What the file handler leaves to the live handler: onRead's name that is no file. */
export interface MissingFile {
  client: HTTPClient;
  file: string;
  params: Table;
}
export const MISSING_FILE = 'missing-file';

/** Folder URLs ("/app/"): index file or method, generated listing, or 403. */
export const foldersHandler: HTTPHandler = {
  name: 'folders',
  handle(ex: HTTPExchange): boolean {
    if (ex.method !== 'GET' && ex.method !== 'HEAD' && ex.method !== 'POST') return false;
    if (ex.where()?.name !== '') return false;
    const a = appRequest(ex);
    if (a) folder(ex, a.client);
    return ex.answered;
  },
};

/** Files of the app, through onRead. */
export const filesHandler: HTTPHandler = {
  name: 'files',
  handle(ex: HTTPExchange): boolean {
    if (ex.method !== 'GET' && ex.method !== 'HEAD' && ex.method !== 'POST') return false;
    const a = appRequest(ex);
    if (a) read(ex, a.client, a.name);
    return ex.answered;
  },
};

function appFile(ex: HTTPExchange, app: string, name: string): string {
  return path.join(ex.context.wwwDir, app, name);
}

/** A folder: its index file, a listing, or 403 (`[HTTP] index` setting and onConnection's). */
function folder(ex: HTTPExchange, client: HTTPClient): void {
  const target = ex.target!;
  const index = client.index ?? (ex.context.config.http.index || true);
  if (index === false) return ex.sendError(403, 'folder listing forbidden');
  if (typeof index === 'string' && index !== '' && extensionOf(index) === '' && client.index === index) {
    // an index without extension may be a method of the app (MonaServer's rule)
    const format = formatOf(ex.header('content-type'));
    try {
      return replyCall(ex, client, format, ex.context.host.call(client, index, decodeQuery(target.query)));
    } catch (e) {
      if (!(e instanceof MethodNotFound)) return callFailed(ex, client, format, e);
    }
  }
  if (typeof index === 'string' && index !== '') {
    const safe = index.split('/').every((s) => s !== '..' && s !== '.') && !index.includes('\\') && !path.isAbsolute(index);
    if (safe && isAppFile(ex, client.path, index)) return read(ex, client, index);
    if (client.index === index) return ex.sendError(404, `${index} not found`);
    // a configured default index that this folder does not have: list it
  }
  const dir = path.join(ex.context.wwwDir, client.path);
  const info = lookupFile(ex.context.wwwDir, dir);
  const listing = info?.isDirectory ? folderListing(info.real, target.path, target.query, (n) => !isServerScript(n)) : null;
  if (!listing) return ex.sendError(404, `${target.path} not found`);
  const out = client.endRequest();
  const headers: HeaderList = [['Content-Type', 'text/html; charset=utf-8'], ['Cache-Control', 'no-cache']];
  for (const c of out.cookies) headers.push(['Set-Cookie', c]);
  ex.send(200, headers, listing);
}

/** A file of the app, through the script's onRead (refusal, redirection, template, custom). */
function read(ex: HTTPExchange, client: HTTPClient, name: string): void {
  const target = ex.target!;
  const params = new Table();
  for (const v of decodeQuery(target.query)) {
    if (v instanceof Table) for (const [k, x] of v.fields) params.set(k, x);
    else params.items.push(v);
  }
  let decision;
  try {
    const hook = appHook(ex.context.host, HTTP_READ);
    decision = hook ? hook.onRead(client, name, params) : { file: name, template: null };
  } catch (e) {
    return ex.sendCollected(client, 403, e instanceof Error ? e.message : String(e));
  }
  if (decision.file === null) {
    // the script answered itself (or chose to say nothing: an empty 200)
    return reply(ex, client, formatOf(ex.header('content-type')), []);
  }
  const file = decision.file.replace(/^\/+/, '');
  if (file.split('/').some((s) => s === '..' || s === '.') || file.includes('\\') || file.includes('\0')) {
    return ex.sendError(403, 'path escapes the application folder');
  }
  if (file === '') return folder(ex, client);
  // code of the app, not content (and main.ts is no live TS stream either)
  if (isServerScript(file)) return ex.sendError(404, `${target.path} not found`);
  const info = lookupFile(ex.context.wwwDir, appFile(ex, client.path, file));
  if (!info) {
    const missing: MissingFile = { client, file, params };
    ex.notes.set(MISSING_FILE, missing);
    return; // not answered: the live handler, or the router's 404
  }
  if (info.isDirectory) {
    if (decision.file !== name) return ex.sendError(404, `${file} is a folder`);
    const q = target.query ? `?${target.query}` : '';
    return ex.send(301, [['Location', `${target.path}/${q}`], ['Content-Type', 'text/html; charset=utf-8']], errorPage(301, 'moved'));
  }
  const cookies = client.endRequest().cookies;
  if (decision.template && isTextType(info.mime)) return template(ex, info, decision.template, cookies);
  staticFile(ex, info, cookies);
}

function template(ex: HTTPExchange, info: FileInfo, values: Table, cookies: string[]): void {
  let content = info.data;
  if (!content) {
    try {
      content = fs.readFileSync(info.real);
    } catch {
      return ex.sendError(404, 'file vanished');
    }
  }
  const headers: HeaderList = [['Content-Type', info.mime], ['Cache-Control', 'no-cache']];
  for (const c of cookies) headers.push(['Set-Cookie', c]);
  ex.send(200, headers, renderTemplate(content, values));
}

function staticFile(ex: HTTPExchange, info: FileInfo, cookies: string[]): void {
  const headers = fileHeaders(info);
  for (const c of cookies) headers.push(['Set-Cookie', c]);
  const reqHeaders = ex.req!.headers;
  if (notModified(info, reqHeaders)) return ex.send(304, headers, null);
  const range = parseRange(reqHeaders.get('range'), info.size, info, reqHeaders.get('if-range'));
  if (range.kind === 'unsatisfiable') {
    headers.push(['Content-Range', `bytes */${info.size}`]);
    return ex.send(416, headers, null);
  }
  if (range.kind === 'multi') {
    const layout = multipartLayout(range.spans, info.size, info.mime);
    headers[0] = ['Content-Type', layout.contentType]; // fileHeaders puts Content-Type first
    if (info.data) {
      const data = info.data;
      return ex.send(206, headers, Buffer.concat(layout.pieces.map((p) => (Buffer.isBuffer(p) ? p : data.subarray(p.start, p.end + 1)))));
    }
    return ex.streamFile(206, headers, info, layout.pieces, layout.length);
  }
  const start = range.kind === 'partial' ? range.start : 0;
  const end = range.kind === 'partial' ? range.end : info.size - 1;
  const status = range.kind === 'partial' ? 206 : 200;
  if (range.kind === 'partial') headers.push(['Content-Range', `bytes ${start}-${end}/${info.size}`]);
  if (info.data) return ex.send(status, headers, info.data.subarray(start, end + 1));
  ex.streamFile(status, headers, info, end >= start ? [{ start, end }] : [], Math.max(0, end - start + 1));
}
