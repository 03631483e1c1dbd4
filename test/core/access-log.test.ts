/**
 * The access log fed by the shared flows: ServerContext.connect/disconnect and the publications
 * registry log one INFO line per connection, refusal, publish, unpublish, play, stop and
 * disconnection, with the structured fields the JSON format ships; and keep the per-protocol totals.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { defaultConfig } from '../../src/registry';
import { formatBytes, formatDuration } from '../../src/core/access-log';
import { FolderHost } from '../../src/core/app-host';
import { Client, type TrafficCounters } from '../../src/core/client';
import { ServerContext } from '../../src/core/context';
import { ConnectionRejected, InvalidApp, StreamRefused } from '../../src/core/errors';
import type { MediaSink } from '../../src/core/listener';
import type { Publication } from '../../src/core/publication';
import type { Writer } from '../../src/core/writer';
import { Level, type LogFields, type Logger } from '../../src/logs/levels';
import { tempDir } from '../helpers/temp';

interface Line {
  level: Level;
  source: string;
  message: string;
  fields?: LogFields;
}

class RecordingLogger implements Logger {
  level = Level.TRACE;
  lines: Line[] = [];
  dumping = false;
  log(level: Level, source: string, message: string, fields?: LogFields): void {
    this.lines.push({ level, source, message, fields });
  }
  fatal(s: string, m: string, f?: LogFields) { this.log(Level.FATAL, s, m, f); }
  critic(s: string, m: string, f?: LogFields) { this.log(Level.CRITIC, s, m, f); }
  error(s: string, m: string, f?: LogFields) { this.log(Level.ERROR, s, m, f); }
  warn(s: string, m: string, f?: LogFields) { this.log(Level.WARN, s, m, f); }
  note(s: string, m: string, f?: LogFields) { this.log(Level.NOTE, s, m, f); }
  info(s: string, m: string, f?: LogFields) { this.log(Level.INFO, s, m, f); }
  debug(s: string, m: string, f?: LogFields) { this.log(Level.DEBUG, s, m, f); }
  trace(s: string, m: string, f?: LogFields) { this.log(Level.TRACE, s, m, f); }
  enabled(): boolean {
    return true;
  }
  dump(): void {}
  take(): Line[] {
    const l = this.lines;
    this.lines = [];
    return l;
  }
}

class FakeClient extends Client {
  readonly protocol = 'RTMP';
  closed = '';
  get writer(): Writer {
    throw new Error('no writer');
  }
  close(reason = 'closed'): void {
    this.closed = reason;
  }
}

class NullSink implements MediaSink {
  writeMedia(): void {}
  onPublicationStart(): void {}
  onPublicationStop(): void {}
  flush(): void {}
  queuedBytes(): number {
    return 0;
  }
  close(): void {}
}

/** A host whose onConnection refuses clients whose query says so, like a script would. */
class Host extends FolderHost {
  override onConnection(client: Client) {
    if (client.query === 'refuse') throw new ConnectionRejected('not today');
    return super.onConnection(client);
  }
}

function setup() {
  const dir = tempDir('monats-access-');
  fs.mkdirSync(path.join(dir, 'www', 'live'), { recursive: true });
  const logger = new RecordingLogger();
  const config = defaultConfig(dir);
  const ctx = new ServerContext(config, logger, new Host(path.join(dir, 'www')), '0.0.0');
  return { ctx, logger };
}

function connected(ctx: ServerContext, address: string, app = '/live', traffic?: TrafficCounters): FakeClient {
  const c = new FakeClient(address, undefined, traffic);
  c.path = app;
  ctx.connect(c, []);
  return c;
}

test('connect, refusals and disconnect: INFO lines with protocol, address, app, reason, duration and bytes', () => {
  const { ctx, logger } = setup();
  const socket = { bytesRead: 0, bytesWritten: 0 };
  const c = connected(ctx, '10.0.0.1:5000', '/live', socket);
  let [line] = logger.take();
  assert.equal(line.level, Level.INFO);
  assert.equal(line.source, 'RTMP');
  assert.equal(line.message, '10.0.0.1:5000 connected to /live');
  assert.deepEqual(line.fields, { event: 'connect', protocol: 'RTMP', address: '10.0.0.1:5000', app: '/live', client: c.id });

  const missing = new FakeClient('10.0.0.2:1');
  missing.path = '/nope';
  assert.throws(() => ctx.connect(missing, []), InvalidApp);
  [line] = logger.take();
  assert.equal(line.level, Level.INFO);
  assert.equal(line.message, "10.0.0.2:1 refused by /nope: Application /nope doesn't exist");
  assert.equal(line.fields?.event, 'refuse');

  const refused = new FakeClient('10.0.0.3:1');
  refused.query = 'refuse';
  assert.throws(() => ctx.connect(refused, []), ConnectionRejected);
  [line] = logger.take();
  assert.equal(line.message, '10.0.0.3:1 refused by /: not today');
  assert.equal(line.fields?.reason, 'not today');

  socket.bytesRead += 2_500_000;
  socket.bytesWritten += 1234;
  assert.equal(c.bytesIn, 2_500_000);
  ctx.disconnect(c, 'timeout (120 s without data)');
  ctx.disconnect(c, 'twice'); // nothing more
  const lines = logger.take();
  assert.equal(lines.length, 1);
  assert.match(lines[0].message, /^10\.0\.0\.1:5000 left \/live after \d+ ms: timeout \(120 s without data\) \(2\.5 MB in, 1\.2 KB out\)$/);
  assert.equal(lines[0].fields?.event, 'disconnect');
  assert.equal(lines[0].fields?.bytesIn, 2_500_000);
  assert.equal(lines[0].fields?.bytesOut, 1234);
  assert.equal(typeof lines[0].fields?.duration, 'number');

  const totals = ctx.access.of('RTMP');
  assert.deepEqual(totals, { connections: 1, refused: 2, bytesIn: 2_500_000, bytesOut: 1234 });
});

