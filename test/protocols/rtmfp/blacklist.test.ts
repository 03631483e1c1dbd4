/**
 * mona:addToBlacklist over RTMFP: a Lua app bans 127.0.0.1 through an RPC; a new handshake from it
 * gets no answer at all (dropped), the session already open keeps working, and
 * mona:removeFromBlacklist lets new sessions in again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RtmfpTestClient } from '../../helpers/rtmfp-client';
import { startRtmfpTestServer } from '../../helpers/rtmfp-server';

const MAIN_LUA = `
function onConnection(client)
  function client:ban(ip) mona:addToBlacklist(ip) return "banned " .. ip end
  function client:unban(ip) mona:removeFromBlacklist(ip) return "unbanned " .. ip end
end
`;

/** 'timeout' if the connection got no answer within `ms` */
function connectOrTimeout(c: RtmfpTestClient, url: string, ms: number): Promise<'connected' | 'timeout'> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => resolve('timeout'), ms);
    c.connect(url).then(
      () => (clearTimeout(t), resolve('connected')),
      (e) => (clearTimeout(t), reject(e)),
    );
  });
}

test('a blacklisted IP gets no RTMFP handshake answer; open sessions stay; removeFromBlacklist lets it back', async () => {
  const srv = await startRtmfpTestServer({ apps: { live: MAIN_LUA } });
  const url = `rtmfp://127.0.0.1:${srv.port}/live`;
  const admin = new RtmfpTestClient({ port: srv.port });
  const refused = new RtmfpTestClient({ port: srv.port, retryMs: 200 });
  const welcome = new RtmfpTestClient({ port: srv.port });
  try {
    await admin.connect(url);
    assert.deepEqual(await admin.call('ban', '127.0.0.1'), ['banned 127.0.0.1']);

    const droppedBefore = srv.server.dropped;
    assert.equal(await connectOrTimeout(refused, url, 1500), 'timeout');
    assert.ok(srv.server.dropped > droppedBefore, 'the handshakes were dropped');
    assert.equal(srv.ctx.clients.size, 1, 'only the first client is connected');
    await refused.close();

    // the session opened before the ban still works, and lifts it
    assert.deepEqual(await admin.call('unban', '127.0.0.1'), ['unbanned 127.0.0.1']);
    assert.equal(await connectOrTimeout(welcome, url, 5000), 'connected');
  } finally {
    for (const c of [refused, welcome, admin]) await c.close().catch(() => {}); // refused may be closed already
    await srv.ctx.host.stop();
    await srv.stop();
  }
});
