/**
 * Packet layer against the real captures (test/fixtures/rtmfp): the handshake datagrams of librtmfp
 * and rtmfp-cpp clients talking to MonaServer decrypt with the default key, their checksums hold,
 * the handshake chunks parse to what the summaries show, our encryptor reproduces the datagrams
 * byte for byte, and every logged session plaintext parses into chunks and user data.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { readPcapUdp, readPlaintexts } from '../../helpers/rtmfp-pcap';
import { DEFAULT_KEY, decryptPacket, encryptPacket, unscrambleSessionId, checksum } from '../../../src/protocols/rtmfp/crypto';
import { CHUNK, parsePacket } from '../../../src/protocols/rtmfp/packet';
import {
  parseIHello,
  parseRHello,
  parseIIKeying,
  parseRIKeying,
  certificateKeys,
  selectedGroup,
  parseOptionList,
  responderKey,
  buildServerCertificate,
  EPD_URL,
} from '../../../src/protocols/rtmfp/handshake-chunks';
import { parseUserData } from '../../../src/protocols/rtmfp/user-data';

const DIR = path.join(__dirname, '..', '..', '..', '..', 'test', 'fixtures', 'rtmfp');
const CAPTURES = ['rtmfp-librtmfp-client-vs-monaserver', 'rtmfp-rtmfpcpp-client-vs-monaserver'];

for (const name of CAPTURES) {
  test(`${name}: handshake datagrams decrypt with the default key and parse`, () => {
    const dgrams = readPcapUdp(path.join(DIR, `${name}.pcap`));
    assert.ok(dgrams.length >= 10);
    const hs = dgrams.slice(0, 4);
    const plains = hs.map((d) => {
      const p = decryptPacket(Buffer.from(d.payload), DEFAULT_KEY);
      assert.ok(p, 'checksum must hold with the default key');
      return p!;
    });
    // session ids: 0 for IHello, RHello, IIKeying; the initiator's id for RIKeying
    assert.equal(unscrambleSessionId(hs[0].payload), 0);
    assert.equal(unscrambleSessionId(hs[2].payload), 0);
    const packets = plains.map(parsePacket);
    for (const p of packets) assert.equal(p.flags, 0x0b);
    const [ih, rh, iik, rik] = packets.map((p) => p.chunks[0]);
    assert.deepEqual([ih.type, rh.type, iik.type, rik.type], [CHUNK.IHello, CHUNK.RHello, CHUNK.IIKeying, CHUNK.RIKeying]);

    const ihello = parseIHello(ih.data);
    assert.equal(ihello.epd[0].type, EPD_URL);
    assert.equal(ihello.tag.length, 16);
    const rhello = parseRHello(rh.data);
    assert.deepEqual(rhello.tag, ihello.tag);
    assert.equal(rhello.cookie.length, 64);
    assert.equal(rhello.certificate.length, 77);
    const certOpts = parseOptionList(rhello.certificate);
    assert.deepEqual(
      certOpts.filter((o) => o.type === 0x15).map((o) => o.value[0]),
      [2, 5, 14],
    );
    // our certificate builder makes the same shape (77 bytes: librtmfp reads exactly that many)
    assert.equal(buildServerCertificate(certOpts[1].value, [2, 5, 14]).length, 77);
    assert.deepEqual(buildServerCertificate(certOpts[1].value, [2, 5, 14]), rhello.certificate);

    const ik = parseIIKeying(iik.data);
    assert.equal(ik.initiatorSessionId, 0x02000000);
    assert.deepEqual(ik.cookie, rhello.cookie);
    const keys = certificateKeys(ik.certificate);
    assert.equal(keys.get(2)?.length, 128);
    assert.equal(selectedGroup(ik.skic), 2);
    assert.deepEqual([...ik.signature], [0x58]);
    assert.equal(unscrambleSessionId(hs[3].payload), ik.initiatorSessionId);

    const rk = parseRIKeying(rik.data);
    assert.equal(rk.responderSessionId, 1);
    assert.equal(rk.skrc.length, 139);
    assert.equal(responderKey(rk.skrc)?.group, 2);
    assert.equal(responderKey(rk.skrc)?.key.length, 128);
    // every later datagram is addressed to a session: 1 (server) or the initiator id
    for (const d of dgrams.slice(4)) {
      const sid = unscrambleSessionId(d.payload);
      assert.ok(sid === 1 || sid === ik.initiatorSessionId);
      assert.equal(decryptPacket(Buffer.from(d.payload), DEFAULT_KEY), null, 'session packets do not decrypt with the default key');
    }
  });

  test(`${name}: our encryptor reproduces the handshake datagrams byte for byte`, () => {
    const dgrams = readPcapUdp(path.join(DIR, `${name}.pcap`));
    for (const d of dgrams.slice(0, 4)) {
      const plain = decryptPacket(Buffer.from(d.payload), DEFAULT_KEY)!;
      const sid = unscrambleSessionId(d.payload);
      // the sender padded with 0xFF: strip it exactly as it was written (checksum covers it)
      const again = encryptPacket(plain, plain.length, DEFAULT_KEY, sid);
      assert.deepEqual(again.subarray(0, d.payload.length), d.payload);
    }
  });

  test(`${name}: every logged plaintext parses into chunks`, () => {
    const lines = readPlaintexts(path.join(DIR, `${name}.plaintext.txt`));
    assert.ok(lines.length > 8);
    let userData = 0;
    for (const { bytes } of lines) {
      const p = parsePacket(bytes);
      assert.ok(p.chunks.length >= 1);
      for (const c of p.chunks) {
        if (c.type === CHUNK.UserData) {
          const u = parseUserData(c.data, false);
          assert.ok(u.flowId >= 2);
          assert.ok(u.sequence >= 1);
          userData++;
        }
      }
    }
    assert.ok(userData >= 4);
  });
}

test('timestamps are optional: flags without TS/TSE parse (rtmfp-cpp sends 0x81 and 0x05 packets)', () => {
  const p = parsePacket(Buffer.from('0500415100040 2ff7f01ffff'.replace(/\s/g, ''), 'hex'));
  assert.equal(p.timestamp, -1);
  assert.equal(p.echo, 0x0041);
  assert.equal(p.chunks[0].type, CHUNK.RangeAck);
  const q = parsePacket(Buffer.from('81100004000202 01'.replace(/\s/g, ''), 'hex'));
  assert.equal(q.timestamp, -1);
  assert.equal(q.echo, -1);
  assert.equal(q.chunks[0].type, CHUNK.UserData);
});

test('checksum: ones complement of 16-bit words with an odd trailing byte', () => {
  assert.equal(checksum(Buffer.from([0x00, 0x01, 0xf2]), 0, 3), ~(0x0001 + 0xf2) & 0xffff);
  assert.equal(checksum(Buffer.from([0xff, 0xff, 0xff, 0xff]), 0, 4), 0);
});
