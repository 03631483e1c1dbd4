/**
 * MP4 / ISO BMFF demuxing (ISO 14496-12): the top-level boxes are walked by their headers (media
 * data is never read here), moov and each moof are read whole (bounded) and turned into per-track
 * sample tables: decode time, composition offset, size, file offset, sync flag. Progressive files
 * (stbl: stts, ctts, stss, stsc, stsz/stz2, stco/co64, edit list) and fragmented ones (mvex/trex
 * defaults, moof/traf: tfhd, tfdt, trun) give the same tables. A truncated file (a recording cut
 * by a crash) keeps the samples whose bytes are all present.
 */
import { promises as fsp } from 'node:fs';
import { MediaFormatError } from '../codecs/bits';
import { WindowReader } from '../files/reader';

/** moov and moof boxes larger than this are refused (bounded memory for hostile files). */
export const MAX_MOOV = 64 << 20;
export const MAX_MOOF = 16 << 20;
/** samples per track at most (about 10 hours of 60 fps video or 48 kHz AAC) */
export const MAX_SAMPLES = 4_000_000;

export interface SampleTable {
  count: number;
  dts: Float64Array;
  cto: Int32Array;
  size: Uint32Array;
  offset: Float64Array;
  key: Uint8Array;
}

export interface ParsedTrack {
  id: number;
  handler: string;
  timescale: number;
  /** sample entry type: avc1, avc3, hvc1, hev1, mp4a… */
  entry: string;
  /** avcC / hvcC record, or the AAC AudioSpecificConfig from esds; null when absent */
  config: Buffer | null;
  /** MPEG-4 object type of an mp4a entry (0x40 = AAC) */
  objectType: number;
  /** edit list: media time where presentation starts (track timescale) and initial delay (movie timescale) */
  editShift: number;
  editDelay: number;
  samples: SampleTable;
  /** trex defaults (fragmented files) */
  defaults: { duration: number; size: number; flags: number };
  /** end of the last sample's decode time, track timescale */
  endDts: number;
}

export interface DurationField {
  at: number;
  bytes: 4 | 8;
}

export interface ParsedMP4 {
  movieTimescale: number;
  tracks: ParsedTrack[];
  fragmented: boolean;
  /** where the moov box is and its duration fields (to patch when appending) */
  moov: { offset: number; size: number; mvhd: DurationField | null; mehd: DurationField | null; tracks: Map<number, { tkhd: DurationField | null; mdhd: DurationField | null }> } | null;
  /** fragments (moof offset, sequence number, first sample of each traf) */
  fragments: Array<{ offset: number; sequence: number; trafs: Array<{ trackId: number; firstDts: number; firstKey: boolean; firstSample: number }> }>;
  /** offset just after the last complete top-level box (what a torn recording keeps) */
  validEnd: number;
  /** offset of a trailing mfra box, or -1 */
  mfra: number;
}

interface Box {
  type: string;
  start: number;
  /** payload start and end (absolute in the buffer given) */
  body: number;
  end: number;
}

function* children(b: Buffer, from: number, to: number): Generator<Box> {
  let o = from;
  while (o + 8 <= to) {
    let size = b.readUInt32BE(o);
    const type = b.toString('latin1', o + 4, o + 8);
    let body = o + 8;
    if (size === 1) {
      if (o + 16 > to) return;
      size = Number(b.readBigUInt64BE(o + 8));
      body = o + 16;
    } else if (size === 0) size = to - o;
    if (size < body - o || o + size > to) return;
    yield { type, start: o, body, end: o + size };
    o += size;
  }
}

function child(b: Buffer, parent: Box, type: string): Box | null {
  for (const c of children(b, parent.body, parent.end)) if (c.type === type) return c;
  return null;
}

function need(b: Buffer, o: number, n: number, end: number): void {
  if (o + n > end || o + n > b.length) throw new MediaFormatError('MP4 box truncated');
}

