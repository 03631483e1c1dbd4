/**
 * HLS of a server: the live streams (one HLSStream per publication, made on demand as the
 * publication's derived state, answered by live.ts) and the VOD files (a VodHLS per file, kept while requested, at
 * most VOD_FILES open at once). One service per ServerContext, made on first use, so every HTTP
 * listener (HTTP, HTTPS) of the server shares it.
 */
import * as fs from 'node:fs';
import type { ServerContext } from '../../core/context';
import { DerivedKey, type Publication } from '../../core/publication';
import type { PublicationSettings } from '../../config/types';
import { openMediaFile } from '../../media/files/open';
import type { MediaFileReader } from '../../media/files/reader';
import { VodHLS } from '../../media/hls/vod';
import { answerLive, type LiveHome } from './live';
import { HLSStream } from './stream';

/** VOD files kept open at once (least recently used closed first) */
export const VOD_FILES = 32;
/** a VOD file nobody asked for this long is closed */
const VOD_IDLE_MS = 60_000;
/** target segment length of VOD playlists */
const VOD_SEGMENT_MS = 6_000;

/** The settings of publication `name`: `[publication]` overridden by its `[name=Publication]` section. */
export function publicationSettings(context: ServerContext, name: string): PublicationSettings {
  const config = context.config;
  const section = config.publications[name];
  const out = { ...config.publication };
  if (section) {
    for (const k of Object.keys(out) as Array<keyof PublicationSettings>) {
      const v = section[k];
      if (v !== undefined) (out as Record<string, unknown>)[k] = v;
    }
  }
  return out;
}

interface VodEntry {
  path: string;
  mtimeMs: number;
  size: number;
  /** in every resource URI: a file changed on disk gets new URLs */
  stamp: string;
  reader: MediaFileReader;
  vod: VodHLS;
  lastUsed: number;
}

export class HLSService {
  readonly key: DerivedKey<HLSStream>;
  /**
   * Where requests for live streams are answered: this process's publications, unless the server
   * runs `threads` (a worker's requests go to the primary, which has every publication).
   */
  home: LiveHome = { answer: (q, gone) => answerLive(this.context, q, gone) };
  private readonly vods = new Map<string, VodEntry>();
  private readonly opening = new Map<string, Promise<VodEntry>>();
  private vodSweep: NodeJS.Timeout | null = null;

  constructor(readonly context: ServerContext) {
    this.key = new DerivedKey('hls', (pub) => new HLSStream(pub, context, publicationSettings(context, pub.name), () => pub.dropDerived(this.key)));
  }

  /**
   * The HLS stream of `pub`, made on first use while it is published; null when HLS is off for it
   * (`segments` = 0) or when it is not published and has no stream yet.
   */
  stream(pub: Publication): HLSStream | null {
    const existing = pub.peekDerived(this.key);
    if (existing && !existing.isClosed) return existing;
    if (!pub.running || !this.enabled(pub.name)) return null;
    return pub.derived(this.key);
  }

  enabled(name: string): boolean {
    return publicationSettings(this.context, name).segments > 0;
  }

  /** The VOD HLS of the media file at `path` (opened once while it is used). */
  async vod(path: string): Promise<VodEntry> {
    const st = await fs.promises.stat(path);
    const hit = this.vods.get(path);
    if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) {
      hit.lastUsed = Date.now();
      return hit;
    }
    if (hit) this.closeVod(hit);
    let p = this.opening.get(path);
    if (!p) {
      p = (async () => {
        const reader = await openMediaFile(path);
        const stamp = `v${Math.round(st.mtimeMs).toString(36)}${st.size.toString(36)}`;
        const entry: VodEntry = {
          path, mtimeMs: st.mtimeMs, size: st.size, stamp, reader, lastUsed: Date.now(),
          vod: new VodHLS(reader, { durationMs: VOD_SEGMENT_MS, uriPrefix: `${stamp}/` }),
        };
        if (this.vods.size >= VOD_FILES) {
          const oldest = [...this.vods.values()].sort((a, b) => a.lastUsed - b.lastUsed)[0];
          this.closeVod(oldest);
        }
        this.vods.set(path, entry);
        this.armVodSweep();
        return entry;
      })().finally(() => this.opening.delete(path));
      this.opening.set(path, p);
    }
    return p;
  }

  private closeVod(e: VodEntry): void {
    if (this.vods.get(e.path) === e) this.vods.delete(e.path);
    // a segment being muxed from it ends with an error answer: rare, and never a crash
    e.reader.close().catch(() => undefined);
  }

  private armVodSweep(): void {
    if (this.vodSweep) return;
    this.vodSweep = setInterval(() => {
      const now = Date.now();
      for (const e of [...this.vods.values()]) if (now - e.lastUsed > VOD_IDLE_MS) this.closeVod(e);
      if (this.vods.size === 0 && this.vodSweep) {
        clearInterval(this.vodSweep);
        this.vodSweep = null;
      }
    }, 10_000);
    this.vodSweep.unref();
  }
}

const services = new WeakMap<ServerContext, HLSService>();

/** The HLS service of a server (made on first use). */
export function hlsService(context: ServerContext): HLSService {
  let s = services.get(context);
  if (!s) services.set(context, (s = new HLSService(context)));
  return s;
}
