/**
 * The responder side of the RTMFP handshake (RFC 7016 3.5.1, Flash profile RFC 7425):
 *   IHello  → RHello  with a cookie and our certificate (or Redirect when the app says so),
 *   IIKeying (cookie back, client certificate, key component) → RIKeying and a new session.
 * Cookies are stateless (time + random + HMAC over them and the client address), so a flood of
 * IHello from many addresses costs no memory. State appears only after a valid IIKeying (kept until
 * the cookie expires, to answer a retransmitted IIKeying with the same RIKeying), and per-tag
 * attempt counters for `onHandshake` live in a capped map.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { DEFAULT_KEY, encryptPacket } from './crypto';
import { SUPPORTED_GROUPS, dhKeyPair } from '../../crypto/dh';
import {
  EPD_PEER_ID,
  EPD_URL,
  FLASH_SIGNATURE,
  buildRHello,
  buildRIKeying,
  buildResponderComponent,
  buildServerCertificate,
  certificateKeys,
  encodeAddress,
  parseIHello,
  parseIIKeying,
  selectedGroup,
} from './handshake-chunks';
import { CHUNK, PacketBuilder, nowTimestamp, type PacketHeader } from './packet';
import { vlu } from './binary';
import { SessionCrypto, answerNegotiations, directionKeys } from './session-crypto';

export const COOKIE_SIZE = 64;
/** a cookie is good for this long after RHello (RFC 7016 suggests tens of seconds) */
export const COOKIE_LIFETIME_MS = 95_000;
const MAX_ATTEMPT_ENTRIES = 10_000;
const MAX_PENDING = 20_000;

/** Address origins in Redirect (RFC 7016 2.3.5) */
export const ADDRESS_PUBLIC = 2;
export const ADDRESS_LOCAL = 1;
export const ADDRESS_REDIRECT = 3;

export interface NewSession {
  farId: number;
  crypto: SessionCrypto;
  address: string;
  peerId: Buffer;
}

export interface PeerAddress {
  address: string;
  /** ADDRESS_PUBLIC, ADDRESS_LOCAL or ADDRESS_REDIRECT */
  origin: number;
}

export interface HandshakeHost {
  send(datagram: Buffer, address: string): void;
  debug(message: string): void;
  /** app's onHandshake: addresses to redirect to, empty = serve here */
  onHandshake(address: string, url: string, attempts: number): string[];
  /**
   * rendezvous (RFC 7016 3.5.1.5): where the peer with this id can be reached — its public and
   * local addresses when it is connected here (and it is told to expect `from`), other servers'
   * addresses otherwise, or nothing.
   */
  rendezVous(peerId: Buffer, from: string, tag: Buffer): PeerAddress[];
  /** creates and registers the session; returns its id */
  createSession(s: NewSession): number;
  /** still alive? (a retransmitted IIKeying for a closed session starts over) */
  hasSession(id: number): boolean;
}

interface Pending {
  sessionId: number;
  response: Buffer;
  expires: number;
}

