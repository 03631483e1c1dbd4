import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FolderHost, type AppHost } from '../../src/core/app-host';
import { Client } from '../../src/core/client';
import { StreamRefused } from '../../src/core/errors';
import { LISTENER_LIMITS, type Listener, type MediaSink } from '../../src/core/listener';
import { MediaFrame, MediaType } from '../../src/core/media';
import type { Publication } from '../../src/core/publication';
import { Publications } from '../../src/core/publications';
import type { Writer } from '../../src/core/writer';
import { Table } from '../../src/serialization/value';

class FakeClient extends Client {
  readonly protocol = 'TEST';
  get writer(): Writer {
    throw new Error('no writer');
  }
  close(): void {}
}

class FakeSink implements MediaSink {
  events: string[] = [];
  frames: Array<{ frame: MediaFrame; time: number }> = [];
  queued = 0;
  closedReason = '';
  writeMedia(frame: MediaFrame, time: number): void {
    this.frames.push({ frame, time });
  }
  onPublicationStart(p: Publication): void {
    this.events.push('start:' + p.name);
  }
  onPublicationStop(p: Publication): void {
    this.events.push('stop:' + p.name);
  }
  flush(): void {}
  queuedBytes(): number {
    return this.queued;
  }
  close(reason: string): void {
    this.closedReason = reason;
  }
}

const AVC_CONFIG = Buffer.from([0x17, 0x00, 0, 0, 0, 1, 0x64]);
const AAC_CONFIG = Buffer.from([0xaf, 0x00, 0x12, 0x10]);
const key = (n: number) => Buffer.from([0x17, 0x01, 0, 0, 0, n]);
const inter = (n: number) => Buffer.from([0x27, 0x01, 0, 0, 0, n]);
const aac = (n: number) => Buffer.from([0xaf, 0x01, n]);

function registry(host: AppHost = new FolderHost('/nonexistent')) {
  return new Publications(() => host);
}

test('a name publishes once at a time: the second publisher gets Publish.BadName', () => {
  const pubs = registry();
  pubs.publish(new FakeClient('a:1'), 's1');
  assert.throws(() => pubs.publish(new FakeClient('b:1'), 's1'), (e: unknown) => e instanceof StreamRefused && e.code === 'Publish.BadName');
});

test('a script refusal in onPublish becomes Publish.Failed with its message and registers nothing', () => {
  const host = new FolderHost('/nonexistent');
  host.onPublish = () => {
    throw new Error('not you');
  };
  const pubs = registry(host);
  assert.throws(
    () => pubs.publish(new FakeClient('a:1'), 's1'),
    (e: unknown) => e instanceof StreamRefused && e.code === 'Publish.Failed' && e.message === 'not you',
  );
  assert.equal(pubs.get('s1'), undefined);
});

test('a listener that subscribes before the publisher waits, then starts on PublishNotify', () => {
  const pubs = registry();
  const sink = new FakeSink();
  pubs.subscribe(new FakeClient('p:1'), 'live', sink);
  assert.deepEqual(sink.events, []);
  const pub = pubs.publish(new FakeClient('a:1'), 'live');
  assert.deepEqual(sink.events, ['start:live']);
  pubs.unpublish(pub);
  assert.deepEqual(sink.events, ['start:live', 'stop:live']);
  assert.ok(pubs.get('live'), 'kept while a listener waits');
});

test('a late joiner gets metadata and codec configs first, then starts on a key frame at time ~0', () => {
  const pubs = registry();
  const pub = pubs.publish(new FakeClient('a:1'), 'cam');
  const meta = new MediaFrame(MediaType.Data, 0, Buffer.from('meta'));
  pub.setMetadata(meta, Table.of({ width: 640 }));
  pub.pushVideo(0, AVC_CONFIG);
  pub.pushAudio(0, AAC_CONFIG);
  pub.pushVideo(1000, key(1));
  pub.pushVideo(1040, inter(2));
  pub.pushAudio(1050, aac(1));

  const sink = new FakeSink();
  pubs.subscribe(new FakeClient('p:1'), 'cam', sink);
  assert.equal(sink.frames.length, 3);
  assert.equal(sink.frames[0].frame, meta);
  assert.equal(sink.frames[1].frame.payload, AAC_CONFIG);
  assert.equal(sink.frames[2].frame.payload, AVC_CONFIG);

  pub.pushVideo(1080, inter(3)); // not a key frame: skipped
  pub.pushAudio(1090, aac(2)); // audio waits for the picture
  pub.pushVideo(2000, key(4));
  pub.pushAudio(2010, aac(3));
  pub.pushVideo(2040, inter(5));
  const media = sink.frames.slice(3);
  assert.deepEqual(
    media.map((f) => f.time),
    [0, 10, 40],
  );
  assert.equal(media[0].frame.key, true);
});

