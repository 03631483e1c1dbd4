/**
 * `onRead` templates: in a text file, `<% name %>` is replaced by the value the script
 * returned under that key. Unknown keys become empty text, as MonaServer did.
 */
import { formatLuaNumber } from '../../serialization/text-values';
import { Table, type Value } from '../../serialization/value';

function text(v: Value): string {
  if (v === null) return '';
  if (typeof v === 'number') return formatLuaNumber(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (v instanceof Table) return '';
  return v;
}

export function renderTemplate(content: Buffer, values: Table): Buffer {
  const src = content.toString('utf8');
  if (!src.includes('<%')) return content;
  return Buffer.from(src.replace(/<%\s*([^%\s]+)\s*%>/g, (_m, key: string) => text(values.get(key))));
}
