/**
 * The server-link codec against what two MonaServer C++ instances wrote to each other
 * (test/fixtures/cluster, recorded by test/cluster/record-monaserver.ts): our decoder reads their
 * bytes, and our encoder writes the same bytes from the same values, except for the two values
 * MonaServer itself gets wrong (a negative integer, an integer beyond 2^28), which we write as doubles
 * so that MonaServer reads them right. Plus the limits and hostile input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  DEFAULT_LIMITS,
  FrameDecoder,
  FrameEncoder,
  LinkProtocolError,
  decodeApps,
  decodeArgs,
  encodeApps,
  encodeArgs,
  type Frame,
} from '../../src/cluster/codec';
import { AMF0Reader } from '../../src/serialization/amf0';
import { DecodeError, Table, type Value } from '../../src/serialization/value';
import { prng, randomBuffer, mutate } from '../helpers/prng';

const FIXTURES = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'cluster');

interface Fixture {
  connections: Array<{ conn: number; chunks: Array<{ from: 'initiator' | 'target'; hex: string }> }>;
  logs: Record<string, string[]>;
}

function load(name: string): Fixture {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, `${name}.json`), 'utf8')) as Fixture;
}

function chunksOf(f: Fixture, from: 'initiator' | 'target', conn = 1): Buffer[] {
  return f.connections.find((c) => c.conn === conn)!.chunks.filter((c) => c.from === from).map((c) => Buffer.from(c.hex, 'hex'));
}

/** Frames with their exact bytes, cut by the 4-byte size field. */
function splitFrames(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let pos = 0; pos < bytes.length; ) {
    const size = bytes.readUInt32BE(pos);
    out.push(bytes.subarray(pos, pos + 4 + size));
    pos += 4 + size;
  }
  return out;
}

const T = (fields: Record<string, Value>, items: Value[] = []) => new Table(items, fields);
const L = (...items: Value[]) => new Table(items);
const X200 = 'x'.repeat(200);

/**
 * What A's Lua app passed to server:send("ping", ...) (record-monaserver.ts PING_ARGS_LUA), as our
 * values, with tables in the key order MonaServer happened to write them.
 */
function pingArgs(): Value[] {
  return [
    1, 2.5, 'text', true, false, -3, L(1, 2, 3), T({ a: 1, b: 'text' }), T({ __raw: Buffer.from('bytes') }), T({ x: 2 }, [1]),
    2 ** 40, null, '', 'héllo', T({ __time: 1500000000000 }), T({ obj: T({ k: 'v' }), list: L(10, 20) }), X200,
    268435455, 268435456, 0.1, L(),
  ];
}

test('decoder reads both directions of the recorded MonaServer exchange, whatever the chunking', () => {
  const f = load('monaserver-exchange');
  for (const from of ['initiator', 'target'] as const) {
    const whole = Buffer.concat(chunksOf(f, from));
    const d0 = new FrameDecoder();
    const asRecorded = chunksOf(f, from).flatMap((c) => d0.push(c));
    const d1 = new FrameDecoder();
    const byteByByte: Frame[] = [];
    for (let i = 0; i < whole.length; i++) byteByByte.push(...d1.push(whole.subarray(i, i + 1)));
    assert.equal(d1.pending, 0);
    const oneGo = new FrameDecoder().push(whole);
    assert.ok(oneGo.length >= 5);
    assert.deepEqual(byteByByte, oneGo);
    assert.deepEqual(asRecorded, oneGo);
  }
});

