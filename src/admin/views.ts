/**
 * What the admin API shows of core objects: plain JSON-ready values computed when asked, so that
 * nothing is added to the media path (rates come from the QoS windows core keeps anyway).
 */
import { appName, type AccessLog } from '../core/access-log';
import type { Client } from '../core/client';
import type { Listener } from '../core/listener';
import type { Publication } from '../core/publication';
import type { QualityOfService } from '../core/qos';
import type { Value } from '../serialization/value';

export interface QoSView {
  /** bits per second over the last second */
  bitrate: number;
  /** bytes since the stream began */
  bytes: number;
  lostRate: number;
  latency: number;
  droppedFrames: number;
}

export interface ClientView {
  id: string;
  protocol: string;
  address: string;
  app: string;
  /** ISO time the connection began */
  since: string;
  bytesIn: number;
  bytesOut: number;
  /** round trip in ms, as the protocol measures it (0 = not measured) */
  ping: number;
  publishing: string[];
  playing: string[];
}

export interface ListenerView {
  client: string | null;
  protocol: string | null;
  address: string | null;
  since: string | null;
  bitrate: number;
  bytes: number;
  droppedFrames: number;
  receiveAudio: boolean;
  receiveVideo: boolean;
}

export interface PublicationView {
  name: string;
  /** the publisher's app ("/live"), null when a script publishes */
  app: string | null;
  running: boolean;
  /** the newest media time received (ms, the publisher's timeline) */
  lastTime: number;
  publisher: { id: string; protocol: string; address: string } | null;
  since: string | null;
  codecs: { video: string | null; audio: string | null };
  /** bits per second received from the publisher, and sent to all listeners together */
  bitrateIn: number;
  bitrateOut: number;
  bytesIn: number;
  listeners: number;
  droppedFrames: number;
  qos: { audio: QoSView; video: QoSView; data: QoSView };
  /** metadata the publisher sent (width, height, framerate…), scalar values only */
  metadata: Record<string, string | number | boolean>;
  listenersDetail: ListenerView[];
  /** what the services derived from it report: `hls` (its viewers' sessions, segments), `recordings` (files) */
  services: Record<string, unknown>;
}

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

export function qosView(q: QualityOfService, now: number): QoSView {
  return { bitrate: q.byteRateAt(now) * 8, bytes: q.bytes, lostRate: q.lostRate, latency: q.latency, droppedFrames: q.droppedFrames };
}

const VIDEO_CODECS: Record<number, string> = {
  2: 'Sorenson H.263', 3: 'Screen video', 4: 'VP6', 5: 'VP6 alpha', 6: 'Screen video 2', 7: 'H.264', 12: 'H.265',
};
const AUDIO_CODECS: Record<number, string> = {
  0: 'PCM', 1: 'ADPCM', 2: 'MP3', 3: 'PCM', 4: 'Nellymoser', 5: 'Nellymoser', 6: 'Nellymoser', 7: 'G.711 A-law',
  8: 'G.711 mu-law', 10: 'AAC', 11: 'Speex', 14: 'MP3',
};
const FOURCC: Record<string, string> = {
  avc1: 'H.264', hvc1: 'H.265', av01: 'AV1', vp09: 'VP9', vp08: 'VP8', Opus: 'Opus', fLaC: 'FLAC', 'ac-3': 'AC-3',
  'ec-3': 'E-AC-3', mp4a: 'AAC', '.mp3': 'MP3',
};

/** Codec name from an FLV video tag body (legacy codec id or enhanced RTMP FourCC). */
export function videoCodecOf(payload: Buffer): string | null {
  if (payload.length < 1) return null;
  const b = payload[0];
  if (b & 0x80) {
    if (payload.length < 5) return null;
    const fourcc = payload.toString('latin1', 1, 5);
    return FOURCC[fourcc] ?? fourcc;
  }
  return VIDEO_CODECS[b & 0x0f] ?? `FLV codec ${b & 0x0f}`;
}

/** Codec name from an FLV audio tag body (sound format, or enhanced audio's FourCC). */
export function audioCodecOf(payload: Buffer): string | null {
  if (payload.length < 1) return null;
  const format = payload[0] >> 4;
  if (format === 9) {
    if (payload.length < 5) return null;
    const fourcc = payload.toString('latin1', 1, 5);
    return FOURCC[fourcc] ?? fourcc;
  }
  return AUDIO_CODECS[format] ?? `FLV sound format ${format}`;
}

