/**
 * Incremental HTTP/1.1 request parser working on the raw bytes of one TCP connection. Written on
 * Buffers (not node:http) so that we control pipelining, limits and the exact error statuses:
 * a head larger than HEADER_LIMIT → 431, a body larger than BODY_LIMIT → 413, anything malformed →
 * 400. A parse error is final for the connection (the stream is desynchronised); the session
 * answers it and closes.
 */
import { PendingBytes } from '../pending-bytes';

export const HTTP_LIMITS = {
  /** request line + headers */
  headerBytes: 16 * 1024,
  headerCount: 100,
  /** decoded body (Content-Length or sum of chunks) */
  bodyBytes: 8 * 1024 * 1024,
};

export class HTTPError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HTTPError';
  }
}

export interface HTTPRequest {
  method: string;
  /** the request target as sent ("/app/file?x=1") */
  target: string;
  /** "1.0" or "1.1" ("1.0" for a request line without version, as Flash raw sockets send) */
  version: string;
  /** header names lower-cased; repeated headers joined with ", " (cookies with "; ") */
  headers: Map<string, string>;
  /** lower-cased name → the name as the client first wrote it ("Content-Type") */
  names: Map<string, string>;
  body: Buffer;
}

const enum State {
  Head,
  Body,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  Failed,
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** method SP target [SP HTTP/x.y]: without a version (Flash raw sockets) the request is HTTP/1.0 */
const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+)(?: HTTP\/(\d)\.(\d))? *$/;
/** bytes that may start a request: a method's token characters (or the CR LF between requests) */
function isTokenByte(c: number): boolean {
  return c > 0x20 && c < 0x7f && c !== 0x22 && c !== 0x28 && c !== 0x29 && c !== 0x2c && c !== 0x2f && !(c >= 0x3a && c <= 0x40) && !(c >= 0x5b && c <= 0x5d) && c !== 0x7b && c !== 0x7d;
}
const CRLFCRLF = Buffer.from('\r\n\r\n');

export class RequestParser {
  private buf: Buffer = Buffer.alloc(0);
  private state = State.Head;
  private current: HTTPRequest | null = null;
  private remaining = 0;
  private chunks: Buffer[] = [];
  private bodySize = 0;
  private readonly pending = new PendingBytes();
  /** set when push() met bad input after completing some requests (it returned those) */
  failure: HTTPError | null = null;

  constructor(private readonly limits = HTTP_LIMITS) {}

  /** A request head has begun and is not complete yet (the head deadline runs). */
  get headPending(): boolean {
    return this.state === State.Head && this.buf.length > 0;
  }

  /** Bytes received but not consumed (after an Upgrade request: the first WebSocket bytes). */
  takeRest(): Buffer {
    const rest = this.buf;
    this.buf = Buffer.alloc(0);
    return rest;
  }

  /**
   * Feeds bytes; returns the requests completed so far (pipelining: several per call). Throws
   * HTTPError on malformed input (or, when requests completed before it, returns them and sets
   * `failure`); after that the parser refuses everything.
   * `stopAfter` lets the caller stop at a request that changes the protocol (Upgrade).
   */
  push(data: Buffer, stopAfter?: (r: HTTPRequest) => boolean): HTTPRequest[] {
    if (this.state === State.Failed) throw new HTTPError(400, 'connection already failed');
    // a body arriving in many pieces is joined once, when complete (not re-copied per piece)
    const joined = this.pending.join(this.buf, data, this.state === State.Body || this.state === State.ChunkData ? this.remaining : 0);
    if (!joined) return [];
    this.buf = joined;
    const out: HTTPRequest[] = [];
    try {
      for (;;) {
        const r = this.step();
        if (r === undefined) break;
        if (r === null) continue;
        out.push(r);
        if (stopAfter?.(r)) break;
      }
    } catch (e) {
      this.state = State.Failed;
      this.failure = e instanceof HTTPError ? e : new HTTPError(400, String(e));
      // the requests completed before the bad bytes are still answered (in order, then the error)
      if (out.length === 0) throw this.failure;
    }
    return out;
  }

