/**
 * Packet protection of an established session, Flash profile (RFC 7425 section 4.6) with its two
 * options, negotiated in the session key components of IIKeying/RIKeying:
 *  - HMAC (option 0x1a): instead of the 16-bit checksum, an HMAC-SHA256 of the encrypted packet,
 *    truncated to the length the sender announced (4..32 bytes), follows the ciphertext;
 *  - session sequence numbers (option 0x1e): each packet starts with a VLU counting the packets
 *    sent in the session from 0; the receiver drops numbers it already saw or that fell behind
 *    its window (replay protection).
 * Plaintext layout: [sequence number] [checksum (no HMAC)] packet, padded with 0xFF to the AES
 * block; the checksum covers what follows it. Each direction is negotiated on its own: a peer
 * that "will send always" makes the other require the option on receive, a peer that "requests"
 * makes the other (when it is willing to send on request) send always. Without any of that the
 * packets are Flash's: checksum only, and our answer is the bytes Flash servers send (librtmfp
 * refuses anything else).
 */
import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import { Reader, RtmfpFormatError, option, readOptions, vlu, vluSize, writeVlu } from './binary';
import { checksum } from './crypto';

export const OPT_HMAC_NEGOTIATION = 0x1a;
export const OPT_SSEQ_NEGOTIATION = 0x1e;
/** negotiation flags (the low bits of the option's first byte) */
export const WILL_SEND_ALWAYS = 0x04;
export const WILL_SEND_ON_REQUEST = 0x02;
export const REQUEST = 0x01;
export const MIN_HMAC = 4;
export const MAX_HMAC = 32;
/** what we send when we send an HMAC: half of SHA-256's output (RFC 2104 section 5) */
export const OUR_HMAC_LENGTH = 16;
/** session sequence numbers this far behind the highest one received are refused */
export const SEQUENCE_WINDOW = 64;
/** RFC 7016's advice: a packet of at most 1192 bytes of UDP payload */
const MAX_DATAGRAM = 1192;
/** what Flash peers put in a packet */
const FLASH_CAPACITY = 1180;

const ZERO_IV = Buffer.alloc(16);

/** How the packets of one session are protected, per direction. */
export interface Protection {
  /** HMAC bytes appended to every packet we send; 0 = the checksum instead */
  sendHmac: number;
  /** HMAC bytes every packet we receive must carry; 0 = the checksum instead */
  recvHmac: number;
  /** our packets start with a session sequence number */
  sendSeq: boolean;
  /** the peer's packets start with one, checked against replays */
  recvSeq: boolean;
}

export const FLASH_PROTECTION: Readonly<Protection> = { sendHmac: 0, recvHmac: 0, sendSeq: false, recvSeq: false };

/** What one end wants: always send, require receiving (both default to "on request" / no). */
export interface Wishes {
  hmacSendAlways?: boolean;
  hmacRequire?: boolean;
  hmacLength?: number;
  seqSendAlways?: boolean;
  seqRequire?: boolean;
}

export interface Negotiation {
  flags: number;
  /** HMAC only: the length the announcing end sends */
  length: number;
}

/** The HMAC and sequence number negotiations in a session key component (null = absent). */
export function readNegotiations(component: Buffer): { hmac: Negotiation | null; seq: Negotiation | null } {
  let hmac: Negotiation | null = null;
  let seq: Negotiation | null = null;
  for (const o of readOptions(new Reader(component))) {
    if (o.value.length === 0) continue;
    if (o.type === OPT_HMAC_NEGOTIATION && !hmac) {
      const r = new Reader(o.value);
      const flags = r.u8();
      hmac = { flags, length: r.available ? r.vlu() : 0 };
    } else if (o.type === OPT_SSEQ_NEGOTIATION && !seq) seq = { flags: o.value[0], length: 0 };
  }
  return { hmac, seq };
}

/** flags for our option: we always answer requests (send on request) */
function flags(sendAlways: boolean, require: boolean): number {
  return (sendAlways ? WILL_SEND_ALWAYS : 0) | WILL_SEND_ON_REQUEST | (require ? REQUEST : 0);
}

/**
 * Applies the far end's flags to one direction pair: it sends always → we must receive; it
 * requests → we send always (we are always willing). Returns null when we require receiving and
 * it will never send.
 */
function settle(far: number, sendAlways: boolean, require: boolean): { send: boolean; recv: boolean } | null {
  const farSends = (far & (WILL_SEND_ALWAYS | WILL_SEND_ON_REQUEST)) !== 0;
  if (require && !farSends) return null;
  return { send: sendAlways || (far & REQUEST) !== 0, recv: require || (far & WILL_SEND_ALWAYS) !== 0 };
}

