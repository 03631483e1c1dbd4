/**
 * The access log and the server's running totals, fed by the shared flows every protocol goes
 * through (ServerContext.connect/disconnect, the publications registry): one INFO line per
 * connection, refusal, publish, unpublish, play, stop and disconnection, with protocol, address,
 * app, stream and reason in words, and the same as structured fields for `--log-format=json`.
 *
 * Durations and per-stream byte counts need a start mark; they are kept in WeakMaps here rather
 * than as fields of the hot objects, so nothing is added to the per-packet path: a publication's
 * and a listener's bytes come from their QoS totals, read at the end.
 */
import type { Logger, LogFields } from '../logs/levels';
import type { Client } from './client';
import type { Listener } from './listener';
import type { Publication } from './publication';

/** Bytes and connections of one protocol since start (connected clients are added live by readers). */
export interface ProtocolTotals {
  /** connections accepted by an application */
  connections: number;
  /** connections an application (or the blacklist) refused */
  refused: number;
  /** bytes of clients that have left */
  bytesIn: number;
  bytesOut: number;
}

/** What the publications registry tells about streams (the access log implements it). */
export interface StreamObserver {
  published(publication: Publication, client: Client | null): void;
  unpublished(publication: Publication, client: Client | null): void;
  subscribed(listener: Listener): void;
  /** `reason`: why the server ended it (too slow, closed by a script or the admin), none when the player stopped */
  unsubscribed(listener: Listener, reason?: string): void;
  refused(client: Client | null, what: 'publish' | 'play', name: string, reason: string): void;
  /** the publication left the registry (no publisher, no listener) */
  removed(publication: Publication): void;
}

/** "1.5 MB", "312 KB", "18 B" (decimal units, as network figures are usually read) */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = n / 1000;
  let i = 0;
  while (value >= 1000 && i < units.length - 1) {
    value /= 1000;
    i++;
  }
  return `${value >= 100 ? Math.round(value) : value.toFixed(1)} ${units[i]}`;
}

