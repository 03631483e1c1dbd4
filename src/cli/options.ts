/**
 * Command-line options. MonaServer's spellings: `--log=N`, `--dump[=filter]`,
 * `--dumplimit=N`, `--daemon`, `--pidfile=PATH`, `--help`; ours: `--config=PATH`, `--version`.
 * Options taking a value also accept it as the next argument (`--log 8`), except --dump whose value
 * is optional and so must be attached (`--dump=RTMP`).
 */
import type { LogFormat } from '../logs/format';
import { Level } from '../logs/levels';

export interface CliOptions {
  help: boolean;
  version: boolean;
  logLevel: Level;
  /** --log-format: MonaServer's text lines or one JSON object per line */
  logFormat: LogFormat;
  /** null = off, "" = every packet */
  dump: string | null;
  dumpLimit: number;
  daemon: boolean;
  pidFile?: string;
  configPath?: string;
  /** every option given, by full name, its value as typed ("" for a flag): scripts' `mona.arguments` */
  arguments: Record<string, string>;
}

interface OptionSpec {
  name: string;
  alias?: string;
  /** 'none': flag; 'optional': only with '='; 'required': '=' or next argument */
  value: 'none' | 'optional' | 'required';
  arg?: string;
  help: string;
}

export const OPTIONS: readonly OptionSpec[] = [
  { name: 'help', alias: 'h', value: 'none', help: 'print this help and exit' },
  { name: 'version', alias: 'v', value: 'none', help: 'print the version and exit' },
  {
    name: 'config', value: 'required', arg: 'PATH',
    help: 'configuration file (default: MonaServer.ini in the working directory; optional there, required when given)',
  },
  {
    name: 'log', alias: 'l', value: 'required', arg: 'N',
    help: 'log level 0..8: 0 nothing, 1 fatal, 2 critic, 3 error, 4 warn, 5 note, 6 info (default), 7 debug, 8 trace',
  },
  {
    name: 'log-format', value: 'required', arg: 'FORMAT',
    help: 'text (default) or json: one JSON object per line (time, level, source, message and event fields) for log shippers',
  },
  {
    name: 'dump', value: 'optional', arg: 'FILTER',
    help: 'hex dump of every packet in and out; with =FILTER only those whose protocol name or address contains FILTER',
  },
  { name: 'dumplimit', value: 'required', arg: 'N', help: 'show at most N bytes of each dumped packet (default: all)' },
  {
    name: 'daemon', alias: 'd', value: 'none', // -d is daemon in MonaServer too
    help: 'detach from the terminal and keep running in the background (logs go to the log file only)',
  },
  { name: 'pidfile', alias: 'p', value: 'required', arg: 'PATH', help: 'write the process id to PATH (removed at exit)' },
];

export class UsageError extends Error {}

export function usage(command = 'monats'): string {
  const lines = [`usage: ${command} [options]`, '', 'options:'];
  for (const o of OPTIONS) {
    const arg = o.value === 'none' ? '' : o.value === 'optional' ? `[=${o.arg}]` : `=${o.arg}`;
    const alias = o.alias ? `-${o.alias}, ` : '    ';
    lines.push(`  ${alias}--${o.name}${arg}`.padEnd(30) + ' ' + o.help);
  }
  lines.push('', 'Settings (ports, logs, application dir...) are read from MonaServer.ini; see docs.');
  return lines.join('\n') + '\n';
}

function parseInteger(name: string, text: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(text)) throw new UsageError(`--${name}=${text}: an integer is expected`);
  const n = Number(text);
  if (n < min || n > max) throw new UsageError(`--${name}=${text}: must be between ${min} and ${max}`);
  return n;
}

export function parseArgs(argv: readonly string[]): CliOptions {
  const options: CliOptions = {
    help: false, version: false, logLevel: Level.INFO, logFormat: 'text', dump: null, dumpLimit: -1, daemon: false, arguments: {},
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const m = /^(--?)([A-Za-z][\w-]*)(?:=([\s\S]*))?$/.exec(arg);
    if (!m) throw new UsageError(`unexpected argument "${arg}"`);
    const [, dashes, rawName, attached] = m;
    const name = rawName.toLowerCase();
    const spec = OPTIONS.find((o) => (dashes === '--' ? o.name === name : o.alias === name));
    if (!spec) throw new UsageError(`unknown option "${arg}"`);
    let value = attached;
    if (spec.value === 'none' && value !== undefined) throw new UsageError(`--${spec.name} takes no value`);
    if (spec.value === 'required' && value === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`--${spec.name} needs a value (--${spec.name}=${spec.arg})`);
      value = argv[++i];
    }
    options.arguments[spec.name] = value ?? '';
    switch (spec.name) {
      case 'help':
        options.help = true;
        break;
      case 'version':
        options.version = true;
        break;
      case 'config':
        if (!value) throw new UsageError('--config needs a path');
        options.configPath = value;
        break;
      case 'log':
        options.logLevel = parseInteger('log', value!, 0, 8) as Level;
        break;
      case 'log-format': {
        const format = value!.toLowerCase();
        if (format !== 'text' && format !== 'json') throw new UsageError(`--log-format=${value}: text or json is expected`);
        options.logFormat = format;
        break;
      }
      case 'dump':
        options.dump = value ?? '';
        break;
      case 'dumplimit':
        options.dumpLimit = parseInteger('dumplimit', value!, -1, 2 ** 31 - 1);
        break;
      case 'daemon':
        options.daemon = true;
        break;
      case 'pidfile':
        if (!value) throw new UsageError('--pidfile needs a path');
        options.pidFile = value;
        break;
    }
  }
  return options;
}
