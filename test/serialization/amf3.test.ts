import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AMF3Reader, AMF3Writer, decodeAMF3, encodeAMF3 } from '../../src/serialization/amf3';
import { AMFEncodeError } from '../../src/serialization/amf';
import { DECODE_LIMITS, DecodeError, Key, Table, Value } from '../../src/serialization/value';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
/** AMF3 inline UTF-8-vr (U29 length<<1|1 + bytes) as hex, for short ASCII strings. */
const vr = (s: string) => ((s.length << 1) | 1).toString(16).padStart(2, '0') + Buffer.from(s).toString('hex');
const dbl = (n: number) => {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(n);
  return b.toString('hex');
};

function decodeError(buf: Buffer, pattern?: RegExp): DecodeError {
  try {
    decodeAMF3(buf);
  } catch (e) {
    assert.ok(e instanceof DecodeError, `expected DecodeError, got ${String(e)}`);
    assert.ok(e.offset >= 0, 'DecodeError carries an offset');
    if (pattern) assert.match(e.message, pattern);
    return e;
  }
  assert.fail(`expected a DecodeError for ${buf.toString('hex')}`);
}

/** The bytes decode to `values`, and writing `values` gives exactly those bytes back. */
function vector(bytes: string, ...values: Value[]): void {
  const b = hex(bytes);
  assert.deepStrictEqual(decodeAMF3(b), values);
  assert.deepStrictEqual(encodeAMF3(...values).toString('hex'), b.toString('hex'));
}

