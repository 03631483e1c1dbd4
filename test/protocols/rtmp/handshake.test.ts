/**
 * Handshake arithmetic, checked the way a client checks it: plain echo, digest found in
 * either layout, S1 signed with the FMS key, S2 signed from the client digest, C2 verification,
 * RTMPE type selection, the DH exchange keying RC4 both ways, the type-8 XTEA transform, and RC4
 * against its published test vectors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getDiffieHellman, randomBytes } from 'node:crypto';
import { clientHello } from '../../../src/protocols/rtmp/client';
import { HandshakeError, answerHandshake } from '../../../src/protocols/rtmp/handshake';
import {
  DH_KEY_SIZE, DIGEST_SIZE, FMS_KEY, FMS_KEY_SHORT, FP_KEY, FP_KEY_SHORT, LAYOUTS, SIG_SIZE,
  findDigestLayout, hmac, padLeft, responseSignature, signPacket, xteaBlock,
} from '../../../src/protocols/rtmp/handshake-crypto';
import { RC4 } from '../../../src/protocols/rtmp/rc4';

test('RC4 matches the published test vectors', () => {
  const vectors: Array<[string, string, string]> = [
    ['Key', 'Plaintext', 'bbf316e8d940af0ad3'],
    ['Wiki', 'pedia', '1021bf0420'],
    ['Secret', 'Attack at dawn', '45a01f645fc35b383552544b9bf5'],
  ];
  for (const [key, plain, cipher] of vectors) {
    assert.equal(new RC4(Buffer.from(key)).transform(Buffer.from(plain)).toString('hex'), cipher);
    // the keystream continues across calls
    const r = new RC4(Buffer.from(key));
    const a = r.transform(Buffer.from(plain.slice(0, 3)));
    const b = r.transform(Buffer.from(plain.slice(3)));
    assert.equal(Buffer.concat([a, b]).toString('hex'), cipher);
  }
});

test('plain handshake: version-0 C1 is echoed as S2', () => {
  const c0c1 = clientHello(false);
  const r = answerHandshake(c0c1);
  assert.equal(r.kind, 'plain');
  assert.equal(r.reply.length, 1 + 2 * SIG_SIZE);
  assert.equal(r.reply[0], 3);
  assert.ok(r.reply.subarray(1 + SIG_SIZE).equals(c0c1.subarray(1)));
});

test('digest handshake in both layouts: S1 signed with the FMS key, S2 from the client digest, C2 checked', () => {
  for (const layout of [0, 1]) {
    const c1 = randomBytes(SIG_SIZE);
    Buffer.from([9, 0, 124, 2]).copy(c1, 4);
    const clientDigestPos = signPacket(c1, LAYOUTS[layout], FP_KEY_SHORT);
    const r = answerHandshake(Buffer.concat([Buffer.from([3]), c1]));
    assert.equal(r.kind, 'digest');
    const s1 = r.reply.subarray(1, 1 + SIG_SIZE);
    const s2 = r.reply.subarray(1 + SIG_SIZE);
    assert.ok(s1.readUInt32BE(4) !== 0, 'S1 carries a server version');
    const serverLayout = findDigestLayout(s1, FMS_KEY_SHORT);
    assert.ok(serverLayout >= 0, 'S1 digest verifies with the FMS key');
    const clientDigest = c1.subarray(clientDigestPos, clientDigestPos + DIGEST_SIZE);
    const expected = responseSignature(s2, clientDigest, FMS_KEY, false);
    assert.ok(expected.equals(s2.subarray(SIG_SIZE - DIGEST_SIZE)), 'S2 signature as Flash checks it');
    // a C2 made as Flash makes it passes, an echo of S1 does not (tolerated by the session)
    const sPos = LAYOUTS[serverLayout].digestOffset(s1);
    const c2 = randomBytes(SIG_SIZE);
    responseSignature(c2, s1.subarray(sPos, sPos + DIGEST_SIZE), FP_KEY, false).copy(c2, SIG_SIZE - DIGEST_SIZE);
    assert.equal(r.checkC2(c2), true);
    assert.equal(r.checkC2(Buffer.from(s1)), false);
  }
});

test('a versioned C1 without a valid digest falls back to plain; unknown types are refused', () => {
  const c0c1 = clientHello(false);
  c0c1.writeUInt32BE(0x09007c02, 5);
  assert.equal(answerHandshake(c0c1).kind, 'plain');
  const bad = clientHello(true);
  bad[0] = 9;
  assert.throws(() => answerHandshake(bad), HandshakeError);
  const unsigned = clientHello(false);
  unsigned[0] = 6;
  assert.throws(() => answerHandshake(unsigned), HandshakeError, 'RTMPE needs a signed C1');
});

function rtmpeClient(type: number, version128: boolean) {
  const dh = getDiffieHellman('modp2');
  dh.generateKeys();
  const c1 = randomBytes(SIG_SIZE);
  if (version128) Buffer.from([128, 0, 3, 2]).copy(c1, 4);
  else Buffer.from([9, 0, 124, 2]).copy(c1, 4);
  const layout = LAYOUTS[1];
  const pub = padLeft(dh.getPublicKey(), DH_KEY_SIZE);
  pub.copy(c1, layout.dhOffset(c1));
  signPacket(c1, layout, FP_KEY_SHORT);
  return { dh, pub, c0c1: Buffer.concat([Buffer.from([type]), c1]) };
}

test('RTMPE: DH shared secret keys RC4 both ways; type 8 when asked or for a 128.x client', () => {
  for (const [type, v128, expectType] of [[6, false, 6], [6, true, 8], [8, false, 8]] as const) {
    const c = rtmpeClient(type, v128);
    const r = answerHandshake(c.c0c1);
    assert.equal(r.reply[0], expectType);
    assert.equal(r.kind, `rtmpe${expectType}`);
    const s1 = r.reply.subarray(1, 1 + SIG_SIZE);
    const layout = findDigestLayout(s1, FMS_KEY_SHORT);
    assert.ok(layout >= 0);
    const serverPub = s1.subarray(LAYOUTS[layout].dhOffset(s1), LAYOUTS[layout].dhOffset(s1) + DH_KEY_SIZE);
    const secret = padLeft(c.dh.computeSecret(serverPub), DH_KEY_SIZE);
    // client side keys as librtmp derives them
    const clientOut = new RC4(hmac(secret, serverPub).subarray(0, 16));
    const clientIn = new RC4(hmac(secret, c.pub).subarray(0, 16));
    clientOut.skip(SIG_SIZE);
    clientIn.skip(SIG_SIZE);
    const msg = Buffer.from('connect me, encrypted');
    const wire = clientOut.transform(msg);
    const seen = Buffer.from(wire);
    r.decipher!.process(seen, 0, seen.length, seen, 0);
    assert.equal(seen.toString(), msg.toString(), 'server deciphers what the client ciphers');
    const back = r.cipher!.transform(Buffer.from('answer'));
    assert.equal(clientIn.transform(back).toString(), 'answer', 'client deciphers what the server ciphers');
    // S2 signature, type-8 transformed when type 8
    const c1 = c.c0c1.subarray(1);
    const cPos = LAYOUTS[1].digestOffset(c1);
    const s2 = r.reply.subarray(1 + SIG_SIZE);
    const sig = responseSignature(s2, c1.subarray(cPos, cPos + DIGEST_SIZE), FMS_KEY, expectType === 8);
    assert.ok(sig.equals(s2.subarray(SIG_SIZE - DIGEST_SIZE)));
  }
});

test('XTEA block transform: 32 rounds, little-endian words, differs per key id', () => {
  const block = Buffer.from('0123456789abcdef', 'hex');
  const a = Buffer.from(block);
  const b = Buffer.from(block);
  xteaBlock(a, 0, 0);
  xteaBlock(b, 0, 1);
  assert.ok(!a.equals(block) && !a.equals(b));
  // reference: XTEA encipher written out independently with BigInt arithmetic
  const k = [0xbff034b2n, 0x11d9081fn, 0xccdfb795n, 0x748de732n];
  let v0 = BigInt(block.readUInt32LE(0));
  let v1 = BigInt(block.readUInt32LE(4));
  let sum = 0n;
  const M = 0xffffffffn;
  for (let i = 0; i < 32; i++) {
    v0 = (v0 + (((((v1 << 4n) & M) ^ (v1 >> 5n)) + v1) ^ ((sum + k[Number(sum & 3n)]) & M))) & M;
    sum = (sum + 0x9e3779b9n) & M;
    v1 = (v1 + (((((v0 << 4n) & M) ^ (v0 >> 5n)) + v0) ^ ((sum + k[Number((sum >> 11n) & 3n)]) & M))) & M;
  }
  assert.equal(a.readUInt32LE(0), Number(v0));
  assert.equal(a.readUInt32LE(4), Number(v1));
});
