/**
 * Handshake chunk bodies (RFC 7016 section 2.3.2-2.3.7) as plain records, with parsers that throw
 * RtmfpFormatError on truncation and builders used by the server and by our test client.
 */
import { isIP } from 'node:net';
import { Reader, RtmfpFormatError, option, readOptions, vlu, type RtmfpOption } from './binary';

/** Endpoint discriminator option types (RFC 7425 4.4.1) */
export const EPD_URL = 0x0a;
export const EPD_PEER_ID = 0x0f;

/** Certificate / session key component option types (RFC 7425 4.3, 4.6) */
export const OPT_EXTRA_RANDOMNESS = 0x0e;
export const OPT_SUPPORTED_GROUP = 0x15;
export const OPT_DH_PUBLIC_KEY = 0x1d;
export { OPT_HMAC_NEGOTIATION, OPT_SSEQ_NEGOTIATION } from './session-crypto';
/** what Flash and MonaServer put before the responder's public key in the responder component */
export const OPT_RESPONDER_PUBLIC_KEY = 0x0d;
/** the one signature byte Flash peers append to IIKeying/RIKeying */
export const FLASH_SIGNATURE = 0x58;

export interface IHello {
  epd: RtmfpOption[];
  tag: Buffer;
}

export interface RHello {
  tag: Buffer;
  cookie: Buffer;
  certificate: Buffer;
}

export interface IIKeying {
  initiatorSessionId: number;
  cookie: Buffer;
  certificate: Buffer;
  skic: Buffer;
  signature: Buffer;
}

export interface RIKeying {
  responderSessionId: number;
  skrc: Buffer;
  signature: Buffer;
}

export function parseIHello(data: Buffer): IHello {
  const r = new Reader(data);
  const epdLen = r.vlu();
  const epdEnd = r.pos + epdLen;
  if (epdEnd > r.end) throw new RtmfpFormatError('IHello endpoint discriminator overruns');
  const epd = readOptions(r, epdEnd);
  const tag = r.rest();
  if (tag.length === 0 || tag.length > 64) throw new RtmfpFormatError(`IHello tag of ${tag.length} bytes`);
  return { epd, tag };
}

export function buildIHello(epd: Buffer, tag: Buffer): Buffer {
  return Buffer.concat([vlu(epd.length), epd, tag]);
}

export function parseRHello(data: Buffer): RHello {
  const r = new Reader(data);
  const tag = r.bytes(r.vlu());
  const cookie = r.bytes(r.vlu());
  return { tag, cookie, certificate: r.rest() };
}

export function buildRHello(h: RHello): Buffer {
  return Buffer.concat([vlu(h.tag.length), h.tag, vlu(h.cookie.length), h.cookie, h.certificate]);
}

export function parseIIKeying(data: Buffer): IIKeying {
  const r = new Reader(data);
  const initiatorSessionId = r.u32();
  const cookie = r.bytes(r.vlu());
  const certificate = r.bytes(r.vlu());
  const skic = r.bytes(r.vlu());
  return { initiatorSessionId, cookie, certificate, skic, signature: r.rest() };
}

export function buildIIKeying(k: IIKeying): Buffer {
  const id = Buffer.allocUnsafe(4);
  id.writeUInt32BE(k.initiatorSessionId >>> 0, 0);
  return Buffer.concat([id, vlu(k.cookie.length), k.cookie, vlu(k.certificate.length), k.certificate, vlu(k.skic.length), k.skic, k.signature]);
}

export function parseRIKeying(data: Buffer): RIKeying {
  const r = new Reader(data);
  const responderSessionId = r.u32();
  const skrc = r.bytes(r.vlu());
  return { responderSessionId, skrc, signature: r.rest() };
}

export function buildRIKeying(k: RIKeying): Buffer {
  const id = Buffer.allocUnsafe(4);
  id.writeUInt32BE(k.responderSessionId >>> 0, 0);
  return Buffer.concat([id, vlu(k.skrc.length), k.skrc, k.signature]);
}

/** Every option of a certificate or key component (they are bare option lists). */
export function parseOptionList(data: Buffer): RtmfpOption[] {
  return readOptions(new Reader(data));
}

/** The DH public keys an initiator offers in its certificate, by group id. */
export function certificateKeys(certificate: Buffer): Map<number, Buffer> {
  const keys = new Map<number, Buffer>();
  for (const o of parseOptionList(certificate)) {
    if (o.type !== OPT_DH_PUBLIC_KEY) continue;
    const r = new Reader(o.value);
    const group = r.vlu();
    if (!keys.has(group)) keys.set(group, r.rest());
  }
  return keys;
}

/** The group the initiator selected in its key component (RFC 7425: option 0x1d with only a group id). */
export function selectedGroup(skic: Buffer): number | null {
  for (const o of parseOptionList(skic)) {
    if (o.type === OPT_DH_PUBLIC_KEY) return new Reader(o.value).vlu();
  }
  return null;
}

/** The server certificate: extra randomness (MonaServer's instance id) and the supported groups. */
export function buildServerCertificate(randomness: Buffer, groups: number[]): Buffer {
  return Buffer.concat([
    option(EPD_URL, Buffer.alloc(0)), // "accepts ancillary data" marker Flash servers send (01 0A)
    option(OPT_EXTRA_RANDOMNESS, randomness),
    ...groups.map((g) => option(OPT_SUPPORTED_GROUP, vlu(g))),
  ]);
}

/**
 * Responder session key component: our answers to the HMAC and session sequence number
 * negotiations (session-crypto.ts), then our DH public key.
 */
export function buildResponderComponent(negotiations: Buffer, group: number, publicKey: Buffer): Buffer {
  return Buffer.concat([negotiations, option(OPT_RESPONDER_PUBLIC_KEY, Buffer.concat([vlu(group), publicKey]))]);
}

/** The responder's public key and group from its key component (the client side of our tests). */
export function responderKey(skrc: Buffer): { group: number; key: Buffer } | null {
  for (const o of parseOptionList(skrc)) {
    if (o.type === OPT_RESPONDER_PUBLIC_KEY || o.type === OPT_DH_PUBLIC_KEY) {
      const r = new Reader(o.value);
      return { group: r.vlu(), key: r.rest() };
    }
  }
  return null;
}

/** RFC 7016 address format in Redirect chunks: flags (0x80 = IPv6, low 2 bits = origin), IP, port. */
export function encodeAddress(address: string, origin: number): Buffer {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(address.slice(i + 1));
  if (!isIP(host) || !(port >= 0 && port <= 0xffff)) throw new RangeError(`not an ip:port address: ${address}`);
  if (host.includes(':')) {
    const out = Buffer.alloc(19);
    out[0] = 0x80 | origin;
    const parts = expandIPv6(host);
    for (let k = 0; k < 8; k++) out.writeUInt16BE(parts[k], 1 + k * 2);
    out.writeUInt16BE(port, 17);
    return out;
  }
  const out = Buffer.alloc(7);
  out[0] = origin;
  host.split('.').forEach((b, k) => (out[1 + k] = Number(b) & 0xff));
  out.writeUInt16BE(port, 5);
  return out;
}

function expandIPv6(host: string): number[] {
  const [head, tail] = host.split('::');
  const h = head ? head.split(':').map((x) => parseInt(x, 16)) : [];
  const t = tail !== undefined && tail ? tail.split(':').map((x) => parseInt(x, 16)) : [];
  return [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
}
