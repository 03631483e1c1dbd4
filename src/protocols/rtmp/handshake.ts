/**
 * Server side of the RTMP handshake: C0+C1 in, S0+S1+S2 out, then C2 in.
 *  - plain (C0 = 3, C1 version zero or unsigned): S1 random, S2 echoes C1;
 *  - digest ("complex", C0 = 3 with a signed C1, as Flash and ffmpeg send): S1 signed with the
 *    FMS key, S2 signed from the client's digest, C2 checked against our S1 digest;
 *  - RTMPE (C0 = 6 or 8): the same plus a Diffie-Hellman exchange whose shared secret keys two RC4
 *    streams; type 8 (asked by C0 = 8 or by a client advertising version 128.x) adds the XTEA
 *    transform to the S2/C2 signatures.
 */
import { randomBytes } from 'node:crypto';
import { DhKeyPair } from '../../crypto/dh';
import {
  DH_KEY_SIZE,
  DIGEST_SIZE,
  FMS_KEY,
  FMS_KEY_SHORT,
  FP_KEY,
  FP_KEY_SHORT,
  LAYOUTS,
  SIG_SIZE,
  findDigestLayout,
  hmac,
  padLeft,
  responseSignature,
  signPacket,
} from './handshake-crypto';
import { RC4 } from './rc4';

/** The version bytes our S1 advertises (an FMS 3.5 server, which makes clients check S2). */
const SERVER_VERSION = [3, 5, 1, 1];

export class HandshakeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HandshakeError';
  }
}

export interface HandshakeReply {
  /** S0 + S1 + S2, to write as is */
  reply: Buffer;
  /** "plain", "digest", "rtmpe6", "rtmpe8" */
  kind: string;
  encrypted: boolean;
  /** checks C2; returns false when its signature is wrong (logged by the caller, not fatal) */
  checkC2(c2: Buffer): boolean;
  /** RTMPE: ciphers for bytes after C2 (keystreams already advanced past the handshake) */
  decipher: RC4 | null;
  cipher: RC4 | null;
}

/** `c0c1` holds exactly 1537 bytes. Throws HandshakeError on an unknown type or a bad RTMPE C1. */
export function answerHandshake(c0c1: Buffer): HandshakeReply {
  if (c0c1.length !== SIG_SIZE + 1) throw new HandshakeError(`C0+C1 of ${c0c1.length} bytes`);
  const requested = c0c1[0];
  const c1 = c0c1.subarray(1);
  if (requested !== 3 && requested !== 6 && requested !== 8) {
    throw new HandshakeError(`unknown handshake type ${requested}`);
  }
  const encrypted = requested !== 3;
  const versioned = c1.readUInt32BE(4) !== 0;
  const clientLayout = versioned || encrypted ? findDigestLayout(c1, FP_KEY_SHORT) : -1;
  if (clientLayout < 0) {
    if (encrypted) throw new HandshakeError('RTMPE client packet carries no valid digest');
    return plain(c1);
  }
  const type = encrypted ? (requested === 8 || c1[4] === 128 ? 8 : 6) : 3;
  const layout = LAYOUTS[clientLayout];
  const clientDigestPos = layout.digestOffset(c1);
  const clientDigest = Buffer.from(c1.subarray(clientDigestPos, clientDigestPos + DIGEST_SIZE));

  const out = Buffer.allocUnsafe(1 + SIG_SIZE * 2);
  out[0] = type;
  const s1 = out.subarray(1, 1 + SIG_SIZE);
  randomBytes(SIG_SIZE).copy(s1);
  s1.writeUInt32BE(uptime(), 0);
  Buffer.from(SERVER_VERSION).copy(s1, 4);

  // our S1 uses layout 1 (DH key in the first half, digest in the second), as FMS does
  const ours = LAYOUTS[1];
  let decipher: RC4 | null = null;
  let cipher: RC4 | null = null;
  if (encrypted) {
    // a fresh key pair per handshake on RFC 2409's 1024-bit group, through OpenSSL key objects
    // (about 1 ms; crypto.getDiffieHellman re-validates the prime each time: 30-40 ms)
    const dh = new DhKeyPair(2);
    const serverPub = dh.publicKey;
    serverPub.copy(s1, ours.dhOffset(s1));
    const clientDhPos = layout.dhOffset(c1);
    const clientPub = Buffer.from(c1.subarray(clientDhPos, clientDhPos + DH_KEY_SIZE));
    let secret: Buffer;
    try {
      secret = padLeft(dh.secret(clientPub), DH_KEY_SIZE);
    } catch (e) {
      throw new HandshakeError(`RTMPE public key rejected: ${(e as Error).message}`);
    }
    // server → client is keyed by the client's public key, client → server by ours
    cipher = new RC4(hmac(secret, clientPub).subarray(0, 16));
    decipher = new RC4(hmac(secret, serverPub).subarray(0, 16));
    cipher.skip(SIG_SIZE);
    decipher.skip(SIG_SIZE);
  }
  const serverDigestPos = signPacket(s1, ours, FMS_KEY_SHORT);
  const serverDigest = Buffer.from(s1.subarray(serverDigestPos, serverDigestPos + DIGEST_SIZE));

  const s2 = out.subarray(1 + SIG_SIZE);
  randomBytes(SIG_SIZE - DIGEST_SIZE).copy(s2);
  responseSignature(s2, clientDigest, FMS_KEY, type === 8).copy(s2, SIG_SIZE - DIGEST_SIZE);

  return {
    reply: out,
    kind: encrypted ? `rtmpe${type}` : 'digest',
    encrypted,
    decipher,
    cipher,
    checkC2: (c2) =>
      responseSignature(c2, serverDigest, FP_KEY, type === 8).equals(c2.subarray(SIG_SIZE - DIGEST_SIZE, SIG_SIZE)),
  };
}

function plain(c1: Buffer): HandshakeReply {
  const out = Buffer.allocUnsafe(1 + SIG_SIZE * 2);
  out[0] = 3;
  const s1 = out.subarray(1, 1 + SIG_SIZE);
  randomBytes(SIG_SIZE).copy(s1);
  s1.writeUInt32BE(uptime(), 0);
  s1.writeUInt32BE(0, 4);
  c1.copy(out, 1 + SIG_SIZE); // S2 echoes C1
  return { reply: out, kind: 'plain', encrypted: false, decipher: null, cipher: null, checkC2: () => true };
}

const started = Date.now();
function uptime(): number {
  return (Date.now() - started) >>> 0;
}
