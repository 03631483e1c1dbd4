/**
 * Live HLS with `threads`. The primary is the server's live home: it has every publication (its
 * own, the workers' ones mirrored, the other servers' ones relayed), so one segmenter per
 * publication serves every worker and a player whose requests reach different workers sees one
 * timeline (epoch, media sequence numbers, parts). A worker answers its HTTP requests under a live
 * stream by asking the primary over the worker link (the app's rules, onConnection and onRead, ran
 * before, as for any request), and keeps the immutable resources it got (init segments, segments
 * and parts under an epoch) in a bounded cache: a segment crosses to each worker once, whatever the
 * number of its viewers there, and concurrent requests for one resource make one question.
 * Playlists are asked each time (they change; blocking reloads wait at the home). What a worker
 * served from its cache is told to the primary each second, for the viewers' sessions (requests,
 * bytes, the access log's lines).
 *
 * On the link (raw handlers, never seen by scripts), each payload is a 4-byte length, that many
 * bytes of AMF values (the head), then body bytes:
 *   request  [id, base, rest|null, query, carried, address, userAgent]
 *   answer   [id, found, status, headers (name, value, ...), total body bytes] + the body's first piece
 *   body     [id] + the next piece
 *   traffic  [[base, session|null, address, userAgent, format, requests, bytes]...]
 */
import type { ServerContext } from '../core/context';
import type { PeerServer } from '../core/servers';
import { decodeArgs, encodeArgs } from '../cluster/codec';
import { answerLive, bodySize, failure, formatOf, isImmutable, validSessionId, type LiveAnswer, type LiveHome, type LiveRequest } from '../protocols/hls/live';
import { hlsService } from '../protocols/hls/service';
import { Table, type Value } from '../serialization/value';
import type { HeaderList } from '../protocols/http/response';
import { Mesh } from './mesh';

const REQUEST = 'monats.threads.hls';
const ANSWER = 'monats.threads.hls.answer';
const BODY = 'monats.threads.hls.body';
const TRAFFIC = 'monats.threads.hls.traffic';

/** Answer bodies cross in pieces of at most this (a link frame takes 16 MiB). */
const PIECE_BYTES = 1 << 20;
/** Past this much waiting on the link towards a worker, the primary answers 503 (Retry-After) instead. */
export const MAX_QUEUED_BYTES = 8 << 20;
/** A worker stops waiting after this (blocking reloads and first segments wait less at the home). */
const ANSWER_TIMEOUT_MS = 30_000;
/** Immutable resources a worker keeps, at most (least recently asked for dropped first)... */
export const CACHE_BYTES = 64 << 20;
/** ...and for at most this long without a request. */
const CACHE_IDLE_MS = 60_000;
/** Questions one worker may have waiting at the primary; past it requests get 503. */
const MAX_WAITING = 10_000;

function frame(head: readonly Value[], body?: Buffer): Buffer {
  const h = encodeArgs(head);
  const out = Buffer.allocUnsafe(4 + h.length + (body?.length ?? 0));
  out.writeUInt32BE(h.length, 0);
  h.copy(out, 4);
  if (body) body.copy(out, 4 + h.length);
  return out;
}

function unframe(payload: Buffer): { head: Value[]; body: Buffer } {
  if (payload.length < 4) throw new RangeError('short HLS frame');
  const n = payload.readUInt32BE(0);
  if (4 + n > payload.length) throw new RangeError('truncated HLS frame');
  return { head: decodeArgs(payload.subarray(4, 4 + n)), body: payload.subarray(4 + n) };
}

function str(v: Value | undefined): string {
  return typeof v === 'string' ? v : Buffer.isBuffer(v) ? v.toString('utf8') : '';
}

// ---- a worker

interface Waiting {
  resolve(a: LiveAnswer | null): void;
  timer: NodeJS.Timeout;
  answer: LiveAnswer | null;
  total: number;
  received: number;
}

interface Cached {
  answer: Promise<LiveAnswer | null>;
  bytes: number;
  last: number;
}

