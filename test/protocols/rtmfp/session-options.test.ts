/**
 * RFC 7425 session options (HMAC packet verification, session sequence numbers), negotiated in the
 * session key components:
 *  - the negotiation rules: a peer that will send always makes the other require; a peer that
 *    requests makes the other (willing on request) send always; a requirement the other end will
 *    never meet fails the handshake; Flash's offer gets Flash's exact answer (librtmfp insists);
 *  - the packet format, checked here with node's crypto rather than our codec: HMAC-SHA256 over the
 *    ciphertext, truncated to the announced length, after it; no checksum then; sequence numbers
 *    from 0 in steps of 1 at the front of the plaintext;
 *  - end to end with our client offering them: connect, publish, play; replays and forged HMACs
 *    are dropped while the session goes on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDecipheriv, createHmac } from 'node:crypto';
import { Reader, option } from '../../../src/protocols/rtmfp/binary';
import { unscrambleSessionId } from '../../../src/protocols/rtmfp/crypto';
import {
  FLASH_PROTECTION,
  OUR_HMAC_LENGTH,
  REQUEST,
  SEQUENCE_WINDOW,
  SessionCrypto,
  WILL_SEND_ALWAYS,
  WILL_SEND_ON_REQUEST,
  answerNegotiations,
  offerNegotiations,
  readNegotiations,
  settleNegotiations,
} from '../../../src/protocols/rtmfp/session-crypto';
import { startRtmfpTestServer } from '../../helpers/rtmfp-server';
import { RtmfpTestClient, makeFrames, relay } from '../../helpers/rtmfp-client';

const hmacOption = (flags: number, length: number) => option(0x1a, Buffer.from([flags, length]));
const seqOption = (flags: number) => option(0x1e, Buffer.from([flags]));

test('negotiation: Flash offer → Flash answer bytes; send-always / request settle each direction', () => {
  // Flash and librtmfp offer "on request" for both, HMAC of 10: answered 03 1a 00 00 02 1e 00
  const flash = answerNegotiations(Buffer.concat([hmacOption(WILL_SEND_ON_REQUEST, 10), seqOption(WILL_SEND_ON_REQUEST)]));
  assert.deepEqual(flash.options, Buffer.from('031a0000021e00', 'hex'));
  assert.deepEqual(flash.protection, FLASH_PROTECTION);
  // nothing offered at all: the same
  assert.deepEqual(answerNegotiations(Buffer.alloc(0)).protection, FLASH_PROTECTION);

  // initiator will send HMAC always (length 12): we must verify 12 bytes; it requests ours: we send
  const both = answerNegotiations(Buffer.concat([hmacOption(WILL_SEND_ALWAYS | WILL_SEND_ON_REQUEST | REQUEST, 12), seqOption(WILL_SEND_ALWAYS | REQUEST)]));
  assert.deepEqual(both.protection, { sendHmac: OUR_HMAC_LENGTH, recvHmac: 12, sendSeq: true, recvSeq: true });
  const answered = readNegotiations(both.options);
  assert.equal(answered.hmac!.flags, WILL_SEND_ALWAYS | WILL_SEND_ON_REQUEST | REQUEST);
  assert.equal(answered.hmac!.length, OUR_HMAC_LENGTH);
  assert.equal(answered.seq!.flags, WILL_SEND_ALWAYS | WILL_SEND_ON_REQUEST | REQUEST);

  // request only: we send, it does not
  const req = answerNegotiations(Buffer.concat([hmacOption(WILL_SEND_ON_REQUEST | REQUEST, 16), seqOption(WILL_SEND_ON_REQUEST)]));
  assert.deepEqual(req.protection, { sendHmac: OUR_HMAC_LENGTH, recvHmac: 0, sendSeq: false, recvSeq: false });
  assert.equal(readNegotiations(req.options).hmac!.flags, WILL_SEND_ALWAYS | WILL_SEND_ON_REQUEST);

  // an HMAC length outside 4..32 from a peer that will send it cannot be verified: refused
  assert.throws(() => answerNegotiations(hmacOption(WILL_SEND_ALWAYS, 3)), /4\.\.32/);
  assert.throws(() => answerNegotiations(hmacOption(WILL_SEND_ALWAYS, 33)), /4\.\.32/);

  // initiator side: requiring what the responder will never send fails; the answer settles it
  assert.throws(() => settleNegotiations({ hmacRequire: true }, Buffer.from('031a0000021e00', 'hex')), /HMAC/);
  assert.throws(() => settleNegotiations({ seqRequire: true }, Buffer.from('031a0000021e00', 'hex')), /sequence/);
  const offer = { hmacSendAlways: true, hmacRequire: true, hmacLength: 12, seqSendAlways: true, seqRequire: true };
  const ours = answerNegotiations(offerNegotiations(offer));
  assert.deepEqual(settleNegotiations(offer, ours.options), { sendHmac: 12, recvHmac: OUR_HMAC_LENGTH, sendSeq: true, recvSeq: true });
});

test('sealed packets: HMAC over the ciphertext after it, no checksum, sequence numbers 0, 1, 2…; forgeries and replays refused', () => {
  const keys = (n: number) => ({ aes: Buffer.alloc(16, n), hmac: Buffer.alloc(32, n + 1) });
  const p = { sendHmac: 10, recvHmac: 10, sendSeq: true, recvSeq: true };
  const tx = new SessionCrypto(keys(1), keys(2), p);
  const rx = new SessionCrypto(keys(2), keys(1), p);
  const plain = Buffer.from('0d1234ffee' + '00'.repeat(20), 'hex');
  const sealed: Buffer[] = [];
  for (let i = 0; i < 3; i++) {
    const d = tx.encrypt(plain, plain.length, 0x01020304);
    sealed.push(d);
    assert.equal(unscrambleSessionId(d), 0x01020304);
    // read it as the RFC describes, with node's crypto only
    const enc = d.subarray(4, d.length - 10);
    assert.equal(enc.length % 16, 0);
    const mac = createHmac('sha256', keys(1).hmac).update(enc).digest().subarray(0, 10);
    assert.deepEqual(d.subarray(d.length - 10), mac, 'truncated HMAC of the ciphertext follows it');
    const clear = createDecipheriv('aes-128-cbc', keys(1).aes, Buffer.alloc(16)).setAutoPadding(false).update(enc);
    const r = new Reader(clear);
    assert.equal(r.vlu(), i, 'session sequence number');
    assert.deepEqual(clear.subarray(r.pos, r.pos + plain.length), plain, 'packet right after it: no checksum');
    assert.ok(clear.subarray(r.pos + plain.length).every((b) => b === 0xff), '0xff padding');
    assert.deepEqual(rx.decrypt(d), clear.subarray(r.pos));
  }
  // the same again: a replay
  assert.equal(rx.decrypt(sealed[1]), null);
  assert.equal(rx.replays, 1);
  // a flipped bit anywhere in the ciphertext or the HMAC
  for (const at of [5, sealed[2].length - 1]) {
    const bad = Buffer.from(tx.encrypt(plain, plain.length, 1));
    bad[at] ^= 0x40;
    assert.equal(rx.decrypt(bad), null);
  }
  // no HMAC where one is due
  assert.equal(rx.decrypt(new SessionCrypto(keys(1), keys(2), { ...p, sendHmac: 0 }).encrypt(plain, plain.length, 1)), null);
  // reordering within the window is fine, behind it is not
  const late = tx.encrypt(plain, plain.length, 1);
  for (let i = 0; i < SEQUENCE_WINDOW + 2; i++) assert.ok(rx.decrypt(tx.encrypt(plain, plain.length, 1)));
  assert.equal(rx.decrypt(late), null, 'too old');
  const a = tx.encrypt(plain, plain.length, 1);
  const b = tx.encrypt(plain, plain.length, 1);
  assert.ok(rx.decrypt(b));
  assert.ok(rx.decrypt(a), 'one step out of order');
  // the checksum form (no HMAC) still carries sequence numbers in front of the checksum
  const q = { sendHmac: 0, recvHmac: 0, sendSeq: true, recvSeq: true };
  const t2 = new SessionCrypto(keys(3), keys(4), q);
  const r2 = new SessionCrypto(keys(4), keys(3), q);
  const d = t2.encrypt(plain, plain.length, 7);
  assert.equal((d.length - 4) % 16, 0);
  assert.ok(r2.decrypt(d));
  assert.equal(r2.decrypt(d), null);
});

for (const [name, options] of [
  ['both directions, both options (a strict client)', { hmacSendAlways: true, hmacRequire: true, hmacLength: 12, seqSendAlways: true, seqRequire: true }],
  ['the client only requests HMAC from the server', { hmacRequire: true }],
] as const) {
  test(`end to end with session options: ${name}: connect, publish, play`, async () => {
    const srv = await startRtmfpTestServer();
    const pub = new RtmfpTestClient({ port: srv.port, sessionOptions: options });
    const sub = new RtmfpTestClient({ port: srv.port, sessionOptions: options });
    try {
      const sent: Buffer[] = [];
      pub.onSend = (d) => sent.push(d);
      const info = await pub.connect(`rtmfp://127.0.0.1:${srv.port}/live`);
      assert.equal(info.get('code'), 'NetConnection.Connect.Success');
      await sub.connect(`rtmfp://127.0.0.1:${srv.port}/live`);
      const [server] = [...srv.server.sessions.values()].filter((s) => s.peerId.equals(pub.session!.peerId));
      const expect = 'hmacSendAlways' in options
        ? { sendHmac: OUR_HMAC_LENGTH, recvHmac: 12, sendSeq: true, recvSeq: true }
        : { sendHmac: OUR_HMAC_LENGTH, recvHmac: 0, sendSeq: false, recvSeq: false };
      assert.deepEqual(server.crypto.protection, expect);
      assert.equal(pub.session!.crypto.protection.recvHmac, OUR_HMAC_LENGTH);
      const id = await pub.publish('opts');
      await sub.play('opts');
      const frames = makeFrames(40);
      const got = await relay(pub, id, sub, frames);
      assert.deepEqual(got.map((m) => m.body), frames.map((f) => f.body));

      // a replayed session packet is dropped (sequence number or, without them, as a duplicate)
      const before = srv.server.dropped;
      const session = sent.filter((d) => unscrambleSessionId(d) !== 0).at(-1)!;
      if ('seqRequire' in options) {
        pub.socket.send(session, srv.port, '127.0.0.1');
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(srv.server.dropped, before + 1);
        assert.equal(server.crypto.replays, 1);
        // a forged HMAC too
        const forged = Buffer.from(session);
        forged[forged.length - 1] ^= 1;
        pub.socket.send(forged, srv.port, '127.0.0.1');
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(srv.server.dropped, before + 2);
      }
      await assert.rejects(pub.call('nothing'), /not found/);
    } finally {
      await pub.close();
      await sub.close();
      await srv.stop();
    }
  });
}
