/**
 * Turns MonaServer.ini (+ command-line/test overrides) into a typed Config: the process-level keys
 * (schema.ts) and the sections it is given (the registered ones: src/registry.ts `loadConfig`).
 *
 * What a user gets when something is wrong — the server always starts with what it could read,
 * like MonaServer, because refusing to start over one typo on a production box is worse than a
 * loud message; every problem names the file and line so it is easy to fix:
 * - no MonaServer.ini at the default place: fine, defaults are used (the file is optional);
 * - `--config=PATH` given but unreadable: `fatal` is set, the caller exits (the user asked for
 *   that file, running on defaults would surprise them);
 * - malformed line, bad value: in `errors` ("MonaServer.ini:12: …"), line skipped / default kept;
 * - keepalive out of 5..255, duplicate key: in `warnings`, value clamped / last one wins.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseIni, type IniEntry } from './ini';
import { PUBLICATION_KEYS, composeDefaults, configKeys } from './schema';
import { validate, type AnySection } from './section';
import type { Config } from './types';

export const DEFAULT_CONFIG_NAME = 'MonaServer.ini';

export interface LoadOptions {
  /** working directory (default process.cwd()): default application dir and default ini place */
  cwd?: string;
  /** the path was given explicitly (--config): a missing file is fatal */
  required?: boolean;
}

export interface LoadedConfig {
  config: Config;
  /** absolute path of the ini that was looked for */
  path: string;
  /** whether that file existed and was read */
  found: boolean;
  warnings: string[];
  errors: string[];
  /** set when the server must not start (explicit --config unreadable) */
  fatal?: string;
}

/**
 * `sections`: the registered sections besides the process-level ones. `overrides` are applied
 * after the file, as if written in it: "section.key" or "key" (top level) → value, e.g.
 * `{ 'RTMP.port': '0', 'application.dir': '/srv/mona' }`.
 */
export function readConfig(
  sections: readonly AnySection[],
  configPath: string | undefined,
  overrides: Record<string, string> = {},
  options: LoadOptions = {},
): LoadedConfig {
  const cwd = path.resolve(options.cwd ?? process.cwd());
  const file = path.resolve(cwd, configPath ?? DEFAULT_CONFIG_NAME);
  const shown = path.relative(cwd, file) || file;
  // collected with their line so that they are reported in file order (overrides last)
  const warningsAt: Array<[number, string]> = [];
  const errorsAt: Array<[number, string]> = [];
  let fatal: string | undefined;
  let found = false;

  const entries: Array<IniEntry & { where: string }> = [];
  let sectionsSeen: string[] = [];
  let text: string | undefined;
  try {
    text = fs.readFileSync(file, 'utf8');
    found = true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (options.required || code !== 'ENOENT') {
      const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
      const message = `cannot read configuration ${file} (${why})`;
      if (options.required) fatal = message;
      else errorsAt.push([0, message]);
    }
  }
  if (text !== undefined) {
    const doc = parseIni(text);
    for (const p of doc.problems) errorsAt.push([p.line, `${shown}:${p.line}: ${p.message}`]);
    for (const e of doc.entries) entries.push({ ...e, where: `${shown}:${e.line}` });
    sectionsSeen = doc.sections;
  }
  for (const [name, value] of Object.entries(overrides)) {
    const dot = name.lastIndexOf('.');
    entries.push({
      section: dot < 0 ? '' : name.slice(0, dot),
      key: dot < 0 ? name : name.slice(dot + 1),
      value: String(value),
      line: 0,
      where: `override ${name}`,
    });
  }

  const config = composeDefaults(cwd, sections);
  config.raw = buildRaw(entries, sectionsSeen, warningsAt);

  // typed keys: last occurrence wins (case-insensitive)
  const last = new Map<string, IniEntry & { where: string }>();
  for (const e of entries) last.set(`${e.section.toLowerCase()}\u0000${e.key.toLowerCase()}`, e);
  const get = (section: string, key: string) => last.get(`${section}\u0000${key}`);

  for (const spec of configKeys(sections)) {
    const e = get(spec.section, spec.key);
    if (!e) continue;
    const r = validate(spec, e.value);
    const name = spec.section ? `${e.section}.${e.key}` : e.key;
    const at = e.line > 0 ? e.line : Infinity;
    if (r.error !== undefined) errorsAt.push([at, `${e.where}: ${name}: ${r.error}, default kept`]);
    else {
      if (r.warning) warningsAt.push([at, `${e.where}: ${name}: ${r.warning}`]);
      spec.set(config, r.value!);
      if (spec.notInEffect && r.value !== spec.inEffectValue) warningsAt.push([at, `${e.where}: ${name} is not in effect: ${spec.notInEffect}`]);
    }
  }

  readPublicationSections(entries, config, warningsAt, errorsAt);

  const dirEntry = get('application', 'dir');
  if (dirEntry && dirEntry.value !== '') {
    const base = dirEntry.line > 0 ? path.dirname(file) : cwd;
    config.application.dir = path.resolve(base, dirEntry.value);
  }
  // paths: from the ini's folder (MonaServer2 runs in it), unwritten defaults too (their file name)
  for (const s of sections) {
    const slice = config[s.name] as unknown as Record<string, string>;
    for (const field of (s.paths ?? []) as readonly string[]) {
      const e = get(s.name.toLowerCase(), field.toLowerCase());
      const value = e ? slice[field] : slice[field] === '' ? '' : path.basename(slice[field]);
      slice[field] = value === '' ? '' : path.resolve(e && e.line === 0 ? cwd : path.dirname(file), value);
    }
  }
  const logDirEntry = get('logs', 'directory');
  const logDir = logDirEntry && logDirEntry.value !== '' ? logDirEntry.value : config.logs.directory;
  config.logs.directory = path.resolve(config.application.dir, logDir);

  const inOrder = (list: Array<[number, string]>) => list.sort((a, b) => a[0] - b[0]).map(([, text]) => text);
  return { config, path: file, found, warnings: inOrder(warningsAt), errors: inOrder(errorsAt), fatal };
}

