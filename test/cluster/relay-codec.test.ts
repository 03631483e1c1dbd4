/**
 * The relay's media frames on the link (relay-codec.ts) and the frame head written before a body
 * that is not copied (FrameEncoder.messageHead): round trips, limits, malformed input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameDecoder, FrameEncoder } from '../../src/cluster/codec';
import { RELAY_HANDLERS, RelayKind, decodeMedia, encodeMediaHead, MAX_RELAY_ID } from '../../src/cluster/relay-codec';
import { DataType } from '../../src/core/media';
import { DecodeError } from '../../src/serialization/value';

test('media heads round-trip: every kind, data types, ids up to 2^31-1, times modulo 2^32', () => {
  const body = Buffer.from('frame body');
  const cases: Array<[number, RelayKind, number, DataType]> = [
    [1, RelayKind.Audio, 0, DataType.AMF0],
    [127, RelayKind.Video, 40, DataType.AMF0],
    [128, RelayKind.Data, 1000, DataType.JSON],
    [300_000, RelayKind.Data, 2 ** 32 - 1, DataType.RAW],
    [MAX_RELAY_ID, RelayKind.Metadata, 5, DataType.AMF0],
    [9, RelayKind.MetadataCleared, 7, DataType.AMF0],
  ];
  for (const [id, kind, time, dataType] of cases) {
    const m = decodeMedia(Buffer.concat([encodeMediaHead(id, kind, time, dataType), body]));
    assert.deepEqual({ id: m.id, kind: m.kind, time: m.time, body: m.body.toString() }, { id, kind, time, body: 'frame body' });
    assert.equal(m.dataType, kind === RelayKind.Data ? dataType : DataType.AMF0);
  }
  assert.equal(decodeMedia(encodeMediaHead(1, RelayKind.Video, 2 ** 32 + 5)).time, 5);
});

test('malformed media heads are refused one by one', () => {
  for (const bad of [
    Buffer.alloc(0),
    Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
    Buffer.from([1, 8, 0, 0]),
    Buffer.from([1, 0x33, 0, 0, 0, 0]),
    Buffer.from([1, 18, 0, 0, 0, 0]),
    Buffer.from([1, 18, 0, 0, 0, 0, 99]),
  ])
    assert.throws(() => decodeMedia(bad), DecodeError, bad.toString('hex'));
});

test('a frame head with a tail written after it decodes as one frame, by name then by reference', () => {
  const enc = new FrameEncoder();
  const dec = new FrameDecoder();
  const body = Buffer.alloc(5000, 7);
  const head = encodeMediaHead(3, RelayKind.Video, 80);
  const bytes: Buffer[] = [];
  for (let i = 0; i < 2; i++) bytes.push(enc.messageHead(RELAY_HANDLERS.media, head, body.length), body);
  bytes.push(enc.message('plain', Buffer.from([1, 2])));
  const frames = dec.push(Buffer.concat(bytes));
  assert.equal(frames.length, 3);
  for (const f of frames.slice(0, 2)) {
    assert.equal(f.kind, 'message');
    if (f.kind !== 'message') continue;
    assert.equal(f.handler, RELAY_HANDLERS.media);
    const m = decodeMedia(f.payload);
    assert.equal(m.id, 3);
    assert.ok(m.body.equals(body));
  }
  assert.deepEqual(frames[2].kind === 'message' && [...frames[2].payload], [1, 2]);
});
