/**
 * Recording asked by the publisher and by scripts: RTMP `publish(name, "record")` and `"append"`
 * (the name saying FLV or MP4), the statuses the publisher gets (Record.Start, Record.Stop before
 * Unpublish.Success, Record.NoAccess when the app refuses), the app's `client:onWrite` (refuse,
 * rename) and `publication:onRecord` / `onRecordStop` events, and `mona:publish(name, "record")`
 * writing in the folder of the app whose script publishes. Files are checked with ffprobe.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RTMPClient } from '../../src/protocols/rtmp/client';
import type { Value } from '../../src/serialization/value';
import { requireTool, startHTTP, tempWWW, type HTTPTestServer } from '../helpers/http-server';
import { flvTags } from '../media/helpers';
import { testFLV, waitFor } from '../protocols/rtmp/helpers';

const MAIN = `
function onConnection(client)
  function client:onPublish(publication)
    function publication:onRecord(file)
      client.writer:writeInvocation("recordStarted", file)
    end
    function publication:onRecordStop(file, info)
      client.writer:writeInvocation("recordStopped", file, info.duration, info.frames, info.error)
    end
  end
  function client:onWrite(file, params)
    if file == "forbidden.flv" then return false end
    if file == "other.flv" then return "renamed.flv" end
    return true
  end
  function client:startScripted()
    scripted = mona:publish("scripted", "record")
    return scripted ~= nil
  end
  function client:stopScripted()
    scripted:close()
    return true
  end
end
`;

async function server(t: TestContext): Promise<HTTPTestServer> {
  // the server's own recordings record what is published
  const s = await startHTTP({ dir: tempWWW({ 'live/main.lua': MAIN }), rtmp: true });
  t.after(() => s.stop());
  return s;
}

/** ffprobe's duration, NaN while the file is not readable yet */
function duration(file: string): number {
  if (!fs.existsSync(file)) return NaN;
  const r = spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file]);
  return r.status === 0 ? Number(r.stdout.toString()) : NaN;
}

/** Publishes the 6 s test FLV's tags (as fast as they go) with `publish(name, type)`, then stops. */
async function publishFile(s: HTTPTestServer, name: string, type: string): Promise<{ c: RTMPClient; id: number; codes: string[]; invocations: Array<{ name: string; args: Value[] }> }> {
  const c = new RTMPClient({ port: s.rtmpPort });
  await c.connect('live');
  const id = await c.createStream();
  c.command('publish', [name, type], id);
  await c.status(id, 'NetStream.Publish.Start');
  for (const tag of flvTags(testFLV())) {
    if (tag.type === 8) c.sendAudio(id, tag.time, tag.body);
    else if (tag.type === 9) c.sendVideo(id, tag.time, tag.body);
    else c.send(5, 18, id, tag.time, tag.body);
  }
  return { c, id, codes: [], invocations: c.invocations };
}

async function stopPublishing(p: { c: RTMPClient; id: number }): Promise<string[]> {
  p.c.command('publish', [false], p.id);
  await p.c.status(p.id, 'NetStream.Unpublish.Success');
  return p.c.statuses.filter((x) => x.streamId === p.id).map((x) => x.code);
}

test('RTMP publish(name, "record"), then "append", records to FLV; "mp4:" to MP4; statuses and app events', { timeout: 60_000 }, async (t) => {
  if (!requireTool(t, 'ffprobe')) return;
  const s = await server(t);
  const dir = path.join(s.www, 'live');
  let p = await publishFile(s, 'cam', 'record');
  await p.c.status(p.id, 'NetStream.Record.Start');
  await waitFor(() => p.invocations.some((i) => i.name === 'recordStarted'), 5000, 'publication:onRecord');
  assert.deepEqual(p.invocations.find((i) => i.name === 'recordStarted')!.args, ['cam.flv']);
  // frames sent: stop, and Record.Stop comes before Unpublish.Success
  await waitFor(() => s.context.publications.get('cam')!.lastTime >= 5900, 10_000, 'frames');
  const codes = await stopPublishing(p);
  assert.deepEqual(codes, ['NetStream.Publish.Start', 'NetStream.Record.Start', 'NetStream.Record.Stop', 'NetStream.Unpublish.Success']);
  await waitFor(() => p.invocations.some((i) => i.name === 'recordStopped'), 5000, 'publication:onRecordStop');
  const stopped = p.invocations.find((i) => i.name === 'recordStopped')!.args;
  assert.equal(stopped[0], 'cam.flv');
  assert.ok(Math.abs((stopped[1] as number) - 6) < 0.3, `onRecordStop duration ${stopped[1]}`);
  await p.c.close();
  await waitFor(() => fs.existsSync(path.join(dir, 'cam.flv')) && duration(path.join(dir, 'cam.flv')) > 5.5, 5000, 'cam.flv');
  const first = duration(path.join(dir, 'cam.flv'));

  // append: the same file goes on
  p = await publishFile(s, 'cam', 'append');
  await p.c.status(p.id, 'NetStream.Record.Start');
  await waitFor(() => s.context.publications.get('cam')!.lastTime >= 5900, 10_000, 'frames');
  await stopPublishing(p);
  await p.c.close();
  await waitFor(() => duration(path.join(dir, 'cam.flv')) > first + 5.5, 5000, 'appended cam.flv');
  assert.ok(Math.abs(duration(path.join(dir, 'cam.flv')) - 12) < 0.5);

  // mp4: → an MP4 file, publication named without the prefix
  p = await publishFile(s, 'mp4:clip', 'record');
  assert.ok(s.context.publications.get('clip')?.running);
  await p.c.status(p.id, 'NetStream.Record.Start');
  await waitFor(() => s.context.publications.get('clip')!.lastTime >= 5900, 10_000, 'frames');
  await stopPublishing(p);
  await p.c.close();
  await waitFor(() => fs.existsSync(path.join(dir, 'clip.mp4')) && duration(path.join(dir, 'clip.mp4')) > 5.5, 5000, 'clip.mp4');
});