test("initiator's stream: hello with its configuration then its target properties, ping by name then by reference, the app list, the stop reject", () => {
  const f = load('monaserver-exchange');
  const frames = new FrameDecoder().push(Buffer.concat(chunksOf(f, 'initiator')));
  assert.deepEqual(
    frames.map((fr) => (fr.kind === 'message' ? fr.handler : fr.kind)),
    ['hello', 'ping', 'ping', 'other', 'bcast', '.', 'reject'],
  );
  const hello = frames[0] as Extract<Frame, { kind: 'hello' }>;
  const keys = hello.pairs.map(([k]) => k);
  // configuration in byte order, then the properties of A's target entry (?name=master&arg=val), sorted
  assert.deepEqual(keys.slice(-2), ['arg', 'name']);
  assert.deepEqual(hello.pairs.slice(-2), [['arg', 'val'], ['name', 'master']]);
  const configKeys = keys.slice(0, -2);
  assert.deepEqual(configKeys, [...configKeys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
  const configs = new Map(hello.pairs);
  assert.match(configs.get('RTMFP.publicAddress')!, /^127\.0\.0\.1:\d+$/);
  assert.equal(configs.get('RTMP.port'), '0');
  assert.equal(configs.has('RTMP.publicAddress'), false, 'a disabled protocol has no public address');
  assert.equal(configs.get('myGroup.myConfig'), '12');
  assert.match(configs.get('servers.targets')!, /\?name=master&arg=val$/);

  // B's app saw name and arg (from A's hello) as server.name/server.arg
  assert.ok(f.logs.B.some((l) => /^B onServerConnection isTarget=false .* name=master arg=val/.test(l)));

  const msg = (i: number) => frames[i] as Extract<Frame, { kind: 'message' }>;
  const ping = decodeArgs(msg(1).payload);
  const expected = pingArgs();
  expected[5] = -3; // our decoder reads MonaServer's AMF3 -3 right (MonaServer itself says 4294967293)
  expected[10] = 0; // MonaServer wrote 2^40 as the integer 0
  assert.deepEqual(ping, expected);
  assert.deepEqual(decodeArgs(msg(2).payload), ['second']);
  assert.deepEqual(decodeArgs(msg(3).payload), []);
  assert.deepEqual(decodeArgs(msg(4).payload), ['to all', 7]);
  assert.deepEqual(decodeApps(msg(5).payload), ['']);
  assert.deepEqual(frames[6], { kind: 'reject', reason: 'Server is stopping' });
  // what MonaServer's Lua saw, for the values it reads right
  const bLine = f.logs.B.find((l) => l.startsWith('B got ping 21:'))!;
  assert.ok(bLine.includes('|4294967293|') && bLine.includes('|0|nil|""|"héllo"|'), bLine);
});

test("our encoder writes the target's whole stream byte for byte: hello, fromB, the app list, pong twice (the second by reference)", () => {
  const f = load('monaserver-exchange');
  const recorded = Buffer.concat(chunksOf(f, 'target'));
  const frames = new FrameDecoder().push(recorded);
  const hello = frames[0] as Extract<Frame, { kind: 'hello' }>;
  const pong = pingArgs();
  pong[5] = 4294967293; // B echoed what it had read
  pong[10] = 0;
  const e = new FrameEncoder();
  const ours = Buffer.concat([
    e.hello(hello.pairs),
    e.message('fromB', encodeArgs([T({ list: L(1, 2, 3), name: 'B' }), 42])),
    e.message('.', encodeApps([''])),
    e.message('pong', encodeArgs(pong)),
    e.message('pong', encodeArgs(['second'])),
  ]);
  assert.equal(ours.toString('hex'), recorded.toString('hex'));
});

test("our encoder writes the initiator's stream byte for byte, except the two values MonaServer writes wrong", () => {
  const f = load('monaserver-exchange');
  const recorded = splitFrames(Buffer.concat(chunksOf(f, 'initiator')));
  const hello = new FrameDecoder().push(recorded[0])[0] as Extract<Frame, { kind: 'hello' }>;
  const e = new FrameEncoder();
  const ours = [
    e.hello(hello.pairs),
    e.message('ping', encodeArgs(pingArgs())),
    e.message('ping', encodeArgs(['second'])),
    e.message('other', encodeArgs([])),
    e.message('bcast', encodeArgs(['to all', 7])),
    e.message('.', encodeApps([''])),
    e.reject('Server is stopping'),
  ];
  assert.equal(ours.length, recorded.length);
  for (const i of [0, 2, 3, 4, 5, 6]) assert.equal(ours[i].toString('hex'), recorded[i].toString('hex'), `frame ${i}`);

  // the ping frame, argument by argument
  const header = 4 + 1 + 'ping'.length;
  const split = (payload: Buffer) => {
    const r = new AMF0Reader(payload);
    const parts: string[] = [];
    while (r.available > 0) {
      const at = r.offset;
      r.read();
      parts.push(payload.subarray(at, r.offset).toString('hex'));
    }
    return parts;
  };
  const theirs = split(recorded[1].subarray(header));
  const mine = split(ours[1].subarray(header));
  assert.equal(mine.length, 21);
  for (let i = 0; i < 21; i++) {
    if (i === 5) {
      assert.equal(theirs[i], '1104fffffffd', 'MonaServer: AMF3 integer -3, which it reads back as 4294967293');
      assert.equal(mine[i], '00c008000000000000', 'ours: AMF0 number -3');
    } else if (i === 10) {
      assert.equal(theirs[i], '110400', 'MonaServer: 2^40 as the integer 0');
      assert.equal(mine[i], '00' + '4270000000000000', 'ours: AMF0 number 2^40');
    } else assert.equal(mine[i], theirs[i], `argument ${i + 1}`);
  }
});

test('a reject from onServerConnection: hello first, then the reason (with the Lua position), then the close', () => {
  const f = load('monaserver-reject');
  const frames = new FrameDecoder().push(Buffer.concat(chunksOf(f, 'target')));
  assert.deepEqual(frames.map((fr) => fr.kind), ['hello', 'reject']);
  const reject = frames[1] as Extract<Frame, { kind: 'reject' }>;
  assert.match(reject.reason, /main\.lua:4: go away$/);
  assert.equal(new FrameEncoder().reject(reject.reason).toString('hex'), splitFrames(Buffer.concat(chunksOf(f, 'target')))[1].toString('hex'));
  // the initiator had already sent its first message and its app list: both still decode
  const sent = new FrameDecoder().push(Buffer.concat(chunksOf(f, 'initiator')));
  assert.deepEqual(sent.map((fr) => (fr.kind === 'message' ? fr.handler : fr.kind)), ['hello', 'early', '.']);
});

test('handler references count every named frame, as MonaServer numbers them', () => {
  const e = new FrameEncoder();
  const a1 = e.message('a', Buffer.alloc(0));
  const b1 = e.message('b', Buffer.alloc(0));
  const a2 = e.message('a', Buffer.alloc(0));
  const b2 = e.message('b', Buffer.from([5]));
  assert.equal(a1.toString('hex'), '000000020161');
  assert.equal(b1.toString('hex'), '000000020162');
  assert.equal(a2.toString('hex'), '000000020001');
  assert.equal(b2.toString('hex'), '00000003000205');
  const d = new FrameDecoder();
  assert.deepEqual(
    d.push(Buffer.concat([a1, b1, a2, b2])).map((fr) => (fr.kind === 'message' ? [fr.handler, fr.payload.toString('hex')] : fr.kind)),
    [['a', ''], ['b', ''], ['a', ''], ['b', '05']],
  );
  // a reference of 128 and more takes two LEB128 bytes
  const many = new FrameEncoder();
  for (let i = 0; i < 200; i++) many.message(`h${i}`, Buffer.alloc(0));
  assert.equal(many.message('h150', Buffer.alloc(0)).toString('hex'), '00000003009701');
});

test('encoder refuses names it cannot send, without changing its state', () => {
  const e = new FrameEncoder({ ...DEFAULT_LIMITS, maxReferences: 2 });
  assert.throws(() => e.message('', Buffer.alloc(0)), RangeError);
  assert.throws(() => e.message('x'.repeat(256), Buffer.alloc(0)), /256 bytes/);
  assert.equal(e.message('x'.repeat(255), Buffer.alloc(0)).length, 4 + 1 + 255);
  e.message('b', Buffer.alloc(0));
  assert.throws(() => e.message('c', Buffer.alloc(0)), /more than 2 distinct handler names/);
  assert.equal(e.message('b', Buffer.alloc(0)).toString('hex'), '000000020002');
});

test('decoder limits: frame size, control size, names per connection, malformed control frames', () => {
  const huge = Buffer.from('7fffffff', 'hex');
  assert.throws(() => new FrameDecoder().push(huge), (e: unknown) => e instanceof LinkProtocolError && /exceeds/.test((e as Error).message));

  const small = { ...DEFAULT_LIMITS, maxControlBytes: 16, maxReferences: 3, maxPairs: 2 };
  const e = new FrameEncoder();
  assert.throws(() => new FrameDecoder(small).push(e.hello([['a', 'x'.repeat(20)]])), /control frame of/);
  assert.throws(() => new FrameDecoder(small).push(e.hello([['a', '1'], ['b', '2'], ['c', '3']])), /more than 4 strings/);
  const d = new FrameDecoder(small);
  const e2 = new FrameEncoder();
  d.push(Buffer.concat([e2.message('a', Buffer.alloc(0)), e2.message('b', Buffer.alloc(0)), e2.message('c', Buffer.alloc(0))]));
  assert.throws(() => d.push(new FrameEncoder().message('d', Buffer.alloc(0))), /more than 3 handler names/);

  const frame = (hex: string) => {
    const body = Buffer.from(hex, 'hex');
    const head = Buffer.alloc(4);
    head.writeUInt32BE(body.length);
    return Buffer.concat([head, body]);
  };
  assert.throws(() => new FrameDecoder().push(frame('')), /empty frame/);
  assert.throws(() => new FrameDecoder().push(frame('0000')), /without its type/);
  assert.throws(() => new FrameDecoder().push(frame('000007')), /unknown control frame type 7/);
  assert.throws(() => new FrameDecoder().push(frame('00000100')), /key without value/);
  assert.throws(() => new FrameDecoder().push(frame('000001056162')), /runs past the frame/);
  assert.throws(() => new FrameDecoder().push(frame('04616263')), /handler name of 4 bytes runs past/);
  assert.throws(() => new FrameDecoder().push(frame('00ffffffffff01')), /longer than 5 bytes|over 32 bits/);
  assert.deepEqual(new FrameDecoder().push(frame('000000')), [{ kind: 'reject', reason: '' }]);
});

test('an unknown reference spoils that one frame, not the stream', () => {
  const e = new FrameEncoder();
  const d = new FrameDecoder();
  const unknown = Buffer.from('0000000300090541', 'hex').subarray(0, 7);
  const frames = d.push(Buffer.concat([unknown, e.message('ok', encodeArgs([1]))]));
  assert.equal(frames.length, 2);
  assert.equal(frames[0].kind, 'unknown');
  assert.equal((frames[0] as { ref: number }).ref, 9);
  assert.deepEqual(frames[1].kind === 'message' && [frames[1].handler, decodeArgs(frames[1].payload)], ['ok', [1]]);
});

test('arguments: MonaServer-safe numbers, round trips, app lists', () => {
  assert.equal(encodeArgs([-1]).toString('hex'), '00bff0000000000000');
  assert.equal(encodeArgs([5]).toString('hex'), '110405');
  assert.equal(encodeArgs([L(-1)]).toString('hex'), '11090301' + '05bff0000000000000', 'nested negative: AMF3 double');
  const values: Value[] = [null, true, -0.5, 'é', T({ a: T({ b: L(1, 'é') }) }), Buffer.from([0xff, 0xfe]), L()];
  assert.deepEqual(decodeArgs(encodeArgs(values)), values);
  assert.deepEqual(decodeApps(encodeApps(['', '/live', '/a/b'])), ['', '/live', '/a/b']);
  assert.throws(() => decodeApps(Buffer.from([5, 0x61])), DecodeError);
});

test('hostile input: random and mutated streams only ever raise LinkProtocolError, and memory stays bounded', () => {
  const f = load('monaserver-exchange');
  const seed = Buffer.concat(chunksOf(f, 'initiator'));
  const rand = prng(0xc105e2);
  const limits = { ...DEFAULT_LIMITS, maxFrameBytes: 4096 };
  for (let round = 0; round < 400; round++) {
    const input = round % 2 ? randomBuffer(rand, 1 + Math.floor(rand() * 600)) : mutate(rand, seed, 4);
    const d = new FrameDecoder(limits);
    try {
      for (let pos = 0; pos < input.length; ) {
        const n = 1 + Math.floor(rand() * 64);
        for (const fr of d.push(input.subarray(pos, pos + n))) {
          if (fr.kind === 'message' || fr.kind === 'unknown') {
            try {
              decodeArgs(fr.payload);
            } catch (err) {
              assert.ok(err instanceof DecodeError, String(err));
            }
          }
        }
        pos += n;
        assert.ok(d.pending <= limits.maxFrameBytes + 4);
      }
    } catch (err) {
      assert.ok(err instanceof LinkProtocolError, String(err));
    }
  }
});
