/** Building HTTP/1.1 response heads and the small error pages. */

export const STATUS_TEXT: Record<number, string> = {
  101: 'Switching Protocols',
  200: 'OK',
  204: 'No Content',
  206: 'Partial Content',
  301: 'Moved Permanently',
  304: 'Not Modified',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  411: 'Length Required',
  413: 'Payload Too Large',
  416: 'Range Not Satisfiable',
  426: 'Upgrade Required',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  505: 'HTTP Version Not Supported',
};

export const SERVER_NAME = 'monats';

/** Date header value, recomputed at most once per second (it is in every response). */
let dateText = '';
let dateSecond = 0;
export function httpDate(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

export type HeaderList = Array<[string, string]>;

/** Status line + Date/Server + the given headers + blank line, as one latin1 string. */
export function responseHead(status: number, headers: HeaderList): string {
  let s = `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Unknown'}\r\nDate: ${httpDate()}\r\nServer: ${SERVER_NAME}\r\n`;
  for (const [k, v] of headers) s += `${k}: ${v}\r\n`;
  return s + '\r\n';
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export function escapeHTML(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** The small HTML body of an error status. */
export function errorPage(status: number, message: string): Buffer {
  const title = `${status} ${STATUS_TEXT[status] ?? 'Error'}`;
  return Buffer.from(`<!DOCTYPE html><html><head><title>${title}</title></head><body><h1>${title}</h1><p>${escapeHTML(message)}</p></body></html>\n`);
}
