/**
 * A small, strict, non-validating XML 1.0 reader that builds a plain tree (no package, no DTD).
 * Shared by the generic XML mapping (xml.ts) and XML-RPC (xmlrpc.ts).
 *
 * Handles: line-end normalisation (CR LF → LF), the XML declaration and processing instructions, comments, CDATA, a DOCTYPE (skipped,
 * its internal subset is not interpreted), the five predefined entities and character references,
 * attributes in ' or ", namespaces kept as part of names ("soap:Envelope"). Several root elements
 * are accepted (MonaServer's fromXML returns them all); text outside elements must be blank.
 * Every malformation — unknown entity, mismatched or unclosed tag, duplicate attribute, nesting
 * deeper than MAX_XML_DEPTH — is a DecodeError carrying the byte offset. The loop is iterative and
 * the tree is at most proportional to the input.
 */
import { DecodeError } from './value';

export interface XMLElement {
  name: string;
  /** in document order */
  attributes: Array<[string, string]>;
  /** elements and text (entities decoded, CDATA merged with adjacent text, blanks kept) */
  children: Array<XMLElement | string>;
}

export interface XMLInstruction {
  /** "xml" for the declaration */
  name: string;
  /** the text between the name and "?>", trimmed */
  content: string;
}

export interface XMLDocumentTree {
  instructions: XMLInstruction[];
  roots: XMLElement[];
}

/** Element nesting limit: XML-RPC needs ~3 elements per data level, so this allows 64+ levels. */
export const MAX_XML_DEPTH = 256;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

export function parseXMLTree(input: Buffer | string, format = 'XML'): XMLDocumentTree {
  let text: string;
  if (typeof input === 'string') text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  else {
    try {
      text = utf8.decode(input);
    } catch {
      throw new DecodeError(format, 'input is not valid UTF-8');
    }
  }
  return new TreeBuilder(text, format).build();
}