/** A worker's live home: the primary, asked over the link, with a cache of immutable resources. */
export class WorkerHLS implements LiveHome {
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();
  private readonly cache = new Map<string, Cached>();
  private cachedBytes = 0;
  /** cache hits not told to the primary yet, by session */
  private readonly served = new Map<string, Value[]>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly ctx: ServerContext,
    private readonly mesh: Mesh,
  ) {
    mesh.peers.handleRaw(ANSWER, (_peer, payload) => this.onAnswer(payload, true));
    mesh.peers.handleRaw(BODY, (_peer, payload) => this.onAnswer(payload, false));
    mesh.peers.subscribe({
      onServerDisconnection: (peer) => {
        if (Mesh.placeOf(peer) === 0) for (const id of [...this.waiting.keys()]) this.settle(id, failure(502, 'the primary process is gone'));
      },
    });
    this.timer = setInterval(() => this.tick(), 1000);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    for (const id of [...this.waiting.keys()]) this.settle(id, failure(503, 'stopping'));
    this.cache.clear();
    this.cachedBytes = 0;
  }

  /** resources held (tests, the admin view of a worker) */
  get cacheBytes(): number {
    return this.cachedBytes;
  }

  answer(q: LiveRequest): Promise<LiveAnswer | null> {
    if (!isImmutable(q)) return this.ask(q);
    const key = `${q.base}\0${q.rest}`;
    const hit = this.cache.get(key);
    if (hit) {
      hit.last = Date.now();
      // most recently asked for last: the oldest is dropped first
      this.cache.delete(key);
      this.cache.set(key, hit);
      void hit.answer.then((a) => {
        if (a?.status === 200) this.count(q, bodySize(a));
      });
      return hit.answer;
    }
    const entry: Cached = { answer: this.ask(q), bytes: 0, last: Date.now() };
    this.cache.set(key, entry);
    void entry.answer.then((a) => {
      if (this.cache.get(key) !== entry) return;
      if (a?.status !== 200) {
        this.cache.delete(key);
        return;
      }
      entry.bytes = bodySize(a);
      this.cachedBytes += entry.bytes;
      this.trim();
    });
    return entry.answer;
  }

  private ask(q: LiveRequest): Promise<LiveAnswer | null> {
    const primary = this.mesh.peer(0);
    if (!primary) return Promise.resolve(failure(503, 'the primary process is not linked yet'));
    if (this.waiting.size >= MAX_WAITING) return Promise.resolve(failure(503, 'too many HLS requests waiting'));
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.settle(id, failure(504, 'no answer from the primary process')), ANSWER_TIMEOUT_MS);
      timer.unref();
      this.waiting.set(id, { resolve, timer, answer: null, total: 0, received: 0 });
      if (!primary.sendRaw(REQUEST, frame([id, q.base, q.rest, q.query, q.carried, q.address, q.userAgent]))) this.settle(id, failure(502, 'the link to the primary process is gone'));
    });
  }

  private settle(id: number, a: LiveAnswer | null): void {
    const w = this.waiting.get(id);
    if (!w) return;
    this.waiting.delete(id);
    clearTimeout(w.timer);
    w.resolve(a);
  }

  private onAnswer(payload: Buffer, first: boolean): void {
    let head: Value[];
    let body: Buffer;
    try {
      ({ head, body } = unframe(payload));
    } catch (e) {
      this.ctx.logger.error('HLS', `from the primary process: ${(e as Error).message}`);
      return;
    }
    const id = Number(head[0]);
    const w = this.waiting.get(id);
    if (!w) return;
    // kept for a while in the cache: a copy, not a view of the link's input
    const piece = Buffer.from(body);
    if (first) {
      if (head[1] !== true) return this.settle(id, null);
      const flat = head[3] instanceof Table ? head[3].items : [];
      const headers: HeaderList = [];
      for (let i = 0; i + 1 < flat.length; i += 2) headers.push([str(flat[i]), str(flat[i + 1])]);
      w.answer = { status: Number(head[2]) || 500, headers, body: [] };
      w.total = Number(head[4]) || 0;
    }
    if (!w.answer) return;
    if (piece.length) w.answer.body.push(piece);
    w.received += piece.length;
    if (w.received >= w.total) this.settle(id, w.answer);
  }

  /** A cache hit: told to the primary with the next tick. */
  private count(q: LiveRequest, bytes: number): void {
    const params = new URLSearchParams(q.query);
    const id = params.get('hls_session');
    const session = validSessionId(id) ? id : null;
    const format = formatOf(q, params);
    const key = `${q.base}\0${session ?? `${q.address}\0${q.userAgent}`}\0${format}`;
    const e = this.served.get(key);
    if (e) {
      (e[5] as number)++;
      (e[6] as number) += bytes;
    } else if (this.served.size < 10_000) this.served.set(key, [q.base, session, q.address, q.userAgent, format, 1, bytes]);
  }

  private tick(): void {
    if (this.served.size) {
      const primary = this.mesh.peer(0);
      if (primary) primary.sendRaw(TRAFFIC, frame([new Table([...this.served.values()].map((e) => new Table(e)))]));
      this.served.clear();
    }
    const old = Date.now() - CACHE_IDLE_MS;
    for (const [key, e] of this.cache) {
      if (e.last >= old) break; // in order of last request
      this.drop(key, e);
    }
  }

  private trim(): void {
    for (const [key, e] of this.cache) {
      if (this.cachedBytes <= CACHE_BYTES) break;
      this.drop(key, e);
    }
  }

  private drop(key: string, e: Cached): void {
    this.cache.delete(key);
    this.cachedBytes -= e.bytes;
  }
}

