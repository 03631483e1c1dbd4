import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { decodeXML, encodeXML, parseXML, xmlIndex } from '../../src/serialization/xml';
import { parseXMLTree, MAX_XML_DEPTH } from '../../src/serialization/xml-parser';
import { DecodeError, Table, toJS } from '../../src/serialization/value';
import { countNodes } from '../helpers/count-values';
import { xorshift32 } from '../helpers/prng';

// the SOAP request of MonaServer's serverapp.rst "A sample with SOAP"
const SOAP = `<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
  <soap:Body>
    <Add xmlns="http://localhost/">
      <Value>1</Value>
    </Add>
  </soap:Body>
</soap:Envelope>`;

test('MonaServer mapping: instructions as fields, roots as items, __name, attributes, children', () => {
  const [doc] = decodeXML(SOAP) as Table[];
  assert.deepEqual(toJS(doc.field('xml')!), { version: '1.0', encoding: 'utf-8' });
  const env = doc.items[0] as Table;
  assert.equal(env.field('__name'), 'soap:Envelope');
  assert.equal(env.field('xmlns:soap'), 'http://schemas.xmlsoap.org/soap/envelope/');
  const body = xmlIndex(env, 'soap:Body') as Table;
  const add = xmlIndex(body, 'Add') as Table;
  assert.equal(add.field('xmlns'), 'http://localhost/');
  const value = xmlIndex(add, 'Value') as Table;
  assert.equal(xmlIndex(value, '__value'), '1', 'attributes and text stay strings');
  assert.equal(xmlIndex(add, 'Missing'), null);
});

test('mixed content, entities, CDATA, comments, PIs inside elements', () => {
  const doc = parseXML('<a x="1 &amp; 2" y=\'&quot;q&quot;\'>hi &lt;there&gt; &#233;&#x1F600;<b/><!-- c --><?pi ignored?><![CDATA[<raw> & ]]>tail</a>');
  assert.deepEqual(toJS(doc.items[0]), {
    1: 'hi <there> é😀', 2: { __name: 'b' }, 3: '<raw> & tail', __name: 'a', x: '1 & 2', y: '"q"',
  });
});

test('line ends are normalised (XML 1.0 §2.11), character references are not', () => {
  const doc = parseXML('<a t="x\r\ny">one\r\ntwo\rthree&#13;<![CDATA[c\r\nd]]></a>');
  assert.deepEqual(toJS(doc.items[0]), { 1: 'one\ntwo\nthree\rc\nd', __name: 'a', t: 'x\ny' });
});

test('writing: byte-exact, escaped, __value shortcut, self-closing, instructions first', () => {
  const value = new Table(['2'], { __name: 'Value' });
  const result = new Table([value], { __name: 'AddResult' });
  const doc = new Table([new Table([result], { __name: 'soap:Body' })], { xml: Table.of({ version: '1.0' }) });
  assert.equal(encodeXML([doc]), '<?xml version="1.0" ?><soap:Body ><AddResult ><Value >2</Value></AddResult></soap:Body>');
  assert.equal(encodeXML([Table.of({ __name: 'v', __value: 'a<b & c>' })]), '<v >a&lt;b &amp; c&gt;</v>');
  assert.equal(encodeXML([Table.of({ __name: 'e', n: 3, ok: true, q: 'say "hi"\n' })]), '<e n="3" ok="true" q="say &quot;hi&quot;&#10;" />');
  assert.throws(() => encodeXML([Table.of({ id: 1 })]), /instruction id/);
  assert.throws(() => encodeXML([Table.of({ __name: 'bad name' })]), /__name/);
  assert.throws(() => encodeXML(['text']), TypeError);
  const cyclic = Table.of({ __name: 'a' });
  cyclic.items.push(cyclic);
  assert.throws(() => encodeXML([cyclic]), RangeError);
});

test('round trip: what we write reads back to the same tables', () => {
  const doc = parseXML(SOAP);
  assert.deepEqual(toJS(parseXML(encodeXML([doc]))), toJS(doc));
  const tricky = parseXML('<r a="&lt;&amp;&gt;&apos;&quot;"><t>x &amp; y</t><![CDATA[]]]]><![CDATA[>]]></r>');
  assert.deepEqual(toJS(parseXML(encodeXML([tricky]))), toJS(tricky));
});

