import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PendingBytes } from '../../src/protocols/pending-bytes';

test('PendingBytes holds pieces until `need` bytes are there, then joins them once, in order', () => {
  const p = new PendingBytes();
  const head = Buffer.from('ab');
  assert.equal(p.join(head, Buffer.from('cd'), 8), null);
  assert.equal(p.join(head, Buffer.from('ef'), 8), null);
  assert.equal(p.join(head, Buffer.from('ghij'), 8)!.toString(), 'abcdefghij', 'reaching need joins everything');
  assert.equal(p.join(Buffer.alloc(0), Buffer.from('x'), 0)!.toString(), 'x', 'nothing held any more');
});

test('PendingBytes: with nothing held and no unconsumed bytes, data is handed on without a copy', () => {
  const p = new PendingBytes();
  const data = Buffer.from('hello');
  assert.equal(p.join(Buffer.alloc(0), data, 0), data);
  assert.equal(p.join(Buffer.alloc(0), data, 5), data, 'exactly need bytes is complete');
  assert.equal(p.join(Buffer.from('>'), data, 0)!.toString(), '>hello');
});