/**
 * Responder side: the initiator's key component in, what we will do and the option bytes of our
 * own component out. Throws RtmfpFormatError when the initiator's options cannot be honoured.
 */
export function answerNegotiations(skic: Buffer): { protection: Protection; options: Buffer } {
  const { hmac, seq } = readNegotiations(skic);
  const hmacFlags = hmac?.flags ?? 0;
  const seqFlags = seq?.flags ?? 0;
  const asked = (hmacFlags | seqFlags) & (WILL_SEND_ALWAYS | REQUEST);
  if (!asked) {
    // Flash's exchange: no HMAC, no sequence numbers, answered with Flash servers' exact bytes
    return { protection: { ...FLASH_PROTECTION }, options: Buffer.concat([option(OPT_HMAC_NEGOTIATION, Buffer.from([0, 0])), option(OPT_SSEQ_NEGOTIATION, Buffer.from([0]))]) };
  }
  const h = settle(hmacFlags, false, false)!;
  const s = settle(seqFlags, false, false)!;
  if (h.recv && (hmac!.length < MIN_HMAC || hmac!.length > MAX_HMAC)) throw new RtmfpFormatError(`HMAC length ${hmac!.length} out of 4..32`);
  return {
    protection: { sendHmac: h.send ? OUR_HMAC_LENGTH : 0, recvHmac: h.recv ? hmac!.length : 0, sendSeq: s.send, recvSeq: s.recv },
    options: Buffer.concat([
      option(OPT_HMAC_NEGOTIATION, Buffer.concat([Buffer.from([flags(h.send, h.recv)]), vlu(h.send ? OUR_HMAC_LENGTH : 0)])),
      option(OPT_SSEQ_NEGOTIATION, Buffer.from([flags(s.send, s.recv)])),
    ]),
  };
}

/** Initiator side: the option bytes for our key component. */
export function offerNegotiations(w: Wishes): Buffer {
  return Buffer.concat([
    option(OPT_HMAC_NEGOTIATION, Buffer.concat([Buffer.from([flags(!!w.hmacSendAlways, !!w.hmacRequire)]), vlu(w.hmacLength ?? OUR_HMAC_LENGTH)])),
    option(OPT_SSEQ_NEGOTIATION, Buffer.from([flags(!!w.seqSendAlways, !!w.seqRequire)])),
  ]);
}

/** Initiator side: our wishes and the responder's component → the protection, or an error. */
export function settleNegotiations(w: Wishes, skrc: Buffer): Protection {
  const { hmac, seq } = readNegotiations(skrc);
  const h = settle(hmac?.flags ?? 0, !!w.hmacSendAlways, !!w.hmacRequire);
  if (!h) throw new RtmfpFormatError('the responder will not send the HMAC we require');
  const s = settle(seq?.flags ?? 0, !!w.seqSendAlways, !!w.seqRequire);
  if (!s) throw new RtmfpFormatError('the responder will not send the sequence numbers we require');
  if (h.recv && (!hmac || hmac.length < MIN_HMAC || hmac.length > MAX_HMAC)) throw new RtmfpFormatError(`responder HMAC length ${hmac?.length} out of 4..32`);
  return { sendHmac: h.send ? (w.hmacLength ?? OUR_HMAC_LENGTH) : 0, recvHmac: h.recv ? hmac!.length : 0, sendSeq: s.send, recvSeq: s.recv };
}

/** The keys of one direction: AES key (16 bytes) and HMAC key. */
export interface DirectionKeys {
  aes: Buffer;
  hmac: Buffer;
}

/**
 * Seals and opens the packets of one session. `encrypt` is the direction we send, `decrypt` the
 * one we receive. Sequence numbers received are tracked in a sliding window of SEQUENCE_WINDOW.
 */
export class SessionCrypto {
  private sendSeq = 0;
  private highest = -1;
  private readonly seen = new Uint8Array(SEQUENCE_WINDOW);
  /** packets refused as replays (sequence number seen or too old) */
  replays = 0;

  constructor(
    readonly encryptKeys: DirectionKeys,
    readonly decryptKeys: DirectionKeys,
    readonly protection: Readonly<Protection> = FLASH_PROTECTION,
  ) {}

  get encryptKey(): Buffer {
    return this.encryptKeys.aes;
  }

  get decryptKey(): Buffer {
    return this.decryptKeys.aes;
  }

  /**
   * Plaintext bytes a packet may carry so the datagram stays within RFC 7016's 1192 bytes: the
   * session id, the AES block rounding, the HMAC or checksum and a sequence number take the rest.
   */
  get capacity(): number {
    const p = this.protection;
    const room = Math.floor((MAX_DATAGRAM - 4 - p.sendHmac) / 16) * 16;
    return Math.min(FLASH_CAPACITY, room - (p.sendHmac ? 0 : 2) - (p.sendSeq ? 8 : 0) - 1);
  }

