/**
 * The server's metrics as Prometheus families, computed from a snapshot of core objects when
 * scraped (pure: the same input gives the same families). Counters are monotonic over the
 * process: bytes of clients that left are kept in the access log's totals and the bytes of
 * connected clients are added at read time.
 */
import type { ProtocolTotals } from '../core/access-log';
import type { Client } from '../core/client';
import type { Publication } from '../core/publication';
import type { MetricFamily, Sample } from './prometheus';
import type { ProcessSnapshot } from './process-monitor';

export interface MetricsInput {
  version: string;
  /** Date.now() when the server started, and now */
  startTime: number;
  now: number;
  clients: Iterable<Client>;
  publications: Iterable<Publication>;
  /** per protocol totals since start (clients that left) */
  totals: Iterable<[string, ProtocolTotals]>;
  /** frames dropped by publications that have since left the registry */
  droppedFramesGone: number;
  process: ProcessSnapshot;
}

/** Protocols always listed (0 until used), so dashboards and alerts see every series from the start. */
const KNOWN_PROTOCOLS = ['RTMP', 'RTMPE', 'RTMPS', 'RTMFP', 'HTTP', 'HTTPS', 'WebSocket', 'WSS'];

export function collectMetrics(input: MetricsInput): MetricFamily[] {
  const connected = new Map<string, number>();
  const bytesIn = new Map<string, number>();
  const bytesOut = new Map<string, number>();
  const accepted = new Map<string, number>();
  const refused = new Map<string, number>();
  for (const p of KNOWN_PROTOCOLS) {
    connected.set(p, 0);
    bytesIn.set(p, 0);
    bytesOut.set(p, 0);
    accepted.set(p, 0);
    refused.set(p, 0);
  }
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  for (const [protocol, t] of input.totals) {
    add(bytesIn, protocol, t.bytesIn);
    add(bytesOut, protocol, t.bytesOut);
    add(accepted, protocol, t.connections);
    add(refused, protocol, t.refused);
    add(connected, protocol, 0);
  }
  for (const c of input.clients) {
    add(connected, c.protocol, 1);
    add(bytesIn, c.protocol, c.bytesIn);
    add(bytesOut, c.protocol, c.bytesOut);
  }
  const byProtocol = (m: Map<string, number>): Sample[] =>
    [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([protocol, value]) => ({ labels: { protocol }, value }));

  let publications = 0;
  let listeners = 0;
  let dropped = input.droppedFramesGone;
  const perListeners: Sample[] = [];
  const perRateIn: Sample[] = [];
  const perRateOut: Sample[] = [];
  const { now } = input;
  for (const pub of input.publications) {
    dropped += pub.listenerDroppedFrames;
    listeners += pub.listeners.size;
    if (!pub.running) continue;
    publications++;
    let out = 0;
    for (const l of pub.listeners) out += l.audioQOS.byteRateAt(now) + l.videoQOS.byteRateAt(now) + l.dataQOS.byteRateAt(now);
    const labels = { publication: pub.name };
    perListeners.push({ labels, value: pub.listeners.size });
    perRateIn.push({ labels, value: (pub.audioQOS.byteRateAt(now) + pub.videoQOS.byteRateAt(now) + pub.dataQOS.byteRateAt(now)) * 8 });
    perRateOut.push({ labels, value: out * 8 });
  }
  const p = input.process;
  const one = (value: number): Sample[] => [{ value }];
  return [
    { name: 'monats_info', help: 'Version of the running server (always 1).', type: 'gauge', samples: [{ labels: { version: input.version }, value: 1 }] },
    { name: 'monats_uptime_seconds', help: 'Seconds since the server started.', type: 'gauge', samples: one((now - input.startTime) / 1000) },
    { name: 'monats_connections', help: 'Clients connected now, by protocol.', type: 'gauge', samples: byProtocol(connected) },
    { name: 'monats_connections_total', help: 'Connections accepted by an application since start, by protocol.', type: 'counter', samples: byProtocol(accepted) },
    { name: 'monats_connections_refused_total', help: 'Connections refused (no such application, script refusal), by protocol.', type: 'counter', samples: byProtocol(refused) },
    { name: 'monats_received_bytes_total', help: 'Bytes received from clients since start, by protocol.', type: 'counter', samples: byProtocol(bytesIn) },
    { name: 'monats_sent_bytes_total', help: 'Bytes sent to clients since start, by protocol.', type: 'counter', samples: byProtocol(bytesOut) },
    { name: 'monats_publications', help: 'Publications being published now.', type: 'gauge', samples: one(publications) },
    { name: 'monats_listeners', help: 'Listeners (players) of every publication, waiting ones included.', type: 'gauge', samples: one(listeners) },
    { name: 'monats_dropped_frames_total', help: 'Frames dropped for listeners that could not keep up.', type: 'counter', samples: one(dropped) },
    { name: 'monats_publication_listeners', help: 'Listeners of each publication being published.', type: 'gauge', samples: perListeners },
    { name: 'monats_publication_received_bits_per_second', help: 'Bit rate received from each publisher over the last second.', type: 'gauge', samples: perRateIn },
    { name: 'monats_publication_sent_bits_per_second', help: 'Bit rate sent to all listeners of each publication over the last second.', type: 'gauge', samples: perRateOut },
    { name: 'monats_event_loop_lag_seconds', help: 'Mean event-loop delay over the last 10 s window.', type: 'gauge', samples: one(p.eventLoopLag.mean) },
    { name: 'monats_event_loop_lag_p99_seconds', help: '99th percentile of the event-loop delay over the last 10 s window.', type: 'gauge', samples: one(p.eventLoopLag.p99) },
    { name: 'monats_event_loop_lag_max_seconds', help: 'Longest event-loop delay over the last 10 s window.', type: 'gauge', samples: one(p.eventLoopLag.max) },
    { name: 'process_resident_memory_bytes', help: 'Resident memory size in bytes.', type: 'gauge', samples: one(p.rss) },
    { name: 'process_heap_bytes', help: 'JavaScript heap in use, bytes.', type: 'gauge', samples: one(p.heapUsed) },
    { name: 'process_cpu_seconds_total', help: 'Total user and system CPU time spent in seconds.', type: 'counter', samples: one(p.cpuUserSeconds + p.cpuSystemSeconds) },
    { name: 'process_start_time_seconds', help: 'Start time of the process since unix epoch in seconds.', type: 'gauge', samples: one(p.startTimeSeconds) },
  ];
}
