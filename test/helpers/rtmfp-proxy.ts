/**
 * A UDP proxy for tests: sits between one client and the server, and on each direction drops a
 * share of the datagrams and holds back another share so it arrives after later ones (reordering),
 * with a seeded PRNG so a run is repeatable.
 */
import * as dgram from 'node:dgram';
import { prng } from './prng';

export interface ProxyOptions {
  serverPort: number;
  loss: number;
  reorder: number;
  seed: number;
  /** ms a reordered datagram is held */
  holdMs?: number;
}

export class LossyProxy {
  private readonly front = dgram.createSocket('udp4');
  private readonly back = dgram.createSocket('udp4');
  private clientPort = 0;
  private readonly random: () => number;
  dropped = 0;
  reordered = 0;
  forwarded = 0;
  private timers = new Set<NodeJS.Timeout>();

  constructor(private readonly o: ProxyOptions) {
    this.random = prng(o.seed);
    this.front.on('message', (m, r) => {
      this.clientPort = r.port;
      this.pass(m, (d) => this.back.send(d, o.serverPort, '127.0.0.1'));
    });
    this.back.on('message', (m) => {
      if (this.clientPort) this.pass(m, (d) => this.front.send(d, this.clientPort, '127.0.0.1'));
    });
  }

  private pass(m: Buffer, send: (d: Buffer) => void): void {
    const x = this.random();
    if (x < this.o.loss) {
      this.dropped++;
      return;
    }
    this.forwarded++;
    if (x < this.o.loss + this.o.reorder) {
      this.reordered++;
      const t = setTimeout(() => {
        this.timers.delete(t);
        send(m);
      }, this.o.holdMs ?? 15);
      this.timers.add(t);
      return;
    }
    send(m);
  }

  async start(): Promise<number> {
    await new Promise<void>((r) => this.front.bind(0, '127.0.0.1', () => r()));
    await new Promise<void>((r) => this.back.bind(0, '127.0.0.1', () => r()));
    return this.front.address().port;
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    await new Promise<void>((r) => this.front.close(() => r()));
    await new Promise<void>((r) => this.back.close(() => r()));
  }
}
