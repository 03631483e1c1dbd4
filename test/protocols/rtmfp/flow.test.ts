/**
 * Flows in isolation, sender → receiver without a network: fragmentation and reassembly, any
 * arrival order, range acknowledgements and what the sender makes of them, abandonment of
 * unreliable messages, the final fragment, and the receive budget.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Reader } from '../../../src/protocols/rtmfp/binary';
import { IncomingFlow } from '../../../src/protocols/rtmfp/flow';
import { FlowSender } from '../../../src/protocols/rtmfp/flow-writer';
import { parseUserData, type UserData } from '../../../src/protocols/rtmfp/user-data';
import { prng } from '../../helpers/prng';

/** Everything the sender has queued, as parsed user data chunks (room = bytes per chunk). */
function drain(s: FlowSender, room = 300): UserData[] {
  const out: UserData[] = [];
  const buf = Buffer.alloc(2000);
  for (;;) {
    const end = s.nextFragment(buf, 0, room, Date.now());
    if (end < 0) return out;
    out.push(parseUserData(Buffer.from(buf.subarray(0, end)), false));
  }
}

function readAck(ack: Buffer): { cumulative: number; ranges: number[] } {
  const r = new Reader(ack);
  r.vlu();
  assert.ok(r.vlu() >= 1, 'buffer available is never 0');
  const cumulative = r.vlu();
  const ranges: number[] = [];
  while (r.available) ranges.push(r.vlu());
  return { cumulative, ranges };
}

test('fragmented messages arrive whole whatever the order; acks tell the sender what arrived', () => {
  const s = new FlowSender(5, Buffer.from('TC\x04\x01', 'latin1'), 2, true);
  const messages = [Buffer.alloc(1000, 1), Buffer.alloc(50, 2), Buffer.alloc(2500, 3)];
  for (const m of messages) s.write(Buffer.from([9, 0, 0, 0, 0]), m);
  const chunks = drain(s);
  assert.ok(chunks.length >= 14);
  assert.ok(chunks.every((c) => c.metadata?.toString('latin1') === 'TC\x04\x01'), 'options until the peer acknowledges');
  const got: Buffer[] = [];
  const budget = { used: 0, limit: 1 << 20 };
  const f = new IncomingFlow(5, chunks[0].metadata, 2, budget, (m) => got.push(m));
  const r = prng(3);
  const order = chunks.map((c, i) => ({ c, k: r() + (i === 0 ? 1 : 0) })).sort((a, b) => a.k - b.k);
  for (const { c } of order) f.receive(c);
  assert.deepEqual(
    got,
    messages.map((m) => Buffer.concat([Buffer.from([9, 0, 0, 0, 0]), m])),
  );
  assert.equal(budget.used, 0, 'nothing left buffered');
  const { cumulative, ranges } = readAck(f.ack());
  assert.equal(cumulative, chunks.length);
  assert.deepEqual(ranges, []);
  s.acknowledge(cumulative, ranges);
  assert.equal(s.pendingBytes, 0);
});

test('range ack with holes: receiver encodes them, sender keeps exactly the missing fragments', () => {
  const s = new FlowSender(3, Buffer.from('TC\x04\x00', 'latin1'), -1, true);
  for (let i = 0; i < 8; i++) s.write(null, Buffer.alloc(100, i));
  const chunks = drain(s, 120);
  assert.equal(chunks.length, 8);
  const f = new IncomingFlow(3, chunks[0].metadata, -1, { used: 0, limit: 1 << 20 }, () => {});
  for (const i of [0, 1, 2, 4, 5, 7]) f.receive(chunks[i]); // 4th and 7th (seq 4 and 7) lost
  const ack = readAck(f.ack());
  assert.equal(ack.cumulative, 3);
  assert.deepEqual(ack.ranges, [0, 1, 0, 0]); // 1 hole, 2 received (5-6), 1 hole, 1 received (8)
  s.acknowledge(ack.cumulative, ack.ranges);
  assert.deepEqual([...s.inFlight.keys()], [4, 7]);
});

test('unreliable messages: an abandoned fragment makes the receiver skip the whole message', () => {
  const s = new FlowSender(4, Buffer.from('TC\x04\x01', 'latin1'), -1, false);
  s.write(null, Buffer.alloc(600, 1)); // several fragments
  s.write(null, Buffer.alloc(60, 2));
  const chunks = drain(s, 250);
  const got: Buffer[] = [];
  const f = new IncomingFlow(4, chunks[0].metadata, -1, { used: 0, limit: 1 << 20 }, (m) => got.push(m));
  f.receive(chunks[0]); // the rest of message 1 is lost...
  const lastOfFirst = chunks.length - 1; // seq of the first message's end fragment
  const buf = Buffer.alloc(200);
  const end = s.writeAbandon(lastOfFirst, buf, 0); // ...and abandoned by the sender
  f.receive(parseUserData(Buffer.from(buf.subarray(0, end)), false));
  f.receive(chunks[chunks.length - 1]);
  assert.deepEqual(got, [Buffer.alloc(60, 2)]);
  assert.ok(f.lost >= 1);
});

test('final fragment completes the flow; an oversized backlog is not buffered', () => {
  const s = new FlowSender(6, Buffer.from('TC\x04\x00', 'latin1'), -1, true);
  s.write(null, Buffer.alloc(10, 1));
  s.close();
  const chunks = drain(s);
  const f = new IncomingFlow(6, chunks[0].metadata, -1, { used: 0, limit: 1 << 20 }, () => {});
  for (const c of chunks) f.receive(c);
  assert.ok(f.complete);

  const budget = { used: 0, limit: 1000 };
  const g = new IncomingFlow(7, Buffer.from('TC\x04\x00', 'latin1'), -1, budget, () => {});
  for (let seq = 2; seq < 50; seq++) g.receive({ flags: 0, flowId: 7, sequence: seq, fsnOffset: seq, metadata: null, associatedFlow: -1, data: Buffer.alloc(100) });
  assert.ok(budget.used <= 1000, `buffered ${budget.used}`);
});
