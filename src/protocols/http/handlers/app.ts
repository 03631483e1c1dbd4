/**
 * What the app handlers share: the app and client a request names (resolved once per request), and
 * the answers built from what a script returned or wrote (RPC results, raw bytes, failures).
 */
import { CallFailed, MethodNotFound } from '../../../core/errors';
import type { Value } from '../../../serialization/value';
import { type BodyFormat, encodeFailure, encodeReply, replyType } from '../body-formats';
import type { HTTPClient, ReplyCollector } from '../client';
import type { HTTPExchange, Located } from '../exchange';
import type { HeaderList } from '../response';

export interface AppRequest extends Located {
  client: HTTPClient;
}

/**
 * The app, name and client of `ex`; null when the request was answered instead (no such app: 404,
 * onConnection refused: 403…). Computed once per request, whichever handler asks first.
 */
export function appRequest(ex: HTTPExchange): AppRequest | null {
  if (ex.notes.has('app')) return ex.notes.get('app') as AppRequest | null;
  let result: AppRequest | null = null;
  const where = ex.where();
  if (!where) ex.sendError(404, `${ex.target!.path} not found`);
  else {
    const client = ex.client(where.app);
    if (client) result = { ...where, client };
  }
  ex.notes.set('app', result);
  return result;
}

/**
 * Answers an RPC now, or when an asynchronous method (a JavaScript app's async function) settles:
 * the exchange stays pending meanwhile, so later pipelined requests wait and replies keep order.
 */
export function replyCall(ex: HTTPExchange, client: HTTPClient, format: BodyFormat, results: Value[] | Promise<Value[]>): void {
  if (!(results instanceof Promise)) return reply(ex, client, format, results);
  ex.answered = true;
  ex.pending = true;
  const settled = (answer: () => void): void => {
    if (!ex.http.isClosed) answer();
    ex.done();
  };
  results.then(
    (r) => settled(() => reply(ex, client, format, r)),
    (e: unknown) => settled(() => callFailed(ex, client, format, e)),
  );
}

/** RPC results (and whatever the script wrote) in the request's format; nothing → empty 200. */
export function reply(ex: HTTPExchange, client: HTTPClient, format: BodyFormat, results: Value[]): void {
  const out = client.endRequest();
  if (out.raw.length) return rawReply(ex, out);
  const values = out.values.length ? [...out.values, ...results] : results;
  const headers: HeaderList = [];
  for (const c of out.cookies) headers.push(['Set-Cookie', c]);
  if (values.length === 0) return ex.send(200, headers, null);
  let body: Buffer;
  try {
    body = encodeReply(format, values);
  } catch (e) {
    return ex.sendError(500, `cannot encode the reply: ${(e as Error).message}`);
  }
  headers.push(['Content-Type', replyType(format)], ['Cache-Control', 'no-cache']);
  ex.send(200, headers, body);
}

/**
 * Bytes the script wrote with writer:writeRaw. A complete HTTP response ("HTTP/1.1 200 OK\r\n…")
 * goes out as is and ends the connection (we cannot know where it ends); other bytes are the body.
 */
function rawReply(ex: HTTPExchange, out: ReplyCollector): void {
  const raw = Buffer.concat(out.raw);
  if (raw.subarray(0, 5).toString('latin1') === 'HTTP/') return ex.sendVerbatim(raw);
  const headers: HeaderList = [['Content-Type', 'text/html; charset=utf-8']];
  for (const c of out.cookies) headers.push(['Set-Cookie', c]);
  ex.send(200, headers, raw);
}

/** A method that failed: 404 for an unknown one, 500 with the script's message otherwise. */
export function callFailed(ex: HTTPExchange, client: HTTPClient, format: BodyFormat, e: unknown): void {
  const out = client.endRequest();
  const headers: HeaderList = [];
  for (const c of out.cookies) headers.push(['Set-Cookie', c]);
  if (!(e instanceof CallFailed)) ex.context.logger.error('HTTP', `RPC: ${(e as Error)?.stack ?? e}`);
  const message = e instanceof Error ? e.message : String(e);
  const status = e instanceof MethodNotFound ? 404 : 500;
  headers.push(['Content-Type', replyType(format)]);
  ex.send(status, headers, encodeFailure(format, message));
}
