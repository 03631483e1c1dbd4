/**
 * Query strings (URL queries, application/x-www-form-urlencoded bodies, mona:fromQuery/toQuery)
 * ↔ script values, as MonaServer maps them (URL queries of every protocol, HTTP form bodies).
 *
 * Decoding (`decodeQuery("a=1&b=2&3&c=x")` → [{a=1, b=2}, 3, {c="x"}]):
 *  - the input is the text after "?" (a leading "?" is data, as in MonaServer);
 *  - each run of consecutive `key=value` pairs becomes one table of fields; a bare token
 *    (no unencoded "=") is a value of its own, so `?1&2` is two arguments;
 *  - empty tokens (`a=1&&b=2`, a trailing "&") are skipped — MonaServer turned an inner one into an
 *    empty string, we see it as noise;
 *  - "+" is a space and %XX a byte, both only when written literally; a malformed "%" sequence is
 *    kept as written (MonaServer does the same), so decoding never fails;
 *  - values are typed like MonaServer: true/false/null (any case), an ISO 8601 date → Date table,
 *    a number in MonaServer's grammar (no exponent, "," also a decimal separator) → number, else a
 *    string (a Buffer when the bytes are not valid UTF-8). Keys are always strings;
 *  - a repeated key keeps its last value.
 *
 * Encoding (`encodeQuery([{x=10}, 3])` → "x=10&3"): table fields → `key=value` pairs, table items
 * and bare values → tokens, joined by "&". Text is percent-encoded (UTF-8, everything but
 * A-Z a-z 0-9 - _ . ~, uppercase hex, space as %20). Numbers never use exponent notation (they
 * would come back as strings), Dates are ISO 8601, ByteArrays (`__raw`) base64 like MonaServer.
 * A table nested inside a field has no query form: it is written as its JSON text (MonaServer
 * wrote a broken flattening). Consecutive tables merge when read back — inherent to the format.
 */
import { isUtf8 } from 'node:buffer';
import { Key, Table, Value } from './value';
import { dateOf, dateTable, formatDateISO, formatPlainNumber, parseDateText, typeText } from './text-values';
import { stringifyJSON } from './json';

/** A query string → its list of values. Never throws: every input has a reading. */
export function decodeQuery(input: Buffer | string): Value[] {
  const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const values: Value[] = [];
  let fields: Map<Key, Value> | null = null;
  let start = 0;
  while (start <= bytes.length) {
    let end = bytes.indexOf(0x26 /* & */, start);
    if (end < 0) end = bytes.length;
    if (end > start) {
      const eq = bytes.indexOf(0x3d /* = */, start);
      if (eq >= 0 && eq < end) {
        const key = asKey(unescape(bytes, start, eq));
        const value = typeValue(unescape(bytes, eq + 1, end));
        if (!fields) {
          fields = new Map();
          values.push(new Table([], fields));
        }
        fields.delete(key);
        fields.set(key, value);
      } else {
        fields = null;
        values.push(typeValue(unescape(bytes, start, end)));
      }
    }
    start = end + 1;
  }
  return values;
}

/** Percent- and plus-decoding of bytes[start, end). */
function unescape(bytes: Buffer, start: number, end: number): Buffer {
  let plain = true;
  for (let i = start; i < end; i++) {
    const c = bytes[i];
    if (c === 0x25 || c === 0x2b) {
      plain = false;
      break;
    }
  }
  if (plain) return bytes.subarray(start, end);
  const out = Buffer.allocUnsafe(end - start); // decoding never grows the text
  let o = 0;
  for (let i = start; i < end; i++) {
    const c = bytes[i];
    if (c === 0x2b) out[o++] = 0x20;
    else if (c === 0x25 && i + 2 < end && hex(bytes[i + 1]) >= 0 && hex(bytes[i + 2]) >= 0) {
      out[o++] = (hex(bytes[i + 1]) << 4) | hex(bytes[i + 2]);
      i += 2;
    } else out[o++] = c;
  }
  return out.subarray(0, o);
}

function hex(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

function asKey(b: Buffer): string {
  return b.toString(isUtf8(b) ? 'utf8' : 'latin1');
}

function typeValue(b: Buffer): Value {
  if (!isUtf8(b)) return Buffer.from(b);
  const text = b.toString('utf8');
  if (text.length >= 10 && text.length <= 40) {
    const time = parseDateText(text);
    if (time !== null) return dateTable(time);
  }
  return typeText(text);
}

/** Values → query string. */
export function encodeQuery(values: Value[]): string {
  const parts: string[] = [];
  for (const v of values) writeTop(v, parts);
  return parts.join('&');
}

function writeTop(v: Value, parts: string[]): void {
  if (!(v instanceof Table) || dateOf(v) !== null || isRaw(v)) {
    parts.push(scalar(v));
    return;
  }
  const dictionary = v.fields.has('__size');
  for (const [k, x] of v.fields) {
    if (dictionary && k === '__size') continue;
    const name = typeof k === 'string' ? k : typeof k === 'number' ? formatPlainNumber(k) : typeof k === 'boolean' ? String(k) : null;
    if (name === null) continue; // a table key has no query form
    parts.push(escape(name) + '=' + scalar(x));
  }
  for (const item of v.items) parts.push(scalar(item));
}

function isRaw(t: Table): boolean {
  const r = t.fields.get('__raw');
  return Buffer.isBuffer(r) || typeof r === 'string';
}

function scalar(v: Value): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') return formatPlainNumber(v);
  if (typeof v === 'string' || Buffer.isBuffer(v)) return escape(v);
  const time = dateOf(v);
  if (time !== null) return escape(formatDateISO(time));
  if (isRaw(v)) {
    const r = v.fields.get('__raw') as Buffer | string;
    return escape((Buffer.isBuffer(r) ? r : Buffer.from(r, 'utf8')).toString('base64'));
  }
  return escape(stringifyJSON(v));
}

const UNRESERVED = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~') UNRESERVED[c.charCodeAt(0)] = 1;
const HEX = '0123456789ABCDEF';

/** Percent-encoding of text (as UTF-8) or bytes. */
export function escape(v: string | Buffer): string {
  const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
  let out = '';
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    out += UNRESERVED[c] ? String.fromCharCode(c) : '%' + HEX[c >> 4] + HEX[c & 15];
  }
  return out;
}
