/**
 * mona:addToBlacklist over HTTP and WebSocket: a Lua app bans 127.0.0.1 through a WebSocket RPC;
 * new TCP connections from it are closed at accept (no HTTP answer, no WebSocket upgrade), the
 * WebSocket already open keeps working, and mona:removeFromBlacklist lets new connections in again.
 * RTMP on the same context is checked too: a banned peer's handshake gets no S0/S1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import WebSocket from 'ws';
import { startHTTP, tempWWW } from '../../helpers/http-server';

const MAIN_LUA = `
function onConnection(client)
  function client:ban(ip) mona:addToBlacklist(ip) return "banned " .. ip end
  function client:unban(ip) mona:removeFromBlacklist(ip) return "unbanned " .. ip end
end
`;

/** One GET on a fresh connection: the status line, or '' if the server closed without answering. */
function get(port: number, p: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => (got += d.toString('latin1')));
    s.on('error', () => resolve(got.split('\r\n')[0])); // a reset counts as "closed without answer"
    s.on('close', () => resolve(got.split('\r\n')[0]));
    s.setTimeout(5000, () => (s.destroy(), reject(new Error('no answer nor close within 5 s'))));
    s.write(`GET ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  });
}

/** Sends an RTMP C0+C1: resolves true if the server answers with S0 (version 3), false if it closes. */
function rtmpAnswers(port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('data', (d) => (s.destroy(), resolve(d[0] === 3)));
    s.on('error', () => resolve(false));
    s.on('close', () => resolve(false));
    s.setTimeout(5000, () => (s.destroy(), reject(new Error('no answer nor close within 5 s'))));
    s.write(Buffer.concat([Buffer.from([3]), Buffer.alloc(1536)]));
  });
}

function open(port: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/app`);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function rpc(ws: WebSocket, ...call: unknown[]): Promise<unknown> {
  return new Promise((resolve) => {
    ws.once('message', (m) => resolve(JSON.parse(m.toString())));
    ws.send(JSON.stringify(call));
  });
}

test('a blacklisted IP is closed at accept (HTTP, WebSocket, RTMP); open WebSockets stay; removeFromBlacklist lets it back', async () => {
  const s = await startHTTP({ dir: tempWWW({ 'app/main.lua': MAIN_LUA, 'app/hello.txt': 'hi' }), rtmp: true });
  const sockets: WebSocket[] = [];
  try {
    assert.match(await get(s.port, '/app/hello.txt'), /^HTTP\/1\.1 200/);
    assert.equal(await rtmpAnswers(s.rtmpPort), true);
    const admin = await open(s.port);
    sockets.push(admin);
    assert.deepEqual(await rpc(admin, 'ban', '127.0.0.1'), ['banned 127.0.0.1']);

    assert.equal(await get(s.port, '/app/hello.txt'), '', 'a new HTTP connection gets no answer');
    await assert.rejects(open(s.port), 'a new WebSocket is not upgraded');
    assert.equal(await rtmpAnswers(s.rtmpPort), false, 'a new RTMP connection gets no handshake');

    // the WebSocket opened before the ban still works, and lifts it
    assert.deepEqual(await rpc(admin, 'unban', '127.0.0.1'), ['unbanned 127.0.0.1']);
    assert.match(await get(s.port, '/app/hello.txt'), /^HTTP\/1\.1 200/);
    sockets.push(await open(s.port));
    assert.equal(await rtmpAnswers(s.rtmpPort), true);
  } finally {
    for (const ws of sockets) ws.terminate();
    await s.stop();
  }
});
