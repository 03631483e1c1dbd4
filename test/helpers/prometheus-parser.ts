/**
 * A strict reader of the Prometheus text exposition format 0.0.4, written from its specification
 * (not from our encoder), to check what /metrics serves:
 * - `# HELP <name> <text>` (text escapes `\\` and `\n`), `# TYPE <name> <counter|gauge|histogram|
 *   summary|untyped>`, at most one of each per name, TYPE before the name's first sample; other
 *   `#` lines are comments; blank lines are ignored;
 * - a sample is `name{label="value",...} value [timestamp]`: name `[a-zA-Z_:][a-zA-Z0-9_:]*`, label
 *   names `[a-zA-Z_][a-zA-Z0-9_]*` not starting with `__`, values quoted with `\\`, `\"`, `\n`
 *   escapes, an optional trailing comma, the value a Go float (NaN, +Inf, -Inf allowed), the
 *   timestamp an integer;
 * - the samples of one family are contiguous and no series (name + label set) appears twice;
 * - the text ends with a line feed.
 * Throws with the line number on the first violation.
 */

export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
  timestamp?: number;
}

export interface ParsedFamily {
  name: string;
  help?: string;
  type?: string;
  samples: ParsedSample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseFloatGo(text: string, where: string): number {
  if (text === 'NaN') return NaN;
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text)) throw new Error(`${where}: "${text}" is not a float`);
  return Number(text);
}

/** The family a sample name belongs to (histograms and summaries add suffixes to their name). */
function familyOf(name: string, types: Map<string, string>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      const t = types.get(base);
      if (t === 'histogram' || (t === 'summary' && suffix !== '_bucket')) return base;
    }
  }
  return name;
}

export function parsePrometheusText(text: string): Map<string, ParsedFamily> {
  if (text.length && !text.endsWith('\n')) throw new Error('the text does not end with a line feed');
  const families = new Map<string, ParsedFamily>();
  const types = new Map<string, string>();
  const helps = new Set<string>();
  const series = new Set<string>();
  const closed = new Set<string>();
  let current: string | null = null;
  const family = (name: string) => {
    let f = families.get(name);
    if (!f) families.set(name, (f = { name, samples: [] }));
    return f;
  };
  const lines = text.split('\n');
  lines.pop();
  lines.forEach((line, i) => {
    const where = `line ${i + 1}`;
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = /^#[ \t]+(HELP|TYPE)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(line);
      if (!m) return; // a comment
      const [, kind, name, rest = ''] = m;
      if (!new RegExp(NAME.source + '$').test(name)) throw new Error(`${where}: invalid metric name "${name}"`);
      if (kind === 'HELP') {
        if (helps.has(name)) throw new Error(`${where}: second HELP for ${name}`);
        helps.add(name);
        if (/\\[^\\n]/.test(rest.replace(/\\\\/g, ''))) throw new Error(`${where}: bad escape in HELP`);
        family(name).help = rest.replace(/\\(\\|n)/g, (_, c: string) => (c === 'n' ? '\n' : '\\'));
      } else {
        if (types.has(name)) throw new Error(`${where}: second TYPE for ${name}`);
        if (families.get(name)?.samples.length) throw new Error(`${where}: TYPE for ${name} after its samples`);
        if (!TYPES.has(rest.trim())) throw new Error(`${where}: unknown type "${rest}"`);
        types.set(name, rest.trim());
        family(name).type = rest.trim();
      }
      return;
    }
    // a sample
    const nameMatch = NAME.exec(line);
    if (!nameMatch) throw new Error(`${where}: no metric name`);
    const name = nameMatch[0];
    let pos = name.length;
    const labels: Record<string, string> = {};
    if (line[pos] === '{') {
      pos++;
      for (;;) {
        while (line[pos] === ' ' || line[pos] === '\t') pos++;
        if (line[pos] === '}') {
          pos++;
          break;
        }
        const l = LABEL.exec(line.slice(pos));
        if (!l) throw new Error(`${where}: invalid label name at column ${pos + 1}`);
        const label = l[0];
        if (label.startsWith('__')) throw new Error(`${where}: reserved label name ${label}`);
        if (label in labels) throw new Error(`${where}: label ${label} twice`);
        pos += label.length;
        while (line[pos] === ' ' || line[pos] === '\t') pos++;
        if (line[pos] !== '=') throw new Error(`${where}: '=' expected after ${label}`);
        pos++;
        while (line[pos] === ' ' || line[pos] === '\t') pos++;
        if (line[pos] !== '"') throw new Error(`${where}: quoted value expected for ${label}`);
        pos++;
        let value = '';
        for (;;) {
          const c = line[pos];
          if (c === undefined) throw new Error(`${where}: unterminated label value`);
          pos++;
          if (c === '"') break;
          if (c === '\\') {
            const e = line[pos++];
            if (e === '\\') value += '\\';
            else if (e === '"') value += '"';
            else if (e === 'n') value += '\n';
            else throw new Error(`${where}: bad escape \\${e} in label value`);
          } else value += c;
        }
        labels[label] = value;
        while (line[pos] === ' ' || line[pos] === '\t') pos++;
        if (line[pos] === ',') pos++;
        else if (line[pos] !== '}') throw new Error(`${where}: ',' or '}' expected`);
      }
    }
    const rest = line.slice(pos);
    const parts = rest.trim().split(/[ \t]+/);
    if (!/^[ \t]/.test(rest) || parts.length < 1 || parts.length > 2 || parts[0] === '') throw new Error(`${where}: value expected after the name and labels`);
    const value = parseFloatGo(parts[0], where);
    let timestamp: number | undefined;
    if (parts.length === 2) {
      if (!/^-?\d+$/.test(parts[1])) throw new Error(`${where}: bad timestamp "${parts[1]}"`);
      timestamp = Number(parts[1]);
    }
    const fam = familyOf(name, types);
    if (fam !== current) {
      if (closed.has(fam)) throw new Error(`${where}: samples of ${fam} are not contiguous`);
      if (current !== null) closed.add(current);
      current = fam;
    }
    const key = name + JSON.stringify(Object.entries(labels).sort());
    if (series.has(key)) throw new Error(`${where}: series ${name}${JSON.stringify(labels)} appears twice`);
    series.add(key);
    family(fam).samples.push({ name, labels, value, timestamp });
  });
  return families;
}
