/**
 * Reads the UDP datagrams out of a pcapng file (the captures in test/fixtures/rtmfp): enough of the
 * format for our test vectors (section header, interface description, enhanced packet blocks,
 * Ethernet / Linux cooked / loopback links, IPv4 and IPv6).
 */
import * as fs from 'node:fs';

export interface Datagram {
  srcPort: number;
  dstPort: number;
  payload: Buffer;
}

export function readPcapUdp(file: string): Datagram[] {
  const buf = fs.readFileSync(file);
  const le = buf.readUInt32LE(8) === 0x1a2b3c4d;
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const u16 = (o: number) => (le ? buf.readUInt16LE(o) : buf.readUInt16BE(o));
  const links: number[] = [];
  const out: Datagram[] = [];
  let pos = 0;
  while (pos + 12 <= buf.length) {
    const type = u32(pos);
    const len = u32(pos + 4);
    if (type === 1) links.push(u16(pos + 8));
    else if (type === 6) {
      const iface = u32(pos + 8);
      const caplen = u32(pos + 20);
      const frame = buf.subarray(pos + 28, pos + 28 + caplen);
      const d = udpOf(frame, links[iface] ?? 1);
      if (d) out.push(d);
    }
    pos += len;
  }
  return out;
}

function udpOf(frame: Buffer, link: number): Datagram | null {
  let ip = link === 1 ? 14 : link === 113 ? 16 : link === 276 ? 20 : link === 0 ? 4 : link === 101 ? 0 : 14;
  if (link === 1 && frame.readUInt16BE(12) === 0x8100) ip += 4;
  const v = frame[ip] >> 4;
  let udp: number;
  if (v === 4) {
    if (frame[ip + 9] !== 17) return null;
    udp = ip + (frame[ip] & 0x0f) * 4;
  } else if (v === 6) {
    if (frame[ip + 6] !== 17) return null;
    udp = ip + 40;
  } else return null;
  const length = frame.readUInt16BE(udp + 4);
  return { srcPort: frame.readUInt16BE(udp), dstPort: frame.readUInt16BE(udp + 2), payload: frame.subarray(udp + 8, udp + length) };
}

/** The `RTMFP=> Request/Response` lines of a plaintext file: direction and bytes (from the flags byte). */
export function readPlaintexts(file: string): Array<{ request: boolean; bytes: Buffer }> {
  const out: Array<{ request: boolean; bytes: Buffer }> = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^RTMFP=> (Request|Response) [^|]*\|\s*(.*)$/.exec(line);
    if (m) out.push({ request: m[1] === 'Request', bytes: Buffer.from(m[2].replace(/\s+/g, ''), 'hex') });
  }
  return out;
}
