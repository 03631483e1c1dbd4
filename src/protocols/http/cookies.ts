/** Cookie header → name/value pairs, and `client.properties(key, value, options)` → Set-Cookie. */
import { Table, type Value } from '../../serialization/value';

export function parseCookies(header: string | undefined): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    try {
      value = decodeURIComponent(value);
    } catch {
      /* keep as sent */
    }
    if (name) out.push([name, value]);
  }
  return out;
}

const NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function text(v: Value): string {
  if (v === null) return '';
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (v instanceof Table) return '';
  return String(v);
}

/**
 * One Set-Cookie value. `expires` is in seconds from now as MonaServer documents it (negative
 * deletes the cookie, i.e. expires in the past); path, domain, secure, httponly as named.
 * Throws on a name a cookie cannot carry.
 */
export function setCookieHeader(name: string, value: Value, options: Table | null): string {
  if (!NAME.test(name)) throw new Error(`invalid cookie name '${name}'`);
  let s = `${name}=${encodeURIComponent(text(value))}`;
  if (options) {
    const expires = options.get('expires');
    if (typeof expires === 'number' && Number.isFinite(expires)) {
      const at = expires < 0 ? 0 : Date.now() + expires * 1000;
      s += `; Expires=${new Date(at).toUTCString()}`;
      if (expires < 0) s += '; Max-Age=0';
    }
    const p = options.get('path');
    if (typeof p === 'string' && !/[;\r\n]/.test(p)) s += `; Path=${p}`;
    const d = options.get('domain');
    if (typeof d === 'string' && !/[;\r\n]/.test(d)) s += `; Domain=${d}`;
    if (options.get('secure') === true) s += '; Secure';
    if (options.get('httponly') === true || options.get('httpOnly') === true) s += '; HttpOnly';
  }
  return s;
}
