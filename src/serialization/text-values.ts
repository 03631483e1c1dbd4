/**
 * How MonaServer types a bare piece of text (query-string values, persisted `data` files, JSON
 * strings that hold dates) and how numbers are printed back as text.
 *
 * Facts checked in MonaServer's source (read for behaviour only):
 *  - "true"/"false"/"null" are recognised case-insensitively, and only when the whole text is that.
 *  - A number is: optional leading blanks/control characters, an optional '-', digits with at most
 *    one decimal separator ('.' or ',') that is not the first character; no exponent, no '+',
 *    no trailing blanks. "007" is 7, "1,5" is 1.5, ".5" and "1e3" stay text.
 *  - Dates are recognised in ISO 8601 forms ("2005-01-01T12:00:00Z", "20050101T120000",
 *    with fraction and zone) and the sortable "2005-01-01" / "2005-01-01 12:00:00". MonaServer also
 *    guesses RFC 822/850/asctime forms; we do not (too eager), and a missing zone means UTC here
 *    where MonaServer used the server's local zone.
 */
import { Table, Value } from './value';

/** MonaServer's number grammar (see above). Returns null when the text is not a number. */
export function parseMonaNumber(text: string): number | null {
  let i = 0;
  const n = text.length;
  // leading blanks and control characters are skipped; '-' may sit among them (as MonaServer does)
  let negative = false;
  for (; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) continue;
    if (c === 0x2d /* - */ && !negative) {
      negative = true;
      continue;
    }
    break;
  }
  if (i === n) return null;
  let digits = '';
  let separator = false;
  let sawDigit = false;
  for (; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) {
      digits += text[i];
      sawDigit = true;
    } else if ((c === 0x2e || c === 0x2c) && !separator && sawDigit) {
      separator = true;
      digits += '.';
    } else return null;
  }
  if (!sawDigit) return null;
  // the grammar is MonaServer's, the conversion is JS's correctly rounded one
  const value = Number(digits);
  return negative ? -value : value;
}

/** Text → boolean / null / number when it is one of those for MonaServer, else the text itself. */
export function typeText(text: string): null | boolean | number | string {
  if (text.length === 4) {
    const l = text.toLowerCase();
    if (l === 'true') return true;
    if (l === 'null') return null;
  } else if (text.length === 5 && text.toLowerCase() === 'false') return false;
  const n = parseMonaNumber(text);
  return n === null ? text : n;
}

const ISO_EXTENDED =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/;
const ISO_COMPACT = /^(\d{4})(\d{2})(\d{2})T(\d{2}):?(\d{2}):?(\d{2})(?:[.,](\d+))?(Z|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * Parses the date forms listed above into epoch milliseconds (UTC when no zone is given), or
 * null when the text is not such a date or names an impossible one (month 13, 25 h …).
 * The compact form also accepts XML-RPC's "19980717T14:08:55".
 */
export function parseDateText(text: string): number | null {
  if (text.length < 10 || text.length > 40) return null;
  // cheap rejection first: every accepted form starts with 4 digits (a year)
  for (let i = 0; i < 4; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return null;
  }
  const m = ISO_EXTENDED.exec(text) ?? ISO_COMPACT.exec(text);
  if (!m) return null;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const hour = m[4] === undefined ? 0 : Number(m[4]);
  const minute = m[5] === undefined ? 0 : Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  const ms = m[7] === undefined ? 0 : Math.floor(Number('0.' + m[7]) * 1000);
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return null;
  let time = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  if (new Date(time).getUTCDate() !== day && second !== 60) return null; // 31 February
  const zone = m[8];
  if (zone && zone !== 'Z') {
    const sign = zone[0] === '-' ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const offset = Number(digits.slice(0, 2)) * 60 + (digits.length > 2 ? Number(digits.slice(2)) : 0);
    time -= sign * offset * 60_000;
  }
  return time;
}

/** A script Date is a table `{__time = ms}`. */
export function dateTable(time: number): Table {
  return Table.of({ __time: time });
}

/** `__time` of a Date table, or null when the value is not one (MonaServer: `__time` is a number). */
export function dateOf(v: Value): number | null {
  if (!(v instanceof Table)) return null;
  const t = v.fields.get('__time');
  return typeof t === 'number' ? t : null;
}

/** `__raw` bytes of a ByteArray table, or null (MonaServer: a table whose `__raw` is a string). */
export function rawOf(v: Value): Buffer | null {
  if (!(v instanceof Table)) return null;
  const r = v.fields.get('__raw');
  if (Buffer.isBuffer(r)) return r;
  return typeof r === 'string' ? Buffer.from(r, 'utf8') : null;
}

/**
 * Number → text as Lua's tostring prints it ("%.14g": 14 significant digits, integers without
 * ".0", "nan"/"inf"), except that we never use exponent notation: MonaServer's number grammar has
 * no exponent, so "1e+15" would come back as a string. Safe integers print exactly.
 */
export function formatLuaNumber(n: number): string {
  if (Number.isNaN(n)) return n < 0 ? '-nan' : 'nan';
  if (!Number.isFinite(n)) return n < 0 ? '-inf' : 'inf';
  if (Object.is(n, -0)) return '-0';
  if (Number.isSafeInteger(n)) return String(n);
  // beyond 2^53 (all integers) and for fractions: 14 significant digits in fixed notation
  const [mantissa, exp] = n.toExponential(13).split('e');
  const e = Number(exp);
  const negative = mantissa[0] === '-';
  const digits = mantissa.replace('-', '').replace('.', ''); // 14 digits
  let out: string;
  if (e >= 13) out = digits + '0'.repeat(e - 13);
  else if (e >= 0) out = digits.slice(0, e + 1) + '.' + digits.slice(e + 1);
  else out = '0.' + '0'.repeat(-e - 1) + digits;
  if (out.includes('.')) out = out.replace(/0+$/, '').replace(/\.$/, '');
  return negative ? '-' + out : out;
}

/** Shortest text that reads back as the same double, integers without ".0" (JSON, XML). */
export function formatNumber(n: number): string {
  return Object.is(n, -0) ? '-0' : String(n);
}

/** ISO 8601 UTC with milliseconds, what our text codecs write for a Date. */
export function formatDateISO(time: number): string {
  const d = new Date(time);
  return Number.isNaN(d.getTime()) ? new Date(0).toISOString() : d.toISOString();
}

/**
 * Number → shortest text that reads back as the same double, never in exponent notation (the
 * query-string reader, like MonaServer's, knows no exponent): 1e21 → "1000000000000000000000".
 */
export function formatPlainNumber(n: number): string {
  if (!Number.isFinite(n)) return Number.isNaN(n) ? 'nan' : n < 0 ? '-inf' : 'inf';
  const s = formatNumber(n);
  if (!s.includes('e')) return s;
  if (Number.isInteger(n)) return BigInt(n).toString();
  // tiny fractions: enough decimals for the shortest form's significant digits
  const [mantissa, exp] = s.split('e');
  const digits = mantissa.replace('-', '').replace('.', '');
  const zeros = -Number(exp) - 1;
  return (n < 0 ? '-' : '') + '0.' + '0'.repeat(zeros) + digits;
}
