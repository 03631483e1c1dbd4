/**
 * Modules of JavaScript and TypeScript apps. Each app has its own module scope and its own module
 * cache: its main file and the script files it requires from the app tree run as CommonJS
 * functions (ES `import`/`export` and TypeScript are turned into that by sucrase, which keeps
 * every line where it was, so stack traces and errors point at the source lines without source
 * maps). Around that function, the names every app sees as in Lua (`app`, `mona`, `data`, the log
 * functions and the app's own timers) are the parameters of an outer function: a module may
 * declare its own `data` or `app` over them.
 *
 * `require(name)` (and `import ... from name`):
 *  - "monats": the app's API (`{ app, mona, data, INFO... }`), also what the type declarations name;
 *  - "./x", "../x": relative to the requiring file;
 *  - a bare name: a script file `name` (.ts, .js, .json, or a folder's index) in the app's folder,
 *    then each parent's, as Lua's require looks; else Node's own resolution from the app's folder
 *    (node_modules of www/ and above, Node's built-in modules).
 * Script files under www/ are loaded here (watched: a change reloads the app); anything else
 * (node_modules, files outside www/) is Node's, loaded once per process and not watched.
 */
import * as fs from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import * as path from 'node:path';
import * as vm from 'node:vm';
import { ScriptError } from '../runtime/engine';

/** The names a module sees around it (the outer function's parameters). */
export const SCOPE_NAMES = [
  'app',
  'mona',
  'data',
  'FATAL',
  'CRITIC',
  'ERROR',
  'WARN',
  'NOTE',
  'INFO',
  'DEBUG',
  'TRACE',
  'setTimeout',
  'setInterval',
  'setImmediate',
  'clearTimeout',
  'clearInterval',
  'clearImmediate',
] as const;

export type Scope = Record<(typeof SCOPE_NAMES)[number], unknown>;

const EXTENSIONS = ['.ts', '.js', '.json', '.mts', '.cts', '.mjs', '.cjs'];

const PREFIX = `(function (${SCOPE_NAMES.join(', ')}) { return function (exports, require, module, __filename, __dirname) {`;
const SUFFIX = '\n}; })';

type Transform = (code: string, opts: { transforms: Array<'typescript' | 'imports'>; filePath: string; disableESTransforms: boolean; production: boolean }) => { code: string };
let sucrase: Transform | null = null;

