/**
 * Fuzzing the AMF0 and AMF3 readers: random buffers and mutations of valid encodings (bit flips,
 * byte sets, truncation, length fields forced huge, insertions, splices). The only error a reader
 * may throw is DecodeError; whatever decodes must re-encode and decode again; heap stays flat.
 * Seeded PRNG: a failure prints its seed and case so it can be replayed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { decodeAMF0, encodeAMF0 } from '../../src/serialization/amf0';
import { AMF3Writer, decodeAMF3, encodeAMF3 } from '../../src/serialization/amf3';
import { AMFEncodeError } from '../../src/serialization/amf';
import { DecodeError, Key, Table, Value } from '../../src/serialization/value';
import { prng } from '../helpers/prng';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

type Rand = () => number;
const int = (r: Rand, n: number) => Math.floor(r() * n);
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)];

const WORDS = ['', 'a', 'k', 'name', 'tcUrl', 'été', '✓✓', '0', '7', '__type', 'x'.repeat(40)];

/** A random value, tables nested up to `depth`, sometimes shared or cyclic. */
function randomValue(r: Rand, depth: number, pool: Table[]): Value {
  const kind = int(r, depth > 0 ? 16 : 7);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return r() < 0.5;
    case 2:
      return int(r, 600) - 300;
    case 3:
      return pick(r, [1.5, -0, 2 ** 40, -(2 ** 29), 0x0fffffff, 0x10000000, NaN, Infinity, r() * 1e9]);
    case 4:
      return pick(r, WORDS);
    case 5:
      return Buffer.from([0xff, int(r, 256), 0xfe]);
    case 6:
      return pool.length && r() < 0.5 ? pick(r, pool) : pick(r, WORDS);
  }
  const t = new Table();
  pool.push(t);
  const n = int(r, 4);
  switch (kind) {
    case 7: // array
      for (let i = 0; i < n; i++) t.items.push(randomValue(r, depth - 1, pool));
      break;
    case 8: // object
    case 9: // mixed
      if (kind === 9) for (let i = 0; i < n; i++) t.items.push(randomValue(r, depth - 1, pool));
      for (let i = 0; i <= n; i++) t.set(pick(r, WORDS) || 'e', randomValue(r, depth - 1, pool));
      break;
    case 10:
      t.fields.set('__type', pick(r, ['Cat', 'a.b.C', 'flex.messaging.io.ArrayCollection', 'flex.messaging.io.ObjectProxy']));
      for (let i = 0; i < n; i++) t.set(pick(r, WORDS) || 'e', randomValue(r, depth - 1, pool));
      break;
    case 11:
      t.fields.set('__time', int(r, 2 ** 42));
      break;
    case 12:
      t.fields.set('__raw', Buffer.alloc(n, kind));
      break;
    case 13: {
      t.fields.set('__size', n);
      if (r() < 0.5) t.fields.set('__weakKeys', true);
      for (let i = 0; i < n; i++) {
        const k = randomValue(r, depth - 1, pool);
        if (k !== null && !Buffer.isBuffer(k)) t.set(k as Key, randomValue(r, depth - 1, pool));
      }
      break;
    }
    case 14:
      t.fields.set('__vector', pick(r, ['int', 'uint', 'double', 'object']));
      for (let i = 0; i < n; i++) t.items.push(t.fields.get('__vector') === 'object' ? randomValue(r, depth - 1, pool) : int(r, 1000));
      break;
    default: // a cycle
      t.set('self', t);
      t.set('other', pool.length ? pick(r, pool) : null);
  }
  return t;
}

function corpus(encode: (...v: Value[]) => Buffer, seed: number): Buffer[] {
  const r = prng(seed);
  const out: Buffer[] = [];
  for (let i = 0; i < 60; i++) {
    const pool: Table[] = [];
    const values: Value[] = [];
    for (let j = 0, n = 1 + int(r, 3); j < n; j++) values.push(randomValue(r, 4, pool));
    out.push(encode(...values));
  }
  return out;
}

// ffmpeg 5.1.9's RTMP connect payload (see amf0.test.ts for where it comes from): real input to mutate.
const FFMPEG_CONNECT = Buffer.from(
  '020007636f6e6e656374003ff00000000000000300036170700200046c69766500047479706502000a6e6f6e7072697661' +
    '74650008666c617368566572020024464d4c452f332e302028636f6d70617469626c653b204c61766635392e32372e31' +
    '3030290005746355726c02001b72746d703a2f2f3132372e302e302e313a33363837352f6c697665000009',
  'hex',
);

