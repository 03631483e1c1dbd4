/**
 * HTTP and WebSocket against real Lua apps (LuaHost): one Lua method called by a JSON POST, an
 * XML-RPC POST, a form POST and a GET; cookies set by script; onRead templates; and headless
 * Chromium (Debian package, driven by playwright-core) loading a page from www/, calling a Lua RPC
 * over WebSocket and receiving a pushed invocation.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { LuaHost } from '../../../src/scripting/lua-host';
import { decodeXMLRPC } from '../../../src/serialization/xmlrpc';
import { curl, requireTool, startHTTP, tempWWW, type HTTPTestServer } from '../../helpers/http-server';

const MAIN_LUA = `
function onConnection(client, ...)
  function client:add(a, b)
    if type(a) == "table" then return a.a + a.b end
    return a + b
  end
  function client:hello(name)
    client.writer:writeInvocation("onPush", "pushed to " .. tostring(name))
    return "Hello " .. tostring(name)
  end
  function client:login(name)
    client.properties("user", name, {path = "/", expires = 3600})
    return "welcome"
  end
  function client:whoami()
    return client.properties.user
  end
  function client:count(...)
    local n = select('#', ...)
    return n, (select(n, ...))
  end
  function client:deep()
    local t = { "leaf" }
    for i = 2, 64 do t = { t } end
    return t
  end
  function client:onRead(file, params)
    if file == "page.html" then return file, {who = params.who or "stranger"} end
    return file
  end
end
`;

const PAGE = `<!DOCTYPE html><html><body><script>
window.results = [];
const ws = new WebSocket("ws://" + location.host + "/app");
ws.onopen = () => ws.send(JSON.stringify(["hello", "browser"]));
ws.onmessage = (e) => window.results.push(JSON.parse(e.data));
</script></body></html>`;

async function server(t: TestContext): Promise<HTTPTestServer> {
  const s = await startHTTP({
    dir: tempWWW({ 'app/main.lua': MAIN_LUA, 'app/page.html': '<p>Hi <% who %></p>', 'index.html': PAGE }),
    overrides: { 'HTTP.index': 'index.html' },
  });
  t.after(() => s.stop());
  return s;
}

test('a JSON POST, an XML-RPC POST, a form POST and a GET call the same Lua method', async (t) => {
  if (!requireTool(t, 'curl')) return;
  const s = await server(t);
  let r = await curl(['-H', 'Content-Type: application/json', '--data-binary', '[2, 3]', s.url('app/add')]);
  assert.deepEqual(JSON.parse(r.body.toString()), [5]);
  r = await curl(['-H', 'Content-Type: application/json', '--data-binary', '["add", 10, 20]', s.url('app/')]);
  assert.deepEqual(JSON.parse(r.body.toString()), [30]);
  const call = '<?xml version="1.0"?><methodCall><methodName>add</methodName><params><param><value><int>4</int></value></param><param><value><int>5</int></value></param></params></methodCall>';
  r = await curl(['-H', 'Content-Type: text/xml', '--data-binary', call, s.url('app/')]);
  assert.deepEqual(decodeXMLRPC(r.body).params, [9]);
  r = await curl(['--data', 'a=2&b=5', s.url('app/add')]);
  assert.equal(r.body.toString(), '7');
  r = await curl([s.url('app/add?a=1&b=1')]);
  assert.deepEqual(JSON.parse(r.body.toString()), [2]);
  r = await curl([s.url('app/nothing')]);
  assert.equal(r.status, 404);
  r = await curl([s.url('app/page.html?who=Lua')]);
  assert.equal(r.body.toString(), '<p>Hi Lua</p>');
});

test('a JSON POST of 15,000 arguments reaches Lua whole; a result nested 64 levels deep comes back whole', async (t) => {
  if (!requireTool(t, 'curl')) return;
  const s = await server(t);
  const body = `${s.dir}/args.json`;
  fs.writeFileSync(body, JSON.stringify(Array.from({ length: 15000 }, (_, i) => i + 1)));
  let r = await curl(['-H', 'Content-Type: application/json', '--data-binary', `@${body}`, s.url('app/count')]);
  assert.equal(r.status, 200, r.body.toString());
  assert.deepEqual(JSON.parse(r.body.toString()), [15000, 15000]);
  r = await curl(['-H', 'Content-Type: application/json', '--data-binary', '[]', s.url('app/deep')]);
  assert.equal(r.status, 200, r.body.toString());
  let v: unknown = (JSON.parse(r.body.toString()) as unknown[])[0];
  let depth = 0;
  while (Array.isArray(v)) {
    depth++;
    v = v[0];
  }
  assert.deepEqual([depth, v], [64, 'leaf']);
});

test('cookies set by a Lua script with client.properties(key, value, options) come back', async (t) => {
  if (!requireTool(t, 'curl')) return;
  const s = await server(t);
  const jar = `${s.dir}/jar.txt`;
  let r = await curl(['-c', jar, s.url('app/login?ann')]);
  assert.match(r.headers, /Set-Cookie: user=/i);
  r = await curl(['-b', jar, s.url('app/whoami')]);
  assert.deepEqual(JSON.parse(r.body.toString()), ['ann']);
});

test('headless Chromium loads a page from www/, calls a Lua RPC over WebSocket and receives a push', async (t) => {
  if (!fs.existsSync('/usr/bin/chromium')) {
    if (process.env.CI) throw new Error('chromium is required in CI');
    t.skip('chromium not installed');
    return;
  }
  const s = await server(t);
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox', '--headless=new'], timeout: 30_000 });
  t.after(() => browser.close());
  const page = await browser.newPage();
  const response = await page.goto(s.url('/'));
  assert.equal(response?.status(), 200);
  await page.waitForFunction(() => (globalThis as unknown as { results: unknown[] }).results.length >= 2, undefined, { timeout: 15_000 });
  const results = await page.evaluate(() => (globalThis as unknown as { results: unknown[] }).results);
  assert.deepEqual(results, [['onPush', 'pushed to browser'], ['Hello browser']]);
});
