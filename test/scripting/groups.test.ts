/**
 * RTMFP NetGroup from Lua: our RTMFP client's sessions join a group through the server; the scripts
 * hear client:onJoinGroup/onUnjoinGroup and read mona.groups (call by id or raw id, pairs, #),
 * group.id/rawId/size()/members, group(peerId); mona:joinGroup and groups:join make virtual members
 * (introduced to the real ones, released by member:release() or with the app that made them).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Level } from '../../src/logs/levels';
import type { LuaHost } from '../../src/scripting/lua-host';
import type { Value } from '../../src/serialization/value';
import { RtmfpTestClient } from '../helpers/rtmfp-client';
import { startRtmfpTestServer } from '../helpers/rtmfp-server';
import { expireReloadChecks, rewriteFile, writeValues } from './lua-fixtures';

const MAIN = `
events = {}
function onConnection(client)
  function client:onJoinGroup(group) table.insert(events, "join " .. group.id .. " " .. group:size()) end
  function client:onUnjoinGroup(group) table.insert(events, "unjoin " .. group.id .. " " .. group:size()) end
end
`;

const until = async (what: () => boolean, ms = 10_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!what()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

test('NetGroup members through the server: onJoinGroup/onUnjoinGroup, mona.groups, group members, virtual members', async () => {
  const srv = await startRtmfpTestServer({
    level: Level.WARN,
    apps: { '': MAIN, live: 'function virtual(p, g) kept = mona:joinGroup(p, g) return kept ~= nil end' },
  });
  const host = srv.ctx.host as LuaHost;
  const clients: RtmfpTestClient[] = [];
  const lua = (code: string, app = ''): Value[] => host.app(app)!.instance!.evaluate(code, '=test');
  try {
    const gid = randomBytes(32);
    const g = gid.toString('hex');
    const told: string[][] = [];
    for (let i = 0; i < 2; i++) {
      const c = new RtmfpTestClient({ port: srv.port });
      await c.connect(`rtmfp://127.0.0.1:${srv.port}/live`);
      const list: string[] = [];
      c.on('groupMember', (peer: string) => list.push(peer));
      clients.push(c);
      told.push(list);
    }
    const [a, b] = clients;
    const aId = a.session!.peerId.toString('hex');
    const bId = b.session!.peerId.toString('hex');
    a.joinGroup(gid);
    await until(() => srv.ctx.groups.get(g)?.size() === 1);
    const bFlow = b.joinGroup(gid);
    await until(() => srv.ctx.groups.get(g)?.size() === 2);
    assert.deepEqual(lua('return events[1], events[2]'), [`join ${g} 1`, `join ${g} 2`]);
    assert.deepEqual(
      lua(`local gr = mona.groups("${g}")
           local n = 0 for id, grp in pairs(mona.groups) do n = n + 1 end
           local ids = {} for id, c in pairs(gr.members) do ids[#ids + 1] = id .. "=" .. c.id end table.sort(ids)
           return #mona.groups, n, gr.id, #gr.rawId, gr.size(gr), #gr.members, gr("${aId}").id, gr.members["${bId}"].protocol, mona.groups[gr.id] == gr, table.concat(ids, ",")`),
      [1, 1, g, 32, 2, 2, aId, 'RTMFP', true, [`${aId}=${aId}`, `${bId}=${bId}`].sort().join(',')],
    );
    assert.equal(lua(`return mona.groups(mona.groups("${g}").rawId) == mona.groups("${g}")`)[0], true);

    // a virtual member (made in /live): the next real member is introduced to it too
    const virtual = randomBytes(32).toString('hex');
    // called as an event of /live (the app a script runs in owns what it makes)
    assert.deepEqual(host.event(host.app('/live')!, 'virtual', writeValues, [virtual, g]), [true]);
    assert.deepEqual(lua(`return kept.id, #kept.rawId, mona.groups("${g}"):size(), mona.groups("${g}").members["${virtual}"] == kept`, '/live'), [virtual, 32, 3, true]);
    const c = new RtmfpTestClient({ port: srv.port });
    await c.connect(`rtmfp://127.0.0.1:${srv.port}/live`);
    clients.push(c);
    const cTold: string[] = [];
    c.on('groupMember', (peer: string) => cTold.push(peer));
    c.joinGroup(gid);
    await until(() => cTold.length === 3);
    assert.ok(cTold.includes(virtual));
    // groups:join does the same; release leaves
    assert.deepEqual(lua(`local m = mona.groups:join("${randomBytes(32).toString('hex')}", "${g}") local before = mona.groups("${g}"):size() m:release() return before, mona.groups("${g}"):size()`), [5, 4]);
    // bad ids: an ERROR, nothing returned
    assert.deepEqual(lua('return mona:joinGroup("short", "also short")'), []);
    assert.deepEqual(lua('return mona:joinGroup()'), []);

    // /live reloads: its virtual member leaves with it
    rewriteFile(srv.dir, 'www/live/main.lua', '-- again');
    expireReloadChecks(host);
    host.app('/live');
    assert.equal(srv.ctx.groups.get(g)?.member(virtual), undefined);
    assert.equal(srv.ctx.groups.get(g)?.size(), 3);

    // b leaves by closing its group flow
    b.leaveGroup(bFlow);
    await until(() => srv.ctx.groups.get(g)?.size() === 2);
    assert.deepEqual(lua('return events[#events]'), [`unjoin ${g} 2`]);
  } finally {
    for (const c of clients) await c.close();
    await host.stop();
    await srv.stop();
  }
});