test('client:onWrite refuses (Record.NoAccess, the publication goes on) or renames; names cannot leave the app folder', { timeout: 60_000 }, async (t) => {
  if (!requireTool(t, 'ffprobe')) return;
  const s = await server(t);
  const dir = path.join(s.www, 'live');
  let p = await publishFile(s, 'forbidden', 'record');
  await p.c.status(p.id, 'NetStream.Record.NoAccess');
  assert.ok(s.context.publications.get('forbidden')?.running, 'published all the same');
  await stopPublishing(p);
  await p.c.close();
  assert.equal(fs.existsSync(path.join(dir, 'forbidden.flv')), false);

  p = await publishFile(s, 'other', 'record');
  await p.c.status(p.id, 'NetStream.Record.Start');
  await stopPublishing(p);
  await p.c.close();
  await waitFor(() => fs.existsSync(path.join(dir, 'renamed.flv')), 5000, 'renamed.flv');
  assert.equal(fs.existsSync(path.join(dir, 'other.flv')), false);

  // a name that climbs out of the folder is refused
  p = await publishFile(s, '../escape', 'record');
  await p.c.status(p.id, 'NetStream.Record.NoAccess');
  await stopPublishing(p);
  await p.c.close();
  assert.equal(fs.existsSync(path.join(s.www, 'escape.flv')), false);
});

test('mona:publish(name, "record") records in the folder of the app whose script publishes', { timeout: 60_000 }, async (t) => {
  if (!requireTool(t, 'ffprobe')) return;
  const s = await server(t);
  const c = new RTMPClient({ port: s.rtmpPort });
  t.after(() => c.close());
  await c.connect('live');
  assert.deepEqual((await c.call('startScripted')).args.slice(1), [true]);
  const pub = s.context.publications.get('scripted')!;
  assert.equal(pub.publishType, 'record');
  assert.equal(pub.app, '/live');
  for (const tag of flvTags(testFLV())) {
    if (tag.type === 8) pub.pushAudio(tag.time, tag.body);
    else if (tag.type === 9) pub.pushVideo(tag.time, tag.body);
  }
  await c.call('stopScripted');
  const file = path.join(s.www, 'live', 'scripted.flv');
  await waitFor(() => fs.existsSync(file) && duration(file) > 5.5, 5000, 'scripted.flv');
});

test('RTMFP publish(name, "record") records too (the same Flash layer)', { timeout: 60_000 }, async (t) => {
  if (!requireTool(t, 'ffprobe')) return;
  const s = await server(t);
  const { RTMFPServer } = await import('../../src/protocols/rtmfp/server');
  const { RtmfpTestClient } = await import('../helpers/rtmfp-client');
  const rtmfp = new RTMFPServer(s.context, 0, '127.0.0.1');
  await rtmfp.start();
  t.after(() => rtmfp.stop());
  const c = new RtmfpTestClient({ port: rtmfp.boundPort });
  t.after(() => c.close());
  await c.connect(`rtmfp://127.0.0.1:${rtmfp.boundPort}/live`);
  const id = await c.createStream();
  await c.streamCommand(id, 'publish', ['mp4:flow', 'record'], /Publish\.Start/);
  for (const tag of flvTags(testFLV())) c.sendMedia(id, tag.type, tag.time, tag.body);
  await c.waitStatus(id, /Record\.Start/);
  await waitFor(() => (s.context.publications.get('flow')?.lastTime ?? 0) >= 5900, 15_000, 'frames over RTMFP');
  await c.streamCommand(id, 'publish', [false], /Unpublish\.Success/);
  const file = path.join(s.www, 'live', 'flow.mp4');
  await waitFor(() => duration(file) > 5.5, 5000, 'flow.mp4');
});
