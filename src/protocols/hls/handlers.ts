/**
 * HLS over HTTP: the router handlers answering `GET /<app>/<name>.m3u8` and the URLs under it.
 *
 * URLs (every one relative to the one before, so a page, a CDN or a proxy path prefix keeps them):
 * - `/<app>/<name>.m3u8` — multivariant playlist (CODECS, RESOLUTION, BANDWIDTH) naming the fMP4
 *   variant; `?format=ts` names the MPEG-TS variant instead (MonaServer2's parameter). A file of
 *   that name in the app folder is served as a file (files handler) before any of this.
 * - `/<app>/<name>.m3u8/fmp4.m3u8` — media playlist, fMP4/CMAF with LL-HLS parts and blocking
 *   reload (`_HLS_msn`, `_HLS_part`, `_HLS_skip`); `/<app>/<name>.m3u8/ts.m3u8` — MPEG-TS segments.
 * - `/<app>/<name>.m3u8/<epoch>/init<N>.mp4`, `<msn>.m4s`, `<msn>.<part>.m4s`, `<msn>.ts` — init
 *   segments, segments and parts. `<epoch>` names one life of the stream (or one version of a VOD
 *   file): a URL never serves two different contents, so these are cacheable forever.
 * `<name>` is a publication (any protocol publishes it); when no publication of that name exists,
 * a media file of the app folder (`movie.mp4.m3u8`, or `movie.m3u8` for movie.flv / movie.mp4) is
 * served as a VOD playlist with the same URLs.
 *
 * Rules of the app apply as to files: the connection's client goes through `onConnection`, and
 * every request of a stream through `client:onRead("<name>.m3u8", params)` (refusal → 403, a
 * string → that stream instead, nothing → the script answered). The query of the first URL
 * (tokens) is carried onto every URL given back, with the player's `hls_session` id.
 */
import * as path from 'node:path';
import { appHook, HTTP_READ } from '../../core/app-hooks';
import { decodeQuery } from '../../serialization/query';
import { Table } from '../../serialization/value';
import { findMediaFile } from '../../media/files/names';
import { PLAYLIST_TYPE, type HLSFormat } from '../../media/hls/segmenter';
import { formatOf } from '../http/body-formats';
import type { HTTPClient } from '../http/client';
import { resolveCached, type HTTPExchange } from '../http/exchange';
import { MISSING_FILE, type MissingFile } from '../http/handlers/files';
import { reply } from '../http/handlers/app';
import { type HeaderList, responseHead } from '../http/response';
import type { HTTPHandler } from '../http/router';
import { bodySize, carryQuery, failure, withQuery, type LiveAnswer } from './live';
import { hlsService } from './service';

/** Query parameters that are the player's or ours, never carried onto the URLs given back. */
const OWN_PARAMS = new Set(['_HLS_msn', '_HLS_part', '_HLS_skip', 'hls_session', 'format']);
const FOREVER = 'public, max-age=31536000, immutable';

/** One HLS request once its app, client and stream name are known. */
interface HLSRequest {
  ex: HTTPExchange;
  client: HTTPClient;
  /** the stream name: `<base>.m3u8` */
  base: string;
  params: URLSearchParams;
  /** the query carried onto URLs (without our and the player's own parameters) */
  carried: string;
}

/** `/<app>/<name>.m3u8/<rest>`: everything under a stream's playlist (before the files handler). */
export const hlsResourceHandler: HTTPHandler = {
  name: 'hls-resources',
  handle(ex: HTTPExchange): boolean {
    if (ex.method !== 'GET' && ex.method !== 'HEAD') return false;
    const m = /^(.*?)\/([^/]+)\.m3u8\/(.+)$/i.exec(ex.target!.path);
    if (!m) return false;
    const r = resolveCached(ex.context.host, m[1] || '/');
    if (r.rest !== '') {
      ex.sendError(404, `${ex.target!.path} not found`);
      return true;
    }
    const query = ex.target!.query;
    const client = ex.http.clientFor(ex, r.app, clientQuery(query));
    if (!client) return true; // refused by onConnection, answered
    const base = readAllowed(ex, client, m[2], query);
    if (base === null) return true;
    const req: HLSRequest = { ex, client, base, params: new URLSearchParams(query), carried: carriedQuery(query) };
    answerLater(ex, resource(req, m[3]));
    return true;
  },
};

