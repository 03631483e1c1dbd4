/**
 * XML-RPC (http://xmlrpc.com/spec.md) ↔ script values: HTTP POST text/xml bodies and
 * mona:fromXMLRPC / mona:toXMLRPC.
 *
 *   decodeXMLRPC(body)            → { method: "examples.getStateName", params: [41] }   (methodCall)
 *                                 → { params: ["South Dakota"] }                         (methodResponse)
 *                                 → { params: [], fault: { code: 4, message: "Too many parameters.", value } }
 *   decodeXMLRPCValues(body)      → MonaServer's list: [method, ...params] for a call, params else
 *   encodeXMLRPCResponse(values)  → <methodResponse> (what MonaServer's toXMLRPC and replies write)
 *   encodeXMLRPCCall(method, values), encodeXMLRPCFault(code, message)
 *
 * Types: i4/int/i8 (also Apache's ex:i8)/double → number; boolean → boolean ("1"/"0", also "true"/"false"); string and
 * an untyped <value> → string (blanks kept, `<value/>` is "" as the spec says — MonaServer read it
 * as nil); dateTime.iso8601 → Date table `{__time}` (spec form "19980717T14:08:55" and ISO 8601,
 * UTC when no zone); base64 → ByteArray table `{__raw = Buffer}` like MonaServer; nil (also
 * "ex:nil") → nil; struct → table of fields (MonaServer's `<struct type="Class">` → `__type`);
 * array → table of items. Malformed documents, bad numbers/booleans/dates/base64 and unknown
 * types are a DecodeError (MonaServer logged and went on with nil).
 *
 * Writing: integers in the int32 range → <int>, other numbers → <double> in plain decimal (the spec
 * has no exponent), NaN/±Infinity → <nil/>; nil → <nil/> (MonaServer wrote an empty <value>,
 * which readers take for ""); strings and Buffers → <string> escaped; Date → spec form
 * "YYYYMMDDTHH:MM:SS" (UTC, milliseconds dropped); ByteArray → <base64>; tables with only fields →
 * <struct>, only items → <array>, both → an array whose first value is the struct of fields
 * (MonaServer's convention), `__type` → `<struct type="…">`. Output is compact, no newlines.
 */
import { DECODE_LIMITS, DecodeError, Key, Table, Value } from './value';
import { XMLElement, escapeXMLAttribute, escapeXMLText, parseXMLTree } from './xml-parser';
import { dateOf, dateTable, formatNumber, formatPlainNumber, parseDateText } from './text-values';
import { bytesToText } from './json';

export interface XMLRPCFault {
  code: number;
  message: string;
  /** the fault's whole value, for faults that carry more than faultCode/faultString */
  value: Value;
}

export interface XMLRPCMessage {
  /** methodCall: the method name; absent for a methodResponse */
  method?: string;
  params: Value[];
  fault?: XMLRPCFault;
}

function fail(message: string): never {
  throw new DecodeError('XML-RPC', message);
}

/** Child elements, ignoring text and comments between them. */
function elements(e: XMLElement): XMLElement[] {
  return e.children.filter((c): c is XMLElement => typeof c !== 'string');
}

function text(e: XMLElement): string {
  let s = '';
  for (const c of e.children) {
    if (typeof c !== 'string') fail(`<${e.name}> must hold text, not <${c.name}>`);
    s += c;
  }
  return s;
}

function only(e: XMLElement, name: string): XMLElement {
  const children = elements(e);
  if (children.length !== 1 || children[0].name !== name) fail(`<${e.name}> must hold one <${name}>`);
  return children[0];
}