  /** A datagram from a plaintext (flags, timestamps, chunks) of `length` bytes. */
  encrypt(plain: Buffer, length: number, farId: number): Buffer {
    const p = this.protection;
    const seqLen = p.sendSeq ? vluSize(this.sendSeq) : 0;
    const front = seqLen + (p.sendHmac ? 0 : 2);
    const body = front + length;
    const padded = body + ((16 - (body % 16)) % 16);
    const buf = Buffer.allocUnsafe(padded);
    if (p.sendSeq) writeVlu(buf, 0, this.sendSeq++);
    plain.copy(buf, front, 0, length);
    buf.fill(0xff, body);
    if (!p.sendHmac) buf.writeUInt16BE(checksum(buf, front, padded), seqLen);
    const enc = createCipheriv('aes-128-cbc', this.encryptKeys.aes, ZERO_IV).setAutoPadding(false).update(buf);
    const out = Buffer.allocUnsafe(4 + enc.length + p.sendHmac);
    enc.copy(out, 4);
    if (p.sendHmac) createHmac('sha256', this.encryptKeys.hmac).update(enc).digest().copy(out, 4 + enc.length, 0, p.sendHmac);
    out.writeUInt32BE((farId ^ out.readUInt32BE(4) ^ out.readUInt32BE(8)) >>> 0, 0);
    return out;
  }

  /**
   * The plaintext (flags byte first) of a datagram, or null when it does not authenticate: bad
   * HMAC or checksum, a sequence number already received or behind the window, a bad size.
   */
  decrypt(datagram: Buffer): Buffer | null {
    const p = this.protection;
    const encLength = datagram.length - 4 - p.recvHmac;
    if (encLength < 16 || encLength % 16 !== 0) return null;
    const enc = datagram.subarray(4, 4 + encLength);
    if (p.recvHmac) {
      const mac = createHmac('sha256', this.decryptKeys.hmac).update(enc).digest().subarray(0, p.recvHmac);
      if (!timingSafeEqual(mac, datagram.subarray(4 + encLength))) return null;
    }
    const plain = createDecipheriv('aes-128-cbc', this.decryptKeys.aes, ZERO_IV).setAutoPadding(false).update(enc);
    if (plain.length !== encLength) return null;
    let pos = 0;
    let seq = -1;
    if (p.recvSeq) {
      try {
        const r = new Reader(plain);
        seq = r.vlu();
        pos = r.pos;
      } catch {
        return null;
      }
      if (!this.fresh(seq)) {
        this.replays++;
        return null;
      }
    }
    if (!p.recvHmac) {
      if (pos + 2 > plain.length || checksum(plain, pos + 2, plain.length) !== plain.readUInt16BE(pos)) return null;
      pos += 2;
    }
    if (seq >= 0) this.record(seq);
    return plain.subarray(pos);
  }

  private fresh(seq: number): boolean {
    if (seq > this.highest) return true;
    if (this.highest - seq >= SEQUENCE_WINDOW) return false;
    return this.seen[seq % SEQUENCE_WINDOW] === 0;
  }

  private record(seq: number): void {
    if (seq > this.highest) {
      // slots between the old highest and this one are numbers not received yet
      const from = Math.max(this.highest + 1, seq - SEQUENCE_WINDOW + 1);
      for (let s = from; s < seq; s++) this.seen[s % SEQUENCE_WINDOW] = 0;
      this.highest = seq;
    }
    this.seen[seq % SEQUENCE_WINDOW] = 1;
  }
}

/**
 * The AES and HMAC keys of both directions (RFC 7425 4.6.5): each direction's key material is
 * HMAC-SHA256 keyed by the Diffie-Hellman secret over HMAC-SHA256(one nonce, the other); its first
 * 16 bytes are the AES key, and HMAC-SHA256 of all 32 keyed by the secret is the HMAC key.
 * The initiator's nonce is its key component, the responder's nonce its own.
 */
export function directionKeys(sharedSecret: Buffer, initiatorNonce: Buffer, responderNonce: Buffer): { initiator: DirectionKeys; responder: DirectionKeys } {
  const derive = (key: Buffer, data: Buffer): DirectionKeys => {
    const material = createHmac('sha256', sharedSecret).update(createHmac('sha256', key).update(data).digest()).digest();
    return { aes: material.subarray(0, 16), hmac: createHmac('sha256', sharedSecret).update(material).digest() };
  };
  return { initiator: derive(responderNonce, initiatorNonce), responder: derive(initiatorNonce, responderNonce) };
}
