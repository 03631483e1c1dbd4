/**
 * FLV and MPEG-TS muxing of publication frames, checked with ffprobe/ffmpeg on files we generate:
 * an ffmpeg-made H.264/AAC FLV is split into tags, pushed into a publication, and what the HTTP live
 * sinks write must decode cleanly (all frames, no continuity or timestamp errors). Also checks that
 * every listener gets the very same frame bytes (no per-listener copies).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FolderHost } from '../../src/core/app-host';
import { Publications } from '../../src/core/publications';
import { FLVSink, TSSink } from '../../src/protocols/http/live';
import { TS_MUX_STATE, crc32, parseAACConfig, adts, parseAVCConfig } from '../../src/media/mpegts';
import { flvTag, stripSetDataFrame } from '../../src/media/flv';
import { requireTool } from '../helpers/http-server';
import type { Output } from '../../src/transport/connection';
import { decodedVideoFrames, probe, testFLV } from '../protocols/rtmp/helpers';

/** Collects what a sink writes; keeps the Buffer objects to compare identities. */
class FakeSocket implements Output {
  chunks: Buffer[] = [];
  closed = false;
  write(b: Buffer): boolean {
    this.chunks.push(b);
    return true;
  }
  flush(): void {}
  queuedBytes(): number {
    return 0;
  }
}

export interface Tag {
  type: number;
  time: number;
  body: Buffer;
}

export function readFLVTags(file: Buffer): Tag[] {
  const tags: Tag[] = [];
  let o = file.readUInt32BE(5) + 4;
  while (o + 11 <= file.length) {
    const type = file[o];
    const size = file.readUIntBE(o + 1, 3);
    const time = file.readUIntBE(o + 4, 3) | (file[o + 7] << 24);
    if (o + 11 + size > file.length) break;
    tags.push({ type, time, body: file.subarray(o + 11, o + 11 + size) });
    o += 11 + size + 4;
  }
  return tags;
}

function feed(tags: Tag[]) {
  const pubs = new Publications(() => new FolderHost('/nonexistent'));
  const sockets = { flv: new FakeSocket(), ts: new FakeSocket(), ts2: new FakeSocket() };
  const flv = new FLVSink(sockets.flv);
  const ts = new TSSink(sockets.ts);
  const ts2 = new TSSink(sockets.ts2);
  const pub = pubs.publish(null, 'm');
  pubs.subscribe(null, 'm', flv);
  pubs.subscribe(null, 'm', ts);
  pubs.subscribe(null, 'm', ts2);
  for (const t of tags) {
    if (t.type === 8) pub.pushAudio(t.time, t.body);
    else if (t.type === 9) pub.pushVideo(t.time, t.body);
    else if (t.type === 18) pub.pushData(t.body);
  }
  pub.flush();
  return sockets;
}

function cleanDecode(file: string): string {
  const r = spawnSync('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-']);
  return r.stderr.toString().trim();
}

test('live FLV and TS of an H.264/AAC publication decode completely with ffmpeg', (t) => {
  if (!requireTool(t, 'ffmpeg') || !requireTool(t, 'ffprobe')) return;
  const tags = readFLVTags(fs.readFileSync(testFLV()));
  const videoTags = tags.filter((x) => x.type === 9 && x.body[1] === 1).length;
  assert.ok(videoTags >= 140);
  const sockets = feed(tags);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mux-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const flvFile = path.join(dir, 'out.flv');
  const tsFile = path.join(dir, 'out.ts');
  fs.writeFileSync(flvFile, Buffer.concat(sockets.flv.chunks));
  fs.writeFileSync(tsFile, Buffer.concat(sockets.ts.chunks));
  for (const file of [flvFile, tsFile]) {
    const p = probe(file);
    assert.deepEqual([...p.codecs].sort(), ['aac', 'h264'], file);
    assert.ok(p.keyFirst, file);
    assert.equal(decodedVideoFrames(file), videoTags, file);
    assert.equal(cleanDecode(file), '', file);
    assert.ok(p.audio.length > 200, `${file}: ${p.audio.length} audio packets`);
  }
  // TS: whole packets, sync bytes
  const ts = fs.readFileSync(tsFile);
  assert.equal(ts.length % 188, 0);
  for (let o = 0; o < ts.length; o += 188) assert.equal(ts[o], 0x47);
  // the two TS listeners got the very same Buffer objects: serialized once per frame
  assert.equal(sockets.ts.chunks.length, sockets.ts2.chunks.length);
  sockets.ts.chunks.forEach((b, i) => assert.equal(b, sockets.ts2.chunks[i]));
});

test('TS pieces: CRC-32/MPEG-2, AVC config to Annex B, ADTS header, metadata prefix', () => {
  // CRC of a standard PAT section (program 1 → PMT 0x1000), as muxers write it
  assert.equal(crc32(Buffer.from('00b00d0001c100000001f000', 'hex')).toString(16), '2ab104b2');
  const rec = Buffer.from([1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 3, 0x67, 1, 2, 1, 0, 2, 0x68, 3]);
  const cfg = parseAVCConfig(rec)!;
  assert.equal(cfg.lengthSize, 4);
  assert.deepEqual([...cfg.annexB], [0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3]);
  assert.equal(parseAVCConfig(rec.subarray(0, 9)), null); // truncated
  const aac = parseAACConfig(Buffer.from([0x12, 0x10]))!; // LC, 44100, stereo
  assert.deepEqual(aac, { profile: 1, freqIndex: 4, channels: 2 });
  assert.deepEqual([...adts(aac, 100)], [0xff, 0xf1, 0x50, 0x80, 0x0d, 0x7f, 0xfc]); // frame length 107
  const amf = Buffer.from([0x02, 0x00, 0x0d, ...Buffer.from('@setDataFrame'), 0x02, 0, 1, 0x61]);
  assert.deepEqual([...stripSetDataFrame(amf)], [0x02, 0, 1, 0x61]);
  const tag = flvTag(9, 0x01020304, Buffer.from([1, 2]));
  assert.deepEqual([...tag], [9, 0, 0, 2, 0x02, 0x03, 0x04, 0x01, 0, 0, 0, 1, 2, 0, 0, 0, 13]);
});

test('the TS muxer state lives on the publication: one per publication, whatever the number of TS players', () => {
  const tags = readFLVTags(fs.readFileSync(testFLV())).slice(0, 60);
  const pubs = new Publications(() => new FolderHost('/nonexistent'));
  const pub = pubs.publish(null, 'state');
  const sinks = [new TSSink(new FakeSocket()), new TSSink(new FakeSocket())];
  const listeners = sinks.map((s) => pubs.subscribe(null, 'state', s));
  for (const t of tags) {
    if (t.type === 8) pub.pushAudio(t.time, t.body);
    else if (t.type === 9) pub.pushVideo(t.time, t.body);
  }
  const state = pub.peekDerived(TS_MUX_STATE);
  assert.ok(state, 'made by the first TS frame');
  assert.equal(pub.derived(TS_MUX_STATE), state, 'the one state every TS player reads through');
  // a second publisher of the same name continues the same continuity counters (players stay)
  pubs.unpublish(pub);
  assert.equal(pubs.publish(null, 'state'), pub);
  assert.equal(pub.peekDerived(TS_MUX_STATE), state);
  pubs.unpublish(pub);
  for (const l of listeners) pubs.unsubscribe(l);
  assert.equal(pubs.get('state'), undefined);
  assert.equal(pub.peekDerived(TS_MUX_STATE), undefined, 'released with the publication');
});