export function decodeXMLRPC(input: Buffer | string): XMLRPCMessage {
  const tree = parseXMLTree(input, 'XML-RPC');
  if (tree.roots.length !== 1) fail('one root element expected');
  const root = tree.roots[0];
  const kind = root.name.toLowerCase(); // MonaServer compared these names case-insensitively
  if (kind === 'methodcall') {
    let method: string | undefined;
    let params: Value[] = [];
    for (const child of elements(root)) {
      if (child.name === 'methodName') method = text(child).trim();
      else if (child.name === 'params') params = readParams(child);
      else fail(`unexpected <${child.name}> in <methodCall>`);
    }
    if (method === undefined || method === '') fail('<methodCall> without <methodName>');
    return { method, params };
  }
  if (kind === 'methodresponse') {
    const children = elements(root);
    if (children.length !== 1) fail('<methodResponse> must hold <params> or <fault>');
    const child = children[0];
    if (child.name === 'params') return { params: readParams(child) };
    if (child.name === 'fault') {
      const value = readValue(only(child, 'value'), 0);
      const code = value instanceof Table ? value.fields.get('faultCode') : undefined;
      const message = value instanceof Table ? value.fields.get('faultString') : undefined;
      return {
        params: [],
        fault: { code: typeof code === 'number' ? code : 0, message: typeof message === 'string' ? message : '', value },
      };
    }
    fail(`unexpected <${child.name}> in <methodResponse>`);
  }
  fail(`<methodCall> or <methodResponse> expected, not <${root.name}>`);
}

/** MonaServer's reading: a call gives [method, ...params], a response its params; a fault throws. */
export function decodeXMLRPCValues(input: Buffer | string): Value[] {
  const m = decodeXMLRPC(input);
  if (m.fault) fail(`fault ${m.fault.code}: ${m.fault.message}`);
  return m.method === undefined ? m.params : [m.method, ...m.params];
}

function readParams(e: XMLElement): Value[] {
  return elements(e).map((param) => {
    if (param.name !== 'param') fail(`unexpected <${param.name}> in <params>`);
    return readValue(only(param, 'value'), 0);
  });
}

const INT = /^[+-]?[0-9]+$/;
const DOUBLE = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2,3})?$/;

function readValue(value: XMLElement, depth: number): Value {
  if (value.name !== 'value') fail(`<value> expected, not <${value.name}>`);
  if (depth > DECODE_LIMITS.maxDepth) fail(`values nested deeper than ${DECODE_LIMITS.maxDepth}`);
  const typed = elements(value);
  if (typed.length === 0) return text(value); // untyped: a string
  if (typed.length > 1) fail('<value> must hold one type element');
  const t = typed[0];
  switch (t.name) {
    case 'i4':
    case 'int':
    case 'i8':
    case 'ex:i8': {
      const s = text(t).trim();
      if (!INT.test(s)) fail(`bad <${t.name}> ${JSON.stringify(s.slice(0, 40))}`);
      return Number(s);
    }
    case 'double': {
      const s = text(t).trim();
      if (!DOUBLE.test(s)) fail(`bad <double> ${JSON.stringify(s.slice(0, 40))}`);
      return Number(s);
    }
    case 'boolean': {
      const s = text(t).trim().toLowerCase();
      if (s === '1' || s === 'true') return true;
      if (s === '0' || s === 'false') return false;
      return fail(`bad <boolean> ${JSON.stringify(s.slice(0, 40))}`);
    }
    case 'string':
      return text(t);
    case 'dateTime.iso8601': {
      const s = text(t).trim();
      const time = parseDateText(s);
      if (time === null) fail(`bad <dateTime.iso8601> ${JSON.stringify(s.slice(0, 40))}`);
      return dateTable(time);
    }
    case 'base64': {
      const s = text(t).replace(/\s+/g, '');
      if (!BASE64.test(s)) fail('bad <base64> data');
      return Table.of({ __raw: Buffer.from(s, 'base64') });
    }
    case 'nil':
    case 'ex:nil':
      if (t.children.some((c) => typeof c !== 'string' || c.trim())) fail('<nil> must be empty');
      return null;
    case 'struct': {
      const fields = new Map<Key, Value>();
      const type = t.attributes.find(([n]) => n === 'type');
      if (type) fields.set('__type', type[1]);
      for (const member of elements(t)) {
        if (member.name !== 'member') fail(`unexpected <${member.name}> in <struct>`);
        let name: string | undefined;
        let v: Value | undefined;
        for (const part of elements(member)) {
          if (part.name === 'name' && name === undefined) name = text(part);
          else if (part.name === 'value' && v === undefined) v = readValue(part, depth + 1);
          else fail(`unexpected <${part.name}> in <member>`);
        }
        if (name === undefined || v === undefined) fail('<member> needs a <name> and a <value>');
        fields.delete(name);
        fields.set(name, v);
      }
      return new Table([], fields);
    }
    case 'array': {
      const data = only(t, 'data');
      return new Table(elements(data).map((v) => readValue(v, depth + 1)));
    }
    default:
      return fail(`unknown type <${t.name}>`);
  }
}