/** ES module syntax somewhere in a JavaScript file (a cheap look before transforming it). */
const ESM = /(^|[\s;])(import|export)[\s{*]/m;

/**
 * A script file's source as CommonJS JavaScript (TypeScript types dropped, ES modules turned into
 * require/exports), line for line. Throws ScriptError "file:line: message" on a syntax error.
 */
export function transpile(source: string, file: string, chunkName: string): string {
  const ext = path.extname(file).toLowerCase();
  const ts = ext === '.ts' || ext === '.mts' || ext === '.cts';
  if (!ts && !ESM.test(source)) return source;
  sucrase ??= (require('sucrase') as { transform: Transform }).transform;
  try {
    return sucrase(source, { transforms: ts ? ['typescript', 'imports'] : ['imports'], filePath: chunkName, disableESTransforms: true, production: true }).code;
  } catch (e) {
    const err = e as Error & { loc?: { line: number; column: number } };
    const message = err.message.replace(/^Error transforming [^:]*: /, '').replace(/ \(\d+:\d+\)$/, '');
    throw new ScriptError(err.loc ? `${chunkName}:${err.loc.line}: ${message}` : `${chunkName}: ${message}`);
  }
}

/** A module record, as CommonJS has it. */
export interface ModuleRecord {
  exports: unknown;
  readonly filename: string;
  loaded: boolean;
}

/** What a loader needs from its engine and app. */
export interface ModuleHost {
  /** the app's folder, then each parent's (bare names are looked for there) */
  folders(): string[];
  /** www/ */
  readonly wwwDir: string;
  /** reads a script file for the app (recorded for hot reload); null when it cannot be read */
  read(file: string): { code: Buffer; chunkName: string } | null;
  /** the app's "monats" module */
  api(): unknown;
  /** the outer names of the app's modules */
  scope(): Scope;
  /** a compiled file's name, so that stack frames in it count as the script's */
  compiled(chunkName: string): void;
  /** runs a module's top-level code (bounded in time) */
  runTop(fn: () => void): void;
}

export class AppModules {
  private readonly cache = new Map<string, ModuleRecord>();
  private nodeRequire: NodeRequire | null = null;

  constructor(private readonly host: ModuleHost) {}

  /** Forgets every module (the main file reruns). */
  reset(): void {
    this.cache.clear();
  }

  /** Runs a file's code as a module of this app (the main file: `code` already read). */
  run(code: Buffer, file: string, chunkName: string, exports: unknown = {}): ModuleRecord {
    const record: ModuleRecord = { exports, filename: file, loaded: false };
    this.cache.set(file, record);
    try {
      this.execute(record, code.toString('utf8'), file, chunkName);
    } catch (e) {
      this.cache.delete(file);
      throw e;
    }
    return record;
  }

  /** `require(request)` from the module in `fromFile`. */
  require(request: string, fromFile: string): unknown {
    if (typeof request !== 'string' || request === '') throw new TypeError('require: a module name is expected');
    if (request === 'monats') return this.host.api();
    if (isBuiltin(request)) return require(request);
    const found = this.resolve(request, fromFile);
    if (found === null) return this.node(request, fromFile);
    if (!this.isScript(found)) return this.node(found, fromFile);
    const known = this.cache.get(found);
    if (known) return known.exports; // loaded, or being loaded (a cycle sees the exports so far)
    const read = this.host.read(found);
    if (!read) throw new Error(`require: cannot read ${found}`);
    if (path.extname(found).toLowerCase() === '.json') {
      let value: unknown;
      try {
        value = JSON.parse(read.code.toString('utf8'));
      } catch (e) {
        throw new ScriptError(`${read.chunkName}: ${(e as Error).message}`);
      }
      this.cache.set(found, { exports: value, filename: found, loaded: true });
      return value;
    }
    return this.run(read.code, found, read.chunkName).exports;
  }

  private isScript(file: string): boolean {
    const rel = path.relative(this.host.wwwDir, file);
    return !rel.startsWith('..') && !path.isAbsolute(rel) && !rel.split(path.sep).includes('node_modules') && EXTENSIONS.includes(path.extname(file).toLowerCase());
  }

  /** Node's own resolution and loading, from the requiring file (or the app's folder). */
  private node(request: string, fromFile: string): unknown {
    const from = this.isScript(fromFile) ? fromFile : path.join(this.host.folders()[0], 'index.js');
    if (from === fromFile) return createRequire(from)(request);
    this.nodeRequire ??= createRequire(from);
    return this.nodeRequire(request);
  }

  /** A script file for `request`, or null when none (Node's resolution then has its turn). */
  private resolve(request: string, fromFile: string): string | null {
    if (request.startsWith('./') || request.startsWith('../') || request === '.' || request === '..' || path.isAbsolute(request)) {
      return candidate(path.resolve(path.dirname(fromFile), request));
    }
    for (const dir of this.host.folders()) {
      const found = candidate(path.join(dir, request));
      if (found !== null) return found;
    }
    return null;
  }

  private execute(record: ModuleRecord, source: string, file: string, chunkName: string): void {
    const code = transpile(source, file, chunkName);
    let outer: (...scope: unknown[]) => (...cjs: unknown[]) => void;
    try {
      outer = new vm.Script(PREFIX + code + SUFFIX, { filename: chunkName }).runInThisContext() as typeof outer;
    } catch (e) {
      throw syntaxError(e, chunkName);
    }
    this.host.compiled(chunkName);
    const scope = this.host.scope();
    const body = outer(...SCOPE_NAMES.map((n) => scope[n]));
    const require = (request: string): unknown => this.require(request, file);
    const module = record as unknown as { exports: unknown };
    this.host.runTop(() => body.call(record.exports, record.exports, require, module, file, path.dirname(file)));
    record.loaded = true;
  }
}

/** The file a path names: itself, with a script extension, or a folder's index; null if none. */
function candidate(p: string): string | null {
  if (isFile(p)) return p;
  for (const ext of EXTENSIONS) if (isFile(p + ext)) return p + ext;
  for (const ext of EXTENSIONS) if (isFile(path.join(p, 'index' + ext))) return path.join(p, 'index' + ext);
  return null;
}

function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/** A compile error as "file:line: message" (V8 puts "file:line" on the first line of the stack). */
function syntaxError(e: unknown, chunkName: string): ScriptError {
  const err = e as Error;
  const m = typeof err?.stack === 'string' ? /^(.*):(\d+)\n/.exec(err.stack) : null;
  const line = m && m[1] === chunkName ? m[2] : null;
  return new ScriptError(`${chunkName}${line ? `:${line}` : ''}: ${err?.name === 'SyntaxError' ? 'SyntaxError: ' : ''}${err?.message ?? String(e)}`);
}
