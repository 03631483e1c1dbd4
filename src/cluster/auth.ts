/**
 * The optional shared secret of the server link (`[servers] secret`, our addition: MonaServer's link
 * is plain). A challenge-response before any hello: each side sends a fresh random nonce and proves
 * it knows the secret with an HMAC over both nonces and its role; the secret itself never crosses
 * the wire and a recorded exchange cannot be replayed (the other side's nonce is new every time).
 *
 *   connecting side                                accepting side
 *   auth{nonce: Nc}                        →
 *                                          ←       auth{nonce: Na, proof: HMAC(k, "accepting" Nc Na)}
 *   checks the proof, then
 *   auth{proof: HMAC(k, "connecting" Nc Na)} →
 *   hello{configuration…}                  →       checks the proof before reading the hello
 *                                          ←       hello{configuration…}
 *
 * Without a secret neither side sends auth frames, so the link is byte for byte MonaServer's and
 * MonaServer peers join as before. A side with a secret refuses a peer that skips the exchange or
 * fails it, and a side without one refuses a peer that asks for it: both then know why from the
 * reject text. This authenticates the two ends; it does not encrypt or sign later frames, so the
 * link still belongs on a private network.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const NONCE_BYTES = 16;

export type Role = 'connecting' | 'accepting';

export function newNonce(): Buffer {
  return randomBytes(NONCE_BYTES);
}

export function proof(secret: string, role: Role, connectingNonce: Buffer, acceptingNonce: Buffer): Buffer {
  return createHmac('sha256', secret)
    .update(`monats server link v1 ${role}\u0000`)
    .update(connectingNonce)
    .update(acceptingNonce)
    .digest();
}

/** Constant-time check of a proof received as hex text. */
export function checkProof(expected: Buffer, receivedHex: string | undefined): boolean {
  if (receivedHex === undefined || !/^[0-9a-f]*$/i.test(receivedHex)) return false;
  const got = Buffer.from(receivedHex, 'hex');
  return got.length === expected.length && timingSafeEqual(got, expected);
}

/** A nonce received as hex text, or null when it is not one. */
export function parseNonce(hex: string | undefined): Buffer | null {
  if (hex === undefined || hex.length !== NONCE_BYTES * 2 || !/^[0-9a-f]+$/i.test(hex)) return null;
  return Buffer.from(hex, 'hex');
}
