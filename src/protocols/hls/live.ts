/**
 * What one request under a live stream's `<name>.m3u8` gets, apart from HTTP: a status, headers and
 * body chunks made from the publication's HLS state (its segmenter, its viewers' sessions). The
 * HTTP handlers answer with it, adding what belongs to the connection (cookies, CORS).
 *
 * Answers come from the server's live home: this process, or with `threads` the primary, which has
 * every publication of the server (its own, the workers' ones mirrored, the other servers' ones
 * relayed): one segmenter per publication then serves every worker, so that a player whose
 * requests reach different workers sees one timeline (epoch, media sequence numbers, parts).
 */
import type { ServerContext } from '../../core/context';
import { parseHLSQuery, type HLSFormat, type HLSQuery, type HLSResource } from '../../media/hls/segmenter';
import { PLAYLIST_TYPE } from '../../media/hls/segmenter';
import { errorPage, type HeaderList } from '../http/response';
import { hlsService } from './service';
import { newSessionId, type HLSStream } from './stream';

/** How long a first request may wait for the first segment of a stream that just started (hls.js waits 20 s for a manifest). */
export const FIRST_SEGMENT_WAIT_MS = 15_000;
const FOREVER = 'public, max-age=31536000, immutable';

/** One request under a live stream, as the HTTP side read it. */
export interface LiveRequest {
  /** the stream name: `<base>.m3u8` */
  base: string;
  /** null: the multivariant playlist `<base>.m3u8`; else what follows `<base>.m3u8/` */
  rest: string | null;
  /** the request's query as received (`_HLS_msn`, `hls_session`, `format`...) */
  query: string;
  /** the query carried onto the URIs given back (tokens) */
  carried: string;
  /** the player's address and user agent (its session when its URLs carry none) */
  address: string;
  userAgent: string;
}

export interface LiveAnswer {
  status: number;
  /** without the connection's own headers (cookies, CORS, Connection, Content-Length) */
  headers: HeaderList;
  /** written one after the other, never concatenated */
  body: Buffer[];
}

/** Where live HLS requests are answered: this process, or (`threads`) the primary. */
export interface LiveHome {
  /**
   * The answer to `q`; null when no live stream has that name (the request may name a media file).
   * `gone()` says the player left (a blocking request stops waiting).
   */
  answer(q: LiveRequest, gone: () => boolean): Promise<LiveAnswer | null>;
}

/** true for a resource under an epoch (`<epoch>/<file>`): one content for good, cacheable forever */
export function isImmutable(q: LiveRequest): boolean {
  return q.rest !== null && /^[^/]+\/[^/]+$/.test(q.rest) && !/\.m3u8$/i.test(q.rest);
}

export function bodySize(a: LiveAnswer): number {
  let n = 0;
  for (const b of a.body) n += b.length;
  return n;
}

export function failure(status: number, message: string): LiveAnswer {
  const headers: HeaderList = [['Content-Type', 'text/html; charset=utf-8'], ['Cache-Control', 'no-cache']];
  if (status === 503) headers.push(['Retry-After', '1']);
  return { status, headers, body: [errorPage(status, message)] };
}

function text(body: string, cacheControl: string): LiveAnswer {
  return { status: 200, headers: [['Content-Type', PLAYLIST_TYPE], ['Cache-Control', cacheControl]], body: [Buffer.from(body, 'utf8')] };
}

function resourceAnswer(r: HLSResource): LiveAnswer {
  return { status: 200, headers: [['Content-Type', r.contentType], ['Cache-Control', FOREVER]], body: r.chunks };
}

/** Adds `query` to a URI (after its own query, if any). */
export function withQuery(uri: string, query: string): string {
  if (!query) return uri;
  return uri + (uri.includes('?') ? '&' : '?') + query;
}

/** Every URI of a playlist (URI lines and `URI="…"` attributes) with `query` carried. */
export function carryQuery(playlist: string, query: string): string {
  if (!query) return playlist;
  return playlist
    .split('\n')
    .map((line) => {
      if (line === '') return line;
      if (line[0] !== '#') return withQuery(line, query);
      return line.includes('URI="') ? line.replace(/URI="([^"]*)"/g, (_all, uri: string) => `URI="${withQuery(uri, query)}"`) : line;
    })
    .join('\n');
}

function sessionQuery(carried: string, id: string): string {
  const s = `hls_session=${id}`;
  return carried ? `${carried}&${s}` : s;
}

export function validSessionId(id: string | null): id is string {
  return id !== null && /^[0-9a-f]{16}$/.test(id);
}

