/**
 * RTMFP packet protection, Flash profile (RFC 7425 section 4.5/4.6): AES-128-CBC with a zero IV and
 * no padding (the plaintext is padded with 0xFF by the sender), a 16-bit ones' complement checksum
 * in front of the plaintext, and a session id scrambled with the first two encrypted words.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';

export const DEFAULT_KEY = Buffer.from('Adobe Systems 02', 'ascii');
const ZERO_IV = Buffer.alloc(16);
/** RFC 7016 recommends 1200 bytes of UDP payload at most; Flash keeps packets under this */
export const MAX_PACKET = 1192;

/** 16-bit ones' complement sum of big-endian words, an odd last byte counted as a low byte. */
export function checksum(buf: Buffer, start: number, end: number): number {
  let sum = 0;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (buf[i] << 8) | buf[i + 1];
  if (i < end) sum += buf[i];
  sum = (sum >>> 16) + (sum & 0xffff);
  sum += sum >>> 16;
  return ~sum & 0xffff;
}

/** The session id hidden in the first 4 bytes: word0 ^ word1 ^ word2 of the datagram. */
export function unscrambleSessionId(packet: Buffer): number {
  return (packet.readUInt32BE(0) ^ packet.readUInt32BE(4) ^ packet.readUInt32BE(8)) >>> 0;
}

/**
 * Decrypts in place the datagram's body (bytes 4..) and checks the checksum. Returns the plaintext
 * view after the checksum (flags byte first), or null when the key is wrong or bytes are damaged.
 */
export function decryptPacket(packet: Buffer, key: Buffer): Buffer | null {
  const len = packet.length - 4;
  if (len < 16 || len % 16 !== 0) return null;
  const d = createDecipheriv('aes-128-cbc', key, ZERO_IV).setAutoPadding(false);
  const plain = d.update(packet.subarray(4));
  if (plain.length !== len) return null;
  if (checksum(plain, 2, plain.length) !== plain.readUInt16BE(0)) return null;
  return plain.subarray(2);
}

/**
 * Builds a datagram from a plaintext (flags + header + chunks, without checksum): pads with 0xFF to
 * the AES block, prepends the checksum, encrypts and scrambles `farSessionId` in front.
 */
export function encryptPacket(plain: Buffer, plainLength: number, key: Buffer, farSessionId: number): Buffer {
  const body = plainLength + 2;
  const padded = body + ((16 - (body % 16)) % 16);
  const buf = Buffer.allocUnsafe(padded);
  plain.copy(buf, 2, 0, plainLength);
  buf.fill(0xff, body);
  buf.writeUInt16BE(checksum(buf, 2, padded), 0);
  const c = createCipheriv('aes-128-cbc', key, ZERO_IV).setAutoPadding(false);
  const enc = c.update(buf);
  const out = Buffer.allocUnsafe(4 + enc.length);
  enc.copy(out, 4);
  out.writeUInt32BE((farSessionId ^ out.readUInt32BE(4) ^ out.readUInt32BE(8)) >>> 0, 0);
  return out;
}
