/**
 * The server's Logger (contract in ./levels): every line goes to the console and, when a file is
 * configured, to the rotating log file. Packet dumps (--dump) go to both too, whatever the level,
 * as in MonaServer. `format: 'json'` writes one JSON object per line instead (both outputs, no
 * colours), with the structured fields callers pass.
 */
import { Level, type LogFields, type Logger } from './levels';
import { formatJSONLine, formatLine, formatTime, hexDump, type LogFormat } from './format';
import { RotatingFile } from './rotating-file';

export interface LoggerOptions {
  level?: Level;
  /** where console lines go (default process.stdout); null = no console (daemon) */
  console?: NodeJS.WritableStream | null;
  /** colours on the console (default: when it is a TTY and NO_COLOR is unset) */
  colors?: boolean;
  file?: { directory: string; name: string; rotation: number; maxSize?: number } | null;
  /** --dump: null = off, "" = every packet, else substring of protocol name or address */
  dump?: string | null;
  /** --dumplimit: bytes shown per packet, -1 = all */
  dumpLimit?: number;
  /** clock, replaceable by tests */
  now?: () => Date;
  /** --log-format: 'text' (default, MonaServer's lines) or 'json' (one object per line) */
  format?: LogFormat;
}

const COLORS: Record<number, string> = {
  [Level.FATAL]: '\x1b[1;31m',
  [Level.CRITIC]: '\x1b[1;31m',
  [Level.ERROR]: '\x1b[1;35m',
  [Level.WARN]: '\x1b[1;33m',
  [Level.NOTE]: '\x1b[1;32m',
  [Level.INFO]: '\x1b[1;37m',
  [Level.DEBUG]: '\x1b[0m',
  [Level.TRACE]: '\x1b[1;30m',
};
const RESET = '\x1b[0m';

export class ServerLogger implements Logger {
  level: Level;
  dumpFilter: string | null;
  dumpLimit: number;
  readonly file: RotatingFile | null;
  private readonly out: NodeJS.WritableStream | null;
  private readonly colors: boolean;
  private readonly now: () => Date;
  readonly format: LogFormat;

  constructor(options: LoggerOptions = {}) {
    this.level = options.level ?? Level.INFO;
    this.format = options.format ?? 'text';
    this.out = options.console === undefined ? process.stdout : options.console;
    const tty = !!(this.out as { isTTY?: boolean } | null)?.isTTY;
    this.colors = this.format === 'text' && (options.colors ?? (tty && !process.env.NO_COLOR));
    this.dumpFilter = options.dump ?? null;
    this.dumpLimit = options.dumpLimit ?? -1;
    this.now = options.now ?? (() => new Date());
    this.file = options.file
      ? new RotatingFile({
          directory: options.file.directory,
          name: options.file.name,
          rotation: options.file.rotation,
          maxSize: options.file.maxSize ?? 1_000_000,
          onError: (message) => this.writeConsole(Level.ERROR, this.line(Level.ERROR, 'Logs', message)),
        })
      : null;
  }

  get dumping(): boolean {
    return this.dumpFilter !== null;
  }

  enabled(level: Level): boolean {
    return level !== Level.NONE && level <= this.level;
  }

  log(level: Level, source: string, message: string, fields?: LogFields): void {
    if (!this.enabled(level)) return;
    const line = this.line(level, source, message, fields);
    this.writeConsole(level, line);
    this.file?.write(line);
  }

  fatal(source: string, message: string, fields?: LogFields): void {
    this.log(Level.FATAL, source, message, fields);
  }
  critic(source: string, message: string, fields?: LogFields): void {
    this.log(Level.CRITIC, source, message, fields);
  }
  error(source: string, message: string, fields?: LogFields): void {
    this.log(Level.ERROR, source, message, fields);
  }
  warn(source: string, message: string, fields?: LogFields): void {
    this.log(Level.WARN, source, message, fields);
  }
  note(source: string, message: string, fields?: LogFields): void {
    this.log(Level.NOTE, source, message, fields);
  }
  info(source: string, message: string, fields?: LogFields): void {
    this.log(Level.INFO, source, message, fields);
  }
  debug(source: string, message: string, fields?: LogFields): void {
    this.log(Level.DEBUG, source, message, fields);
  }
  trace(source: string, message: string, fields?: LogFields): void {
    this.log(Level.TRACE, source, message, fields);
  }

  private line(level: Level, source: string, message: string, fields?: LogFields): string {
    return this.format === 'json'
      ? formatJSONLine(this.now(), level, source, message, fields)
      : formatLine(this.now(), level, source, message);
  }

  dump(name: string, direction: 'in' | 'out', address: string, data: Buffer): void {
    const filter = this.dumpFilter;
    if (filter === null) return;
    if (filter !== '') {
      const f = filter.toLowerCase();
      if (!name.toLowerCase().includes(f) && !address.toLowerCase().includes(f)) return;
    }
    const way = direction === 'in' ? 'in from' : 'out to';
    const text =
      this.format === 'json'
        ? JSON.stringify({
            time: this.now().toISOString(), level: 'DUMP', source: name, message: `${way} ${address} (${data.length} bytes)`,
            direction, address, bytes: data.length, dump: hexDump(data, this.dumpLimit),
          }) + '\n'
        : `${formatTime(this.now())} ${name} ${way} ${address} (${data.length} bytes)\n` + hexDump(data, this.dumpLimit);
    this.out?.write(text);
    this.file?.write(text);
  }

  /**
   * Lines another process formatted (the workers of `threads`), written to the console and the
   * file as they are, so that one file holds the whole server's log.
   */
  raw(text: string): void {
    this.out?.write(text);
    this.file?.write(text);
  }

  /** Resolves when the file has everything logged so far. */
  flush(): Promise<void> {
    return this.file ? this.file.flush() : Promise.resolve();
  }

  flushSync(): void {
    this.file?.flushSync();
  }

  close(): Promise<void> {
    return this.file ? this.file.close() : Promise.resolve();
  }

  private writeConsole(level: Level, line: string): void {
    if (!this.out) return;
    this.out.write(this.colors ? COLORS[level] + line.slice(0, -1) + RESET + '\n' : line);
  }
}