export async function parseMP4(fh: fsp.FileHandle, fileSize: number): Promise<ParsedMP4> {
  const r = new WindowReader(fh, fileSize, 64 << 10);
  const out: ParsedMP4 = { movieTimescale: 1000, tracks: [], fragmented: false, moov: null, fragments: [], validEnd: 0, mfra: -1 };
  const byId = new Map<number, ParsedTrack>();
  let pos = 0;
  let sawFtyp = false;
  while (pos + 8 <= fileSize) {
    const h = await r.read(pos, 16);
    if (h.length < 8) break;
    let size = h.readUInt32BE(0);
    const type = h.toString('latin1', 4, 8);
    let headerSize = 8;
    if (size === 1) {
      if (h.length < 16) break;
      size = Number(h.readBigUInt64BE(8));
      headerSize = 16;
    } else if (size === 0) size = fileSize - pos;
    if (!/^[\x20-\x7e]{4}$/.test(type) || size < headerSize) {
      if (pos === 0) throw new MediaFormatError('not an MP4 file');
      break; // garbage after the last box
    }
    if (pos === 0 && type !== 'ftyp' && type !== 'moov' && type !== 'free' && type !== 'skip' && type !== 'mdat' && type !== 'styp') {
      throw new MediaFormatError('not an MP4 file');
    }
    const complete = pos + size <= fileSize;
    if (type === 'ftyp') sawFtyp = true;
    else if (type === 'moov') {
      if (!complete) break;
      if (size > MAX_MOOV) throw new MediaFormatError(`moov of ${size} bytes is over the ${MAX_MOOV} limit`);
      const moov = Buffer.from(await r.read(pos, size));
      parseMoov(moov, pos, out, byId);
    } else if (type === 'moof') {
      if (!complete) break;
      if (size > MAX_MOOF) throw new MediaFormatError(`moof of ${size} bytes is over the ${MAX_MOOF} limit`);
      const moof = Buffer.from(await r.read(pos, size));
      parseMoof(moof, pos, out, byId);
      out.fragmented = true;
    } else if (type === 'mfra') out.mfra = pos;
    if (!complete) {
      if (type === 'mdat') out.validEnd = pos; // samples past the end are dropped below
      break;
    }
    pos += size;
    out.validEnd = pos;
  }
  if (!out.moov) throw new MediaFormatError(sawFtyp ? 'MP4 file without moov' : 'not an MP4 file');
  for (const t of out.tracks) trimToFile(t, fileSize);
  return out;
}

function fullVersion(b: Buffer, box: Box): number {
  need(b, box.body, 4, box.end);
  return b[box.body];
}

function parseMoov(b: Buffer, at: number, out: ParsedMP4, byId: Map<number, ParsedTrack>): void {
  const root: Box = { type: 'moov', start: 0, body: 8, end: b.length };
  const moov: NonNullable<ParsedMP4['moov']> = { offset: at, size: b.length, mvhd: null, mehd: null, tracks: new Map() };
  out.moov = moov;
  for (const c of children(b, root.body, root.end)) {
    if (c.type === 'mvhd') {
      const v = fullVersion(b, c);
      need(b, c.body, v ? 32 : 20, c.end);
      out.movieTimescale = b.readUInt32BE(c.body + (v ? 20 : 12)) || 1000;
      moov.mvhd = { at: at + c.body + (v ? 24 : 16), bytes: v ? 8 : 4 };
    } else if (c.type === 'trak') {
      const t = parseTrak(b, c, at, moov);
      if (t) {
        out.tracks.push(t);
        byId.set(t.id, t);
      }
    } else if (c.type === 'mvex') {
      for (const e of children(b, c.body, c.end)) {
        if (e.type === 'trex') {
          need(b, e.body, 24, e.end);
          const t = byId.get(b.readUInt32BE(e.body + 4));
          if (t) t.defaults = { duration: b.readUInt32BE(e.body + 12), size: b.readUInt32BE(e.body + 16), flags: b.readUInt32BE(e.body + 20) };
        } else if (e.type === 'mehd') {
          const v = fullVersion(b, e);
          moov.mehd = { at: at + e.body + 4, bytes: v ? 8 : 4 };
        }
      }
    }
  }
}

