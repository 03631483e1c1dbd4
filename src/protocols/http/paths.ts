import * as fs from 'node:fs';
import * as path from 'node:path';
import { HTTPError } from './parser';

/** A request target split into its decoded path segments and its raw query. */
export interface ParsedTarget {
  /** decoded, normalised: "/app/sub/file.html"; "/" for the root */
  path: string;
  /** true when the URL path ends with "/" (a folder was asked for) */
  folder: boolean;
  /** raw query without "?" ("" if none) */
  query: string;
}

/**
 * Decodes and checks a request target. Every way out of www/ is refused here, before any file
 * system access: "..", "." segments (raw or %-encoded, the check runs after decoding), backslashes,
 * NUL bytes, and targets that are not origin-form or absolute-form URLs. Absolute-form
 * ("http://host/x") keeps only its path. Repeated slashes collapse.
 */
export function parseTarget(target: string): ParsedTarget {
  let t = target;
  if (!t.startsWith('/')) {
    const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*/.exec(t);
    if (!m) throw new HTTPError(400, 'bad request target');
    t = t.slice(m[0].length) || '/';
    if (!t.startsWith('/')) t = '/' + t;
  }
  const hash = t.indexOf('#');
  if (hash >= 0) t = t.slice(0, hash);
  const q = t.indexOf('?');
  const rawPath = q >= 0 ? t.slice(0, q) : t;
  const query = q >= 0 ? t.slice(q + 1) : '';
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    throw new HTTPError(400, 'bad percent-encoding in path');
  }
  if (decoded.includes('\0') || decoded.includes('\\')) throw new HTTPError(400, 'forbidden character in path');
  const segments = decoded.split('/').filter((s) => s !== '');
  for (const s of segments) if (s === '..' || s === '.') throw new HTTPError(403, 'path escapes the application folder');
  const folder = decoded.endsWith('/') || segments.length === 0;
  return { path: '/' + segments.join('/'), folder, query };
}

/**
 * The last line of defence against symlinks and races: the real path of `file` must lie inside
 * the real path of `root`. Returns the real path, or null if missing or outside.
 */
export function containedRealPath(root: string, file: string): string | null {
  let realRoot: string;
  let real: string;
  try {
    realRoot = fs.realpathSync(root);
    real = fs.realpathSync(file);
  } catch {
    return null;
  }
  if (real === realRoot) return real;
  return real.startsWith(realRoot.endsWith(path.sep) ? realRoot : realRoot + path.sep) ? real : null;
}