const NAME = /[^\s/>=<"'?!&]+/y;
const SPACE = /\s*/y;

class TreeBuilder {
  private pos = 0;
  private readonly stack: XMLElement[] = [];
  private readonly doc: XMLDocumentTree = { instructions: [], roots: [] };
  constructor(
    private readonly text: string,
    private readonly format: string,
  ) {}

  private fail(message: string, at = this.pos): never {
    const byteOffset = Buffer.byteLength(this.text.slice(0, Math.min(at, this.text.length)), 'utf8');
    throw new DecodeError(this.format, message, byteOffset);
  }

  build(): XMLDocumentTree {
    const t = this.text;
    while (this.pos < t.length) {
      const lt = t.indexOf('<', this.pos);
      const end = lt < 0 ? t.length : lt;
      if (end > this.pos) this.addText(this.decodeEntities(this.pos, end), this.pos);
      if (lt < 0) break;
      this.pos = lt;
      const next = t.charCodeAt(lt + 1);
      if (next === 0x2f /* / */) this.endTag();
      else if (next === 0x3f /* ? */) this.instruction();
      else if (next === 0x21 /* ! */) this.markup();
      else this.startTag();
    }
    if (this.stack.length) this.fail(`element <${this.stack[this.stack.length - 1].name}> not closed`);
    if (!this.doc.roots.length) this.fail('no root element');
    return this.doc;
  }

  private addText(s: string, at: number): void {
    const parent = this.stack[this.stack.length - 1];
    if (!parent) {
      if (/\S/.test(s)) this.fail('text outside of any element', at);
      return;
    }
    const last = parent.children.length - 1;
    if (last >= 0 && typeof parent.children[last] === 'string') parent.children[last] += s;
    else parent.children.push(s);
  }

  private name(): string {
    NAME.lastIndex = this.pos;
    const m = NAME.exec(this.text);
    if (!m) this.fail('name expected');
    const name = m[0];
    if (!isXMLName(name)) this.fail(`invalid name ${JSON.stringify(name)}`, this.pos);
    this.pos += name.length;
    return name;
  }

  private skipSpace(): void {
    SPACE.lastIndex = this.pos;
    SPACE.exec(this.text);
    this.pos = SPACE.lastIndex;
  }

  private startTag(): void {
    const t = this.text;
    this.pos++; // <
    const element: XMLElement = { name: this.name(), attributes: [], children: [] };
    for (;;) {
      const before = this.pos;
      this.skipSpace();
      const c = t[this.pos];
      if (c === '>' || c === '/') break;
      if (c === undefined) this.fail(`unterminated start tag <${element.name}>`);
      if (before === this.pos) this.fail('space expected between attributes');
      const nameAt = this.pos;
      const name = this.name();
      this.skipSpace();
      if (t[this.pos] !== '=') this.fail(`"=" expected after attribute ${name}`);
      this.pos++;
      this.skipSpace();
      const quote = t[this.pos];
      if (quote !== '"' && quote !== "'") this.fail(`quoted value expected for attribute ${name}`);
      const close = t.indexOf(quote, this.pos + 1);
      if (close < 0) this.fail(`unterminated value of attribute ${name}`);
      const lt = t.indexOf('<', this.pos + 1);
      if (lt >= 0 && lt < close) this.fail('"<" in an attribute value', lt);
      if (element.attributes.some(([n]) => n === name)) this.fail(`duplicate attribute ${name}`, nameAt);
      element.attributes.push([name, this.decodeEntities(this.pos + 1, close)]);
      this.pos = close + 1;
    }
    const parent = this.stack[this.stack.length - 1];
    if (parent) parent.children.push(element);
    else this.doc.roots.push(element);
    if (t[this.pos] === '/') {
      if (t[this.pos + 1] !== '>') this.fail('">" expected after "/"');
      this.pos += 2;
      return;
    }
    this.pos++; // >
    if (this.stack.length >= MAX_XML_DEPTH) this.fail(`elements nested deeper than ${MAX_XML_DEPTH}`);
    this.stack.push(element);
  }

  private endTag(): void {
    const at = this.pos;
    this.pos += 2; // </
    const name = this.name();
    this.skipSpace();
    if (this.text[this.pos] !== '>') this.fail(`">" expected to close </${name}`);
    this.pos++;
    const open = this.stack.pop();
    if (!open) this.fail(`end tag </${name}> without start tag`, at);
    if (open.name !== name) this.fail(`end tag </${name}> does not match <${open.name}>`, at);
  }

  private instruction(): void {
    const at = this.pos;
    this.pos += 2; // <?
    const name = this.name();
    const close = this.text.indexOf('?>', this.pos);
    if (close < 0) this.fail(`unterminated processing instruction <?${name}`, at);
    const content = this.text.slice(this.pos, close).trim();
    this.pos = close + 2;
    // the declaration comes first (blanks before it are tolerated, as MonaServer did)
    const first = !this.stack.length && !this.doc.roots.length && !this.doc.instructions.length;
    if (name.toLowerCase() === 'xml' && (!first || name !== 'xml')) this.fail('misplaced XML declaration', at);
    // instructions inside elements carry nothing for us (MonaServer ignores them too)
    if (!this.stack.length) this.doc.instructions.push({ name, content });
  }

  private markup(): void {
    const t = this.text;
    const at = this.pos;
    if (t.startsWith('<!--', at)) {
      const close = t.indexOf('-->', at + 4);
      if (close < 0) this.fail('unterminated comment', at);
      this.pos = close + 3;
    } else if (t.startsWith('<![CDATA[', at)) {
      if (!this.stack.length) this.fail('CDATA outside of any element', at);
      const close = t.indexOf(']]>', at + 9);
      if (close < 0) this.fail('unterminated CDATA section', at);
      this.addText(newlines(t.slice(at + 9, close)), at);
      this.pos = close + 3;
    } else if (t.startsWith('<!DOCTYPE', at)) {
      if (this.stack.length || this.doc.roots.length) this.fail('misplaced DOCTYPE', at);
      // skip it, internal subset included (brackets and quoted strings), without interpreting it
      let p = at + 9;
      let depth = 0;
      for (;;) {
        const c = t[p];
        if (c === undefined) this.fail('unterminated DOCTYPE', at);
        if (c === '"' || c === "'") {
          const q = t.indexOf(c, p + 1);
          if (q < 0) this.fail('unterminated DOCTYPE', at);
          p = q;
        } else if (c === '[') depth++;
        else if (c === ']') depth--;
        else if (c === '>' && depth <= 0) break;
        p++;
      }
      this.pos = p + 1;
    } else this.fail('unknown markup declaration', at);
  }

  /** Text of [start, end) with entity and character references replaced. */
  private decodeEntities(start: number, end: number): string {
    const t = this.text;
    let amp = t.indexOf('&', start);
    if (amp < 0 || amp >= end) {
      const s = t.slice(start, end);
      if (s.includes(']]>')) this.fail('"]]>" in text', start + s.indexOf(']]>'));
      return newlines(s);
    }
    let out = '';
    let from = start;
    while (amp >= 0 && amp < end) {
      out += newlines(t.slice(from, amp));
      const semi = t.indexOf(';', amp);
      if (semi < 0 || semi >= end || semi - amp > 12) this.fail('unterminated entity reference', amp);
      const ref = t.slice(amp + 1, semi);
      out += this.entity(ref, amp);
      from = semi + 1;
      amp = t.indexOf('&', from);
    }
    return out + newlines(t.slice(from, end));
  }

  private entity(ref: string, at: number): string {
    switch (ref) {
      case 'lt': return '<';
      case 'gt': return '>';
      case 'amp': return '&';
      case 'quot': return '"';
      case 'apos': return "'";
    }
    let code = NaN;
    if (/^#[0-9]{1,7}$/.test(ref)) code = parseInt(ref.slice(1), 10);
    else if (/^#x[0-9a-fA-F]{1,6}$/.test(ref)) code = parseInt(ref.slice(2), 16);
    else this.fail(`unknown entity &${ref};`, at);
    if (!(code === 0x9 || code === 0xa || code === 0xd || (code >= 0x20 && code <= 0xd7ff) ||
        (code >= 0xe000 && code <= 0xfffd) || (code >= 0x10000 && code <= 0x10ffff))) {
      this.fail(`character reference &${ref}; is not a legal XML character`, at);
    }
    return String.fromCodePoint(code);
  }
}

/** XML 1.0 §2.11: CR LF and lone CR read as LF (character references such as &#13; are kept). */
function newlines(s: string): string {
  return s.includes('\r') ? s.replace(/\r\n?/g, '\n') : s;
}

/** Escapes text content (&, <, > ). */
export function escapeXMLText(s: string): string {
  return s.replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'));
}

/** Escapes an attribute value written between double quotes. */
export function escapeXMLAttribute(s: string): string {
  return s.replace(/[&<>"\t\n\r]/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : `&#${c.charCodeAt(0)};`,
  );
}

/** A name we can write as an element/attribute name without producing broken XML. */
export function isXMLName(s: string): boolean {
  return /^[A-Za-z_:\u00c0-\uffff][A-Za-z0-9_:.\-\u00b7\u00c0-\uffff]*$/.test(s);
}
