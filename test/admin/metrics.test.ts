/**
 * Metrics: the Prometheus encoder against a reader written from the exposition format spec
 * (test/helpers/prometheus-parser), and what collectMetrics reports for a known server state.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { collectMetrics } from '../../src/admin/metrics';
import { ProcessMonitor } from '../../src/admin/process-monitor';
import { encodePrometheus } from '../../src/admin/prometheus';
import { defaultConfig } from '../../src/registry';
import { FolderHost } from '../../src/core/app-host';
import { Client } from '../../src/core/client';
import { ServerContext } from '../../src/core/context';
import { LISTENER_LIMITS, type MediaSink } from '../../src/core/listener';
import type { Writer } from '../../src/core/writer';
import { Level } from '../../src/logs/levels';
import { ServerLogger } from '../../src/logs/logger';
import { parsePrometheusText } from '../helpers/prometheus-parser';
import { tempDir } from '../helpers/temp';

class FakeClient extends Client {
  constructor(
    readonly protocol: string,
    address: string,
    traffic: { bytesRead: number; bytesWritten: number },
  ) {
    super(address, undefined, traffic);
  }
  get writer(): Writer {
    throw new Error('no writer');
  }
  close(): void {}
}

class Sink implements MediaSink {
  queued = 0;
  writeMedia(): void {}
  onPublicationStart(): void {}
  onPublicationStop(): void {}
  flush(): void {}
  queuedBytes(): number {
    return this.queued;
  }
  close(): void {}
}

test('the reader rejects what the format forbids (so that it can catch an encoder bug)', () => {
  const bad = [
    'no_newline 1',
    'x{a="1"} 1\ny 2\nx{a="2"} 3\n', // family not contiguous
    'x 1\nx 2\n', // same series twice
    '1x 1\n',
    'x{__a="1"} 1\n',
    'x{a=1} 1\n',
    'x{a="\\t"} 1\n',
    'x{a="1"}1\n',
    'x one\n',
    'x 1 2.5\n',
    '# TYPE x gauge\n# TYPE x gauge\nx 1\n',
    '# TYPE x bogus\nx 1\n',
    'x 1\n# TYPE x gauge\n',
    'x{a="1",a="2"} 1\n',
  ];
  for (const text of bad) assert.throws(() => parsePrometheusText(text), Error, JSON.stringify(text));
  const ok = parsePrometheusText('# a comment\n# HELP x two\\nlines \\\\ here\n# TYPE x counter\nx{a="q\\"\\\\\\n",b="",} +Inf 1700000000000\nx NaN\n\n');
  assert.equal(ok.get('x')!.help, 'two\nlines \\ here');
  assert.deepEqual(ok.get('x')!.samples[0].labels, { a: 'q"\\\n', b: '' });
  assert.equal(ok.get('x')!.samples[0].value, Infinity);
  assert.ok(Number.isNaN(ok.get('x')!.samples[1].value));
});

test('encoder: HELP and label escaping, special values, families in order; bad names are refused', () => {
  const text = encodePrometheus([
    { name: 'a_total', help: 'with \\ and\nnewline', type: 'counter', samples: [{ labels: { publication: 'we"ird\\na\nme' }, value: 3 }, { value: 1.5e-7 }] },
    { name: 'b', help: 'gauge', type: 'gauge', samples: [{ value: NaN }, { labels: { x: '1' }, value: -Infinity }, { labels: { x: '2' }, value: Infinity }] },
    { name: 'c', help: 'empty', type: 'gauge', samples: [] },
  ]);
  const parsed = parsePrometheusText(text);
  assert.deepEqual([...parsed.keys()], ['a_total', 'b', 'c']);
  assert.equal(parsed.get('a_total')!.help, 'with \\ and\nnewline');
  assert.equal(parsed.get('a_total')!.type, 'counter');
  assert.deepEqual(parsed.get('a_total')!.samples[0].labels, { publication: 'we"ird\\na\nme' });
  assert.equal(parsed.get('a_total')!.samples[1].value, 1.5e-7);
  assert.deepEqual(parsed.get('b')!.samples.map((s) => s.value).slice(1), [-Infinity, Infinity]);
  assert.throws(() => encodePrometheus([{ name: 'bad-name', help: '', type: 'gauge', samples: [] }]));
  assert.throws(() => encodePrometheus([{ name: 'x', help: '', type: 'gauge', samples: [{ labels: { 'bad-label': '1' }, value: 1 }] }]));
  assert.throws(() => encodePrometheus([{ name: 'x', help: '', type: 'gauge', samples: [] }, { name: 'x', help: '', type: 'gauge', samples: [] }]));
});

test('collectMetrics: connections and bytes by protocol (gone and connected), publications, listeners, drops, process', () => {
  const dir = tempDir('monats-metrics-');
  fs.mkdirSync(path.join(dir, 'www'));
  const ctx = new ServerContext(defaultConfig(dir), new ServerLogger({ console: null, level: Level.NONE }), new FolderHost(path.join(dir, 'www')), '9.9.9');
  const goneSocket = { bytesRead: 0, bytesWritten: 0 };
  const rtmpSocket = { bytesRead: 0, bytesWritten: 0 };
  const gone = new FakeClient('RTMP', '10.0.0.1:1', goneSocket);
  const rtmp = new FakeClient('RTMP', '10.0.0.2:1', rtmpSocket);
  const ws = new FakeClient('WebSocket', '10.0.0.3:1', { bytesRead: 0, bytesWritten: 0 });
  const custom = new FakeClient('RTSP', '10.0.0.4:1', { bytesRead: 0, bytesWritten: 0 });
  for (const c of [gone, rtmp, ws, custom]) ctx.connect(c, []);
  Object.assign(goneSocket, { bytesRead: 100, bytesWritten: 1000 });
  ctx.disconnect(gone, 'test');
  Object.assign(rtmpSocket, { bytesRead: 5, bytesWritten: 7 });
  const refused = new FakeClient('HTTP', '10.0.0.5:1', { bytesRead: 0, bytesWritten: 0 });
  refused.path = '/nope';
  assert.throws(() => ctx.connect(refused, []));

  const pub = ctx.publications.publish(rtmp, 'cam "1"');
  const slow = new Sink();
  ctx.publications.subscribe(ws, 'cam "1"', slow);
  ctx.publications.subscribe(custom, 'waiting', new Sink()); // a listener waiting for its publisher
  pub.pushVideo(0, Buffer.from([0x17, 0x01, 0, 0, 0, 1]));
  slow.queued = LISTENER_LIMITS.dropBytes + 1;
  pub.pushVideo(40, Buffer.from([0x27, 0x01, 0, 0, 0, 2])); // dropped for the slow listener

  const monitor = new ProcessMonitor();
  const text = encodePrometheus(
    collectMetrics({
      version: ctx.version,
      startTime: Date.now() - 5000,
      now: Date.now(),
      clients: ctx.clients,
      publications: ctx.publications,
      totals: ctx.access.protocols(),
      droppedFramesGone: 2,
      process: monitor.snapshot(),
    }),
  );
  const m = parsePrometheusText(text);
  const value = (name: string, labels: Record<string, string> = {}) => {
    const f = m.get(name);
    assert.ok(f, `${name} exists`);
    const s = f.samples.find((x) => JSON.stringify(x.labels) === JSON.stringify(labels));
    assert.ok(s, `${name}${JSON.stringify(labels)} exists in\n${text}`);
    return s.value;
  };
  for (const name of ['monats_connections', 'monats_connections_total', 'monats_received_bytes_total', 'monats_sent_bytes_total'])
    for (const protocol of ['RTMP', 'RTMPE', 'RTMPS', 'RTMFP', 'HTTP', 'HTTPS', 'WebSocket', 'WSS']) value(name, { protocol });
  assert.equal(m.get('monats_connections_total')!.type, 'counter');
  assert.equal(m.get('monats_connections')!.type, 'gauge');
  assert.equal(value('monats_info', { version: '9.9.9' }), 1);
  assert.ok(Math.abs(value('monats_uptime_seconds') - 5) < 1);
  assert.equal(value('monats_connections', { protocol: 'RTMP' }), 1);
  assert.equal(value('monats_connections', { protocol: 'WebSocket' }), 1);
  assert.equal(value('monats_connections', { protocol: 'RTSP' }), 1, 'a protocol not in the known list still shows');
  assert.equal(value('monats_connections_total', { protocol: 'RTMP' }), 2);
  assert.equal(value('monats_connections_refused_total', { protocol: 'HTTP' }), 1);
  assert.equal(value('monats_received_bytes_total', { protocol: 'RTMP' }), 105, 'the gone client + the connected one');
  assert.equal(value('monats_sent_bytes_total', { protocol: 'RTMP' }), 1007);
  assert.equal(value('monats_publications'), 1);
  assert.equal(value('monats_listeners'), 2);
  assert.equal(value('monats_publication_listeners', { publication: 'cam "1"' }), 1);
  assert.equal(value('monats_dropped_frames_total'), 3, '2 of gone publications + 1 now');
  value('monats_publication_received_bits_per_second', { publication: 'cam "1"' });
  value('monats_publication_sent_bits_per_second', { publication: 'cam "1"' });
  assert.ok(value('process_resident_memory_bytes') > 10_000_000);
  assert.ok(value('process_cpu_seconds_total') > 0);
  assert.ok(Math.abs(value('process_start_time_seconds') - (Date.now() / 1000 - process.uptime())) < 2);
  for (const lag of ['monats_event_loop_lag_seconds', 'monats_event_loop_lag_p99_seconds', 'monats_event_loop_lag_max_seconds'])
    assert.ok(value(lag) >= 0);
});

test('event-loop lag: a blocked loop shows in the next 10 s window', async (t) => {
  // measured over a real 10 s window: a 300 ms block must show as a max of at least ~250 ms
  t.diagnostic('waits for one 10 s window of the monitor');
  const monitor = new ProcessMonitor();
  monitor.start();
  t.after(() => monitor.stop());
  await new Promise((r) => setTimeout(r, 500));
  const end = Date.now() + 300;
  while (Date.now() < end);
  await new Promise((r) => setTimeout(r, 10_000));
  const lag = monitor.snapshot().eventLoopLag;
  assert.ok(lag.max >= 0.25, `max lag ${lag.max} s`);
  assert.ok(lag.mean > 0 && lag.mean < lag.max);
  assert.equal(lag.windowSeconds, 10);
});
