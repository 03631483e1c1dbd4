/**
 * The bundled sample www/ runs on the Lua host: root start counter in data, hello, onMessage echo,
 * stats over mona.publications/mona.clients, and the live/ app inheriting the root's events.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { Table, toJS, type Value } from '../../src/serialization/value';
import { evalRoot, FakeClient, makeAppDir, startLua } from './lua-fixtures';

const REPO_WWW = path.join(__dirname, '..', '..', '..', 'www');

test('the sample www/ works: hello, echo, stats, live/ inherits the root', async () => {
  const dir = makeAppDir({});
  fs.cpSync(REPO_WWW, path.join(dir, 'www'), { recursive: true });
  let s = await startLua(dir);
  try {
    const c = new FakeClient('/live', 'WebSocket');
    const r = s.ctx.connect(c, []);
    assert.ok(r instanceof Table && r.get('message') === 'welcome');
    assert.deepEqual(s.host.call(c, 'hello', ['Bob']), ['Hello Bob']);
    assert.deepEqual(s.host.onMessage(c, ['ping', 1]), ['ping', 1]);
    s.ctx.publications.publish(c, 'cam');
    const [pubs, clients] = s.host.call(c, 'stats', []) as Value[];
    assert.deepEqual(toJS(pubs), { cam: { listeners: 0, videoByteRate: 0 } });
    assert.equal(clients, 1);
  } finally {
    await s.close();
  }
  s = await startLua(dir);
  try {
    // the start counter in data survived the restart
    assert.deepEqual(evalRoot(s, 'return data.starts'), ['2']);
  } finally {
    await s.close();
  }
});