const HEADER = '<?xml version="1.0"?>';

export function encodeXMLRPCResponse(values: Value[]): string {
  return `${HEADER}<methodResponse>${params(values)}</methodResponse>`;
}

export function encodeXMLRPCCall(method: string, values: Value[]): string {
  return `${HEADER}<methodCall><methodName>${escapeXMLText(method)}</methodName>${params(values)}</methodCall>`;
}

export function encodeXMLRPCFault(code: number, message: string): string {
  const fault = Table.of({ faultCode: Math.trunc(code) | 0, faultString: message });
  return `${HEADER}<methodResponse><fault>${encodeXMLRPCValue(fault)}</fault></methodResponse>`;
}

function params(values: Value[]): string {
  const out: string[] = ['<params>'];
  for (const v of values) {
    out.push('<param>');
    write(v, out, 0);
    out.push('</param>');
  }
  out.push('</params>');
  return out.join('');
}

/** One value as `<value>…</value>`. */
export function encodeXMLRPCValue(v: Value): string {
  const out: string[] = [];
  write(v, out, 0);
  return out.join('');
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** The spec's dateTime form, "19980717T14:08:55", in UTC. */
export function formatXMLRPCDate(time: number): string {
  const d = new Date(Number.isFinite(time) ? time : 0);
  return `${pad(d.getUTCFullYear(), 4)}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
}

function write(v: Value, out: string[], depth: number): void {
  if (v === null) out.push('<value><nil/></value>');
  else if (typeof v === 'boolean') out.push(v ? '<value><boolean>1</boolean></value>' : '<value><boolean>0</boolean></value>');
  else if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= -2147483648 && v <= 2147483647 && !Object.is(v, -0)) out.push(`<value><int>${v}</int></value>`);
    else if (Number.isFinite(v)) out.push(`<value><double>${formatPlainNumber(v)}</double></value>`);
    else out.push('<value><nil/></value>');
  } else if (typeof v === 'string') out.push('<value><string>', escapeXMLText(v), '</string></value>');
  else if (Buffer.isBuffer(v)) out.push('<value><string>', escapeXMLText(bytesToText(v)), '</string></value>');
  else writeTable(v, out, depth + 1);
}

function writeTable(t: Table, out: string[], depth: number): void {
  if (depth > DECODE_LIMITS.maxDepth) throw new RangeError(`XML-RPC: table nesting deeper than ${DECODE_LIMITS.maxDepth} (a cycle?)`);
  const time = dateOf(t);
  if (time !== null) {
    out.push('<value><dateTime.iso8601>', formatXMLRPCDate(time), '</dateTime.iso8601></value>');
    return;
  }
  const raw = t.fields.get('__raw');
  if (Buffer.isBuffer(raw) || typeof raw === 'string') {
    const bytes = Buffer.isBuffer(raw) ? raw : Buffer.from(raw, 'utf8');
    out.push('<value><base64>', bytes.toString('base64'), '</base64></value>');
    return;
  }
  const hasFields = t.fields.size > 0;
  if (!hasFields) {
    out.push('<value><array><data>');
    for (const item of t.items) write(item, out, depth);
    out.push('</data></array></value>');
    return;
  }
  if (t.items.length) out.push('<value><array><data>');
  writeStruct(t, out, depth);
  if (t.items.length) {
    for (const item of t.items) write(item, out, depth);
    out.push('</data></array></value>');
  }
}

function writeStruct(t: Table, out: string[], depth: number): void {
  const type = t.fields.get('__type');
  out.push(typeof type === 'string' ? `<value><struct type="${escapeXMLAttribute(type)}">` : '<value><struct>');
  // a Dictionary's `__size` stays a member, as MonaServer writes it (XML-RPC has no dictionary)
  for (const [k, v] of t.fields) {
    if (k === '__type' && typeof type === 'string') continue;
    const name = typeof k === 'string' ? k : typeof k === 'number' ? formatNumber(k) : typeof k === 'boolean' ? String(k) : null;
    if (name === null) continue; // a table key has no XML-RPC form
    out.push('<member><name>', escapeXMLText(name), '</name>');
    write(v, out, depth);
    out.push('</member>');
  }
  out.push('</struct></value>');
}
