/**
 * The arithmetic of Flash's signed ("complex") handshake and of RTMPE, as Flash Player, FMS,
 * librtmp and ffmpeg agree on it: where the digest and the Diffie-Hellman public key sit inside a
 * 1536-byte handshake packet, the HMAC-SHA256 keys, and the XTEA transform RTMPE type 8 applies to
 * the final signatures.
 */
import { createHmac } from 'node:crypto';

export const SIG_SIZE = 1536;
export const DIGEST_SIZE = 32;
export const DH_KEY_SIZE = 128;

const KEY_TAIL = Buffer.from(
  'f0eec24a8068bee82e00d0d1029e7e576eec5d2d29806fab93b8e636cfeb31ae',
  'hex',
);
/** "Genuine Adobe Flash Media Server 001" + 32 constant bytes; the first 36 bytes sign S1 */
export const FMS_KEY = Buffer.concat([Buffer.from('Genuine Adobe Flash Media Server 001', 'ascii'), KEY_TAIL]);
/** "Genuine Adobe Flash Player 001" + the same 32 bytes; the first 30 bytes sign C1 */
export const FP_KEY = Buffer.concat([Buffer.from('Genuine Adobe Flash Player 001', 'ascii'), KEY_TAIL]);
export const FMS_KEY_SHORT = FMS_KEY.subarray(0, 36);
export const FP_KEY_SHORT = FP_KEY.subarray(0, 30);

function sum4(b: Buffer, at: number): number {
  return b[at] + b[at + 1] + b[at + 2] + b[at + 3];
}

/**
 * The two layouts a handshake packet may use. Layout 0 keeps the digest in the first half (its
 * position derived from bytes 8..11) and the DH key in the second; layout 1 the other way round.
 */
export interface Layout {
  digestOffset(packet: Buffer): number;
  dhOffset(packet: Buffer): number;
}

export const LAYOUTS: readonly Layout[] = [
  { digestOffset: (p) => (sum4(p, 8) % 728) + 12, dhOffset: (p) => (sum4(p, 1532) % 632) + 772 },
  { digestOffset: (p) => (sum4(p, 772) % 728) + 776, dhOffset: (p) => (sum4(p, 768) % 632) + 8 },
];

export function hmac(key: Buffer, ...parts: Buffer[]): Buffer {
  const h = createHmac('sha256', key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** HMAC of the packet with the 32 digest bytes at `pos` left out. */
export function packetDigest(packet: Buffer, pos: number, key: Buffer): Buffer {
  return hmac(key, packet.subarray(0, pos), packet.subarray(pos + DIGEST_SIZE, SIG_SIZE));
}

/** Finds which layout signed `packet` with `key`; -1 when none does (a plain handshake). */
export function findDigestLayout(packet: Buffer, key: Buffer): number {
  for (let i = 0; i < LAYOUTS.length; i++) {
    const pos = LAYOUTS[i].digestOffset(packet);
    if (packetDigest(packet, pos, key).equals(packet.subarray(pos, pos + DIGEST_SIZE))) return i;
  }
  return -1;
}

/** Writes the digest of `packet` in place at the layout's position. */
export function signPacket(packet: Buffer, layout: Layout, key: Buffer): number {
  const pos = layout.digestOffset(packet);
  packetDigest(packet, pos, key).copy(packet, pos);
  return pos;
}

/**
 * The signature closing S2 or C2: HMAC over the first 1504 bytes, keyed by the HMAC of the peer's
 * digest with the full constant key. `rtmpe8` applies the type-8 XTEA transform.
 */
export function responseSignature(packet: Buffer, peerDigest: Buffer, fullKey: Buffer, rtmpe8: boolean): Buffer {
  const key = hmac(fullKey, peerDigest);
  const sig = hmac(key, packet.subarray(0, SIG_SIZE - DIGEST_SIZE));
  if (rtmpe8) for (let i = 0; i < DIGEST_SIZE; i += 8) xteaBlock(sig, i, key[i] % 15);
  return sig;
}

/** RTMPE type 8 XTEA key table (16 keys of 4 words, public constants of the protocol). */
const XTEA_KEYS: readonly (readonly number[])[] = [
  [0xbff034b2, 0x11d9081f, 0xccdfb795, 0x748de732],
  [0x086a5eb6, 0x1743090e, 0x6ef05ab8, 0xfe5a39e2],
  [0x7b10956f, 0x76ce0521, 0x2388a73a, 0x440149a1],
  [0xa943f317, 0xebf11bb2, 0xa691a5ee, 0x17f36339],
  [0x7a30e00a, 0xb529e22c, 0xa087aea5, 0xc0cb79ac],
  [0xbdce0c23, 0x2febdeff, 0x1cfaae16, 0x1123239d],
  [0x55dd3f7b, 0x77e7e62e, 0x9bb8c499, 0xc9481ee4],
  [0x407bb6b4, 0x71e89136, 0xa7aebf55, 0xca33b839],
  [0xfcf6bdc3, 0xb63c3697, 0x7ce4f825, 0x04d959b2],
  [0x28e091fd, 0x41954c4c, 0x7fb7db00, 0xe3a066f8],
  [0x57845b76, 0x4f251b03, 0x46d45bcd, 0xa2c30d29],
  [0x0acceef8, 0xda55b546, 0x03473452, 0x5863713b],
  [0xb82075dc, 0xa75f1fee, 0xd84268e8, 0xa72a44cc],
  [0x07cf6e9e, 0xa16d7b25, 0x9fa7ae6c, 0xd92f5629],
  [0xfeb1eae4, 0x8c8c3ce1, 0x4e0064a7, 0x6a387c2a],
  [0x893a9427, 0xcc3013a2, 0xf106385b, 0xa829f927],
];

/** 32 rounds of XTEA encryption over the little-endian 8-byte block at `at`, in place. */
export function xteaBlock(buf: Buffer, at: number, keyId: number): void {
  const k = XTEA_KEYS[keyId];
  let v0 = buf.readUInt32LE(at);
  let v1 = buf.readUInt32LE(at + 4);
  let sum = 0;
  for (let round = 0; round < 32; round++) {
    v0 = (v0 + ((((v1 << 4) ^ (v1 >>> 5)) + v1) ^ (sum + k[sum & 3]))) >>> 0;
    sum = (sum + 0x9e3779b9) >>> 0;
    v1 = (v1 + ((((v0 << 4) ^ (v0 >>> 5)) + v0) ^ (sum + k[(sum >>> 11) & 3]))) >>> 0;
  }
  buf.writeUInt32LE(v0, at);
  buf.writeUInt32LE(v1, at + 4);
}

/** Left-pads a big-endian number to `size` bytes (DH values are carried on fixed 128 bytes). */
export function padLeft(b: Buffer, size: number): Buffer {
  if (b.length === size) return b;
  if (b.length > size) return b.subarray(b.length - size);
  const out = Buffer.alloc(size);
  b.copy(out, size - b.length);
  return out;
}
