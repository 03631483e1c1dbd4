/**
 * The Flash layer over a transport that is nothing but the FlashTransport interface (what RTMPS or a
 * server-to-server link will be): an in-memory transport records what goes out per channel. Checks
 * that a transport needs nothing else to connect, publish and play, that every player is handed the
 * publisher's very payload Buffer (no copy per listener), and the message codecs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from '../../../src/core/client';
import { ServerContext } from '../../../src/core/context';
import type { MediaFrame } from '../../../src/core/media';
import type { Writer } from '../../../src/core/writer';
import { defaultConfig } from '../../../src/registry';
import { Level } from '../../../src/logs/levels';
import { ServerLogger } from '../../../src/logs/logger';
import { MessageType, decodeCommand, decodeData, encodeCommand, userControl } from '../../../src/protocols/flash/messages';
import { NetConnection } from '../../../src/protocols/flash/net-connection';
import type { FlashChannel, FlashTransport } from '../../../src/protocols/flash/transport';
import { encodeAMF0 } from '../../../src/serialization/amf0';
import { Table, type Value } from '../../../src/serialization/value';
import { TestHost } from '../../helpers/test-host';

interface Sent {
  channel: number;
  type: number;
  time: number;
  payload: Buffer;
  media: boolean;
}

class MemoryClient extends Client {
  readonly protocol = 'Memory';
  flash!: NetConnection;
  closedWith: string | null = null;
  get writer(): Writer {
    return this.flash.writer;
  }
  close(reason = 'closed'): void {
    this.closedWith = reason;
    this.flash.close(reason);
  }
}

class MemoryTransport implements FlashTransport {
  readonly client: MemoryClient;
  readonly sent: Sent[] = [];
  readonly partialReliability = false;
  readonly connectProperties = null;
  readonly mainChannel: FlashChannel;
  private nextChannel = 0;
  timeoutMs: number | null | undefined = undefined;
  constructor(readonly context: ServerContext) {
    this.client = new MemoryClient('memory:1');
    this.mainChannel = this.channel();
  }
  private channel(): FlashChannel {
    const id = this.nextChannel++;
    const sent = this.sent;
    const self = this;
    return {
      send: (type, time, payload) => sent.push({ channel: id, type, time, payload, media: false }),
      sendMedia: (type: number, time: number, _frame: MediaFrame, payload: Buffer) => sent.push({ channel: id, type, time, payload, media: true }),
      sendRaw: (payload) => sent.push({ channel: id, type: -1, time: 0, payload, media: false }),
      flush: () => {},
      queuedBytes: () => 0,
      open: () => self.channel(),
      close: () => {},
    };
  }
  openStream(): FlashChannel {
    return this.channel();
  }
  connecting(): void {}
  connected(timeoutMs: number | null): void {
    this.timeoutMs = timeoutMs;
  }
  close(reason: string): void {
    this.client.close(reason);
  }
  log(): void {}
  /** what the peer would decode: commands by name */
  commands(): Array<{ name: string; transaction: number; args: Value[] }> {
    return this.sent.filter((s) => s.type === MessageType.CommandAMF0 || s.type === MessageType.CommandAMF3).map((s) => decodeCommand(s.type, s.payload));
  }
  command(streamId: number, name: string, transaction: number, object: Value, ...args: Value[]): void {
    const { type, payload } = encodeCommand(false, name, transaction, object, args);
    this.client.flash.onMessage(streamId, type, 0, payload);
  }
}

function setup(): { ctx: ServerContext; dir: string; connect(): MemoryTransport } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flash-memory-'));
  fs.mkdirSync(path.join(dir, 'www', 'live'), { recursive: true });
  const ctx = new ServerContext(defaultConfig(dir), new ServerLogger({ level: Level.WARN, console: null }), new TestHost(path.join(dir, 'www')), 'test');
  return {
    ctx,
    dir,
    connect() {
      const t = new MemoryTransport(ctx);
      t.client.flash = new NetConnection(t);
      t.command(0, 'connect', 1, Table.of({ app: 'live', tcUrl: 'memory://x/live', objectEncoding: 3 }));
      return t;
    },
  };
}

test('a transport made of the interface alone: connect, publish, play; every player gets the publisher payload itself', () => {
  const { ctx, dir, connect } = setup();
  try {
    const pub = connect();
    const result = pub.commands()[0];
    assert.equal(result.name, '_result');
    assert.equal((result.args[0] as Table).get('objectEncoding'), 3);
    assert.equal(pub.sent[0].type, MessageType.CommandAMF3, 'objectEncoding 3: AMF3 commands');
    assert.equal(pub.timeoutMs, null);
    pub.command(0, 'createStream', 2, null);
    const sid = pub.commands()[1].args[0] as number;
    pub.command(sid, 'publish', 0, null, 'cam', 'live');
    assert.equal(ctx.publications.get('cam')?.running, true);

    const players = [connect(), connect()];
    for (const p of players) {
      p.command(0, 'createStream', 2, null);
      p.command(1, 'play', 0, null, 'cam');
    }
    const key = Buffer.from([0x17, 1, 0, 0, 0, 1]);
    pub.client.flash.onMessage(sid, MessageType.Video, 40, key);
    for (const p of players) {
      const video = p.sent.filter((s) => s.media && s.type === MessageType.Video);
      assert.equal(video.length, 1);
      assert.equal(video[0].payload, key, 'the very Buffer the publisher sent: nothing copied per listener');
      assert.equal(video[0].time, 0);
      const statuses = p.commands().filter((c) => c.name === 'onStatus').map((c) => (c.args[0] as Table).get('code'));
      assert.deepEqual(statuses, ['NetStream.Play.Reset', 'NetStream.Play.Start']);
      const begin = p.sent.find((s) => s.type === MessageType.UserControl)!;
      assert.deepEqual(begin.payload, userControl(0, 1), 'Stream Begin of stream 1');
    }
    // the session ends: the publication goes, players are told
    pub.close('bye');
    assert.equal(ctx.publications.get('cam')?.running, false);
    for (const p of players) assert.ok(p.commands().some((c) => (c.args[0] as Table | null)?.get?.('code') === 'NetStream.Play.UnpublishNotify'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('message codecs: AMF0 and AMF3 commands round trip, data keeps its format byte, user control bodies', () => {
  for (const amf3 of [false, true]) {
    const { type, payload } = encodeCommand(amf3, 'onStatus', 5, null, [Table.of({ code: 'X', level: 'status' }), 'two', 3]);
    assert.equal(type, amf3 ? MessageType.CommandAMF3 : MessageType.CommandAMF0);
    if (amf3) assert.equal(payload[0], 0, 'type 17 starts with its format byte');
    const c = decodeCommand(type, payload);
    assert.deepEqual([c.name, c.transaction, c.object], ['onStatus', 5, null]);
    assert.equal((c.args[0] as Table).get('code'), 'X');
    assert.deepEqual(c.args.slice(1), ['two', 3]);
  }
  const data = encodeAMF0('@setDataFrame', 'onMetaData', Table.of({ width: 2 }));
  assert.deepEqual(decodeData(MessageType.DataAMF3, Buffer.concat([Buffer.from([0]), data]))[1], 'onMetaData');
  assert.deepEqual(decodeData(MessageType.DataAMF0, data)[0], '@setDataFrame');
  assert.throws(() => decodeData(MessageType.DataAMF0, Buffer.alloc(0)));
  assert.deepEqual(userControl(0x29, 15000, 10000), Buffer.from([0, 0x29, 0, 0, 0x3a, 0x98, 0, 0, 0x27, 0x10]));
});
