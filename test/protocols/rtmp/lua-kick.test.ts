/**
 * A player too slow to keep up is ended by the server: its app's `client:onUnsubscribe` must run
 * like for any other end of a subscription (it used to be skipped for a kicked listener, leaving
 * the app's own bookkeeping wrong), and the player's connection is closed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LISTENER_LIMITS } from '../../../src/core/listener';
import { RTMPClient } from '../../../src/protocols/rtmp/client';
import { startRTMP, tempAppDir, waitFor } from './helpers';

const APP = `
unsubscribed = 0
function onConnection(client)
  function client:onUnsubscribe(listener) unsubscribed = unsubscribed + 1 end
  function client:unsubscribed() return unsubscribed end
end
`;

test('a listener kicked past the queue cap still reaches client:onUnsubscribe', async () => {
  const s = await startRTMP({ dir: tempAppDir({ live: APP }) });
  const publisher = new RTMPClient({ port: s.port });
  const player = new RTMPClient({ port: s.port });
  const watcher = new RTMPClient({ port: s.port });
  try {
    await publisher.connect('live');
    await player.connect('live');
    await watcher.connect('live');
    const pubStream = await publisher.createStream();
    publisher.command('publish', ['slow'], pubStream);
    await publisher.status(pubStream, 'NetStream.Publish.Start');
    const playStream = await player.createStream();
    player.command('play', ['slow'], playStream);
    await player.status(playStream, 'NetStream.Play.Start');
    player.socket.pause(); // stops reading: everything queues on the server

    // data messages are never dropped for a lagging player (video would be): the queue grows
    // past the cap, which ends the listener
    const text = 'x'.repeat(60 * 1024);
    const total = Math.ceil((LISTENER_LIMITS.closeBytes * 3) / text.length);
    for (let i = 0; i < total && !player.closed; i++) {
      publisher.sendData(pubStream, ['onCuePoint', text], i * 40);
      if (i % 16 === 15) await new Promise((r) => setTimeout(r, 5));
    }
    await waitFor(() => {
      const l = s.context.publications.get('slow');
      return l !== undefined && l.listeners.size === 0;
    }, 20_000, 'the slow listener is ended');
    const r = await watcher.call('unsubscribed');
    assert.equal(r.args[1], 1, 'onUnsubscribe ran once for the kicked listener');
  } finally {
    await Promise.all([publisher.close(), player.close(), watcher.close()]);
    await s.stop();
  }
});
