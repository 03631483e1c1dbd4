/**
 * writer:writeStatusResponse(code, description) from Lua to WebSocket (the `ws` package) and HTTP
 * (curl) clients: the code named as Flash clients get it (NetConnection.<code>, a code already
 * naming its object kept) and graded (level "error" for …Failed…), the one rule of core/status.ts
 * that the Flash writers follow too.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { curl, requireTool, startHTTP, tempWWW } from '../helpers/http-server';

const MAIN = `
function onConnection(client)
  function client:statuses()
    client.writer:writeStatusResponse("Call.Failed", "nope")
    client.writer:writeStatusResponse("NetStream.Play.Start")
    client.writer:writeStatusResponse("App.Custom", "x")
    return "done"
  end
end
`;

test('WebSocket and HTTP: writeStatusResponse prefixes the code with NetConnection and grades it', async (t) => {
  const s = await startHTTP({ dir: tempWWW({ 'app/main.lua': MAIN }) });
  t.after(() => s.stop());
  const ws = new WebSocket(`ws://127.0.0.1:${s.port}/app`);
  t.after(() => ws.close());
  const frames: unknown[] = [];
  ws.on('message', (d) => frames.push(JSON.parse(d.toString())));
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  ws.send(JSON.stringify(['statuses']));
  const until = Date.now() + 10_000;
  while (frames.length < 4 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(frames, [
    ['onStatus', { level: 'error', code: 'NetConnection.Call.Failed', description: 'nope' }],
    ['onStatus', { level: 'status', code: 'NetStream.Play.Start', description: '' }],
    ['onStatus', { level: 'status', code: 'NetConnection.App.Custom', description: 'x' }],
    ['done'],
  ]);
  if (!requireTool(t, 'curl')) return;
  const r = await curl(['-H', 'Content-Type: application/json', '--data-binary', '[]', s.url('app/statuses')]);
  const body = r.body.toString();
  assert.match(body, /"level":"error","code":"NetConnection\.Call\.Failed","description":"nope"/);
  assert.match(body, /"code":"NetStream\.Play\.Start"/);
  assert.match(body, /"code":"NetConnection\.App\.Custom"/);
});
