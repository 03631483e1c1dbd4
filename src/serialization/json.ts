/**
 * JSON (RFC 8259) ↔ script values, as MonaServer maps them.
 *
 * A message (WebSocket text frame, application/json body, mona:fromJSON) is a list of values:
 * `decodeJSON('[1,"a"]')` → [1, "a"]; a text that is not an array is one value. `encodeJSON(values)`
 * always writes one array holding them (MonaServer encapsulates every JSON message in `[...]`).
 *
 * Tables: only items → array; only fields → object; both → `[{…fields…}, …items…]` (MonaServer's
 * convention for mixed tables); an empty table → `[]`. Non-string keys are written as their text.
 * Special tables, as MonaServer writes them:
 *  - Date `{__time = ms}` → ISO 8601 string "2005-01-01T12:00:00.000Z" (UTC, milliseconds).
 *    Reading: a JSON string holding an ISO 8601 date becomes a Date table again, like MonaServer
 *    (disable with `{ dates: false }`).
 *  - ByteArray `{__raw = bytes}` → `{"__raw":"<base64>"}`, and that object reads back as a ByteArray.
 *  - typed object `{__type = "Class", …}` → an object whose first key is "__type".
 *  - Dictionary (`__size`) → an object keyed by the keys' text, `__size` one of its members (as
 *    MonaServer writes it), so the table reads back the same.
 * A bare Buffer (bytes not meant as text) becomes a JSON string: its UTF-8 text when it is valid
 * UTF-8, else one character per byte (Latin-1), so nothing is lost silently.
 * Numbers print in the shortest form that reads back as the same double (integers without ".0");
 * NaN and ±Infinity, which JSON cannot hold, become null.
 *
 * Unlike MonaServer (which accepted unterminated input and wrote strings without escaping), the
 * reader is strict RFC 8259 and the writer escapes properly.
 */
import { isUtf8 } from 'node:buffer';
import { DECODE_LIMITS, DecodeError, Key, Table, Value } from './value';
import { dateOf, dateTable, formatDateISO, formatNumber, parseDateText } from './text-values';

export interface JSONDecodeOptions {
  /** ISO 8601 strings become Date tables (MonaServer behaviour). Default true. */
  dates?: boolean;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

function toText(input: Buffer | string): string {
  if (typeof input === 'string') return input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  try {
    return utf8.decode(input); // strips a BOM
  } catch {
    throw new DecodeError('JSON', 'input is not valid UTF-8');
  }
}

/** A JSON message → its list of values (the array's elements, or the single non-array value). */
export function decodeJSON(input: Buffer | string, options?: JSONDecodeOptions): Value[] {
  return decodeJSONMessage(input, options).values;
}

/**
 * For protocols that treat arrays specially (a WebSocket text frame is a call only when it is a
 * JSON array): the values as decodeJSON gives them, and whether the text was an array.
 */
export function decodeJSONMessage(input: Buffer | string, options?: JSONDecodeOptions): { values: Value[]; array: boolean } {
  const parser = new Parser(toText(input), options?.dates !== false);
  const value = parser.document();
  return parser.topIsArray ? { values: (value as Table).items, array: true } : { values: [value], array: false };
}

/** One JSON text → one value. */
export function parseJSON(input: Buffer | string, options?: JSONDecodeOptions): Value {
  return new Parser(toText(input), options?.dates !== false).document();
}

class Parser {
  private pos = 0;
  private depth = 0;
  /** the document is a JSON array (its elements are the message's values) */
  topIsArray = false;
  constructor(
    private readonly text: string,
    private readonly dates: boolean,
  ) {}

  private fail(message: string, at = this.pos): never {
    // the offset reported is in UTF-8 bytes of the input, like every other decoder's
    const bytes = Buffer.byteLength(this.text.slice(0, Math.min(at, this.text.length)), 'utf8');
    throw new DecodeError('JSON', message, bytes);
  }

  private skipSpace(): void {
    const t = this.text;
    let p = this.pos;
    for (;;) {
      const c = t.charCodeAt(p);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) p++;
      else break;
    }
    this.pos = p;
  }

  document(): Value {
    this.skipSpace();
    if (this.pos >= this.text.length) this.fail('empty input');
    this.topIsArray = this.text.charCodeAt(this.pos) === 0x5b;
    const v = this.value();
    this.skipSpace();
    if (this.pos < this.text.length) this.fail('unexpected data after the JSON value');
    return v;
  }