test('every listener receives the same frame object and a format is serialized once', () => {
  const pubs = registry();
  const pub = pubs.publish(new FakeClient('a:1'), 'fan');
  const sinks = Array.from({ length: 50 }, () => new FakeSink());
  sinks.forEach((s, i) => pubs.subscribe(new FakeClient(`p:${i}`), 'fan', s));
  const payload = key(9);
  pub.pushVideo(0, payload);
  let made = 0;
  const outputs = sinks.map((s) => {
    assert.equal(s.frames.length, 1);
    assert.equal(s.frames[0].frame.payload, payload, 'no copy of the payload');
    return s.frames[0].frame.serialized('test', () => {
      made++;
      return Buffer.from('bytes');
    });
  });
  assert.equal(made, 1);
  assert.ok(outputs.every((o) => o === outputs[0]));
});

test('timestamps per listener never go backwards even if the publisher jumps back', () => {
  const pubs = registry();
  const pub = pubs.publish(new FakeClient('a:1'), 'ts');
  const sink = new FakeSink();
  pubs.subscribe(null, 'ts', sink);
  pub.pushVideo(500, key(1));
  pub.pushVideo(600, inter(2));
  pub.pushVideo(550, inter(3));
  pub.pushVideo(700, inter(4));
  assert.deepEqual(sink.frames.map((f) => f.time), [0, 100, 100, 200]);
});

test('a lagging listener drops non-key video, resumes on a key frame, and is closed past the cap', () => {
  const pubs = registry();
  const pub = pubs.publish(new FakeClient('a:1'), 'slow');
  const slow = new FakeSink();
  const fast = new FakeSink();
  pubs.subscribe(null, 'slow', slow);
  pubs.subscribe(null, 'slow', fast);
  pub.pushVideo(0, key(1));
  slow.queued = LISTENER_LIMITS.dropBytes + 1;
  pub.pushVideo(40, inter(2));
  slow.queued = 0;
  pub.pushVideo(80, inter(3)); // still waiting for a key frame
  pub.pushVideo(120, key(4));
  assert.deepEqual(slow.frames.map((f) => f.frame.payload[5]), [1, 4]);
  assert.deepEqual(fast.frames.map((f) => f.frame.payload[5]), [1, 2, 3, 4]);
  assert.equal(pub.listenerDroppedFrames, 1);
  assert.equal(pub.droppedFrames, 0, 'nothing lost on the way in');

  slow.queued = LISTENER_LIMITS.closeBytes + 1;
  pub.pushVideo(160, key(5));
  assert.match(slow.closedReason, /too slow/);
  assert.equal(pub.listeners.size, 1, 'the slow listener is gone, the fast one stays');
  assert.equal(fast.frames.length, 5);
});

test('receiveVideo(false) stops video; turning it back on waits for the next key frame', () => {
  const pubs = registry();
  const pub = pubs.publish(new FakeClient('a:1'), 'rv');
  const sink = new FakeSink();
  const l: Listener = pubs.subscribe(null, 'rv', sink);
  pub.pushVideo(0, key(1));
  l.setReceiveVideo(false);
  pub.pushVideo(40, inter(2));
  pub.pushAudio(45, aac(1));
  l.setReceiveVideo(true);
  pub.pushVideo(80, inter(3));
  pub.pushVideo(120, key(4));
  assert.deepEqual(
    sink.frames.map((f) => f.frame.type + ':' + f.frame.payload[f.frame.payload.length - 1]),
    ['9:1', '8:1', '9:4'],
  );
});

test('an idle publication disappears when its last listener leaves', () => {
  const pubs = registry();
  const sink = new FakeSink();
  const l = pubs.subscribe(null, 'gone', sink);
  assert.ok(pubs.get('gone'));
  pubs.unsubscribe(l);
  assert.equal(pubs.get('gone'), undefined);
});

/** A host that records the subscription events scripts would see. */
class RecordingHost extends FolderHost {
  constructor(readonly seen: string[] = []) {
    super('/nonexistent');
  }
  override onSubscribe(_c: Client | null, l: Listener): void {
    this.seen.push('subscribe:' + l.publication.name);
  }
  override onUnsubscribe(_c: Client | null, l: Listener): void {
    this.seen.push('unsubscribe:' + l.publication.name);
  }
}

test('a listener kicked as too slow ends through the registry: onUnsubscribe once, then the sink is told', () => {
  const order: string[] = [];
  const host = new RecordingHost(order);
  const pubs = registry(host);
  const pub = pubs.publish(new FakeClient('a:1'), 'kick');
  const sink = new FakeSink();
  sink.close = (reason: string) => {
    order.push('sink closed: ' + reason.split(',')[0]);
    // a protocol reacting to close by unsubscribing again must not produce a second event
    pubs.unsubscribe(l);
  };
  const l = pubs.subscribe(new FakeClient('p:1'), 'kick', sink);
  order.length = 0;
  sink.queued = LISTENER_LIMITS.closeBytes + 1;
  pub.pushVideo(0, key(1));
  assert.deepEqual(order, ['unsubscribe:kick', 'sink closed: too slow']);
  assert.equal(l.active, false);
  assert.equal(pub.listeners.size, 0);
  pubs.unsubscribe(l);
  assert.deepEqual(order, ['unsubscribe:kick', 'sink closed: too slow'], 'no second unsubscribe event');
});

