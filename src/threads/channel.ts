/**
 * The script channel between a worker and the primary (`threads`): one UNIX socket pair per
 * worker, the worker's end read and written with blocking calls, the primary's end an ordinary
 * stream. Every message is a 4-byte big-endian length then the values of the message in the server
 * link's AMF mix (cluster/codec.ts): `[op, ...args]` from the worker, `[status, result, effects]`
 * back for the calls that wait for an answer.
 *
 * The worker blocks while it waits for an answer, so its sessions keep the order of their messages
 * exactly as with one process, and the primary never waits for a worker (what the scripts do to a
 * worker's clients is sent to it, never asked), so neither side can wait for the other in a circle.
 */
import * as fs from 'node:fs';
import { decodeArgs, encodeArgs } from '../cluster/codec';
import type { Value } from '../serialization/value';

/** A message larger than this is refused (a script writing megabytes into one call still fits). */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

export function frame(values: readonly Value[]): Buffer {
  const body = encodeArgs(values);
  if (body.length > MAX_MESSAGE_BYTES) throw new RangeError(`script message of ${body.length} bytes (at most ${MAX_MESSAGE_BYTES})`);
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  body.copy(out, 4);
  return out;
}

/** The channel closed under a worker waiting for an answer (the primary is gone). */
export class ChannelClosed extends Error {
  constructor() {
    super('the primary process is gone');
    this.name = 'ChannelClosed';
  }
}

/** The worker's end: blocking writes and reads on a file descriptor. */
export class BlockingEnd {
  private readonly head = Buffer.allocUnsafe(4);

  constructor(private readonly fd: number) {}

  /** A message that expects no answer. */
  send(values: readonly Value[]): void {
    this.write(frame(values));
  }

  /** A message, then the answer (blocks until it comes). */
  call(values: readonly Value[]): Value[] {
    this.write(frame(values));
    this.readExactly(this.head, 4);
    const n = this.head.readUInt32BE(0);
    if (n > MAX_MESSAGE_BYTES) throw new RangeError(`answer of ${n} bytes`);
    const body = Buffer.allocUnsafe(n);
    this.readExactly(body, n);
    return decodeArgs(body);
  }

  private write(data: Buffer): void {
    for (let pos = 0; pos < data.length; ) {
      try {
        pos += fs.writeSync(this.fd, data, pos, data.length - pos);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
        if ((e as NodeJS.ErrnoException).code === 'EPIPE') throw new ChannelClosed();
        throw e;
      }
    }
  }

  private readExactly(out: Buffer, n: number): void {
    for (let pos = 0; pos < n; ) {
      let k: number;
      try {
        k = fs.readSync(this.fd, out, pos, n - pos, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
        throw e;
      }
      if (k === 0) throw new ChannelClosed();
      pos += k;
    }
  }
}

/** Cuts a stream of messages into their values (the primary's end). */
export class MessageReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** The messages `chunk` completes; throws RangeError on an oversized one. */
  push(chunk: Buffer): Value[][] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: Value[][] = [];
    while (this.buffered >= 4) {
      let all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
      this.chunks = [all];
      const n = all.readUInt32BE(0);
      if (n > MAX_MESSAGE_BYTES) throw new RangeError(`script message of ${n} bytes`);
      if (this.buffered < 4 + n) break;
      out.push(decodeArgs(all.subarray(4, 4 + n)));
      all = all.subarray(4 + n);
      this.chunks = all.length ? [all] : [];
      this.buffered = all.length;
    }
    return out;
  }
}