  private value(): Value {
    const t = this.text;
    const c = t.charCodeAt(this.pos);
    switch (c) {
      case 0x7b /* { */:
        return this.object();
      case 0x5b /* [ */:
        return this.array();
      case 0x22 /* " */: {
        const s = this.string();
        if (this.dates && s.length >= 10 && s.length <= 40) {
          const time = parseDateText(s);
          if (time !== null) return dateTable(time);
        }
        return s;
      }
      case 0x74 /* t */:
        return this.literal('true', true);
      case 0x66 /* f */:
        return this.literal('false', false);
      case 0x6e /* n */:
        return this.literal('null', null);
      default:
        if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return this.number();
        if (Number.isNaN(c)) this.fail('unexpected end of input');
        this.fail(`unexpected character ${JSON.stringify(t[this.pos])}`);
    }
  }

  private literal(word: string, v: Value): Value {
    if (!this.text.startsWith(word, this.pos)) this.fail(`invalid literal, expected ${word}`);
    this.pos += word.length;
    return v;
  }

  private number(): number {
    const t = this.text;
    const start = this.pos;
    let p = start;
    if (t.charCodeAt(p) === 0x2d) p++;
    let c = t.charCodeAt(p);
    if (c === 0x30) c = t.charCodeAt(++p);
    else if (c >= 0x31 && c <= 0x39) do c = t.charCodeAt(++p); while (c >= 0x30 && c <= 0x39);
    else this.fail('invalid number', start);
    if (c === 0x2e) {
      c = t.charCodeAt(++p);
      if (!(c >= 0x30 && c <= 0x39)) this.fail('invalid number: digits expected after "."', start);
      do c = t.charCodeAt(++p); while (c >= 0x30 && c <= 0x39);
    }
    if (c === 0x65 || c === 0x45) {
      c = t.charCodeAt(++p);
      if (c === 0x2b || c === 0x2d) c = t.charCodeAt(++p);
      if (!(c >= 0x30 && c <= 0x39)) this.fail('invalid number: exponent digits expected', start);
      do c = t.charCodeAt(++p); while (c >= 0x30 && c <= 0x39);
    }
    this.pos = p;
    return Number(t.slice(start, p));
  }

  private string(): string {
    const t = this.text;
    let p = this.pos + 1;
    let out = '';
    let chunk = p;
    for (;;) {
      const c = t.charCodeAt(p);
      if (c === 0x22) break;
      if (Number.isNaN(c)) this.fail('unterminated string', this.pos);
      if (c < 0x20) this.fail('control character in string', p);
      if (c !== 0x5c) {
        p++;
        continue;
      }
      out += t.slice(chunk, p);
      const e = t.charCodeAt(p + 1);
      switch (e) {
        case 0x22: out += '"'; break;
        case 0x5c: out += '\\'; break;
        case 0x2f: out += '/'; break;
        case 0x62: out += '\b'; break;
        case 0x66: out += '\f'; break;
        case 0x6e: out += '\n'; break;
        case 0x72: out += '\r'; break;
        case 0x74: out += '\t'; break;
        case 0x75: {
          const hex = t.slice(p + 2, p + 6);
          if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('invalid \\u escape', p);
          out += String.fromCharCode(parseInt(hex, 16));
          p += 4;
          break;
        }
        default:
          this.fail('invalid escape', p);
      }
      p += 2;
      chunk = p;
    }
    out += t.slice(chunk, p);
    this.pos = p + 1;
    return out;
  }

  private enter(): void {
    if (++this.depth > DECODE_LIMITS.maxDepth) this.fail(`nesting deeper than ${DECODE_LIMITS.maxDepth}`);
    this.pos++; // the opening bracket
    this.skipSpace();
  }

  private array(): Table {
    this.enter();
    const items: Value[] = [];
    if (this.text.charCodeAt(this.pos) === 0x5d) this.pos++;
    else
      for (;;) {
        this.skipSpace();
        items.push(this.value());
        this.skipSpace();
        const c = this.text.charCodeAt(this.pos++);
        if (c === 0x5d) break;
        if (c !== 0x2c) this.fail('"," or "]" expected in array', this.pos - 1);
      }
    this.depth--;
    return new Table(items);
  }