export class Handshaker {
  private readonly secret = randomBytes(32);
  private readonly certificate = buildServerCertificate(randomBytes(64), SUPPORTED_GROUPS);
  private readonly attempts = new Map<string, { count: number; expires: number }>();
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly host: HandshakeHost) {}

  /** A startup packet (session id 0, default key), already decrypted and parsed. */
  receive(packet: PacketHeader, address: string): void {
    for (const chunk of packet.chunks) {
      if (chunk.type === CHUNK.IHello) this.onIHello(chunk.data, address);
      else if (chunk.type === CHUNK.IIKeying) this.onIIKeying(chunk.data, address);
      else this.host.debug(`RTMFP handshake: chunk 0x${chunk.type.toString(16)} from ${address} ignored`);
    }
  }

  private onIHello(data: Buffer, address: string): void {
    const hello = parseIHello(data);
    const url = hello.epd.find((o) => o.type === EPD_URL);
    const peer = hello.epd.find((o) => o.type === EPD_PEER_ID);
    if (peer) {
      const addresses = this.host.rendezVous(peer.value, address, hello.tag);
      if (addresses.length) this.sendRedirect(hello.tag, addresses, address);
      return;
    }
    if (!url) {
      this.host.debug(`RTMFP IHello from ${address} without a URL or peer id`);
      return;
    }
    const redirect = this.host.onHandshake(address, url.value.toString('utf8'), this.attempt(hello.tag));
    if (redirect.length) {
      this.sendRedirect(hello.tag, redirect.map((a) => ({ address: a, origin: ADDRESS_REDIRECT })), address);
      return;
    }
    const body = buildRHello({ tag: hello.tag, cookie: this.makeCookie(address), certificate: this.certificate });
    this.sendStartup(CHUNK.RHello, body, address, 0);
  }

  private attempt(tag: Buffer): number {
    const key = tag.toString('hex');
    const now = Date.now();
    let a = this.attempts.get(key);
    if (!a || a.expires < now) {
      if (a) this.attempts.delete(key);
      if (this.attempts.size >= MAX_ATTEMPT_ENTRIES) this.attempts.delete(this.attempts.keys().next().value as string);
      a = { count: 0, expires: now + COOKIE_LIFETIME_MS };
      this.attempts.set(key, a);
    }
    return ++a.count;
  }

  /** cookie = expiry in s (4) | 28 random bytes | HMAC(secret, first 32 bytes, client address) (32) */
  private makeCookie(address: string): Buffer {
    const c = Buffer.allocUnsafe(COOKIE_SIZE);
    c.writeUInt32BE(Math.floor((Date.now() + COOKIE_LIFETIME_MS) / 1000) >>> 0, 0);
    randomBytes(28).copy(c, 4);
    this.cookieMac(c, address).copy(c, 32);
    return c;
  }

  private cookieMac(c: Buffer, address: string): Buffer {
    return createHmac('sha256', this.secret).update(c.subarray(0, 32)).update(address).digest();
  }

  private checkCookie(c: Buffer, address: string): boolean {
    if (c.length !== COOKIE_SIZE) return false;
    if (c.readUInt32BE(0) * 1000 < Date.now()) return false;
    return timingSafeEqual(this.cookieMac(c, address), c.subarray(32));
  }

  private onIIKeying(data: Buffer, address: string): void {
    const k = parseIIKeying(data);
    const cookieKey = k.cookie.toString('hex');
    const known = this.pending.get(cookieKey);
    if (known && this.host.hasSession(known.sessionId)) {
      // the client did not get our RIKeying: same answer again
      this.host.send(known.response, address);
      return;
    }
    if (!this.checkCookie(k.cookie, address)) {
      this.host.debug(`RTMFP IIKeying from ${address}: unknown or expired cookie`);
      return;
    }
    if (k.initiatorSessionId === 0) return;
    let negotiated: ReturnType<typeof answerNegotiations>;
    try {
      negotiated = answerNegotiations(k.skic);
    } catch (e) {
      this.host.debug(`RTMFP IIKeying from ${address}: ${(e as Error).message}`);
      return;
    }
    const offered = certificateKeys(k.certificate);
    let group = selectedGroup(k.skic);
    if (group === null) group = [...offered.keys()].find((g) => SUPPORTED_GROUPS.includes(g)) ?? null;
    const farKey = group === null ? undefined : offered.get(group);
    const dh = group === null || !farKey ? null : dhKeyPair(group);
    if (!dh || !farKey) {
      this.host.debug(`RTMFP IIKeying from ${address}: no usable Diffie-Hellman group`);
      return;
    }
    const pub = dh.publicKey;
    let secret: Buffer;
    try {
      secret = dh.secret(farKey);
    } catch {
      this.host.debug(`RTMFP IIKeying from ${address}: invalid Diffie-Hellman public key`);
      return;
    }
    const skrc = buildResponderComponent(negotiated.options, group as number, pub);
    const keys = directionKeys(secret, k.skic, skrc);
    const peerId = createHash('sha256').update(k.certificate).digest();
    const sessionId = this.host.createSession({
      farId: k.initiatorSessionId,
      crypto: new SessionCrypto(keys.responder, keys.initiator, negotiated.protection),
      address,
      peerId,
    });
    const body = buildRIKeying({ responderSessionId: sessionId, skrc, signature: Buffer.from([FLASH_SIGNATURE]) });
    const response = this.sendStartup(CHUNK.RIKeying, body, address, k.initiatorSessionId);
    if (this.pending.size >= MAX_PENDING) this.pending.delete(this.pending.keys().next().value as string);
    this.pending.set(cookieKey, { sessionId, response, expires: Date.now() + COOKIE_LIFETIME_MS });
  }

  private sendRedirect(tag: Buffer, addresses: PeerAddress[], to: string): void {
    const parts = [vlu(tag.length), tag];
    for (const a of addresses.slice(0, 16)) {
      try {
        parts.push(encodeAddress(a.address, a.origin));
      } catch {
        // an unparsable address from a script is skipped
      }
    }
    this.sendStartup(CHUNK.Redirect, Buffer.concat(parts), to, 0);
  }

  private sendStartup(type: number, body: Buffer, address: string, farId: number): Buffer {
    const b = new PacketBuilder(0x0b, false, Math.max(1180, body.length + 8));
    b.addChunk(type, body);
    const len = b.finish(nowTimestamp(), 0);
    const datagram = encryptPacket(b.buf, len, DEFAULT_KEY, farId);
    this.host.send(datagram, address);
    return datagram;
  }

  /** Drops expired entries (called every second by the server). */
  manage(now: number): void {
    for (const [k, p] of this.pending) if (p.expires < now) this.pending.delete(k);
    for (const [k, a] of this.attempts) if (a.expires < now) this.attempts.delete(k);
  }

  /** for tests and benches: unauthenticated state held */
  get stateSize(): number {
    return this.attempts.size + this.pending.size;
  }
}