/** `/<app>/<name>.m3u8` that is no file (after onRead, from the files handler): the multivariant playlist. */
export const hlsPlaylistHandler: HTTPHandler = {
  name: 'hls',
  handle(ex: HTTPExchange): boolean {
    const missing = ex.notes.get(MISSING_FILE) as MissingFile | undefined;
    if (!missing || (ex.method !== 'GET' && ex.method !== 'HEAD')) return false;
    const m = /^([^/]+)\.m3u8$/i.exec(missing.file);
    if (!m) return false;
    const query = ex.target!.query;
    const req: HLSRequest = { ex, client: missing.client, base: m[1], params: new URLSearchParams(query), carried: carriedQuery(query) };
    answerLater(ex, entry(req));
    return true;
  },
};

// ---- the app's rules

/** The query the connection's client is made with: without the parameters that change per request. */
function clientQuery(query: string): string {
  return query.split('&').filter((p) => p !== '' && !OWN_PARAMS.has(paramName(p))).join('&');
}

function carriedQuery(query: string): string {
  return clientQuery(query);
}

function paramName(p: string): string {
  const eq = p.indexOf('=');
  try {
    return decodeURIComponent(eq < 0 ? p : p.slice(0, eq));
  } catch {
    return p;
  }
}

/**
 * `client:onRead("<name>.m3u8", params)` for a request under a stream: the stream name to serve,
 * or null when the request was answered (refused, or the script answered itself).
 */
