/**
 * RPC over HTTP: `GET /app/method?args` (a name without extension that is a method of the client)
 * and POST bodies in JSON, XML-RPC, AMF or form encoding (`[method, args…]`, the URL's method, or
 * onMessage). The reply is in the request's format. A GET name that is no method, and a form posted
 * to a page, are left to the file handler.
 */
import * as path from 'node:path';
import { MethodNotFound } from '../../../core/errors';
import { decodeQuery } from '../../../serialization/query';
import { DecodeError, type Value } from '../../../serialization/value';
import { decodeBody, formatOf } from '../body-formats';
import type { HTTPExchange } from '../exchange';
import { lookupFile } from '../files';
import { extensionOf } from '../mime';
import type { HTTPHandler } from '../router';
import { appRequest, callFailed, replyCall } from './app';

export const rpcHandler: HTTPHandler = {
  name: 'rpc',
  handle(ex: HTTPExchange): boolean {
    if (ex.method === 'POST') return post(ex);
    if (ex.method !== 'GET' && ex.method !== 'HEAD') return false;
    const where = ex.where();
    // GET /app/method?args: an RPC when the name has no extension and the client has that method
    if (!where || where.name === '' || extensionOf(where.name) !== '' || where.name.startsWith('.')) return false;
    const a = appRequest(ex);
    if (!a) return true;
    const format = formatOf(ex.header('content-type'));
    try {
      const results = ex.context.host.call(a.client, a.name, decodeQuery(ex.target!.query));
      replyCall(ex, a.client, format, results);
    } catch (e) {
      if (e instanceof MethodNotFound) return false; // not a method: a file (or a folder without its slash)
      callFailed(ex, a.client, format, e);
    }
    return true;
  },
};

function post(ex: HTTPExchange): boolean {
  const a = appRequest(ex);
  if (!a) return true;
  const format = formatOf(ex.header('content-type'));
  let body;
  try {
    body = decodeBody(format, ex.req!.body, a.name !== '');
  } catch (e) {
    ex.sendError(400, e instanceof DecodeError ? e.message : 'malformed body');
    return true;
  }
  const method = a.name || body.method;
  let results: Value[] | Promise<Value[]>;
  try {
    results = method ? ex.context.host.call(a.client, method, body.args) : ex.context.host.onMessage(a.client, body.args);
  } catch (e) {
    if (e instanceof MethodNotFound && a.name !== '' && isAppFile(ex, a.client.path, a.name)) return false; // a form posted to a page
    callFailed(ex, a.client, format, e);
    return true;
  }
  replyCall(ex, a.client, format, results);
  return true;
}

/** A file (not a folder) of the app that may be served. */
export function isAppFile(ex: HTTPExchange, app: string, name: string): boolean {
  const www = ex.context.wwwDir;
  if (isServerScript(name)) return false;
  const info = lookupFile(www, path.join(www, app, name));
  return info !== null && !info.isDirectory;
}

/** Server application scripts are code, never content: not served, not listed. */
export function isServerScript(name: string): boolean {
  const base = name.slice(name.lastIndexOf('/') + 1).toLowerCase();
  return base.endsWith('.lua') || base === 'main.js' || base === 'main.ts';
}