function parseTrak(b: Buffer, trak: Box, at: number, moov: NonNullable<ParsedMP4['moov']>): ParsedTrack | null {
  const tkhd = child(b, trak, 'tkhd');
  const mdia = child(b, trak, 'mdia');
  if (!tkhd || !mdia) return null;
  const tv = fullVersion(b, tkhd);
  need(b, tkhd.body, tv ? 36 : 24, tkhd.end);
  const id = b.readUInt32BE(tkhd.body + (tv ? 20 : 12));
  const fields = { tkhd: { at: at + tkhd.body + (tv ? 28 : 20), bytes: (tv ? 8 : 4) as 4 | 8 }, mdhd: null as DurationField | null };
  moov.tracks.set(id, fields);
  const mdhd = child(b, mdia, 'mdhd');
  const hdlr = child(b, mdia, 'hdlr');
  const stbl = (() => {
    const minf = child(b, mdia, 'minf');
    return minf ? child(b, minf, 'stbl') : null;
  })();
  if (!mdhd || !hdlr || !stbl) return null;
  const mv = fullVersion(b, mdhd);
  need(b, mdhd.body, mv ? 32 : 20, mdhd.end);
  const timescale = b.readUInt32BE(mdhd.body + (mv ? 20 : 12));
  fields.mdhd = { at: at + mdhd.body + (mv ? 24 : 16), bytes: mv ? 8 : 4 };
  need(b, hdlr.body, 12, hdlr.end);
  const handler = b.toString('latin1', hdlr.body + 8, hdlr.body + 12);
  if (!timescale) throw new MediaFormatError(`track ${id}: timescale 0`);
  const track: ParsedTrack = {
    id, handler, timescale, entry: '', config: null, objectType: 0, editShift: 0, editDelay: 0,
    samples: emptyTable(), defaults: { duration: 0, size: 0, flags: 0 }, endDts: 0,
  };
  const edts = child(b, trak, 'edts');
  const elst = edts ? child(b, edts, 'elst') : null;
  if (elst) parseEditList(b, elst, track);
  const stsd = child(b, stbl, 'stsd');
  if (stsd) parseSampleEntry(b, stsd, track);
  buildSampleTable(b, stbl, track);
  return track;
}

function parseEditList(b: Buffer, elst: Box, t: ParsedTrack): void {
  const v = fullVersion(b, elst);
  need(b, elst.body, 8, elst.end);
  const n = b.readUInt32BE(elst.body + 4);
  let o = elst.body + 8;
  const entry = v ? 20 : 12;
  for (let i = 0; i < n && o + entry <= elst.end; i++, o += entry) {
    const duration = v ? Number(b.readBigUInt64BE(o)) : b.readUInt32BE(o);
    const mediaTime = v ? Number(b.readBigInt64BE(o + 8)) : b.readInt32BE(o + 4);
    if (mediaTime === -1) t.editDelay += duration;
    else {
      t.editShift = mediaTime;
      break; // later edits (rare: repeated or cut sections) are not applied
    }
  }
}

function parseSampleEntry(b: Buffer, stsd: Box, t: ParsedTrack): void {
  need(b, stsd.body, 8, stsd.end);
  const entries = children(b, stsd.body + 8, stsd.end);
  const first = entries.next();
  if (first.done) return;
  const e = first.value;
  t.entry = e.type;
  if (e.type === 'avc1' || e.type === 'avc3' || e.type === 'hvc1' || e.type === 'hev1') {
    const cfgType = e.type.startsWith('avc') ? 'avcC' : 'hvcC';
    for (const c of children(b, e.body + 78, e.end)) if (c.type === cfgType) t.config = Buffer.from(b.subarray(c.body, c.end));
  } else if (e.type === 'mp4a') {
    // sound sample entry v0: 28 bytes; v1 (QuickTime) +16; v2 +36
    need(b, e.body, 28, e.end);
    const version = b.readUInt16BE(e.body + 8);
    const skip = 28 + (version === 1 ? 16 : version === 2 ? 36 : 0);
    for (const c of children(b, e.body + skip, e.end)) {
      if (c.type === 'esds') {
        const asc = readESDS(b, c.body + 4, c.end);
        if (asc) {
          t.objectType = asc.objectType;
          t.config = asc.config;
        }
      }
    }
  }
}

