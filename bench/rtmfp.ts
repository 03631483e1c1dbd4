/**
 * RTMFP bench (issue 5), run by hand: `npx tsc -p . && node dist/bench/rtmfp.js`.
 * The server runs in a child process (bench/rtmfp-server.ts); our TS client (test/helpers) drives it
 * from this process, so on a 2-core machine both compete for the CPU — figures are lower bounds.
 *  1. handshakes per second: complete handshakes (IHello … RIKeying, DH 1024-bit both sides) with
 *     16 in flight;
 *  2. concurrent idle sessions: N connected NetConnections, server memory per session (after GC);
 *  3. publish → play throughput: one publisher, 1 and 4 players, 10 KB frames, bytes delivered/s,
 *     the publisher kept at most 512 KB ahead of the slowest player (what the chain sustains).
 */
import { fork, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { RtmfpTestClient, type Media } from '../test/helpers/rtmfp-client';

interface Mem {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

function ask(child: ChildProcess): Promise<{ mem: Mem; sessions: number }> {
  return new Promise((resolve) => {
    child.once('message', (m) => resolve(m as { mem: Mem; sessions: number }));
    child.send('mem');
  });
}

const mb = (n: number) => (n / 1048576).toFixed(1) + ' MB';

async function handshakes(port: number, total: number, parallel: number): Promise<void> {
  let started = 0;
  let done = 0;
  const t0 = performance.now();
  const clients: RtmfpTestClient[] = [];
  async function worker(): Promise<void> {
    while (started < total) {
      started++;
      const c = new RtmfpTestClient({ port });
      clients.push(c);
      await c.handshake(`rtmfp://127.0.0.1:${port}/live`);
      done++;
      await c.close();
    }
  }
  await Promise.all(Array.from({ length: parallel }, worker));
  const s = (performance.now() - t0) / 1000;
  console.log(`handshakes: ${done} in ${s.toFixed(2)} s = ${(done / s).toFixed(0)}/s (${parallel} in flight, client DH in the same process)`);
}

async function idleSessions(child: ChildProcess, port: number, n: number): Promise<RtmfpTestClient[]> {
  const before = await ask(child);
  const clients: RtmfpTestClient[] = [];
  for (let i = 0; i < n; i += 50) {
    const batch = Array.from({ length: Math.min(50, n - i) }, () => new RtmfpTestClient({ port }));
    await Promise.all(batch.map((c) => c.connect(`rtmfp://127.0.0.1:${port}/live`)));
    clients.push(...batch);
  }
  await new Promise((r) => setTimeout(r, 500));
  const after = await ask(child);
  const per = (k: keyof Mem) => ((after.mem[k] - before.mem[k]) / n / 1024).toFixed(1);
  console.log(
    `idle sessions: ${after.sessions} connected; server heap ${mb(before.mem.heapUsed)} → ${mb(after.mem.heapUsed)}, rss ${mb(before.mem.rss)} → ${mb(after.mem.rss)}; ` +
      `per session: heap ${per('heapUsed')} KB, rss ${per('rss')} KB`,
  );
  return clients;
}

async function throughput(port: number, players: number, seconds: number): Promise<void> {
  const pub = new RtmfpTestClient({ port });
  await pub.connect(`rtmfp://127.0.0.1:${port}/live`);
  const name = `bench${players}`;
  const ps = await pub.publish(name);
  const subs = await Promise.all(
    Array.from({ length: players }, async () => {
      const s = new RtmfpTestClient({ port });
      await s.connect(`rtmfp://127.0.0.1:${port}/live`);
      await s.play(name);
      return s;
    }),
  );
  let received = 0;
  const perPlayer = subs.map(() => 0);
  subs.forEach((s, i) => s.on('media', (m: Media) => ((received += m.body.length), (perPlayer[i] += m.body.length))));
  const frame = Buffer.alloc(10_000, 7);
  frame[0] = 0x17; // key frames: the listener never waits
  frame[1] = 1;
  let sent = 0;
  let time = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    // closed loop: at most ~512 KB published and not yet delivered to the slowest player, so the
    // figure is what the server sustains end to end, not how fast the listeners drop frames
    while (sent - Math.min(...perPlayer) < 512_000) {
      pub.sendMedia(ps, 9, (time += 10), frame);
      sent += frame.length;
    }
    await new Promise((r) => setImmediate(r));
  }
  const s = (performance.now() - t0) / 1000;
  console.log(
    `publish→play, ${players} player(s): published ${mb(sent / s)}/s, delivered ${mb(received / s)}/s in total (${mb(received / s / players)}/s each) over ${s.toFixed(1)} s`,
  );
  await pub.close();
  await Promise.all(subs.map((x) => x.close()));
}

async function main(): Promise<void> {
  const child = fork(path.join(__dirname, 'rtmfp-server.js'), ['0'], { execArgv: ['--expose-gc'] });
  const port = await new Promise<number>((resolve) => child.once('message', (m) => resolve((m as { port: number }).port)));
  try {
    await handshakes(port, 400, 16);
    const idle = await idleSessions(child, port, Number(process.env.IDLE ?? 2000));
    await Promise.all(idle.map((c) => c.close()));
    await throughput(port, 1, 5);
    await throughput(port, 4, 5);
  } finally {
    child.send('stop');
  }
}

void main();
