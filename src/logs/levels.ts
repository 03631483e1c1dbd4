/** MonaServer's log levels, numbered as `--log=N` selects them (0 = nothing … 8 = trace). */
export enum Level {
  NONE = 0,
  FATAL = 1,
  CRITIC = 2,
  ERROR = 3,
  WARN = 4,
  NOTE = 5,
  INFO = 6,
  DEBUG = 7,
  TRACE = 8,
}

/**
 * Structured details of a line (`event`, `protocol`, `address`, `app`, `stream`, `reason`, byte
 * counts...): the text format shows only the message, which already says them in words; the JSON
 * format (`--log-format=json`) adds them as fields for log shippers.
 */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

/** What every module gets to log with. src/logs/ implements it (console + rotating files). */
export interface Logger {
  level: Level;
  /** `source` is "file:line" or a module name such as "RTMP". */
  log(level: Level, source: string, message: string, fields?: LogFields): void;
  fatal(source: string, message: string, fields?: LogFields): void;
  critic(source: string, message: string, fields?: LogFields): void;
  error(source: string, message: string, fields?: LogFields): void;
  warn(source: string, message: string, fields?: LogFields): void;
  note(source: string, message: string, fields?: LogFields): void;
  info(source: string, message: string, fields?: LogFields): void;
  debug(source: string, message: string, fields?: LogFields): void;
  trace(source: string, message: string, fields?: LogFields): void;
  enabled(level: Level): boolean;
  /**
   * `--dump`: hex dump of a packet in or out. `name` is "RTMP"/"RTMFP"/... plus the peer address;
   * filtered by the --dump substring, truncated to --dumplimit bytes. Cheap no-op when off.
   */
  dump(name: string, direction: 'in' | 'out', address: string, data: Buffer): void;
  readonly dumping: boolean;
}
