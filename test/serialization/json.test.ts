import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeJSON, decodeJSONMessage, encodeJSON, parseJSON, stringifyJSON } from '../../src/serialization/json';
import { DecodeError, Table, Value, fromJS, toJS } from '../../src/serialization/value';
import { countNodes } from '../helpers/count-values';
import { xorshift32 } from '../helpers/prng';

// RFC 8259 section 13, first example (whitespace as printed in the RFC)
const RFC_IMAGE = `{
        "Image": {
            "Width":  800,
            "Height": 600,
            "Title":  "View from 15th Floor",
            "Thumbnail": {
                "Url":    "http://www.example.com/image/481989943",
                "Height": 125,
                "Width":  100
            },
            "Animated" : false,
            "IDs": [116, 943, 234, 38793]
          }
      }`;
// RFC 8259 section 13, second example
const RFC_ARRAY = `[
        {
           "precision": "zip",
           "Latitude":  37.7668,
           "Longitude": -122.3959,
           "Address":   "",
           "City":      "SAN FRANCISCO",
           "State":     "CA",
           "Zip":       "94107",
           "Country":   "US"
        },
        {
           "precision": "zip",
           "Latitude":  37.371991,
           "Longitude": -122.026020,
           "Address":   "",
           "City":      "SUNNYVALE",
           "State":     "CA",
           "Zip":       "94085",
           "Country":   "US"
        }
      ]`;

test('RFC 8259 examples decode like V8 JSON.parse and re-encode to the minified form', () => {
  const image = decodeJSON(RFC_IMAGE);
  assert.equal(image.length, 1, 'a non-array text is one value');
  assert.deepEqual(toJS(image[0]), JSON.parse(RFC_IMAGE));
  assert.equal(stringifyJSON(image[0]), JSON.stringify(JSON.parse(RFC_IMAGE)));

  const cities = decodeJSON(Buffer.from(RFC_ARRAY));
  assert.equal(cities.length, 2, 'an array is the list of arguments');
  assert.deepEqual(cities.map(toJS), JSON.parse(RFC_ARRAY));
  // byte-exact: -122.026020 prints as -122.02602, like every shortest-form printer
  assert.equal(encodeJSON(cities), JSON.stringify(JSON.parse(RFC_ARRAY)));

  // the RFC's scalar texts
  assert.deepEqual(decodeJSON('"Hello world!"'), ['Hello world!']);
  assert.deepEqual(decodeJSON('42'), [42]);
  assert.deepEqual(decodeJSON('true'), [true]);
});

test('arguments: array elements are the values, nested arrays stay tables', () => {
  assert.deepEqual(decodeJSON('[]'), []);
  assert.deepEqual(decodeJSON('["hello", 1, null, [1,2]]').map(toJS), ['hello', 1, null, [1, 2]]);
  assert.deepEqual(toJS(decodeJSON('{}')[0]), []);
  assert.ok(decodeJSON('{}')[0] instanceof Table);
  // protocols can tell a call array from a single value
  assert.deepEqual(decodeJSONMessage('["echo", 1]'), { values: ['echo', 1], array: true });
  assert.deepEqual(decodeJSONMessage('"echo"'), { values: ['echo'], array: false });
});

test('tables: items → array, fields → object, mixed → [{fields}, items…] as MonaServer documents', () => {
  const mixed = new Table([100, 100], { x: 10, y: 10 });
  assert.equal(encodeJSON([mixed]), '[[{"x":10,"y":10},100,100]]');
  assert.equal(encodeJSON([Table.list([10, 10, 100, 100])]), '[[10,10,100,100]]');
  assert.equal(encodeJSON([Table.of({ x: 10, width: 100 })]), '[{"x":10,"width":100}]');
  assert.equal(encodeJSON([new Table()]), '[[]]');
  assert.equal(encodeJSON([]), '[]');
  assert.equal(encodeJSON(['Hello']), '["Hello"]');
  // non-string keys are written as their text
  const sparse = new Table([], new Map<any, Value>([[5, 'five'], [true, 'yes']]));
  assert.equal(stringifyJSON(sparse), '{"5":"five","true":"yes"}');
});

test('numbers print without ".0" for integers and round-trip exactly', () => {
  assert.equal(encodeJSON([1, -0, 0.1, 1e21, 2 ** 53 + 2, 1.5e-7, NaN, Infinity]), '[1,-0,0.1,1e+21,9007199254740994,1.5e-7,null,null]');
  for (const n of [Math.PI, -1e-300, 1.7976931348623157e308, 5e-324, 123456789012345680]) {
    assert.equal(decodeJSON(encodeJSON([n]))[0], n);
  }
  assert.equal(decodeJSON('[1e400]')[0], Infinity, 'huge numbers are accepted');
  assert.equal(decodeJSON('[-0]')[0], -0);
});

test('Date (__time) ↔ ISO 8601 string, ByteArray (__raw) ↔ {"__raw":base64}, __type first', () => {
  const when = Date.UTC(2005, 0, 1, 12, 0, 0, 250);
  assert.equal(encodeJSON([Table.of({ __time: when })]), '["2005-01-01T12:00:00.250Z"]');
  const [date] = decodeJSON('["2005-01-01T13:00:00.250+01:00"]');
  assert.ok(date instanceof Table);
  assert.equal(date.field('__time'), when);
  assert.equal(decodeJSON('["2005-01-01T13:00:00.250+01:00"]', { dates: false })[0], '2005-01-01T13:00:00.250+01:00');
  assert.equal(decodeJSON('["2005-13-01"]')[0], '2005-13-01', 'impossible dates stay strings');

  const raw = Table.of({ __raw: Buffer.from([0, 1, 2, 255]) });
  assert.equal(encodeJSON([raw]), '[{"__raw":"AAEC/w=="}]');
  const back = decodeJSON('[{"__raw":"AAEC/w=="}]')[0] as Table;
  assert.deepEqual(back.field('__raw'), Buffer.from([0, 1, 2, 255]));
  assert.equal((decodeJSON('[{"__raw":"not base64!"}]')[0] as Table).field('__raw'), 'not base64!');

  const typed = Table.of({ x: 1, __type: 'flash.geom.Point' });
  assert.equal(stringifyJSON(typed), '{"__type":"flash.geom.Point","x":1}');
});

