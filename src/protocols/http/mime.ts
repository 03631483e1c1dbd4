/**
 * File extension → MIME type. Real types (MonaServer sent `text/<ext>` for anything it did not
 * know); unknown extensions get application/octet-stream.
 */
const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  htm: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  mjs: 'text/javascript; charset=utf-8',
  json: 'application/json',
  map: 'application/json',
  txt: 'text/plain; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  xml: 'application/xml',
  svg: 'image/svg+xml',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  ico: 'image/x-icon',
  bmp: 'image/bmp',
  avif: 'image/avif',
  woff: 'font/woff',
  woff2: 'font/woff2',
  ttf: 'font/ttf',
  otf: 'font/otf',
  wasm: 'application/wasm',
  pdf: 'application/pdf',
  zip: 'application/zip',
  gz: 'application/gzip',
  swf: 'application/x-shockwave-flash',
  flv: 'video/x-flv',
  f4v: 'video/mp4',
  mp4: 'video/mp4',
  m4v: 'video/mp4',
  m4a: 'audio/mp4',
  webm: 'video/webm',
  ogg: 'audio/ogg',
  ogv: 'video/ogg',
  mp3: 'audio/mpeg',
  wav: 'audio/wav',
  aac: 'audio/aac',
  ts: 'video/mp2t',
  m3u8: 'application/vnd.apple.mpegurl',
  mpd: 'application/dash+xml',
  lua: 'text/plain; charset=utf-8',
  md: 'text/markdown; charset=utf-8',
};

export function extensionOf(name: string): string {
  const slash = name.lastIndexOf('/');
  const dot = name.lastIndexOf('.');
  return dot > slash + 0 && dot > 0 && dot > slash ? name.slice(dot + 1).toLowerCase() : '';
}

export function mimeType(name: string): string {
  return TYPES[extensionOf(name)] ?? 'application/octet-stream';
}

/** Templates (`<% key %>`) only apply to text: MonaServer's rule, we use the MIME type to decide. */
export function isTextType(mime: string): boolean {
  return mime.startsWith('text/') || mime.startsWith('application/json') || mime.startsWith('application/xml') || mime.startsWith('image/svg');
}
