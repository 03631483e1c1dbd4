/**
 * Figures of the server process for metrics and the dashboard: memory, CPU time and event-loop
 * lag. The lag comes from Node's own histogram (perf_hooks.monitorEventLoopDelay, sampled every
 * 20 ms in C++, no JavaScript timer of ours); it is read and reset every 10 s, so a reading is the
 * last complete 10 s whoever asks and however often.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

export interface ProcessSnapshot {
  /** resident set size, bytes */
  rss: number;
  heapUsed: number;
  heapTotal: number;
  /** CPU seconds since the process began */
  cpuUserSeconds: number;
  cpuSystemSeconds: number;
  /** seconds since the epoch when the process began */
  startTimeSeconds: number;
  /** event-loop delay over the last complete window, seconds (0 before the first window ends) */
  eventLoopLag: { mean: number; p99: number; max: number; windowSeconds: number };
}

const WINDOW_MS = 10_000;
const RESOLUTION_MS = 20;

export class ProcessMonitor {
  private histogram: IntervalHistogram | null = null;
  private timer: NodeJS.Timeout | null = null;
  private last = { mean: 0, p99: 0, max: 0 };
  private readonly startTimeSeconds = Math.round((Date.now() - process.uptime() * 1000) / 10) / 100;

  start(): void {
    if (this.histogram) return;
    this.histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    this.histogram.enable();
    this.timer = setInterval(() => this.roll(), WINDOW_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.histogram?.disable();
    this.histogram = null;
  }

  private roll(): void {
    const h = this.histogram;
    if (!h) return;
    // the histogram counts the whole delay between samples; the resolution itself is not lag
    const lag = (ns: number) => (Number.isFinite(ns) ? Math.max(0, ns / 1e9 - RESOLUTION_MS / 1000) : 0);
    this.last = h.count > 0 ? { mean: lag(h.mean), p99: lag(h.percentile(99)), max: lag(h.max) } : { mean: 0, p99: 0, max: 0 };
    h.reset();
  }

  snapshot(): ProcessSnapshot {
    const memory = process.memoryUsage();
    const cpu = process.cpuUsage();
    return {
      rss: memory.rss,
      heapUsed: memory.heapUsed,
      heapTotal: memory.heapTotal,
      cpuUserSeconds: cpu.user / 1e6,
      cpuSystemSeconds: cpu.system / 1e6,
      startTimeSeconds: this.startTimeSeconds,
      eventLoopLag: { ...this.last, windowSeconds: WINDOW_MS / 1000 },
    };
  }
}
