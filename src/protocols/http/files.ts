/**
 * Static files of an app folder: MIME type by extension, Last-Modified / ETag with
 * If-Modified-Since / If-None-Match → 304, generated folder listings
 * (byte ranges: ranges.ts).
 * Small files are kept in memory (re-validated by stat at most once a second) because serving a
 * small file is the common case and the one the benchmark measures.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { mimeType } from './mime';
import { containedRealPath } from './paths';
import { escapeHTML, type HeaderList } from './response';

export interface FileInfo {
  /** real path (inside the root) */
  real: string;
  size: number;
  mtimeMs: number;
  isDirectory: boolean;
  /** whole content when small */
  data: Buffer | null;
  mime: string;
  lastModified: string;
  etag: string;
}

const SMALL = 256 * 1024;
const CACHE_BYTES = 32 * 1024 * 1024;
const REVALIDATE_MS = 1000;

interface Cached {
  info: FileInfo;
  root: string;
  checkedAt: number;
}

const cache = new Map<string, Cached>();
let cachedBytes = 0;

function evict(key: string): void {
  const c = cache.get(key);
  if (!c) return;
  cachedBytes -= c.info.data?.length ?? 0;
  cache.delete(key);
}

/**
 * Looks `file` up under `root` (both absolute; `file` was built from checked segments). Returns null
 * when missing, unreadable, or when its real path leaves the root (symlinks).
 */
export function lookupFile(root: string, file: string): FileInfo | null {
  const now = Date.now();
  const hit = cache.get(file);
  if (hit && hit.root === root && now - hit.checkedAt < REVALIDATE_MS) return hit.info;
  const real = containedRealPath(root, file);
  if (!real) {
    evict(file);
    return null;
  }
  let st: fs.Stats;
  try {
    st = fs.statSync(real);
  } catch {
    evict(file);
    return null;
  }
  if (hit && hit.root === root && hit.info.real === real && hit.info.mtimeMs === st.mtimeMs && hit.info.size === st.size) {
    hit.checkedAt = now;
    return hit.info;
  }
  evict(file);
  const isDirectory = st.isDirectory();
  if (!isDirectory && !st.isFile()) return null;
  let data: Buffer | null = null;
  if (!isDirectory && st.size <= SMALL && cachedBytes + st.size <= CACHE_BYTES) {
    try {
      data = fs.readFileSync(real);
    } catch {
      return null;
    }
    if (data.length !== st.size) data = null; // changed while reading: serve it from disk this time
  }
  const mtime = new Date(Math.floor(st.mtimeMs / 1000) * 1000);
  const info: FileInfo = {
    real,
    size: st.size,
    mtimeMs: st.mtimeMs,
    isDirectory,
    data,
    mime: mimeType(real),
    lastModified: mtime.toUTCString(),
    etag: `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`,
  };
  if (data) {
    cache.set(file, { info, root, checkedAt: now });
    cachedBytes += data.length;
  }
  return info;
}

/** true when the request's validators say the client's copy is current (→ 304). */
export function notModified(info: FileInfo, headers: Map<string, string>): boolean {
  const inm = headers.get('if-none-match');
  if (inm !== undefined) return inm.split(',').some((t) => t.trim() === info.etag || t.trim() === '*' || t.trim() === 'W/' + info.etag);
  const ims = headers.get('if-modified-since');
  if (ims === undefined) return false;
  const t = Date.parse(ims);
  return Number.isFinite(t) && Math.floor(info.mtimeMs / 1000) * 1000 <= t;
}

export function fileHeaders(info: FileInfo): HeaderList {
  return [
    ['Content-Type', info.mime],
    ['Last-Modified', info.lastModified],
    ['ETag', info.etag],
    ['Cache-Control', 'no-cache'],
    ['Accept-Ranges', 'bytes'],
  ];
}

interface Entry {
  name: string;
  dir: boolean;
  size: number;
  mtime: number;
}

/**
 * The generated folder listing (index=true). Sorted by name by default; `?N`, `?M`, `?S` sort by
 * name, modification time, size (MonaServer's keys); `=D` after the key reverses. Hidden files and
 * names `listed` refuses (server scripts) are left out.
 */
export function folderListing(dir: string, urlPath: string, query: string, listed: (name: string) => boolean = () => true): Buffer | null {
  let names: fs.Dirent[];
  try {
    names = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return null;
  }
  const entries: Entry[] = [];
  for (const d of names) {
    if (d.name.startsWith('.') || !listed(d.name)) continue;
    try {
      const st = fs.statSync(path.join(dir, d.name));
      entries.push({ name: d.name, dir: st.isDirectory(), size: st.isDirectory() ? 0 : st.size, mtime: st.mtimeMs });
    } catch {
      // a dangling symlink: not listed
    }
  }
  const m = /^([NMS])(?:=([AD]))?/i.exec(query);
  const key = m ? m[1].toUpperCase() : 'N';
  const desc = m?.[2]?.toUpperCase() === 'D';
  entries.sort((a, b) => {
    if (a.dir !== b.dir) return a.dir ? -1 : 1;
    const c = key === 'M' ? a.mtime - b.mtime : key === 'S' ? a.size - b.size : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
    return desc ? -c : c;
  });
  const base = urlPath.endsWith('/') ? urlPath : urlPath + '/';
  const title = escapeHTML(`Index of ${base}`);
  let html = `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1><table>`;
  html += '<tr><th><a href="?N">Name</a></th><th><a href="?M">Modified</a></th><th><a href="?S">Size</a></th></tr>';
  if (base !== '/') html += '<tr><td><a href="../">../</a></td><td></td><td>-</td></tr>';
  for (const e of entries) {
    const label = e.name + (e.dir ? '/' : '');
    html += `<tr><td><a href="${escapeHTML(encodeURIComponent(e.name) + (e.dir ? '/' : ''))}">${escapeHTML(label)}</a></td><td>${new Date(e.mtime).toUTCString()}</td><td>${e.dir ? '-' : e.size}</td></tr>`;
  }
  html += '</table></body></html>\n';
  return Buffer.from(html);
}
