import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AMF0Reader, AMF0Writer, decodeAMF0, encodeAMF0 } from '../../src/serialization/amf0';
import { AMFEncodeError } from '../../src/serialization/amf';
import { DECODE_LIMITS, DecodeError, Table, Value, toJS } from '../../src/serialization/value';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const ascii = (s: string) => Buffer.from(s, 'latin1').toString('hex');
/** AMF0 UTF-8 (u16 length + bytes) as hex. */
const u16str = (s: string) => Buffer.byteLength(s).toString(16).padStart(4, '0') + Buffer.from(s).toString('hex');

function decodeError(buf: Buffer, pattern?: RegExp): DecodeError {
  try {
    decodeAMF0(buf);
  } catch (e) {
    assert.ok(e instanceof DecodeError, `expected DecodeError, got ${String(e)}`);
    assert.ok(e.offset >= 0, 'DecodeError carries an offset');
    if (pattern) assert.match(e.message, pattern);
    return e;
  }
  assert.fail(`expected a DecodeError for ${buf.toString('hex')}`);
}

/** encode(v) must read back equal, and re-encoding the decoded value must give the same bytes. */
function roundTrip(...values: Value[]): Buffer {
  const bytes = encodeAMF0(...values);
  const back = decodeAMF0(bytes);
  assert.deepStrictEqual(back, values);
  assert.deepStrictEqual(encodeAMF0(...back), bytes);
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// Byte vectors written from the grammar of Adobe's "AMF 0 File Format Specification" (2007),
// section numbers in each title.
// ---------------------------------------------------------------------------------------------

test('2.2 number: 8-byte big-endian IEEE-754 double', () => {
  assert.deepStrictEqual(decodeAMF0(hex('00 400921fb54442d18')), [Math.PI]);
  assert.deepStrictEqual(encodeAMF0(Math.PI), hex('00 400921fb54442d18'));
  assert.deepStrictEqual(encodeAMF0(-0, 1e300), hex('00 8000000000000000 00 7e37e43c8800759c'));
  const [nan] = decodeAMF0(hex('00 7ff8000000000000'));
  assert.ok(Number.isNaN(nan));
});

test('2.3 boolean: zero byte is false, any non-zero byte is true', () => {
  assert.deepStrictEqual(decodeAMF0(hex('0100 0101 0105')), [false, true, true]);
  assert.deepStrictEqual(encodeAMF0(false, true), hex('0100 0101'));
});

test('2.4 string and 2.14 long string: u16 / u32 byte lengths of UTF-8', () => {
  assert.deepStrictEqual(decodeAMF0(hex('02 0005' + ascii('hello'))), ['hello']);
  assert.deepStrictEqual(decodeAMF0(hex('02 0000')), ['']);
  assert.deepStrictEqual(decodeAMF0(hex('0c 00000003' + ascii('abc'))), ['abc']);
  // multi-byte UTF-8: the length counts bytes, not characters
  assert.deepStrictEqual(encodeAMF0('été'), hex('02 0005 c3a974c3a9'));
  // writer switches to long string past 65535 bytes
  const long = 'x'.repeat(65536);
  const enc = encodeAMF0(long, 'y'.repeat(65535));
  assert.equal(enc[0], 0x0c);
  assert.equal(enc.readUInt32BE(1), 65536);
  assert.equal(enc[5 + 65536], 0x02);
  assert.deepStrictEqual(decodeAMF0(enc), [long, 'y'.repeat(65535)]);
});

test('2.5 anonymous object: names and values up to the empty name + object-end marker', () => {
  const bytes = hex('03' + u16str('a') + '00 3ff0000000000000' + u16str('b') + '02' + u16str('x') + '0000 09');
  const [t] = decodeAMF0(bytes);
  assert.ok(t instanceof Table);
  assert.deepStrictEqual([...t.fields], [['a', 1], ['b', 'x']]);
  assert.deepStrictEqual(encodeAMF0(t), bytes);
  // property names stay strings even when they look like numbers
  const [n] = decodeAMF0(hex('03' + u16str('1') + '0101 0000 09')) as Table[];
  assert.deepStrictEqual([...n.fields], [['1', true]]);
});

test('2.6 movieclip and 2.16 recordset are reserved: DecodeError', () => {
  decodeError(hex('04'), /reserved marker 0x04/);
  decodeError(hex('0e'), /reserved marker 0x0e/);
});

test('2.7 null, 2.8 undefined and 2.15 unsupported all decode to null', () => {
  assert.deepStrictEqual(decodeAMF0(hex('05 06 0d')), [null, null, null]);
  assert.deepStrictEqual(encodeAMF0(null), hex('05'));
  const w = new AMF0Writer().writeUndefined().writeNull();
  assert.deepStrictEqual(w.toBuffer(), hex('06 05'));
});

test('2.9 reference: u16 index into the complex objects read so far (the array itself is 0)', () => {
  // strict array [obj, ref(1)] where 1 is the object
  const bytes = hex('0a 00000002 03' + u16str('k') + '0101 0000 09 07 0001');
  const [arr] = decodeAMF0(bytes) as Table[];
  assert.equal(arr.items.length, 2);
  assert.ok(arr.items[0] instanceof Table);
  assert.equal(arr.items[1], arr.items[0], 'a reference decodes to the same Table');
  // the writer emits the same reference for a Table written twice
  const obj = Table.of({ k: true });
  assert.deepStrictEqual(encodeAMF0(Table.list([obj, obj])), bytes);
  decodeError(hex('0a 00000001 07 0001'), /reference 1 not found/);
  decodeError(hex('07 0000'), /reference 0 not found/);
});

test('2.10 ECMA array: index keys become Lua indexes, others fields; the count is only a hint', () => {
  const bytes = hex('08 00000002' + u16str('0') + '02' + u16str('a') + u16str('1') + '02' + u16str('b') +
    u16str('x') + '00 4000000000000000' + '0000 09');
  const [t] = decodeAMF0(bytes) as Table[];
  assert.deepStrictEqual(t.items, ['a', 'b']);
  assert.deepStrictEqual([...t.fields], [['x', 2]]);
  assert.deepStrictEqual(encodeAMF0(t), bytes, 'mixed table → ECMA array, items first, count = items');
  // count 0 with keys (as some encoders write) reads the same
  const zero = Buffer.from(bytes);
  zero.writeUInt32BE(0, 1);
  assert.deepStrictEqual(decodeAMF0(zero), [t]);
  // a sparse index stays a numeric key, written back as its AS index
  const [s] = decodeAMF0(hex('08 00000000' + u16str('0') + '0101' + u16str('5') + '0100 0000 09')) as Table[];
  assert.deepStrictEqual(s.items, [true]);
  assert.deepStrictEqual([...s.fields], [[6, false]]);
  assert.deepStrictEqual(decodeAMF0(encodeAMF0(s)), [s]);
  // non-canonical index strings stay strings
  const [c] = decodeAMF0(hex('08 00000000' + u16str('01') + '0101' + u16str('-1') + '0101 0000 09')) as Table[];
  assert.deepStrictEqual([...c.fields.keys()], ['01', '-1']);
});

test('2.11 object-end marker outside an object is an error', () => {
  decodeError(hex('09'), /object-end marker outside an object/);
});

test('2.12 strict array: u32 count then values; holes stay null', () => {
  const bytes = hex('0a 00000003 00 3ff0000000000000 05 02' + u16str('z'));
  assert.deepStrictEqual(decodeAMF0(bytes), [Table.list([1, null, 'z'])]);
  assert.deepStrictEqual(encodeAMF0(Table.list([1, null, 'z'])), bytes);
  assert.deepStrictEqual(encodeAMF0(new Table()), hex('0a 00000000'), 'empty table → empty array (MonaServer)');
});

test('2.13 date: double ms + s16 timezone that is ignored', () => {
  const ms = 905989690435; // the date of MonaServer's documentation example
  const d = Buffer.alloc(8);
  d.writeDoubleBE(ms);
  const [t] = decodeAMF0(hex('0b' + d.toString('hex') + 'ffc4')) as Table[]; // timezone -60
  assert.deepStrictEqual([...t.fields], [['__time', ms]]);
  assert.deepStrictEqual(encodeAMF0(t), hex('0b' + d.toString('hex') + '0000'));
  // __time wins over other fields, like MonaServer's Lua date tables with year/month/…
  assert.deepStrictEqual(encodeAMF0(Table.of({ year: 1998, __time: ms })), hex('0b' + d.toString('hex') + '0000'));
});

test('2.17 XML document decodes to its text', () => {
  assert.deepStrictEqual(decodeAMF0(hex('0f 00000008' + ascii('<a>b</a>'))), ['<a>b</a>']);
});

test('2.18 typed object: class name then properties → __type', () => {
  const bytes = hex('10' + u16str('Cat') + u16str('name') + '02' + u16str('Tom') + '0000 09');
  const [t] = decodeAMF0(bytes) as Table[];
  assert.deepStrictEqual([...t.fields], [['__type', 'Cat'], ['name', 'Tom']]);
  assert.deepStrictEqual(encodeAMF0(t), bytes);
});

test('3.1 avmplus-object-marker 0x11 switches one value to AMF3', () => {
  assert.deepStrictEqual(decodeAMF0(hex('11 04 05  11 06 07' + ascii('abc') + ' 02' + u16str('x'))), [5, 'abc', 'x']);
  // AMF3 string reference across two switched values of one message (one AMF3 context)
  assert.deepStrictEqual(decodeAMF0(hex('11 06 07' + ascii('abc') + ' 11 06 00')), ['abc', 'abc']);
  const w = new AMF0Writer({ amf3: true });
  w.write(1).write('abc').write('abc');
  assert.deepStrictEqual(w.toBuffer(), hex('11 04 01  11 06 07' + ascii('abc') + ' 11 06 00'));
  // writeAMF3 on a plain AMF0 writer, mixed with AMF0 helpers (an RTMP AMF3 command message)
  const c = new AMF0Writer().writeString('_result').writeNumber(1).writeNull().writeAMF3(Table.of({ a: 1 }));
  assert.deepStrictEqual(c.toBuffer(), hex('02' + u16str('_result') + '00 3ff0000000000000 05 11 0a 0b 01 03 61 04 01 01'));
  const r = new AMF0Reader(c.toBuffer());
  assert.equal(r.readString(), '_result');
  assert.equal(r.readNumber(), 1);
  assert.equal(r.read(), null);
  assert.deepStrictEqual(r.read(), Table.of({ a: 1 }));
  assert.equal(r.available, 0);
});

test('3.1 a switched value inside an AMF0 object, and AMF0 references around it', () => {
  // {a = [5], b = <reference to the object itself>}: the AMF3 array takes no AMF0 reference slot
  const bytes = hex('03' + u16str('a') + '11 09 03 01 04 05' + u16str('b') + '07 0000 0000 09');
  const [t] = decodeAMF0(bytes) as Table[];
  assert.deepStrictEqual(t.get('a'), Table.list([5]));
  assert.equal(t.get('b'), t);
  // an AMF0Writer in amf3 mode writes a cyclic table with AMF3 references
  const c = Table.of({ n: 1 });
  c.set('me', c);
  const out = new AMF0Writer({ amf3: true }).write(c).toBuffer();
  assert.deepStrictEqual(out, hex('11 0a 0b 01' + '03 6e 04 01' + '05 6d65 0a 00' + '01'));
  const [back] = decodeAMF0(out) as Table[];
  assert.equal(back.get('me'), back);
});

test('types AMF0 lacks are written through the AMF3 switch (ByteArray, Dictionary, vectors)', () => {
  const bytes = encodeAMF0(Table.of({ __raw: Buffer.from([1, 2]) }));
  assert.deepStrictEqual(bytes, hex('11 0c 05 0102'));
  roundTrip(Table.of({ __raw: Buffer.from([1, 2]) }), new Table([], { __size: 1, k: 'v' }));
  const vec = new Table([1, -2], { __vector: 'int' });
  roundTrip(Table.of({ v: vec }));
});

// ---------------------------------------------------------------------------------------------
// Real traffic: exact bytes captured from real clients.
// ---------------------------------------------------------------------------------------------

// ffmpeg 5.1.9 (Debian 12, "Lavf59.27.100") `connect` command payload, captured on 2026-11-23 by
// running `ffmpeg -re -f lavfi -i testsrc -t 1 -f flv rtmp://127.0.0.1:36875/live/x` against a
// throwaway TCP listener that answered the plain RTMP handshake and logged the first chunk
// (message type 0x14, 140 bytes; the 0xC3 continuation header after byte 128 removed).
const FFMPEG_CONNECT = hex(
  '020007636f6e6e656374003ff00000000000000300036170700200046c69766500047479706502000a6e6f6e7072697661' +
    '74650008666c617368566572020024464d4c452f332e302028636f6d70617469626c653b204c61766635392e32372e31' +
    '3030290005746355726c02001b72746d703a2f2f3132372e302e302e313a33363837352f6c697665000009',
);

// rtmpdump v2.4 `connect` (196 bytes) captured the same way: `rtmpdump -r rtmp://127.0.0.1:33827/vod/clip`.
const RTMPDUMP_CONNECT = hex(
  '020007636f6e6e656374003ff0000000000000030003617070020003766f640008666c61736856657202000e4c4e5820' +
    '31302c302c33322c31380005746355726c02001a72746d703a2f2f3132372e302e302e313a33333832372f766f6400' +
    '04667061640100000c6361706162696c697469657300402e000000000000000b617564696f436f646563730040a8ee' +
    '0000000000000b766964656f436f6465637300406f800000000000000d766964656f46756e6374696f6e003ff00000' +
    '00000000000009',
);

// ffmpeg 5.1.9 `@setDataFrame` data message (type 0x12, 200 bytes) for
// `ffmpeg -re -f lavfi -i testsrc -t 1 -c:v libx264 -f flv rtmp://127.0.0.1:33487/live/x`, captured by a
// throwaway server that answered connect/createStream/publish. onMetaData is an ECMA array whose
// count (8) is the number of named keys, not an array length.
const FFMPEG_SETDATAFRAME = hex(
  '02000d40736574446174614672616d6502000a6f6e4d65746144617461080000000800086475726174696f6e003ff000' +
    '000000000000057769647468004074000000000000000668656967687400406e000000000000000d766964656f6461' +
    '74617261746500000000000000000000096672616d6572617465004039000000000000000c766964656f636f646563' +
    '696400401c0000000000000007656e636f64657202000d4c61766635392e32372e313030000866696c6573697a6500' +
    '0000000000000000000009',
);

// RTMFP captures in test/fixtures/rtmfp (decrypted payloads in *.plaintext.txt): the AMF0 body of
// the flow messages (after the 0x14 type byte and 4-byte timestamp).
// rtmfp-rtmfpcpp-client-vs-monaserver, packet 5: the client's `connect` (strict array, nested objects,
// the enhanced-RTMP fourCcList / *FourCcInfoMap fields).
const RTMFPCPP_CONNECT = hex(
  '020007636f6e6e656374003ff0000000000000030003617070020000000b617564696f436f646563730040efffe00000' +
    '00000012617564696f466f75724363496e666f4d61700300012a0040140000000000000000090006636170734578004008' +
    '000000000000000a666f757243634c6973740a000000010200012a000e6f626a656374456e636f64696e67000000000000' +
    '0000000005746355726c02001872746d66703a2f2f3132372e302e302e313a32393335302f000b766964656f436f646563' +
    '730040efffe0000000000012766964656f466f75724363496e666f4d61700300012a004014000000000000000009000009',
);
// rtmfp-librtmfp-client-vs-monaserver, packet 6: MonaServer's answer to connect (objectEncoding 3).
const MONASERVER_CONNECT_RESULT = hex(
  '0200075f726573756c74000000000000000000050300056c6576656c0200067374617475730004636f646502001d4e6574' +
    '436f6e6e656374696f6e2e436f6e6e6563742e53756363657373000b6465736372697074696f6e020014436f6e6e656374' +
    '696f6e20737563636565646564000e6f626a656374456e636f64696e67004008000000000000000009',
);

test('capture: RTMFP connect from rtmfpcpp and MonaServer connect _result, byte for byte', () => {
  const connect = decodeAMF0(RTMFPCPP_CONNECT);
  assert.deepStrictEqual(connect.map(toJS), [
    'connect',
    1,
    {
      app: '',
      audioCodecs: 65535,
      audioFourCcInfoMap: { '*': 5 },
      capsEx: 3,
      fourCcList: ['*'],
      objectEncoding: 0,
      tcUrl: 'rtmfp://127.0.0.1:29350/',
      videoCodecs: 65535,
      videoFourCcInfoMap: { '*': 5 },
    },
  ]);
  assert.deepStrictEqual(encodeAMF0(...connect), RTMFPCPP_CONNECT);
  const result = decodeAMF0(MONASERVER_CONNECT_RESULT);
  assert.deepStrictEqual(result.map(toJS), [
    '_result',
    0,
    null,
    { level: 'status', code: 'NetConnection.Connect.Success', description: 'Connection succeeded', objectEncoding: 3 },
  ]);
  // what our server will write for the same answer
  const w = new AMF0Writer().writeString('_result').writeNumber(0).writeNull();
  w.writeObject([
    ['level', 'status'],
    ['code', 'NetConnection.Connect.Success'],
    ['description', 'Connection succeeded'],
    ['objectEncoding', 3],
  ]);
  assert.deepStrictEqual(w.toBuffer(), MONASERVER_CONNECT_RESULT);
});

test('capture: ffmpeg connect decodes and re-encodes byte for byte', () => {
  const r = new AMF0Reader(FFMPEG_CONNECT);
  assert.equal(r.readString(), 'connect');
  assert.equal(r.readNumber(), 1);
  const cmd = r.read();
  assert.equal(r.available, 0);
  assert.deepStrictEqual(toJS(cmd), {
    app: 'live',
    type: 'nonprivate',
    flashVer: 'FMLE/3.0 (compatible; Lavf59.27.100)',
    tcUrl: 'rtmp://127.0.0.1:36875/live',
  });
  assert.deepStrictEqual(encodeAMF0('connect', 1, cmd), FFMPEG_CONNECT);
});

test('capture: rtmpdump connect (booleans, numbers) decodes and re-encodes byte for byte', () => {
  const values = decodeAMF0(RTMPDUMP_CONNECT);
  assert.deepStrictEqual(values.map(toJS), [
    'connect',
    1,
    {
      app: 'vod',
      flashVer: 'LNX 10,0,32,18',
      tcUrl: 'rtmp://127.0.0.1:33827/vod',
      fpad: false,
      capabilities: 15,
      audioCodecs: 3191,
      videoCodecs: 252,
      videoFunction: 1,
    },
  ]);
  assert.deepStrictEqual(encodeAMF0(...values), RTMPDUMP_CONNECT);
});

test('capture: ffmpeg @setDataFrame onMetaData ECMA array with named keys only', () => {
  const r = new AMF0Reader(FFMPEG_SETDATAFRAME);
  assert.equal(r.readString(), '@setDataFrame');
  assert.equal(r.readString(), 'onMetaData');
  const meta = r.read() as Table;
  assert.equal(r.available, 0);
  assert.deepStrictEqual(meta.items, []);
  assert.deepStrictEqual(toJS(meta), {
    duration: 1,
    width: 320,
    height: 240,
    videodatarate: 0,
    framerate: 25,
    videocodecid: 7,
    encoder: 'Lavf59.27.100',
    filesize: 0,
  });
  // A fields-only table is written as an anonymous object (0x03): same content, other marker.
  const again = encodeAMF0('@setDataFrame', 'onMetaData', meta);
  assert.equal(again.length, FFMPEG_SETDATAFRAME.length - 4);
  assert.deepStrictEqual(decodeAMF0(again), ['@setDataFrame', 'onMetaData', meta]);
});

// ---------------------------------------------------------------------------------------------
// Value model mapping, references, cycles, API.
// ---------------------------------------------------------------------------------------------

test('round trips of every value kind', () => {
  roundTrip(0, -1.5, 2 ** 53, Infinity, true, false, '', 'héllo ✓', null);
  roundTrip(Table.list([1, 'a', Table.list([true])]));
  roundTrip(new Table(['x', 'y'], { k: 1, nested: Table.of({ deep: Table.list([null, 2]) }) }));
  roundTrip(Table.of({ __type: 'com.example.Point', x: 1, y: 2 }));
  roundTrip(Table.of({ __time: 0 }), Table.of({ __time: -1e12 }));
  roundTrip(Table.of({ __raw: Buffer.alloc(0) }));
  roundTrip(Table.of({ __type: 'flex.messaging.io.ArrayCollection' }));
});

test('strings that are not UTF-8 come back as the same bytes (a Buffer)', () => {
  const bytes = hex('02 0003 ff00fe');
  const [v] = decodeAMF0(bytes);
  assert.ok(Buffer.isBuffer(v));
  assert.deepStrictEqual(v, hex('ff00fe'));
  assert.deepStrictEqual(encodeAMF0(v), bytes);
  assert.equal(new AMF0Reader(bytes).readString(), Buffer.from('ff00fe', 'hex').toString('utf8'));
});

test('cyclic tables: writer emits references, reader rebuilds the same cycle', () => {
  const a = Table.of({ name: 'a' });
  const b = Table.of({ name: 'b', peer: a });
  a.set('peer', b);
  a.set('self', a);
  const bytes = encodeAMF0(a);
  const [x] = decodeAMF0(bytes) as Table[];
  const y = x.get('peer') as Table;
  assert.equal(y.get('peer'), x);
  assert.equal(x.get('self'), x);
  assert.deepStrictEqual(encodeAMF0(x), bytes);
  // a cycle inside a mixed array and a strict array too
  const m = new Table([1]);
  m.set('me', m);
  m.items.push(m);
  const [mm] = decodeAMF0(encodeAMF0(m)) as Table[];
  assert.equal(mm.items[1], mm);
  assert.equal(mm.get('me'), mm);
});

test('writeObject from pairs and from a table; reader helpers reject other types', () => {
  const w = new AMF0Writer();
  w.writeObject([['level', 'status'], ['code', 'NetConnection.Connect.Success']]);
  w.writeObject(Table.list([7])); // forced object: items become "1", "2", …
  const [o, t] = decodeAMF0(w.toBuffer()) as Table[];
  assert.deepStrictEqual(toJS(o), { level: 'status', code: 'NetConnection.Connect.Success' });
  assert.deepStrictEqual([...t.fields], [['1', 7]]);
  w.reset();
  assert.equal(w.length, 0);
  w.write('after reset');
  assert.deepStrictEqual(decodeAMF0(w.toBuffer()), ['after reset']);

  const r = new AMF0Reader(encodeAMF0(1, 'x'));
  assert.throws(() => r.readString(), (e: unknown) => e instanceof DecodeError && /expected a string, got number/.test(e.message));
  assert.throws(() => r.readNumber(), (e: unknown) => e instanceof DecodeError && e.offset === 9);
  assert.throws(() => r.read(), /no value left/);
});

test('reader honours offset/end bounds and reports offsets', () => {
  const buf = Buffer.concat([hex('ffff'), encodeAMF0('a', 'b'), hex('ffff')]);
  const r = new AMF0Reader(buf, 2, buf.length - 2);
  assert.deepStrictEqual(r.readAll(), ['a', 'b']);
  assert.equal(r.offset, buf.length - 2);
  // a value that runs past `end` fails even though the buffer has more bytes
  const cut = new AMF0Reader(buf, 2, 5);
  assert.throws(() => cut.read(), (e: unknown) => e instanceof DecodeError && e.offset === 5);
});

test('malformed input fails cleanly with DecodeError', () => {
  decodeError(hex('00 3ff0'), /double needs 8 bytes/); // truncated number
  decodeError(hex('02 0010 6162'), /string needs 16 bytes/); // length beyond the buffer
  decodeError(hex('0c ffffffff 61'), /long string needs 4294967295 bytes/);
  decodeError(hex('03' + u16str('a') + '0101'), /unexpected end|u16/); // object without end
  decodeError(hex('12'), /unknown marker 0x12/);
  decodeError(hex('ff'), /unknown marker 0xff/);
  decodeError(hex('11'), /unexpected end/); // switch marker with nothing after it
  decodeError(hex('11 0a 07 07' + ascii('Foo')), /IExternalizable class "Foo" is not supported/);
});

test('a strict array claiming 2^32-1 items in a 10-byte buffer fails fast without allocating', () => {
  const before = process.memoryUsage().heapUsed;
  const e = decodeError(hex('0a ffffffff 0101 0101 05'), /strict array of 4294967295 items needs/);
  assert.equal(e.offset, 5);
  assert.ok(process.memoryUsage().heapUsed - before < 8 * 1024 * 1024);
});

test('nesting is bounded by DECODE_LIMITS.maxDepth on read and write', () => {
  const depth = DECODE_LIMITS.maxDepth;
  const ok = hex('0a00000001'.repeat(depth - 1) + '05');
  assert.ok(decodeAMF0(ok)[0] instanceof Table);
  decodeError(hex('0a00000001'.repeat(depth + 1) + '05'), /nesting deeper than 64/);
  // 100k nested objects: no stack overflow, a DecodeError
  decodeError(Buffer.from('03000161'.repeat(100000), 'hex'), /nesting/);
  let t = new Table();
  for (let i = 0; i < depth + 5; i++) t = Table.list([t]);
  assert.throws(() => encodeAMF0(t), AMFEncodeError);
});

test('writer refuses what AMF0 cannot spell instead of writing garbage', () => {
  assert.throws(() => encodeAMF0(Table.of({ ['k'.repeat(70000)]: 1 })), AMFEncodeError);
});

test('past 65535 references, tables met again go through AMF3 references (no blow-up)', { timeout: 60_000 }, () => {
  const filler = Table.list(Array.from({ length: 70_000 }, (_, i) => Table.list([i])));
  // a graph of 40 levels where each level holds the next one twice: 2^40 paths, 40 tables
  let x: Table = Table.list(['leaf']);
  for (let i = 0; i < 40; i++) x = Table.list([x, x]);
  const bytes = encodeAMF0(Table.list([filler, x]));
  assert.ok(bytes.length < 2_000_000, `${bytes.length} bytes`);
  const [back] = decodeAMF0(bytes) as Table[];
  let y = back.items[1] as Table;
  for (let i = 0; i < 40; i++) {
    assert.equal(y.items.length, 2);
    assert.deepStrictEqual(y.items[0], y.items[1]);
    y = y.items[0] as Table;
  }
  assert.deepStrictEqual(y, Table.list(['leaf']));
});
