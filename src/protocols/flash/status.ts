/**
 * The info object of `onStatus`, `_result` and `_error` messages: {level, code, description}
 * followed by extra fields (a stream's `details`, connect's `objectEncoding` and what onConnection
 * returned). The one builder every Flash message with a status goes through.
 */
import { statusLevel, type StatusLevel } from '../../core/status';
import { Table, type Value } from '../../serialization/value';

/** `level` defaults to the one rule for the code (core/status.ts); extra never overrides the three first fields. */
export function statusInfo(code: string, description: string, extra?: Table | Record<string, Value> | null, level: StatusLevel = statusLevel(code)): Table {
  const t = Table.of({ level, code, description });
  if (extra instanceof Table) {
    for (const [k, v] of extra.fields) if (!t.fields.has(k)) t.fields.set(k, v);
  } else if (extra) {
    for (const k of Object.keys(extra)) if (!t.fields.has(k)) t.fields.set(k, extra[k]);
  }
  return t;
}
