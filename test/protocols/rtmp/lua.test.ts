/**
 * RTMP with Lua apps: a Lua app rejecting a connection, an RPC returning a Lua
 * value, client:onPublish/onSubscribe refusals as NetStream statuses, listener.parameters and
 * listener.receiveVideo from Lua, writers driven by Lua (writeInvocation, writeStatusResponse,
 * newWriter, writeMessage, close), publication:onAudio/onVideo/onData/onFlush for an RTMP
 * publisher, and a mona:publish publication played by an RTMP client. Real main.lua files in a
 * temp www/ tree, served by LuaHost.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RTMPClient } from '../../../src/protocols/rtmp/client';
import { MessageType } from '../../../src/protocols/rtmp/constants';
import { Table } from '../../../src/serialization/value';
import { LuaHost } from '../../../src/scripting/lua-host';
import { startRTMP, tempAppDir, waitFor } from './helpers';

const LIVE = `
events = {}
function onConnection(client, login)
  if login == "stranger" then error("strangers not allowed") end
  client.writer:writeInvocation("onWelcome", "hi", 7)
  client.writer:writeStatusResponse("App.Welcome", "nice to see you")
  local second = client.writer:newWriter()
  second:writeInvocation("onSecond", true)
  second:flush()
  function client:onPublish(publication)
    if publication.name == "refused" then error("not this one") end
    if publication.name == "falsy" then return false end
    events[#events + 1] = "publish:" .. publication.name
    function publication:onAudio(time, packet) audio = (audio or 0) + 1 end
    function publication:onVideo(time, packet) video = (video or 0) + 1; lastVideoSize = #packet end
    function publication:onData(packet, kind) dataCount = (dataCount or 0) + 1 end
    function publication:onFlush() flushes = (flushes or 0) + 1 end
  end
  function client:onUnpublish(publication) events[#events + 1] = "unpublish:" .. publication.name end
  function client:onSubscribe(listener)
    if listener.publication.name == "private" then error("members only") end
    lastParams = listener.parameters
    if listener.parameters.novideo then listener.receiveVideo = false end
    events[#events + 1] = "subscribe:" .. listener.publication.name
  end
  function client:onUnsubscribe(listener) events[#events + 1] = "unsubscribe:" .. listener.publication.name end
  function client:square(x) return x * x, "squared" end
  function client:viaWriter(x) self.writer:writeMessage("answer", x) end
  function client:counts() return audio or 0, video or 0, dataCount or 0, flushes or 0, lastVideoSize or 0 end
  function client:param(k) return lastParams and lastParams[k] end
  function client:events() return table.concat(events, ",") end
  function client:startPub(name) pub = mona:publish(name); return pub ~= nil end
  function client:pushPub()
    pub:pushVideo(1000, string.char(0x17, 0, 0, 0, 0, 1, 0x64, 0, 0x1f))
    pub:pushVideo(1000, string.char(0x17, 1, 0, 0, 0, 9))
    pub:pushAudio(1020, string.char(0xaf, 1, 5))
    pub:flush()
  end
  function client:closePub() pub:close() end
  function client:bye() self.writer:close() end
end
`;

async function serve() {
  return startRTMP({ dir: tempAppDir({ live: LIVE }) });
}

test('Lua: onConnection error() rejects, RPC returns Lua values, Lua writers reach the client', async () => {
  const s = await serve();
  const c = new RTMPClient({ port: s.port });
  const r = new RTMPClient({ port: s.port });
  try {
    const rej = await r.connect('live', {}, ['stranger']);
    assert.equal(rej.name, '_error');
    assert.equal((rej.args[1] as Table).get('code'), 'NetConnection.Connect.Rejected');
    assert.match(String((rej.args[1] as Table).get('description')), /strangers not allowed/);
    await r.until(() => r.closed, 5000, 'rejected connection closed');

    assert.equal((await c.connect('live', {}, ['tom'])).name, '_result');
    const sq = await c.call('square', [12]);
    assert.deepEqual([sq.name, sq.args[1], sq.args[2]], ['_result', 144, 'squared']);
    const w = await c.call('viaWriter', [5]);
    assert.deepEqual([w.name, w.args[1], w.args[2]], ['_result', 'answer', 5]);
    await c.until(() => c.invocations.some((i) => i.name === 'onSecond'));
    assert.deepEqual(c.invocations.find((i) => i.name === 'onWelcome')?.args, ['hi', 7]);
    assert.equal(c.statuses.find((x) => x.code === 'NetConnection.App.Welcome')?.info.get('description'), 'nice to see you');
    void c.call('bye');
    await c.until(() => c.closed, 5000, 'writer:close() to end the session');
  } finally {
    await c.close();
    await r.close();
    await s.stop();
  }
});

test('Lua: onPublish/onSubscribe refusals, parameters, receiveVideo, publication events', async () => {
  const s = await serve();
  const pub = new RTMPClient({ port: s.port });
  const play = new RTMPClient({ port: s.port });
  try {
    await pub.connect('live');
    const pid = await pub.createStream();
    pub.command('publish', ['refused'], pid);
    assert.equal((await pub.status(pid, 'NetStream.Publish.Failed')).get('description'), 'not this one');
    pub.command('publish', ['falsy'], pid);
    await pub.until(() => pub.statuses.filter((x) => x.code === 'NetStream.Publish.Failed').length === 2);
    pub.command('publish', ['open'], pid);
    await pub.status(pid, 'NetStream.Publish.Start');

    await play.connect('live');
    const vid = await play.createStream();
    play.command('play', ['private'], vid);
    assert.match(String((await play.status(vid, 'NetStream.Play.Failed')).get('description')), /members only/);
    play.command('play', ['open?novideo=1&tag=x'], vid);
    await play.status(vid, 'NetStream.Play.Start');
    assert.equal((await play.call('param', ['tag'])).args[1], 'x');

    pub.sendData(pid, ['@setDataFrame', 'onMetaData', Table.of({ width: 2 })]);
    pub.sendVideo(pid, 0, Buffer.from([0x17, 0, 0, 0, 0, 1]));
    pub.sendVideo(pid, 40, Buffer.from([0x17, 1, 0, 0, 0, 2, 3]));
    pub.sendAudio(pid, 40, Buffer.from([0xaf, 1, 1]));
    pub.sendData(pid, ['onCuePoint', 'x']);
    await play.until(() => play.media(vid).some((m) => m.type === MessageType.Audio), 5000, 'audio');
    assert.ok(!play.media(vid).some((m) => m.type === MessageType.Video), 'listener.receiveVideo = false from Lua holds video back');
    const counts = await play.call('counts');
    const [audio, video, data, flushes, size] = counts.args.slice(1) as number[];
    assert.equal(audio, 1);
    assert.equal(video, 2);
    assert.equal(data, 1, 'onCuePoint reached publication:onData (metadata does not)');
    assert.ok(flushes >= 1, 'publication:onFlush ran');
    assert.equal(size, 7);
    pub.command('closeStream', [], pid);
    await play.status(vid, 'NetStream.Play.UnpublishNotify');
    play.command('closeStream', [], vid);
    await waitFor(() => s.context.publications.size === 0, 5000, 'publication dropped');
    assert.equal((await play.call('events')).args[1], 'publish:open,subscribe:open,unpublish:open,unsubscribe:open');
  } finally {
    await pub.close();
    await play.close();
    await s.stop();
  }
});

test('Lua: a mona:publish publication is played by an RTMP client', async () => {
  const s = await serve();
  const ctl = new RTMPClient({ port: s.port });
  const play = new RTMPClient({ port: s.port });
  try {
    await ctl.connect('live');
    assert.equal((await ctl.call('startPub', ['scripted'])).args[1], true);
    await play.connect('live');
    const vid = await play.createStream();
    play.command('play', ['scripted'], vid);
    await play.status(vid, 'NetStream.Play.Start');
    await ctl.call('pushPub');
    await play.until(() => play.media(vid).filter((m) => m.type !== MessageType.DataAMF0).length >= 3, 5000, 'script media');
    const media = play.media(vid).filter((m) => m.type !== MessageType.DataAMF0);
    assert.deepEqual(media.map((m) => [m.type, m.timestamp, m.payload.length]), [[9, 0, 9], [9, 0, 6], [8, 20, 3]]);
    await ctl.call('closePub');
    await play.status(vid, 'NetStream.Play.UnpublishNotify');
  } finally {
    await ctl.close();
    await play.close();
    await s.stop();
  }
});