/** The format a request is for: the variant of its playlist, or its resource's extension. */
export function formatOf(q: LiveRequest, params: URLSearchParams): HLSFormat {
  if (q.rest === null) return params.get('format')?.toLowerCase() === 'ts' ? 'ts' : 'fmp4';
  const playlist = /^(fmp4|ts)\.m3u8$/.exec(q.rest);
  if (playlist) return playlist[1] as HLSFormat;
  return q.rest.endsWith('.ts') ? 'ts' : 'fmp4';
}

/** This process as the live home: its own publications' HLS state. */
export function localHome(ctx: ServerContext): LiveHome {
  return { answer: (q, gone) => answerLive(ctx, q, gone) };
}

/**
 * The answer of this process's HLS state for `q`; null when no publication of that name streams
 * here (not in the registry, or not published and no stream left from its last publish).
 */
export async function answerLive(ctx: ServerContext, q: LiveRequest, gone: () => boolean): Promise<LiveAnswer | null> {
  const pub = ctx.publications.get(q.base);
  if (!pub) return null;
  const stream = hlsService(ctx).stream(pub);
  if (!stream) return pub.running ? failure(404, `HLS is off for ${q.base} (segments = 0)`) : null;
  const params = new URLSearchParams(q.query);
  const format = formatOf(q, params);
  const id = params.get('hls_session');
  if (q.rest === null) {
    // the multivariant playlist starts a session (its id is carried onto every URI)
    const s = stream.session(validSessionId(id) ? id : newSessionId(), q.address, q.userAgent, format);
    const waited = await ready(stream, {}, gone, q.base);
    if (waited) return waited;
    const variant = `${q.base}.m3u8/${format}.m3u8`;
    const out = stream.segmenter.multivariant([{ uri: withQuery(variant, sessionQuery(q.carried, s.id)), format }]);
    if (out === null) return failure(404, `the HLS stream of ${q.base} ended`);
    return counted(s.session, text(out, 'no-cache'));
  }
  const s = stream.session(validSessionId(id) ? id : null, q.address, q.userAgent, format);
  const playlist = /^(fmp4|ts)\.m3u8$/.exec(q.rest);
  if (playlist) {
    const hq = parseHLSQuery(params);
    if ('error' in hq) return failure(400, hq.error);
    const waited = await ready(stream, hq, gone, q.base);
    if (waited) return waited;
    const out = stream.segmenter.playlist(format, { skip: (hq as HLSQuery).skip });
    if (out === null) return failure(404, `no ${format} playlist for ${q.base}`);
    // an answer to a blocking request names a state that exists for good: cacheable for a while
    const cache = hq.msn !== undefined ? `public, max-age=${6 * stream.segmenter.targetDuration}` : 'no-cache';
    return counted(s.session, text(carryQuery(out, sessionQuery(q.carried, s.id)), cache));
  }
  const slash = q.rest.indexOf('/');
  if (slash < 0 || q.rest.slice(0, slash) !== stream.epoch) return failure(404, `${q.rest}: not a resource of the current ${q.base} stream`);
  const name = q.rest.slice(slash + 1);
  for (;;) {
    stream.touch();
    const r = stream.segmenter.resource(name);
    if (r === null) return failure(404, `${q.rest} not found (too old, or never made)`);
    if (!('wait' in r)) return counted(s.session, resourceAnswer(r));
    const w = await r.wait;
    if (gone()) return failure(503, `${q.rest}: the player left`);
    if (w === 'timeout') return failure(503, `${q.rest} is late`);
  }
}

function counted(session: { bytes: number } | null, a: LiveAnswer): LiveAnswer {
  if (session) session.bytes += bodySize(a);
  return a;
}

/**
 * Waits until `stream` can answer `q` (blocking reload, or the first segment of a stream that just
 * started). null: answer now; else the failure to answer (400, 404, 503).
 */
async function ready(stream: HLSStream, q: { msn?: number; part?: number }, gone: () => boolean, base: string): Promise<LiveAnswer | null> {
  const deadline = Date.now() + FIRST_SEGMENT_WAIT_MS;
  for (;;) {
    stream.touch();
    const d = stream.segmenter.request(q);
    if ('reason' in d) return failure(d.status, d.reason);
    if (!('wait' in d)) return null;
    const w = await d.wait;
    if (gone()) return failure(503, 'the player left');
    if (stream.isClosed) return failure(404, `the HLS stream of ${base} ended`);
    if (w !== 'timeout') continue;
    // a stream that just started waits for its first segment longer than a blocking reload does
    if (!stream.segmenter.ready && stream.publication.running && Date.now() < deadline) continue;
    return failure(503, stream.segmenter.ready ? 'the segment asked for is late' : `${base} has no segment yet`);
  }
}