type Mutation = (r: Rand, b: Buffer) => Buffer;
const HUGE = [
  [0xff, 0xff, 0xff, 0xff],
  [0x7f, 0xff, 0xff, 0xff],
  [0xbf, 0xff, 0xff, 0xff],
  [0x00, 0x10, 0x00, 0x00],
  [0xff, 0xff],
];
const MUTATIONS: Record<string, Mutation> = {
  bitflip(r, b) {
    const c = Buffer.from(b);
    for (let i = 0, n = 1 + int(r, 3); i < n && c.length; i++) c[int(r, c.length)] ^= 1 << int(r, 8);
    return c;
  },
  byteset(r, b) {
    const c = Buffer.from(b);
    if (c.length) c[int(r, c.length)] = r() < 0.5 ? int(r, 0x13) : int(r, 256);
    return c;
  },
  truncate(r, b) {
    return b.subarray(0, int(r, b.length));
  },
  hugeLength(r, b) {
    const c = Buffer.from(b);
    const h = pick(r, HUGE);
    const at = int(r, Math.max(1, c.length - h.length));
    for (let i = 0; i < h.length && at + i < c.length; i++) c[at + i] = h[i];
    return c;
  },
  insert(r, b) {
    const at = int(r, b.length + 1);
    const extra = Buffer.from(Array.from({ length: 1 + int(r, 6) }, () => int(r, 256)));
    return Buffer.concat([b.subarray(0, at), extra, b.subarray(at)]);
  },
  splice(r, b) {
    const from = int(r, b.length + 1);
    const to = from + int(r, b.length - from + 1);
    const at = int(r, b.length + 1);
    return Buffer.concat([b.subarray(0, at), b.subarray(from, to), b.subarray(at)]);
  },
};

function randomBuffer(r: Rand): Buffer {
  const b = Buffer.alloc(int(r, 48));
  // bias towards markers and small U29/length bytes so parsing goes deeper than the first byte
  for (let i = 0; i < b.length; i++) b[i] = r() < 0.6 ? int(r, 0x13) : int(r, 256);
  return b;
}

interface Stats {
  decoded: number;
  rejected: number;
  encodeRefused: number;
}

function check(
  input: Buffer,
  decode: (b: Buffer) => Value[],
  encode: (...v: Value[]) => Buffer,
  stats: Stats,
  label: string,
): void {
  let values: Value[];
  try {
    values = decode(input);
  } catch (e) {
    if (!(e instanceof DecodeError)) {
      assert.fail(`${label}: ${String(e)} (not a DecodeError) for input ${input.toString('hex')}`);
    }
    assert.ok(e.offset >= 0 && e.offset <= input.length, `${label}: offset ${e.offset} within the input`);
    stats.rejected++;
    return;
  }
  stats.decoded++;
  let again: Buffer;
  try {
    again = encode(...values);
  } catch (e) {
    if (!(e instanceof AMFEncodeError)) assert.fail(`${label}: re-encode threw ${String(e)} for ${input.toString('hex')}`);
    stats.encodeRefused++;
    return;
  }
  try {
    decode(again);
  } catch (e) {
    assert.fail(`${label}: our own encoding of a decoded value does not decode: ${String(e)} (input ${input.toString('hex')})`);
  }
}

const ITERATIONS = 3000;

