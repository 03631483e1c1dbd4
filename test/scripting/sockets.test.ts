/**
 * Script sockets (mona:createTCPClient, createTCPServer, createUDPSocket) against plain peers: Node
 * TCP/UDP peers and `nc` (netcat-openbsd). onData's unconsumed bytes, a peer that disconnects, a
 * refused connection, an app reloading with sockets open (they close, silently), a flood into a
 * script that never consumes (bounded, the connection closed, another connection still served), a
 * peer that does not read (the send queue bound), UDP bound and connected modes. Every Lua engine.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import { test } from 'node:test';
import { Level } from '../../src/logs/levels';
import { toJS, type Value } from '../../src/serialization/value';
import type { UDPScriptSocket } from '../../src/scripting/sockets/udp-socket';
import { requireTool } from '../helpers/http-server';
import { evalIn, evalRoot, expireReloadChecks, makeAppDir, rewriteFile, startLua, type LuaTestServer } from './lua-fixtures';
import { LUA_ENGINES } from './lua/engines';

async function waitFor<T>(what: string, get: () => T | undefined | null | false, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = get();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function one(s: LuaTestServer, code: string, app = ''): Value {
  return evalIn(s, app, code)[0] ?? null;
}

/** A port nobody listens on (bound, read, released). */
async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise((r) => srv.close(r));
  return port;
}

/** Runs `nc` with `input` on stdin; resolves with what it printed. */
function nc(args: string[], input: string | Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('nc', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(killer);
      resolve(Buffer.concat(out).toString('latin1'));
    });
    child.stdin.end(input);
  });
}

const CLIENT_APP = `
datas = {}
lines = {}
disconnections = {}
function connectTo(port, host)
  client = mona:createTCPClient()
  function client:onData(data)
    table.insert(datas, data)
    self:send("ack")
    local rest = data
    while true do
      local i = rest:find("\\n", 1, true)
      if not i then break end
      table.insert(lines, rest:sub(1, i - 1))
      rest = rest:sub(i + 1)
    end
    return #rest
  end
  function client:onDisconnection(peer, err)
    table.insert(disconnections, { peer = peer, err = err, selfError = self.error, connected = self.connected })
  end
  return client:connect(host or "127.0.0.1", port)
end
`;