test('strings: escapes, unicode, surrogates, Buffers as text', () => {
  const s = 'quote " backslash \\ tab \t nl \n ctrl \u0001 é 😀 \u2028';
  assert.equal(stringifyJSON(s), JSON.stringify(s));
  assert.equal(parseJSON(JSON.stringify(s)), s);
  assert.equal(parseJSON('"\\ud83d\\ude00 \\/ \\u00e9"'), '😀 / é');
  assert.equal(stringifyJSON(Buffer.from('héllo')), '"héllo"');
  assert.equal(stringifyJSON(Buffer.from([0xff, 0x41])), '"\u00ffA"', 'invalid UTF-8 → one char per byte');
  assert.equal(parseJSON(Buffer.from('\ufeff"bom"')), 'bom');
});

test('malformed JSON → DecodeError with an offset', () => {
  const bad = ['', ' ', '[', '[1,', '[1,]', '{"a"}', '{"a":1,}', '{a:1}', '[01]', '[1.]', '[.5]', '[+1]',
    '"abc', '"\\x"', '"\\u12"', '"a\u0001"', '[1] x', 'tru', 'nul', 'NaN', "['a']", '[1 2]', '{"a":1 "b":2}',
    '[-]', '[1e]', '}', ']'];
  for (const text of bad) {
    assert.throws(() => decodeJSON(text), DecodeError, JSON.stringify(text));
  }
  assert.throws(() => decodeJSON(Buffer.from([0x5b, 0x22, 0xc3, 0x28, 0x22, 0x5d])), /UTF-8/);
  const e = (() => { try { decodeJSON('[1,2,x]'); } catch (err) { return err as DecodeError; } })();
  assert.equal(e?.offset, 5);
  const u = (() => { try { decodeJSON('["é",x]'); } catch (err) { return err as DecodeError; } })();
  assert.equal(u?.offset, 6, 'offsets count UTF-8 bytes');
});

test('nesting is bounded on decode and encode (no stack overflow)', () => {
  assert.deepEqual(toJS(decodeJSON('['.repeat(63) + ']'.repeat(63))[0]) !== undefined, true);
  assert.throws(() => decodeJSON('['.repeat(65) + ']'.repeat(65)), /nesting/);
  assert.throws(() => decodeJSON('['.repeat(1_000_000)), DecodeError);
  // large but flat input is fine: a 10 MB string and 100 000 numbers
  assert.equal((decodeJSON(`["${'x'.repeat(10_000_000)}"]`)[0] as string).length, 10_000_000);
  assert.equal(decodeJSON(`[${'1,'.repeat(99_999)}1]`).length, 100_000);
  const cyclic = new Table();
  cyclic.items.push(cyclic);
  assert.throws(() => encodeJSON([cyclic]), RangeError);
});

test('round trip of random values', () => {
  const rand = xorshift32(7);
  for (let i = 0; i < 500; i++) {
    const v = randomValue(rand, 0);
    const back = decodeJSON(encodeJSON([v]), { dates: false });
    assert.deepEqual(back.map(toJS), [toJS(v)]);
  }
});

test('fuzz: random and mutated inputs only ever throw DecodeError', () => {
  const rand = xorshift32(12345);
  const seeds = [RFC_IMAGE, RFC_ARRAY, '[{"__raw":"AAEC"},"2005-01-01T00:00:00Z",[[[]]],-1.5e10,"\\u00e9"]'];
  const alphabet = '[]{}",:\\u0123456789.eE+-truefalsn x\n\t';
  for (let i = 0; i < 4000; i++) {
    let input: Buffer;
    if (i % 3 === 0) {
      input = Buffer.from(Array.from({ length: rand() % 64 }, () => alphabet[rand() % alphabet.length]).join(''));
    } else {
      input = Buffer.from(seeds[i % seeds.length]);
      for (let m = 1 + (rand() % 4); m > 0; m--) {
        const at = rand() % input.length;
        const op = rand() % 3;
        if (op === 0) input[at] = rand() & 0xff;
        else if (op === 1) input = Buffer.concat([input.subarray(0, at), input.subarray(at + 1)]);
        else input = Buffer.concat([input.subarray(0, at), Buffer.from([rand() & 0xff]), input.subarray(at)]);
      }
    }
    try {
      const values = decodeJSON(input);
      assert.ok(countNodes(values) <= input.length, 'no more values than input bytes');
      encodeJSON(values);
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
    }
  }
});

function randomValue(rand: () => number, depth: number): Value {
  switch (rand() % (depth > 3 ? 4 : 6)) {
    case 0: return null;
    case 1: return rand() % 2 === 0;
    case 2: return rand() % 2 ? rand() - 2 ** 31 : (rand() - 2 ** 31) / 977;
    case 3: return Array.from({ length: rand() % 8 }, () => String.fromCharCode(rand() % 0x3000)).join('');
    case 4: return fromJS(Array.from({ length: 1 + (rand() % 4) }, () => randomValue(rand, depth + 1) ?? 0));
    default: {
      const t = new Table();
      for (let n = 1 + (rand() % 4); n > 0; n--) t.fields.set('k' + (rand() % 100), randomValue(rand, depth + 1));
      return t;
    }
  }
}
