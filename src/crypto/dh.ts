/**
 * Ephemeral Diffie-Hellman over the MODP groups RTMFP (RFC 7425: groups 2, 5, 14) and RTMPE (group
 * 2, the 1024-bit one) use, through OpenSSL key objects: generating a key pair for a named group costs well under a millisecond,
 * where crypto.getDiffieHellman('modp2') re-validates its prime on every call (~50 ms). The peer's
 * raw public value is wrapped in a SubjectPublicKeyInfo (DER) to become a key object.
 */
import { createPublicKey, diffieHellman, generateKeyPairSync, getDiffieHellman, type KeyObject } from 'node:crypto';

const GROUP_NAMES: Record<number, string> = { 2: 'modp2', 5: 'modp5', 14: 'modp14' };
export const SUPPORTED_GROUPS = [2, 5, 14];
const primes = new Map<number, Buffer>();

function prime(group: number): Buffer {
  let p = primes.get(group);
  if (!p) {
    p = getDiffieHellman(GROUP_NAMES[group]).getPrime();
    primes.set(group, p);
  }
  return p;
}

function derLength(n: number): Buffer {
  if (n < 128) return Buffer.from([n]);
  const bytes: number[] = [];
  for (; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);
}

function derInteger(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  let v = b.subarray(i);
  if (v[0] & 0x80) v = Buffer.concat([Buffer.from([0]), v]);
  return tlv(0x02, v);
}

/** OID 1.2.840.113549.1.3.1 (dhKeyAgreement) */
const DH_OID = Buffer.from('06092a864886f70d010301', 'hex');

function spki(group: number, y: Buffer): Buffer {
  const params = tlv(0x30, Buffer.concat([derInteger(prime(group)), derInteger(Buffer.from([2]))]));
  const algorithm = tlv(0x30, Buffer.concat([DH_OID, params]));
  return tlv(0x30, Buffer.concat([algorithm, tlv(0x03, Buffer.concat([Buffer.from([0]), derInteger(y)]))]));
}

/** Reads the public value y back out of our own SubjectPublicKeyInfo. */
function spkiValue(der: Buffer): Buffer {
  let o = 0;
  const header = () => {
    o++; // tag
    let l = der[o++];
    if (l & 0x80) {
      const n = l & 0x7f;
      l = 0;
      for (let k = 0; k < n; k++) l = l * 256 + der[o++];
    }
    return l;
  };
  header(); // SubjectPublicKeyInfo
  const algorithm = header(); // (read first: `o += header()` would add to the old offset)
  o += algorithm;
  header(); // BIT STRING
  o++; // unused bits
  const len = header(); // INTEGER y
  return der.subarray(o, o + len);
}

/** Node supports 'dh' key pairs for named groups; @types/node 20 lacks that overload */
const generateDhKeyPair = generateKeyPairSync as unknown as (type: 'dh', options: { group: string }) => { privateKey: KeyObject; publicKey: KeyObject };

export class DhKeyPair {
  /** our public value, left-padded to the prime's length (what peers expect on the wire) */
  readonly publicKey: Buffer;
  private readonly privateKey: KeyObject;

  constructor(readonly group: number) {
    const { privateKey, publicKey } = generateDhKeyPair('dh', { group: GROUP_NAMES[group] });
    this.privateKey = privateKey;
    const y = spkiValue(publicKey.export({ type: 'spki', format: 'der' }));
    const size = prime(group).length;
    const raw = y.subarray(Math.max(0, y.length - size));
    this.publicKey = Buffer.alloc(size);
    raw.copy(this.publicKey, size - raw.length);
  }

  /**
   * The shared secret as OpenSSL's DH_compute_key gives it (leading zero bytes removed), which is
   * what librtmfp, MonaServer and Flash feed to the key derivation. Throws on an invalid key.
   */
  secret(farPublicKey: Buffer): Buffer {
    const far = createPublicKey({ key: spki(this.group, farPublicKey), format: 'der', type: 'spki' });
    const s = diffieHellman({ privateKey: this.privateKey, publicKey: far });
    let i = 0;
    while (i < s.length - 1 && s[i] === 0) i++;
    return s.subarray(i);
  }
}

/** A fresh key pair for a supported group, null for any other group id. */
export function dhKeyPair(group: number): DhKeyPair | null {
  return GROUP_NAMES[group] ? new DhKeyPair(group) : null;
}
