import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  decodeXMLRPC, decodeXMLRPCValues, encodeXMLRPCCall, encodeXMLRPCFault, encodeXMLRPCResponse, encodeXMLRPCValue,
} from '../../src/serialization/xmlrpc';
import { DecodeError, Table, Value, toJS } from '../../src/serialization/value';
import { countNodes } from '../helpers/count-values';
import { xorshift32 } from '../helpers/prng';

// The examples of the XML-RPC specification (xmlrpc.com/spec.md), indentation as published.
const SPEC_CALL = `<?xml version="1.0"?>
<methodCall>
   <methodName>examples.getStateName</methodName>
   <params>
      <param>
         <value><i4>41</i4></value>
         </param>
      </params>
   </methodCall>`;
const SPEC_RESPONSE = `<?xml version="1.0"?>
<methodResponse>
   <params>
      <param>
         <value><string>South Dakota</string></value>
         </param>
      </params>
   </methodResponse>`;
const SPEC_FAULT = `<?xml version="1.0"?>
<methodResponse>
   <fault>
      <value>
         <struct>
            <member>
               <name>faultCode</name>
               <value><int>4</int></value>
               </member>
            <member>
               <name>faultString</name>
               <value><string>Too many parameters.</string></value>
               </member>
            </struct>
         </value>
      </fault>
   </methodResponse>`;
const SPEC_STRUCT = `<struct>
   <member>
      <name>lowerBound</name>
      <value><i4>18</i4></value>
      </member>
   <member>
      <name>upperBound</name>
      <value><i4>139</i4></value>
      </member>
   </struct>`;
const SPEC_ARRAY = `<array>
   <data>
      <value><i4>12</i4></value>
      <value><string>Egypt</string></value>
      <value><boolean>0</boolean></value>
      <value><i4>-31</i4></value>
      </data>
   </array>`;

function response(valueXML: string): string {
  return `<?xml version="1.0"?><methodResponse><params><param><value>${valueXML}</value></param></params></methodResponse>`;
}

test('spec examples: call, response, fault, struct, array, scalars', () => {
  assert.deepEqual(decodeXMLRPC(SPEC_CALL), { method: 'examples.getStateName', params: [41] });
  assert.deepEqual(decodeXMLRPCValues(SPEC_CALL), ['examples.getStateName', 41], 'MonaServer: method name first');
  assert.deepEqual(decodeXMLRPC(SPEC_RESPONSE), { params: ['South Dakota'] });
  const fault = decodeXMLRPC(SPEC_FAULT);
  assert.equal(fault.fault?.code, 4);
  assert.equal(fault.fault?.message, 'Too many parameters.');
  assert.throws(() => decodeXMLRPCValues(SPEC_FAULT), /fault 4/);
  assert.deepEqual(toJS(decodeXMLRPC(response(SPEC_STRUCT)).params[0]), { lowerBound: 18, upperBound: 139 });
  assert.deepEqual(toJS(decodeXMLRPC(response(SPEC_ARRAY)).params[0]), [12, 'Egypt', false, -31]);

  const scalars = decodeXMLRPC(response('<i4>-12</i4></value></param><param><value><boolean>1</boolean></value></param>' +
    '<param><value><double>-12.214</double></value></param><param><value>untyped  text </value></param>' +
    '<param><value><dateTime.iso8601>19980717T14:08:55</dateTime.iso8601></value></param>' +
    '<param><value><base64>eW91IGNhbid0IHJlYWQgdGhpcyE=</base64></value></param><param><value><nil/></value></param>' +
    '<param><value></value></param><param><value><string>hello world</string>')).params;
  assert.deepEqual(scalars.slice(0, 4), [-12, true, -12.214, 'untyped  text ']);
  assert.equal((scalars[4] as Table).field('__time'), Date.UTC(1998, 6, 17, 14, 8, 55));
  assert.deepEqual((scalars[5] as Table).field('__raw'), Buffer.from("you can't read this!"));
  assert.deepEqual(scalars.slice(6), [null, '', 'hello world']);
});