/** "850 ms", "12.4 s", "3 min 05 s", "2 h 07 min" */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const whole = Math.floor(s);
  if (whole < 3600) return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, '0')} s`;
  return `${Math.floor(whole / 3600)} h ${String(Math.floor((whole % 3600) / 60)).padStart(2, '0')} min`;
}

/** "/" for the root app, else its path */
export function appName(path: string): string {
  return path || '/';
}

function streamBytes(p: { audioQOS: { bytes: number }; videoQOS: { bytes: number }; dataQOS: { bytes: number } }): number {
  return p.audioQOS.bytes + p.videoQOS.bytes + p.dataQOS.bytes;
}

/** How often a refused IP is told at INFO (further refusals of that IP within this time go to DEBUG). */
const BLACKLIST_QUIET_MS = 60_000;
const BLACKLIST_MEMORY = 1000;

export class AccessLog implements StreamObserver {
  private readonly totals = new Map<string, ProtocolTotals>();
  /** frames dropped for slow listeners by publications that have left the registry */
  droppedFramesGone = 0;
  /** publish start: time and the publication's byte count then (the QoS totals span republishes) */
  private readonly publishing = new WeakMap<Publication, { since: number; bytes: number; peer?: string }>();
  private readonly playing = new WeakMap<Listener, number>();
  /** IP → when its refusal was last told at INFO */
  private readonly blacklistTold = new Map<string, number>();

  constructor(private readonly logger: Logger) {}

  /** Totals of `protocol` (created at first use); the admin API and metrics read them. */
  of(protocol: string): ProtocolTotals {
    let t = this.totals.get(protocol);
    if (!t) this.totals.set(protocol, (t = { connections: 0, refused: 0, bytesIn: 0, bytesOut: 0 }));
    return t;
  }

  protocols(): IterableIterator<[string, ProtocolTotals]> {
    return this.totals.entries();
  }

  /** when `publication` started its current publish (undefined: not publishing) */
  publishedSince(publication: Publication): number | undefined {
    return publication.running ? this.publishing.get(publication)?.since : undefined;
  }

  playingSince(listener: Listener): number | undefined {
    return this.playing.get(listener);
  }

  // ---- connections

  connected(client: Client): void {
    this.of(client.protocol).connections++;
    const app = appName(client.path);
    this.logger.info(client.protocol, `${client.address} connected to ${app}`, {
      event: 'connect', protocol: client.protocol, address: client.address, app, client: client.id,
    });
  }

  connectionRefused(client: Client, reason: string): void {
    this.of(client.protocol).refused++;
    const app = appName(client.path);
    this.logger.info(client.protocol, `${client.address} refused by ${app}: ${reason}`, {
      event: 'refuse', protocol: client.protocol, address: client.address, app, reason,
    });
  }

  /** A peer refused at accept because its IP is blacklisted: INFO once a minute per IP, DEBUG otherwise. */
  blacklisted(ip: string, address: string): void {
    const now = Date.now();
    const told = this.blacklistTold.get(ip);
    const fields = { event: 'refuse', address, reason: 'blacklisted' };
    if (told !== undefined && now - told < BLACKLIST_QUIET_MS) {
      this.logger.debug('Server', `${address} refused: blacklisted`, fields);
      return;
    }
    if (this.blacklistTold.size >= BLACKLIST_MEMORY) {
      for (const [k, at] of this.blacklistTold) if (now - at >= BLACKLIST_QUIET_MS) this.blacklistTold.delete(k);
      if (this.blacklistTold.size >= BLACKLIST_MEMORY) this.blacklistTold.clear();
    }
    this.blacklistTold.set(ip, now);
    this.logger.info('Server', `${address} refused: blacklisted (further refusals of ${ip} within a minute at DEBUG)`, fields);
  }

  disconnected(client: Client, reason: string): void {
    const bytesIn = client.bytesIn;
    const bytesOut = client.bytesOut;
    const t = this.of(client.protocol);
    t.bytesIn += bytesIn;
    t.bytesOut += bytesOut;
    const duration = Date.now() - client.since;
    const app = appName(client.path);
    this.logger.info(
      client.protocol,
      `${client.address} left ${app} after ${formatDuration(duration)}: ${reason} (${formatBytes(bytesIn)} in, ${formatBytes(bytesOut)} out)`,
      { event: 'disconnect', protocol: client.protocol, address: client.address, app, client: client.id, reason, duration, bytesIn, bytesOut },
    );
  }

  // ---- streams (StreamObserver)

  /** `peer`: who is at the other end when no client is (a relay's server), else a script */
  private who(client: Client | null, peer?: string): { text: string; fields: LogFields; source: string } {
    if (!client) return peer ? { text: peer, fields: { protocol: null, peer }, source: 'Servers' } : { text: 'a script', fields: { protocol: null }, source: 'Server' };
    return {
      text: client.address,
      fields: { protocol: client.protocol, address: client.address, app: appName(client.path), client: client.id },
      source: client.protocol,
    };
  }

  published(publication: Publication, client: Client | null): void {
    if (client?.mirrored) return;
    const peer = publication.source?.endpoint;
    this.publishing.set(publication, { since: Date.now(), bytes: streamBytes(publication), peer });
    const w = this.who(client, peer);
    this.logger.info(w.source, `${w.text} publishes ${publication.name}`, { event: 'publish', ...w.fields, stream: publication.name });
  }

  unpublished(publication: Publication, client: Client | null): void {
    if (client?.mirrored) return;
    const start = this.publishing.get(publication);
    this.publishing.delete(publication);
    const duration = start ? Date.now() - start.since : 0;
    const bytesIn = start ? streamBytes(publication) - start.bytes : 0;
    const w = this.who(client, start?.peer);
    this.logger.info(
      w.source,
      `${w.text} stopped publishing ${publication.name} after ${formatDuration(duration)} (${formatBytes(bytesIn)} received)`,
      { event: 'unpublish', ...w.fields, stream: publication.name, duration, bytesIn },
    );
  }

  subscribed(listener: Listener): void {
    if (listener.client?.mirrored) return;
    this.playing.set(listener, Date.now());
    const w = this.who(listener.client, listener.sink.endpoint);
    const waiting = listener.publication.running ? '' : ' (waiting for its publisher)';
    this.logger.info(w.source, `${w.text} plays ${listener.publication.name}${waiting}`, {
      event: 'play', ...w.fields, stream: listener.publication.name,
    });
  }

  unsubscribed(listener: Listener, reason?: string): void {
    if (listener.client?.mirrored) return;
    const since = this.playing.get(listener);
    this.playing.delete(listener);
    const duration = since === undefined ? 0 : Date.now() - since;
    const bytesOut = streamBytes(listener);
    const w = this.who(listener.client, listener.sink.endpoint);
    this.logger.info(
      w.source,
      `${w.text} stopped playing ${listener.publication.name} after ${formatDuration(duration)} (${formatBytes(bytesOut)} sent)${reason ? `: ${reason}` : ''}`,
      { event: 'stop', ...w.fields, stream: listener.publication.name, duration, bytesOut, reason },
    );
  }

  refused(client: Client | null, what: 'publish' | 'play', name: string, reason: string): void {
    if (client?.mirrored) return;
    const w = this.who(client);
    this.logger.info(w.source, `${w.text} refused to ${what} ${name}: ${reason}`, {
      event: 'refuse', ...w.fields, stream: name, action: what, reason,
    });
  }

  removed(publication: Publication): void {
    this.droppedFramesGone += publication.listenerDroppedFrames;
  }
}