// ---- the primary

/** The primary's side: answers the workers' questions from its own publications' HLS state. */
export class PrimaryHLS {
  constructor(
    private readonly ctx: ServerContext,
    mesh: Mesh,
  ) {
    mesh.peers.handleRaw(REQUEST, (peer, payload) => this.onRequest(peer, payload));
    mesh.peers.handleRaw(TRAFFIC, (_peer, payload) => this.onTraffic(payload));
  }

  private onRequest(peer: PeerServer, payload: Buffer): void {
    let head: Value[];
    try {
      head = unframe(payload).head;
    } catch (e) {
      this.ctx.logger.error('HLS', `from a worker: ${(e as Error).message}`);
      return;
    }
    const id = Number(head[0]);
    const rest = head[2] === null ? null : str(head[2]);
    const q: LiveRequest = { base: str(head[1]), rest, query: str(head[3]), carried: str(head[4]), address: str(head[5]), userAgent: str(head[6]) };
    answerLive(this.ctx, q, () => !peer.connected).then(
      (a) => this.reply(peer, id, a),
      (e: unknown) => {
        this.ctx.logger.error('HLS', `${q.address} ${q.base}.m3u8/${q.rest ?? ''}: ${(e as Error)?.stack ?? e}`);
        this.reply(peer, id, failure(500, 'internal error'));
      },
    );
  }

  private reply(peer: PeerServer, id: number, a: LiveAnswer | null): void {
    if (!peer.connected) return;
    if (a === null) {
      peer.sendRaw(ANSWER, frame([id, false]));
      return;
    }
    const total = bodySize(a);
    // a worker that does not take what it asked for gets no more: its players retry
    if (total > 0 && peer.queuedBytes() > MAX_QUEUED_BYTES) a = failure(503, 'busy, try again');
    const size = bodySize(a);
    const flat: Value[] = [];
    for (const [k, v] of a.headers) flat.push(k, v);
    const pieces = piecesOf(a.body);
    peer.sendRaw(ANSWER, frame([id, true, a.status, new Table(flat), size], pieces[0]));
    for (let i = 1; i < pieces.length; i++) peer.sendRaw(BODY, frame([id], pieces[i]));
  }

  private onTraffic(payload: Buffer): void {
    let entries: Value;
    try {
      entries = unframe(payload).head[0];
    } catch {
      return;
    }
    if (!(entries instanceof Table)) return;
    const service = hlsService(this.ctx);
    for (const e of entries.items) {
      if (!(e instanceof Table)) continue;
      const [base, session, address, userAgent, format, requests, bytes] = e.items;
      const stream = this.ctx.publications.get(str(base))?.peekDerived(service.key);
      if (!stream || stream.isClosed) continue;
      stream.served(session === null ? null : str(session), str(address), str(userAgent), format === 'ts' ? 'ts' : 'fmp4', Number(requests) || 0, Number(bytes) || 0);
    }
  }
}

/** The body as pieces of at most PIECE_BYTES (one empty piece for an empty body). */
function piecesOf(body: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  let parts: Buffer[] = [];
  let size = 0;
  const push = () => {
    out.push(parts.length === 1 ? parts[0] : Buffer.concat(parts, size));
    parts = [];
    size = 0;
  };
  for (const chunk of body) {
    for (let pos = 0; pos < chunk.length; ) {
      const n = Math.min(chunk.length - pos, PIECE_BYTES - size);
      parts.push(chunk.subarray(pos, pos + n));
      size += n;
      pos += n;
      if (size === PIECE_BYTES) push();
    }
  }
  if (size > 0 || out.length === 0) push();
  return out;
}