/** The DecoderSpecificInfo of an ES_Descriptor (ISO 14496-1). */
function readESDS(b: Buffer, from: number, to: number): { objectType: number; config: Buffer } | null {
  let o = from;
  const header = (): { tag: number; size: number } | null => {
    if (o >= to) return null;
    const tag = b[o++];
    let size = 0;
    for (let i = 0; i < 4 && o < to; i++) {
      const c = b[o++];
      size = (size << 7) | (c & 0x7f);
      if (!(c & 0x80)) break;
    }
    return { tag, size };
  };
  let d = header();
  if (!d || d.tag !== 0x03) return null;
  if (o + 3 > to) return null;
  const flags = b[o + 2];
  o += 3;
  if (flags & 0x80) o += 2;
  if (flags & 0x40) o += 1 + (o < to ? b[o] : 0);
  if (flags & 0x20) o += 2;
  d = header();
  if (!d || d.tag !== 0x04 || o + 13 > to) return null;
  const objectType = b[o];
  o += 13;
  d = header();
  if (!d || d.tag !== 0x05 || o + d.size > to) return { objectType, config: Buffer.alloc(0) };
  return { objectType, config: Buffer.from(b.subarray(o, o + d.size)) };
}

function emptyTable(): SampleTable {
  return { count: 0, dts: new Float64Array(0), cto: new Int32Array(0), size: new Uint32Array(0), offset: new Float64Array(0), key: new Uint8Array(0) };
}

function allocTable(n: number): SampleTable {
  if (n > MAX_SAMPLES) throw new MediaFormatError(`${n} samples in a track is over the ${MAX_SAMPLES} limit`);
  return { count: n, dts: new Float64Array(n), cto: new Int32Array(n), size: new Uint32Array(n), offset: new Float64Array(n), key: new Uint8Array(n) };
}

