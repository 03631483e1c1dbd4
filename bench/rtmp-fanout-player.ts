/**
 * The benchmark's lightweight RTMP player: handshake, connect, createStream, play, then a chunk
 * parser that reads headers and skips media payloads while counting them (no reassembly, no
 * copies), answers pings and acknowledges windows. Thousands fit in one Node process.
 */
import * as net from 'node:net';
import { Table } from '../src/serialization/value';
import { clientHello } from '../src/protocols/rtmp/client';
import { encodeMessage, u32 } from '../src/protocols/rtmp/chunk-writer';
import { decodeCommand, encodeCommand } from '../src/protocols/flash/messages';

const SIG = 1536;
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

interface Cs {
  len: number;
  type: number;
  /** bytes of the current message still to come */
  remaining: number;
  /** non-media messages are collected (they are small) */
  parts: Buffer[] | null;
}

export class LightPlayer {
  readonly socket: net.Socket;
  mediaBytes = 0;
  playing = false;
  closed = false;
  private hs: Buffer[] = [];
  private hsLen = 0;
  handshaken = false;
  connected = false;
  private chunkSize = 128;
  private streams = new Map<number, Cs>();
  private leftover: Buffer | null = null;
  /** payload bytes of the current chunk not yet consumed, and its chunk stream */
  private chunkLeft = 0;
  private current: Cs | null = null;
  private received = 0;
  private acked = 0;
  private window = 2_500_000;

  constructor(port: number, private readonly app: string, private readonly stream: string, readonly stall = false) {
    // every player reads into one shared buffer: parsing is synchronous and keeps no view of it
    this.socket = net.connect({
      host: '127.0.0.1',
      port,
      onread: { buffer: READ_BUFFER, callback: (n: number, buf: Uint8Array) => this.onRead(n, buf) },
    });
    this.socket.setNoDelay(true);
    this.socket.on('connect', () => {
      this.connected = true;
      this.socket.write(clientHello(true));
    });
    this.socket.on('error', () => {});
    this.socket.on('close', () => (this.closed = true));
  }

  private send(csid: number, type: number, streamId: number, payload: Buffer): void {
    for (const b of encodeMessage(csid, type, streamId, 0, payload, 128)) this.socket.write(b);
  }

  private command(name: string, txn: number, obj: Table | null, args: (string | number | null)[], streamId = 0): void {
    const { type, payload } = encodeCommand(false, name, txn, obj, args);
    this.send(streamId ? 8 : 3, type, streamId, payload);
  }

  private onRead(n: number, buf: Uint8Array): boolean {
    this.onData((buf as Buffer).subarray(0, n));
    return true;
  }

  private onData(d: Buffer): void {
    this.received += d.length;
    if (!this.handshaken) {
      this.hs.push(Buffer.from(d));
      this.hsLen += d.length;
      if (this.hsLen < 1 + 2 * SIG) return;
      const all = Buffer.concat(this.hs);
      this.hs = [];
      this.handshaken = true;
      this.socket.write(all.subarray(1, 1 + SIG));
      const tcUrl = `rtmp://127.0.0.1:${this.socket.remotePort}/${this.app}`;
      this.command('connect', 1, Table.of({ app: this.app, tcUrl, flashVer: 'LNX 9,0,124,2', fpad: false, capabilities: 15, audioCodecs: 3191, videoCodecs: 252, videoFunction: 1 }), []);
      d = all.subarray(1 + 2 * SIG);
      if (!d.length) return;
    }
    if (this.received - this.acked >= this.window) {
      this.acked = this.received;
      this.send(2, 3, 0, u32(this.received));
    }
    if (this.leftover) {
      d = Buffer.concat([this.leftover, d]);
      this.leftover = null;
    }
    this.parse(d);
  }

  private parse(b: Buffer): void {
    let p = 0;
    const n = b.length;
    while (p < n) {
      if (this.chunkLeft > 0) {
        const take = Math.min(this.chunkLeft, n - p);
        const cs = this.current as Cs;
        if (cs.parts) cs.parts.push(b.subarray(p, p + take));
        else this.mediaBytes += take;
        p += take;
        this.chunkLeft -= take;
        cs.remaining -= take;
        if (cs.remaining === 0 && cs.parts) {
          const parts = cs.parts;
          cs.parts = null;
          this.onMessage(cs.type, parts.length === 1 ? parts[0] : Buffer.concat(parts));
        }
        continue;
      }
      // header
      const start = p;
      const first = b[p];
      const fmt = first >> 6;
      let csid = first & 0x3f;
      let q = p + 1;
      if (csid === 0) {
        if (n - q < 1) break;
        csid = 64 + b[q++];
      } else if (csid === 1) {
        if (n - q < 2) break;
        csid = 64 + b[q] + b[q + 1] * 256;
        q += 2;
      }
      const hsize = fmt === 0 ? 11 : fmt === 1 ? 7 : fmt === 2 ? 3 : 0;
      if (n - q < hsize) {
        p = start;
        break;
      }
      let cs = this.streams.get(csid);
      if (!cs) this.streams.set(csid, (cs = { len: 0, type: 0, remaining: 0, parts: null }));
      let ext = false;
      if (fmt <= 2) ext = b.readUIntBE(q, 3) === 0xffffff;
      if (fmt <= 1) {
        cs.len = b.readUIntBE(q + 3, 3);
        cs.type = b[q + 6];
      }
      q += hsize;
      if (ext) {
        if (n - q < 4) {
          p = start;
          break;
        }
        q += 4;
      }
      if (cs.remaining === 0) {
        cs.remaining = cs.len;
        cs.parts = cs.type === 8 || cs.type === 9 ? null : [];
        if (cs.len === 0) {
          p = q;
          continue;
        }
      }
      this.current = cs;
      this.chunkLeft = Math.min(this.chunkSize, cs.remaining);
      p = q;
    }
    if (p < n) this.leftover = Buffer.from(b.subarray(p));
  }

  private onMessage(type: number, payload: Buffer): void {
    switch (type) {
      case 1:
        this.chunkSize = payload.readUInt32BE(0) & 0x7fffffff;
        break;
      case 5:
        this.window = Math.max(1, payload.readUInt32BE(0));
        break;
      case 4:
        if (payload.readUInt16BE(0) === 6) {
          const out = Buffer.from(payload);
          out.writeUInt16BE(7, 0);
          this.send(2, 4, 0, out);
        }
        break;
      case 20:
      case 17: {
        let c;
        try {
          c = decodeCommand(type, payload);
        } catch {
          return;
        }
        if (c.name === '_result' && c.transaction === 1) this.command('createStream', 2, null, []);
        else if (c.name === '_result' && c.transaction === 2 && typeof c.args[0] === 'number') {
          const id = c.args[0];
          this.command('play', 0, null, [this.stream, -1000], id);
          const buf = Buffer.alloc(10);
          buf.writeUInt16BE(3, 0);
          buf.writeUInt32BE(id, 2);
          buf.writeUInt32BE(1000, 6);
          this.send(2, 4, 0, buf);
          this.playing = true;
          if (this.stall) setTimeout(() => this.socket.pause(), 1000);
        }
        break;
      }
      default:
        break;
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
