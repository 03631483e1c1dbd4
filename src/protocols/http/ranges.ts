/**
 * Byte ranges of a static file (RFC 9110 §14): parsing `Range` / `If-Range` and laying out a
 * `multipart/byteranges` body as a list of pieces (part heads in memory, file spans by offset) so
 * that large files can still be streamed from disk.
 */
import { randomBytes } from 'node:crypto';

export interface ByteSpan {
  /** first byte, inclusive */
  start: number;
  /** last byte, inclusive */
  end: number;
}

export type RangeResult =
  | { kind: 'full' }
  | { kind: 'partial'; start: number; end: number }
  | { kind: 'multi'; spans: ByteSpan[] }
  | { kind: 'unsatisfiable' };

/**
 * More range-specs than this: the whole file. Each part costs a part head (~100 bytes) and a
 * disk read, so a header with hundreds of tiny ranges would amplify the work of one request.
 */
export const MAX_RANGES = 16;

const SPEC = /^(\d*)-(\d*)$/;

/**
 * `bytes=` with one or more comma-separated range-specs. A malformed header, a spec whose last is
 * before its first, or more than MAX_RANGES specs: the whole file (the RFC lets a server ignore
 * Range). Unsatisfiable specs are dropped; when none remains: 416. Overlapping or touching spans
 * are coalesced (RFC 9110 §14.6), the rest keep the order the client asked for; one span left is
 * an ordinary single-range answer. If-Range with a validator other than the current one: whole file.
 */
export function parseRange(header: string | undefined, size: number, validators: { etag: string; lastModified: string }, ifRange?: string): RangeResult {
  if (!header) return { kind: 'full' };
  if (ifRange !== undefined && ifRange !== validators.etag && ifRange !== validators.lastModified) return { kind: 'full' };
  const h = header.trim();
  if (h.slice(0, 6).toLowerCase() !== 'bytes=') return { kind: 'full' };
  // empty list elements (`bytes=0-1,,2-3`) are allowed by the list syntax (RFC 9110 §5.6.1)
  const specs = h.slice(6).split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (specs.length === 0 || specs.length > MAX_RANGES) return { kind: 'full' };
  const spans: ByteSpan[] = [];
  for (const spec of specs) {
    const m = SPEC.exec(spec);
    if (!m || (m[1] === '' && m[2] === '')) return { kind: 'full' };
    if (m[1] === '') {
      const n = Number(m[2]);
      if (n === 0 || size === 0) continue; // `-0`: no bytes, unsatisfiable
      spans.push({ start: Math.max(0, size - n), end: size - 1 });
      continue;
    }
    const start = Number(m[1]);
    if (m[2] !== '' && Number(m[2]) < start) return { kind: 'full' };
    if (start >= size) continue;
    spans.push({ start, end: m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1) });
  }
  if (spans.length === 0) return { kind: 'unsatisfiable' };
  const merged = coalesce(spans);
  if (merged.length === 1) return { kind: 'partial', start: merged[0].start, end: merged[0].end };
  return { kind: 'multi', spans: merged };
}

/**
 * Merges overlapping and adjacent spans; each merged span takes the place of the earliest spec it
 * absorbed, so spans that did not overlap anything stay in the client's order.
 */
export function coalesce(spans: ByteSpan[]): ByteSpan[] {
  const byStart = spans.map((s, order) => ({ start: s.start, end: s.end, order })).sort((a, b) => a.start - b.start || a.end - b.end);
  const out: Array<ByteSpan & { order: number }> = [];
  for (const s of byStart) {
    const last = out[out.length - 1];
    if (last && s.start <= last.end + 1) {
      last.end = Math.max(last.end, s.end);
      last.order = Math.min(last.order, s.order);
    } else {
      out.push({ ...s });
    }
  }
  out.sort((a, b) => a.order - b.order);
  return out.map((s) => ({ start: s.start, end: s.end }));
}

/** A piece of a multipart body: bytes already in memory, or a span still on disk. */
export type BodyPiece = Buffer | ByteSpan;

export interface MultipartLayout {
  boundary: string;
  contentType: string;
  pieces: BodyPiece[];
  length: number;
}

/** The `multipart/byteranges` body for `spans` of a file of `size` bytes and type `mime`. */
export function multipartLayout(spans: ByteSpan[], size: number, mime: string): MultipartLayout {
  const boundary = randomBytes(12).toString('hex');
  const pieces: BodyPiece[] = [];
  let length = 0;
  for (const s of spans) {
    // the CRLF before each delimiter belongs to the delimiter (RFC 2046 §5.1.1)
    const head = Buffer.from(`\r\n--${boundary}\r\nContent-Type: ${mime}\r\nContent-Range: bytes ${s.start}-${s.end}/${size}\r\n\r\n`, 'latin1');
    pieces.push(head, s);
    length += head.length + s.end - s.start + 1;
  }
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`, 'latin1');
  pieces.push(tail);
  length += tail.length;
  return { boundary, contentType: `multipart/byteranges; boundary=${boundary}`, pieces, length };
}