function buildSampleTable(b: Buffer, stbl: Box, t: ParsedTrack): void {
  const stsz = child(b, stbl, 'stsz');
  const stz2 = child(b, stbl, 'stz2');
  let n = 0;
  let sizes: (i: number) => number = () => 0;
  if (stsz) {
    need(b, stsz.body, 12, stsz.end);
    const fixed = b.readUInt32BE(stsz.body + 4);
    n = b.readUInt32BE(stsz.body + 8);
    if (!fixed) need(b, stsz.body + 12, n * 4, stsz.end);
    sizes = fixed ? () => fixed : (i) => b.readUInt32BE(stsz.body + 12 + i * 4);
  } else if (stz2) {
    need(b, stz2.body, 12, stz2.end);
    const field = b[stz2.body + 7];
    n = b.readUInt32BE(stz2.body + 8);
    const base = stz2.body + 12;
    need(b, base, Math.ceil((n * field) / 8), stz2.end);
    sizes = field === 16 ? (i) => b.readUInt16BE(base + i * 2) : field === 8 ? (i) => b[base + i] : (i) => (b[base + (i >> 1)] >> (i & 1 ? 0 : 4)) & 0xf;
  }
  if (n === 0) return;
  const s = allocTable(n);
  for (let i = 0; i < n; i++) s.size[i] = sizes(i);
  // decode times
  const stts = child(b, stbl, 'stts');
  let i = 0;
  let dts = 0;
  if (stts) {
    need(b, stts.body, 8, stts.end);
    const entries = b.readUInt32BE(stts.body + 4);
    need(b, stts.body + 8, entries * 8, stts.end);
    for (let e = 0; e < entries && i < n; e++) {
      const count = b.readUInt32BE(stts.body + 8 + e * 8);
      const delta = b.readUInt32BE(stts.body + 12 + e * 8);
      for (let k = 0; k < count && i < n; k++, i++) {
        s.dts[i] = dts;
        dts += delta;
      }
    }
  }
  for (; i < n; i++) s.dts[i] = dts;
  t.endDts = dts;
  // composition offsets
  const ctts = child(b, stbl, 'ctts');
  if (ctts) {
    need(b, ctts.body, 8, ctts.end);
    const entries = b.readUInt32BE(ctts.body + 4);
    need(b, ctts.body + 8, entries * 8, ctts.end);
    i = 0;
    for (let e = 0; e < entries && i < n; e++) {
      const count = b.readUInt32BE(ctts.body + 8 + e * 8);
      const off = b.readInt32BE(ctts.body + 12 + e * 8); // version 0 values above 2^31 are negative in practice
      for (let k = 0; k < count && i < n; k++) s.cto[i++] = off;
    }
  }
  // sync samples
  const stss = child(b, stbl, 'stss');
  if (stss) {
    need(b, stss.body, 8, stss.end);
    const entries = b.readUInt32BE(stss.body + 4);
    need(b, stss.body + 8, entries * 4, stss.end);
    for (let e = 0; e < entries; e++) {
      const k = b.readUInt32BE(stss.body + 8 + e * 4) - 1;
      if (k >= 0 && k < n) s.key[k] = 1;
    }
  } else s.key.fill(1);
  // file offsets: chunks (stco/co64) and how many samples each holds (stsc)
  const stco = child(b, stbl, 'stco');
  const co64 = child(b, stbl, 'co64');
  const stsc = child(b, stbl, 'stsc');
  const chunkBox = stco ?? co64;
  if (!chunkBox || !stsc) throw new MediaFormatError(`track ${t.id}: no chunk table`);
  need(b, chunkBox.body, 8, chunkBox.end);
  const chunks = b.readUInt32BE(chunkBox.body + 4);
  need(b, chunkBox.body + 8, chunks * (co64 && !stco ? 8 : 4), chunkBox.end);
  const chunkOffset = stco ? (c: number) => b.readUInt32BE(stco.body + 8 + c * 4) : (c: number) => Number(b.readBigUInt64BE(co64!.body + 8 + c * 8));
  need(b, stsc.body, 8, stsc.end);
  const runs = b.readUInt32BE(stsc.body + 4);
  need(b, stsc.body + 8, runs * 12, stsc.end);
  i = 0;
  for (let e = 0; e < runs && i < n; e++) {
    const firstChunk = b.readUInt32BE(stsc.body + 8 + e * 12) - 1;
    const perChunk = b.readUInt32BE(stsc.body + 12 + e * 12);
    const lastChunk = e + 1 < runs ? b.readUInt32BE(stsc.body + 8 + (e + 1) * 12) - 1 : chunks;
    for (let c = firstChunk; c < lastChunk && c < chunks && i < n; c++) {
      let off = chunkOffset(c);
      for (let k = 0; k < perChunk && i < n; k++, i++) {
        s.offset[i] = off;
        off += s.size[i];
      }
    }
  }
  if (i < n) s.count = i; // tables disagree: keep the samples that have an offset
  t.samples = s;
}

