import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeQuery, encodeQuery } from '../../src/serialization/query';
import { Table, Value, toJS } from '../../src/serialization/value';
import { xorshift32 } from '../helpers/prng';

test('pairs make one table, bare tokens separate values (?a=1&b=2 vs ?1&2)', () => {
  assert.deepEqual(decodeQuery('a=1&b=2').map(toJS), [{ a: 1, b: 2 }]);
  assert.deepEqual(decodeQuery('1&2'), [1, 2]);
  assert.deepEqual(decodeQuery('a=1&b=x&3&c=4').map(toJS), [{ a: 1, b: 'x' }, 3, { c: 4 }]);
  assert.deepEqual(decodeQuery(''), []);
  assert.deepEqual(decodeQuery('a=1&&b=2&').map(toJS), [{ a: 1, b: 2 }], 'empty tokens are skipped');
  assert.deepEqual(decodeQuery('a=1&a=2').map(toJS), [{ a: 2 }], 'last repeated key wins');
  assert.deepEqual(decodeQuery('a=&=b').map(toJS), [{ a: '', '': 'b' }]);
  assert.deepEqual(decodeQuery('a=b=c').map(toJS), [{ a: 'b=c' }], 'only the first = splits');
});

test('values are typed as MonaServer types them', () => {
  const [t] = decodeQuery('t=TRUE&f=false&n=Null&i=007&neg=-12&d=1.5&c=1,5&e=1e3&p=+1&dot=.5&s=hello&date=2014-03-01T10:00:00Z');
  assert.deepEqual(toJS(t), {
    t: true, f: false, n: null, i: 7, neg: -12, d: 1.5, c: 1.5, e: '1e3', p: 1, dot: '.5', s: 'hello',
    date: { __time: Date.UTC(2014, 2, 1, 10) },
  });
  // "+1" decodes to " 1" whose leading blank MonaServer's number reader skips → 1
  assert.equal((t as Table).field('p'), 1);
  assert.deepEqual(decodeQuery('true&null&3.25&x'), [true, null, 3.25, 'x']);
});

test('percent-decoding and "+" agree with the WHATWG URLSearchParams reader', () => {
  const samples = ['name=J%C3%A9r%C3%B4me+Dupont', 'q=a%2Bb%26c%3Dd', 'k%20ey=v+a+l', 'u=%E2%82%AC%F0%9F%98%80', 'x=%41%62'];
  for (const s of samples) {
    const ours = toJS(decodeQuery(s)[0]) as Record<string, unknown>;
    const theirs = Object.fromEntries(new URLSearchParams(s));
    assert.deepEqual(ours, theirs, s);
  }
  // malformed % sequences stay as written (MonaServer too); invalid UTF-8 values become bytes
  assert.deepEqual(decodeQuery('a=%zz%4&b=100%'), [Table.of({ a: '%zz%4', b: '100%' })]);
  assert.deepEqual(decodeQuery('%FF%FE'), [Buffer.from([0xff, 0xfe])]);
});

test('encoding: fields as pairs, items and bare values as tokens, exact bytes', () => {
  assert.equal(encodeQuery([Table.of({ x: 10, y: 10, width: 100, height: 100 })]), 'x=10&y=10&width=100&height=100');
  assert.equal(encodeQuery([Table.list([10, 10, 100, 100])]), '10&10&100&100');
  assert.equal(encodeQuery([new Table([100], { x: 10 }), 'a b', true, null]), 'x=10&100&a%20b&true&null');
  assert.equal(encodeQuery([Table.of({ 'k&=': 'é/€' })]), 'k%26%3D=%C3%A9%2F%E2%82%AC');
  assert.equal(encodeQuery([1e21, 1.5e-7, -0.25]), '1000000000000000000000&0.00000015&-0.25');
  assert.equal(encodeQuery([Table.of({ when: Table.of({ __time: 0 }), raw: Table.of({ __raw: Buffer.from('hi') }) })]),
    'when=1970-01-01T00%3A00%3A00.000Z&raw=aGk%3D');
  assert.equal(encodeQuery([Table.of({ nested: Table.of({ a: 1 }) })]), 'nested=%7B%22a%22%3A1%7D');
  // what we write, URLSearchParams reads back identically
  const fields = { a: 'x y+z', b: '100%', c: 'é' };
  assert.deepEqual(Object.fromEntries(new URLSearchParams(encodeQuery([Table.of(fields)]))), fields);
});

test('round trips keep values and types', () => {
  const values: Value[] = [Table.of({ a: 1.25, b: 'text & more', c: false, d: null, e: Table.of({ __time: 1234567890123 }) }), 42, 'word'];
  assert.deepEqual(decodeQuery(encodeQuery(values)).map(toJS), values.map(toJS));
  for (const n of [Math.PI, 1e300, 5e-324, -123456789.125]) assert.deepEqual(decodeQuery(encodeQuery([n])), [n]);
});

test('fuzz: random bytes always decode (no throw), output bounded by input', () => {
  const rand = xorshift32(99);
  const alphabet = Buffer.from('a=&%+2F0.9,-tTrue nulé');
  for (let i = 0; i < 5000; i++) {
    const len = rand() % 80;
    const input = Buffer.alloc(len);
    for (let j = 0; j < len; j++) input[j] = i % 2 ? rand() & 0xff : alphabet[rand() % alphabet.length];
    const values = decodeQuery(input);
    assert.ok(values.length <= len);
    encodeQuery(values);
  }
});
