/**
 * What one client's script call may cost the others ([scripts] budget, startBudget, memory): a
 * runaway loop in an RPC is interrupted after the budget even inside pcall, and the next call of
 * the same client and other clients are served; the Lua VM's memory is capped; loading an app
 * gets the longer start budget. Through the real server over WebSocket (`ws`), on the engine the
 * server picks (LuaJIT where built) and on fengari (second pass of the test runner). The campaign's
 * runaway attack (test/helpers/attacks.ts) calls them in a loop against the real executable while
 * a healthy client is timed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startTestServer } from '../helpers/server';
import { luaRunaway } from '../helpers/attacks';
import { attackTest } from '../helpers/attack-test';

const APP = `
-- a second of work at load: within the start budget, not the per-request one
local t0 = os.clock()
while os.clock() - t0 < 0.8 do end
loaded = true
function onConnection(client)
  function client:spin() pcall(function() while true do end end) return "unreachable" end
  function client:nested() while true do pcall(function() local x = 0 for i = 1, 1e12 do x = x + i end end) end end
  function client:hog() local s = string.rep("x", 2^27) return #s end
  function client:grow() local s = "x" for i = 1, 40 do s = s .. s end return #s end
  function client:ok(n) return n * 2, loaded end
end
`;

function rpc(ws: WebSocket, ...call: unknown[]): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer to ${String(call[0])}`)), 20_000);
    ws.once('message', (m) => {
      clearTimeout(timer);
      resolve(JSON.parse(m.toString()) as unknown[]);
    });
    ws.send(JSON.stringify(call));
  });
}

function open(port: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/limits`);
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

test('[scripts] budget interrupts a runaway RPC even inside pcall; memory is capped; loading gets the start budget', async (t) => {
  const s = await startTestServer({ apps: { limits: APP }, overrides: { 'scripts.budget': '300', 'scripts.memory': '64' }, off: ['RTMP', 'RTMFP'] });
  t.after(() => s.stop());
  const a = await open(s.ports.http);
  const b = await open(s.ports.http);
  t.after(() => {
    a.close();
    b.close();
  });
  assert.deepEqual(await rpc(a, 'ok', 21), [42, true], 'the app loaded: its 0.8 s of work ran under the start budget');

  for (const method of ['spin', 'nested']) {
    const started = Date.now();
    const answer = await rpc(a, method);
    const took = Date.now() - started;
    assert.equal(answer[0], '__error', `${method}: ${JSON.stringify(answer)}`);
    assert.match(String(answer[1]), /interrupted/);
    assert.ok(took < 5000, `${method} answered after ${took} ms`);
    // the same client and another one go on
    assert.deepEqual(await rpc(a, 'ok', 1), [2, true]);
    assert.deepEqual(await rpc(b, 'ok', 2), [4, true]);
  }

  const engine = s.log().match(/lua apps run on (\S+)/)?.[1] ?? '?';
  if (engine.startsWith('fengari')) return; // no allocator hook in a JavaScript VM (documented)
  for (const method of ['hog', 'grow']) {
    const answer = await rpc(a, method);
    assert.equal(answer[0], '__error', `${method} on ${engine}: ${JSON.stringify(answer)}`);
    assert.match(String(answer[1]), /not enough memory/);
    assert.deepEqual(await rpc(b, 'ok', 3), [6, true], 'the VM is usable after an out-of-memory');
  }
});

attackTest(luaRunaway, (o) => assert.ok(o.slowestMs < 5000, `a runaway call answered after ${o.slowestMs} ms`));