test('encoding: byte-exact compact documents', () => {
  assert.equal(encodeXMLRPCCall('examples.getStateName', [41]),
    '<?xml version="1.0"?><methodCall><methodName>examples.getStateName</methodName><params><param><value><int>41</int></value></param></params></methodCall>');
  assert.equal(encodeXMLRPCResponse(['South Dakota']),
    '<?xml version="1.0"?><methodResponse><params><param><value><string>South Dakota</string></value></param></params></methodResponse>');
  assert.equal(encodeXMLRPCFault(4, 'Too many parameters.'),
    '<?xml version="1.0"?><methodResponse><fault><value><struct><member><name>faultCode</name><value><int>4</int></value></member>' +
    '<member><name>faultString</name><value><string>Too many parameters.</string></value></member></struct></value></fault></methodResponse>');
  assert.equal(encodeXMLRPCResponse([]), '<?xml version="1.0"?><methodResponse><params></params></methodResponse>');
  // MonaServer's documented mixed table: an array whose first value is the struct of fields
  assert.equal(encodeXMLRPCValue(new Table([100, 100], { x: 10, y: 10 })),
    '<value><array><data><value><struct><member><name>x</name><value><int>10</int></value></member>' +
    '<member><name>y</name><value><int>10</int></value></member></struct></value><value><int>100</int></value><value><int>100</int></value></data></array></value>');
  assert.equal(encodeXMLRPCValue(Table.of({ __time: Date.UTC(1998, 6, 17, 14, 8, 55, 900) })), '<value><dateTime.iso8601>19980717T14:08:55</dateTime.iso8601></value>');
  assert.equal(encodeXMLRPCValue(Table.of({ __raw: Buffer.from("you can't read this!") })), '<value><base64>eW91IGNhbid0IHJlYWQgdGhpcyE=</base64></value>');
  assert.equal(encodeXMLRPCValue(Table.of({ __type: 'Point', x: 1 })), '<value><struct type="Point"><member><name>x</name><value><int>1</int></value></member></struct></value>');
  assert.equal(encodeXMLRPCValue(2147483648), '<value><double>2147483648</double></value>');
  assert.equal(encodeXMLRPCValue(1e-7), '<value><double>0.0000001</double></value>');
  assert.equal(encodeXMLRPCValue('a<b&c'), '<value><string>a&lt;b&amp;c</string></value>');
  assert.equal(encodeXMLRPCValue(null), '<value><nil/></value>');
  assert.equal(encodeXMLRPCValue(NaN), '<value><nil/></value>');
  assert.equal(encodeXMLRPCValue(new Table()), '<value><array><data></data></array></value>');
});

test('round trip of every type', () => {
  const values: Value[] = [
    0, -2147483648, 3.25, -1e300, true, false, 'text <&> "\'', null, Table.of({ __time: Date.UTC(2020, 1, 29, 23, 59, 58) }),
    Table.of({ __raw: Buffer.from([0, 255, 1]) }), Table.of({ a: 1, nested: Table.of({ b: Table.list(['x', null, 2]) }) }),
    Table.of({ __type: 'flash.geom.Point', x: 1.5 }),
  ];
  assert.deepEqual(decodeXMLRPC(encodeXMLRPCCall('m', values)).params.map(toJS), values.map(toJS));
});

const python = spawnSync('python3', ['-c', 'import xmlrpc.client'], { encoding: 'utf8' }).status === 0;