  /** undefined = need more bytes; null = progressed; request = one complete. */
  private step(): HTTPRequest | null | undefined {
    switch (this.state) {
      case State.Head: {
        // tolerate empty lines between requests (RFC 9112 2.2)
        let start = 0;
        while (start + 1 < this.buf.length && this.buf[start] === 13 && this.buf[start + 1] === 10) start += 2;
        if (start) this.buf = this.buf.subarray(start);
        if (this.buf.length === 0) return undefined;
        const end = this.buf.indexOf(CRLFCRLF);
        if (end < 0) {
          if (this.buf.length > this.limits.headerBytes) throw new HTTPError(431, 'Request header fields too large');
          this.checkStart();
          return undefined;
        }
        if (end + 4 > this.limits.headerBytes) throw new HTTPError(431, 'Request header fields too large');
        const head = this.buf.toString('latin1', 0, end);
        this.buf = this.buf.subarray(end + 4);
        const req = this.parseHead(head);
        this.current = req;
        this.chunks = [];
        this.bodySize = 0;
        const te = req.headers.get('transfer-encoding');
        const cl = req.headers.get('content-length');
        if (te !== undefined) {
          if (cl !== undefined) throw new HTTPError(400, 'both Content-Length and Transfer-Encoding');
          if (te.toLowerCase().split(',').pop()!.trim() !== 'chunked') throw new HTTPError(400, 'unsupported Transfer-Encoding');
          this.state = State.ChunkSize;
          return null;
        }
        if (cl !== undefined) {
          if (!/^\d{1,15}$/.test(cl)) throw new HTTPError(400, 'bad Content-Length');
          const n = Number(cl);
          if (n > this.limits.bodyBytes) throw new HTTPError(413, 'Payload too large');
          if (n > 0) {
            this.remaining = n;
            this.state = State.Body;
            return null;
          }
        }
        return this.finish(Buffer.alloc(0));
      }
      case State.Body: {
        if (this.buf.length < this.remaining) return undefined;
        const body = this.buf.subarray(0, this.remaining);
        this.buf = this.buf.subarray(this.remaining);
        return this.finish(body);
      }
      case State.ChunkSize: {
        const eol = this.buf.indexOf('\r\n');
        if (eol < 0) {
          if (this.buf.length > 1024) throw new HTTPError(400, 'chunk size line too long');
          return undefined;
        }
        const line = this.buf.toString('latin1', 0, eol);
        this.buf = this.buf.subarray(eol + 2);
        const m = /^([0-9a-fA-F]{1,8})[ \t]*(;.*)?$/.exec(line);
        if (!m) throw new HTTPError(400, 'bad chunk size');
        const size = parseInt(m[1], 16);
        if (size === 0) {
          this.state = State.Trailers;
          return null;
        }
        this.bodySize += size;
        if (this.bodySize > this.limits.bodyBytes) throw new HTTPError(413, 'Payload too large');
        this.remaining = size;
        this.state = State.ChunkData;
        return null;
      }
      case State.ChunkData: {
        if (this.buf.length < this.remaining) return undefined;
        this.chunks.push(this.buf.subarray(0, this.remaining));
        this.buf = this.buf.subarray(this.remaining);
        this.state = State.ChunkDataEnd;
        return null;
      }
      case State.ChunkDataEnd: {
        if (this.buf.length < 2) return undefined;
        if (this.buf[0] !== 13 || this.buf[1] !== 10) throw new HTTPError(400, 'chunk not followed by CRLF');
        this.buf = this.buf.subarray(2);
        this.state = State.ChunkSize;
        return null;
      }
      case State.Trailers: {
        // trailers end with an empty line; we read and ignore them
        if (this.buf.length >= 2 && this.buf[0] === 13 && this.buf[1] === 10) {
          this.buf = this.buf.subarray(2);
          return this.finish(Buffer.concat(this.chunks));
        }
        const end = this.buf.indexOf(CRLFCRLF);
        if (end < 0) {
          if (this.buf.length > this.limits.headerBytes) throw new HTTPError(431, 'Trailer fields too large');
          return undefined;
        }
        this.buf = this.buf.subarray(end + 4);
        return this.finish(Buffer.concat(this.chunks));
      }
      default:
        throw new HTTPError(400, 'connection already failed');
    }
  }

  private finish(body: Buffer): HTTPRequest {
    const req = this.current!;
    // copy out of the receive buffer so the request does not pin later bytes
    req.body = body.length ? Buffer.from(body) : body;
    this.current = null;
    this.chunks = [];
    this.state = State.Head;
    return req;
  }

  /**
   * An incomplete head whose start already cannot be a request fails now, not at the idle timeout:
   * a method must be token characters, and a complete request line must parse.
   */
  private checkStart(): void {
    const b = this.buf;
    const eol = b.indexOf('\r\n');
    if (eol >= 0) {
      if (!REQUEST_LINE.test(b.toString('latin1', 0, eol))) throw new HTTPError(400, 'malformed request line');
      return;
    }
    const n = Math.min(b.length, 32);
    for (let i = 0; i < n; i++) {
      const c = b[i];
      if (c === 0x20 && i > 0) return; // the method is complete
      if (c === 0x0d && i === b.length - 1) return; // a CR whose LF has not come yet
      if (!isTokenByte(c)) throw new HTTPError(400, 'malformed request line');
    }
    if (b.length >= 32 && b.subarray(0, 32).indexOf(0x20) < 0) throw new HTTPError(400, 'malformed request line');
  }

  private parseHead(head: string): HTTPRequest {
    const lines = head.split('\r\n');
    const m = REQUEST_LINE.exec(lines[0]);
    if (!m) throw new HTTPError(400, 'malformed request line');
    if (m[3] !== undefined && m[3] !== '1') throw new HTTPError(505, 'HTTP version not supported');
    if (lines.length - 1 > this.limits.headerCount) throw new HTTPError(431, 'too many header fields');
    const headers = new Map<string, string>();
    const names = new Map<string, string>();
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i];
      const colon = line.indexOf(':');
      if (colon <= 0) throw new HTTPError(400, 'malformed header line');
      const name = line.slice(0, colon);
      if (!TOKEN.test(name)) throw new HTTPError(400, 'malformed header name');
      const value = line.slice(colon + 1).trim();
      if (/[\0\r\n]/.test(value)) throw new HTTPError(400, 'control character in header value');
      const key = name.toLowerCase();
      const prev = headers.get(key);
      if (prev === undefined) {
        headers.set(key, value);
        names.set(key, name);
      }
      else if (key === 'content-length') {
        if (prev !== value) throw new HTTPError(400, 'conflicting Content-Length');
      } else headers.set(key, prev + (key === 'cookie' ? '; ' : ', ') + value);
    }
    const version = m[3] === undefined ? '1.0' : `${m[3]}.${m[4]}`;
    if (version === '1.1' && !headers.has('host')) throw new HTTPError(400, 'missing Host header');
    return { method: m[1], target: m[2], version, headers, names, body: Buffer.alloc(0) };
  }
}
