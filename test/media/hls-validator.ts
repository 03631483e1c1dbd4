/**
 * A media playlist checker written from the rules of RFC 8216 and its second edition
 * (draft-pantos-hls-rfc8216bis): tag presence and order, version requirements, EXTINF against
 * EXT-X-TARGETDURATION, parts against PART-TARGET (at most it; at least 85% of it unless
 * independent or last of their segment), server control minimums, preload hint = the next part,
 * delta updates, program date times, live window length; and, across reloads of one stream,
 * monotonic media sequence and stable segments. Independent of src/media: it parses the text.
 */

export interface ParsedPart {
  duration: number;
  uri: string;
  independent: boolean;
}

export interface ParsedSegment {
  msn: number;
  duration: number;
  uri: string;
  discontinuity: boolean;
  map?: string;
  pdt?: number;
  parts: ParsedPart[];
}

export interface ParsedPlaylist {
  version: number;
  targetDuration: number;
  mediaSequence: number;
  discontinuitySequence: number;
  partTarget?: number;
  serverControl: Record<string, string>;
  skipped: number;
  segments: ParsedSegment[];
  /** parts after the last complete segment */
  openParts: ParsedPart[];
  preloadHint?: string;
  ended: boolean;
  vod: boolean;
}

function attrs(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /([A-Z0-9-]+)=("[^"]*"|[^,]*)/g;
  let m;
  while ((m = re.exec(s))) out[m[1]] = m[2].replace(/^"|"$/g, '');
  return out;
}

/** Parses a media playlist; throws on what is not one. */
export function parsePlaylist(text: string): ParsedPlaylist {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l.length);
  if (lines[0] !== '#EXTM3U') throw new Error('playlist does not start with #EXTM3U');
  const p: ParsedPlaylist = {
    version: 1, targetDuration: NaN, mediaSequence: 0, discontinuitySequence: 0, serverControl: {}, skipped: 0,
    segments: [], openParts: [], ended: false, vod: false,
  };
  let pending: Partial<ParsedSegment> & { parts: ParsedPart[] } = { parts: [] };
  let map: string | undefined;
  let msn = NaN;
  let sawSegment = false;
  for (const line of lines.slice(1)) {
    const [tag, value = ''] = line.startsWith('#') ? [line.slice(0, line.indexOf(':') < 0 ? line.length : line.indexOf(':')), line.slice(line.indexOf(':') + 1)] : ['', ''];
    if (!line.startsWith('#')) {
      if (pending.duration === undefined) throw new Error(`URI without EXTINF: ${line}`);
      if (Number.isNaN(msn)) msn = p.mediaSequence + p.skipped;
      p.segments.push({ msn: msn++, duration: pending.duration, uri: line, discontinuity: !!pending.discontinuity, map, pdt: pending.pdt, parts: pending.parts });
      pending = { parts: [] };
      sawSegment = true;
      continue;
    }
    switch (tag) {
      case '#EXT-X-VERSION': p.version = Number(value); break;
      case '#EXT-X-TARGETDURATION':
        if (!/^\d+$/.test(value)) throw new Error(`EXT-X-TARGETDURATION not an integer: ${value}`);
        p.targetDuration = Number(value);
        break;
      case '#EXT-X-MEDIA-SEQUENCE':
        if (sawSegment || pending.parts.length) throw new Error('EXT-X-MEDIA-SEQUENCE after a segment');
        p.mediaSequence = Number(value);
        break;
      case '#EXT-X-DISCONTINUITY-SEQUENCE':
        if (sawSegment || pending.parts.length) throw new Error('EXT-X-DISCONTINUITY-SEQUENCE after a segment');
        p.discontinuitySequence = Number(value);
        break;
      case '#EXT-X-PART-INF': p.partTarget = Number(attrs(value)['PART-TARGET']); break;
      case '#EXT-X-SERVER-CONTROL': p.serverControl = attrs(value); break;
      case '#EXT-X-SKIP':
        if (sawSegment) throw new Error('EXT-X-SKIP after a segment');
        p.skipped = Number(attrs(value)['SKIPPED-SEGMENTS']);
        break;
      case '#EXT-X-MAP': map = attrs(value).URI; break;
      case '#EXT-X-PROGRAM-DATE-TIME': {
        const t = Date.parse(value);
        if (Number.isNaN(t) || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$/.test(value)) throw new Error(`bad date ${value}`);
        pending.pdt = t;
        break;
      }
      case '#EXT-X-DISCONTINUITY': pending.discontinuity = true; break;
      case '#EXTINF': pending.duration = Number(value.split(',')[0]); break;
      case '#EXT-X-PART': {
        const a = attrs(value);
        pending.parts.push({ duration: Number(a.DURATION), uri: a.URI, independent: a.INDEPENDENT === 'YES' });
        break;
      }
      case '#EXT-X-PRELOAD-HINT': {
        const a = attrs(value);
        if (a.TYPE === 'PART') p.preloadHint = a.URI;
        break;
      }
      case '#EXT-X-ENDLIST': p.ended = true; break;
      case '#EXT-X-PLAYLIST-TYPE': p.vod = value === 'VOD'; break;
      default: break; // other tags are allowed and ignored
    }
  }
  p.openParts = pending.parts;
  return p;
}

