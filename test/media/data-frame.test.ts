import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataType, MediaFrame, MediaType } from '../../src/core/media';
import { amf0DataOf, dataValuesOf } from '../../src/media/data-frame';
import { flvBody } from '../../src/media/flv';
import { decodeAMF0, encodeAMF0 } from '../../src/serialization/amf0';
import { encodeAMF3 } from '../../src/serialization/amf3';
import { encodeJSON } from '../../src/serialization/json';
import { encodeQuery } from '../../src/serialization/query';
import { encodeXMLRPCResponse } from '../../src/serialization/xmlrpc';
import { fromJS, toJS, type Value } from '../../src/serialization/value';

const data = (payload: Buffer | string, type: DataType) => new MediaFrame(MediaType.Data, 0, Buffer.from(payload), type);
const VALUES: Value[] = ['onCuePoint', fromJS({ name: 'cue', time: 1.5, tags: ['a', 'b'] })];

test('amf0DataOf: AMF0 data is handed on as published, not copied', () => {
  const f = data(encodeAMF0(...VALUES), DataType.AMF0);
  assert.equal(amf0DataOf(f), f.payload);
});

test('amf0DataOf: JSON, AMF3, query and XML-RPC data become the same values in AMF0', () => {
  for (const f of [
    data(encodeJSON(VALUES), DataType.JSON),
    data(encodeAMF3(...VALUES), DataType.AMF3),
    data(encodeXMLRPCResponse(VALUES), DataType.XMLRPC),
  ]) {
    assert.deepEqual(decodeAMF0(amf0DataOf(f)!).map(toJS), VALUES.map(toJS), f.dataType);
    assert.deepEqual(dataValuesOf(f)!.map(toJS), VALUES.map(toJS), f.dataType);
  }
  const q = data(encodeQuery([fromJS({ a: 1, b: 'x' })]), DataType.QUERY);
  assert.deepEqual(decodeAMF0(amf0DataOf(q)!).map(toJS), [{ a: 1, b: 'x' }]);
});

test('amf0DataOf: converted once per frame, the same buffer for every caller (FLV shares it too)', () => {
  const f = data(encodeJSON(['@setDataFrame', 'onMetaData', fromJS({ width: 640 })]), DataType.JSON);
  const first = amf0DataOf(f)!;
  assert.equal(amf0DataOf(f), first);
  const flv = flvBody(f)!;
  assert.equal(flv.buffer, first.buffer, 'FLV body is a view of the AMF0 conversion');
  assert.deepEqual(decodeAMF0(flv).map(toJS), ['onMetaData', { width: 640 }], '@setDataFrame dropped for FLV');
});

test('amf0DataOf: RAW bytes, undecodable data and empty data carry nothing (null), nothing throws', () => {
  assert.equal(amf0DataOf(data('\x00\x01binary', DataType.RAW)), null);
  assert.equal(dataValuesOf(data('\x00\x01binary', DataType.RAW)), null);
  assert.equal(amf0DataOf(data('["unterminated', DataType.JSON)), null);
  assert.equal(amf0DataOf(data(Buffer.from([0x11, 0x0a, 0xff]), DataType.AMF3)), null);
  assert.equal(amf0DataOf(data('<methodResponse><params>', DataType.XMLRPC)), null);
  assert.equal(amf0DataOf(data('[]', DataType.JSON)), null);
  assert.throws(() => dataValuesOf(data('["unterminated', DataType.JSON)));
  // FLV still carries RAW bytes, as one AMF0 string
  assert.deepEqual(decodeAMF0(flvBody(data('raw', DataType.RAW))!), ['raw']);
});
