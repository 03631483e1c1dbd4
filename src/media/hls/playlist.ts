/**
 * HLS playlist text (RFC 8216 and its second edition, draft-pantos-hls-rfc8216bis): live media
 * playlists for fMP4 (with LL-HLS parts) and MPEG-TS segments, VOD playlists, and the multivariant
 * playlist. Rendering only: what to list is decided by the segmenter.
 */

export interface PlaylistPart {
  /** seconds */
  duration: number;
  uri: string;
  independent: boolean;
}

export interface PlaylistSegment {
  msn: number;
  /** seconds */
  duration: number;
  uri: string;
  /** EXT-X-DISCONTINUITY before this segment */
  discontinuity: boolean;
  /** epoch ms of the first sample, for EXT-X-PROGRAM-DATE-TIME (NaN: none) */
  programDateTime: number;
  /** EXT-X-MAP URI of this segment (fMP4) */
  map?: string;
  /** listed parts (only for recent segments), in order */
  parts?: PlaylistPart[];
}

export interface MediaPlaylist {
  version: number;
  targetDuration: number;
  mediaSequence: number;
  discontinuitySequence: number;
  segments: PlaylistSegment[];
  /** the segment being built: its msn, map and its parts so far (LL-HLS) */
  open?: { msn: number; map?: string; parts: PlaylistPart[]; discontinuity: boolean; programDateTime: number };
  partTarget?: number;
  serverControl?: { canBlockReload: boolean; partHoldBack?: number; holdBack?: number; canSkipUntil?: number };
  /** segments replaced by EXT-X-SKIP (delta update) */
  skipped?: number;
  preloadHint?: string;
  ended: boolean;
  vod?: boolean;
}

export const PLAYLIST_TYPE = 'application/vnd.apple.mpegurl';

/** Decimal seconds as HLS writes them: three decimals (milliseconds). */
export function seconds(s: number): string {
  return s.toFixed(3);
}

export function renderMediaPlaylist(p: MediaPlaylist): string {
  const out: string[] = ['#EXTM3U', `#EXT-X-VERSION:${p.version}`, `#EXT-X-TARGETDURATION:${p.targetDuration}`];
  if (p.vod) out.push('#EXT-X-PLAYLIST-TYPE:VOD');
  const sc = p.serverControl;
  if (sc) {
    const attrs: string[] = [];
    if (sc.canBlockReload) attrs.push('CAN-BLOCK-RELOAD=YES');
    if (sc.canSkipUntil !== undefined) attrs.push(`CAN-SKIP-UNTIL=${sc.canSkipUntil.toFixed(1)}`);
    if (sc.holdBack !== undefined) attrs.push(`HOLD-BACK=${seconds(sc.holdBack)}`);
    if (sc.partHoldBack !== undefined) attrs.push(`PART-HOLD-BACK=${seconds(sc.partHoldBack)}`);
    if (attrs.length) out.push(`#EXT-X-SERVER-CONTROL:${attrs.join(',')}`);
  }
  if (p.partTarget !== undefined) out.push(`#EXT-X-PART-INF:PART-TARGET=${seconds(p.partTarget)}`);
  out.push(`#EXT-X-MEDIA-SEQUENCE:${p.mediaSequence}`);
  // before EXT-X-SKIP: some players reject it after the first (skipped) segment
  out.push(`#EXT-X-DISCONTINUITY-SEQUENCE:${p.discontinuitySequence}`);
  if (p.skipped) out.push(`#EXT-X-SKIP:SKIPPED-SEGMENTS=${p.skipped}`);
  let map: string | undefined;
  let first = true;
  let listed = !!p.skipped; // a discontinuity right after skipped segments is still a boundary
  const head = (s: { map?: string; discontinuity: boolean; programDateTime: number }) => {
    if (s.discontinuity && listed) out.push('#EXT-X-DISCONTINUITY');
    listed = true;
    if (s.map && s.map !== map) {
      out.push(`#EXT-X-MAP:URI="${s.map}"`);
      map = s.map;
    }
    if ((first || s.discontinuity) && Number.isFinite(s.programDateTime)) {
      out.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(s.programDateTime).toISOString()}`);
    }
    first = false;
  };
  for (const s of p.segments) {
    head(s);
    for (const part of s.parts ?? []) out.push(partLine(part));
    out.push(`#EXTINF:${seconds(s.duration)},`, s.uri);
  }
  if (p.open && (p.open.parts.length || p.preloadHint)) {
    head(p.open);
    for (const part of p.open.parts) out.push(partLine(part));
  }
  if (p.preloadHint) out.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${p.preloadHint}"`);
  if (p.ended) out.push('#EXT-X-ENDLIST');
  return out.join('\n') + '\n';
}

function partLine(part: PlaylistPart): string {
  return `#EXT-X-PART:DURATION=${seconds(part.duration)},URI="${part.uri}"${part.independent ? ',INDEPENDENT=YES' : ''}`;
}

export interface Variant {
  uri: string;
  /** peak bits per second */
  bandwidth: number;
  averageBandwidth?: number;
  codecs: string[];
  resolution?: { width: number; height: number };
  frameRate?: number;
}

export function renderMultivariant(variants: Variant[]): string {
  const out = ['#EXTM3U', '#EXT-X-VERSION:6'];
  for (const v of variants) {
    const attrs = [`BANDWIDTH=${Math.max(1, Math.round(v.bandwidth))}`];
    if (v.averageBandwidth) attrs.push(`AVERAGE-BANDWIDTH=${Math.max(1, Math.round(v.averageBandwidth))}`);
    attrs.push(`CODECS="${v.codecs.join(',')}"`);
    if (v.resolution) attrs.push(`RESOLUTION=${v.resolution.width}x${v.resolution.height}`);
    if (v.frameRate) attrs.push(`FRAME-RATE=${v.frameRate.toFixed(3)}`);
    out.push(`#EXT-X-STREAM-INF:${attrs.join(',')}`, v.uri);
  }
  return out.join('\n') + '\n';
}
