/**
 * Shared and cyclic tables crossing into and out of a JavaScript app (a message whose tables
 * reference themselves used to be expanded as a tree), and script sockets from JavaScript: the
 * socket descriptors bound generically.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { test } from 'node:test';
import { Table } from '../../../src/serialization/value';
import { makeAppDir, startLua, writeValues } from '../lua-fixtures';

test('JS: a table inside itself and a 60-level chain of double references cross once; objects read back with their identity', async () => {
  const s = await startLua(
    makeAppDir({
      'www/main.js': `
export function check(t, chain) {
  let n = 0;
  for (let c = chain; c; c = c.l) n++;
  return [t.a === t && t.b === t, chain.l === chain.r, n];
}
export function make() { const x = [1]; const t = { x, y: x }; t.self = t; return t; }
export function roundTrip() { const t = { k: 'v' }; t.self = t; const [u] = mona.fromAMF(mona.toAMF(t)); return u.self === u && u.k === 'v'; }
`,
    }),
  );
  try {
    const t = new Table();
    t.set('a', t).set('b', t);
    let chain = new Table();
    for (let i = 0; i < 59; i++) chain = new Table([], { l: chain, r: chain });
    const started = Date.now();
    const r = s.host.event(s.host.app('')!, 'check', writeValues, [t, chain]);
    assert.ok(r && r[0] instanceof Table);
    assert.deepEqual((r![0] as Table).items, [true, true, 60]);
    assert.ok(Date.now() - started < 5000);
    const [back] = s.host.event(s.host.app('')!, 'make', null, null) ?? [];
    assert.ok(back instanceof Table && back.get('x') === back.get('y') && back.get('self') === back);
    assert.deepEqual(s.host.event(s.host.app('')!, 'roundTrip', null, null), [true]);
  } finally {
    await s.close();
  }
});

test('JS: a TCP echo server and a UDP socket from mona.createTCPServer/createUDPSocket', async () => {
  const s = await startLua(
    makeAppDir({
      'www/main.js': `
const server = mona.createTCPServer();
server.onConnection = (client) => { client.onData = (data) => { client.send('js:' + data.toString()); }; };
export const started = server.start('127.0.0.1', 0);
export function port() { return server.address.port; }
`,
    }),
  );
  try {
    const [port] = s.host.event(s.host.app('')!, 'port', null, null) ?? [];
    assert.equal(typeof port, 'number');
    const reply = await new Promise<string>((resolve, reject) => {
      const c = net.connect(port as number, '127.0.0.1', () => c.write('hi'));
      c.on('data', (d) => {
        resolve(d.toString());
        c.destroy();
      });
      c.on('error', reject);
    });
    assert.equal(reply, 'js:hi');
  } finally {
    await s.close();
  }
});
