/**
 * Media file names as Flash servers read them, for playing a file by name and for recording a
 * publication: `mp4:movie.mp4`, `flv:clip`, `clip.flv`, `clip` (clip.flv, else clip.mp4), and
 * where such a name lands under an app folder (never outside it).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export type Container = 'flv' | 'mp4';

/** Extensions of the MP4 family a reader and the recorder handle (by content, not by name). */
const MP4_EXTENSIONS = new Set(['mp4', 'f4v', 'm4v', 'mov', 'm4a', 'f4a', '3gp']);

function extensionOf(name: string): string {
  const base = name.slice(name.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot <= 0 ? '' : base.slice(dot + 1).toLowerCase();
}

/** The container a file name says, or null for other names. */
export function containerOf(name: string): Container | null {
  const ext = extensionOf(name);
  if (ext === 'flv') return 'flv';
  return MP4_EXTENSIONS.has(ext) ? 'mp4' : null;
}

/** A `mp4:` / `flv:` prefix (FMS), and the rest. */
function splitPrefix(raw: string): { prefix: Container | null; rest: string } {
  const m = /^(mp4|flv|f4v):(.*)$/i.exec(raw);
  if (!m) return { prefix: null, rest: raw };
  return { prefix: m[1].toLowerCase() === 'flv' ? 'flv' : 'mp4', rest: m[2] };
}

/**
 * What a publish request with type "record"/"append" records to: `cam` → publication `cam` in
 * `cam.flv` (FLV when nothing says otherwise, as FMS and MonaServer2); `cam.mp4`, `mp4:cam`,
 * `mp4:cam.f4v` → publication `cam` in an MP4 file; `cam.flv`, `flv:cam` → `cam` in `cam.flv`.
 */
export function recordingTarget(raw: string): { name: string; file: string } {
  const { prefix, rest } = splitPrefix(raw);
  const own = containerOf(rest);
  if (own) return { name: rest.slice(0, rest.lastIndexOf('.')), file: rest };
  const container = prefix ?? 'flv';
  return { name: rest, file: `${rest}.${container}` };
}

/**
 * Candidate files of a play name, in the order they are tried: `mp4:x.mp4` / `x.mp4` → that file;
 * `mp4:x` → x.mp4; `flv:x` → x.flv; `x` → x.flv, then x.mp4. Empty for a name that cannot be a
 * file (a prefix with an extension of the other family).
 */
export function playCandidates(raw: string): string[] {
  const { prefix, rest } = splitPrefix(raw);
  if (rest === '') return [];
  if (containerOf(rest)) return [rest];
  if (prefix) return [`${rest}.${prefix}`];
  return [`${rest}.flv`, `${rest}.mp4`];
}

/**
 * `rel` under `root` when it stays inside it: no absolute path, no `..`/`.` segment, no backslash
 * or NUL; null otherwise. Symbolic links are checked by `containedFile`.
 */
export function joinInside(root: string, rel: string): string | null {
  if (rel === '' || rel.includes('\0') || rel.includes('\\') || path.isAbsolute(rel) || rel.startsWith('/')) return null;
  const segments = rel.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return null;
  return path.join(root, ...segments);
}

/** The real path of an existing regular file `file` when it lies inside `root` (links followed), else null. */
export function containedFile(root: string, file: string): string | null {
  try {
    const realRoot = fs.realpathSync(root);
    const real = fs.realpathSync(file);
    if (!real.startsWith(realRoot + path.sep)) return null;
    return fs.statSync(real).isFile() ? real : null;
  } catch {
    return null;
  }
}

/** The first existing media file of a play name in `appDir` (inside `wwwDir`), or null. */
export function findMediaFile(wwwDir: string, appDir: string, raw: string): { file: string; path: string } | null {
  for (const file of playCandidates(raw)) {
    const joined = joinInside(appDir, file);
    if (!joined) continue;
    const real = containedFile(wwwDir, joined);
    if (real) return { file, path: real };
  }
  return null;
}