/**
 * `mona.configs`: everything as written. Section objects are reachable by their written name and,
 * when it differs, by the lower-cased one (same object), per the Config contract. Keys differing
 * only by case are one key (the last written spelling and value win), as typed lookups are
 * case-insensitive too.
 */
function buildRaw(
  entries: Array<IniEntry & { where: string }>,
  sectionsSeen: string[],
  warnings: Array<[number, string]>,
): Config['raw'] {
  const raw: Config['raw'] = {};
  const sectionObjects = new Map<string, Record<string, string>>();
  const section = (name: string) => {
    const lower = name.toLowerCase();
    let obj = sectionObjects.get(lower);
    if (!obj) {
      obj = {};
      sectionObjects.set(lower, obj);
    }
    raw[name] = obj;
    if (lower !== name) raw[lower] = obj;
    return obj;
  };
  for (const name of sectionsSeen) section(name);
  const seen = new Map<string, IniEntry & { where: string }>();
  for (const e of entries) {
    const id = `${e.section.toLowerCase()}\u0000${e.key.toLowerCase()}`;
    const before = seen.get(id);
    if (before && before.line > 0 && e.line > 0)
      warnings.push([e.line, `${e.where}: ${e.section ? e.section + '.' : ''}${e.key} repeats line ${before.line}, last value wins`]);
    seen.set(id, e);
    if (e.section === '') {
      if (sectionObjects.has(e.key.toLowerCase())) {
        warnings.push([e.line || Infinity, `${e.where}: top-level key "${e.key}" hidden by section [${e.key}] in mona.configs`]);
        continue;
      }
      if (before && before.key !== e.key) delete raw[before.key];
      raw[e.key] = e.value;
    } else {
      const obj = section(e.section);
      if (before && before.key !== e.key) delete obj[before.key];
      obj[e.key] = e.value;
    }
  }
  return raw;
}

/**
 * MonaServer2's `[name=Publication]` sections: the `[publication]` settings for one publication
 * name, and `OUT target` lines (recordings to `target`, a .flv or .mp4 file of the publisher's app
 * folder). `IN` lines (a publication read from a file or a socket) and other keys (MonaServer2 sets
 * them as the publication's properties) are reported as not supported.
 */
function readPublicationSections(
  entries: Array<IniEntry & { where: string }>,
  config: Config,
  warnings: Array<[number, string]>,
  errors: Array<[number, string]>,
): void {
  for (const e of entries) {
    const m = /^(.+?)\s*=\s*publication$/i.exec(e.section);
    if (!m) continue;
    const name = m[1].trim();
    const section = (config.publications[name] ??= { outputs: [] });
    const at = e.line > 0 ? e.line : Infinity;
    const key = e.key.toLowerCase();
    const stream = /^(in|out) (.*)$/i.exec(e.key);
    if (stream) {
      const target = (e.value !== '' ? `${stream[2]}=${e.value}` : stream[2]).trim();
      if (stream[1].toLowerCase() === 'out') section.outputs.push(target);
      else warnings.push([at, `${e.where}: [${e.section}] IN ${target}: reading a publication from a file or a socket is not supported, line ignored`]);
      continue;
    }
    const spec = PUBLICATION_KEYS.find((k) => k.key === key);
    if (!spec) {
      warnings.push([at, `${e.where}: [${e.section}] ${e.key}: publication properties from the ini are not applied (settings are segments, duration, partDuration, hlsMemory, append and OUT lines)`]);
      continue;
    }
    const r = validate(spec, e.value);
    if (r.error !== undefined) errors.push([at, `${e.where}: ${e.section}.${e.key}: ${r.error}, [publication] value kept`]);
    else {
      if (r.warning) warnings.push([at, `${e.where}: ${e.section}.${e.key}: ${r.warning}`]);
      spec.set(section, r.value!);
    }
  }
}
