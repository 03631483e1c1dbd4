/**
 * NetStream behaviour written once for both transports, each test run over RTMP and over RTMFP
 * with our clients: what the two copies did differently before they became one (a `?query` kept in
 * a published name, Play.Start before a refused play, no @clearDataFrame/pause/seek on RTMFP,
 * publish(false) answered BadName on RTMP, different status objects), the publish type reaching
 * core, and publication:close reaching the publisher's NetStream.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MessageType } from '../../../src/protocols/flash/messages';
import { Table } from '../../../src/serialization/value';
import { AAC_CONFIG, AVC_CONFIG, PROTOCOLS, StreamHost, aac, codes, inter, key, peer, player, publisher, startFlash } from './helpers';

for (const protocol of PROTOCOLS) {
  test(`${protocol}: a ?query after a published name is not part of the name`, async () => {
    const s = await startFlash();
    try {
      const { p, id } = await publisher(protocol, s, 'cam?token=secret&x=1');
      const info = p.statuses(id).find((i) => i.get('code') === 'NetStream.Publish.Start')!;
      assert.equal(info.get('description'), 'cam is now published');
      assert.equal(s.ctx.publications.get('cam')?.running, true);
      assert.equal(s.ctx.publications.get('cam?token=secret&x=1'), undefined);
      // and a player of the plain name gets it
      const v = await player(protocol, s, 'cam');
      p.sendMedia(id, MessageType.Video, 0, key(1));
      await v.p.until(() => v.p.media(v.id).some((m) => m.type === MessageType.Video), 'video');
      await v.p.close();
      await p.close();
    } finally {
      await s.stop();
    }
  });

  test(`${protocol}: a play the script refuses gets Play.Failed alone, never Play.Reset/Play.Start first`, async () => {
    let host!: StreamHost;
    const s = await startFlash({ host: (ctx) => (host = new StreamHost(ctx.wwwDir)) });
    const c = peer(protocol, s);
    try {
      host.refusePlay.set('secret', 'members only');
      await c.connect('live');
      const id = await c.createStream();
      c.command(id, 'play', 'secret');
      const failed = await c.waitStatus(id, 'NetStream.Play.Failed');
      assert.equal(failed.get('description'), 'members only');
      assert.equal(failed.get('level'), 'error');
      // the same stream then plays an allowed name normally
      c.command(id, 'play', 'open');
      await c.waitStatus(id, 'NetStream.Play.Start');
      assert.deepEqual(codes(c.statuses(id)), ['NetStream.Play.Failed', 'NetStream.Play.Reset', 'NetStream.Play.Start']);
    } finally {
      await c.close();
      await s.stop();
    }
  });

  test(`${protocol}: @clearDataFrame drops the kept metadata; late joiners then get none`, async () => {
    const s = await startFlash();
    try {
      const { p, id } = await publisher(protocol, s, 'meta');
      p.sendData(id, ['@setDataFrame', 'onMetaData', Table.of({ width: 640 })]);
      await p.until(() => s.ctx.publications.get('meta')?.metadata !== null, 'metadata kept');
      const early = await player(protocol, s, 'meta');
      await early.p.until(() => early.p.media(early.id).length >= 1, 'replayed metadata');
      assert.equal(early.p.media(early.id)[0].type, MessageType.DataAMF0);
      p.sendData(id, ['@clearDataFrame']);
      await p.until(() => s.ctx.publications.get('meta')?.metadata === null, 'metadata cleared');
      assert.equal(s.ctx.publications.get('meta')?.properties.fields.size, 0);
      p.sendMedia(id, MessageType.Video, 0, key(1));
      const late = await player(protocol, s, 'meta');
      p.sendMedia(id, MessageType.Video, 40, key(2));
      await late.p.until(() => late.p.media(late.id).some((m) => m.type === MessageType.Video), 'video');
      assert.ok(!late.p.media(late.id).some((m) => m.type === MessageType.DataAMF0), 'no metadata after @clearDataFrame');
      await early.p.close();
      await late.p.close();
      await p.close();
    } finally {
      await s.stop();
    }
  });

  test(`${protocol}: pause/unpause (Pause.Notify, nothing while paused, video restarts on a key frame) and seek (Seek.Notify)`, async () => {
    const s = await startFlash();
    try {
      const { p, id } = await publisher(protocol, s, 'pz');
      p.sendMedia(id, MessageType.Video, 0, AVC_CONFIG);
      p.sendMedia(id, MessageType.Audio, 0, AAC_CONFIG);
      p.sendMedia(id, MessageType.Video, 0, key(1));
      const v = await player(protocol, s, 'pz');
      p.sendMedia(id, MessageType.Video, 40, key(2));
      await v.p.until(() => v.p.media(v.id).some((m) => m.body[5] === 2), 'first key frame');
      v.p.command(v.id, 'pause', true, 0);
      await v.p.waitStatus(v.id, 'NetStream.Pause.Notify');
      const n = v.p.media(v.id).length;
      p.sendMedia(id, MessageType.Video, 80, key(3));
      p.sendMedia(id, MessageType.Audio, 80, aac(3));
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(v.p.media(v.id).length, n, 'paused: nothing delivered');
      v.p.command(v.id, 'pause', false, 80);
      await v.p.waitStatus(v.id, 'NetStream.Unpause.Notify');
      p.sendMedia(id, MessageType.Video, 120, inter(4));
      p.sendMedia(id, MessageType.Video, 160, key(5));
      await v.p.until(() => v.p.media(v.id).some((m) => m.body[5] === 5), 'key frame after unpause');
      const resumed = v.p.media(v.id).slice(n).filter((m) => m.type === MessageType.Video);
      assert.equal(resumed[0].body[5], 5, 'video resumes on a key frame');
      v.p.command(v.id, 'seek', 1000);
      const seek = await v.p.waitStatus(v.id, 'NetStream.Seek.Notify');
      assert.equal(seek.get('level'), 'status');
      assert.equal(seek.get('details'), 'pz');
      await v.p.close();
      await p.close();
    } finally {
      await s.stop();
    }
  });

  test(`${protocol}: publish(false) unpublishes (Unpublish.Success, players get UnpublishNotify), never BadName`, async () => {
    let host!: StreamHost;
    const s = await startFlash({ host: (ctx) => (host = new StreamHost(ctx.wwwDir)) });
    try {
      const { p, id } = await publisher(protocol, s, 'stopme');
      const v = await player(protocol, s, 'stopme');
      p.command(id, 'publish', false);
      await p.waitStatus(id, 'NetStream.Unpublish.Success');
      await v.p.waitStatus(v.id, 'NetStream.Play.UnpublishNotify');
      assert.ok(!codes(p.statuses(id)).includes('NetStream.Publish.BadName'));
      assert.equal(s.ctx.publications.get('stopme')?.running, false);
      assert.ok(host.events.includes('unpublish stopme'));
      // the same stream can publish again
      p.command(id, 'publish', 'stopme');
      await v.p.waitStatus(v.id, 'NetStream.Play.PublishNotify');
      await v.p.close();
      await p.close();
    } finally {
      await s.stop();
    }
  });

  test(`${protocol}: publish(name, type) keeps its type on the publication ("live" by default)`, async () => {
    const s = await startFlash();
    const c = peer(protocol, s);
    try {
      await c.connect('live');
      const id = await c.createStream();
      c.command(id, 'publish', 'rec', 'record');
      await c.waitStatus(id, 'NetStream.Publish.Start');
      assert.equal(s.ctx.publications.get('rec')?.publishType, 'record');
      c.command(id, 'publish', 'app', 'append');
      await c.waitStatus(id, 'NetStream.Unpublish.Success');
      await c.until(() => s.ctx.publications.get('app')?.running === true, 'append publication');
      assert.equal(s.ctx.publications.get('app')?.publishType, 'append');
      const id2 = await c.createStream();
      c.command(id2, 'publish', 'plain');
      await c.waitStatus(id2, 'NetStream.Publish.Start');
      assert.equal(s.ctx.publications.get('plain')?.publishType, 'live');
    } finally {
      await c.close();
      await s.stop();
    }
  });
}

test('both transports: the same play gives the same statuses and the same info objects', async () => {
  const s = await startFlash();
  try {
    const seen: Record<string, unknown> = {};
    for (const protocol of PROTOCOLS) {
      const { p, id } = await publisher(protocol, s, `same-${protocol}`);
      const v = await player(protocol, s, `same-${protocol}`);
      p.command(id, 'closeStream');
      await v.p.waitStatus(v.id, 'NetStream.Play.UnpublishNotify');
      v.p.command(v.id, 'closeStream');
      await v.p.waitStatus(v.id, 'NetStream.Play.Stop');
      const strip = (t: Table) => Object.fromEntries([...t.fields].map(([k, x]) => [k, String(x).replace(protocol, 'X')]));
      seen[protocol] = { publisher: p.statuses(id).map(strip), player: v.p.statuses(v.id).map(strip) };
      await v.p.close();
      await p.close();
    }
    assert.deepEqual(seen.RTMFP, seen.RTMP);
    const player0 = (seen.RTMP as { player: Array<Record<string, string>> }).player;
    assert.deepEqual(
      player0.map((x) => x.code),
      ['NetStream.Play.Reset', 'NetStream.Play.Start', 'NetStream.Play.UnpublishNotify', 'NetStream.Play.Stop'],
    );
    assert.deepEqual(player0[1], { level: 'status', code: 'NetStream.Play.Start', description: 'Started playing same-X', details: 'same-X' });
  } finally {
    await s.stop();
  }
});

const CLOSER = `
function onConnection(client)
  function client:onPublish(publication)
    local frames = 0
    function publication:onVideo(time, packet)
      frames = frames + 1
      if frames == 3 then publication:close("Publish.Kicked", "enough of " .. publication.name) end
    end
  end
  function client:closeQuietly(name) mona.publications(name):close() end
end
`;

for (const protocol of PROTOCOLS) {
  test(`${protocol}: publication:close(code, description) from a script reaches the publisher's NetStream`, async () => {
    const s = await startFlash({ apps: { live: CLOSER } });
    try {
      const { p, id } = await publisher(protocol, s, 'kick');
      const v = await player(protocol, s, 'kick');
      for (let i = 0; i < 3; i++) p.sendMedia(id, MessageType.Video, i * 40, key(i));
      const kicked = await p.waitStatus(id, 'NetStream.Publish.Kicked');
      assert.equal(kicked.get('description'), 'enough of kick');
      assert.equal(kicked.get('level'), 'status', 'Kicked is not an error code');
      await v.p.waitStatus(v.id, 'NetStream.Play.UnpublishNotify');
      assert.equal(s.ctx.publications.get('kick')?.running, false);
      // the stream no longer feeds anything: more media is dropped, and it may publish again
      p.sendMedia(id, MessageType.Video, 200, key(9));
      p.command(id, 'publish', 'kick');
      await v.p.waitStatus(v.id, 'NetStream.Play.PublishNotify');
      // without a code: NetStream.Publish.Error
      await p.call('closeQuietly', 'kick');
      const error = await p.waitStatus(id, 'NetStream.Publish.Error');
      assert.equal(error.get('level'), 'error');
      assert.equal(error.get('description'), 'kick is closed by the server');
      await v.p.close();
      await p.close();
    } finally {
      await s.stop();
    }
  });
}