/**
 * Rule violations of one playlist ([] when valid). `partId` maps a part URI to [msn, part index]
 * (naming is the server's own), used to check that the preload hint names the next part.
 */
export function validatePlaylist(text: string, partId?: (uri: string) => [number, number] | null): string[] {
  const errors: string[] = [];
  let p: ParsedPlaylist;
  try {
    p = parsePlaylist(text);
  } catch (e) {
    return [(e as Error).message];
  }
  const td = p.targetDuration;
  if (!Number.isFinite(td)) errors.push('no EXT-X-TARGETDURATION');
  for (const s of p.segments) {
    if (!(s.duration > 0)) errors.push(`segment ${s.msn}: EXTINF ${s.duration}`);
    if (Math.round(s.duration) > td) errors.push(`segment ${s.msn}: EXTINF ${s.duration} rounds above TARGETDURATION ${td}`);
    if (s.duration !== Math.round(s.duration) && p.version < 3) errors.push('decimal EXTINF needs version 3');
  }
  if (p.segments.some((s) => s.map) && p.version < 6) errors.push(`EXT-X-MAP needs version 6, playlist says ${p.version}`);
  if (p.skipped && p.version < 9) errors.push(`EXT-X-SKIP needs version 9, playlist says ${p.version}`);
  const allParts = [...p.segments.flatMap((s) => s.parts), ...p.openParts];
  if (allParts.length || p.preloadHint) {
    const pt = p.partTarget;
    if (!pt) errors.push('EXT-X-PART without EXT-X-PART-INF');
    else {
      const checkParts = (parts: ParsedPart[], complete: boolean, label: string) => {
        parts.forEach((part, i) => {
          if (part.duration > pt + 1e-9) errors.push(`${label} part ${i} (${part.uri}): ${part.duration} > PART-TARGET ${pt}`);
          const last = complete && i === parts.length - 1;
          if (!last && !part.independent && part.duration < 0.85 * pt - 1e-9) errors.push(`${label} part ${i} (${part.uri}): ${part.duration} < 85% of PART-TARGET ${pt}`);
        });
      };
      for (const s of p.segments) {
        checkParts(s.parts, true, `segment ${s.msn}`);
        if (s.parts.length) {
          const sum = s.parts.reduce((n, x) => n + x.duration, 0);
          if (Math.abs(sum - s.duration) > 0.0015 * s.parts.length) errors.push(`segment ${s.msn}: parts sum ${sum.toFixed(3)} != EXTINF ${s.duration}`);
        }
      }
      checkParts(p.openParts, false, 'open segment');
      const phb = Number(p.serverControl['PART-HOLD-BACK']);
      if (!(phb >= 2 * pt - 1e-9)) errors.push(`PART-HOLD-BACK ${p.serverControl['PART-HOLD-BACK']} is not at least twice PART-TARGET ${pt}`);
    }
    const uris = allParts.map((x) => x.uri);
    if (new Set(uris).size !== uris.length) errors.push('a part URI is listed twice');
  }
  const hb = p.serverControl['HOLD-BACK'];
  if (hb !== undefined && Number(hb) < 3 * td) errors.push(`HOLD-BACK ${hb} < 3 × TARGETDURATION`);
  const skip = p.serverControl['CAN-SKIP-UNTIL'];
  if (skip !== undefined && Number(skip) < 6 * td) errors.push(`CAN-SKIP-UNTIL ${skip} < 6 × TARGETDURATION`);
  if (p.skipped && skip === undefined) errors.push('EXT-X-SKIP without CAN-SKIP-UNTIL');
  if (p.preloadHint && partId) {
    const hint = partId(p.preloadHint);
    const last = p.openParts.length ? partId(p.openParts[p.openParts.length - 1].uri) : null;
    const lastSeg = p.segments[p.segments.length - 1];
    const expected: [number, number] = last ? [last[0], last[1] + 1] : [lastSeg ? lastSeg.msn + 1 : p.mediaSequence, 0];
    if (!hint || hint[0] !== expected[0] || hint[1] !== expected[1]) errors.push(`preload hint ${p.preloadHint} is not the next part ${expected.join('.')}`);
    for (const part of p.openParts) {
      const id = partId(part.uri);
      if (!id || id[0] !== expected[0]) errors.push(`open part ${part.uri} is not of segment ${expected[0]}`);
    }
  }
  if (p.ended && p.preloadHint) errors.push('EXT-X-PRELOAD-HINT after EXT-X-ENDLIST');
  // program date times run with the segments between discontinuities
  for (let i = 1; i < p.segments.length; i++) {
    const a = p.segments[i - 1];
    const b = p.segments[i];
    if (a.pdt !== undefined && b.pdt !== undefined && !b.discontinuity && Math.abs(b.pdt - (a.pdt + a.duration * 1000)) > 2) {
      errors.push(`segment ${b.msn}: PROGRAM-DATE-TIME does not follow segment ${a.msn}`);
    }
  }
  if (!p.ended && !p.vod && p.mediaSequence > 0 && !p.skipped) {
    const total = p.segments.reduce((n, s) => n + s.duration, 0);
    if (total < 3 * td - 1e-6) errors.push(`live playlist of ${total.toFixed(3)} s after removing segments: under 3 × TARGETDURATION`);
  }
  return errors;
}