test('malformed XML → DecodeError with byte offset', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /no root/], ['   ', /no root/], ['<a>', /not closed/], ['<a></b>', /does not match/], ['</a>', /without start/],
    ['<a x=1/>', /quoted/], ['<a x="1" x="2"/>', /duplicate/], ['<a>&nope;</a>', /unknown entity/], ['<a>&amp</a>', /unterminated entity/],
    ['<a>&#0;</a>', /legal XML character/], ['text<a/>', /outside/], ['<a/>tail', /outside/], ['<a><!-- x</a>', /comment/],
    ['<a><![CDATA[x</a>', /CDATA/], ['<a/><?xml version="1.0"?>', /declaration/], ['<a x="<"/>', /"<"/], ['<a b="1"c="2"/>', /space/],
    ['<!DOCTYPE a [<!ENTITY e "x">', /DOCTYPE/], ['<a', /unterminated|expected/], ['<>', /name expected/],
  ];
  for (const [text, message] of cases) assert.throws(() => decodeXML(text), (e: unknown) => e instanceof DecodeError && message.test(e.message), text);
  try {
    decodeXML(Buffer.from('<é>&bad;</é>'));
    assert.fail('should throw');
  } catch (e) {
    assert.equal((e as DecodeError).offset, 4, 'offset is in bytes (é is 2 bytes)');
  }
  assert.throws(() => decodeXML(Buffer.from([0x3c, 0x61, 0x3e, 0xff, 0x3c, 0x2f, 0x61, 0x3e])), /UTF-8/);
  // a DOCTYPE is skipped (not interpreted), several roots are accepted like MonaServer's fromXML
  assert.equal(parseXML('<!DOCTYPE a [<!ELEMENT a ANY>]><a/><b/>').items.length, 2);
});

const python = spawnSync('python3', ['-c', 'import xml.dom.minidom'], { encoding: 'utf8' }).status === 0;

test('interoperates with a real XML implementation (CPython xml.dom.minidom / ElementTree)', { skip: !python && 'python3 not installed' }, () => {
  // their document → our tables
  const theirs = spawnSync('python3', ['-c', `
import sys, xml.etree.ElementTree as ET
root = ET.Element('{urn:x}root', {'a': '1 < 2 & "q"', 'b': 'é'})
child = ET.SubElement(root, 'child'); child.text = 'text <&> ]]> end'
ET.SubElement(root, 'empty')
sys.stdout.buffer.write(ET.tostring(root, encoding='utf-8', xml_declaration=True))
`]);
  assert.equal(theirs.status, 0, String(theirs.stderr));
  const [doc] = decodeXML(theirs.stdout) as Table[];
  assert.deepEqual(toJS(doc), {
    1: { __name: 'ns0:root', 'xmlns:ns0': 'urn:x', a: '1 < 2 & "q"', b: 'é', 1: { __name: 'child', 1: 'text <&> ]]> end' }, 2: { __name: 'empty' } },
    xml: { version: '1.0', encoding: 'utf-8' },
  });
  // our document → their parser, which must find the same structure
  const ours = encodeXML([new Table([new Table(['x & y <z>', Table.of({ __name: 'b', q: 'a"b\'c\n' })], { __name: 'r', id: 7 })], { xml: Table.of({ version: '1.0' }) })]);
  const parsed = spawnSync('python3', ['-c', `
import sys, json, xml.dom.minidom as M
d = M.parseString(sys.stdin.buffer.read())
def j(n):
    if n.nodeType == n.TEXT_NODE: return n.data
    return {'name': n.tagName, 'attrs': dict(n.attributes.items()), 'children': [j(c) for c in n.childNodes]}
sys.stdout.write(json.dumps(j(d.documentElement)))
`], { input: ours, encoding: 'utf8' });
  assert.equal(parsed.status, 0, parsed.stderr);
  assert.deepEqual(JSON.parse(parsed.stdout), {
    name: 'r', attrs: { id: '7' }, children: ['x & y <z>', { name: 'b', attrs: { q: 'a"b\'c\n' }, children: [] }],
  });
});

test('depth is bounded without recursion', () => {
  const ok = '<a>'.repeat(MAX_XML_DEPTH) + '</a>'.repeat(MAX_XML_DEPTH);
  assert.equal(parseXMLTree(ok).roots.length, 1);
  assert.throws(() => parseXMLTree('<a>'.repeat(MAX_XML_DEPTH + 1)), /nested deeper/);
  assert.throws(() => parseXMLTree('<a>'.repeat(200_000)), DecodeError);
});

test('fuzz: random and mutated inputs only ever throw DecodeError', () => {
  const rand = xorshift32(2024);
  const seeds = [SOAP, '<a x="1">t&amp;<![CDATA[c]]><!--x--><b y=\'2\'/></a>', '<?xml version="1.0"?><!DOCTYPE r><r>&#x41;</r>'];
  const alphabet = '<>/="\'!?-[]&;#x abCDATA\n';
  for (let i = 0; i < 4000; i++) {
    let input: Buffer;
    if (i % 3 === 0) input = Buffer.from(Array.from({ length: rand() % 60 }, () => alphabet[rand() % alphabet.length]).join(''));
    else {
      input = Buffer.from(seeds[i % seeds.length]);
      for (let m = 1 + (rand() % 4); m > 0; m--) {
        const at = rand() % input.length;
        const op = rand() % 3;
        if (op === 0) input[at] = rand() & 0xff;
        else if (op === 1) input = Buffer.concat([input.subarray(0, at), input.subarray(at + 1)]);
        else input = Buffer.concat([input.subarray(0, at), Buffer.from(alphabet[rand() % alphabet.length]), input.subarray(at)]);
      }
    }
    try {
      const [doc] = decodeXML(input);
      assert.ok(countNodes([doc]) <= input.length, 'no more values than input bytes');
      assert.deepEqual(toJS(parseXML(encodeXML([doc]))), toJS(doc), 'what parses re-encodes to the same tables');
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
    }
  }
});
