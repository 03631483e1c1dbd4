/**
 * `data` keeps what it acknowledged: a script assigns `data[k]` in an RPC, the RPC's answer reaches
 * the client, then the server process is killed (SIGKILL, no chance to flush). At the next start
 * every key whose answer came more than 50 ms before the kill is there with its value, and no key
 * came back as a table or a corrupted value. Through the real executable, over WebSocket (`ws`):
 * the campaign's attack (test/helpers/attacks.ts), which reads the data folder back with a
 * DataStore as the next start does.
 */
import assert from 'node:assert/strict';
import { dataKill } from '../helpers/attacks';
import { attackTest } from '../helpers/attack-test';

attackTest(dataKill, (o) => {
  assert.deepEqual(o.lost, []);
  assert.ok(o.acked > 200, `only ${o.acked} writes acknowledged before the kill`);
  assert.ok(o.checked > 50, `${o.checked} writes old enough to check`);
});
