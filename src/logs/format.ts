/** How a log line and a packet dump look (time, level, source, message, as MonaServer writes them). */
import { Level, type LogFields } from './levels';

export const LEVEL_NAMES: Record<number, string> = {
  [Level.FATAL]: 'FATAL',
  [Level.CRITIC]: 'CRITIC',
  [Level.ERROR]: 'ERROR',
  [Level.WARN]: 'WARN',
  [Level.NOTE]: 'NOTE',
  [Level.INFO]: 'INFO',
  [Level.DEBUG]: 'DEBUG',
  [Level.TRACE]: 'TRACE',
};

const pad2 = (n: number) => (n < 10 ? '0' : '') + n;
const pad3 = (n: number) => (n < 10 ? '00' : n < 100 ? '0' : '') + n;

/** "23/11 21:29:21.123" (local time, day/month like MonaServer's log files) */
export function formatTime(date: Date): string {
  return (
    `${pad2(date.getDate())}/${pad2(date.getMonth() + 1)} ` +
    `${pad2(date.getHours())}:${pad2(date.getMinutes())}:${pad2(date.getSeconds())}.${pad3(date.getMilliseconds())}`
  );
}

/** "23/11 21:29:21.123 INFO   RTMP  RTMP server started on 0.0.0.0:1935 (TCP)" + "\n" */
export function formatLine(date: Date, level: Level, source: string, message: string): string {
  const name = LEVEL_NAMES[level] ?? String(level);
  return `${formatTime(date)} ${name.padEnd(6)} ${source}  ${message}\n`;
}

/** The line formats of `--log-format`: MonaServer's text, or one JSON object per line. */
export type LogFormat = 'text' | 'json';

/** Field names a line always has in JSON; structured fields never overwrite them. */
const RESERVED = new Set(['time', 'level', 'source', 'message']);

/**
 * `{"time":"2026-11-23T20:29:21.123Z","level":"INFO","source":"RTMP","message":"…",…fields}` + "\n":
 * ISO time in UTC (what log shippers parse without a time zone setting), then the fields whose
 * value is defined, in the order given.
 */
export function formatJSONLine(date: Date, level: Level, source: string, message: string, fields?: LogFields): string {
  const record: Record<string, unknown> = { time: date.toISOString(), level: LEVEL_NAMES[level] ?? String(level), source, message };
  if (fields) {
    for (const key in fields) {
      const value = fields[key];
      if (value !== undefined && !RESERVED.has(key)) record[key] = typeof value === 'number' && !Number.isFinite(value) ? null : value;
    }
  }
  return JSON.stringify(record) + '\n';
}

/**
 * Classic 16-bytes-per-row hex dump: offset, hex bytes, printable ASCII. `limit` < 0 = no limit;
 * when truncated, the last line says how many bytes were left out.
 */
export function hexDump(data: Buffer, limit = -1): string {
  const size = limit >= 0 && limit < data.length ? limit : data.length;
  const rows: string[] = [];
  for (let row = 0; row < size; row += 16) {
    const end = Math.min(row + 16, size);
    let hex = '';
    let ascii = '';
    for (let i = row; i < row + 16; i++) {
      if (i < end) {
        const b = data[i];
        hex += (b < 16 ? '0' : '') + b.toString(16).toUpperCase() + ' ';
        ascii += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
      } else hex += '   ';
      if (i === row + 7) hex += ' ';
    }
    rows.push(`  ${row.toString(16).padStart(8, '0')}  ${hex} ${ascii}\n`);
  }
  if (size < data.length) rows.push(`  … ${data.length - size} more bytes (--dumplimit=${limit})\n`);
  return rows.join('');
}