for (const engine of LUA_ENGINES) {
  const lua = engine.open;
  const opts = { skip: engine.skip };

  test(`${engine.name}: TCPClient against a Node peer: onData's unconsumed bytes come first next time, a partial consumption is given the rest at once; the peer's close ends in onDisconnection`, opts, async () => {
    // the peer sends its next piece once the script acknowledged the previous one: the pieces reach
    // onData one by one whatever the machine's load
    const pieces = ['hel', 'lo\nwor', 'ld\n'];
    const peer = net.createServer((socket) => {
      let next = 0;
      const send = (): void => {
        if (next < pieces.length) socket.write(pieces[next++]);
        else socket.end();
      };
      socket.on('data', send);
      send();
    });
    await new Promise<void>((r) => peer.listen(0, '127.0.0.1', r));
    const port = (peer.address() as net.AddressInfo).port;
    const s = await startLua(makeAppDir({ 'www/main.lua': CLIENT_APP }), { lua });
    try {
      assert.equal(one(s, `return connectTo(${port})`), true);
      await waitFor('the disconnection', () => (one(s, 'return #disconnections') as number) > 0);
      assert.deepEqual(toJS(one(s, 'return datas')), ['hel', 'hello\nwor', 'wor', 'world\n']);
      assert.deepEqual(toJS(one(s, 'return lines')), ['hello', 'world']);
      const d = toJS(one(s, 'return disconnections[1]')) as Record<string, unknown>;
      assert.equal(d.peer, `127.0.0.1:${port}`);
      assert.equal(d.err, undefined);
      assert.equal(d.selfError, undefined);
      assert.equal(d.connected, false);
      // after the close the addresses still tell where it was connected
      assert.equal(one(s, 'return client.peerAddress.value'), `127.0.0.1:${port}`);
      assert.equal(one(s, 'return client.peerAddress.port'), port);
      assert.equal(one(s, 'return tostring(client.address.host)'), '127.0.0.1');
      assert.ok((one(s, 'return client.idleTime') as number) >= 0);
      assert.equal(one(s, 'return client.connected'), false);
      // the same object connects again
      assert.equal(one(s, `return client:connect("127.0.0.1", ${port})`), true);
      await waitFor('the second disconnection', () => (one(s, 'return #disconnections') as number) > 1);
      assert.deepEqual(toJS(one(s, 'return lines')), ['hello', 'world', 'hello', 'world']);
    } finally {
      await s.close();
      peer.close();
    }
  });

  test(`${engine.name}: TCPClient: a refused connection ends in onDisconnection with self.error; bad addresses and sends when not connected`, opts, async () => {
    const port = await freePort();
    const s = await startLua(makeAppDir({ 'www/main.lua': CLIENT_APP }), { lua });
    try {
      assert.equal(one(s, 'local c = mona:createTCPClient() return c:send("x")'), 'not connected');
      assert.equal(one(s, 'local c = mona:createTCPClient() return c.connected, c.peerAddress'), false);
      assert.equal(one(s, 'local c = mona:createTCPClient() return c.address.value'), '0.0.0.0:0');
      assert.equal(one(s, 'local c = mona:createTCPClient() return c:connect("nowhere")'), false);
      assert.match(s.logger.at(Level.ERROR).join('\n'), /TCPClient:connect: missing port number in nowhere/);
      assert.equal(one(s, 'local c = mona:createTCPClient() return c:connect("127.0.0.1", 70000)'), false);
      assert.equal(one(s, `return connectTo(${port})`), true);
      // sent while connecting: queued, then lost with the connection
      assert.equal(one(s, 'return client:send("early")'), null);
      await waitFor('the refusal', () => (one(s, 'return #disconnections') as number) > 0);
      const d = toJS(one(s, 'return disconnections[1]')) as Record<string, unknown>;
      assert.match(String(d.err), /ECONNREFUSED/);
      assert.equal(d.selfError, d.err);
      assert.equal(one(s, 'return client.error'), d.err);
      // a host name is resolved without blocking
      assert.equal(one(s, `return connectTo(${port}, "localhost")`), true);
      await waitFor('the second refusal', () => (one(s, 'return #disconnections') as number) > 1);
      assert.match(String(one(s, 'return disconnections[2].err')), /ECONNREFUSED/);
    } finally {
      await s.close();
    }
  });

  test(`${engine.name}: TCPServer with nc (netcat-openbsd) as the client: start answers at once (a taken port is false with an ERROR), accepted clients echo, stop`, opts, async (t) => {
    if (!requireTool(t, 'nc')) return;
    const s = await startLua(
      makeAppDir({
        'www/main.lua': `
accepted, closed = 0, 0
server = mona:createTCPServer()
function server:onConnection(client)
  accepted = accepted + 1
  kept = client
  function client:onData(data) self:send("echo:" .. data) end
  function client:onDisconnection() closed = closed + 1 end
end
started = server:start("127.0.0.1", 0)
`,
      }),
      { lua },
    );
    try {
      assert.equal(one(s, 'return started'), true);
      assert.equal(one(s, 'return server.running'), true);
      const port = one(s, 'return server.address.port') as number;
      assert.ok(port > 0);
      assert.equal(one(s, 'return tostring(server.address)'), `127.0.0.1:${port}`);
      assert.equal(await nc(['-N', '127.0.0.1', String(port)], 'hello\n'), 'echo:hello\n');
      await waitFor('the close', () => one(s, 'return closed') === 1);
      assert.equal(one(s, 'return accepted'), 1);
      // an accepted client is released after its onDisconnection: a kept reference stops answering
      assert.equal(one(s, 'return kept.connected'), null);
      // the port is taken: false, and the reason in the log, before start returns
      assert.equal(one(s, `local other = mona:createTCPServer() return other:start("127.0.0.1", ${port}), other.running`), false);
      assert.match(s.logger.at(Level.ERROR).join('\n'), /TCPServer:start: listen EADDRINUSE 127\.0\.0\.1:\d+/);
      assert.equal(one(s, 'return server:start(0)'), false); // already running
      assert.equal(one(s, 'local other = mona:createTCPServer() return other:start("localhost:0")'), false); // no DNS here
      // a SocketAddress object works as the address
      assert.equal(one(s, 'local other = mona:createTCPServer() local ok = other:start(mona:createSocketAddress("127.0.0.1:0")) local p = other.address.port other:stop() return ok and p > 0'), true);
      one(s, 'server:stop()');
      assert.equal(one(s, 'return server.running, server.address.value'), false);
      await assert.rejects(
        new Promise((resolve, reject) => net.connect(port, '127.0.0.1').on('connect', resolve).on('error', reject)),
        /ECONNREFUSED/,
      );
    } finally {
      await s.close();
    }
  });

  test(`${engine.name}: an app reloading or stopping closes its sockets without events; the new main file can listen on the same port`, opts, async () => {
    let peerClosed = false;
    let peerConnected = false;
    const peer = net.createServer((socket) => {
      peerConnected = true;
      socket.on('close', () => (peerClosed = true));
    });
    await new Promise<void>((r) => peer.listen(0, '127.0.0.1', r));
    const peerPort = (peer.address() as net.AddressInfo).port;
    const dir = makeAppDir({
      'www/main.lua': '',
      'www/app/main.lua': `
events = 0
server = mona:createTCPServer()
server:start("127.0.0.1", 0)
function server:onConnection(c) function c:onDisconnection() events = events + 1 end end
client = mona:createTCPClient()
function client:onDisconnection() events = events + 1 end
client:connect("127.0.0.1", ${peerPort})
udp = mona:createUDPSocket()
udp:bind("127.0.0.1", 0)
function onStop() stopped = server.running end
`,
    });
    const s = await startLua(dir, { lua });
    try {
      const port = one(s, 'return server.address.port', '/app') as number;
      const accepted = net.connect(port, '127.0.0.1');
      let acceptedClosed = false;
      accepted.on('close', () => (acceptedClosed = true)).on('error', () => {});
      await new Promise((r) => accepted.on('connect', r));
      await waitFor('the peer connection', () => peerConnected);
      const udpPort = one(s, 'return udp.address.port', '/app') as number;
      assert.equal(s.host.sockets.ownedBy(s.host.app('/app')).length, 4); // server, its client, client, udp
      rewriteFile(dir, 'www/app/main.lua', `events = 0 server = mona:createTCPServer() started = server:start("127.0.0.1", ${port})`);
      expireReloadChecks(s.host);
      // the reloaded app listens on the port its previous version held
      assert.equal(one(s, 'return started', '/app'), true);
      await waitFor('the peer to see the close', () => peerClosed && acceptedClosed);
      // onStop still saw its sockets open; no onDisconnection ran for the closed ones
      assert.equal(one(s, 'return stopped', '/app'), null); // a new environment
      assert.equal(one(s, 'return events', '/app'), 0);
      assert.deepEqual(s.logger.at(Level.ERROR), []);
      assert.equal(s.host.sockets.ownedBy(s.host.app('/app')).length, 1);
      // the UDP port is free again
      const u = dgram.createSocket('udp4');
      await new Promise<void>((resolve, reject) => {
        u.once('error', reject);
        u.bind(udpPort, '127.0.0.1', resolve);
      });
      u.close();
      await s.close();
      await assert.rejects(
        new Promise((resolve, reject) => net.connect(port, '127.0.0.1').on('connect', resolve).on('error', reject)),
        /ECONNREFUSED/,
      );
    } finally {
      await s.close();
      peer.close();
    }
  });

  test(`${engine.name}: a flood into a script that never consumes: memory bounded, the connection closed with an error, another connection still served`, opts, async () => {
    const s = await startLua(
      makeAppDir({
        'www/main.lua': `
biggest, errors = 0, {}
server = mona:createTCPServer()
function server:onConnection(client)
  function client:onData(data)
    if data:sub(1, 4) == "ping" then self:send("pong") return 0 end
    if #data > biggest then biggest = #data end
    return #data -- keeps everything
  end
  function client:onDisconnection(peer, err) table.insert(errors, err or "none") end
end
server:start("127.0.0.1", 0)
`,
      }),
      { lua },
    );
    try {
      const port = one(s, 'return server.address.port') as number;
      const flooder = net.connect(port, '127.0.0.1');
      let flooderClosed = false;
      flooder.on('error', () => {}).on('close', () => (flooderClosed = true));
      await new Promise((r) => flooder.on('connect', r));
      const chunk = Buffer.alloc(64 * 1024, 'x');
      let sent = 0;
      const pump = (): void => {
        while (!flooderClosed && sent < 8 * 1024 * 1024 && flooder.write(chunk)) sent += chunk.length;
        if (!flooderClosed && sent < 8 * 1024 * 1024) flooder.once('drain', pump);
      };
      pump();
      // meanwhile another client is answered
      const other = net.connect(port, '127.0.0.1');
      const pong = await new Promise<string>((resolve, reject) => {
        other.on('error', reject).on('connect', () => other.write('ping')).on('data', (d) => resolve(d.toString()));
      });
      assert.equal(pong, 'pong');
      other.destroy();
      await waitFor('the flooder to be closed', () => flooderClosed);
      await waitFor('its onDisconnection', () => (one(s, 'return #errors') as number) >= 1);
      const errors = toJS(one(s, 'return errors')) as string[];
      assert.ok(errors.some((e) => /bytes unconsumed \(more than 1048576\)/.test(e)), errors.join());
      // onData never saw more than the limit plus one read
      const biggest = one(s, 'return biggest') as number;
      assert.ok(biggest > 512 * 1024 && biggest <= 1024 * 1024 + 256 * 1024, String(biggest));
      assert.ok(sent < 8 * 1024 * 1024, 'the flooder was cut before sending everything');
    } finally {
      await s.close();
    }
  });

  test(`${engine.name}: a peer that does not read: the send queue is bounded, send returns the error and the connection ends with it`, opts, async () => {
    let accepted: net.Socket | null = null;
    const peer = net.createServer((socket) => {
      accepted = socket;
      socket.pause(); // never reads
    });
    await new Promise<void>((r) => peer.listen(0, '127.0.0.1', r));
    const port = (peer.address() as net.AddressInfo).port;
    const s = await startLua(
      makeAppDir({
        'www/main.lua': `
client = mona:createTCPClient()
function client:onDisconnection(peer, err) ended = err end
client:connect("127.0.0.1", ${port})
function flood()
  local chunk = string.rep("y", 1024 * 1024)
  for i = 1, 256 do
    local err = client:send(chunk)
    if err then return i, err end
  end
end
`,
      }),
      { lua },
    );
    try {
      await waitFor('the connection', () => accepted !== null);
      const [count, error] = evalRoot(s, 'return flood()');
      assert.ok(typeof count === 'number' && count < 256, String(count));
      assert.match(String(error), /bytes wait to be sent \(the peer does not read\)/);
      await waitFor('onDisconnection', () => one(s, 'return ended'));
      assert.match(String(one(s, 'return ended')), /the peer does not read/);
    } finally {
      await s.close();
      peer.close();
    }
  });

  test(`${engine.name}: UDPSocket bound: onPacket(data, address) from a Node peer and from nc -u, send(data, address) back; bind errors`, opts, async (t) => {
    if (!requireTool(t, 'nc')) return;
    const s = await startLua(
      makeAppDir({
        'www/main.lua': `
packets = {}
udp = mona:createUDPSocket()
function udp:onPacket(data, address)
  table.insert(packets, { data = data, address = address })
  self:send("echo:" .. data, address)
end
bound = udp:bind("127.0.0.1", 0)
`,
      }),
      { lua },
    );
    try {
      assert.equal(one(s, 'return bound'), true);
      assert.equal(one(s, 'return udp.peerAddress'), null);
      const port = one(s, 'return udp.address.port') as number;
      const client = dgram.createSocket('udp4');
      await new Promise<void>((r) => client.bind(0, '127.0.0.1', r));
      const reply = new Promise<string>((r) => client.once('message', (m) => r(m.toString('latin1'))));
      client.send(Buffer.from([0x00, 0xff, 0x41]), port, '127.0.0.1');
      assert.equal(await reply, 'echo:\x00\xffA');
      const p = toJS(one(s, 'return packets[1]')) as Record<string, unknown>;
      assert.equal(p.address, `127.0.0.1:${client.address().port}`);
      client.close();
      assert.equal(await nc(['-u', '-w', '2', '127.0.0.1', String(port)], 'hi'), 'echo:hi');
      // bound already, a taken port, not an IP
      assert.equal(one(s, 'return udp:bind("127.0.0.1", 0)'), false);
      assert.equal(one(s, `local u = mona:createUDPSocket() return u:bind("127.0.0.1", ${port})`), false);
      assert.match(s.logger.at(Level.ERROR).join('\n'), /UDPSocket:bind: bind EADDRINUSE 127\.0\.0\.1:\d+/);
      assert.equal(one(s, 'local u = mona:createUDPSocket() return u:bind("localhost:0")'), false);
      // send without an address on an unconnected socket
      assert.equal(one(s, 'return udp:send("x")'), false);
      assert.match(s.logger.at(Level.ERROR).join('\n'), /UDPSocket:send: not connected: give an address/);
      // close, then the socket can bind again
      one(s, 'udp:close()');
      assert.equal(one(s, 'return udp.address.value'), '0.0.0.0:0');
      assert.equal(one(s, `return udp:bind(${port})`), true);
      assert.equal(one(s, 'return udp.address.value'), `0.0.0.0:${port}`);
    } finally {
      await s.close();
    }
  });

  test(`${engine.name}: UDPSocket connected: send without an address, peerAddress, replies through onPacket; disconnect; a full send queue drops and says so`, opts, async () => {
    const peer = dgram.createSocket('udp4');
    await new Promise<void>((r) => peer.bind(0, '127.0.0.1', r));
    const peerPort = peer.address().port;
    peer.on('message', (m, rinfo) => peer.send(Buffer.concat([Buffer.from('re:'), m]), rinfo.port, rinfo.address));
    const s = await startLua(
      makeAppDir({
        'www/main.lua': `
got = {}
udp = mona:createUDPSocket(true)
function udp:onPacket(data, address) table.insert(got, data .. "@" .. address) end
`,
      }),
      { lua },
    );
    try {
      assert.equal(one(s, `return udp:connect(${peerPort})`), null); // a port alone: this machine
      assert.equal(one(s, 'return udp.peerAddress.value'), `127.0.0.1:${peerPort}`);
      assert.equal(one(s, 'return udp:send("hello")'), true);
      await waitFor('the reply', () => (one(s, 'return #got') as number) > 0);
      assert.equal(one(s, 'return got[1]'), `re:hello@127.0.0.1:${peerPort}`);
      // an address on a connected socket is an error
      assert.equal(one(s, `return udp:send("x", "127.0.0.1", ${peerPort})`), false);
      // a full queue: dropped, false, one WARN for the burst
      const sock = s.host.sockets.ownedBy(s.host.app('')).find((x) => x.constructor.name === 'UDPScriptSocket') as UDPScriptSocket;
      const inner = (sock as unknown as { socket: dgram.Socket }).socket;
      const real = inner.getSendQueueSize.bind(inner);
      inner.getSendQueueSize = () => 2 * 1024 * 1024;
      assert.deepEqual(evalRoot(s, 'return udp:send("a"), udp:send("b")'), [false, false]);
      inner.getSendQueueSize = real;
      const warns = s.logger.at(Level.WARN).filter((l) => /datagram\(s\) dropped/.test(l));
      assert.equal(warns.length, 1);
      one(s, 'udp:disconnect()');
      assert.equal(one(s, 'return udp.peerAddress'), null);
      assert.equal(one(s, 'return udp:send("x")'), false);
      assert.equal(one(s, `return udp:send("again", "127.0.0.1", ${peerPort})`), true);
      await waitFor('the second reply', () => (one(s, 'return #got') as number) > 1);
      assert.equal(one(s, 'return got[2]'), `re:again@127.0.0.1:${peerPort}`);
    } finally {
      await s.close();
      peer.close();
    }
  });
}
