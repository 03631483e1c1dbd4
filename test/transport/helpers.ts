/**
 * For the attack tests: the real server (CLI) in a child process, so its memory is its own; its
 * RSS from /proc; a healthy client (a static file over HTTP, an RPC over WebSocket) timed while an
 * attack runs; raw masked WebSocket frames.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { TestContext } from 'node:test';
import WebSocket from 'ws';
import { encodeMaskedFrame } from '../../src/protocols/websocket/frames';
import { freePorts, startCli, tempDir, writeIni, type RunningChild } from '../process/helpers';

export const APP_LUA = `
function onConnection(client)
  function client:echo(x) return x end
  function client:set(v) stored = v end
  function client:get() return stored end
end
`;

export interface ChildServer {
  http: number;
  rtmp: number;
  dir: string;
  proc: RunningChild;
  pid: number;
  rssMB(): number;
  alive(): boolean;
}

/** The CLI server with HTTP (and RTMP) on free ports, app `/app` with echo/set/get, `extra` ini lines. */
export async function childServer(t: TestContext, extra: string, prefix = ''): Promise<ChildServer> {
  const dir = tempDir('monats-attack-');
  fs.mkdirSync(path.join(dir, 'www', 'app'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'www', 'app', 'main.lua'), APP_LUA);
  fs.writeFileSync(path.join(dir, 'www', 'a.txt'), 'hello');
  fs.writeFileSync(path.join(dir, 'www', 'big.bin'), Buffer.alloc(60 * 1024, 7));
  const ports = await freePorts();
  const ini = writeIni(dir, { ...ports, rtmfp: 0, rtsp: 0 }, extra);
  // `prefix`: a shell line run before the server (ulimit -n)
  const proc = prefix ? startCli(['--config=' + ini], dir, undefined, prefix) : startCli(['--config=' + ini], dir);
  t.after(() => {
    proc.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  await proc.waitFor(/HTTP server started on/);
  const pid = proc.child.pid!;
  return {
    http: ports.http,
    rtmp: ports.rtmp,
    dir,
    proc,
    pid,
    rssMB: () => {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'latin1'));
      return m ? Number(m[1]) / 1024 : 0;
    },
    alive: () => proc.child.exitCode === null && proc.child.signalCode === null,
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** One GET on a fresh connection; resolves with the milliseconds it took (rejects past `timeoutMs`). */
export function timedGet(port: number, file = '/a.txt', timeoutMs = 30_000, localAddress = '127.0.0.1'): Promise<number> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress });
    let text = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`GET ${file}: no answer in ${timeoutMs} ms`));
    }, timeoutMs);
    s.on('data', (d) => {
      text += d.toString('latin1');
      if (/\r\n\r\nhello$/.test(text)) {
        clearTimeout(timer);
        s.destroy();
        resolve(Date.now() - started);
      }
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.write(`GET ${file} HTTP/1.1\r\nHost: t\r\n\r\n`);
  });
}

/** A WebSocket client of /app timing `["echo", n]` round trips. */
export async function rpcClient(port: number): Promise<{ echo(): Promise<number>; close(): void }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/app/`);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  let n = 0;
  return {
    echo: () =>
      new Promise<number>((resolve, reject) => {
        const started = Date.now();
        const id = ++n;
        const timer = setTimeout(() => reject(new Error('RPC over WebSocket: no answer in 30 s')), 30_000);
        const onMessage = (d: WebSocket.RawData) => {
          if (d.toString() !== `[${id}]`) return;
          clearTimeout(timer);
          ws.off('message', onMessage);
          resolve(Date.now() - started);
        };
        ws.on('message', onMessage);
        ws.send(JSON.stringify(['echo', id]));
      }),
    close: () => ws.terminate(),
  };
}

/**
 * Times a healthy client (static file + WebSocket RPC) every 300 ms until stop(); stop() resolves
 * with the slowest answer seen.
 */
export async function healthProbe(port: number): Promise<{ stop(): Promise<{ worst: number; count: number }> }> {
  const rpc = await rpcClient(port);
  let running = true;
  let worst = 0;
  let count = 0;
  let failure: unknown = null;
  const loop = (async () => {
    while (running) {
      worst = Math.max(worst, await timedGet(port), await rpc.echo());
      count++;
      await sleep(300);
    }
  })().catch((e) => (failure = e));
  return {
    stop: async () => {
      running = false;
      await loop;
      rpc.close();
      if (failure) throw failure;
      return { worst, count };
    },
  };
}

/** A raw WebSocket connection to /app (handshake done); the caller writes frames and reads or not. */
export function rawWebSocket(port: number, localAddress = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress });
    let head = '';
    const onData = (d: Buffer) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      s.off('data', onData);
      if (!head.startsWith('HTTP/1.1 101')) reject(new Error(head));
      else resolve(s);
    };
    s.on('data', onData);
    s.once('error', reject);
    s.write('GET /app/ HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  });
}

export const frame = (opcode: number, payload: Buffer | string, fin = true): Buffer => encodeMaskedFrame(opcode, Buffer.from(payload), fin);

/** Writes `chunks()` until it returns null, the socket closes, or `untilMs` passes; resolves with bytes written. */
export async function pump(s: net.Socket, chunks: () => Buffer | null, untilMs: number): Promise<number> {
  let written = 0;
  let closed = false;
  s.once('close', () => (closed = true));
  s.on('error', () => (closed = true));
  const end = Date.now() + untilMs;
  while (!closed && Date.now() < end) {
    const c = chunks();
    if (!c) break;
    written += c.length;
    if (!s.write(c)) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, end - Date.now()));
        const done = () => {
          clearTimeout(timer);
          s.off('drain', done);
          s.off('close', done);
          resolve();
        };
        s.once('drain', done);
        s.once('close', done);
      });
    }
  }
  return written;
}