  private object(): Table {
    this.enter();
    const fields = new Map<Key, Value>();
    if (this.text.charCodeAt(this.pos) === 0x7d) this.pos++;
    else
      for (;;) {
        this.skipSpace();
        if (this.text.charCodeAt(this.pos) !== 0x22) this.fail('string key expected in object');
        const key = this.string();
        this.skipSpace();
        if (this.text.charCodeAt(this.pos++) !== 0x3a) this.fail('":" expected after object key', this.pos - 1);
        this.skipSpace();
        const v = this.value();
        if (fields.has(key)) fields.delete(key); // a repeated key: the last one wins, in its last position
        fields.set(key, v);
        this.skipSpace();
        const c = this.text.charCodeAt(this.pos++);
        if (c === 0x7d) break;
        if (c !== 0x2c) this.fail('"," or "}" expected in object', this.pos - 1);
      }
    this.depth--;
    // {"__raw":"<base64>"} is how MonaServer writes a ByteArray
    const raw = fields.get('__raw');
    if (typeof raw === 'string' && isBase64(raw)) fields.set('__raw', Buffer.from(raw, 'base64'));
    return new Table([], fields);
  }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/;
function isBase64(s: string): boolean {
  return BASE64.test(s);
}

/** Values → one JSON array text (what a WebSocket reply or application/json body holds). */
export function encodeJSON(values: Value[]): string {
  const out: string[] = ['['];
  values.forEach((v, i) => {
    if (i) out.push(',');
    write(v, out, 0);
  });
  out.push(']');
  return out.join('');
}

/** One value → JSON text (not wrapped in an argument array). */
export function stringifyJSON(value: Value): string {
  const out: string[] = [];
  write(value, out, 0);
  return out.join('');
}

/** Buffer → JSON-able text: UTF-8 when valid, else one char per byte. */
export function bytesToText(b: Buffer): string {
  return isUtf8(b) ? b.toString('utf8') : b.toString('latin1');
}

function keyText(k: Key): string | null {
  if (typeof k === 'string') return k;
  if (typeof k === 'number') return formatNumber(k);
  if (typeof k === 'boolean') return String(k);
  return null; // a table key has no JSON form
}

function write(v: Value, out: string[], depth: number): void {
  if (v === null) out.push('null');
  else if (typeof v === 'boolean') out.push(v ? 'true' : 'false');
  else if (typeof v === 'number') out.push(Number.isFinite(v) ? formatNumber(v) : 'null');
  else if (typeof v === 'string') out.push(JSON.stringify(v));
  else if (Buffer.isBuffer(v)) out.push(JSON.stringify(bytesToText(v)));
  else writeTable(v, out, depth + 1);
}

function writeTable(t: Table, out: string[], depth: number): void {
  if (depth > DECODE_LIMITS.maxDepth) {
    throw new RangeError(`JSON: table nesting deeper than ${DECODE_LIMITS.maxDepth} (a cycle?)`);
  }
  const time = dateOf(t);
  if (time !== null) {
    out.push(JSON.stringify(formatDateISO(time)));
    return;
  }
  const raw = t.fields.get('__raw');
  if (Buffer.isBuffer(raw) || typeof raw === 'string') {
    const bytes = Buffer.isBuffer(raw) ? raw : Buffer.from(raw, 'utf8');
    out.push('{"__raw":', JSON.stringify(bytes.toString('base64')), '}');
    return;
  }
  const hasFields = t.fields.size > 0;
  const hasItems = t.items.length > 0;
  if (hasItems && hasFields) out.push('[');
  if (hasFields || !hasItems) {
    if (hasFields) writeObject(t, out, depth);
    else out.push('[]');
  }
  if (hasItems) {
    if (!hasFields) out.push('[');
    t.items.forEach((item, i) => {
      if (i || hasFields) out.push(',');
      write(item, out, depth);
    });
    out.push(']');
  }
}

function writeObject(t: Table, out: string[], depth: number): void {
  out.push('{');
  let first = true;
  const type = t.fields.get('__type');
  if (typeof type === 'string') {
    out.push('"__type":', JSON.stringify(type));
    first = false;
  }
  // a Dictionary's `__size` stays a member, as MonaServer writes it (JSON has no dictionary), so
  // that it reads back as the same table
  for (const [k, v] of t.fields) {
    if (k === '__type' && typeof type === 'string') continue;
    const name = keyText(k);
    if (name === null) continue;
    if (!first) out.push(',');
    first = false;
    out.push(JSON.stringify(name), ':');
    write(v, out, depth);
  }
  out.push('}');
}
