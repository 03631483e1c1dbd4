/**
 * The frame decoder's bounds on fragmented messages: fragments are copied into one growing buffer
 * (any sizes, any cut, masked per frame), a message may have at most maxFragments fragments, and
 * the byte limit counts the whole message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CloseCode, FrameDecoder, Opcode, WSProtocolError, encodeMaskedFrame } from '../../../src/protocols/websocket/frames';
import { prng, randomBuffer } from '../../helpers/prng';

test('fragments of any size (empty, 1 byte, large) reassemble in any cut, with pings between', () => {
  const rnd = prng(0xf7a9);
  const parts = [0, 1, 3, 0, 1000, 1, 70_000, 0, 5].map((n) => randomBuffer(rnd, n));
  const frames: Buffer[] = [];
  parts.forEach((p, i) => {
    const op = i === 0 ? Opcode.Binary : Opcode.Continuation;
    frames.push(encodeMaskedFrame(op, p, i === parts.length - 1, Buffer.from([i, 7, 99, 200])));
    if (i === 2) frames.push(encodeMaskedFrame(Opcode.Ping, Buffer.from('p')));
  });
  const wire = Buffer.concat(frames);
  for (const step of [1, 7, 4096, wire.length]) {
    const d = new FrameDecoder();
    const out = [];
    for (let i = 0; i < wire.length; i += step) out.push(...d.push(wire.subarray(i, i + step)));
    assert.deepEqual(out.map((m) => m.opcode), [Opcode.Ping, Opcode.Binary], `step ${step}`);
    assert.ok(out[1].data.equals(Buffer.concat(parts)), `step ${step}`);
  }
});

test('a message in more than maxFragments fragments, or over maxMessage bytes in all, closes with 1009', () => {
  const empty = encodeMaskedFrame(Opcode.Continuation, Buffer.alloc(0), false);
  const d = new FrameDecoder(1024, true, 100);
  assert.deepEqual(d.push(encodeMaskedFrame(Opcode.Text, Buffer.from('['), false)), []);
  assert.deepEqual(d.push(Buffer.concat(Array(99).fill(empty))), []);
  assert.throws(() => d.push(empty), (e: unknown) => e instanceof WSProtocolError && e.code === CloseCode.TooBig);

  const big = new FrameDecoder(1024, true, 100);
  big.push(encodeMaskedFrame(Opcode.Binary, Buffer.alloc(600), false));
  assert.throws(() => big.push(encodeMaskedFrame(Opcode.Continuation, Buffer.alloc(600), true)), (e: unknown) => e instanceof WSProtocolError && e.code === CloseCode.TooBig);
});
