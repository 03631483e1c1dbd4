/**
 * Generic XML ↔ table (mona:fromXML / mona:toXML), the mapping MonaServer uses (checked in its
 * LUAXML source and serverapp.rst "XML data compatibility"):
 *
 *   <?xml version="1.0"?><a id="1">hi<b/>there</a>
 *   → document { xml = {version="1.0"}, [1] = {__name="a", id="1", [1]="hi", [2]={__name="b"}, [3]="there"} }
 *
 *  - The document table: each processing instruction (the declaration included) is a field named
 *    after it, holding its pseudo-attributes as a table; root elements are its items.
 *  - An element table: `__name` is the element name (namespace prefix kept: "soap:Body"), each
 *    attribute is a string field (never typed), children are items in document order — element
 *    tables and text strings.
 *  - Text is trimmed and blank text dropped (MonaServer trims too); entities and CDATA are decoded.
 *  - `__value` is a shortcut for the text of a text-only element: reading it gives item 1
 *    (`xmlIndex`), and when writing, an element with no items but a `__value` field gets it as text.
 *    In MonaServer scripts, element.childName also finds the first child element of that name:
 *    `xmlIndex` implements both lookups for the Lua bridge's __index metamethod.
 *
 * Writing (`encodeXML([doc])`): instructions first (`<?name k="v" ?>`), then the items; a value that
 * is itself an element table (has `__name`) is written as that element. Attribute values may be
 * strings, numbers or booleans; text items may be strings or numbers. Text and attributes are
 * escaped (MonaServer wrote them raw). Tags are spaced as MonaServer writes them, a space after
 * the name and after each attribute (`<h2 class="opt" >`, `<name />` without items), so that a
 * document read and written again is the text MonaServer would give (its own XML test compares it).
 * Anything that cannot become well-formed XML (missing/invalid `__name`, a table as an attribute
 * value, too deep nesting) throws a TypeError/RangeError naming the problem.
 */
import { DECODE_LIMITS, Table, Value } from './value';
import { XMLElement, XMLInstruction, escapeXMLAttribute, escapeXMLText, isXMLName, parseXMLTree } from './xml-parser';
import { formatNumber } from './text-values';

/** XML text → [document table]. Malformed input → DecodeError with the byte offset. */
export function decodeXML(input: Buffer | string): Value[] {
  return [parseXML(input)];
}

export function parseXML(input: Buffer | string): Table {
  const tree = parseXMLTree(input, 'XML');
  const doc = new Table();
  for (const pi of tree.instructions) doc.fields.set(pi.name, instructionTable(pi));
  for (const root of tree.roots) doc.items.push(elementTable(root));
  return doc;
}

function instructionTable(pi: XMLInstruction): Table {
  // pseudo-attributes (`version="1.0"`) when the whole content is made of them, else the raw text
  const t = new Table();
  const re = /([^\s=]+)\s*=\s*(["'])(.*?)\2\s*/gsy;
  let m: RegExpExecArray | null;
  let end = 0;
  while ((m = re.exec(pi.content)) && isXMLName(m[1])) {
    t.fields.set(m[1], m[3]);
    end = re.lastIndex;
  }
  if (end === pi.content.length) return t;
  return Table.of({ __value: pi.content });
}

function elementTable(e: XMLElement): Table {
  const t = new Table();
  t.fields.set('__name', e.name);
  for (const [k, v] of e.attributes) if (k !== '__name') t.fields.set(k, v);
  for (const c of e.children) {
    if (typeof c !== 'string') t.items.push(elementTable(c));
    else {
      const s = c.trim();
      if (s) t.items.push(s);
    }
  }
  return t;
}

/**
 * What `element[key]` gives a MonaServer script when the key is not a real field: `__value` → the
 * first item; any other name → the first child element with that `__name`; else null.
 */
export function xmlIndex(element: Table, key: string): Value {
  if (key === '__value') return element.items.length ? element.items[0] : null;
  for (const item of element.items) if (item instanceof Table && item.fields.get('__name') === key) return item;
  return null;
}

/** Document or element tables → XML text. */
export function encodeXML(values: Value[]): string {
  const out: string[] = [];
  for (const v of values) {
    if (!(v instanceof Table)) throw new TypeError('XML: only tables can be written as XML');
    if (v.fields.has('__name')) writeElement(v, out, 1);
    else writeDocument(v, out);
  }
  return out.join('');
}

function writeDocument(doc: Table, out: string[]): void {
  for (const [k, v] of doc.fields) {
    if (typeof k !== 'string' || !isXMLName(k)) throw new TypeError(`XML: bad instruction name ${String(k)}`);
    if (!(v instanceof Table)) throw new TypeError(`XML: instruction ${k} must be a table of attributes`);
    out.push('<?', k, ' ');
    for (const [name, value] of v.fields) {
      if (name === '__value') continue;
      // instruction content is not entity-decoded by readers: write it raw, in a quote it lacks
      const text = scalarText(value, k);
      const quote = text.includes('"') ? "'" : '"';
      if (text.includes(quote) || text.includes('?>')) throw new TypeError(`XML: value of ${String(name)} in <?${k}?> cannot be written`);
      out.push(attributeName(name, k), '=', quote, text, quote, ' ');
    }
    const body = v.fields.get('__value');
    if (typeof body === 'string' && body) out.push(body.replace(/\?>/g, '? >'), ' ');
    out.push('?>');
  }
  for (const item of doc.items) {
    if (!(item instanceof Table)) throw new TypeError('XML: text cannot be written outside of an element');
    writeElement(item, out, 1);
  }
}

function writeElement(e: Table, out: string[], depth: number): void {
  if (depth > DECODE_LIMITS.maxDepth * 4) throw new RangeError('XML: elements nested too deep (a cycle?)');
  const name = e.fields.get('__name');
  if (typeof name !== 'string' || !isXMLName(name)) {
    throw new TypeError(`XML: an element needs a valid __name (got ${JSON.stringify(name ?? null)})`);
  }
  out.push('<', name, ' ');
  for (const [k, v] of e.fields) {
    // tables are not attributes; non-string keys have no XML form (MonaServer skips them too)
    if (typeof k !== 'string' || k === '__name' || k === '__value' || v instanceof Table) continue;
    out.push(attributeName(k, name), '="', escapeXMLAttribute(scalarText(v, name)), '" ');
  }
  const shortcut = e.fields.get('__value');
  const items: Value[] = e.items.length ? e.items : shortcut !== undefined && shortcut !== null ? [shortcut] : [];
  if (!items.length) {
    out.push('/>');
    return;
  }
  out.push('>');
  for (const item of items) {
    if (item instanceof Table) writeElement(item, out, depth + 1);
    else if (item !== null) out.push(escapeXMLText(scalarText(item, name)));
  }
  out.push('</', name, '>');
}

function attributeName(k: unknown, owner: string): string {
  if (typeof k !== 'string' || !isXMLName(k)) throw new TypeError(`XML: bad attribute name ${String(k)} on ${owner}`);
  return k;
}

function scalarText(v: Value, owner: string): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return formatNumber(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  throw new TypeError(`XML: value of ${owner} cannot be written as text`);
}