/** Checks a series of reloads of one live playlist: what must not change or go back. */
export class ReloadChecker {
  private last: ParsedPlaylist | null = null;
  private readonly seen = new Map<number, { uri: string; duration: number; disc: number }>();
  errors: string[] = [];

  add(text: string): ParsedPlaylist {
    const p = parsePlaylist(text);
    const prev = this.last;
    if (prev) {
      if (p.mediaSequence < prev.mediaSequence) this.errors.push(`media sequence went back ${prev.mediaSequence} → ${p.mediaSequence}`);
      if (p.discontinuitySequence < prev.discontinuitySequence) this.errors.push('discontinuity sequence went back');
      if (p.targetDuration !== prev.targetDuration) this.errors.push(`TARGETDURATION changed ${prev.targetDuration} → ${p.targetDuration}`);
      if (p.partTarget !== prev.partTarget) this.errors.push(`PART-TARGET changed ${prev.partTarget} → ${p.partTarget}`);
      const lastMsn = (x: ParsedPlaylist) => (x.segments.length ? x.segments[x.segments.length - 1].msn : -1);
      if (lastMsn(p) < lastMsn(prev)) this.errors.push('the last segment went back');
    }
    // each segment's discontinuity sequence number: the playlist's, plus the tags up to it
    let disc = p.discontinuitySequence;
    p.segments.forEach((s, i) => {
      if (s.discontinuity && (i > 0 || p.skipped > 0)) disc++;
      const known = this.seen.get(s.msn);
      if (known && (known.uri !== s.uri || Math.abs(known.duration - s.duration) > 1e-9)) this.errors.push(`segment ${s.msn} changed between reloads`);
      if (known && !p.skipped && known.disc !== disc) this.errors.push(`segment ${s.msn}: discontinuity sequence ${known.disc} then ${disc}`);
      this.seen.set(s.msn, { uri: s.uri, duration: s.duration, disc: known && p.skipped ? known.disc : disc });
    });
    this.last = p;
    return p;
  }
}
