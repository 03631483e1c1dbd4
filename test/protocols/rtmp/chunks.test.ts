/**
 * Chunk layer: the four header types, extended timestamps (also repeated on type-3
 * chunks), the peer's chunk size, abort, byte-by-byte delivery, writer/reader round trips, the
 * limits against hostile peers, and a seeded fuzz of the reader.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkError, ChunkReader, type RTMPMessage } from '../../../src/protocols/rtmp/chunk-reader';
import { chunkBody, encodeMessage, messageHeader, u32 } from '../../../src/protocols/rtmp/chunk-writer';
import { RTMP_LIMITS } from '../../../src/protocols/rtmp/constants';
import { mutate, prng, randomBuffer } from '../../helpers/prng';

function read(bytes: Buffer, step = 0): RTMPMessage[] {
  const out: RTMPMessage[] = [];
  const r = new ChunkReader((m) => out.push({ ...m, payload: Buffer.from(m.payload) }));
  if (!step) r.push(bytes);
  else for (let i = 0; i < bytes.length; i += step) r.push(bytes.subarray(i, i + step));
  return out;
}

/** basic header + fields of a type 1/2/3 header, built by hand */
function hdr(fmt: number, csid: number, fields: number[]): Buffer {
  return Buffer.from([(fmt << 6) | csid, ...fields]);
}
const be24 = (v: number) => [(v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff];

test('type 0, 1, 2 and 3 headers: timestamps accumulate deltas, fields are inherited', () => {
  const p = (n: number, fill: number) => Buffer.alloc(n, fill);
  const bytes = Buffer.concat([
    messageHeader(4, 9, 1, 1000, 10), p(10, 1),
    hdr(1, 4, [...be24(40), ...be24(5), 8]), p(5, 2), // delta 40, new length/type
    hdr(2, 4, [...be24(20)]), p(5, 3), // delta 20, same length/type
    hdr(3, 4, []), p(5, 4), // new message, reuses delta 20
  ]);
  const msgs = read(bytes);
  assert.deepEqual(msgs.map((m) => [m.type, m.streamId, m.timestamp, m.payload.length, m.payload[0]]), [
    [9, 1, 1000, 10, 1],
    [8, 1, 1040, 5, 2],
    [8, 1, 1060, 5, 3],
    [8, 1, 1080, 5, 4],
  ]);
  assert.deepEqual(read(bytes, 1).map((m) => m.timestamp), [1000, 1040, 1060, 1080], 'byte by byte gives the same');
});

test('a message longer than the chunk size is reassembled from type-3 chunks; csid 64+ forms', () => {
  const payload = randomBuffer(prng(1), 1000);
  for (const csid of [3, 64, 319, 320, 65599]) {
    const bytes = Buffer.concat(encodeMessage(csid, 9, 7, 123, payload, 128));
    const msgs = read(bytes);
    assert.equal(msgs.length, 1, `csid ${csid}`);
    assert.ok(msgs[0].payload.equals(payload));
    assert.equal(msgs[0].timestamp, 123);
    assert.equal(read(bytes, 7)[0].payload.length, 1000);
  }
});

test('extended timestamps on type 0 and repeated on type-3 continuation chunks', () => {
  const payload = randomBuffer(prng(2), 300);
  const t = 0x01234567;
  const bytes = Buffer.concat(encodeMessage(5, 8, 1, t, payload, 128));
  assert.equal(bytes.length, 12 + 4 + 300 + 2 * (1 + 4), 'two continuation headers carry the 4 bytes too');
  const msgs = read(bytes);
  assert.equal(msgs[0].timestamp, t);
  assert.ok(msgs[0].payload.equals(payload));
  // an encoder that omits the repetition is read too
  const lax = Buffer.concat([messageHeader(5, 8, 1, t, 300), chunkBody(payload, 128, 5)]);
  const m2 = read(lax);
  assert.equal(m2.length, 1);
  assert.ok(m2[0].payload.equals(payload));
});

test('Set Chunk Size from the peer applies to the next chunk; Abort drops a partial message', () => {
  const big = randomBuffer(prng(3), 5000);
  const bytes = Buffer.concat([
    ...encodeMessage(2, 1, 0, 0, u32(4096), 128),
    ...encodeMessage(3, 20, 0, 0, big, 4096),
  ]);
  const msgs = read(bytes);
  assert.deepEqual(msgs.map((m) => m.type), [1, 20]);
  assert.ok(msgs[1].payload.equals(big));

  const partial = Buffer.concat(encodeMessage(6, 9, 1, 0, big, 128)).subarray(0, 12 + 128); // first chunk only
  const abort = Buffer.concat(encodeMessage(2, 2, 0, 0, u32(6), 128));
  const after = Buffer.concat(encodeMessage(6, 9, 1, 50, Buffer.from('ok'), 128));
  const got = read(Buffer.concat([partial, abort, after]));
  assert.deepEqual(got.map((m) => [m.type, m.payload.toString()]), [[2, '\0\0\0\x06'], [9, 'ok']]);
});

test('limits: oversized message, too many chunk streams, continuation without a start', () => {
  const r1 = new ChunkReader(() => {});
  assert.throws(() => r1.push(messageHeader(3, 9, 1, 0, RTMP_LIMITS.maxMessageSize + 1)), ChunkError);
  const r2 = new ChunkReader(() => {});
  assert.throws(() => {
    for (let csid = 3; csid < 3 + RTMP_LIMITS.maxChunkStreams + 1; csid++) r2.push(Buffer.concat(encodeMessage(csid + 64, 9, 1, 0, Buffer.from('x'), 128)));
  }, ChunkError);
  const r3 = new ChunkReader(() => {});
  assert.throws(() => r3.push(hdr(3, 9, [1, 2, 3])), ChunkError);
});

test('a peer cannot make the reader hold more than the limits, whatever it claims', () => {
  const r = new ChunkReader(() => {});
  // many chunk streams each claiming a 16 MB message, sending a little of each
  let threw = false;
  try {
    for (let csid = 3; csid < 60; csid++) {
      r.push(messageHeader(csid, 9, 1, 0, RTMP_LIMITS.maxMessageSize));
      r.push(Buffer.alloc(128));
    }
  } catch (e) {
    threw = e instanceof ChunkError;
  }
  assert.ok(!threw);
  assert.ok(r.heldBytes <= 60 * 128, `held ${r.heldBytes} bytes: only what was received`);
});

test('1-byte chunks on many chunk streams, or one chunk fed a byte at a time: a few buffers, bytes near what arrived', () => {
  const r = new ChunkReader(() => {});
  r.push(Buffer.concat(encodeMessage(2, 1, 0, 0, u32(1), 128)));
  const streams = 100;
  for (let cs = 3; cs < 3 + streams; cs++) r.push(Buffer.concat([messageHeader(cs, 8, 1, 0, 1_000_000), Buffer.from([1])]));
  let payload = streams;
  for (let round = 0; round < 300; round++) {
    for (let cs = 3; cs < 3 + streams; cs++) {
      r.push(cs < 64 ? Buffer.from([0xc0 | cs, 7]) : Buffer.from([0xc0, cs - 64, 7]));
      payload++;
    }
  }
  assert.equal(r.heldPieces, streams, 'one buffer per partial message, not one per chunk');
  assert.ok(r.heldBytes <= 2 * payload, `held ${r.heldBytes} bytes for ${payload} received`);

  const one = new ChunkReader(() => {});
  one.push(Buffer.concat(encodeMessage(2, 1, 0, 0, u32(4_000_000), 128)));
  one.push(messageHeader(3, 9, 1, 0, 3_000_000));
  for (let i = 0; i < 20_000; i++) one.push(Buffer.from([i & 0xff]));
  assert.equal(one.heldPieces, 1, 'an incomplete chunk is one carry buffer, not one piece per read');
  assert.ok(one.heldBytes <= 2 * 20_000, `held ${one.heldBytes} bytes for 20000 received`);
});

test('the partial-message limit counts what is allocated: 1-byte chunks reach it with their payload, then the session ends', () => {
  const saved = RTMP_LIMITS.maxPendingBytes;
  RTMP_LIMITS.maxPendingBytes = 64 * 1024;
  try {
    const r = new ChunkReader(() => {});
    r.push(Buffer.concat(encodeMessage(2, 1, 0, 0, u32(1), 128)));
    for (let cs = 3; cs < 13; cs++) r.push(Buffer.concat([messageHeader(cs, 8, 1, 0, 1_000_000), Buffer.from([1])]));
    assert.throws(() => {
      for (let i = 0; i < 100_000; i++) for (let cs = 3; cs < 13; cs++) r.push(Buffer.from([0xc0 | cs, 7]));
    }, ChunkError);
    assert.ok(r.heldBytes <= 64 * 1024 + 4096, `held ${r.heldBytes}`);
  } finally {
    RTMP_LIMITS.maxPendingBytes = saved;
  }
});

test('writer and reader agree on random messages, chunk sizes and split points', () => {
  const rand = prng(4);
  for (let i = 0; i < 200; i++) {
    const chunkSize = [1, 2, 128, 1000, 4096, 65536][(rand() * 6) | 0];
    const msgs = Array.from({ length: 1 + ((rand() * 5) | 0) }, () => ({
      csid: [2, 3, 4, 70, 400][(rand() * 5) | 0],
      type: 8 + ((rand() * 2) | 0),
      streamId: (rand() * 5) | 0,
      ts: rand() < 0.1 ? 0xffffff + ((rand() * 1e6) | 0) : (rand() * 1e6) | 0,
      payload: randomBuffer(rand, (rand() * 3000) | 0),
    }));
    const wire: Buffer[] = [];
    if (chunkSize !== 128) wire.push(...encodeMessage(2, 1, 0, 0, u32(chunkSize), 128));
    for (const m of msgs) wire.push(...encodeMessage(m.csid, m.type, m.streamId, m.ts, m.payload, chunkSize));
    const bytes = Buffer.concat(wire);
    const got = read(bytes, 1 + ((rand() * 700) | 0)).filter((m) => m.type !== 1);
    assert.equal(got.length, msgs.length, `case ${i}`);
    got.forEach((g, k) => {
      assert.equal(g.timestamp, msgs[k].ts >>> 0);
      assert.equal(g.streamId, msgs[k].streamId);
      assert.ok(g.payload.equals(msgs[k].payload));
    });
  }
});

test('fuzz: random and mutated chunk streams only ever raise ChunkError, memory stays bounded', () => {
  const rand = prng(0xc0ffee);
  const valid = Buffer.concat([
    ...encodeMessage(2, 1, 0, 0, u32(300), 128),
    ...encodeMessage(3, 20, 0, 0, randomBuffer(rand, 700), 300),
    ...encodeMessage(4, 9, 1, 0xfffffff, randomBuffer(rand, 900), 300),
    ...encodeMessage(2, 2, 0, 0, u32(4), 300),
    ...encodeMessage(70, 8, 1, 5, randomBuffer(rand, 100), 300),
  ]);
  for (let i = 0; i < 3000; i++) {
    const input = i % 3 === 0 ? randomBuffer(rand, (rand() * 2000) | 0) : mutate(rand, valid);
    const r = new ChunkReader(() => {});
    try {
      const step = 1 + ((rand() * 500) | 0);
      for (let k = 0; k < input.length; k += step) r.push(input.subarray(k, k + step));
    } catch (e) {
      assert.ok(e instanceof ChunkError, `case ${i}: ${(e as Error).stack}`);
    }
    // partial messages and the carry grow by doubling: at most twice what arrived
    assert.ok(r.heldBytes <= 2 * input.length, `case ${i}: holds ${r.heldBytes} of ${input.length}`);
    assert.ok(r.heldPieces <= 1 + RTMP_LIMITS.maxChunkStreams, `case ${i}: ${r.heldPieces} pieces`);
  }
});