for (const [name, decode, encode, seed] of [
  ['AMF0', decodeAMF0, encodeAMF0, 0xa0f0],
  ['AMF3', decodeAMF3, encodeAMF3, 0xa0f3],
] as const) {
  test(`${name} fuzz: random buffers and mutated valid encodings only ever throw DecodeError`, { timeout: 60_000 }, (t) => {
    const base = corpus(encode, seed);
    if (name === 'AMF0') base.push(FFMPEG_CONNECT);
    // the corpus itself must be valid
    for (const b of base) decode(b);
    gc();
    const heapBefore = process.memoryUsage().heapUsed;
    const r = prng(seed + 1);
    const stats: Stats = { decoded: 0, rejected: 0, encodeRefused: 0 };
    for (let i = 0; i < ITERATIONS; i++) check(randomBuffer(r), decode, encode, stats, `${name} random #${i}`);
    for (const [mname, mutate] of Object.entries(MUTATIONS)) {
      for (let i = 0; i < ITERATIONS; i++) {
        const b = mutate(r, pick(r, base));
        check(b, decode, encode, stats, `${name} ${mname} #${i} (seed ${seed + 1})`);
      }
    }
    gc();
    const grown = process.memoryUsage().heapUsed - heapBefore;
    t.diagnostic(`${JSON.stringify(stats)}, heap delta ${grown} bytes`);
    assert.ok(grown < 16 * 1024 * 1024, `heap grew by ${grown} bytes`);
    // both outcomes must actually happen, or the fuzzer is not exercising the reader
    assert.ok(stats.decoded > 500 && stats.rejected > 500, JSON.stringify(stats));
    assert.equal(stats.encodeRefused, 0, 'every decoded value can be written back');
  });
}

test('hostile length fields allocate nothing close to what they claim', { timeout: 60_000 }, () => {
  const hostile = [
    // AMF0: strict array / long string / XML / ECMA count of 2^32-1 in a short buffer
    ['AMF0', '0a ffffffff 05 05 05'],
    ['AMF0', '0c ffffffff 41 41'],
    ['AMF0', '0f ffffffff 3c'],
    ['AMF0', '08 ffffffff 0001 41'], // the count is a hint: nothing is sized by it
    ['AMF0', '02 ffff 41'],
    // AMF3: dense array, string, ByteArray, vectors, dictionary, sealed names at the U29 maximum
    ['AMF3', '09 ffffffff 01 01'],
    ['AMF3', '06 ffffffff 41'],
    ['AMF3', '0c ffffffff 00'],
    ['AMF3', '0d ffffffff 00 00000000'],
    ['AMF3', '0f ffffffff 00 00'],
    ['AMF3', '10 ffffffff 00 01 01'],
    ['AMF3', '11 ffffffff 00 01 01'],
    ['AMF3', '0a fffffff3 01 01'],
  ] as const;
  gc();
  const before = process.memoryUsage().heapUsed;
  for (let round = 0; round < 200; round++) {
    for (const [fmt, h] of hostile) {
      const b = Buffer.from(h.replace(/\s+/g, ''), 'hex');
      assert.throws(() => (fmt === 'AMF0' ? decodeAMF0(b) : decodeAMF3(b)), DecodeError, `${fmt} ${h}`);
    }
  }
  gc();
  assert.ok(process.memoryUsage().heapUsed - before < 8 * 1024 * 1024);
});

test('references cannot multiply allocations (externalizable payload by reference)', { timeout: 60_000 }, () => {
  // [big, AC(ref big), AC(ref big), …]: 100k-item array then 50k 4-byte collections pointing at it.
  const AC = 'flex.messaging.io.ArrayCollection';
  const w = new AMF3Writer();
  w.write(Table.list(Array.from({ length: 100_000 }, () => true)));
  const big = w.toBuffer(); // 09 <u29> 01 03 03 …
  const count = 50_000;
  const head = Buffer.from([0x09, 0x80 | ((((count + 1) << 1) | 1) >>> 14), 0x80 | (((((count + 1) << 1) | 1) >>> 7) & 0x7f), (((count + 1) << 1) | 1) & 0x7f, 0x01]);
  const first = Buffer.concat([Buffer.from([0x0a, 0x07, (AC.length << 1) | 1]), Buffer.from(AC), Buffer.from([0x09, 0x02])]);
  const rest = Buffer.alloc(4 * (count - 1));
  for (let i = 0; i < count - 1; i++) rest.set([0x0a, 0x01, 0x09, 0x02], i * 4);
  const input = Buffer.concat([head, big, first, rest]);
  gc();
  const before = process.memoryUsage().heapUsed;
  const [outer] = decodeAMF3(input) as Table[];
  assert.equal(outer.items.length, count + 1);
  const bigTable = outer.items[0] as Table;
  assert.equal(outer.items[1], bigTable, 'the collection is the referenced table, not a copy');
  assert.equal(outer.items[count], bigTable);
  gc();
  assert.ok(process.memoryUsage().heapUsed - before < 32 * 1024 * 1024);
});
