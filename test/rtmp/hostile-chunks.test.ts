/**
 * A peer that sends messages in 1-byte chunks on many chunk streams and never finishes them must
 * cost the server bounded memory, in bytes and in pieces, while a healthy player keeps playing
 * (before, every 1-byte chunk body was kept as its own Buffer view: +150 MB for 1.6 MB of payload). The real server runs in a child process (its RSS read
 * from /proc); the attacker stops early once the server's RSS grew past the bound, so the test stays
 * bounded in time and memory whatever the server does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import { RTMPClient, clientHello } from '../../src/protocols/rtmp/client';
import { messageHeader, u32, encodeMessage } from '../../src/protocols/rtmp/chunk-writer';
import { MessageType } from '../../src/protocols/rtmp/constants';
import { SIG_SIZE } from '../../src/protocols/rtmp/handshake-crypto';
import { freePorts, startCli, tempDir, writeIni, type RunningChild } from '../process/helpers';
import { sleep } from './helpers';

/** RSS growth the server may show for one hostile connection (what it holds is bounded well below). */
const RSS_BOUND_MB = 64;

function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

async function startServer(): Promise<{ child: RunningChild; port: number; dir: string }> {
  const dir = tempDir('rtmp-hostile-');
  fs.mkdirSync(`${dir}/www/live`, { recursive: true });
  const ports = await freePorts();
  const ini = writeIni(dir, { ...ports, rtmfp: 0, http: 0, rtsp: 0 }, '[RTMP]\nhost=127.0.0.1');
  const child = startCli([`--config=${ini}`, '--log=5'], dir);
  await child.waitFor(/RTMP server started/);
  return { child, port: ports.rtmp, dir };
}

/** A raw TCP peer done with the (plain) handshake. */
async function rawPeer(port: number): Promise<net.Socket> {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    s.once('connect', () => s.write(clientHello(false)));
    let got = 0;
    const onData = (d: Buffer) => {
      got += d.length;
      if (got >= 1 + 2 * SIG_SIZE) {
        s.off('data', onData);
        s.write(Buffer.alloc(SIG_SIZE)); // C2: the server tolerates any
        resolve();
      }
    };
    s.on('data', onData);
    s.once('close', () => reject(new Error('closed during handshake')));
  });
  return s;
}

/** Writes `buf` and waits for the socket to drain (so the attacker measures what the server took). */
function write(s: net.Socket, buf: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    if (s.destroyed) return resolve(false);
    if (s.write(buf)) return resolve(true);
    const done = () => {
      s.off('close', done);
      resolve(!s.destroyed);
    };
    s.once('drain', done);
    s.once('close', done);
  });
}

interface Healthy {
  publisher: RTMPClient;
  player: RTMPClient;
  frames(): number;
  stop(): void;
}

/** A publisher sending a key frame every 40 ms and a player counting what it gets. */
async function healthyPair(port: number): Promise<Healthy> {
  const publisher = new RTMPClient({ port });
  await publisher.connect('live');
  const pid = await publisher.createStream();
  publisher.command('publish', ['ok'], pid);
  await publisher.status(pid, 'NetStream.Publish.Start');
  const player = new RTMPClient({ port });
  await player.connect('live');
  const vid = await player.createStream();
  player.command('play', ['ok'], vid);
  await player.status(vid, 'NetStream.Play.Start');
  let frames = 0;
  player.onMessage = (m) => {
    if (m.type === MessageType.Video) frames++;
  };
  let t = 0;
  const timer = setInterval(() => publisher.sendVideo(pid, (t += 40), Buffer.from([0x17, 1, 0, 0, 0, t & 0xff])), 40);
  return { publisher, player, frames: () => frames, stop: () => clearInterval(timer) };
}

test('1-byte chunks on 100 chunk streams, 8 MB of never-finished payload: server RSS stays bounded, a player keeps playing', { timeout: 120_000 }, async (t) => {
  const { child, port, dir } = await startServer();
  const pid = child.child.pid!;
  let healthy: Healthy | null = null;
  const attacker = await rawPeer(port);
  try {
    healthy = await healthyPair(port);
    await sleep(300);
    const base = rssMB(pid);
    // chunk size 1, then on each of 100 chunk streams a message announcing 1 MB
    await write(attacker, Buffer.concat(encodeMessage(2, MessageType.SetChunkSize, 0, 0, u32(1), 128)));
    const streams = 100;
    const opening: Buffer[] = [];
    for (let cs = 3; cs < 3 + streams; cs++) opening.push(messageHeader(cs, MessageType.Audio, 1, 0, 1024 * 1024), Buffer.from([cs]));
    await write(attacker, Buffer.concat(opening));
    // then rounds of one 1-byte chunk per stream (type-3 header + 1 byte): 80 KB of payload each
    const round: number[] = [];
    for (let cs = 3; cs < 3 + streams; cs++) {
      if (cs < 64) round.push(0xc0 | cs, cs);
      else round.push(0xc0, cs - 64, cs); // two-byte basic header for csid 64..319
    }
    const payloadPerRound = streams;
    const batch = Buffer.concat(Array.from({ length: 800 }, () => Buffer.from(round)));
    const framesBefore = healthy.frames();
    let sent = 0;
    let peak = 0;
    const target = 8 * 1024 * 1024;
    while (sent < target) {
      if (!(await write(attacker, batch))) break;
      sent += 800 * payloadPerRound;
      peak = Math.max(peak, rssMB(pid) - base);
      if (peak > RSS_BOUND_MB) break; // the server is not bounded: stop before it costs the machine
    }
    await sleep(500);
    peak = Math.max(peak, rssMB(pid) - base);
    t.diagnostic(`server RSS +${peak.toFixed(1)} MB for ${(sent / 1048576).toFixed(1)} MB of partial payload; player frames during the attack: ${healthy.frames() - framesBefore}`);
    assert.ok(peak <= RSS_BOUND_MB, `server RSS grew ${peak.toFixed(0)} MB for ${(sent / 1048576).toFixed(1)} MB of partial payload (bound ${RSS_BOUND_MB} MB)`);
    assert.ok(sent >= target || attacker.destroyed, `the attacker sent everything (${sent}) or was cut off`);
    const during = healthy.frames() - framesBefore;
    assert.ok(during >= 10, `the player kept playing during the attack (${during} frames)`);
    const after = healthy.frames();
    await healthy.player.until(() => healthy!.frames() >= after + 10, 10_000, 'frames after the attack');
    assert.ok(!healthy.player.closed);
  } finally {
    healthy?.stop();
    attacker.destroy();
    await healthy?.publisher.close();
    await healthy?.player.close();
    child.kill();
    await child.exited;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