test('a protocol ending a listener itself gets no close call; a server-side end with a reason does', () => {
  const pubs = registry();
  pubs.publish(new FakeClient('a:1'), 'ends');
  const a = new FakeSink();
  const b = new FakeSink();
  const la = pubs.subscribe(null, 'ends', a);
  const lb = pubs.subscribe(null, 'ends', b);
  pubs.unsubscribe(la);
  pubs.unsubscribe(lb, 'closed by the admin');
  assert.equal(a.closedReason, '');
  assert.equal(b.closedReason, 'closed by the admin');
});

test('observers: any number see every frame before listeners, may leave while frames are dispatched', () => {
  const pubs = registry();
  const pub = pubs.publish(new FakeClient('a:1'), 'obs');
  const seen: string[] = [];
  const offA = pub.observe({ onVideo: (f) => seen.push('a' + f.payload[5]), onAudio: (f) => seen.push('a-audio' + f.payload[2]) });
  let offB: () => void = () => {};
  offB = pub.observe({
    onVideo: (f) => {
      seen.push('b' + f.payload[5]);
      offB(); // leaving inside a dispatch must not disturb the others
    },
    onFlush: () => seen.push('b-flush'),
  });
  const offC = pub.observe({ onVideo: (f) => seen.push('c' + f.payload[5]), onStop: () => seen.push('c-stop'), onMetadata: (f) => seen.push('c-meta:' + (f ? 'set' : 'cleared')) });
  pub.pushVideo(0, key(1));
  pub.pushVideo(40, inter(2));
  pub.pushAudio(40, aac(7));
  pub.flush();
  pub.setMetadata(null, new Table());
  assert.equal(pub.observerCount, 2);
  offA();
  offC();
  pubs.unpublish(pub);
  assert.deepEqual(seen, ['a1', 'b1', 'c1', 'a2', 'c2', 'a-audio7', 'c-meta:cleared']);
});

test('derived state: made once per publication, shared by its users, closed when the registry drops the publication', async () => {
  const { DerivedKey } = await import('../../src/core/publication');
  let made = 0;
  let closed = 0;
  const KEY = new DerivedKey('counter', (p) => ({ name: p.name, n: ++made, close: () => closed++ }));
  const pubs = registry();
  const pub = pubs.publish(new FakeClient('a:1'), 'derived');
  assert.equal(pub.peekDerived(KEY), undefined);
  const s1 = pub.derived(KEY);
  assert.equal(pub.derived(KEY), s1);
  assert.equal(made, 1);
  const sink = new FakeSink();
  const l = pubs.subscribe(null, 'derived', sink);
  pubs.unpublish(pub); // a listener is left: the publication stays, and so does its state
  assert.equal(closed, 0);
  assert.equal(pub.derived(KEY), s1);
  pubs.unsubscribe(l); // idle now: dropped
  assert.equal(closed, 1);
  assert.equal(pubs.get('derived'), undefined);
  // a late user of the dropped publication gets a state that is not kept
  const late = pub.derived(KEY);
  assert.notEqual(late, s1);
  assert.equal(pub.peekDerived(KEY), undefined);
});

test("a loss on the way in (the publisher's transport) drops video up to the next key frame for everyone, counted in droppedFrames", () => {
  const pubs = registry();
  const publisher = new FakeClient('a:1');
  publisher.ping = 35;
  const pub = pubs.publish(publisher, 'lossy');
  const sink = new FakeSink();
  const listener = pubs.subscribe(null, 'lossy', sink);
  const seen: number[] = [];
  pub.observe({ onVideo: (f) => seen.push(f.payload[5]) });
  pub.pushVideo(0, AVC_CONFIG);
  pub.pushVideo(0, key(1));
  pub.pushVideo(40, inter(2));
  pub.pushVideo(80, inter(3), undefined, 2); // two messages lost before this one
  pub.pushVideo(120, inter(4));
  pub.pushVideo(120, AVC_CONFIG); // a codec change always goes through
  pub.pushVideo(160, key(5));
  pub.pushVideo(200, inter(6));
  assert.deepEqual(seen, [1, 1, 2, 1, 5, 6]); // the configs (byte 5 is 1 in AVC_CONFIG) and the frames kept
  assert.deepEqual(sink.frames.filter((f) => !f.frame.config).map((f) => f.frame.payload[5]), [1, 2, 5, 6]);
  assert.equal(pub.droppedFrames, 2);
  assert.equal(pub.listenerDroppedFrames, 0);
  // the publisher's ping is the latency sample of what it sends; the listener's client's ping of what it gets
  assert.equal(pub.videoQOS.latency, 35);
  assert.equal(listener.videoQOS.latency, 0, 'no client behind this listener');
  pub.pushAudio(0, aac(1), 12);
  assert.equal(pub.audioQOS.latency, 12, "a script's ping");
});