test('interoperates with a real XML-RPC implementation (CPython xmlrpc.client)', { skip: !python && 'python3 not installed' }, () => {
  // their call → our decoder
  const theirs = spawnSync('python3', ['-c', `
import xmlrpc.client as x, datetime, sys
sys.stdout.write(x.dumps((41, 'Egypt', True, 2.5, {'lowerBound': 18, 'upperBound': 139}, [12, 'é', False],
  x.Binary(b"you can't read this!"), datetime.datetime(1998, 7, 17, 14, 8, 55), None), 'examples.mixed', allow_none=True))
`], { encoding: 'utf8' });
  assert.equal(theirs.status, 0, theirs.stderr);
  const call = decodeXMLRPC(theirs.stdout);
  assert.equal(call.method, 'examples.mixed');
  assert.deepEqual(call.params.map(toJS), [41, 'Egypt', true, 2.5, { lowerBound: 18, upperBound: 139 }, [12, 'é', false],
    { __raw: Buffer.from("you can't read this!") }, { __time: Date.UTC(1998, 6, 17, 14, 8, 55) }, null]);

  // our response and fault → their parser
  const ours = encodeXMLRPCResponse([Table.of({ city: 'Pierre', pop: 13646, ratio: 0.125, when: Table.of({ __time: Date.UTC(1998, 6, 17, 14, 8, 55) }) }),
    Table.list([1, 'two', true, null]), Table.of({ __raw: Buffer.from('bin') })]);
  const parsed = spawnSync('python3', ['-c', `
import xmlrpc.client as x, sys, json
params, _ = x.loads(sys.stdin.read(), use_builtin_types=True)
def j(v):
    if isinstance(v, bytes): return {'bytes': v.decode()}
    if hasattr(v, 'isoformat'): return v.isoformat()
    if isinstance(v, dict): return {k: j(w) for k, w in v.items()}
    if isinstance(v, (list, tuple)): return [j(w) for w in v]
    return v
sys.stdout.write(json.dumps(j(params)))
`], { input: ours, encoding: 'utf8' });
  assert.equal(parsed.status, 0, parsed.stderr);
  assert.deepEqual(JSON.parse(parsed.stdout), [{ city: 'Pierre', pop: 13646, ratio: 0.125, when: '1998-07-17T14:08:55' }, [1, 'two', true, null], { bytes: 'bin' }]);
  const fault = spawnSync('python3', ['-c', `
import xmlrpc.client as x, sys
try:
    x.loads(sys.stdin.read())
except x.Fault as f:
    sys.stdout.write('%d %s' % (f.faultCode, f.faultString))
`], { input: encodeXMLRPCFault(4, 'Too many parameters.'), encoding: 'utf8' });
  assert.equal(fault.stdout, '4 Too many parameters.');
});

test('malformed documents → DecodeError', () => {
  const bad = [
    '', '<a/>', '<methodCall/>', '<methodCall><methodName>m</methodName><params><value/></params></methodCall>',
    response('<int>1.5</int>'), response('<int></int>'), response('<double>1,5</double>'), response('<boolean>2</boolean>'),
    response('<dateTime.iso8601>yesterday</dateTime.iso8601>'), response('<base64>***</base64>'), response('<float>1</float>'),
    response('<struct><member><name>a</name></member></struct>'), response('<array><value/></array>'), response('<int>1</int><int>2</int>'),
    response('<string><b/></string>'), response('<nil>x</nil>'), '<methodResponse><params/><fault/></methodResponse>',
    '<methodResponse><params><param><value><int>1</int></value></param></params>',
  ];
  for (const b of bad) assert.throws(() => decodeXMLRPC(b), DecodeError, b);
  const deep = response('<array><data><value>'.repeat(70) + '<int>1</int>' + '</value></data></array>'.repeat(70));
  assert.throws(() => decodeXMLRPC(deep), /nested deeper/);
});

test('fuzz: random and mutated inputs only ever throw DecodeError', () => {
  const rand = xorshift32(31337);
  const seeds = [SPEC_CALL, SPEC_FAULT, response(SPEC_STRUCT), response(SPEC_ARRAY),
    encodeXMLRPCResponse([Table.of({ __raw: Buffer.from('x'), }), Table.of({ __time: 0 }), 1.5, null])];
  for (let i = 0; i < 3000; i++) {
    let input = Buffer.from(seeds[i % seeds.length]);
    for (let m = 1 + (rand() % 4); m > 0; m--) {
      const at = rand() % input.length;
      const op = rand() % 3;
      if (op === 0) input[at] = rand() & 0xff;
      else if (op === 1) input = Buffer.concat([input.subarray(0, at), input.subarray(at + 1 + (rand() % 8))]);
      else input = Buffer.concat([input.subarray(0, at), Buffer.from('<>/ value'[rand() % 9]), input.subarray(at)]);
    }
    try {
      const m = decodeXMLRPC(input);
      assert.ok(countNodes(m.params) <= input.length, 'no more values than input bytes');
      assert.deepEqual(decodeXMLRPC(encodeXMLRPCCall('m', m.params)).params.map(toJS), m.params.map(toJS));
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
    }
  }
});