test('publish, play, stop and unpublish: INFO lines with stream, bytes and duration; refusals too', () => {
  const { ctx, logger } = setup();
  const pubClient = connected(ctx, '10.0.0.1:1');
  const player = connected(ctx, '10.0.0.2:2');
  logger.take();

  const pub: Publication = ctx.publications.publish(pubClient, 'cam');
  let [line] = logger.take();
  assert.equal(line.message, '10.0.0.1:1 publishes cam');
  assert.deepEqual(line.fields, { event: 'publish', protocol: 'RTMP', address: '10.0.0.1:1', app: '/live', client: pubClient.id, stream: 'cam' });
  assert.ok(ctx.access.publishedSince(pub)! <= Date.now());

  const listener = ctx.publications.subscribe(player, 'cam', new NullSink());
  [line] = logger.take();
  assert.equal(line.message, '10.0.0.2:2 plays cam');
  assert.equal(line.fields?.event, 'play');

  pub.pushVideo(0, Buffer.from([0x17, 0x00, 0, 0, 0, 1])); // AVC config, 6 bytes
  pub.pushVideo(0, Buffer.concat([Buffer.from([0x17, 0x01, 0, 0, 0]), Buffer.alloc(1995)])); // key frame, 2000 bytes
  assert.throws(() => ctx.publications.publish(player, 'cam'), StreamRefused);
  [line] = logger.take();
  assert.equal(line.message, '10.0.0.2:2 refused to publish cam: cam is already published');
  assert.equal(line.fields?.action, 'publish');

  ctx.publications.unsubscribe(listener);
  [line] = logger.take();
  assert.match(line.message, /^10\.0\.0\.2:2 stopped playing cam after \d+ ms \(2\.0 KB sent\)$/);
  assert.equal(line.fields?.bytesOut, 2006);

  ctx.publications.unpublish(pub);
  [line] = logger.take();
  assert.match(line.message, /^10\.0\.0\.1:1 stopped publishing cam after \d+ ms \(2\.0 KB received\)$/);
  assert.equal(line.fields?.event, 'unpublish');
  assert.equal(line.fields?.bytesIn, 2006);

  // a listener the server ends says why
  const again = ctx.publications.subscribe(player, 'other', new NullSink());
  logger.take();
  ctx.publications.unsubscribe(again, 'too slow, 9000000 bytes queued');
  [line] = logger.take();
  assert.match(line.message, /^10\.0\.0\.2:2 stopped playing other after \d+ ms \(0 B sent\): too slow, 9000000 bytes queued$/);
  assert.equal(line.fields?.reason, 'too slow, 9000000 bytes queued');

  // a script publishing (no client) is said so
  const scripted = ctx.publications.publish(null, 'bot');
  ctx.publications.unpublish(scripted);
  const [a, b] = logger.take();
  assert.equal(a.message, 'a script publishes bot');
  assert.equal(a.source, 'Server');
  assert.match(b.message, /^a script stopped publishing bot after/);
});

test('a blacklisted peer is told at INFO once a minute per IP, further refusals at DEBUG', () => {
  const { ctx, logger } = setup();
  ctx.blacklist.add('10.9.9.9');
  ctx.blacklist.add('10.9.9.8');
  assert.equal(ctx.isBlacklisted('10.9.9.9:1000'), true);
  assert.equal(ctx.isBlacklisted('10.9.9.9:1001'), true);
  assert.equal(ctx.isBlacklisted('[::ffff:10.9.9.9]:1002'), true);
  assert.equal(ctx.isBlacklisted('10.9.9.8:1'), true);
  const lines = logger.take();
  assert.deepEqual(lines.map((l) => l.level), [Level.INFO, Level.DEBUG, Level.DEBUG, Level.INFO]);
  assert.match(lines[0].message, /^10\.9\.9\.9:1000 refused: blacklisted/);
  assert.equal(lines[0].fields?.reason, 'blacklisted');
});

test('byte and duration wording', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(999), '999 B');
  assert.equal(formatBytes(1500), '1.5 KB');
  assert.equal(formatBytes(250_000_000), '250 MB');
  assert.equal(formatBytes(3e15), '3000 TB');
  assert.equal(formatDuration(850), '850 ms');
  assert.equal(formatDuration(12_400), '12.4 s');
  assert.equal(formatDuration(185_000), '3 min 05 s');
  assert.equal(formatDuration(7_620_000), '2 h 07 min');
});