function parseMoof(b: Buffer, at: number, out: ParsedMP4, byId: Map<number, ParsedTrack>): void {
  const root: Box = { type: 'moof', start: 0, body: 8, end: b.length };
  let sequence = 0;
  const frag: ParsedMP4['fragments'][number] = { offset: at, sequence: 0, trafs: [] };
  // without base offset flags, the first traf's data is relative to the moof, later ones follow
  let nextDataAt = at;
  let trafIndex = 0;
  for (const c of children(b, root.body, root.end)) {
    if (c.type === 'mfhd') {
      need(b, c.body, 8, c.end);
      sequence = b.readUInt32BE(c.body + 4);
      continue;
    }
    if (c.type !== 'traf') continue;
    const tfhd = child(b, c, 'tfhd');
    if (!tfhd) continue;
    need(b, tfhd.body, 8, tfhd.end);
    const flags = b.readUInt32BE(tfhd.body) & 0xffffff;
    const t = byId.get(b.readUInt32BE(tfhd.body + 4));
    if (!t) continue;
    let o = tfhd.body + 8;
    let base = flags & 0x020000 || trafIndex++ === 0 ? at : nextDataAt;
    if (flags & 0x1) {
      need(b, o, 8, tfhd.end);
      base = Number(b.readBigUInt64BE(o));
      o += 8;
    }
    if (flags & 0x2) o += 4;
    let defDuration = t.defaults.duration;
    let defSize = t.defaults.size;
    let defFlags = t.defaults.flags;
    if (flags & 0x8) {
      need(b, o, 4, tfhd.end);
      defDuration = b.readUInt32BE(o);
      o += 4;
    }
    if (flags & 0x10) {
      need(b, o, 4, tfhd.end);
      defSize = b.readUInt32BE(o);
      o += 4;
    }
    if (flags & 0x20) {
      need(b, o, 4, tfhd.end);
      defFlags = b.readUInt32BE(o);
    }
    const tfdt = child(b, c, 'tfdt');
    let dts = t.endDts;
    if (tfdt) {
      const v = fullVersion(b, tfdt);
      need(b, tfdt.body, v ? 12 : 8, tfdt.end);
      dts = v ? Number(b.readBigUInt64BE(tfdt.body + 4)) : b.readUInt32BE(tfdt.body + 4);
    }
    let dataAt = base;
    let first = true;
    for (const run of children(b, c.body, c.end)) {
      if (run.type !== 'trun') continue;
      need(b, run.body, 8, run.end);
      const rf = b.readUInt32BE(run.body) & 0xffffff;
      const count = b.readUInt32BE(run.body + 4);
      let p = run.body + 8;
      if (rf & 0x1) {
        need(b, p, 4, run.end);
        dataAt = base + b.readInt32BE(p);
        p += 4;
      }
      let firstFlags = -1;
      if (rf & 0x4) {
        need(b, p, 4, run.end);
        firstFlags = b.readUInt32BE(p);
        p += 4;
      }
      const per = (rf & 0x100 ? 4 : 0) + (rf & 0x200 ? 4 : 0) + (rf & 0x400 ? 4 : 0) + (rf & 0x800 ? 4 : 0);
      need(b, p, count * per, run.end);
      const s = grow(t, count);
      for (let k = 0; k < count; k++) {
        const duration = rf & 0x100 ? b.readUInt32BE((p += 4) - 4) : defDuration;
        const size = rf & 0x200 ? b.readUInt32BE((p += 4) - 4) : defSize;
        let sf = rf & 0x400 ? b.readUInt32BE((p += 4) - 4) : defFlags;
        if (k === 0 && firstFlags >= 0) sf = firstFlags;
        // version 0 offsets are unsigned, but values over 2^31 only occur as negatives written unsigned
        const cto = rf & 0x800 ? b.readInt32BE((p += 4) - 4) : 0;
        const i = s.count++;
        s.dts[i] = dts;
        s.cto[i] = cto;
        s.size[i] = size;
        s.offset[i] = dataAt;
        s.key[i] = sf & 0x10000 ? 0 : 1;
        if (first) {
          frag.trafs.push({ trackId: t.id, firstDts: dts, firstKey: s.key[i] === 1, firstSample: i });
          first = false;
        }
        dts += duration;
        dataAt += size;
      }
    }
    t.endDts = dts;
    nextDataAt = dataAt;
  }
  frag.sequence = sequence;
  out.fragments.push(frag);
}

/** Makes room for `more` samples in a track's table. */
function grow(t: ParsedTrack, more: number): SampleTable {
  const s = t.samples;
  if (s.count + more <= s.dts.length) return s;
  const cap = Math.max(s.count + more, s.dts.length * 2, 1024);
  if (s.count + more > MAX_SAMPLES) throw new MediaFormatError(`track ${t.id}: over ${MAX_SAMPLES} samples`);
  const n = allocTable(Math.min(cap, MAX_SAMPLES));
  n.dts.set(s.dts.subarray(0, s.count));
  n.cto.set(s.cto.subarray(0, s.count));
  n.size.set(s.size.subarray(0, s.count));
  n.offset.set(s.offset.subarray(0, s.count));
  n.key.set(s.key.subarray(0, s.count));
  n.count = s.count;
  t.samples = n;
  return n;
}

/** Drops the samples whose bytes are not (all) in the file. */
function trimToFile(t: ParsedTrack, fileSize: number): void {
  const s = t.samples;
  let n = s.count;
  while (n > 0 && s.offset[n - 1] + s.size[n - 1] > fileSize) n--;
  if (n < s.count) {
    s.count = n;
    t.endDts = n ? s.dts[n - 1] + (n > 1 ? s.dts[n - 1] - s.dts[n - 2] : 0) : 0;
  }
}