function readAllowed(ex: HTTPExchange, client: HTTPClient, base: string, query: string): string | null {
  const hook = appHook(ex.context.host, HTTP_READ);
  if (!hook) return base;
  const params = new Table();
  for (const v of decodeQuery(query)) {
    if (v instanceof Table) for (const [k, x] of v.fields) params.set(k, x);
    else params.items.push(v);
  }
  let decision;
  try {
    decision = hook.onRead(client, `${base}.m3u8`, params);
  } catch (e) {
    ex.sendCollected(client, 403, e instanceof Error ? e.message : String(e));
    return null;
  }
  if (decision.file === null) {
    reply(ex, client, formatOf(ex.header('content-type')), []);
    return null;
  }
  const m = /^\/*([^/]+)\.m3u8$/i.exec(decision.file);
  if (!m) {
    ex.sendCollected(client, 404, `${decision.file} is no HLS stream`);
    return null;
  }
  return m[1];
}

// ---- answers

/** Runs an asynchronous answer: the connection keeps later pipelined requests waiting until it is done. */
function answerLater(ex: HTTPExchange, work: Promise<void>): void {
  if (ex.answered) return;
  ex.pending = true;
  work
    .catch((e) => {
      ex.context.logger.error('HLS', `${ex.http.address} ${ex.target?.path}: ${(e as Error)?.stack ?? e}`);
      if (!ex.answered) ex.sendError(500, 'internal error');
    })
    .finally(() => ex.done());
}

function cookies(req: HLSRequest, headers: HeaderList): HeaderList {
  for (const c of req.client.endRequest().cookies) headers.push(['Set-Cookie', c]);
  return headers;
}

/** Sends `a` with the request's cookies: its chunks written one after the other (never concatenated). */
function send(req: HLSRequest, a: LiveAnswer): void {
  const ex = req.ex;
  const headers = cookies(req, [...a.headers]);
  if (a.body.length <= 1) {
    ex.send(a.status, headers, a.body[0] ?? null);
    return;
  }
  ex.answered = true;
  const c = ex.connection;
  if (ex.http.isClosed || c.closed) return;
  const keep = ex.keepAlive;
  const all = ex.common(headers, keep);
  all.push(['Content-Length', String(bodySize(a))]);
  c.write(responseHead(a.status, all), 'latin1');
  if (ex.method !== 'HEAD') for (const chunk of a.body) c.write(chunk);
  if (!keep) ex.http.close();
}

function fail(req: HLSRequest, status: number, message: string): void {
  send(req, failure(status, message));
}

function sendText(req: HLSRequest, text: string, cacheControl: string): void {
  send(req, { status: 200, headers: [['Content-Type', PLAYLIST_TYPE], ['Cache-Control', cacheControl]], body: [Buffer.from(text, 'utf8')] });
}

// ---- what a name is: a live stream (asked of the live home), a file, or nothing

/**
 * The live home's answer for this request, or null when no live stream has that name: then a
 * media file of the app folder may be meant.
 */
function live(req: HLSRequest, rest: string | null): Promise<LiveAnswer | null> {
  const ex = req.ex;
  return hlsService(ex.context).home.answer(
    { base: req.base, rest, query: ex.target!.query, carried: req.carried, address: ex.http.address, userAgent: ex.header('user-agent') ?? '' },
    () => ex.http.isClosed,
  );
}

/** The media file `req.base` names in the app folder, after the app's onRead; a string: why not. */
function fileOf(req: HLSRequest): { file: string } | { missing: string } | { refused: string } {
  const ctx = req.ex.context;
  const found = findMediaFile(ctx.wwwDir, path.join(ctx.wwwDir, req.client.path), req.base);
  if (!found) return { missing: `no publication or media file ${req.base}` };
  // the media file is read: the app rules on it as on an HTTP GET of it
  const hook = appHook(ctx.host, HTTP_READ);
  if (hook) {
    try {
      if (hook.onRead(req.client, found.file, new Table()).file === null) return { refused: `Access to ${found.file} refused` };
    } catch (e) {
      return { refused: (e as Error).message };
    }
  }
  return { file: found.path };
}

// ---- the multivariant playlist

async function entry(req: HLSRequest): Promise<void> {
  const a = await live(req, null);
  if (a) return send(req, a);
  const src = fileOf(req);
  if ('missing' in src) return fail(req, 404, src.missing);
  if ('refused' in src) return fail(req, 403, src.refused);
  const format: HLSFormat = req.params.get('format')?.toLowerCase() === 'ts' ? 'ts' : 'fmp4';
  const variant = `${req.base}.m3u8/${format}.m3u8`;
  const e = await hlsService(req.ex.context).vod(src.file);
  sendText(req, e.vod.multivariant([{ uri: withQuery(variant, req.carried), format }]), 'no-cache');
}

// ---- under the playlist

async function resource(req: HLSRequest, rest: string): Promise<void> {
  const a = await live(req, rest);
  if (a) return send(req, a);
  const src = fileOf(req);
  if ('missing' in src) return fail(req, 404, src.missing);
  if ('refused' in src) return fail(req, 403, src.refused);
  const playlist = /^(fmp4|ts)\.m3u8$/.exec(rest);
  const slash = rest.indexOf('/');
  const e = await hlsService(req.ex.context).vod(src.file);
  if (playlist) {
    sendText(req, carryQuery(e.vod.playlist(playlist[1] as HLSFormat), req.carried), 'no-cache');
    return;
  }
  if (slash < 0 || rest.slice(0, slash) !== e.stamp) return fail(req, 404, `${rest}: not a resource of the current ${req.base}`);
  const r = await e.vod.resource(rest.slice(slash + 1));
  if (!r) return fail(req, 404, `${rest} not found`);
  send(req, { status: 200, headers: [['Content-Type', r.contentType], ['Cache-Control', FOREVER]], body: r.chunks });
}
