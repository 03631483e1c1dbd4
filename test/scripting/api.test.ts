/**
 * The script API through direct calls into LuaHost with fake clients: onConnection
 * results and refusals, RPC dispatch and Call.Failed texts, onMessage, writers and newWriter's
 * onManage, publications (mona:publish, push/flush/close, onVideo with byte-exact packets),
 * listeners, mona's conversions, hashes and helpers, error isolation.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import type { MediaSink } from '../../src/core/listener';
import { MediaFrame, MediaType } from '../../src/core/media';
import { Level } from '../../src/logs/levels';
import { Table, toJS, type Value } from '../../src/serialization/value';
import { evalRoot, FakeClient, FakeWriter, makeAppDir, startLua, writeValues } from './lua-fixtures';

class RecordingSink implements MediaSink {
  readonly frames: Array<{ type: MediaType; time: number; payload: Buffer }> = [];
  started = 0;
  writeMedia(frame: MediaFrame, time: number): void {
    this.frames.push({ type: frame.type, time, payload: frame.payload });
  }
  onPublicationStart(): void {
    this.started++;
  }
  onPublicationStop(): void {}
  flush(): void {}
  queuedBytes(): number {
    return 0;
  }
  close(): void {}
}

const MAIN = `
function onConnection(client, login, extra)
  if login == "bad" then error("you are not welcome") end
  if login == "silent" then error() end
  function client:add(a, b) return a + b, "sum" end
  function client:fail() error("boom") end
  function client:failTable() local t = nil return t.x end
  function client:echo(...) return ... end
  function client:onMessage(...) received = { ... } return "got " .. select('#', ...) end
  function client:props() return client.arg1, client.properties.arg1, client.protocol, #client.id, #client.rawId, client.path end
  function client:writeAll()
    client.writer:writeInvocation("onPush", 1, "two", { three = 3 })
    client.writer:writeMessage("m", 2)
    client.writer:writeRaw("raw\\0bytes")
    client.writer:writeStatusResponse("Call.Custom", "described")
    client.writer:flush()
    client.writer.reliable = false
    return client.writer.reliable
  end
  function client:side()
    side = client.writer:newWriter()
    function side:onManage() managed = (managed or 0) + 1 self:writeInvocation("tick", managed) end
    return true
  end
  return { message = "welcome", id = 1, login = login }
end
function onDisconnection(client) gone = client.id end
`;

test('onConnection: result table, error() refusal text without position, default "client rejected"', async () => {
  const s = await startLua(makeAppDir({ 'www/main.lua': MAIN }));
  try {
    const c = new FakeClient();
    const r = s.ctx.connect(c, ['tom']);
    assert.ok(r instanceof Table);
    assert.deepEqual(toJS(r), { message: 'welcome', id: 1, login: 'tom' });
    assert.throws(() => s.ctx.connect(new FakeClient(), ['bad']), { name: 'ConnectionRejected', message: 'you are not welcome' });
    assert.throws(() => s.ctx.connect(new FakeClient(), ['silent']), { name: 'ConnectionRejected', message: 'client rejected' });
    s.ctx.disconnect(c);
    assert.deepEqual(evalRoot(s, 'return gone'), [c.id]);
  } finally {
    await s.close();
  }
});

test('RPC: results, error() → Call.Failed with file:line, runtime errors, unknown method, onMessage', async () => {
  const s = await startLua(makeAppDir({ 'www/main.lua': MAIN }));
  try {
    const c = new FakeClient();
    s.ctx.connect(c, []);
    assert.deepEqual(s.host.call(c, 'add', [2, 3]), [5, 'sum']);
    assert.throws(() => s.host.call(c, 'fail', []), { name: 'CallFailed', message: 'www/main.lua:6: boom' });
    assert.throws(() => s.host.call(c, 'failTable', []), (e: Error) => e.name === 'CallFailed' && /^www\/main\.lua:7: attempt to index/.test(e.message));
    assert.throws(() => s.host.call(c, 'nothing', []), { name: 'MethodNotFound', message: "Method 'nothing' not found" });
    assert.throws(() => s.host.call(c, 'writer', []), { name: 'MethodNotFound' });
    // values round trip: nested tables, binary strings, booleans, nil holes at the end dropped
    const blob = Buffer.from([0, 255, 1, 128, 0x80, 0xc3]);
    const back = s.host.call(c, 'echo', [Table.of({ a: Table.list([1, 2]), b: true }), blob, 'text', 1.5]) as Value[];
    assert.deepEqual(toJS(back[0]), { a: [1, 2], b: true });
    assert.ok(Buffer.isBuffer(back[1]) && back[1].equals(blob));
    assert.deepEqual(back.slice(2), ['text', 1.5]);
    assert.deepEqual(s.host.onMessage(c, ['x', 2]), ['got 2']);
    assert.deepEqual(toJS(evalRoot(s, 'return received')[0]), ['x', 2]);
    // the server and other clients go on after errors
    const other = new FakeClient();
    s.ctx.connect(other, []);
    assert.deepEqual(s.host.call(other, 'add', [1, 1]), [2, 'sum']);
  } finally {
    await s.close();
  }
});

test('client properties are readable directly; writer methods reach the protocol writer', async () => {
  const s = await startLua(makeAppDir({ 'www/main.lua': MAIN }));
  try {
    const c = new FakeClient('', 'RTMFP');
    c.properties.set('arg1', 'value1');
    s.ctx.connect(c, []);
    assert.deepEqual(s.host.call(c, 'props', []), ['value1', 'value1', 'RTMFP', 64, 32, '']);
    assert.deepEqual(s.host.call(c, 'writeAll', []), [false]);
    const w = c.mainWriter;
    assert.equal(w.reliable, false);
    assert.deepEqual(w.sent[0], { kind: 'invocation', name: 'onPush', args: [1, 'two', Table.of({ three: 3 })] });
    assert.deepEqual(w.sent[1], { kind: 'message', args: ['m', 2] });
    assert.deepEqual(w.sent[2], { kind: 'raw', data: Buffer.from('raw\0bytes', 'latin1') });
    assert.deepEqual(w.sent[3], { kind: 'status', code: 'Call.Custom', description: 'described' });
    assert.deepEqual(w.sent[4], { kind: 'flush', full: true });
  } finally {
    await s.close();
  }
});

test('writers made by newWriter get onManage every 2 s', async () => {
  const s = await startLua(makeAppDir({ 'www/main.lua': MAIN + '\nfunction onManage() ticks = (ticks or 0) + 1 end' }));
  try {
    const c = new FakeClient();
    s.ctx.connect(c, []);
    assert.deepEqual(s.host.call(c, 'side', []), [true]);
    const side = c.mainWriter.created[0] as FakeWriter;
    await new Promise((r) => setTimeout(r, 2300));
    assert.deepEqual(evalRoot(s, 'return managed, ticks'), [1, 1]);
    assert.deepEqual(side.sent[0], { kind: 'invocation', name: 'tick', args: [1] });
  } finally {
    await s.close();
  }
});

test('publications: mona:publish, pushVideo/pushAudio byte-exact to listeners, onVideo in script, close', async () => {
  const s = await startLua(
    makeAppDir({
      'www/main.lua': `
        function start()
          pub = mona:publish("scripted")
          return pub ~= nil, pub.name, pub.running, mona:publish("scripted") == nil
        end
        function push(t, packet) pub:pushVideo(t, packet) pub:pushAudio(t, string.char(0xaf, 1, 0, 255)) pub:flush() return pub.lastTime, #mona.publications end
        function props() pub:writeProperties({ width = 640, title = "x" }) return pub.properties.width end
        function stop() pub:close() return pub.running end
        function onConnection(client)
          function client:onPublish(p)
            if p.name == "forbidden" then return false end
            if p.name == "refused" then error("no rights to publish it") end
            function p:onVideo(time, packet) seen = { time, #packet, packet:byte(1), packet:byte(#packet) } end
          end
          function client:onSubscribe(listener)
            if listener.publication.name == "secret" then error("no rights to play it") end
            listener.receiveAudio = false
            lastListener = listener
          end
          function client:listenerInfo() return lastListener.client == client, lastListener.publication.name, lastListener.receiveAudio, lastListener.videoQOS.byteRate end
        end
      `,
    }),
  );
  try {
    assert.deepEqual(evalRoot(s, 'return start()'), [true, 'scripted', true, true]);
    const c = new FakeClient();
    s.ctx.connect(c, []);
    const sink = new RecordingSink();
    const listener = s.ctx.publications.subscribe(c, 'scripted', sink);
    assert.equal(listener.receiveAudio, false);
    assert.deepEqual(s.host.call(c, 'listenerInfo', []), [true, 'scripted', false, 0]);
    const key = Buffer.from([0x17, 0, 0, 0, 0, 0xff, 0x00, 0x80]);
    // push a binary packet from Lua: pass it as a Lua string argument
    const r = s.host.event(s.host.app('')!, 'push', writeValues, [40, key]);
    assert.deepEqual(r, [40, 1]);
    const video = sink.frames.filter((f) => f.type === MediaType.Video);
    assert.equal(video.length, 1);
    assert.ok(video[0].payload.equals(key));
    assert.equal(sink.frames.filter((f) => f.type === MediaType.Audio).length, 0, 'receiveAudio=false set by script');
    assert.deepEqual(evalRoot(s, 'return props()'), [640]);
    assert.deepEqual(evalRoot(s, 'return stop()'), [false]);
    // client publications: refusals and the onVideo event with the exact packet
    assert.throws(() => s.ctx.publications.publish(c, 'forbidden'), { name: 'StreamRefused', code: 'Publish.Failed', message: 'Not allowed to publish forbidden' });
    assert.throws(() => s.ctx.publications.publish(c, 'refused'), { name: 'StreamRefused', message: 'no rights to publish it' });
    assert.throws(() => s.ctx.publications.subscribe(c, 'secret', new RecordingSink()), { name: 'StreamRefused', code: 'Play.Failed', message: 'no rights to play it' });
    const pub = s.ctx.publications.publish(c, 'live1');
    pub.pushVideo(1234, Buffer.concat([Buffer.from([0x17, 1]), Buffer.alloc(1000, 0xee), Buffer.from([0x42])]));
    assert.deepEqual(toJS(evalRoot(s, 'return seen')[0]), [1234, 1003, 0x17, 0x42]);
  } finally {
    await s.close();
  }
});

test('mona: conversions round trip, md5/sha256 raw digests, split, time, configs, addresses, listPaths', async () => {
  const s = await startLua(makeAppDir({ 'www/main.lua': '', 'www/sub/a.txt': 'hello', 'www/sub/b.lua': '' }));
  try {
    const [json] = evalRoot(s, 'return mona:toJSON({a = 1}, "x")');
    assert.equal(json, '[{"a":1},"x"]');
    assert.deepEqual(evalRoot(s, 'return mona:fromJSON("[{\\"a\\":1},\\"x\\",null,true]")').map(toJS), [{ a: 1 }, 'x', null, true]);
    assert.deepEqual(evalRoot(s, 'local a, b = mona:fromAMF(mona:toAMF0({x = 1}, "s")) return a, b').map(toJS), [{ x: 1 }, 's']);
    assert.deepEqual(evalRoot(s, 'local a = mona:fromAMF(mona:toAMF({x = {1, 2}})) return a').map(toJS), [{ x: [1, 2] }]);
    // a table's fields come in the VM's hash order (LuaJIT gives b before a, fengari a before b)
    const [query] = evalRoot(s, 'return mona:toQuery({a = 1, b = "x y"})');
    assert.deepEqual(String(query).split('&').sort(), ['a=1', 'b=x%20y']);
    assert.deepEqual(evalRoot(s, 'return mona:fromQuery("a=1&b=text")').map(toJS), [{ a: 1, b: 'text' }]);
    const [xml] = evalRoot(s, 'return mona:toXML({__name = "root", id = "7", {__name = "child", __value = "v"}})');
    assert.match(String(xml), /<root id="7" ><child >v<\/child><\/root>/);
    assert.deepEqual(evalRoot(s, 'return mona:fromXML("<a><b>t</b></a>")[1].__name'), ['a']);
    assert.deepEqual(evalRoot(s, 'local doc = mona:fromXML("<a x=\\"1\\"><b>t</b><c/></a>") local a = doc[1] return a.x, a.b.__value, a.c.__name, a.d'), ['1', 't', 'c', null]);
    const [rpc] = evalRoot(s, 'return mona:toXMLRPC("hi", 3)');
    assert.deepEqual(evalRoot(s, `return mona:fromXMLRPC(${JSON.stringify(String(rpc))})`).map(toJS), ['hi', 3]);
    const [md5, sha] = evalRoot(s, 'return mona:md5("abc"), mona.sha256("abc")');
    assert.ok(Buffer.isBuffer(md5) && md5.equals(createHash('md5').update('abc').digest()));
    assert.ok(Buffer.isBuffer(sha) && sha.equals(createHash('sha256').update('abc').digest()));
    assert.deepEqual(evalRoot(s, 'return mona:split("a, b,,c ", ",")'), ['a', ' b', '', 'c ']);
    assert.deepEqual(evalRoot(s, 'return mona:split("a, b,,c ", ",", 3)'), ['a', 'b', 'c']);
    const [t] = evalRoot(s, 'return mona:time()');
    assert.ok(typeof t === 'number' && Math.abs(t - Date.now()) < 5000);
    assert.deepEqual(evalRoot(s, 'return mona.configs.myKey, mona.configs.myGroup.myConfig, mona.configs.myGroup.flag'), [42, 'hello', true]);
    assert.deepEqual(evalRoot(s, 'return type(mona.environment.PATH)'), ['string']);
    assert.deepEqual(evalRoot(s, 'local a = mona:createIPAddress("192.168.1.2") return a.isSiteLocal, a.isLoopback, a.isIPv6, tostring(a)'), [true, false, false, '192.168.1.2']);
    assert.deepEqual(evalRoot(s, 'local a = mona:createSocketAddress("[::1]:1935") return a.port, a.isIPv6, a.host.isLoopback, a.value'), [1935, true, true, '[::1]:1935']);
    assert.deepEqual(evalRoot(s, 'return mona:createIPAddress("not an ip") == nil'), [true]);
    assert.deepEqual(evalRoot(s, 'local l = mona:listPaths("sub") return #l, l[1].name, l[1].size, l[1].extension, l[2].baseName, l[1].isFolder'), [2, 'a.txt', 5, 'txt', 'b', false]);
    assert.match(String(evalRoot(s, 'return mona:absolutePath("sub")')[0]), /\/www\/sub\/$/);
    evalRoot(s, 'mona:addToBlacklist("10.0.0.1") mona:addToBlacklist("10.0.0.2") mona:removeFromBlacklist("10.0.0.2")');
    assert.equal(s.ctx.blacklist.has('10.0.0.1:5000'), true);
    assert.equal(s.ctx.blacklist.has('10.0.0.2'), false);
    assert.throws(() => evalRoot(s, 'return mona:fromJSON("[1,")'), /JSON/);
  } finally {
    await s.close();
  }
});

test('mona.clients: callable by id and rawId, pairs, #', async () => {
  const s = await startLua(makeAppDir({ 'www/main.lua': '' }));
  try {
    const a = new FakeClient();
    const b = new FakeClient();
    s.ctx.connect(a, []);
    s.ctx.connect(b, []);
    const unhex = 'local function unhex(h) return (h:gsub("..", function(x) return string.char(tonumber(x, 16)) end)) end';
    assert.deepEqual(evalRoot(s, `${unhex} return mona.clients(${JSON.stringify(a.id)}).id, mona.clients(unhex(${JSON.stringify(b.id)})).id, #mona.clients, mona.clients.count`), [a.id, b.id, 2, 2]);
    assert.deepEqual(evalRoot(s, 'local n = 0 for k, v in pairs(mona.clients) do if v.id == k then n = n + 1 end end return n'), [2]);
    assert.deepEqual(evalRoot(s, 'return mona.clients("unknown") == nil'), [true]);
    s.ctx.disconnect(a);
    assert.deepEqual(evalRoot(s, 'return #mona.clients'), [1]);
  } finally {
    await s.close();
  }
});

test('a Lua error in an event is logged with file:line and other events keep working', async () => {
  const s = await startLua(
    makeAppDir({
      'www/main.lua': `
function onConnection(client)
  function client:ok() return "fine" end
end
function onDisconnection(client)
  local x = nil
  return x.field
end
`,
    }),
  );
  try {
    const a = new FakeClient();
    s.ctx.connect(a, []);
    s.ctx.disconnect(a);
    const errors = s.logger.at(Level.ERROR);
    assert.ok(errors.some((e) => e.startsWith('www/main.lua:7: ')), errors.join('\n'));
    const b = new FakeClient();
    s.ctx.connect(b, []);
    assert.deepEqual(s.host.call(b, 'ok', []), ['fine']);
  } finally {
    await s.close();
  }
});

test('log functions concatenate their arguments and name file:line', async () => {
  const s = await startLua(makeAppDir({ 'www/main.lua': 'NOTE("a", 1, true, nil, 2.5)\nWARN("second")' }));
  try {
    assert.ok(s.logger.at(Level.NOTE).includes('www/main.lua:1: a1truenil2.5'));
    assert.ok(s.logger.at(Level.WARN).includes('www/main.lua:2: second'));
  } finally {
    await s.close();
  }
});

test('a script stuck in a loop is interrupted with an error; the server goes on', async () => {
  const s = await startLua(
    makeAppDir({
      'www/main.lua': `
function onConnection(client)
  function client:spin() while true do end end
  function client:spinProtected() local ok, e = pcall(function() while true do end end) while true do end end
  function client:ok() return "still here" end
end
`,
    }),
  );
  try {
    s.host.callBudgetMs = 200;
    const c = new FakeClient();
    s.ctx.connect(c, []);
    assert.throws(() => s.host.call(c, 'spin', []), (e: Error) => e.name === 'CallFailed' && /www\/main\.lua:3: script interrupted/.test(e.message));
    // a pcall inside the script cannot swallow the interruption for good
    assert.throws(() => s.host.call(c, 'spinProtected', []), /script interrupted/);
    assert.deepEqual(s.host.call(c, 'ok', []), ['still here']);
  } finally {
    await s.close();
  }
});

test('onRead decisions, onHandshake/onRendezVousUnknown redirections, onAddressChanged', async () => {
  const s = await startLua(
    makeAppDir({
      'www/main.lua': `
function onConnection(client)
  function client:onRead(file, params)
    if file == "secret.html" then error("Access to file is forbidden") end
    if file == "old.html" then return "new.html" end
    if file == "page.html" then return file, { name = "robert", q = params.q } end
    if file == "custom" then self.writer:writeRaw("hello") return nil end
  end
  function client:onAddressChanged(old) moves = (moves or "") .. old .. ">" .. client.address end
end
function onHandshake(address, path, properties, attempts)
  if properties.redirect then return "10.0.0.1:1935", { "10.0.0.2:1935", "10.0.0.3:1935" } end
end
function onRendezVousUnknown(protocol, peerId) return { "192.168.0.2:1935" } end
`,
    }),
  );
  try {
    const c = new FakeClient('', 'HTTP');
    s.ctx.connect(c, []);
    assert.deepEqual(s.host.onRead(c, 'index.html', new Table()), { file: 'index.html', template: null });
    assert.throws(() => s.host.onRead(c, 'secret.html', new Table()), { name: 'CallFailed', message: 'Access to file is forbidden' });
    assert.deepEqual(s.host.onRead(c, 'old.html', new Table()), { file: 'new.html', template: null });
    const page = s.host.onRead(c, 'page.html', Table.of({ q: 'x' }));
    assert.equal(page.file, 'page.html');
    assert.deepEqual(toJS(page.template), { name: 'robert', q: 'x' });
    assert.deepEqual(s.host.onRead(c, 'custom', new Table()), { file: null, template: null });
    assert.deepEqual(c.mainWriter.sent[0], { kind: 'raw', data: Buffer.from('hello') });
    assert.deepEqual(s.host.onHandshake('1.2.3.4:5', '/app', Table.of({ redirect: 'yes' }), 1), ['10.0.0.1:1935', '10.0.0.2:1935', '10.0.0.3:1935']);
    assert.deepEqual(s.host.onHandshake('1.2.3.4:5', '/app', new Table(), 1), []);
    assert.deepEqual(s.host.onRendezVousUnknown('RTMFP', 'ab'.repeat(32)), ['192.168.0.2:1935']);
    c.address = '127.0.0.1:60000';
    s.host.onAddressChanged(c, '127.0.0.1:50000');
    assert.deepEqual(evalRoot(s, 'return moves'), ['127.0.0.1:50000>127.0.0.1:60000']);
  } finally {
    await s.close();
  }
});

test('data without a method and no onMessage handler is ignored; an onMessage error is logged and refused', async () => {
  const s = await startLua(
    makeAppDir({
      'www/main.lua': `
function onConnection(client, mode)
  if mode == "faulty" then function client:onMessage(x) error("bad message " .. tostring(x)) end end
end
`,
    }),
  );
  try {
    const quiet = new FakeClient();
    s.ctx.connect(quiet, []);
    assert.deepEqual(s.host.onMessage(quiet, ['hello']), []);
    const faulty = new FakeClient();
    s.ctx.connect(faulty, ['faulty']);
    assert.throws(() => s.host.onMessage(faulty, [1]), { name: 'CallFailed', message: 'www/main.lua:3: bad message 1' });
    assert.ok(s.logger.at(Level.ERROR).includes('www/main.lua:3: bad message 1'));
  } finally {
    await s.close();
  }
});