/** onMetaData's videocodecid/audiocodecid: a legacy number or a FourCC string. */
function codecFromMetadata(value: Value | undefined, table: Record<number, string>): string | null {
  if (typeof value === 'number') return table[value] ?? (value === 0 ? null : `FLV codec ${value}`);
  if (typeof value === 'string' && value) return FOURCC[value] ?? value;
  return null;
}

/** The codecs a publication carries: from its codec configs, else from the metadata it announced. */
export function codecsOf(pub: Publication): { video: string | null; audio: string | null } {
  const props = pub.properties;
  return {
    video: (pub.videoConfig && videoCodecOf(pub.videoConfig.payload)) ?? codecFromMetadata(props.get('videocodecid'), VIDEO_CODECS),
    audio: (pub.audioConfig && audioCodecOf(pub.audioConfig.payload)) ?? codecFromMetadata(props.get('audiocodecid'), AUDIO_CODECS),
  };
}

function metadataOf(pub: Publication): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  let n = 0;
  for (const [k, v] of pub.properties.fields) {
    if (typeof k !== 'string' || n >= 64) continue;
    if (typeof v === 'number' || typeof v === 'boolean' || (typeof v === 'string' && v.length <= 256)) {
      out[k] = v;
      n++;
    }
  }
  return out;
}

function rateOf(s: { audioQOS: QualityOfService; videoQOS: QualityOfService; dataQOS: QualityOfService }, now: number): number {
  return (s.audioQOS.byteRateAt(now) + s.videoQOS.byteRateAt(now) + s.dataQOS.byteRateAt(now)) * 8;
}

export function listenerView(l: Listener, access: AccessLog, now: number): ListenerView {
  return {
    client: l.client?.id ?? null,
    protocol: l.client?.protocol ?? null,
    address: l.client?.address ?? null,
    since: iso(access.playingSince(l)),
    bitrate: rateOf(l, now),
    bytes: l.audioQOS.bytes + l.videoQOS.bytes + l.dataQOS.bytes,
    droppedFrames: l.audioQOS.droppedFrames + l.videoQOS.droppedFrames,
    receiveAudio: l.receiveAudio,
    receiveVideo: l.receiveVideo,
  };
}

export function publicationView(pub: Publication, access: AccessLog, now: number): PublicationView {
  let bitrateOut = 0;
  const listenersDetail: ListenerView[] = [];
  for (const l of pub.listeners) {
    const v = listenerView(l, access, now);
    bitrateOut += v.bitrate;
    listenersDetail.push(v);
  }
  const p = pub.publisher;
  return {
    name: pub.name,
    app: p ? appName(p.path) : null,
    running: pub.running,
    lastTime: pub.lastTime,
    publisher: p ? { id: p.id, protocol: p.protocol, address: p.address } : null,
    since: iso(access.publishedSince(pub)),
    codecs: codecsOf(pub),
    bitrateIn: rateOf(pub, now),
    bitrateOut,
    bytesIn: pub.audioQOS.bytes + pub.videoQOS.bytes + pub.dataQOS.bytes,
    listeners: pub.listeners.size,
    droppedFrames: pub.listenerDroppedFrames,
    qos: { audio: qosView(pub.audioQOS, now), video: qosView(pub.videoQOS, now), data: qosView(pub.dataQOS, now) },
    metadata: metadataOf(pub),
    listenersDetail,
    services: pub.derivedViews(),
  };
}

/** Every client with the names it publishes and plays (one pass over the publications). */
export function clientViews(clients: Iterable<Client>, publications: Iterable<Publication>): ClientView[] {
  const publishing = new Map<Client, string[]>();
  const playing = new Map<Client, string[]>();
  const push = (m: Map<Client, string[]>, c: Client, name: string) => {
    const list = m.get(c);
    if (list) list.push(name);
    else m.set(c, [name]);
  };
  for (const pub of publications) {
    if (pub.publisher && pub.running) push(publishing, pub.publisher, pub.name);
    for (const l of pub.listeners) if (l.client) push(playing, l.client, pub.name);
  }
  const out: ClientView[] = [];
  for (const c of clients) {
    out.push({
      id: c.id,
      protocol: c.protocol,
      address: c.address,
      app: appName(c.path),
      since: new Date(c.since).toISOString(),
      bytesIn: c.bytesIn,
      bytesOut: c.bytesOut,
      ping: c.ping,
      publishing: publishing.get(c) ?? [],
      playing: playing.get(c) ?? [],
    });
  }
  return out;
}
