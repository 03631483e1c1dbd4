/**
 * The server as started by the CLI runs Lua apps: startServer with its default app host, a real
 * RTMP port, an RTMP client calling a Lua RPC, and `data` flushed to disk by a clean stop.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { test } from 'node:test';
import { RTMPClient } from '../../src/protocols/rtmp/client';
import { ScriptHost } from '../../src/scripting/runtime/host';
import { startServer } from '../../src/server';
import { makeAppDir } from './lua-fixtures';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

test('startServer runs www/ on the Lua host; RPC over RTMP; data flushed on stop', async () => {
  const dir = makeAppDir({
    'www/main.lua': `
function onConnection(client)
  function client:remember(v) data.last = v return "kept " .. v end
end
`,
  });
  const port = await freePort();
  const server = await startServer({
    cwd: dir,
    console: null,
    overrides: { 'RTMP.port': String(port), 'RTMFP.port': '0', 'HTTP.port': '0', 'RTSP.port': '0', 'admin.port': '0' },
  });
  let c: RTMPClient | null = null;
  try {
    assert.ok(server.context.host instanceof ScriptHost);
    c = new RTMPClient({ port });
    await c.handshake();
    const r = await c.connect('', {}, [], port);
    assert.equal(r.name, '_result');
    const kept = await c.call('remember', ['blue']);
    assert.equal(kept.args[1], 'kept blue');
  } finally {
    c?.socket.destroy();
    await server.stop();
  }
  const md5 = createHash('md5').update('blue').digest('hex');
  assert.equal(fs.readFileSync(path.join(dir, 'data', 'last', md5), 'utf8'), 'blue');
});
