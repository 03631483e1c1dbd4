/**
 * MonaServer.ini syntax. Tolerances follow what MonaServer 1 accepts, so a user's file
 * reads the same here:
 * - a line whose first non-blank character is `;` is a comment; `#` too (our addition, common INI).
 * - NO inline comments: everything after `=` up to the end of the line is the value, trimmed.
 *   MonaServer does the same, and values legitimately hold `;` (`[servers] targets=a:1;b:2`).
 * - quotes are not removed (MonaServer keeps them, and scripts see `mona.configs` as written).
 * - `[ name ]` opens a section (name trimmed); keys before any section are top level.
 * - `\r\n` and `\n` line ends, UTF-8 with or without BOM.
 * What MonaServer silently swallows but is almost always a typo is reported as a problem with its
 * line number and skipped: a `[section` without `]`, text after `]`, a line without `=`, `= value`
 * without a key. One exception to "key = value": MonaServer2's stream lines (`IN source`, `OUT
 * target`) are entries whose key is the whole line and whose value is empty. Keys under a broken section header are skipped with it. The caller decides what a problem means (we log it and keep going).
 */

export interface IniEntry {
  /** section as written ("" = top level) */
  section: string;
  /** key as written */
  key: string;
  value: string;
  /** 1-based line number */
  line: number;
}

export interface IniProblem {
  line: number;
  message: string;
}

export interface IniDocument {
  entries: IniEntry[];
  /** every section header seen, as written, in file order (a section may be empty) */
  sections: string[];
  problems: IniProblem[];
}

export function parseIni(text: string): IniDocument {
  const entries: IniEntry[] = [];
  const sections: string[] = [];
  const problems: IniProblem[] = [];
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const lines = text.split('\n');
  // null after a broken header: its keys are skipped rather than landing in the previous section
  // (a broken "[HTTP" must not turn the next "port=80" into the RTMFP port)
  let section: string | null = '';
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const line = lines[i].trim(); // also drops the \r of CRLF files
    if (line === '' || line[0] === ';' || line[0] === '#') continue;
    if (line[0] === '[') {
      const close = line.indexOf(']');
      const skipped = 'its keys up to the next section are ignored';
      if (close < 0) {
        problems.push({ line: lineNo, message: `section header "${line}" has no closing ']', ${skipped}` });
        section = null;
        continue;
      }
      const rest = line.slice(close + 1).trim();
      if (rest !== '' && rest[0] !== ';' && rest[0] !== '#') {
        problems.push({ line: lineNo, message: `unexpected text "${rest}" after section header, ${skipped}` });
        section = null;
        continue;
      }
      const name = line.slice(1, close).trim();
      if (name === '') {
        problems.push({ line: lineNo, message: `empty section name "[]", ${skipped}` });
        section = null;
        continue;
      }
      section = name;
      sections.push(name);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0 && /^(in|out)\s/i.test(line)) {
      if (section !== null) entries.push({ section, key: line.replace(/\s+/, ' '), value: '', line: lineNo });
      continue;
    }
    if (eq < 0) {
      problems.push({ line: lineNo, message: `"${line}" is not "key = value"` });
      continue;
    }
    const key = line.slice(0, eq).trim();
    if (key === '') {
      problems.push({ line: lineNo, message: `missing key before '=' in "${line}"` });
      continue;
    }
    if (section === null) continue; // under a broken header
    entries.push({ section, key, value: line.slice(eq + 1).trim(), line: lineNo });
  }
  return { entries, sections, problems };
}