function roundTrip(...values: Value[]): Buffer {
  const bytes = encodeAMF3(...values);
  const back = decodeAMF3(bytes);
  assert.deepStrictEqual(back, values);
  assert.deepStrictEqual(encodeAMF3(...back), bytes);
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// Byte vectors written from the grammar of Adobe's "AMF 3 Specification" (January 2013),
// section numbers in each title.
// ---------------------------------------------------------------------------------------------

test('3.2-3.5 undefined and null read as null, false, true', () => {
  assert.deepStrictEqual(decodeAMF3(hex('00 01 02 03')), [null, null, false, true]);
  assert.deepStrictEqual(encodeAMF3(null, false, true), hex('01 02 03'));
});

test('1.3.1 U29 and 3.6 integer: 1 to 4 bytes, 29-bit two-complement for negatives', () => {
  vector('04 00', 0);
  vector('04 7f', 127);
  vector('04 8100', 128);
  vector('04 ff7f', 0x3fff);
  vector('04 818000', 0x4000);
  vector('04 ffff7f', 0x1fffff);
  vector('04 80c08000', 0x200000);
  vector('04 bfffffff', 0x0fffffff); // largest integer
  vector('04 ffffffff', -1);
  vector('04 c0808000', -0x10000000); // smallest integer
});

test('3.6/3.7 numbers outside the integer range, fractions and -0 are written as doubles', () => {
  vector('05' + dbl(0x10000000), 0x10000000);
  vector('05' + dbl(-0x10000001), -0x10000001);
  vector('05' + dbl(1.5), 1.5);
  vector('05' + dbl(-0), -0);
  vector('05' + dbl(2 ** 53), 2 ** 53);
  // a double holding an integer reads as that number (and would be re-written as an integer)
  assert.deepStrictEqual(decodeAMF3(hex('05' + dbl(7))), [7]);
});

test('3.8 string: inline, by reference, and "" never enters the reference table', () => {
  vector('06 01', '');
  vector('06' + vr('abc') + '06 00', 'abc', 'abc');
  vector('06 01 06' + vr('abc') + '06 01 06 00', '', 'abc', '', 'abc');
  vector('06' + vr('a') + '06' + vr('b') + '06 02 06 00', 'a', 'b', 'b', 'a');
  vector('06 0b c3a974c3a9', 'été'); // length counts UTF-8 bytes
  decodeError(hex('06 02'), /string reference 1 not found/);
});

test('3.9 XMLDocument and 3.13 XML: text, in the object reference table', () => {
  const xml = '<a>b</a>';
  assert.deepStrictEqual(decodeAMF3(hex('07' + vr(xml) + '07 00 0b' + vr(xml) + '0b 02')), [xml, xml, xml, xml]);
  // XML takes an object slot: the array after it is object 1
  const [, arr] = decodeAMF3(hex('07' + vr(xml) + '09 03 01 09 02')) as [string, Table];
  assert.equal(arr.items[0], arr);
});

test('3.10 Date: U29 flag 1 then ms as a double; by reference the same table', () => {
  const ms = 905989690435;
  const [d1, d2] = decodeAMF3(hex('08 01' + dbl(ms) + '08 00')) as Table[];
  assert.deepStrictEqual([...d1.fields], [['__time', ms]]);
  assert.equal(d1, d2);
  const d = Table.of({ __time: ms });
  assert.deepStrictEqual(encodeAMF3(d, d), hex('08 01' + dbl(ms) + '08 00'));
});

test('3.11 Array: dense part, associative part, both; index keys map to Lua indexes', () => {
  vector('09 07 01 04 01 04 02 04 03', Table.list([1, 2, 3]));
  vector('09 01 01', new Table());
  vector('09 03' + vr('a') + '04 01 01 06' + vr('x'), new Table(['x'], { a: 1 }));
  // an associative-only array is a fields-only table, written back as an anonymous object
  assert.deepStrictEqual(decodeAMF3(hex('09 01' + vr('a') + '04 01 01')), [Table.of({ a: 1 })]);
  assert.deepStrictEqual(encodeAMF3(Table.of({ a: 1 })), hex('0a 0b 01' + vr('a') + '04 01 01'));
  // associative "3" on a 1-item dense array is Lua index 4 (a hole at 2..3)
  const [t] = decodeAMF3(hex('09 03' + vr('3') + '03 01 02')) as Table[];
  assert.deepStrictEqual(t.items, [false]);
  assert.deepStrictEqual([...t.fields], [[4, true]]);
  assert.deepStrictEqual(encodeAMF3(t), hex('09 03' + vr('3') + '03 01 02'));
  // associative "0" on an empty dense part fills Lua index 1
  assert.deepStrictEqual(decodeAMF3(hex('09 01' + vr('0') + '06' + vr('z') + '01')), [Table.list(['z'])]);
});

test('3.12 Object: anonymous dynamic objects share one trait, referenced after the first', () => {
  vector('0a 0b 01' + vr('a') + '04 01 01', Table.of({ a: 1 }));
  vector('09 05 01  0a 0b 01' + vr('a') + '04 01 01  0a 01 00 04 02 01', Table.list([Table.of({ a: 1 }), Table.of({ a: 2 })]));
});

test('3.12 Object: typed sealed objects, trait references, sealed + dynamic members', () => {
  const cat = (name: string) => Table.of({ __type: 'Cat', name });
  vector('0a 13' + vr('Cat') + vr('name') + '06' + vr('Tom'), cat('Tom'));
  vector('09 05 01 0a 13' + vr('Cat') + vr('name') + '06' + vr('Tom') + '0a 01 06' + vr('Jerry'), Table.list([cat('Tom'), cat('Jerry')]));
  // sealed "name" then dynamic "a" (what a dynamic class with a declared member sends)
  const [t] = decodeAMF3(hex('0a 1b' + vr('Cat') + vr('name') + '06' + vr('Tom') + vr('a') + '04 01 01')) as Table[];
  assert.deepStrictEqual([...t.fields], [['__type', 'Cat'], ['name', 'Tom'], ['a', 1]]);
  // anonymous class ("" name) with two sealed members and the dynamic flag, no dynamic member
  const [anon] = decodeAMF3(hex('0a 2b 01' + vr('ui') + vr('param') + '06' + vr('button_press') + '04 05 01')) as Table[];
  assert.deepStrictEqual([...anon.fields], [['ui', 'button_press'], ['param', 5]]);
  decodeError(hex('0a 05'), /trait reference 1 not found/);
});

test('3.12 Object: object references and cycles decode to shared tables', () => {
  const o = Table.of({ a: 1 });
  vector('09 05 01 0a 0b 01' + vr('a') + '04 01 01 0a 02', Table.list([o, o]));
  const [self] = decodeAMF3(hex('0a 0b 01' + vr('self') + '0a 00 01')) as Table[];
  assert.equal(self.get('self'), self);
  assert.deepStrictEqual(encodeAMF3(self), hex('0a 0b 01' + vr('self') + '0a 00 01'));
  decodeError(hex('0a 02'), /object reference 1 not found/);
  decodeError(hex('09 04'), /object reference 2 not found/);
});

test('3.12 IExternalizable: ArrayCollection and ObjectProxy carry one AMF3 value', () => {
  const AC = 'flex.messaging.io.ArrayCollection';
  const OP = 'flex.messaging.io.ObjectProxy';
  vector('0a 07' + vr(AC) + '09 05 01 04 01 04 02', new Table([1, 2], { __type: AC }));
  vector('0a 07' + vr(OP) + '0a 0b 01' + vr('a') + '04 01 01', Table.of({ __type: OP, a: 1 }));
  // the second collection uses the trait reference (externalizable traits are traits too)
  vector('09 05 01 0a 07' + vr(AC) + '09 01 01 0a 01 09 03 01 03', Table.list([Table.of({ __type: AC }), new Table([true], { __type: AC })]));
  decodeError(hex('0a 07' + vr('com.example.Secret') + '01'), /IExternalizable class "com.example.Secret" is not supported/);
});

test('3.14 ByteArray: bytes as __raw, by reference the same table', () => {
  const [b1, b2] = decodeAMF3(hex('0c 07 010203 0c 00')) as Table[];
  assert.deepStrictEqual([...b1.fields], [['__raw', hex('010203')]]);
  assert.equal(b1, b2);
  vector('0c 07 010203', Table.of({ __raw: hex('010203') }));
  // a Lua-style string __raw is written as its UTF-8 bytes
  assert.deepStrictEqual(encodeAMF3(Table.of({ __raw: 'ab' })), hex('0c 05 6162'));
  decodeError(hex('0c ffffffff'), /ByteArray needs/);
});

test('3.15 Vector: int, uint, Number, Object with fixed flag and element class', () => {
  vector('0d 05 00 00000001 ffffffff', new Table([1, -1], { __vector: 'int' }));
  vector('0e 03 01 ffffffff', new Table([4294967295], { __vector: 'uint', __fixed: true }));
  vector('0f 03 00' + dbl(1.5), new Table([1.5], { __vector: 'double' }));
  vector('10 05 00 01 04 01 06' + vr('a'), new Table([1, 'a'], { __vector: 'object' }));
  vector('10 03 00' + vr('Cat') + '01', new Table([null], { __vector: 'object', __vectorType: 'Cat' }));
  decodeError(hex('0d ffffffff 00 00000001'), /vector of 268435455 numbers needs/);
});

test('3.16 Dictionary: any keys, __size, weak keys', () => {
  vector('11 05 00 06' + vr('k') + '04 01 04 02 06' + vr('v'), new Table([], { __size: 2, k: 1 }).set(2, 'v'));
  const [w] = decodeAMF3(hex('11 03 01 04 01 03')) as Table[];
  assert.deepStrictEqual(w.items, [true]);
  assert.deepStrictEqual([...w.fields], [['__size', 1], ['__weakKeys', true]]);
  assert.deepStrictEqual(encodeAMF3(w), hex('11 03 01 04 01 03'));
  // an object as key
  const [d] = decodeAMF3(hex('11 03 00 0a 0b 01' + vr('a') + '04 01 01 06' + vr('x'))) as Table[];
  const keys = [...d.fields.keys()];
  assert.ok(keys[1] instanceof Table);
  assert.equal(d.fields.get(keys[1]), 'x');
  assert.deepStrictEqual(encodeAMF3(d), hex('11 03 00 0a 0b 01' + vr('a') + '04 01 01 06' + vr('x')));
  // (an empty object key would come back as an empty array: an empty Lua table has no shape)
  // Lua cannot key by nil: such an entry is dropped, the rest is kept
  assert.deepStrictEqual(decodeAMF3(hex('11 05 00 01 03 04 01 02')), [new Table([false], { __size: 2 })]);
  decodeError(hex('11 ffffffff 00'), /dictionary of 268435455 entries needs/);
});

// ---------------------------------------------------------------------------------------------
// Mapping, API, limits.
// ---------------------------------------------------------------------------------------------

test('round trips of every value kind, references included', () => {
  const shared = Table.of({ s: 'shared' });
  roundTrip(0, -1, 1.25, NaN, Infinity, true, false, null, '', 'héllo ✓', 'héllo ✓');
  roundTrip(Table.list([shared, shared, new Table([shared], { again: shared })]));
  roundTrip(Table.of({ __type: 'a.B', x: 1, y: Table.of({ __type: 'a.B', x: 2, y: 'end' }) }));
  roundTrip(Table.of({ __time: 1.5e12 }), Table.of({ __raw: Buffer.alloc(3, 7) }));
  roundTrip(new Table([1, 2], { __vector: 'uint' }), new Table([Table.of({ q: 1 })], { __vector: 'object', __fixed: true }));
  const dict = new Table([], new Map<Key, Value>([['__size', 3], ['__weakKeys', true], [true, 'yes'], [1.5, 'x']]));
  dict.fields.set(shared, 'table key');
  roundTrip(dict);
});

test('byte strings that are not UTF-8 survive and share the string reference table', () => {
  const raw = hex('ff fe 00');
  const bytes = encodeAMF3(raw, raw, 'ok', raw);
  assert.deepStrictEqual(bytes, hex('06 07 fffe00 06 00 06' + vr('ok') + '06 00'));
  const back = decodeAMF3(bytes);
  assert.deepStrictEqual(back, [raw, raw, 'ok', raw]);
  // a UTF-8 Buffer is the same string as its text on the wire
  assert.deepStrictEqual(encodeAMF3('ab', Buffer.from('ab')), hex('06' + vr('ab') + '06 00'));
});

test('writer terminates on cycles through every container kind', () => {
  const t = new Table();
  t.items.push(t);
  t.set('me', t);
  const typed = Table.of({ __type: 'X' });
  typed.set('me', typed);
  const dict = new Table([], { __size: 1 });
  dict.set('me', dict);
  const vec = new Table([], { __vector: 'object' });
  vec.items.push(vec);
  for (const v of [t, typed, dict, vec]) {
    const [back] = decodeAMF3(encodeAMF3(v)) as Table[];
    assert.equal(back.get('me') ?? back.items[0], back);
  }
});

test('AMF3Writer helpers, reset, and AMF3Reader helpers', () => {
  const w = new AMF3Writer();
  w.writeString('a').writeNumber(3).writeBoolean(true).writeNull().writeObject([['k', 'v']]);
  assert.deepStrictEqual(w.toBuffer(), hex('06' + vr('a') + '04 03 03 01 0a 0b 01' + vr('k') + '06' + vr('v') + '01'));
  w.reset();
  w.writeString('a');
  assert.deepStrictEqual(w.toBuffer(), hex('06' + vr('a')), 'reset forgets the string table');
  const r = new AMF3Reader(encodeAMF3('x', 2, true));
  assert.equal(r.readString(), 'x');
  assert.equal(r.readNumber(), 2);
  assert.throws(() => r.readString(), (e: unknown) => e instanceof DecodeError && /expected a string, got boolean/.test(e.message));
  assert.equal(r.available, 0);
});

test('malformed input fails cleanly with DecodeError', () => {
  decodeError(hex('12'), /unknown marker 0x12/);
  decodeError(hex('04 ff'), /unexpected end/);
  decodeError(hex('05 3ff0'), /double needs 8 bytes/);
  decodeError(hex('06 09 6162'), /string needs 4 bytes/);
  decodeError(hex('09 03 01'), /dense array of 1 items needs 1 bytes/);
  decodeError(hex('0a 0b 01' + vr('a')), /unexpected end/);
  decodeError(hex('0a fffffff3 01'), /268435455|33554431 sealed member names needs/);
});

test('dense array claiming 2^28-1 items in a few bytes fails fast without allocating', () => {
  const before = process.memoryUsage().heapUsed;
  const e = decodeError(hex('09 ffffffff 01 04 01'), /dense array of 268435455 items needs/);
  assert.equal(e.offset, 6);
  assert.ok(process.memoryUsage().heapUsed - before < 8 * 1024 * 1024);
});

test('nesting is bounded by DECODE_LIMITS.maxDepth on read and write', () => {
  const depth = DECODE_LIMITS.maxDepth;
  assert.ok(decodeAMF3(hex('0903 01'.repeat(depth) + '01'))[0] instanceof Table);
  decodeError(hex('0903 01'.repeat(depth + 1) + '01'), /nesting deeper than 64/);
  decodeError(Buffer.from('0a0b010361' + '0a0100'.repeat(100000), 'hex'), /nesting/);
  let t = new Table();
  for (let i = 0; i < depth + 5; i++) t = Table.list([t]);
  assert.throws(() => encodeAMF3(t), AMFEncodeError);
});
